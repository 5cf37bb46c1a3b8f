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

import numba
import numpy as np

from sim.extensions import OPEN as FATE_OPEN
from sim.model.inbox import CRITICAL, LEGACY, NEW, NORMAL, URGENT


@numba.njit(cache=True)
def watch_results(
    unit, time, category, ready, due_minutes, ros_switch, rb_start, rb_end, lock, legacy,
    after_lock, chase,
):  # pragma: no cover - compiled  # fmt: skip
    """Per result: whether it was ordered in the legacy client (before the unit's order
    switch, or during a rollback); whether it arrives after that client locked (and before a
    rollback reopens it), where the lock policy decides its fate (:mod:`sim.model.locks`);
    and whether its watch turns into a chase task: not back by its due time, unless that is in
    a legacy client already locked (ROS data is not migrated)."""
    for j in range(len(time)):
        i = unit[j]
        t, r = time[j], ready[j]
        rolled_back = t >= rb_start[i] and t < rb_end[i]
        legacy[j] = not (t >= ros_switch[i] and not rolled_back)
        after_lock[j] = legacy[j] and r >= lock[i] and r < rb_start[i]
        due = t + due_minutes[category[j]]
        chase[j] = r > due and not (legacy[j] and due >= lock[i] and due < rb_start[i])


@numba.njit(cache=True)
def fill_items(
    unit, time, category, signer, abnormal, critical, review, chase_time, lookup, lookup_u,
    ready, legacy, fate, chase, due_minutes, signer_offset, it_unit, it_inbox, it_ready,
    at_signer, at_urgency, at_handling, at_lookup, at_lookup_u, at_is_chase,
):  # pragma: no cover - compiled  # fmt: skip
    """Inbox items and their attributes: one result per order (same index), reaching no
    inbox by itself unless its fate is open, then a chase task per watch that turns into one,
    due in the client its order was placed in, in order (``chase_time``: their minutes)."""
    n_res = len(time)
    k = n_res
    for j in range(n_res):
        i = unit[j]
        inbox = LEGACY if legacy[j] else NEW
        pool_signer = signer_offset[i] + signer[j]
        it_unit[j] = i
        it_inbox[j] = inbox
        it_ready[j] = ready[j] if fate[j] == FATE_OPEN else np.inf
        at_signer[j] = pool_signer
        at_urgency[j] = CRITICAL if critical[j] else URGENT if abnormal[j] else NORMAL
        at_handling[j] = review[j]
        at_lookup[j] = lookup[j]
        at_lookup_u[j] = lookup_u[j]
        at_is_chase[j] = False
        if chase[j]:
            it_unit[k] = i
            it_inbox[k] = inbox
            it_ready[k] = time[j] + due_minutes[category[j]]
            at_signer[k] = pool_signer
            at_urgency[k] = URGENT
            at_handling[k] = chase_time[k - n_res]
            at_lookup[k] = 0.0
            at_lookup_u[k] = 1.0
            at_is_chase[k] = True
            k += 1
