"""Decision tools: replication count by precision, sensitivity indices, constrained selection.

The statistical checks use answers known from theory: a normal KPI of known variance (the
half-width the rule should reach and the coverage of its interval), the Ishigami function's
Sobol indices, an inert input whose effects are zero under common random numbers, and a
constructed selection problem whose best candidate is fixed by its design.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

import sim
from sim import charts, results
from sim.cli import app
from sim.decide import optimise as opt
from sim.decide import precision as prec
from sim.decide import sensitivity as sens
from sim.decide.target import DecideError, check_kpi, default_kpi
from sim.experiment.runs import InlineExecutor, Plan, Variant, execute, reopen_run

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
runner = CliRunner()


def _cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


# ------------------------------------------------------------------------ default target


def test_default_kpi_prefers_the_excess_column_when_the_run_has_it():
    assert default_kpi(["variant", "replication", "late_abnormal", "orphans"]) == "late_abnormal"
    cols = ["variant", "late_abnormal", "excess_late_abnormal"]
    assert default_kpi(cols) == "excess_late_abnormal"
    with pytest.raises(DecideError, match="--kpi"):
        default_kpi(["variant", "orphans"])


def test_check_kpi_names_the_known_ones():
    assert check_kpi("excess_orphans") == "excess_orphans"  # the twin's columns are accepted
    with pytest.raises(DecideError, match=r"unknown KPI 'late'.*late_abnormal"):
        check_kpi("late")
    with pytest.raises(DecideError, match="unknown KPI 'excess_orphans'"):
        check_kpi("excess_orphans", ["variant", "replication", "orphans"])


# ------------------------------------------------------------------------------ precision


def test_look_ahead_follows_hoad_robinson_davies():
    assert prec.look_ahead(3, 5) == 5 and prec.look_ahead(100, 5) == 5
    assert prec.look_ahead(200, 5) == 10 and prec.look_ahead(1000, 5) == 50


def test_rule_stops_within_the_target_on_a_kpi_of_known_variance():
    # Normal KPI, mean 100, sd 10, target ±5 % of the mean: the rule should stop near
    # n = (1.96 * 10 / 5)^2 = 15.4, with the half-width within the target at its answer, and
    # its intervals should cover the true mean about 95 % of the time.
    target = prec.Target(0.05, relative=True, max_replications=500)
    answers, covered = [], 0
    for seed in range(200):
        x = np.random.default_rng(seed).normal(100, 10, 500)
        d = prec.decide(x, target)
        assert d.status == "met"
        assert d.deviation <= 0.05
        n = d.n
        dev = prec.deviations(x, True)  # d_m depends on the first m values only
        assert all(dev[m] <= 0.05 for m in range(n, n + prec.look_ahead(n, 5) + 1))
        answers.append(n)
        half = stats.t.ppf(0.975, n - 1) * x[:n].std(ddof=1) / math.sqrt(n)
        covered += abs(x[:n].mean() - 100) <= half
    expected = (stats.norm.ppf(0.975) * 10 / 5) ** 2
    assert abs(np.median(answers) - expected) <= 0.25 * expected
    # Coverage: a sequential stop costs a little; 200 draws of a 95 % rule stay above 90 %
    # (binomial sd 1.5 points) unless the rule is broken.
    assert covered / 200 >= 0.90


def test_rule_asks_for_more_then_stops_at_the_maximum():
    target = prec.Target(0.01, max_replications=20)
    x = np.random.default_rng(1).normal(100, 30, 20)
    assert prec.decide(x[:10], target).status == "need"
    stop = prec.decide(x, target)
    assert stop.status == "max" and stop.n == 20 and stop.deviation > 0.01
    absolute = prec.Target(3.0, relative=False, max_replications=500)
    y = np.random.default_rng(2).normal(0, 5, 500)  # mean 0: only an absolute target works
    d = prec.decide(y, absolute)
    assert d.status == "met" and d.deviation <= 3.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"half_width": 0}, "positive"),
        ({"half_width": 1.5}, "100 %"),
        ({"half_width": 0.1, "min_replications": 1}, "at least 2"),
        ({"half_width": 0.1, "min_replications": 10, "max_replications": 5}, "below the min"),
    ],
)
def test_bad_targets_are_usage_errors(kwargs, message):
    with pytest.raises(DecideError, match=message):
        prec.Target(**kwargs)


def _tiny_plan(variants=("window-2w",), seed=11) -> Plan:
    return Plan(str(TINY), tuple(Variant(v, v) for v in variants), 1, seed)


def test_a_precision_run_equals_a_fixed_run_of_the_same_count(tmp_path):
    target = prec.Target(0.5, max_replications=60)
    folder, result = prec.run_to_precision(_tiny_plan(), target, out=tmp_path / "a")
    assert result.kpi == "excess_late_abnormal"  # the twin gives the excess: the default
    assert result.reason.startswith("every series met") and result.achieved <= 0.5
    manifest = folder.manifest
    assert manifest["precision"]["replications"] == result.replications == manifest["replications"]
    assert manifest["precision"]["target"] == 0.5 and manifest["precision"]["status"] == "stopped"
    n = result.replications
    fixed = sim.run_experiment(_tiny_plan().__class__(str(TINY), _tiny_plan().variants, n, 11),
                               tmp_path / "b")  # fmt: skip
    a, b = results.frame(folder.path), results.frame(fixed.path)
    pd.testing.assert_frame_equal(a, b)
    _, again = prec.run_to_precision(_tiny_plan(), target, out=tmp_path / "c")
    assert again.replications == n  # the stop is reproducible with the same seed


def test_an_interrupted_precision_run_resumes_to_the_same_stop(tmp_path):
    target = prec.Target(0.5, max_replications=60)
    plan = _tiny_plan(("window-2w", "window-4w"))
    _, straight = prec.run_to_precision(plan, target, paired=False, out=tmp_path / "a")
    folder, first, scenarios = prec.start(plan, target, out=tmp_path / "b")
    execute(folder, first, scenarios, InlineExecutor())  # the first stage, then "killed"
    again, plan_b, scenarios_b = reopen_run(folder.path)
    assert prec.is_open(again)
    resumed = prec.advance(
        again, plan_b, lambda p: execute(again, p, scenarios_b, InlineExecutor())
    )
    assert resumed.replications == straight.replications
    assert [s.series for s in resumed.series] == ["window-2w", "window-4w"]


def test_cli_precision_writes_the_manifest_and_refuses_n(tmp_path):
    res = _cli("run", TINY, "-v", "window-2w,window-4w", "--precision", "3", "--absolute",
               "--paired", "--kpi", "dual_system_hours", "--seed", "4", "-w", "1",
               "--out", tmp_path, "-q")  # fmt: skip
    assert res.exit_code == 0, res.output
    manifest = json.loads((Path(res.stdout.strip().splitlines()[-1]) / "manifest.json").read_text())
    p = manifest["precision"]
    assert p["kpi"] == "dual_system_hours" and p["paired"] and not p["relative"]
    assert p["achieved"] <= 3 and p["replications"] >= 3 and p["reason"]
    assert p["series"][0]["series"] == "window-4w - window-2w"
    bad = _cli("run", TINY, "--precision", "0.1", "-n", "5", "--out", tmp_path)
    assert bad.exit_code == 2 and "-n and --precision" in bad.output
    bad = _cli("run", TINY, "--precision", "0.1", "--kpi", "nope", "--out", tmp_path)
    assert bad.exit_code == 2 and "unknown KPI 'nope'" in bad.output


# ---------------------------------------------------------------------------- sensitivity

ISHIGAMI_S1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0, "dummy": 0.0}
ISHIGAMI_ST = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437, "dummy": 0.0}


def _ishigami(x: np.ndarray) -> tuple[np.ndarray, str]:
    a, b = 7.0, 0.1
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0]), "y"


def test_sobol_matches_the_ishigami_indices_within_their_intervals():
    inputs = [sens.Input(f"x{i}", -math.pi, math.pi, "field") for i in (1, 2, 3)]
    inputs.append(sens.Input("dummy", 0, 1, "dummy"))
    result = sens.study(inputs, "sobol", 1024, _ishigami, seed=3)
    for row in result.indices:
        name = row["input"]
        assert abs(row["S1"] - ISHIGAMI_S1[name]) <= row["S1_conf"] + 1e-12, row
        assert abs(row["ST"] - ISHIGAMI_ST[name]) <= row["ST_conf"] + 1e-12, row
    assert [r["input"] for r in result.indices] == ["x1", "x2", "x3", "dummy"]  # by ST


def test_inputs_are_parsed_with_their_documented_ranges_and_checked():
    sc = sim.load_scenario(TINY)
    names = [i.name for i in sens.default_inputs(sc)]
    assert "result_review_time.median" in names and len(names) >= 10
    review = sens.parse_input(sc, "result_review_time.median")
    assert (review.low, review.high) == tuple(sc.library["result_review_time"].range["median"])
    field = sens.parse_input(sc, "staffing.extra_signers.health_centre=0..2")
    assert field.integer and field.kind == "field"
    with pytest.raises(DecideError, match=r"unknown input 'nope\.median'"):
        sens.parse_input(sc, "nope.median")
    with pytest.raises(DecideError, match="no range for 'p90'"):
        sens.parse_input(sc, "legacy_lookup_time.p90")
    with pytest.raises(DecideError, match="empty range"):
        sens.parse_input(sc, "staffing.extra_signers.health_centre=2..2")
    with pytest.raises(DecideError, match="unknown key 'nope'"):
        sens.parse_input(sc, "staffing.nope=0..2")
    with pytest.raises(DecideError, match="power of 2"):
        sens.check_design("sobol", 100)


def test_apply_sets_distribution_parameters_and_fields():
    sc = sim.load_scenario(TINY)
    inputs = [sens.parse_input(sc, "result_review_time.median"),
              sens.parse_input(sc, "staffing.extra_signers.health_centre=0..3"),
              sens.Input("dummy", 0, 1, "dummy")]  # fmt: skip
    out = sens.apply(sc, inputs, [60.0, 2.4, 0.7])
    assert out.library["result_review_time"].parameters()["median"] == 60.0
    assert out.model.staffing.extra_signers["health_centre"] == 2
    assert sc.library["result_review_time"].parameters()["median"] == 45.0  # untouched
    assert out.digest() != sc.digest()


def test_a_design_point_moves_the_numbers_that_name_a_distribution():
    """A scenario number given as a distribution's name (staffing.overlooked_share names
    result_overlooked_share) follows that distribution at every design point, and such
    distributions are among the default inputs."""
    from sim.decide.sensitivity import apply, default_inputs, parse_input

    sc = sim.load_scenario(TINY)
    assert "result_overlooked_share.value" in [i.name for i in default_inputs(sc)]
    point = apply(sc, [parse_input(sc, "result_overlooked_share.value")], [0.2])
    assert point.model.staffing.overlooked_share == 0.2
    assert sc.model.staffing.overlooked_share == 0.1  # the scenario itself is left as it was


def test_morris_on_tiny_ranks_the_dummy_last_with_common_random_numbers(tmp_path):
    res = _cli("sensitivity", TINY, "-i", "result_overlooked_share.value",
               "-i", "turnaround_routine_chemistry.p90",
               "-i", "staffing.extra_signers.health_centre=0..2", "--dummy", "-n", "4",
               "--seed", "5", "-w", "1", "--out", tmp_path, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["method"] == "morris" and out["kpi"] == "late_abnormal"
    mu = {r["input"]: r["mu_star"] for r in out["indices"]}
    assert mu["dummy"] == 0.0  # identical replications at every point: no effect at all
    assert all(v > 0 for k, v in mu.items() if k != "dummy")
    folder = Path(out["run"])
    design = pd.read_csv(folder / "design.csv")
    assert len(design) == 4 * (4 + 1)
    kpis = results.frame(folder)
    assert len(kpis) == len(design) and set(kpis["replication"]) == {0}
    assert json.loads((folder / "sensitivity.json").read_text())["indices"] == out["indices"]


@pytest.mark.slow
def test_morris_with_every_default_input_on_tiny_puts_the_dummy_at_the_bottom(tmp_path):
    res = _cli("sensitivity", TINY, "--dummy", "-n", "10", "--seed", "2", "-w", "2",
               "--out", tmp_path, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    mu = {r["input"]: r["mu_star"] for r in json.loads(res.stdout)["indices"]}
    assert mu["dummy"] == min(mu.values()) == 0.0 and len(mu) >= 11


# ------------------------------------------------------------------------------ optimiser

WINDOWS = [1, 2, 3, 4, 5, 6]
RISK = [0.5, 0.2, 0.01, 5e-4, 1e-4, 1e-5]  # P(late > 100) per window, by construction


def _constructed(seed: int):
    """A window choice whose answer is known: late abnormal ~ N(mu_w, 20) with
    P(late > 100) = RISK[w]; extra staff hours ~ 100 + 10 w + N(0, 15). Under
    "minimise hours subject to P(late > 100) <= 0.05" the best window is 3 weeks: the only
    cheaper ones are infeasible, and every feasible one costs 10 hours more per week. The
    noise of replication r is the same for every window (common random numbers)."""
    mu = [100 + 20 * stats.norm.ppf(p) for p in RISK]

    def evaluate(batch):
        parts = []
        for i, reps in batch:
            r = np.arange(reps.start, reps.stop)
            e = np.array([np.random.default_rng([seed, x]).standard_normal(2) for x in r])
            parts.append(pd.DataFrame({
                "candidate": i, "replication": r, "late_abnormal": mu[i] + 20 * e[:, 0],
                "extra_staff_hours": 100 + 10 * WINDOWS[i] + 15 * e[:, 1],
            }))  # fmt: skip
        return pd.concat(parts, ignore_index=True)

    return evaluate


def test_optimiser_picks_the_known_best_window_in_nine_of_ten_seeds():
    c = opt.parse_constraint("P(late_abnormal > 100) <= 0.05")
    names = [f"w={w}" for w in WINDOWS]
    picked = []
    for seed in range(10):
        r = opt.select(
            6, _constructed(seed), lambda i, part: part["extra_staff_hours"].to_numpy(float),
            "extra_staff_hours", c, names, [{"w": w} for w in WINDOWS], opt.Settings(budget=1500),
        )  # fmt: skip
        picked.append(r.best.name if r.best else None)
        assert r.candidates[0].name == picked[-1]  # the table starts with the chosen one
    assert picked.count("w=3") >= 9, picked


def test_optimiser_reports_the_closest_when_nothing_is_feasible():
    c = opt.parse_constraint("P(late_abnormal > 100) <= 0.0001")
    r = opt.select(
        3, _constructed(0), lambda i, part: part["extra_staff_hours"].to_numpy(float),
        "extra_staff_hours", c, ["a", "b", "c"], [{}, {}, {}], opt.Settings(budget=120),
    )  # fmt: skip
    assert r.best is None and r.closest and r.closest[0].name == "c"
    assert [x.p_exceed for x in r.closest] == sorted(x.p_exceed for x in r.closest)


@pytest.mark.parametrize(
    "text, message",
    [
        ("policies.coexistence_window_days=28..14", "empty range"),
        ("policies.coexistence_window_days=1..2:0", "step must be positive"),
        ("policies.coexistence_window_days", "expected path="),
        ("policies.coexistence_window_days=a,b", "must be numbers"),
    ],
)
def test_bad_over_is_a_usage_error(text, message):
    with pytest.raises(DecideError, match=message):
        opt.parse_over(text)


def test_over_and_constraint_parse():
    assert opt.parse_over("x.y=7..28:7").values == (7, 14, 21, 28)
    assert opt.parse_over("x.y=0.5..1.0:0.25").values == (0.5, 0.75, 1.0)
    assert opt.parse_over("x.y=3,1,3").values == (3, 1)
    c = opt.parse_constraint("P(late_abnormal > 80) <= 0.1")
    assert (c.kpi, c.threshold, c.limit) == ("late_abnormal", 80.0, 0.1)
    for bad, msg in [("P(late > 1) <= 0.1", "unknown KPI"), ("late_abnormal < 3", "expected"),
                     ("P(late_abnormal > 1) <= 0", "strictly between")]:  # fmt: skip
        with pytest.raises(DecideError, match=msg):
            opt.parse_constraint(bad)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--over", "policies.nope=7..14:7"], "unknown key 'nope'"),
        (["--over", "policies.coexistence_window_days=14..7"], "empty range"),
        (["--subject-to", "P(lateness > 3) <= 0.1"], "unknown KPI 'lateness'"),
        (["--subject-to", "P(late_abnormal > 3) <= 0"], "strictly between"),
        (["--minimise", "speed"], "unknown KPI 'speed'"),
    ],
)
def test_cli_optimise_bad_requests_exit_2_before_running(tmp_path, args, message):
    given = {"--over": "policies.coexistence_window_days=7..14:7", "--minimise": "orphans",
             "--subject-to": "P(late_abnormal > 80) <= 0.5"}  # fmt: skip
    given.update(dict(zip(args[::2], args[1::2], strict=True)))
    res = _cli("optimise", TINY, *[x for kv in given.items() for x in kv], "--out", tmp_path)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_cli_optimise_json_on_tiny(tmp_path):
    res = _cli("optimise", TINY, "--over", "policies.coexistence_window_days=7,28",
               "--minimise", "policies.coexistence_window_days",
               "--subject-to", "P(late_abnormal > 1000) <= 0.2", "--n0", "3", "--budget", "12",
               "--seed", "3", "-w", "1", "--out", tmp_path, "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"best", "candidates"} <= set(out)
    assert {c["name"] for c in out["candidates"]} == {
        "coexistence_window_days=7",
        "coexistence_window_days=28",
    }
    kpis = results.frame(out["run"])
    for name, part in kpis.groupby("variant"):  # common random numbers: replications 0..n-1
        assert sorted(part["replication"]) == list(range(len(part))), name


# --------------------------------------------------------------------- charts and reports


def test_sweep_chart_and_its_report_section(tmp_path):
    res = _cli("sweep", TINY, "--grid", "policies.coexistence_window_days=7,21", "-n", "2",
               "--seed", "1", "-w", "1", "-q", "--out", tmp_path)  # fmt: skip
    assert res.exit_code == 0, res.output
    folder = Path(res.stdout.strip().splitlines()[-1])
    values = charts.swept(folder)
    assert list(values.columns) == ["policies.coexistence_window_days"]
    assert sorted(values.iloc[:, 0]) == [7.0, 21.0]
    fig = charts.sweep_chart(folder)
    assert [ax.get_title(loc="left") or ax.get_title() for ax in fig.axes] == [
        "excess late abnormal results",  # the run has its no-cutover twin: the excess
        "excess unwatched abnormal results",
        "excess extra staff hours",
    ]
    page = Path(sim.write_report(folder)).read_text()
    assert "Against the swept value" in page and (folder / "charts" / "sweep.png").is_file()


def test_sweep_chart_prefers_excess_columns_and_says_when_nothing_is_swept(tmp_path):
    assert charts._target_kpis(["late_abnormal", "orphans"], ["late_abnormal", "orphans"]) == [
        "late_abnormal",
        "orphans",
    ]
    cols = ["late_abnormal", "excess_late_abnormal", "orphans"]
    assert charts._target_kpis(cols, ["late_abnormal", "orphans"]) == [
        "excess_late_abnormal",
        "orphans",
    ]
    folder = sim.run_experiment(_tiny_plan(), tmp_path)
    assert charts.swept(folder.path).empty
    fig = charts.sweep_chart(folder.path)
    assert "does not vary" in fig.axes[0].texts[0].get_text()
    assert "Against the swept value" not in Path(sim.write_report(folder.path)).read_text()


def test_decision_runs_have_a_chart_and_a_report(tmp_path):
    sc = sim.load_scenario(TINY)
    inputs = [sens.parse_input(sc, "result_review_time.p90"),
              sens.parse_input(sc, "turnaround_routine_chemistry.p90"),
              sens.Input("dummy", 0, 1, "dummy")]  # fmt: skip
    kpi = "late_abnormal"  # varies over the design in tiny (its orphans barely do)
    folder, result = sens.run_sensitivity(sc, inputs, "sobol", 2, kpi=kpi, out=tmp_path)
    assert result.kpi == kpi and len(result.y) == 2 * (3 + 2)
    fig = charts.sensitivity_chart(folder.path)
    assert fig.axes[0].get_xlabel() == f"share of the variance of {kpi}"
    page = Path(sim.write_report(folder.path)).read_text()
    assert "<svg" in page and "result_review_time.p90" in page
    with pytest.raises(ValueError, match="not a optimise run"):
        charts.optimise_chart(folder.path)


def test_optimiser_stops_when_every_open_candidate_is_at_its_maximum():
    c = opt.parse_constraint("P(late_abnormal > 100) <= 0.05")
    s = opt.Settings(n0=10, budget=10_000, max_per_candidate=20)
    r = opt.select(
        6, _constructed(1), lambda i, part: part["extra_staff_hours"].to_numpy(float),
        "extra_staff_hours", c, [f"w={w}" for w in WINDOWS], [{"w": w} for w in WINDOWS], s,
    )  # fmt: skip
    assert all(x.replications <= 20 for x in r.candidates)
    assert "maximum of 20" in r.reason or "APCS" in r.reason
