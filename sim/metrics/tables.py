"""Tidy tables from one replication: per result, per unit and day, per lab and day, per lock.

Everything is computed after the run from the per-item record and the staff-minute ledgers,
vectorized: an end-of-day backlog is the number of results ready by midnight and neither
signed nor orphaned by then. KPIs (defined once in :mod:`sim.metrics.kpis`) are totals and peaks of
these tables.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from sim.metrics.kpis import KPIS, KpiInputs
from sim.metrics.lateness import effective_times
from sim.model.ledger import ACTIVITIES
from sim.model.replication import Replication
from sim.sampling.calendar import Calendar


@dataclass
class Tables:
    """The tables of one replication (``results`` only when asked for)."""

    site_days: pd.DataFrame
    lab_days: pd.DataFrame
    locks: pd.DataFrame
    kpis: dict[str, float]
    results: pd.DataFrame | None = None


def late_flags(rep: Replication) -> tuple[np.ndarray, np.ndarray]:
    """Per result: abnormal and late (acted on, unacted at the horizon, or orphaned past its
    threshold, on its kind's clock: :mod:`sim.metrics.lateness`); and for each late result,
    when it went late."""
    s, o = rep.scenario.model, rep.orders
    kinds = [s.site_kinds[u.kind] for u in rep.timeline.units]
    late_min = np.array([k.late_threshold_hours for k in kinds]) * 60.0
    crit_min = np.array([k.critical_threshold_hours for k in kinds]) * 60.0
    working = np.array([k.late_clock == "working_days" for k in kinds], dtype=bool)
    acted = rep.items.done[: rep.n_results]
    if rep.action_time is not None:
        acted = np.fmin(acted, rep.action_time)
    ready, acted, clock, on_work = effective_times(
        rep.calendar, working, o.unit, o.abnormal, o.critical, rep.lab_ready, acted
    )
    late = _late(
        o.unit,
        o.abnormal,
        o.critical,
        late_min,
        crit_min,
        ready,
        acted,
        rep.orphan_time,
        rep.calendar.horizon_minutes,
    )
    i = np.flatnonzero(late)
    threshold = np.where(o.critical[i], crit_min[o.unit[i]], late_min[o.unit[i]])
    late_at = rep.lab_ready[i] + threshold
    if clock is not None:
        w = np.isin(i, on_work, assume_unique=True)
        late_at[w] = clock.back(ready[i][w] + threshold[w])
    return late, late_at


@numba.njit(cache=True)
def _late(
    unit, abnormal, critical, late_min, crit_min, ready, signed, orphan_time, horizon
):  # pragma: no cover - compiled
    """Whether each result is abnormal and late: orphaned, or signed (or, if never signed,
    still unsigned at the horizon) more than its site kind's threshold after it was ready."""
    late = np.zeros(len(unit), dtype=np.bool_)
    for i in range(len(unit)):
        if abnormal[i]:
            threshold = crit_min[unit[i]] if critical[i] else late_min[unit[i]]
            waited = (horizon if np.isnan(signed[i]) else signed[i]) - ready[i]
            late[i] = not np.isnan(orphan_time[i]) or waited > threshold
    return late


def _day_counts(rep: Replication, units: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(units, days) counts of results by their unit and the day of ``times``; times outside
    the horizon (or nan) are not counted."""
    cal = rep.calendar
    counts = np.zeros((len(rep.timeline.units), cal.n_days), dtype=np.int64)
    _count_days(units, times, _day_of_minute(cal), counts)
    return counts


@functools.lru_cache(maxsize=1)  # the calendar of the replication being tabulated
def _day_of_minute(cal: Calendar) -> np.ndarray:
    """Day index of each whole minute of the horizon, in a small integer type (it is read at
    random, so the smaller the table the more of it stays in cache)."""
    days = cal.day_indices(np.arange(int(cal.horizon_minutes), dtype=float))
    return days.astype(np.min_scalar_type(cal.n_days))


@numba.njit(cache=True)
def _count_days(units, times, day_of_minute, counts):  # pragma: no cover - compiled
    """Count each time inside the horizon in the cell of its unit and day: one pass, instead
    of a mask, a day lookup and a bincount over every result."""
    horizon = len(day_of_minute)
    for i in range(len(times)):
        t = times[i]
        if t >= 0 and t < horizon:
            counts[units[i], day_of_minute[int(t)]] += 1


def _ledger(rep: Replication) -> tuple[np.ndarray, np.ndarray]:
    """Staff minutes by activity (activities, units, days) and overtime (units, days)."""
    n_units, n_days = len(rep.timeline.units), rep.calendar.n_days
    minutes = np.zeros((len(ACTIVITIES), n_units, n_days))
    overtime = np.zeros((n_units, n_days))
    for pool in rep.pools.values():  # every unit belongs to one pool
        minutes[:, pool.units] = pool.staff_minutes.transpose(1, 2, 0)
        overtime[pool.units] = pool.overtime_minutes.T
    return minutes, overtime


def site_days(rep: Replication, late: np.ndarray, late_at: np.ndarray) -> pd.DataFrame:
    """One row per unit and day; ``late_at``: when each of the ``late`` results went late."""
    cal, tl, o = rep.calendar, rep.timeline, rep.orders
    n_units, n_days = len(tl.units), cal.n_days
    unit = o.unit
    orphan = np.flatnonzero(~np.isnan(rep.orphan_time))
    orphan_at = rep.orphan_time[orphan]
    urgent = o.abnormal[orphan]  # critical results are abnormal too
    # Results orphaned on arrival (after a lock) never enter an inbox or its backlog.
    enters = orphan_at != rep.lab_ready[orphan]
    arrived = _day_counts(rep, unit, rep.lab_ready)
    arrived -= _day_counts(rep, unit[orphan[~enters]], orphan_at[~enters])
    signed_count = _day_counts(rep, unit, rep.items.done[: rep.n_results])
    left = signed_count + _day_counts(rep, unit[orphan[enters]], orphan_at[enters])
    backlog = np.cumsum(arrived - left, axis=1)
    minutes, overtime = _ledger(rep)
    units = np.repeat(np.arange(n_units), n_days)
    days = np.tile(np.arange(n_days), n_units)
    mid = cal.day_start[:-1][days] + 720.0
    coexist = tl.home_new(units, mid) & ~tl.client_new(units, mid)
    frame = {
        "date": np.tile(np.array(cal.days, dtype="datetime64[D]"), n_units),
        "unit": _labels([u.id for u in tl.units], units),
        "site": _labels([u.group for u in tl.units], units),
        "kind": _labels([u.kind for u in tl.units], units),
        "area": _labels([u.area for u in tl.units], units),
        "coexistence": coexist,
        "demand": o.potential_per_day.flatten(),
        "orders": o.placed_per_day.flatten(),
        "results": arrived.ravel(),
        "signed": signed_count.ravel(),
        "backlog": backlog.ravel(),
        "late_abnormal": _day_counts(rep, unit[late], late_at).ravel(),
        # Orphans are the safety signal only for abnormal and critical results.
        "orphans": _day_counts(rep, unit[orphan[urgent]], orphan_at[urgent]).ravel(),
        "orphans_normal": _day_counts(rep, unit[orphan[~urgent]], orphan_at[~urgent]).ravel(),
    }
    for a, name in enumerate(ACTIVITIES):
        frame[f"{name}_hours"] = minutes[a].ravel() / 60.0
    frame["overtime_hours"] = overtime.ravel() / 60.0
    frame["worked_hours"] = minutes.sum(axis=0).ravel() / 60.0
    frame["support_unmet"] = rep.support.unmet.ravel()
    return pd.DataFrame(frame, copy=False)  # every column is a fresh array


def _labels(values: list[str], index: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``values[index]`` as a column, converted to the frame's string type once per distinct
    value rather than once per row."""
    return pd.Series(np.array(values)).array.take(index)


def lab_days(rep: Replication) -> pd.DataFrame:
    """Turnaround (order to result ready) percentiles per lab and order day."""
    cal, o, tl = rep.calendar, rep.orders, rep.timeline
    tat, counts = _turnarounds_by_lab_day(
        o.unit, tl.unit_lab, o.time, rep.lab_ready, _day_of_minute(cal), cal.n_days
    )
    groups = np.flatnonzero(counts)  # lab after lab, day after day
    sizes = counts[groups]
    q = _group_quantiles(tat, np.concatenate(([0], np.cumsum(sizes))))
    lab, day = np.divmod(groups, cal.n_days)
    return pd.DataFrame(
        {
            "lab": _labels(tl.lab_ids, lab),
            "date": np.array(cal.days, dtype="datetime64[D]")[day],
            "orders": sizes,
            "turnaround_p50_h": q[:, 0],
            "turnaround_p90_h": q[:, 1],
        },
        copy=False,
    )


@numba.njit(cache=True)
def _turnarounds_by_lab_day(
    unit, unit_lab, time, ready, day_of_minute, n_days
):  # pragma: no cover - compiled
    """Turnaround hours of every order grouped by lab and order day (a counting sort: one
    pass to size the groups, one to fill them), and the group sizes, index lab * n_days + day.
    Orders outside the horizon count on its first or last day."""
    last = len(day_of_minute) - 1
    n = len(time)
    group = np.empty(n, dtype=np.int32)
    counts = np.zeros((unit_lab.max() + 1) * n_days, dtype=np.int64)
    for i in range(n):
        minute = int(min(max(time[i], 0.0), last))
        group[i] = unit_lab[unit[i]] * n_days + day_of_minute[minute]
        counts[group[i]] += 1
    fill = np.cumsum(counts) - counts
    tat = np.empty(n)
    for i in range(n):
        tat[fill[group[i]]] = (ready[i] - time[i]) / 60.0
        fill[group[i]] += 1
    return tat, counts


#: A group's values are sorted into this many buckets by the leading bits of their floats
#: (eight buckets per doubling, from the group's smallest value up; the last bucket takes the
#: rest), in value order, so that each order statistic is selected within one small bucket.
_BUCKETS = 256
_BUCKET_SHIFT = 52 - 3  # keeps a float's exponent and the top three bits of its mantissa
#: Flipping all but the sign bit of a negative float's bits puts the bits in value order.
_ALL_BUT_SIGN = 0x7FFF_FFFF_FFFF_FFFF
#: The turnaround percentiles of :func:`lab_days`, as fractions.
_QUANTILES = (0.5, 0.9)


@numba.njit(cache=True)
def _group_quantiles(x, bounds):  # pragma: no cover - compiled
    """Median and 90th percentile of each group ``x[bounds[g]:bounds[g + 1]]``, shape (groups,
    2), with linear interpolation as numpy's default. ``x`` has no nan."""
    out = np.empty((len(bounds) - 1, len(_QUANTILES)))
    bucketed = np.empty(np.max(np.diff(bounds)) if len(bounds) > 1 else 0)
    starts = np.empty(_BUCKETS + 1, dtype=np.int64)
    for g in range(len(bounds) - 1):
        n = bounds[g + 1] - bounds[g]
        _bucket_sort(x[bounds[g] : bounds[g + 1]], bucketed, starts)
        for j, p in enumerate(_QUANTILES):
            pos = (n - 1) * p
            lo = int(np.floor(pos))
            x_lo = _order_statistic(bucketed, starts, lo)
            x_hi = _order_statistic(bucketed, starts, min(lo + 1, n - 1))
            out[g, j] = x_lo + (x_hi - x_lo) * (pos - lo)
    return out


@numba.njit(cache=True)
def _bucket_sort(x, out, starts):  # pragma: no cover - compiled
    """Copy ``x`` to ``out`` sorted by bucket; ``starts``: where each bucket starts, and ends."""
    bits = x.view(np.int64)
    key = (bits ^ ((bits >> 63) & _ALL_BUT_SIGN)) >> _BUCKET_SHIFT  # in value order
    key = np.minimum(key - key.min(), _BUCKETS - 1)
    starts[:] = 0
    for k in key:
        starts[k + 1] += 1
    for b in range(_BUCKETS):
        starts[b + 1] += starts[b]
    fill = starts[:-1].copy()
    for i in range(len(x)):
        out[fill[key[i]]] = x[i]
        fill[key[i]] += 1


@numba.njit(cache=True)
def _order_statistic(x, starts, k):  # pragma: no cover - compiled
    """``x[k]`` once the bucket (between consecutive ``starts``) that holds position ``k`` has
    been put in order around it."""
    b = np.searchsorted(starts, k, side="right") - 1
    _select(x, starts[b], starts[b + 1], k)
    return x[k]


@numba.njit(cache=True)
def _select(x, lo, hi, k):  # pragma: no cover - compiled
    """Reorder ``x[lo:hi]`` so that ``x[k]`` is its order statistic, with nothing larger
    before it and nothing smaller after it (quickselect, median-of-three pivot)."""
    hi -= 1
    while lo < hi:
        mid = (lo + hi) // 2
        a, b, c = x[lo], x[mid], x[hi]
        pivot = max(min(a, b), min(max(a, b), c))
        i, j = lo, hi
        while i <= j:
            while x[i] < pivot:
                i += 1
            while x[j] > pivot:
                j -= 1
            if i <= j:
                x[i], x[j] = x[j], x[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


def locks(rep: Replication) -> pd.DataFrame:
    """Per unit whose legacy client locks: what was left in it and what became of it."""
    cal, tl, o = rep.calendar, rep.timeline, rep.orders
    policy = rep.scenario.model.policies.lock.mode
    in_horizon = np.flatnonzero(tl.lock < cal.horizon_minutes)
    # Orders are stored unit after unit: a unit's legacy orders are found in its slice.
    bounds = np.searchsorted(o.unit, np.arange(len(tl.units) + 1, dtype=o.unit.dtype))
    counts = _lock_counts(
        in_horizon,
        tl.lock,
        bounds,
        rep.legacy,
        rep.lab_ready,
        rep.items.done,
        rep.orphan_time,
        rep.rerouted,
    )
    rows = [
        {
            "unit": tl.units[i].id,
            "site": tl.units[i].group,
            "system": tl.units[i].legacy_client,
            "lock": cal.to_datetime(tl.lock[i]),
            "policy": policy,
            **dict(zip(LOCK_COUNTS, c, strict=True)),
        }
        for i, c in zip(in_horizon, counts.tolist(), strict=True)
    ]
    return pd.DataFrame(rows)


#: What :func:`_lock_counts` counts per locked unit, in its column order.
LOCK_COUNTS = ("unsigned_at_lock", "outstanding_orders", "signed_later", "rerouted", "orphaned")


@numba.njit(cache=True)
def _lock_counts(
    units, lock, bounds, legacy, ready, signed, orphan_time, rerouted
):  # pragma: no cover - compiled
    """Per unit in ``units``, of its legacy orders: results ready but neither signed nor
    orphaned at the lock, results not ready by then, and of those two (what was left in the
    client), how many were signed later (not through the central queue), rerouted, orphaned."""
    counts = np.zeros((len(units), len(LOCK_COUNTS)), dtype=np.int64)
    for row in range(len(units)):
        at = lock[units[row]]
        for j in range(bounds[units[row]], bounds[units[row] + 1]):
            if not legacy[j]:
                continue
            unsigned = ready[j] < at and not signed[j] < at and not orphan_time[j] < at
            outstanding = ready[j] >= at
            if unsigned or outstanding:
                counts[row, 0] += unsigned
                counts[row, 1] += outstanding
                counts[row, 2] += not np.isnan(signed[j]) and not rerouted[j]
                counts[row, 3] += rerouted[j]
                counts[row, 4] += not np.isnan(orphan_time[j])
    return counts


def results(rep: Replication, late: np.ndarray) -> pd.DataFrame:
    """One row per result (for small runs: it is as long as the number of orders)."""
    cal, tl, o, it = rep.calendar, rep.timeline, rep.orders, rep.items
    n = rep.n_results
    cats = [c.id for c in rep.scenario.model.test_categories]

    def when(m: np.ndarray) -> pd.DatetimeIndex:
        out = np.where(np.isfinite(m), m, 0.0)
        idx = cal.to_datetimes(out)
        return idx.where(np.isfinite(m))

    return pd.DataFrame(
        {
            "unit": np.array([u.id for u in tl.units])[o.unit],
            "site": np.array([u.group for u in tl.units])[o.unit],
            "category": np.array(cats)[o.category],
            "client": np.where(rep.legacy, "legacy", "millennium"),
            "inbox": np.where(it.inbox[:n] == 0, "legacy", "millennium"),
            "ordered": when(o.time),
            "resulted": when(rep.lab_ready),
            "signed": when(it.done[:n]),
            "abnormal": o.abnormal,
            "critical": o.critical,
            "late": late,
            "orphan": ~np.isnan(rep.orphan_time),
            "rerouted": rep.rerouted,
        }
    )


def week_starts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of consecutive calendar days (``datetime64``): the Monday each ISO week they touch
    starts on (``datetime64[D]``, possibly before the first day), and the index of the week's
    first day among ``days``."""
    days = days.astype("datetime64[D]")
    monday = days - (days.view(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    starts = np.flatnonzero(np.r_[True, monday[1:] != monday[:-1]])
    return monday[starts], starts


def kpis(rep: Replication, days: pd.DataFrame, late: np.ndarray) -> dict[str, float]:
    """Replication totals and peaks, computed by the formulas of :data:`sim.metrics.kpis.KPIS`."""
    n_units, n_days = len(rep.timeline.units), rep.calendar.n_days
    _, starts = week_starts(np.array(rep.calendar.days, dtype="datetime64[D]"))
    late_days = days["late_abnormal"].to_numpy().reshape(n_units, n_days)
    inputs = KpiInputs(
        site_days=days,
        late=late,
        orphan=~np.isnan(rep.orphan_time),
        abnormal=rep.orders.abnormal,
        late_unit_weeks=np.add.reduceat(late_days, starts, axis=1),
        backlog_days=days["backlog"].to_numpy().reshape(n_units, n_days).sum(axis=0),
        reroute_hours=rep.reroute_minutes / 60.0,
        workload_left_hours=rep.workload_left_minutes / 60.0,
        failed_calls=float(rep.failed_call.sum()) if rep.failed_call is not None else 0.0,
        spillover_hours=float(rep.spillover_minutes) / 60.0,
    )
    return {name: kpi.compute(inputs) for name, kpi in KPIS.items()}


def tabulate(rep: Replication, with_results: bool = False) -> Tables:
    """Every table of one replication.

    In the order that keeps the memory peak low: the per-result passes of the lab and lock
    tables first, then the per-result flags, of which only the late results' times are kept.
    """
    labs, lock_rows = lab_days(rep), locks(rep)
    late, late_at = late_flags(rep)
    days = site_days(rep, late, late_at)
    return Tables(
        site_days=days,
        lab_days=labs,
        locks=lock_rows,
        kpis=kpis(rep, days, late),
        results=results(rep, late) if with_results else None,
    )
