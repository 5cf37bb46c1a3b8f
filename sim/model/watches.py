"""Watches: which client each order went to, and which results turn into chase tasks.

Every order is placed in its unit's legacy client before the unit's order/result switch (or
during a rollback), else in Millennium, and its result lands in that client's inbox. Each
order also sets a watch: a result not back by its category's due time becomes a chase task
for the orderer, in the same inbox, unless that inbox belongs to a legacy client that has
already locked (ROS data is not migrated, so the watch is gone). A legacy result that arrives
after its client locked (and before a rollback reopens it) is left to the lock policy
(:mod:`sim.model.locks`).

:func:`fill_items` then lays out the inbox items: one result per order (same index), then
the chase tasks, with what signing needs to know about each.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from sim.extensions import OPEN as FATE_OPEN
from sim.model.inbox import CRITICAL, LEGACY, NEW, NORMAL, URGENT
from sim.model.overlooked import seen_at


class OrderTimes(NamedTuple):
    """Per order (aligned): its unit, when it was placed and its result ready, its category."""

    unit: np.ndarray
    time: np.ndarray
    ready: np.ndarray
    category: np.ndarray


class UnitSwitches(NamedTuple):
    """Per unit (minutes): its order/result switch, rollback interval and legacy lock."""

    ros_switch: np.ndarray
    rb_start: np.ndarray
    rb_end: np.ndarray
    lock: np.ndarray


class Watch(NamedTuple):
    """Per order: placed in the legacy client; its result arrives after that client locked
    (the lock policy decides its fate); its watch becomes a chase task."""

    legacy: np.ndarray
    after_lock: np.ndarray
    chase: np.ndarray


class OrderItems(NamedTuple):
    """Per order, what its result and chase task carry into the inbox."""

    signer: np.ndarray  # the orderer within the unit
    abnormal: np.ndarray
    critical: np.ndarray
    review: np.ndarray  # handling minutes of the result
    chase_time: np.ndarray  # handling minutes of each chase task, in order
    lookup: np.ndarray
    lookup_u: np.ndarray
    fate: np.ndarray  # the lock policy's verdict (OPEN: it reaches an inbox by itself)
    aside: np.ndarray  # minutes the result is put aside at first read (sim.model.overlooked)


class ItemColumns(NamedTuple):
    """The inbox items (written): results first (same index as orders), then chase tasks."""

    unit: np.ndarray
    inbox: np.ndarray
    ready: np.ndarray
    signer: np.ndarray  # within the unit's signer pool
    urgency: np.ndarray
    handling: np.ndarray
    lookup: np.ndarray
    lookup_u: np.ndarray
    is_chase: np.ndarray


def watch(orders: OrderTimes, due_minutes: np.ndarray, units: UnitSwitches) -> Watch:
    """Which client each order went to, which results arrive after its lock, which watches
    turn into chase tasks."""
    n = len(orders.time)
    out = Watch(np.empty(n, bool), np.empty(n, bool), np.empty(n, bool))
    watch_kernel(orders, due_minutes, units, out)
    return out


@numba.njit(cache=True)
def watch_kernel(orders, due_minutes, units, out):  # pragma: no cover - compiled
    """Fills ``out`` (:class:`Watch`): see :func:`watch`. A result is ordered in the legacy
    client before its unit's order switch or during a rollback; it arrives after the lock if
    ready at or after it and before a rollback reopens the client; its watch turns into a
    chase task when it is not back by its due time, unless that is in a legacy client already
    locked (ROS data is not migrated)."""
    for j in range(len(orders.time)):
        i = orders.unit[j]
        t, r = orders.time[j], orders.ready[j]
        rolled_back = t >= units.rb_start[i] and t < units.rb_end[i]
        legacy = not (t >= units.ros_switch[i] and not rolled_back)
        due = t + due_minutes[orders.category[j]]
        out.legacy[j] = legacy
        out.after_lock[j] = legacy and r >= units.lock[i] and r < units.rb_start[i]
        locked_at_due = legacy and due >= units.lock[i] and due < units.rb_start[i]
        out.chase[j] = r > due and not locked_at_due


@numba.njit(cache=True)
def fill_items(  # pragma: no cover - compiled
    orders, results, watched, due_minutes, signer_offset, swept, items
):
    """Inbox items (``items``, :class:`ItemColumns`): one result per order (same index),
    reaching no inbox by itself unless its fate is open, and then when its signer sees it
    (:func:`sim.model.overlooked.seen_at`, ``swept`` per unit); then a chase task per watch
    that turns into one, due in the client its order was placed in, in order."""
    n_res = len(orders.time)
    k = n_res
    for j in range(n_res):
        i = orders.unit[j]
        inbox = LEGACY if watched.legacy[j] else NEW
        pool_signer = signer_offset[i] + results.signer[j]
        items.unit[j] = i
        items.inbox[j] = inbox
        items.ready[j] = (
            seen_at(orders.ready[j], results.aside[j], watched.legacy[j], swept[i])
            if results.fate[j] == FATE_OPEN
            else np.inf
        )
        items.signer[j] = pool_signer
        if results.critical[j]:
            items.urgency[j] = CRITICAL
        elif results.abnormal[j]:
            items.urgency[j] = URGENT
        else:
            items.urgency[j] = NORMAL
        items.handling[j] = results.review[j]
        items.lookup[j] = results.lookup[j]
        items.lookup_u[j] = results.lookup_u[j]
        items.is_chase[j] = False
        if watched.chase[j]:
            items.unit[k] = i
            items.inbox[k] = inbox
            items.ready[k] = orders.time[j] + due_minutes[orders.category[j]]
            items.signer[k] = pool_signer
            items.urgency[k] = URGENT
            items.handling[k] = results.chase_time[k - n_res]
            items.lookup[k] = 0.0
            items.lookup_u[k] = 1.0
            items.is_chase[k] = True
            k += 1
