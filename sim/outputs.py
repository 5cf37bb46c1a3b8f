"""Tidy tables from one replication: per result, per unit and day, per lab and day, per lock.

Everything is computed after the run from the per-item record and the staff-minute ledgers,
vectorized: an end-of-day backlog is the number of results ready by midnight and neither
signed nor orphaned by then. KPIs (defined once in :mod:`sim.kpis`) are totals and peaks of
these tables.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

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
    late_h = np.array([k.late_threshold_hours for k in kinds])[o.unit]
    crit_h = np.array([k.critical_threshold_hours for k in kinds])[o.unit]
    threshold = np.where(o.critical, crit_h, late_h) * 60.0
    signed = rep.items.done[: rep.n_results]
    end = rep.calendar.horizon_minutes
    waited = np.where(np.isnan(signed), end, signed) - rep.lab_ready
    orphan = ~np.isnan(rep.orphan_time)
    late = o.abnormal & (orphan | (waited > threshold))
    return late, rep.lab_ready + threshold


def _flat_days(rep: Replication, times: np.ndarray) -> np.ndarray:
    """Per result, ``unit * n_days + day`` of ``times``; -1 where nan or outside the horizon."""
    cal = rep.calendar
    ok = np.isfinite(times) & (times >= 0) & (times < cal.horizon_minutes)
    out = np.full(len(times), -1, dtype=np.int32)
    out[ok] = rep.orders.unit[ok] * cal.n_days + cal.day_indices(times[ok])
    return out


def _day_counts(
    rep: Replication, flat_day: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """(units, days) counts of results by the unit-day in ``flat_day`` (see _flat_days)."""
    ok = flat_day >= 0 if mask is None else (flat_day >= 0) & mask
    n_units, n_days = len(rep.timeline.units), rep.calendar.n_days
    return np.bincount(flat_day[ok], minlength=n_units * n_days).reshape(n_units, n_days)


def _ledger(rep: Replication) -> tuple[np.ndarray, np.ndarray]:
    """Staff minutes by activity (activities, units, days) and overtime (units, days)."""
    n_units, n_days = len(rep.timeline.units), rep.calendar.n_days
    size = n_units * n_days
    minutes = np.zeros(len(ACTIVITIES) * size)
    overtime = np.zeros(size)
    for pool in rep.pools.values():
        if pool.ledger:
            lengths = np.array([len(u) for u, _, _, _ in pool.ledger])
            units = np.concatenate([u for u, _, _, _ in pool.ledger])
            day = np.repeat(np.array([d for _, d, _, _ in pool.ledger]), lengths)
            act = np.repeat(np.array([a for _, _, a, _ in pool.ledger]), lengths)
            val = np.concatenate([m for _, _, _, m in pool.ledger])
            key = act * size + units * n_days + day
            minutes += np.bincount(key, val, minlength=len(ACTIVITIES) * size)
        if pool.item_log:
            log = pool.item_log
            units = np.concatenate([x[0] for x in log])
            day = np.repeat(np.array([x[1] for x in log]), [len(x[0]) for x in log])
            cell = units * n_days + day
            handling = np.concatenate([x[2] for x in log])
            chase = np.concatenate([x[5] for x in log])
            parts = {
                "signing": np.where(chase, 0.0, handling),
                "chase": np.where(chase, handling, 0.0),
                "lookup": np.concatenate([_or_zero(x[3], x[0]) for x in log]),
                "dual_system": np.concatenate([_or_zero(x[4], x[0]) for x in log]),
            }
            for name, val in parts.items():
                at = ACTIVITIES.index(name) * size
                minutes[at : at + size] += np.bincount(cell, val, minlength=size)
        if pool.overtime_log:
            su = pool.cfg.signer_unit
            day = np.repeat(np.array([d for d, _ in pool.overtime_log]), len(su))
            val = np.concatenate([m for _, m in pool.overtime_log])
            overtime += np.bincount(
                np.tile(su, len(pool.overtime_log)) * n_days + day, val, minlength=size
            )
    return minutes.reshape(len(ACTIVITIES), n_units, n_days), overtime.reshape(n_units, n_days)


def _or_zero(values: np.ndarray | None, like: np.ndarray) -> np.ndarray:
    return np.zeros(len(like)) if values is None else values


def site_days(rep: Replication, late: np.ndarray, late_at: np.ndarray) -> pd.DataFrame:
    """One row per unit and day."""
    cal, tl, o = rep.calendar, rep.timeline, rep.orders
    n_units, n_days = len(tl.units), cal.n_days
    signed = rep.items.done[: rep.n_results]
    # Results orphaned on arrival (after a lock) never enter an inbox or its backlog.
    enters = ~(rep.orphan_time == rep.lab_ready)
    ready_day, signed_day = _flat_days(rep, rep.lab_ready), _flat_days(rep, signed)
    orphan_day = _flat_days(rep, rep.orphan_time)
    arrived = _day_counts(rep, ready_day, enters)
    signed_count = _day_counts(rep, signed_day)
    left = signed_count + _day_counts(rep, orphan_day, enters)
    backlog = np.cumsum(arrived - left, axis=1)
    minutes, overtime = _ledger(rep)
    units = np.repeat(np.arange(n_units), n_days)
    days = np.tile(np.arange(n_days), n_units)
    mid = cal.day_start[:-1][days] + 720.0
    coexist = tl.home_new(units, mid) & ~tl.client_new(units, mid)
    frame = {
        "date": np.tile(np.array(cal.days, dtype="datetime64[D]"), n_units),
        "unit": np.array([u.id for u in tl.units])[units],
        "site": np.array([u.group for u in tl.units])[units],
        "kind": np.array([u.kind for u in tl.units])[units],
        "area": np.array([u.area for u in tl.units])[units],
        "coexistence": coexist,
        "demand": o.potential_per_day.ravel(),
        "orders": o.placed_per_day.ravel(),
        "results": arrived.ravel(),
        "signed": signed_count.ravel(),
        "backlog": backlog.ravel(),
        "late_abnormal": _day_counts(rep, _flat_days(rep, late_at), late).ravel(),
        "orphans": _day_counts(rep, orphan_day).ravel(),
    }
    for a, name in enumerate(ACTIVITIES):
        frame[f"{name}_hours"] = minutes[a].ravel() / 60.0
    frame["overtime_hours"] = overtime.ravel() / 60.0
    frame["worked_hours"] = minutes.sum(axis=0).ravel() / 60.0
    return pd.DataFrame(frame)


def lab_days(rep: Replication) -> pd.DataFrame:
    """Turnaround (order to result ready) percentiles per lab and order day."""
    cal, o, tl = rep.calendar, rep.orders, rep.timeline
    order_lab = tl.unit_lab[o.unit]
    rows = []
    for j, lab_id in enumerate(tl.lab_ids):  # lab by lab keeps the memory peak low
        idx = np.flatnonzero(order_lab == j)
        day = cal.day_indices(np.clip(o.time[idx], 0, cal.horizon_minutes - 1))
        small = np.int16 if cal.n_days < 2**15 else np.int64
        order = np.argsort(day.astype(small), kind="stable")  # radix sort for 16-bit keys
        day = day[order]
        tat = ((rep.lab_ready[idx] - o.time[idx]) / 60.0)[order]
        bounds = np.flatnonzero(np.concatenate(([True], day[1:] != day[:-1], [True])))
        for a, b in itertools.pairwise(bounds):
            p50, p90 = _quantiles(tat[a:b])
            rows.append((lab_id, cal.days[int(day[a])], b - a, p50, p90))
    frame = pd.DataFrame(
        rows, columns=["lab", "date", "orders", "turnaround_p50_h", "turnaround_p90_h"]
    )
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _quantiles(x: np.ndarray) -> tuple[float, float]:
    """Median and 90th percentile (linear interpolation, as numpy's default)."""
    n = len(x)
    pos = np.array([0.5, 0.9]) * (n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    part = np.partition(x, np.unique(np.r_[lo, hi]))
    vals = part[lo] + (part[hi] - part[lo]) * (pos - lo)
    return float(vals[0]), float(vals[1])


def locks(rep: Replication) -> pd.DataFrame:
    """Per unit whose legacy client locks: what was left in it and what became of it."""
    cal, tl, o = rep.calendar, rep.timeline, rep.orders
    policy = rep.scenario.model.policies.lock.mode
    signed = rep.items.done[: rep.n_results]
    orphan = ~np.isnan(rep.orphan_time)
    rows = []
    in_horizon = np.flatnonzero(tl.lock < cal.horizon_minutes)
    legacy_by_unit = _group(o.unit[rep.legacy], np.flatnonzero(rep.legacy), len(tl.units))
    for i in in_horizon:
        lock = tl.lock[i]
        mine = legacy_by_unit[i]
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


def _group(keys: np.ndarray, values: np.ndarray, n: int) -> list[np.ndarray]:
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    vals = values[order]
    return [vals[bounds[i] : bounds[i + 1]] for i in range(n)]


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
    """Every table of one replication."""
    late, late_at = late_flags(rep)
    days = site_days(rep, late, late_at)
    return Tables(
        site_days=days,
        lab_days=lab_days(rep),
        locks=locks(rep),
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
