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

import numpy as np
import pandas as pd

from sim.metrics.tables import Tables, week_starts
from sim.model.ledger import ACTIVITIES

HOURS = [f"{a}_hours" for a in ACTIVITIES] + ["overtime_hours", "worked_hours"]
COUNTS = ["results", "signed", "backlog", "late_abnormal", "orphans", "orphans_normal"]

SUMMARY_TABLES = ("kpis", "region_days", "site_weeks", "locks")
DETAIL_TABLES = ("site_days", "lab_days")


def summarise(tables: Tables, detail: bool = False) -> dict[str, pd.DataFrame]:
    """The experiment tables of one replication (without variant and replication columns)."""
    days = tables.site_days
    n_units = _n_units(days)
    out = {
        "kpis": pd.DataFrame([tables.kpis]),
        "region_days": _region_days(days, n_units),
        "site_weeks": _site_weeks(days, n_units),
        "locks": tables.locks.copy(),
    }
    if detail:
        out["site_days"] = days
        out["lab_days"] = tables.lab_days
    return out


def _n_units(days: pd.DataFrame) -> int:
    """Units of a unit-day table, which holds each unit over the same consecutive days, unit
    after unit (as :func:`sim.outputs.site_days` builds it): its columns are (units, days)
    grids, and totals over units or weeks are array sums rather than groupbys on labels."""
    dates = days["date"].to_numpy()
    n_days = int((dates.max() - dates.min()) // np.timedelta64(1, "D")) + 1
    n_units = len(days) // n_days
    assert (dates.reshape(n_units, n_days) == dates[:n_days]).all(), "not a unit-day grid"
    return n_units


def _grid(days: pd.DataFrame, column: str, n_units: int) -> np.ndarray:
    return days[column].to_numpy().reshape(n_units, -1)


def _float_sums(days: pd.DataFrame, columns: list[str], groups: np.ndarray) -> pd.DataFrame:
    """Float columns summed per group (numbered in output order) by pandas' groupby, whose
    summation order (compensated, or ``reduceat`` when the groups are sorted) the tables
    have always had; integer counts are exact in any order and are summed on the grids."""
    return days[columns].groupby(groups.ravel(), sort=True).sum()


def _region_days(days: pd.DataFrame, n_units: int) -> pd.DataFrame:
    n_days = len(days) // n_units
    region = {"date": days["date"].to_numpy()[:n_days]}
    for c in ["demand", "orders", *COUNTS]:
        region[c] = _grid(days, c, n_units).sum(axis=0, dtype=days[c].dtype)
    hours = _float_sums(days, HOURS, np.broadcast_to(np.arange(n_days), (n_units, n_days)))
    region.update({c: hours[c].to_numpy() for c in HOURS})
    region["coexistence_units"] = _grid(days, "coexistence", n_units).sum(axis=0)
    return pd.DataFrame(region)


def _site_weeks(days: pd.DataFrame, n_units: int) -> pd.DataFrame:
    """One row per site entry (site, kind, area) and week, in that order."""
    n_days = len(days) // n_units
    first_rows = np.arange(n_units) * n_days
    site, kind, area = (days[k].array.take(first_rows).to_numpy() for k in ("site", "kind", "area"))
    entries = {e: i for i, e in enumerate(sorted(set(zip(site, kind, area, strict=True))))}
    entry = np.array([entries[e] for e in zip(site, kind, area, strict=True)])
    entry_unit = np.unique(entry, return_index=True)[1]  # the first unit of each entry
    weeks, starts = week_starts(days["date"].to_numpy()[:n_days])
    ends = np.append(starts[1:], n_days)
    week = np.repeat(np.arange(len(weeks)), ends - starts)

    def unit_weeks(column: str) -> np.ndarray:
        return np.add.reduceat(_grid(days, column, n_units), starts, axis=1)

    def entry_totals(per_unit: np.ndarray) -> np.ndarray:
        totals = np.zeros((len(entries), per_unit.shape[1]), dtype=np.int64)
        np.add.at(totals, entry, per_unit)
        return totals

    rows = np.repeat(first_rows[entry_unit], len(weeks))
    out = {k: days[k].array.take(rows) for k in ("site", "kind", "area")}
    out["week"] = np.tile(weeks.astype("datetime64[us]"), len(entries))
    for c in ("results", "signed", "late_abnormal", "orphans", "orphans_normal"):
        out[c] = entry_totals(unit_weeks(c)).ravel()
    hours = ["dual_system_hours", "overtime_hours"]
    sums = _float_sums(days, hours, entry[:, None] * len(weeks) + week)
    out.update({c: sums[c].to_numpy() for c in hours})
    out["backlog_end"] = entry_totals(_grid(days, "backlog", n_units))[:, ends - 1].ravel()
    out["coexistence_unit_days"] = entry_totals(unit_weeks("coexistence")).ravel()
    # The site's worst unit in the week, over all of the site's entries.
    sites, unit_site = np.unique(site, return_inverse=True)
    worst = np.zeros((len(sites), len(weeks)), dtype=np.int64)
    np.maximum.at(worst, unit_site, unit_weeks("late_abnormal"))
    out["late_abnormal_worst_unit"] = worst[unit_site[entry_unit]].ravel()
    return pd.DataFrame(out)
