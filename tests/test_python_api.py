"""Changing scenarios in Python and running them: checked exactly like files and --set."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sim import results
from sim.experiment.runs import (
    ExperimentError,
    InlineExecutor,
    execute,
    plan_for,
    reopen_run,
    start_run,
)
from sim.scenario.loading import ScenarioError, from_model, load_scenario, with_changes

ROOT = Path(__file__).resolve().parent.parent
FVM = ROOT / "scenarios" / "fvm-2020.yaml"
TINY = ROOT / "scenarios" / "tiny.yaml"


def test_with_changes_moves_every_dependent_date():
    sc = load_scenario(FVM, "window-4w")
    shorter = with_changes(sc, {"policies.coexistence_window_days": 14})
    site = "sodra-pc-1"
    before, after = sc.site_dates[site], shorter.site_dates[site]
    assert before.lab_switch == after.lab_switch
    assert after.go_live - before.go_live == dt.timedelta(days=14)
    assert sc.model.policies.coexistence_window_days != 14  # the original is untouched


def test_with_changes_reports_a_typo_like_the_command_line():
    sc = load_scenario(TINY)
    with pytest.raises(ScenarioError) as caught:
        with_changes(sc, ["staffing.absense_share=0.1"])
    (d,) = caught.value.diagnostics
    assert d.field == "staffing.absense_share" and "absence_share" in d.message


def test_from_model_validates_what_model_copy_does_not():
    sc = load_scenario(TINY)
    unchecked = sc.model.model_copy(
        update={"staffing": sc.model.staffing.model_copy(update={"absence_share": 1.5})}
    )
    with pytest.raises(ScenarioError) as caught:
        from_model(unchecked, sc)
    assert any(d.field == "staffing.absence_share" for d in caught.value.diagnostics)
    ok = from_model(sc.model.model_copy(update={"seed": 3}), sc)
    assert ok.model.seed == 3 and ok.site_dates == sc.site_dates


def test_experiment_of_python_scenarios_runs_and_resumes_only_with_them(tmp_path):
    base = load_scenario(TINY)
    scenarios = {"base": base, "more-signers": with_changes(base, {"sites[ward].signers": 6})}
    plan = plan_for(scenarios, 2, root_seed=5, block_size=1)
    folder, _ = start_run(plan, tmp_path, scenarios=scenarios)
    with pytest.raises(ExperimentError, match="changed"):
        reopen_run(folder.path)  # the file alone does not give the changed variant
    again, plan2, given = reopen_run(folder.path, scenarios=scenarios)
    execute(again, plan2, given, InlineExecutor())
    kpis = results.frame(folder.path, "kpis")
    # The no-cutover twin (of the first scenario) comes last; see tests/test_twin.py.
    assert list(kpis["variant"]) == [*["base"] * 2, *["more-signers"] * 2, *["no-cutover"] * 2]
    assert results.manifest(folder.path)["variant_descriptions"]["more-signers"] == (
        "made in Python"
    )
