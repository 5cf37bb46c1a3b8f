"""Tables of a replication: the compiled and array shortcuts agree with their plain definitions."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.metrics.summary import COUNTS, HOURS, summarise
from sim.metrics.tables import _group_quantiles, tabulate
from sim.model.replication import run_replication
from sim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def test_group_quantiles_interpolate_between_order_statistics():
    rng = np.random.default_rng(0)
    for trial in range(100):
        sizes = rng.integers(1, 400 if trial % 3 else 5, 12)
        x = rng.exponential(1, sizes.sum()) * 10.0 ** rng.integers(-3, 6, sizes.sum())
        if trial % 2:
            x = np.round(x)  # ties
        if trial % 5 == 0:
            x *= rng.choice([-1, 1], len(x))
        bounds = np.concatenate(([0], np.cumsum(sizes)))
        expected = []
        for g in range(len(sizes)):
            ordered = np.sort(x[bounds[g] : bounds[g + 1]])
            pos = (len(ordered) - 1) * np.array([0.5, 0.9])
            lo = np.floor(pos).astype(int)
            x_lo, x_hi = ordered[lo], ordered[np.minimum(lo + 1, len(ordered) - 1)]
            expected.append(x_lo + (x_hi - x_lo) * (pos - lo))
        got = _group_quantiles(x, bounds)
        np.testing.assert_array_equal(got, np.array(expected))
        np.testing.assert_allclose(
            got, [np.quantile(x[a:b], [0.5, 0.9]) for a, b in pairwise(bounds)]
        )


@pytest.mark.parametrize(
    "path", [ROOT / "scenarios" / "tiny.yaml", ROOT / "tests" / "data" / "queueing.yaml"]
)
def test_summaries_are_the_groupby_totals_of_the_unit_days(path):
    tables = tabulate(run_replication(load_scenario(path), 0))
    days = tables.site_days
    out = summarise(tables)

    region = days.groupby("date")[["demand", "orders", *COUNTS, *HOURS]].sum()
    region["coexistence_units"] = days.groupby("date")["coexistence"].sum()
    pd.testing.assert_frame_equal(out["region_days"], region.reset_index(), check_exact=True)

    frame = days.assign(week=days["date"].dt.to_period("W-SUN").dt.start_time)
    keys = ["site", "kind", "area", "week"]
    weeks = frame.groupby(keys)[
        [
            "results",
            "signed",
            "late_abnormal",
            "orphans",
            "orphans_normal",
            "dual_system_hours",
            "overtime_hours",
        ]
    ].sum()
    site_days = frame.groupby([*keys, "date"])[["backlog", "coexistence"]].sum()
    weeks["backlog_end"] = site_days.groupby(level=keys)["backlog"].last()
    weeks["coexistence_unit_days"] = site_days.groupby(level=keys)["coexistence"].sum()
    unit_weeks = frame.groupby(["site", "unit", "week"])["late_abnormal"].sum()
    worst = unit_weeks.groupby(level=["site", "week"]).max()
    weeks = weeks.reset_index()
    weeks["late_abnormal_worst_unit"] = worst.reindex(
        pd.MultiIndex.from_frame(weeks[["site", "week"]])
    ).to_numpy()
    pd.testing.assert_frame_equal(out["site_weeks"], weeks, check_exact=True)

    assert tables.kpis["late_abnormal_peak_site_week"] == unit_weeks.max()
    assert tables.kpis["backlog_peak"] == region["backlog"].max()
