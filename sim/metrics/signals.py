"""What a go-live command centre watches, per area and day, and the stop rule read from it.

Nothing in a replication's totals could tell a manager to stop a go-live that is going
wrong. A command centre watches a few counts every morning, per area; this module computes
them from one replication and evaluates the scenario's stop rule (``stop_rule:``) on them:

* ``overdue_critical``: critical results that, at the end of the day, have waited longer
  than their site kind's ``critical_threshold_hours`` and are still unsigned;
* ``overdue_abnormal``: abnormal results (critical included) unsigned at the end of the day
  and older than ``stop_rule.abnormal_age_hours``;
* for each of the two, ``<signal>_rise``: the count less the area's count at the end of the
  eve of its latest go-live. An ordinary inbox always holds some overdue results (those put
  aside at first read, :mod:`sim.model.overlooked`); a command centre judges a go-live by
  what it adds to that stock, so the levels apply to the rise;
* ``backlog`` (unsigned results at the end of the day) and ``backlog_growth_3d`` (its growth
  over the last three days);
* ``overtime_hours``.

A result stops counting when it is signed, or when nobody watches it any more (orphaned):
a command centre does not see what nobody sees. Counts are compared with the levels per 100
signers of the area (``*_per_100``), so that one set of levels fits a small and a large area.

**The rule** is evaluated on every day from each *planned* go-live in an area (the sites'
``go_live`` dates before pause and rollback events) for ``stop_rule.watch_days`` days; a
no-cutover run of the same scenario is therefore judged on the same days. It trips on the
first such day on which any signal exceeds its level (a level left empty is not watched).
``day`` counts from the go-live: 1 is the go-live day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.model.replication import Replication
from sim.scenario.schema import StopRule

LEVELS = {
    "overdue_critical": "overdue_critical_rise",
    "overdue_abnormal": "overdue_abnormal_rise",
    "backlog_growth_3d": "backlog_growth_3d",
}
"""Each stop level (a field of ``stop_rule:``) and the signal it applies to; every such signal
is also given as ``<signal>_per_100`` (per 100 signers)."""


def _overdue_at_day_ends(
    units: np.ndarray, start: np.ndarray, stop: np.ndarray, day_end: np.ndarray, n_units: int
) -> np.ndarray:
    """How many intervals [start, stop) of each unit contain each day's end (units, days)."""
    n_days = len(day_end)
    first = np.searchsorted(day_end, start, side="left")  # first day end >= start
    last = np.searchsorted(day_end, stop, side="left")  # first day end >= stop: not counted
    keep = first < last
    diff = np.zeros((n_units, n_days + 1), dtype=np.int64)
    np.add.at(diff, (units[keep], first[keep]), 1)
    np.add.at(diff, (units[keep], last[keep]), -1)
    return np.cumsum(diff[:, :-1], axis=1)


def area_days(rep: Replication, site_days: pd.DataFrame) -> pd.DataFrame:
    """One row per area and day: the signals above, the area's signers, and ``day`` (days
    since the latest planned go-live in the area, 1 = the go-live day; 0 before any)."""
    sc, cal, tl, o = rep.scenario, rep.calendar, rep.timeline, rep.orders
    s = sc.model
    rule = s.stop_rule
    n_units, n_days = len(tl.units), cal.n_days
    day_end = np.asarray(cal.day_start[1:], dtype=np.float64)
    kinds = [s.site_kinds[u.kind] for u in tl.units]
    crit_min = np.array([k.critical_threshold_hours for k in kinds]) * 60.0
    signed = rep.items.done[: rep.n_results]
    gone = np.fmin(
        np.where(np.isnan(signed), np.inf, signed), np.nan_to_num(rep.orphan_time, nan=np.inf)
    )
    ready = rep.lab_ready
    crit = np.flatnonzero(o.critical)
    overdue_crit = _overdue_at_day_ends(
        o.unit[crit], ready[crit] + crit_min[o.unit[crit]], gone[crit], day_end, n_units
    )
    abn = np.flatnonzero(o.abnormal)
    overdue_abn = _overdue_at_day_ends(
        o.unit[abn], ready[abn] + rule.abnormal_age_hours * 60.0, gone[abn], day_end, n_units
    )
    areas = sorted({u.area for u in tl.units})
    area_of = np.array([areas.index(u.area) for u in tl.units])
    signers = np.bincount(area_of, weights=[u.signers for u in tl.units], minlength=len(areas))

    def per_area(grid: np.ndarray) -> np.ndarray:
        out = np.zeros((len(areas), n_days), dtype=grid.dtype)
        np.add.at(out, area_of, grid)
        return out

    backlog = per_area(site_days["backlog"].to_numpy().reshape(n_units, n_days))
    overtime = per_area(site_days["overtime_hours"].to_numpy().reshape(n_units, n_days))
    growth = np.zeros_like(backlog)
    growth[:, 3:] = backlog[:, 3:] - backlog[:, :-3]
    days = np.array(cal.days, dtype="datetime64[D]")
    since = np.zeros((len(areas), n_days), dtype=np.int64)
    for a, area in enumerate(areas):
        for site_id in {u.group for u in tl.units if u.area == area}:
            go = np.datetime64(sc.site_dates[site_id].go_live, "D")
            offset = (days - go).astype(np.int64) + 1
            later = (offset >= 1) & ((since[a] == 0) | (offset < since[a]))
            since[a] = np.where(later, offset, since[a])
    frame = {
        "area": np.repeat(areas, n_days),
        "date": np.tile(days, len(areas)),
        "day": since.ravel(),
        "signers": np.repeat(signers, n_days),
        "overdue_critical": per_area(overdue_crit).ravel(),
        "overdue_critical_rise": rise_over_eve(per_area(overdue_crit), since).ravel(),
        "overdue_abnormal": per_area(overdue_abn).ravel(),
        "overdue_abnormal_rise": rise_over_eve(per_area(overdue_abn), since).ravel(),
        "backlog": backlog.ravel(),
        "backlog_growth_3d": growth.ravel(),
        "overtime_hours": overtime.ravel(),
    }
    out = pd.DataFrame(frame)
    for name in LEVELS.values():
        out[f"{name}_per_100"] = out[name] * 100.0 / out["signers"]
    out["watched"] = (out["day"] >= 1) & (out["day"] <= rule.watch_days)
    out["tripped"] = out["watched"] & _over(out, rule)
    return out


def rise_over_eve(values: np.ndarray, since: np.ndarray) -> np.ndarray:
    """Per area (row) and day: the value less its value on the eve of the area's latest
    go-live (``since`` is 1 on the go-live day); 0 before any go-live, and the value itself
    when the go-live is the horizon's first day (no eve)."""
    days = np.arange(values.shape[1])
    eve = days - since  # the column of the eve, for days on or after a go-live
    base = np.take_along_axis(values, np.clip(eve, 0, None), axis=1)
    return np.where(since < 1, 0, values - np.where(eve >= 0, base, 0))


def _over(days: pd.DataFrame, rule: StopRule) -> pd.Series:
    """Whether any watched signal exceeds its level (per 100 signers)."""
    over = pd.Series(False, index=days.index)
    for level_name, signal in LEVELS.items():
        level = getattr(rule, level_name)
        if level is not None:
            over |= days[f"{signal}_per_100"] > level
    return over


def stop_rule(days: pd.DataFrame) -> pd.DataFrame:
    """One row: whether the rule tripped, on which date, on which day after its go-live, in
    which area and on which signal (the first listed of those over their level)."""
    trips = days[days["tripped"]].sort_values(["date", "area"], kind="stable")
    if trips.empty:
        row = {"tripped": False, "first_date": pd.NaT, "first_day": np.nan, "area": ""}
    else:
        first = trips.iloc[0]
        row = {
            "tripped": True,
            "first_date": pd.Timestamp(first["date"]),
            "first_day": float(first["day"]),
            "area": str(first["area"]),
        }
    return pd.DataFrame([row])


def signals(rep: Replication, site_days: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The experiment tables of this module for one replication: ``area_days`` (the days
    after each go-live that the rule watches, plus a week before, as a command centre's
    baseline) and ``stop_rule`` (one row)."""
    days = area_days(rep, site_days)
    trip = stop_rule(days)
    keep = days["watched"] | _week_before(days)
    return {"area_days": days[keep].reset_index(drop=True), "stop_rule": trip}


def _week_before(days: pd.DataFrame) -> pd.Series:
    """The seven days before an area's first go-live in the horizon."""
    first = days[days["day"] == 1].groupby("area")["date"].min()
    if first.empty:  # no go-live in the horizon (the no-cutover twin, say)
        return pd.Series(False, index=days.index)
    start = days["area"].map(first)
    return (days["date"] < start) & (days["date"] >= start - pd.Timedelta(days=7))
