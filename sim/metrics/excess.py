"""What the cutover adds: excess over the no-cutover twin, and where and when it falls.

A replication's totals are mostly ordinary days (holidays, absences, weekend criticals). Each
replication therefore also runs a twin with no cutover and the same random numbers
(:mod:`sim.experiment.twin`), and a variant's *excess* is its value minus the twin's, paired
by replication (and by day, site-week or unit-day where the tables have those rows).

This module computes, from the tables of a variant and of its twin:

* ``excess_<column>`` columns for the ``kpis``, ``region_days`` and ``site_weeks`` tables;
* the ``breakdown`` table: late abnormal results, orphans and staff hours, with their excess,
  by stage, area, site kind, *phase* of the unit's cutover on that day (before go-live,
  go-live to its lab-ordering switch, that switch to the closing of its legacy client at the
  lock policy's deadline (``Timeline.closed``), after it; ``rolled_back`` while a rollback
  holds) and whether the unit-day is *touched* by the cutover (from 5 weeks before the
  unit's go-live to 4 weeks after its legacy inbox closes);
* the ``time_to_sign`` table: the distribution of ready-to-signed hours of abnormal and of
  critical results by site kind and phase, whose tail (not its median) is where dual signing
  shows.

The twin's excess is zero by construction; its rows are kept under its own variant name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.metrics.kpis import KPIS
from sim.metrics.tables import Tables
from sim.model.ledger import EXTRA
from sim.model.replication import Replication

PHASES = (
    "before_go_live",
    "go_live_to_lab_switch",
    "lab_switch_to_lock",
    "after_lock",
    "rolled_back",
)
TOUCH_BEFORE_DAYS = 35  # "touched": from 5 weeks before go-live ...
TOUCH_AFTER_DAYS = 28  # ... to 4 weeks after the legacy inbox closes

#: Staff hours counted as "extra" (the ``extra_staff_hours`` KPI, without the central queue,
#: which belongs to no unit).
EXTRA_HOURS = [f"{a}_hours" for a in EXTRA]
#: Unit-day measures broken down by where and when they fall.
MEASURES = (
    "late_abnormal",
    "orphans",
    "orphans_normal",
    "overtime_hours",
    "dual_system_hours",
    "extra_staff_hours",
)
#: Columns of the day and site-week tables given an excess (the rest are labels or inputs).
REGION_DAY_EXCESS = (
    "results",
    "signed",
    "backlog",
    "late_abnormal",
    "orphans",
    "orphans_normal",
    "overtime_hours",
    "worked_hours",
    *EXTRA_HOURS,
)
SITE_WEEK_EXCESS = (
    "late_abnormal",
    "orphans",
    "orphans_normal",
    "backlog_end",
    "dual_system_hours",
    "overtime_hours",
    "late_abnormal_worst_unit",
)
SEVERITIES = ("abnormal", "critical")


@dataclass
class UnitDays:
    """A replication's unit-day grids (units x days) that the breakdown needs, with each
    unit-day's phase and whether the cutover touches it, and each unit's labels."""

    units: list[str]
    stage: np.ndarray  # per unit (-1: none)
    area: np.ndarray
    kind: np.ndarray
    phase: np.ndarray  # (units, days) index into PHASES
    touched: np.ndarray  # (units, days) bool
    grids: dict[str, np.ndarray]  # measure -> (units, days)


def phases_at(rep: Replication, units: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index into :data:`PHASES` of each (unit, time) pair (broadcast together)."""
    tl = rep.timeline
    go, ros, close = tl.go_live[units], tl.ros_switch[units], tl.closed[units]
    phase = np.select(
        [t < go, t < ros, t < close],
        [0, 1, 2],
        default=3,
    ).astype(np.int8)
    rolled = (t >= tl.rb_start[units]) & (t < tl.rb_end[units])
    return np.where(rolled, 4, phase).astype(np.int8)


def unit_days(rep: Replication, tables: Tables) -> UnitDays:
    """The unit-day grids and labels of one replication (from its ``site_days`` table)."""
    tl, cal = rep.timeline, rep.calendar
    days = tables.site_days
    n_units, n_days = len(tl.units), cal.n_days
    mid = cal.day_start[:-1][None, :] + 720.0  # noon of each day
    every = np.arange(n_units)[:, None]
    phase = phases_at(rep, every, mid)
    start = tl.go_live[:, None] - TOUCH_BEFORE_DAYS * 1440.0
    end = tl.closed[:, None] + TOUCH_AFTER_DAYS * 1440.0
    touched = np.isfinite(tl.go_live)[:, None] & (mid >= start) & (mid < end)
    stage_of = {site.id: site.stage for site in rep.scenario.model.sites}

    def grid(column: str | list[str]) -> np.ndarray:
        values = days[column].to_numpy()
        if values.ndim == 2:  # several columns, summed in a fixed order
            values = values.sum(axis=1)
        return values.reshape(n_units, n_days)

    grids = {m: grid(m) for m in MEASURES if m != "extra_staff_hours"}
    grids["extra_staff_hours"] = grid(EXTRA_HOURS)
    stage = np.array([stage_of[u.group] if stage_of[u.group] is not None else -1 for u in tl.units])
    return UnitDays(
        units=[u.id for u in tl.units],
        stage=stage,
        area=np.array([u.area for u in tl.units]),
        kind=np.array([u.kind for u in tl.units]),
        phase=phase,
        touched=touched,
        grids=grids,
    )


def breakdown(variant: UnitDays, twin: UnitDays | None) -> pd.DataFrame:
    """Measures and their excess over the twin by stage, area, kind, phase and touched,
    grouped by the *variant's* phases (the twin's unit-days are compared cell by cell). With
    no twin, or units that differ from the twin's, the excess columns are missing or nan."""
    labels = pd.DataFrame({"stage": variant.stage, "area": variant.area, "kind": variant.kind})
    groups, unit_group = np.unique(labels.to_numpy(dtype=str), axis=0, return_inverse=True)
    unit_group = unit_group.ravel()
    n_cells = len(groups) * len(PHASES) * 2
    key = (unit_group[:, None] * len(PHASES) + variant.phase) * 2 + variant.touched
    key = key.ravel()
    present = np.bincount(key, minlength=n_cells) > 0
    out: dict[str, np.ndarray] = {}
    aligned = twin is not None and twin.units == variant.units
    for m in MEASURES:
        out[m] = np.bincount(key, variant.grids[m].ravel(), minlength=n_cells)
        if twin is not None:
            if aligned:
                diff = variant.grids[m] - twin.grids[m]
                out[f"excess_{m}"] = np.bincount(key, diff.ravel(), minlength=n_cells)
            else:
                out[f"excess_{m}"] = np.full(n_cells, np.nan)
    cells = np.flatnonzero(present)
    g, rest = np.divmod(cells, len(PHASES) * 2)
    phase, touched = np.divmod(rest, 2)
    first = np.unique(unit_group, return_index=True)[1]  # a unit of each group, for labels
    frame = {
        "stage": variant.stage[first][g],
        "area": variant.area[first][g],
        "kind": variant.kind[first][g],
        "phase": np.array(PHASES)[phase],
        "touched": touched.astype(bool),
    }
    counts = ("late_abnormal", "orphans", "orphans_normal")
    for name, values in out.items():
        v = values[cells]
        is_count = name.removeprefix("excess_") in counts and not np.isnan(v).any()
        frame[name] = v.round().astype(np.int64) if is_count else v
    return pd.DataFrame(frame)


def time_to_sign(rep: Replication) -> pd.DataFrame:
    """Ready-to-signed hours of abnormal (not critical) and critical results that were ready
    inside the horizon, by site kind, phase (at the result's ready time) and severity:
    ``n`` signed, ``unsigned`` (never signed by the horizon, orphans included), and the
    mean, median, 90th and 99th percentile of the signed ones."""
    o, tl = rep.orders, rep.timeline
    ready = rep.lab_ready
    signed = rep.items.done[: rep.n_results]
    inside = o.abnormal & (ready < rep.calendar.horizon_minutes)
    idx = np.flatnonzero(inside)
    kinds = sorted({u.kind for u in tl.units})
    kind_of_unit = np.array([kinds.index(u.kind) for u in tl.units])
    kind = kind_of_unit[o.unit[idx]]
    phase = phases_at(rep, o.unit[idx], ready[idx])
    severity = o.critical[idx].astype(np.int64)
    key = (kind * len(PHASES) + phase) * 2 + severity
    hours = (signed[idx] - ready[idx]) / 60.0
    done = ~np.isnan(hours)
    n_keys = len(kinds) * len(PHASES) * 2
    unsigned = np.bincount(key[~done], minlength=n_keys)
    key, hours = key[done], hours[done]
    order = np.lexsort((hours, key))
    key, hours = key[order], hours[order]
    starts = np.searchsorted(key, np.arange(n_keys + 1))
    rows = []
    for k in range(n_keys):
        a, b = starts[k], starts[k + 1]
        if a == b and not unsigned[k]:
            continue
        x = hours[a:b]
        q = np.quantile(x, [0.5, 0.9, 0.99]) if len(x) else np.full(3, np.nan)
        kind_i, rest = divmod(k, len(PHASES) * 2)
        phase_i, sev = divmod(rest, 2)
        rows.append(
            {
                "kind": kinds[kind_i],
                "phase": PHASES[phase_i],
                "severity": SEVERITIES[sev],
                "n": int(b - a),
                "unsigned": int(unsigned[k]),
                "mean_h": float(x.mean()) if len(x) else np.nan,
                "p50_h": float(q[0]),
                "p90_h": float(q[1]),
                "p99_h": float(q[2]),
            }
        )
    return pd.DataFrame(rows)


def add_excess(summary: dict[str, pd.DataFrame], twin: dict[str, pd.DataFrame]) -> None:
    """Add ``excess_<column>`` columns, variant minus twin, to a replication's ``kpis``
    (every KPI), ``region_days`` (by date) and ``site_weeks`` (by site entry and week)."""
    kpis, base = summary["kpis"], twin["kpis"]
    for name in KPIS:
        kpis[f"excess_{name}"] = kpis[name].to_numpy() - base[name].to_numpy()
    _excess_by(summary["region_days"], twin["region_days"], ["date"], REGION_DAY_EXCESS)
    entry_week = ["site", "kind", "area", "week"]
    _excess_by(summary["site_weeks"], twin["site_weeks"], entry_week, SITE_WEEK_EXCESS)


def _excess_by(frame: pd.DataFrame, twin: pd.DataFrame, keys: list[str], columns) -> None:
    """``excess_<c>`` for each column, matching rows on ``keys`` (nan where the twin has no
    such row); rows in the same order, as they are when the units are the same, skip the
    join."""
    columns = [c for c in columns if c in frame.columns]
    same = len(frame) == len(twin) and all(
        np.array_equal(frame[k].to_numpy(), twin[k].to_numpy()) for k in keys
    )
    if same:
        other = twin[columns]
    else:
        other = frame[keys].merge(twin[keys + columns], on=keys, how="left")[columns]
    for c in columns:
        frame[f"excess_{c}"] = frame[c].to_numpy() - other[c].to_numpy()
