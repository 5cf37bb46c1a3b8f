"""The watch kernels against plain-numpy twins, on random orders and schedules (hypothesis),
and one case by hand."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.extensions import OPEN, ORPHAN
from sim.model.inbox import CRITICAL, LEGACY, NEW, NORMAL, URGENT
from sim.model.watches import (
    ItemColumns,
    OrderItems,
    OrderTimes,
    UnitSwitches,
    fill_items,
    watch,
)

INF = np.inf


def watch_twin(o: OrderTimes, due_minutes: np.ndarray, u: UnitSwitches):
    """The rules of :func:`sim.model.watches.watch`, written with numpy array operations."""
    i = o.unit
    rolled_back = (o.time >= u.rb_start[i]) & (o.time < u.rb_end[i])
    legacy = ~((o.time >= u.ros_switch[i]) & ~rolled_back)
    after_lock = legacy & (o.ready >= u.lock[i]) & (o.ready < u.rb_start[i])
    due = o.time + due_minutes[o.category]
    locked_at_due = legacy & (due >= u.lock[i]) & (due < u.rb_start[i])
    return legacy, after_lock, (o.ready > due) & ~locked_at_due


def fill_twin(o, r, legacy, chase, due_minutes, offset, swept):
    inbox = np.where(legacy, LEGACY, NEW)
    back = o.ready + r.aside  # put aside: seen later, a legacy one at the latest when swept
    sweep = np.where(legacy, swept[o.unit], INF)
    seen = np.where(back > sweep, np.maximum(o.ready, sweep), back)
    urgency = np.where(r.critical, CRITICAL, np.where(r.abnormal, URGENT, NORMAL))
    c = np.flatnonzero(chase)
    return {
        "unit": np.r_[o.unit, o.unit[c]],
        "inbox": np.r_[inbox, inbox[c]],
        "ready": np.r_[np.where(r.fate == OPEN, seen, INF), o.time[c] + due_minutes[o.category[c]]],
        "signer": np.r_[offset[o.unit] + r.signer, offset[o.unit[c]] + r.signer[c]],
        "urgency": np.r_[urgency, np.full(len(c), URGENT)],
        "handling": np.r_[r.review, r.chase_time],
        "lookup": np.r_[r.lookup, np.zeros(len(c))],
        "lookup_u": np.r_[r.lookup_u, np.ones(len(c))],
        "is_chase": np.r_[np.zeros(len(o.time), bool), np.ones(len(c), bool)],
    }


minutes = st.sampled_from([0.0, 100.0, 1440.0, 2000.0, 5000.0, INF])


@st.composite
def cases(draw):
    n_units = draw(st.integers(1, 3))
    n = draw(st.integers(0, 30))
    unit = np.sort(
        np.array(draw(st.lists(st.integers(0, n_units - 1), min_size=n, max_size=n)), np.int32)
    )
    time = np.array(
        draw(st.lists(st.sampled_from([0.0, 99.0, 100.0, 1500.0, 4000.0]), min_size=n, max_size=n))
    )
    wait = np.array(
        draw(st.lists(st.sampled_from([0.0, 1.0, 600.0, 3000.0]), min_size=n, max_size=n))
    )
    category = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.int8)
    rb_start = np.array(draw(st.lists(minutes, min_size=n_units, max_size=n_units)))
    rb_end = rb_start + np.array(
        draw(st.lists(st.sampled_from([0.0, 500.0, INF]), min_size=n_units, max_size=n_units))
    )
    units = UnitSwitches(
        np.array(draw(st.lists(minutes, min_size=n_units, max_size=n_units))),
        rb_start,
        np.nan_to_num(rb_end, nan=INF),
        np.array(draw(st.lists(minutes, min_size=n_units, max_size=n_units))),
    )
    return OrderTimes(unit, time, time + wait, category), units


DUE = np.array([60.0, 1440.0])


@settings(max_examples=200, deadline=None)
@given(cases())
def test_watch_kernel_equals_its_numpy_twin(case):
    orders, units = case
    got = watch(orders, DUE, units)
    for a, b in zip(got, watch_twin(orders, DUE, units), strict=True):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=200, deadline=None)
@given(cases(), st.data())
def test_fill_items_equals_its_numpy_twin(case, data):
    orders, units = case
    n = len(orders.time)
    watched = watch(orders, DUE, units)
    flags = st.lists(st.booleans(), min_size=n, max_size=n)
    chases = int(watched.chase.sum())
    results = OrderItems(
        signer=np.arange(n, dtype=np.int16) % 3,
        abnormal=np.array(data.draw(flags), bool),
        critical=np.array(data.draw(flags), bool),
        review=np.linspace(1, 2, n).astype(np.float32),
        chase_time=np.linspace(3, 4, chases).astype(np.float32),
        lookup=np.full(n, 0.5, np.float32),
        lookup_u=np.full(n, 0.25, np.float32),
        fate=np.array(
            data.draw(st.lists(st.sampled_from([OPEN, ORPHAN]), min_size=n, max_size=n)), np.int8
        ),
        aside=np.array(
            data.draw(st.lists(st.sampled_from([0.0, 50.0, 3000.0]), min_size=n, max_size=n)),
            np.float32,
        ),
    )
    swept = np.array(data.draw(st.lists(minutes, min_size=3, max_size=3)))
    offset = np.array([0, 3, 6], np.int32)
    size = n + chases
    cols = ItemColumns(
        np.empty(size, np.int32),
        np.empty(size, np.int8),
        np.empty(size),
        np.empty(size, np.int32),
        np.empty(size, np.int8),
        np.empty(size, np.float32),
        np.empty(size, np.float32),
        np.empty(size, np.float32),
        np.empty(size, bool),
    )
    fill_items(orders, results, watched, DUE, offset, swept, cols)
    twin = fill_twin(orders, results, watched.legacy, watched.chase, DUE, offset, swept)
    for name, expected in twin.items():
        np.testing.assert_array_equal(
            getattr(cols, name), expected.astype(getattr(cols, name).dtype), name
        )


def test_a_legacy_order_by_hand():
    # One unit switches ordering at minute 1000 and locks its legacy client at 2000.
    units = UnitSwitches(np.array([1000.0]), np.array([INF]), np.array([INF]), np.array([2000.0]))
    # Ordered at 0 (legacy): one result at 500 (on time for a 60-min due? no: late, chased
    # while the client is open), one at 2500 (after the lock: the policy decides; its watch
    # fell due at 60, before the lock, so it is chased). Ordered at 1500 (Millennium).
    orders = OrderTimes(
        np.zeros(3, np.int32),
        np.array([0.0, 0.0, 1500.0]),
        np.array([500.0, 2500.0, 1510.0]),
        np.zeros(3, np.int8),
    )
    w = watch(orders, DUE, units)
    assert w.legacy.tolist() == [True, True, False]
    assert w.after_lock.tolist() == [False, True, False]
    assert w.chase.tolist() == [True, True, False]
