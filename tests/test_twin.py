"""The no-cutover twin and the excess over it: exact zero without a cutover, conservation of
the breakdowns, orphans by severity, and the twin kept, resumed and skipped as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import results
from sim.experiment.runs import (
    ExperimentError,
    InlineExecutor,
    Plan,
    Variant,
    execute,
    plan_for,
    reopen_run,
    run_experiment,
    start_run,
)
from sim.experiment.twin import TWIN, no_cutover
from sim.metrics.excess import PHASES
from sim.metrics.kpis import KPIS
from sim.sampling.calendar import Calendar
from sim.scenario.loading import from_model, load_scenario
from sim.scenario.schema import Event
from sim.schedule.schedule import build_schedule
from sim.schedule.timeline import expand_units

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
WINDOWS = (Variant("window-2w", "window-2w"), Variant("window-4w", "window-4w"))


@pytest.fixture(scope="module")
def windows(tmp_path_factory) -> Path:
    """Both windows of tiny.yaml, 3 replications, with the twin and one row per result."""
    plan = Plan(str(TINY), WINDOWS, 3, root_seed=99, block_size=2, detail=True, per_result=True)
    return run_experiment(plan, tmp_path_factory.mktemp("twin")).path


def test_the_twin_keeps_units_and_moves_every_switch_past_the_horizon():
    sc = load_scenario(TINY, "window-2w")
    twin = no_cutover(sc)
    assert twin.variant == TWIN and twin.model.events == []
    assert expand_units(twin) == expand_units(sc)  # same units, signers, volumes
    assert twin.model.staffing == sc.model.staffing
    end = sc.model.horizon.end
    lead = sc.model.staffing.training_weeks * 7
    for d in twin.site_dates.values():
        assert (d.go_live - end).days > lead and d.ros_switch >= d.go_live
    cal = Calendar(sc.model.horizon.start, end)
    tl = build_schedule(twin).timeline(cal)
    for times in (tl.go_live, tl.ros_switch, tl.lock, tl.closed, tl.lab_switch, tl.rb_start):
        assert (times >= cal.horizon_minutes).all()


def test_every_excess_is_exactly_zero_when_every_go_live_is_paused_past_the_horizon(tmp_path):
    """The acceptance test: a variant whose cutover never starts (one pause from the first day,
    with no end, over every area) equals the twin of the base scenario, table by table."""
    base = load_scenario(TINY)
    m = base.model
    pause = Event(type="pause", date=m.horizon.start, areas=[a.id for a in m.areas])
    paused = from_model(m.model_copy(update={"events": [pause]}), base)
    scenarios = {"as-planned": base, "paused": paused}
    folder = run_experiment(plan_for(scenarios, 3, 11), tmp_path, scenarios=scenarios)
    for table in ("kpis", "region_days", "site_weeks", "breakdown"):
        df = results.frame(folder.path, table)
        excess = df.filter(like="excess_").columns
        assert len(excess), table
        for variant in ("paused", TWIN):
            values = df.loc[df["variant"] == variant, excess].to_numpy(dtype=float)
            assert len(values) and (values == 0).all(), (table, variant)
        planned = df.loc[df["variant"] == "as-planned", excess].to_numpy(dtype=float)
        assert (planned != 0).any(), table  # the cutover as planned does add something
    kpis = results.frame(folder.path, "kpis")
    assert sorted(kpis["replication"][kpis["variant"] == TWIN]) == [0, 1, 2]


def test_excess_is_the_variant_minus_the_twin_of_the_same_replication(windows):
    kpis = results.frame(windows, "kpis")
    assert {f"excess_{k}" for k in KPIS} <= set(kpis.columns)
    twin = kpis[kpis["variant"] == TWIN].set_index("replication")
    for v in ("window-2w", "window-4w"):
        rows = kpis[kpis["variant"] == v].set_index("replication")
        for k in KPIS:
            expected = rows[k] - twin.loc[rows.index, k]
            np.testing.assert_array_equal(rows[f"excess_{k}"], expected)
    days = results.frame(windows, "region_days")
    wide = days.pivot_table(index=["replication", "date"], columns="variant", values="orphans")
    got = days[days["variant"] == "window-2w"].set_index(["replication", "date"])
    np.testing.assert_array_equal(
        got["excess_orphans"], (wide["window-2w"] - wide[TWIN]).loc[got.index]
    )


def test_breakdown_adds_up_to_the_unit_days(windows):
    """Every late abnormal result, orphan and staff hour of the horizon, and its excess, lies
    in exactly one cell (the KPIs also count what falls due after the horizon)."""
    keys = ["variant", "replication"]
    days = results.frame(windows, "site_days").groupby(keys).sum(numeric_only=True)
    kpis = results.frame(windows, "kpis").set_index(keys)
    cells = results.frame(windows, "breakdown")
    assert set(cells["phase"]) <= set(PHASES)
    sums = cells.groupby(keys).sum(numeric_only=True)
    twin = sums.xs(TWIN, level="variant")
    for m in ("late_abnormal", "orphans", "orphans_normal", "overtime_hours"):
        np.testing.assert_allclose(sums[m], days.loc[sums.index, m], rtol=1e-12)
        expected = sums[m] - twin.loc[sums.index.get_level_values("replication"), m].to_numpy()
        np.testing.assert_allclose(sums[f"excess_{m}"], expected, rtol=1e-9, atol=1e-9)
        assert (sums[m] <= kpis.loc[sums.index, m] + 1e-9).all()
    # Only units with a dual-signing window (health centres) have a coexistence phase.
    dual = cells[cells["phase"] == "go_live_to_lab_switch"]
    assert set(dual["kind"]) == {"health_centre"}
    assert (cells.loc[cells["variant"] == TWIN, "phase"] == "before_go_live").all()


def test_orphans_count_abnormal_and_critical_results_and_normal_ones_apart(windows):
    per_result = results.frame(windows, "results")
    kpis = results.frame(windows, "kpis").set_index(["variant", "replication"])
    orphaned = per_result[per_result["orphan"]]
    counts = orphaned.groupby(["variant", "replication", "abnormal"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=[False, True], fill_value=0)
    idx = counts.index
    np.testing.assert_array_equal(kpis.loc[idx, "orphans"], counts[True])
    np.testing.assert_array_equal(kpis.loc[idx, "orphans_normal"], counts[False])


def test_time_to_sign_covers_every_abnormal_result_ready_in_the_horizon(windows):
    tts = results.frame(windows, "time_to_sign")
    per_result = results.frame(windows, "results")
    manifest = results.manifest(windows)
    end = pd.Timestamp(load_scenario(TINY).model.horizon.end) + pd.Timedelta(days=1)
    end = end.tz_localize("Europe/Stockholm")
    ready = per_result[per_result["abnormal"] & (per_result["resulted"] < end)]
    expected = ready.groupby(["variant", "replication"]).size()
    got = tts.groupby(["variant", "replication"])[["n", "unsigned"]].sum().sum(axis=1)
    pd.testing.assert_series_equal(got.loc[expected.index], expected, check_names=False)
    full = tts.dropna(subset=["p50_h"])
    assert (full["p50_h"] <= full["p90_h"]).all() and (full["p90_h"] <= full["p99_h"]).all()
    assert set(tts["severity"]) == {"abnormal", "critical"}
    assert manifest["twin"] == TWIN


def test_the_twin_is_stored_as_a_variant_in_every_table_but_not_listed_as_one(windows):
    info = results.manifest(windows)
    assert TWIN not in info["variants"] and TWIN in info["scenario_hash"]
    assert (windows / f"scenario-{TWIN}.yaml").is_file()
    for table in ("kpis", "region_days", "site_weeks", "locks", "breakdown", "time_to_sign"):
        assert (windows / "tables" / table / f"variant={TWIN}").is_dir() or table == "locks"


def test_resume_runs_the_twin_of_the_missing_blocks_only(tmp_path):
    plan = Plan(str(TINY), WINDOWS, 2, root_seed=5, block_size=1)
    straight = run_experiment(plan, tmp_path / "a")
    folder, scenarios = start_run(plan, tmp_path / "b")
    assert TWIN in scenarios
    # Finish block 0 only, as if the run had stopped there.
    first = Plan.from_json({**plan.to_json(), "replications": 1})
    execute(folder, first, scenarios, InlineExecutor())
    again, plan2, given = reopen_run(folder.path)
    execute(again, plan2, given, InlineExecutor())
    for table in ("kpis", "breakdown"):
        pd.testing.assert_frame_equal(
            results.frame(straight.path, table), results.frame(again.path, table), check_exact=True
        )


def test_no_twin_skips_it_and_a_variant_may_not_take_its_name(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(TINY), "-n", "1", "--seed", "3", "-q",
         "--variants", "window-2w", "--no-twin", "--workers", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    run = Path(out.stdout.strip().splitlines()[-1])
    kpis = results.frame(run, "kpis")
    assert set(kpis["variant"]) == {"window-2w"}
    assert not any(c.startswith("excess_") for c in kpis.columns)
    assert json.loads((run / "manifest.json").read_text())["twin"] is None
    with pytest.raises(ExperimentError, match="twin"):
        Plan(str(TINY), (Variant(TWIN, "window-2w"),), 1, 1)


def test_compare_json_gives_each_variants_excess_and_the_paired_difference_of_excesses(windows):
    from typer.testing import CliRunner

    from sim.cli import app

    result = CliRunner().invoke(app, ["compare", str(windows), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    kpis = results.frame(windows, "kpis")
    assert {k["kpi"] for k in data["kpis"]} == set(KPIS)
    for k in data["kpis"]:
        assert k["threshold_applies_to"] == "excess"
        assert [v["variant"] for v in k["variants"]] == ["window-2w", "window-4w"]  # no twin
        for v in k["variants"]:
            x = kpis.loc[kpis["variant"] == v["variant"], f"excess_{k['kpi']}"]
            assert set(v["excess"]) == {"mean", "low", "high", "n"} and v["excess"]["n"] == 3
            assert v["excess"]["mean"] == pytest.approx(x.mean())
            if v["excess"]["low"] is not None:
                assert v["excess"]["low"] <= v["excess"]["mean"] <= v["excess"]["high"]
        (d,) = k["differences"]
        # The twin is shared, so the gap between excesses is the paired gap between totals.
        assert d["excess"]["mean"] == pytest.approx(d["paired"]["mean"], abs=1e-9)


def test_a_threshold_that_every_variant_always_or_never_exceeds_is_flagged():
    from sim.compare import compare_frame

    rows = []
    for r in range(5):
        for v, late in (("a", 10.0 + r), ("b", 20.0 + r)):
            row = dict.fromkeys(KPIS, 0.0) | {f"excess_{k}": 0.0 for k in KPIS}
            row |= {"late_abnormal": 100 + late, "excess_late_abnormal": late}
            rows.append({"variant": v, "replication": r, **row})
    frame = pd.DataFrame(rows)

    def warning(limit: float) -> str | None:
        limits = dict.fromkeys(KPIS, 1.0) | {"late_abnormal": limit}
        (late,) = [
            k for k in compare_frame(frame, "a", ["a", "b"], limits) if k.kpi == "late_abnormal"
        ]
        return late.warning

    assert "exceeded in all" in (warning(5) or "")  # every excess is above 5
    assert "exceeded in none" in (warning(50) or "")  # ... and none above 50
    assert warning(15) is None  # none of a, all of b: it separates them
    assert warning(12) is None  # 2 of 5 of a


def test_excess_chart_dots_are_the_mean_excess_of_each_variant(windows):
    from matplotlib.lines import Line2D

    from sim import attribution

    kpis = results.frame(windows, "kpis")
    fig = attribution.excess_chart(windows)
    for name in attribution.HEADLINE_KPIS:
        for v in ("window-2w", "window-4w"):
            (dot,) = [a for a in fig.findobj(Line2D) if a.get_gid() == f"excess:{name}:{v}"]
            x = kpis.loc[kpis["variant"] == v, f"excess_{name}"]
            assert dot.get_xdata()[0] == pytest.approx(x.mean())


def test_excess_fan_marks_the_schedule_and_averages_the_daily_excess(windows):
    from matplotlib.lines import Line2D

    from sim import attribution
    from sim.schedule.table import timeline_frame

    fig = attribution.excess_fan_chart(windows)
    days = results.frame(windows, "region_days")
    for v in ("window-2w", "window-4w"):
        wide = days[days["variant"] == v].pivot(
            index="date", columns="replication", values="excess_late_abnormal"
        )
        expected = wide.rolling(7, center=True, min_periods=1).mean().mean(axis=1)
        (line,) = [a for a in fig.findobj(Line2D) if a.get_gid() == f"excess_mean:{v}"]
        np.testing.assert_allclose(line.get_ydata(), expected.to_numpy())
    go_lives = {a.get_xdata()[0] for a in fig.findobj(Line2D) if a.get_gid() == "go-live"}
    sc = load_scenario(TINY, "window-4w")
    planned = set(timeline_frame(sc)["ehr_go_live"])
    assert {pd.Timestamp(d).date() for d in go_lives} >= planned
    assert any(a.get_gid() == "lab switch" for a in fig.findobj(Line2D))
    assert attribution.touched_share(windows) > 0.5  # tiny: nearly all excess is near go-live
