"""Loading scenarios: extends, variants, overrides, date rules, checks and the CLI around them.

Expected dates come from the deck's schedule (DESIGN section 1), not from the code's output.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.scenario.dates import parse_rule
from sim.scenario.errors import ScenarioError
from sim.scenario.loading import UsageError, expand_sweep, load_scenario
from sim.schedule.checks import integrations
from sim.schedule.schedule import build_schedule
from sim.schedule.table import COLUMNS, timeline_frame

ROOT = Path(__file__).resolve().parent.parent
FVM = ROOT / "scenarios" / "fvm-2020.yaml"
TINY = ROOT / "scenarios" / "tiny.yaml"
runner = CliRunner()
D = dt.date


@pytest.fixture(scope="module")
def fvm():
    return load_scenario(FVM)


def test_every_shipped_scenario_and_variant_validates():
    result = runner.invoke(
        app, ["validate", *map(str, sorted((ROOT / "scenarios").glob("*.yaml")))]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == 3


# The plan's dates, straight from DESIGN section 1.
PLAN = {
    "sodra-pc-1": D(2022, 3, 8),
    "sodra-pc-2": D(2022, 3, 22),
    "sas": D(2022, 4, 5),
    "alingsas": D(2022, 4, 5),
    "vastra-pc-1": D(2023, 2, 28),
    "ks": D(2023, 2, 28),
    "siv": D(2023, 3, 14),
    "vastra-pc-2": D(2023, 4, 4),
    "su": D(2023, 4, 18),
    "vastra-pc-3": D(2023, 5, 9),
    "nu": D(2023, 11, 7),
    "skas": D(2023, 11, 7),
    "norra-pc-1": D(2023, 11, 7),
    "ostra-pc-1": D(2023, 11, 7),
    "norra-pc-2": D(2023, 12, 5),
    "ostra-pc-2": D(2023, 12, 5),
}


def test_base_reproduces_the_2020_plan(fvm):
    for site, go_live in PLAN.items():
        assert fvm.site_dates[site].go_live == go_live, site
    assert fvm.lab_dates["su-lab"] == D(2023, 5, 9)
    assert fvm.lab_dates["sas-lab"] == D(2022, 4, 5)


def test_window_4w_is_the_plan_and_window_2w_halves_primary_care_windows(fvm):
    four = load_scenario(FVM, "window-4w")
    two = load_scenario(FVM, "window-2w")
    assert four.site_dates == fvm.site_dates
    # Group 1 was 4 weeks before SÄS's lab switch on 5 April; half of that is 2 weeks.
    assert two.site_dates["sodra-pc-1"].go_live == D(2022, 3, 22)
    assert two.site_dates["sodra-pc-2"].go_live == D(2022, 3, 29)
    assert _coexistence(two, "sodra-pc-1") == 14
    # Hospitals keep their planned dates.
    assert two.site_dates["sas"].go_live == D(2022, 4, 5)
    assert two.site_dates["su"].go_live == D(2023, 4, 18)


def test_ks_documents_from_february_and_orders_labs_from_the_su_lab_switch():
    sc = load_scenario(FVM, "window-4w")
    ks = sc.site_dates["ks"]
    assert (ks.go_live, ks.ros_switch) == (D(2023, 2, 28), D(2023, 5, 9))


def test_hh_has_a_dual_period_spanning_stages(fvm):
    hh = fvm.site_dates["hh-vastra"]
    assert hh.go_live.year == 2022 and hh.ros_switch == D(2023, 5, 9)
    assert _coexistence(fvm, "hh-vastra") > 365


def test_private_providers_by_name(fvm):
    private = [s for s in fvm.model.sites if s.provider != "public"]
    assert len(private) == 20  # 13 health centres and 7 rehab units in the deck
    assert sum(s.provider == "private_vgr_it" for s in private) == 9
    assert {s.kind for s in private} == {"health_centre", "rehab"}


def test_timeline_cli_shows_ks(tmp_path):
    result = runner.invoke(app, ["timeline", str(FVM), "--variant", "window-4w", "--csv"])
    assert result.exit_code == 0, result.output
    header, *rows = result.output.strip().splitlines()
    assert header.split(",") == COLUMNS
    ks = next(r for r in rows if r.startswith("ks,"))
    assert "2023-02-28,2023-05-09,2023-05-09,70" in ks


def test_extends_merges_maps_and_replaces_lists():
    sc = load_scenario(TINY)
    assert [a.id for a in sc.model.areas] == ["south"]  # tiny's list replaced the base's four
    assert sc.model.policies.lock.mode == "drain"  # from the base file
    assert "hospital_unit" in sc.model.site_kinds


def test_set_overrides_equal_the_variant():
    via_set = load_scenario(FVM, overrides=["policies.coexistence_window_days=14"])
    via_variant = load_scenario(FVM, "window-2w")
    assert via_set.site_dates == via_variant.site_dates
    assert via_set.digest() == via_variant.digest()
    assert via_set.digest() != load_scenario(FVM).digest()


def test_set_selects_list_items_by_id():
    sc = load_scenario(TINY, overrides=["sites[ward].signers=5", "labs[0].lis_switch=2022-04-12"])
    assert next(s for s in sc.model.sites if s.id == "ward").signers == 5
    assert sc.lab_dates["lab"] == D(2022, 4, 12)
    assert sc.site_dates["vc-early"].go_live == D(2022, 4, 12) - dt.timedelta(days=28)


def test_set_errors_are_located():
    with pytest.raises(ScenarioError) as info:
        load_scenario(TINY, overrides=["sites[nope].signers=5", "noequals"])
    text = str(info.value)
    assert "--set:1:1" in text and "no item 'nope'" in text
    assert "--set:1:2" in text and "expected path=value" in text


def test_set_type_error_is_reported_at_the_override():
    with pytest.raises(ScenarioError) as info:
        load_scenario(TINY, overrides=["policies.coexistence_window_days=many"])
    assert "--set:1:1 policies.coexistence_window_days:" in str(info.value)


def test_unknown_variant_is_a_usage_error():
    with pytest.raises(UsageError, match="did you mean 'window-2w'"):
        load_scenario(TINY, "window-2")
    result = runner.invoke(app, ["timeline", str(TINY), "--variant", "window-2"])
    assert result.exit_code == 2


def test_variant_errors_point_into_the_variant(tmp_path):
    target = tmp_path / "v.yaml"
    target.write_text(
        f"extends: {TINY.as_posix()}\nname: v\nvariants:\n  bad:\n"
        "    policies.coexistence_window_days: -3\n",
        encoding="utf-8",
    )
    load_scenario(target)  # the base is fine
    with pytest.raises(ScenarioError) as info:
        load_scenario(target, "bad")
    assert f"{target}:5:5 policies.coexistence_window_days:" in str(info.value)


def test_sweep_grid_and_zip():
    out = expand_sweep({"a.x": [1, 2, 3], "b": ["p", "q"]}, {"c": [10, 20], "d": [0.1, 0.2]})
    assert len(out) == 3 * 2 * 2
    patch = out["sweep:x=2,b=q,c=20,d=0.2"]
    assert patch["a.x"] == 2 and patch["d"] == 0.2


def test_fvm_sweep_variants_load():
    sc = load_scenario(FVM, "sweep:coexistence_window_days=42")
    assert _coexistence(sc, "sodra-pc-1") == 42


@pytest.mark.parametrize(
    ("text", "days", "windows"),
    [("lab_switch", 0, 0), ("lab_switch - window", 0, -1), ("lab_switch - 0.5 window", 0, -0.5),
     ("go_live + 14d", 14, 0), ("go_live[ks] + 2w - 1d", 13, 0), ("2022-03-08", 0, 0)],
)  # fmt: skip
def test_date_rules_parse(text, days, windows):
    rule = parse_rule(text)
    assert (rule.days, rule.windows) == (days, windows)


@pytest.mark.parametrize("text", ["lab_swich", "lab_switch -", "lab_switch * 2", "2022-13-01", ""])
def test_bad_date_rules_are_rejected(text):
    with pytest.raises(ValueError):
        parse_rule(text)


def test_no_integrations_when_every_lab_switches_with_its_units(fvm):
    assert integrations(fvm) == []


def test_a_unit_going_live_after_its_lab_implies_integrations():
    sc = load_scenario(
        TINY, overrides=["sites[vc-late].go_live=2022-04-19", "sites[vc-late].ros_switch=go_live"]
    )
    found = {i.kind: i for i in integrations(sc)}
    orders = found["legacy_orders_to_new_lis"]
    assert (orders.start, orders.end, orders.sites) == (D(2022, 4, 5), D(2022, 4, 19), ("vc-late",))
    assert found["new_results_to_legacy_record"].days == 14


def test_outside_horizon_is_a_warning_not_an_error():
    sc = load_scenario(TINY, overrides=["horizon.end=2022-03-31"])
    assert any("outside the horizon" in str(w) for w in sc.warnings)


def test_timeline_rows_follow_go_live_order(fvm):
    frame = timeline_frame(fvm)
    assert list(frame["ehr_go_live"]) == sorted(frame["ehr_go_live"])
    assert len(frame) == len(fvm.model.sites)


def test_schema_command_prints_json_schema():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "sites" in schema["properties"] and schema["additionalProperties"] is False


def test_version_and_help_document_exit_codes():
    assert runner.invoke(app, ["--version"]).exit_code == 0
    text = " ".join(runner.invoke(app, ["--help"]).output.split())
    assert "65 invalid scenario" in text and "66 missing input file" in text


def _coexistence(sc, site: str) -> int:
    return build_schedule(sc).sites[site].coexistence_days(sc.model.horizon.end)
