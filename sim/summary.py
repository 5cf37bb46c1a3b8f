"""What an experiment keeps of one replication: small tables instead of per-unit days.

A replication's unit-day table has hundreds of thousands of rows; hundreds of replications of
it would not fit in a results store anyone wants to open. An experiment keeps, per variant and
replication, what its questions need:

* ``kpis``: one row, the indicators of :data:`sim.kpis.KPIS`;
* ``region_days``: one row per calendar day, summed over all units (fan charts, staff hours);
* ``site_weeks``: one row per site entry and ISO week (where and when risk piles up), with the
  worst unit of the site in that week, so that the heatmap judges weeks by the same rule as the
  ``late_abnormal_peak_site_week`` KPI;
* ``locks``: one row per legacy lock (what was left in the client and what became of it).

The full unit-day and lab-day tables are kept only when asked for (``detail``).
"""

from __future__ import annotations

import pandas as pd

from sim.inbox import ACTIVITIES
from sim.outputs import Tables

HOURS = [f"{a}_hours" for a in ACTIVITIES] + ["overtime_hours", "worked_hours"]
COUNTS = ["results", "signed", "backlog", "late_abnormal", "orphans"]

SUMMARY_TABLES = ("kpis", "region_days", "site_weeks", "locks")
DETAIL_TABLES = ("site_days", "lab_days")


def summarise(tables: Tables, detail: bool = False) -> dict[str, pd.DataFrame]:
    """The experiment tables of one replication (without variant and replication columns)."""
    days = tables.site_days
    out = {
        "kpis": pd.DataFrame([tables.kpis]),
        "region_days": _region_days(days),
        "site_weeks": _site_weeks(days),
        "locks": tables.locks.copy(),
    }
    if detail:
        out["site_days"] = days
        out["lab_days"] = tables.lab_days
    return out


def _region_days(days: pd.DataFrame) -> pd.DataFrame:
    cols = ["demand", "orders", *COUNTS, *HOURS]
    region = days.groupby("date", sort=True)[cols].sum()
    region["coexistence_units"] = days.groupby("date", sort=True)["coexistence"].sum()
    return region.reset_index()


def _site_weeks(days: pd.DataFrame) -> pd.DataFrame:
    keys = ["site", "kind", "area", "week"]
    frame = days.assign(week=days["date"].dt.to_period("W-SUN").dt.start_time)
    worst = (
        frame.groupby(["site", "unit", "week"], sort=False)["late_abnormal"]
        .sum()
        .groupby(level=["site", "week"])
        .max()
    )
    site_days = frame.groupby([*keys, "date"], sort=True)[["backlog", "coexistence"]].sum()
    weeks = frame.groupby(keys, sort=True)[
        ["results", "signed", "late_abnormal", "orphans", "dual_system_hours", "overtime_hours"]
    ].sum()
    by_week = site_days.groupby(level=keys, sort=True)
    weeks["backlog_end"] = by_week["backlog"].last()
    weeks["coexistence_unit_days"] = by_week["coexistence"].sum()
    weeks = weeks.reset_index()
    weeks["late_abnormal_worst_unit"] = worst.reindex(
        pd.MultiIndex.from_frame(weeks[["site", "week"]])
    ).to_numpy()
    return weeks
