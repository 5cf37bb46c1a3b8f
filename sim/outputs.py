"""Tidy tables from one replication: per result, per unit and day, per lab and day, per lock.

Everything is computed after the run from the per-item record and the staff-minute ledgers,
vectorized: an end-of-day backlog is the number of results ready by midnight and neither
signed nor orphaned by then. KPIs (defined once in :mod:`sim.kpis`) are totals and peaks of
these tables.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from sim.calendar import Calendar
from sim.inbox import ACTIVITIES
from sim.kpis import KPIS
from sim.model import Replication


@dataclass
class Tables:
    """The tables of one replication (``results`` only when asked for)."""

    site_days: pd.DataFrame
    lab_days: pd.DataFrame
    locks: pd.DataFrame
    kpis: dict[str, float]
    results: pd.DataFrame | None = None


def late_flags(rep: Replication) -> tuple[np.ndarray, np.ndarray]:
    """Per result: abnormal and late (signed, unsigned or orphaned past its threshold)."""
    s, o = rep.scenario.model, rep.orders
    kinds = [s.site_kinds[u.kind] for u in rep.timeline.units]
    late_min = np.array([k.late_threshold_hours for k in kinds]) * 60.0
    crit_min = np.array([k.critical_threshold_hours for k in kinds]) * 60.0
    threshold = late_min[o.unit]
    threshold[o.critical] = crit_min[o.unit[o.critical]]
    abnormal = np.flatnonzero(o.abnormal)
    signed = rep.items.done[abnormal]
    waited = np.where(np.isnan(signed), rep.calendar.horizon_minutes, signed)
    waited -= rep.lab_ready[abnormal]
    late = np.zeros(len(o), dtype=bool)
    late[abnormal] = ~np.isnan(rep.orphan_time[abnormal]) | (waited > threshold[abnormal])
    return late, np.add(rep.lab_ready, threshold, out=threshold)


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
        "orphans": _day_counts(rep, unit[orphan], orphan_at).ravel(),
    }
    for a, name in enumerate(ACTIVITIES):
        frame[f"{name}_hours"] = minutes[a].ravel() / 60.0
    frame["overtime_hours"] = overtime.ravel() / 60.0
    frame["worked_hours"] = minutes.sum(axis=0).ravel() / 60.0
    return pd.DataFrame(frame, copy=False)  # every column is a fresh array


def _labels(values: list[str], index: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``values[index]`` as a column, converted to the frame's string type once per distinct
    value rather than once per row."""
    return pd.Series(np.array(values)).array.take(index)


def lab_days(rep: Replication) -> pd.DataFrame:
    """Turnaround (order to result ready) percentiles per lab and order day."""
    cal, o, tl = rep.calendar, rep.orders, rep.timeline
    order_lab = tl.unit_lab.astype(np.min_scalar_type(len(tl.lab_ids)))[o.unit]
    small = np.int16 if cal.n_days < 2**15 else np.int64
    labs, dates, counts, p50, p90 = [], [], [], [], []
    for j, lab_id in enumerate(tl.lab_ids):  # lab by lab keeps the memory peak low
        idx = np.flatnonzero(order_lab == j)
        minute = np.clip(o.time[idx], 0, cal.horizon_minutes - 1).astype(np.intp)
        day = _day_of_minute(cal)[minute].astype(small, copy=False)
        order = np.argsort(day, kind="stable")  # radix sort for 16-bit keys
        day, idx = day[order], idx[order]
        tat = rep.lab_ready[idx] - o.time[idx]
        tat /= 60.0
        bounds = np.flatnonzero(np.concatenate(([True], day[1:] != day[:-1], [True])))
        q = _group_quantiles(tat, bounds)
        labs += [lab_id] * (len(bounds) - 1)
        dates += [cal.days[d] for d in day[bounds[:-1]]]
        counts.append(np.diff(bounds))
        p50.append(q[:, 0])
        p90.append(q[:, 1])
    frame = pd.DataFrame(
        {
            "lab": labs,
            "date": dates,
            "orders": np.concatenate(counts),
            "turnaround_p50_h": np.concatenate(p50),
            "turnaround_p90_h": np.concatenate(p90),
        }
    )
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _group_quantiles(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Median and 90th percentile of each group ``x[bounds[g]:bounds[g + 1]]``, shape (groups,
    2), with linear interpolation as numpy's default: only the order statistics around each
    quantile are selected (``np.partition``), group by group."""
    n = np.diff(bounds)
    pos = (n - 1)[:, None] * np.array([0.5, 0.9])
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, (n - 1)[:, None])
    kth = np.concatenate([lo, hi], axis=1)
    stats = np.empty(kth.shape)
    for g, k in enumerate(kth):
        stats[g] = np.partition(x[bounds[g] : bounds[g + 1]], k)[k]
    x_lo, x_hi = stats[:, :2], stats[:, 2:]
    return x_lo + (x_hi - x_lo) * (pos - lo)


def locks(rep: Replication) -> pd.DataFrame:
    """Per unit whose legacy client locks: what was left in it and what became of it."""
    cal, tl, o = rep.calendar, rep.timeline, rep.orders
    policy = rep.scenario.model.policies.lock.mode
    signed = rep.items.done[: rep.n_results]
    orphan = ~np.isnan(rep.orphan_time)
    rows = []
    in_horizon = np.flatnonzero(tl.lock < cal.horizon_minutes)
    # Orders are stored unit after unit: a unit's legacy orders are found in its slice.
    bounds = np.searchsorted(o.unit, np.arange(len(tl.units) + 1))
    for i in in_horizon:
        lock = tl.lock[i]
        mine = bounds[i] + np.flatnonzero(rep.legacy[bounds[i] : bounds[i + 1]])
        ready = rep.lab_ready[mine]
        unsigned = (ready < lock) & ~(signed[mine] < lock) & ~(rep.orphan_time[mine] < lock)
        outstanding = ready >= lock
        left = unsigned | outstanding
        rows.append(
            {
                "unit": tl.units[i].id,
                "site": tl.units[i].group,
                "system": tl.units[i].legacy_client,
                "lock": cal.to_datetime(lock),
                "policy": policy,
                "unsigned_at_lock": int(unsigned.sum()),
                "outstanding_orders": int(outstanding.sum()),
                "signed_later": int((left & ~np.isnan(signed[mine]) & ~rep.rerouted[mine]).sum()),
                "rerouted": int((left & rep.rerouted[mine]).sum()),
                "orphaned": int((left & orphan[mine]).sum()),
            }
        )
    return pd.DataFrame(rows)


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


def kpis(rep: Replication, days: pd.DataFrame, late: np.ndarray) -> dict[str, float]:
    """Replication totals and peaks, named as in :data:`sim.kpis.KPIS`."""
    weekly = days.groupby(["unit", days["date"].dt.to_period("W")])["late_abnormal"].sum()
    extra = [f"{a}_hours" for a in ACTIVITIES if a not in ("signing", "messages")]
    values = {
        "late_abnormal": float(late.sum()),
        "orphans": float((~np.isnan(rep.orphan_time)).sum()),
        "late_abnormal_peak_site_week": float(weekly.max()) if len(weekly) else 0.0,
        "backlog_peak": float(days.groupby("date")["backlog"].sum().max()),
        "overtime_hours": float(days["overtime_hours"].sum()),
        "dual_system_hours": float(days["dual_system_hours"].sum()),
        "extra_staff_hours": float(days[extra].to_numpy().sum()) + rep.reroute_minutes / 60.0,
    }
    assert set(values) == set(KPIS)
    return values


def tabulate(rep: Replication, with_results: bool = False) -> Tables:
    """Every table of one replication.

    In the order that keeps the memory peak low: the per-result passes of the lab and lock
    tables first, then the per-result flags, of which only the late results' times are kept.
    """
    labs, lock_rows = lab_days(rep), locks(rep)
    late, late_at = late_flags(rep)
    late_at = late_at[late]
    days = site_days(rep, late, late_at)
    return Tables(
        site_days=days,
        lab_days=labs,
        locks=lock_rows,
        kpis=kpis(rep, days, late),
        results=results(rep, late) if with_results else None,
    )


def coexistence_odds_ratio(rep: Replication) -> dict[str, float]:
    """Odds of an abnormal result going late while its unit works in two systems, against the
    same units' single-system weeks (before training for go-live, and after the legacy inbox
    has closed). The face-validity target is the published hybrid-record effect (OR 1.5-3).
    """
    tl, o, s = rep.timeline, rep.orders, rep.scenario.model
    late, _ = late_flags(rep)
    go, ros = tl.go_live[o.unit], tl.ros_switch[o.unit]
    has_window = ros > go
    t = rep.lab_ready
    closed = tl.lock[o.unit] + (
        s.policies.lock.drain_days * 1440.0 if s.policies.lock.mode == "drain" else 0.0
    )
    before = go - (s.staffing.training_weeks * 7 + 7) * 1440.0
    dual = has_window & o.abnormal & (t >= go) & (t < ros)
    single = (
        has_window
        & o.abnormal
        & ((t < before) | (t >= closed))
        & (t < rep.calendar.horizon_minutes)
    )
    a, b = float(late[dual].sum()), float((~late[dual]).sum())
    c, d = float(late[single].sum()), float((~late[single]).sum())
    ratio = (a / b) / (c / d) if b and c and d else float("nan")
    return {
        "late_dual": a,
        "on_time_dual": b,
        "late_single": c,
        "on_time_single": d,
        "odds_ratio": ratio,
    }
