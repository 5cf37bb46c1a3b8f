"""The stop rule and the command-centre signals: hand-checked counts, an overload that must
trip it within days, and a no-cutover region that must never trip it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.compare import stop_rule_summaries
from sim.experiment.stopping import run_acting_on_stop_rule
from sim.metrics.signals import _overdue_at_day_ends, rise_over_eve, signals, stop_rule
from sim.metrics.tables import tabulate
from sim.model.replication import run_replication
from sim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
FVM = ROOT / "scenarios" / "fvm-2020.yaml"


def test_overdue_counts_are_the_intervals_open_at_each_day_end():
    day_end = np.array([1440.0, 2880.0, 4320.0])
    units = np.array([0, 0, 1, 1])
    start = np.array([100.0, 1500.0, 1440.0, 0.0])  # overdue from
    stop = np.array([3000.0, np.inf, 1441.0, 1440.0])  # signed (inf: never)
    got = _overdue_at_day_ends(units, start, stop, day_end, 2)
    # unit 0: first open at ends 1 and 2 (signed at 3000), second at ends 2 and 3
    # unit 1: the first is open at end 1 (1440 <= 1440 < 1441); the second is signed at it
    assert got.tolist() == [[1, 2, 1], [1, 0, 0]]


def _days(tripped: list[bool], day: list[int]) -> pd.DataFrame:
    dates = pd.date_range("2024-11-10", periods=len(day)).to_numpy()
    return pd.DataFrame({"area": "a", "date": dates, "day": day, "tripped": tripped})


def test_the_first_trip_is_the_earliest_tripped_day():
    row = stop_rule(_days([False, True, True], [1, 2, 3])).iloc[0]
    assert row["tripped"] and row["first_day"] == 2
    assert pd.Timestamp(row["first_date"]) == pd.Timestamp("2024-11-11")
    assert not stop_rule(_days([False, False], [1, 2])).iloc[0]["tripped"]


def test_summaries_count_trips_and_days_within_k():
    trips = pd.DataFrame(
        {
            "variant": ["a"] * 4,
            "tripped": [True, True, False, True],
            "first_day": [2.0, 5.0, np.nan, 20.0],
        }
    )
    s = stop_rule_summaries(trips, ["a"])["a"]
    assert s.p_trip == 0.75
    assert s.first_day.mean == 9.0 and s.first_day.n == 3
    assert s.within_days[3].mean == 0.25 and s.within_days[7].mean == 0.5
    assert s.within_days[28].mean == 0.75


def _trip(sc, replication: int) -> tuple[pd.Series, pd.DataFrame]:
    rep = run_replication(sc, replication, 11)
    out = signals(rep, tabulate(rep).site_days)
    return out["stop_rule"].iloc[0], out["area_days"]


def test_an_overload_at_go_live_trips_the_rule_within_days():
    """Every unit goes live together (no window) and each signer's handling times are ten
    times longer from go-live on: the signing capacity of signers cut to a tenth."""
    sc = load_scenario(
        TINY,
        overrides=[
            "policies.coexistence_window_days=0",
            "staffing.learning_curve.initial_multiplier=10",
            "staffing.learning_curve.time_constant_days=60",
            "horizon.end=2022-04-30",
        ],
    )
    row, days = _trip(sc, 0)
    assert row["tripped"] and row["first_day"] <= 5, row
    # the rule only watches the days after the go-live
    assert not days.loc[days["day"] < 1, "watched"].any()
    assert days.loc[days["tripped"], "day"].min() == row["first_day"]


def test_levels_change_the_outcome_and_an_empty_level_is_not_watched():
    sc = load_scenario(TINY, overrides=["horizon.end=2022-04-30"])
    lax = load_scenario(
        TINY,
        overrides=[
            "horizon.end=2022-04-30",
            "stop_rule.overdue_critical=null",
            "stop_rule.overdue_abnormal=null",
            "stop_rule.backlog_growth_3d=null",
        ],
    )
    strict = load_scenario(
        TINY, overrides=["horizon.end=2022-04-30", "stop_rule.backlog_growth_3d=0"]
    )
    assert not _trip(lax, 0)[0]["tripped"]
    row, days = _trip(strict, 0)
    first_growth = days.loc[days["watched"] & (days["backlog_growth_3d"] > 0), "day"].min()
    assert row["tripped"] and row["first_day"] == first_growth
    assert _trip(sc, 0)[1]["overdue_abnormal"].equals(_trip(lax, 0)[1]["overdue_abnormal"])


@pytest.mark.slow
def test_no_cutover_region_never_trips_with_default_levels():
    """fvm-2020 with every area paused from the horizon's start (no go-live, switch or lock
    happens), judged on the days after the planned go-lives, over 10 replications; the
    horizon is cut to the first stage's go-lives and four weeks after them."""
    base = load_scenario(FVM)
    first = min(d.go_live for d in base.site_dates.values())
    areas = ", ".join(a.id for a in base.model.areas)
    start = base.model.horizon.start
    sc = load_scenario(
        FVM,
        overrides=[
            f"horizon.end={first + pd.Timedelta(days=35):%Y-%m-%d}",
            f"events=[{{type: pause, date: {start}, areas: [{areas}]}}]",
        ],
    )
    for r in range(10):
        row, days = _trip(sc, r)
        assert days["watched"].any()
        assert not row["tripped"], (r, row.to_dict())


def test_acting_on_the_rule_rolls_the_area_back_the_next_day():
    """The overload again, now with the region rolling the area back when the rule trips:
    the second pass carries a rollback from the day after the trip, the trip is reported
    with the action, and the backlog at the horizon's end is smaller than without acting."""
    overload = [
        "policies.coexistence_window_days=0",
        "staffing.learning_curve.initial_multiplier=10",
        "staffing.learning_curve.time_constant_days=60",
        "horizon.end=2022-04-30",
    ]
    sc = load_scenario(TINY, overrides=overload)
    acting = load_scenario(TINY, overrides=[*overload, "stop_rule.on_trip=rollback"])
    _, tables0, watch0 = run_acting_on_stop_rule(sc, 0, 11)
    rep, tables, watch = run_acting_on_stop_rule(acting, 0, 11)
    trip = watch["stop_rule"].iloc[0]
    assert trip["acted"] == "rollback" and watch0["stop_rule"].iloc[0]["acted"] == "none"
    assert trip["first_date"] == watch0["stop_rule"].iloc[0]["first_date"]  # same first pass
    event = rep.scenario.model.events[-1]
    assert event.type == "rollback" and event.areas == ["south"]
    assert event.date == pd.Timestamp(trip["first_date"]).date() + pd.Timedelta(days=1)
    last = tables.site_days["date"] == tables.site_days["date"].max()
    last0 = tables0.site_days["date"] == tables0.site_days["date"].max()
    assert (
        tables.site_days.loc[last, "backlog"].sum() < tables0.site_days.loc[last0, "backlog"].sum()
    )


def test_the_2024_scenario_has_the_same_levels_as_the_plan():
    """No level of as-happened-2024 is set to make its rule trip: they are fvm-2020's."""
    happened = load_scenario(ROOT / "scenarios" / "as-happened-2024.yaml").model.stop_rule
    assert happened == load_scenario(FVM).model.stop_rule
    assert happened.on_trip == "none"


def test_the_abnormal_level_applies_to_the_rise_over_the_eve_of_go_live():
    """Two areas over five days; ``since`` is 1 on a go-live day. Area 0 goes live on day 2
    (eve: day 1, 6 overdue) and again on day 4 (eve: day 3, 9); area 1 on day 0, which has no
    eve in the horizon, so its counts are their own rise."""
    values = np.array([[5, 6, 7, 9, 4], [3, 4, 2, 8, 8]])
    since = np.array([[0, 0, 1, 2, 1], [1, 2, 3, 4, 5]])
    assert rise_over_eve(values, since).tolist() == [[0, 0, 1, 3, -5], [3, 4, 2, 8, 8]]
