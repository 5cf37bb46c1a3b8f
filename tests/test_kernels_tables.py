"""The compiled kernels of the tables (sim/metrics/tables.py) against plain-numpy twins, on
random inputs drawn by hypothesis: late flags, day counts, turnarounds grouped by lab and
day, group percentiles (with their bucket pass and quickselect), and lock counts. Kernel and
twin must agree to the bit (the percentiles also agree with ``np.quantile`` to rounding)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.metrics.tables import (
    LOCK_COUNTS,
    _count_days,
    _group_quantiles,
    _late,
    _lock_counts,
    _select,
    _turnarounds_by_lab_day,
)

FAST = settings(max_examples=60, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def late_twin(unit, abnormal, critical, late_min, crit_min, ready, signed, orphan_time, horizon):
    threshold = np.where(critical, crit_min[unit], late_min[unit])
    waited = np.where(np.isnan(signed), horizon, signed) - ready
    return abnormal & (~np.isnan(orphan_time) | (waited > threshold))


@FAST
@given(seeds, st.integers(0, 200))
def test_late_matches_its_twin(seed, n):
    rng = np.random.default_rng(seed)
    unit = rng.integers(0, 3, n)
    abnormal = rng.random(n) < 0.5
    ready = rng.integers(0, 1000, n).astype(float)
    # Signed exactly at the threshold, later, never (nan); some orphaned.
    signed = np.where(rng.random(n) < 0.2, np.nan, ready + rng.choice([0.0, 60.0, 240.0], n))
    orphan = np.where(rng.random(n) < 0.1, ready + 5.0, np.nan)
    args = (
        unit,
        abnormal,
        abnormal & (rng.random(n) < 0.3),
        np.array([60.0, 240.0, np.inf]),
        np.array([60.0, 30.0, 0.0]),
        ready,
        signed,
        orphan,
        1100.0,
    )
    np.testing.assert_array_equal(_late(*args), late_twin(*args))


@FAST
@given(seeds, st.integers(0, 300))
def test_count_days_matches_its_twin(seed, n):
    rng = np.random.default_rng(seed)
    day_of_minute = (np.arange(3 * 1440) // 1440).astype(np.uint8)
    units = rng.integers(0, 4, n)
    times = rng.choice([-1.0, 0.0, 1439.5, 1440.0, 4319.9, 4320.0, np.nan, np.inf, 2000.0], n)
    counts = np.zeros((4, 3), dtype=np.int64)
    _count_days(units, times, day_of_minute, counts)
    inside = (times >= 0) & (times < len(day_of_minute))
    twin = np.zeros((4, 3), dtype=np.int64)
    np.add.at(twin, (units[inside], day_of_minute[times[inside].astype(int)]), 1)
    np.testing.assert_array_equal(counts, twin)


@FAST
@given(seeds, st.integers(0, 300))
def test_turnarounds_by_lab_day_match_their_twin(seed, n):
    rng = np.random.default_rng(seed)
    n_days = 3
    day_of_minute = (np.arange(n_days * 1440) // 1440).astype(np.uint8)
    unit_lab = rng.integers(0, 3, 5)
    unit = rng.integers(0, 5, n)
    time = rng.uniform(-100.0, n_days * 1440 + 100.0, n)  # some outside the horizon
    ready = time + rng.exponential(120.0, n)
    tat, counts = _turnarounds_by_lab_day(unit, unit_lab, time, ready, day_of_minute, n_days)
    minute = np.clip(time, 0.0, len(day_of_minute) - 1).astype(int)
    group = unit_lab[unit] * n_days + day_of_minute[minute]
    order = np.argsort(group, kind="stable")
    np.testing.assert_array_equal(tat, ((ready - time) / 60.0)[order])
    np.testing.assert_array_equal(counts, np.bincount(group, minlength=(unit_lab.max() + 1) * 3))


def quantiles_twin(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Median and 90th percentile of each group, from its sorted values, with the kernel's
    linear interpolation."""
    out = np.empty((len(bounds) - 1, 2))
    for g in range(len(bounds) - 1):
        s = np.sort(x[bounds[g] : bounds[g + 1]])
        for j, p in enumerate((0.5, 0.9)):
            pos = (len(s) - 1) * p
            lo = int(np.floor(pos))
            hi = min(lo + 1, len(s) - 1)
            out[g, j] = s[lo] + (s[hi] - s[lo]) * (pos - lo)
    return out


# Turnaround hours: mostly hours, some huge or tiny, negative ones (results before the order
# on a clock change), many ties.
hours = st.sampled_from([0.0, -0.5, 1e-12, 0.25, 1.0, 1.0, 3.5, 24.0, 1e9])
groups = st.lists(st.lists(hours | st.floats(-1e3, 1e4), min_size=1, max_size=400), max_size=6)


@FAST
@given(groups)
def test_group_quantiles_match_their_twin_and_np_quantile(values):
    x = np.array([v for g in values for v in g], dtype=float)
    bounds = np.concatenate(([0], np.cumsum([len(g) for g in values]))).astype(np.int64)
    got = _group_quantiles(x.copy(), bounds)
    np.testing.assert_array_equal(got, quantiles_twin(x, bounds))
    for g in range(len(values)):
        want = np.quantile(x[bounds[g] : bounds[g + 1]], [0.5, 0.9])
        np.testing.assert_allclose(got[g], want, rtol=1e-12, atol=1e-12)


@FAST
@given(st.lists(hours | st.floats(-1e3, 1e4), min_size=1, max_size=200), st.data())
def test_select_puts_the_order_statistic_in_place(values, data):
    x = np.array(values)
    lo = data.draw(st.integers(0, len(x) - 1))
    hi = data.draw(st.integers(lo + 1, len(x)))
    k = data.draw(st.integers(lo, hi - 1))
    y = x.copy()
    _select(y, lo, hi, k)
    assert y[k] == np.sort(x[lo:hi])[k - lo]
    assert (y[lo:k] <= y[k]).all() and (y[k + 1 : hi] >= y[k]).all()
    np.testing.assert_array_equal(np.sort(y[lo:hi]), np.sort(x[lo:hi]))
    np.testing.assert_array_equal(np.r_[y[:lo], y[hi:]], np.r_[x[:lo], x[hi:]])


def lock_counts_twin(units, lock, bounds, legacy, ready, signed, orphan_time, rerouted):
    rows = []
    for u in units:
        sl = slice(bounds[u], bounds[u + 1])
        at = lock[u]
        with np.errstate(invalid="ignore"):
            unsigned = (ready[sl] < at) & ~(signed[sl] < at) & ~(orphan_time[sl] < at)
        outstanding = ready[sl] >= at
        left = legacy[sl] & (unsigned | outstanding)
        rows.append(
            [
                (left & unsigned).sum(),
                (left & outstanding).sum(),
                (left & ~np.isnan(signed[sl]) & ~rerouted[sl]).sum(),
                (left & rerouted[sl]).sum(),
                (left & ~np.isnan(orphan_time[sl])).sum(),
            ]
        )
    return np.array(rows, dtype=np.int64).reshape(len(units), len(LOCK_COUNTS))


@FAST
@given(seeds, st.integers(0, 200))
def test_lock_counts_match_their_twin(seed, n):
    rng = np.random.default_rng(seed)
    unit = np.sort(rng.integers(0, 4, n))
    bounds = np.searchsorted(unit, np.arange(5))
    lock = rng.choice([100.0, 500.0, np.inf], 4)
    ready = rng.choice([50.0, 100.0, 300.0, 600.0], n)
    signed = np.where(rng.random(n) < 0.3, np.nan, ready + rng.choice([0.0, 50.0, 400.0], n))
    orphan = np.where(rng.random(n) < 0.2, rng.choice([100.0, 700.0], n), np.nan)
    units = np.flatnonzero(rng.random(4) < 0.7)
    args = (units, lock, bounds, rng.random(n) < 0.7, ready, signed, orphan, rng.random(n) < 0.2)
    np.testing.assert_array_equal(_lock_counts(*args), lock_counts_twin(*args))
