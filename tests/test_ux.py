"""What planners, managers and analysts tripped over (issue 17), one test per stumble.

Sweep names, a summary that weighs every variant, warnings for incomplete runs, plugins
from the command line, copied scenarios, display names, export, ``runs`` and ``latest``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.compare import compare_run, default_baseline
from sim.experiment.runs import Plan, Variant, run_experiment
from sim.labels import legend, variant_labels
from sim.metrics.kpis import KPIS
from sim.report import render, summary_paragraph
from sim.scenario.errors import ScenarioError
from sim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
WINDOWS = (14, 21, 28)


def _sweep_variant(days: int) -> Variant:
    return Variant(
        f"coexistence_window_days={days}", None, (f"policies.coexistence_window_days={days}",)
    )


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory) -> Path:
    """A 14/21/28-day window sweep of the tiny scenario named as `--grid` names it."""
    plan = Plan(str(TINY), tuple(_sweep_variant(d) for d in WINDOWS), 3, root_seed=11)
    return run_experiment(plan, tmp_path_factory.mktemp("sweep")).path


@pytest.fixture(scope="module")
def sweep_page(sweep_run) -> tuple[str, dict[str, Path]]:
    """The sweep's report (drawn once: charts take most of the time) and its PNGs."""
    return render(sweep_run)


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


# ------------------------------------------------------------------ 2. sweep names


def test_sweep_variants_get_short_unique_labels_with_a_legend_of_full_names():
    names = [f"coexistence_window_days={d},health_centre={s}" for d in WINDOWS for s in (0, 1)]
    labels = variant_labels(names)
    assert labels["coexistence_window_days=21,health_centre=1"] == "cwd=21 · hc=1"
    assert len(set(labels.values())) == 6 and all(len(x) <= 24 for x in labels.values())
    # Only what varies is shown; short names stay as they are.
    assert variant_labels(["sweep:a_b=1,c=2", "sweep:a_b=3,c=2"]) == {
        "sweep:a_b=1,c=2": "sweep:a_b=1,c=2",
        "sweep:a_b=3,c=2": "sweep:a_b=3,c=2",
    }
    long = [f"sweep:coexistence_window_days={d},mode=drain" for d in WINDOWS]
    assert list(variant_labels(long).values()) == ["cwd=14", "cwd=21", "cwd=28"]
    odd = ["a very long variant name without fields one", "a very long variant name two"]
    assert list(variant_labels(odd).values()) == ["V1", "V2"]
    manifest = {
        "variants": names[:2],
        "plan": {"variants": [{"name": n, "overrides": [f"policies.{n}"]} for n in names[:2]]},
    }
    assert legend(manifest)[0] == ("hc=0", names[0], f"policies.{names[0]}")


def test_terminal_tables_fit_100_columns_and_name_variants_and_kpis_for_people(sweep_run):
    result = invoke("compare", sweep_run)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "cwd=21" in result.stdout and "Worst" in result.stdout and "site-week" in result.stdout
    assert "late_abnormal_peak_site_week" not in result.stdout
    assert "coexistence_window_days=21" in result.stdout  # in the legend


def test_the_timeline_table_fits_100_columns_without_cutting_dates():
    result = invoke("timeline", ROOT / "scenarios" / "fvm-2020.yaml")
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 100
    assert "…" not in result.stdout and "2022-03-08" in result.stdout


def test_report_heading_is_the_title_and_variants_are_labelled(sweep_page):
    page, _ = sweep_page
    h1 = re.search(r"<h1>(.*?)</h1>", page).group(1)
    assert h1 == "Teaching example, one lab and three sites"
    assert "<th>cwd=21</th>" in page and "<h2>Variants</h2>" in page
    assert "late_abnormal_peak_site_week</b>" not in page
    assert "@media print" in page and "overflow-wrap:anywhere" in page


# ------------------------------------------------------------------ 3. every variant


def _kpis(late: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for v, values in late.items():
        for r, x in enumerate(values):
            row = dict.fromkeys(KPIS, 0.0)
            row.update(late_abnormal=x, extra_staff_hours=100.0)
            rows.append({"variant": v, "replication": r, **row})
    return pd.DataFrame(rows)


def test_the_summary_weighs_every_variant_against_the_baseline_ranked():
    base = np.array([1000.0, 1100, 900, 1050, 950])
    late = {"14": list(base), "21": list(base - 100 + [1, -1, 2, -2, 0]),
            "28": list(base - 300 + [3, -3, 1, -1, 0])}  # fmt: skip
    text = summary_paragraph(_kpis(late), {"variants": ["14", "21", "28"]})
    items = re.findall(r"<li><b>(.*?)</b>: (.*?)</li>", text)
    assert [name for name, _ in items] == ["28", "21"]  # ranked, the middle one included
    assert items[1][1].startswith("100 fewer late abnormal results than 14")
    assert "baseline <b>14</b>" in text


def test_report_and_compare_use_the_same_baseline_rule(sweep_run, sweep_page):
    assert default_baseline(["x", "base", "y"]) == "base"
    assert default_baseline(["x", "y"]) == "x"
    comparison = compare_run(sweep_run)
    assert comparison.baseline == "coexistence_window_days=14"
    page, _ = sweep_page
    assert "each against the baseline <b>cwd=14</b>" in page


# ------------------------------------------------------------------ 4. incomplete runs


@pytest.fixture
def interrupted_run(sweep_run, tmp_path) -> Path:
    """The sweep as if interrupted after 2 of its 3 blocks."""
    run = tmp_path / sweep_run.name
    shutil.copytree(sweep_run, run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest.update(status="interrupted")
    (run / "manifest.json").write_text(json.dumps(manifest))
    for path in run.rglob("block-00002.*"):  # the last block never finished
        path.unlink()
    return run


def test_compare_warns_about_an_incomplete_run(interrupted_run):
    result = invoke("compare", interrupted_run)
    assert result.exit_code == 0
    assert "interrupted: 2 of 3 blocks done" in result.stderr
    assert f"cutover run --resume {interrupted_run}" in result.stderr
    assert compare_run(interrupted_run).warning is not None


@pytest.mark.slow
def test_report_warns_about_an_incomplete_run_in_its_header(interrupted_run):
    result = invoke("report", interrupted_run)
    assert result.exit_code == 0 and "2 of 3 blocks done" in result.stderr
    page = (interrupted_run / "report.html").read_text(encoding="utf-8")
    assert "id=incomplete" in page and "2 of 3 blocks done" in page


# ------------------------------------------------------------------ 5. extensions

PLUGIN = """
import numpy as np
from sim.extensions import Params, workload_stream

class Briefing(Params):
    minutes: float = 30.0

@workload_stream("{name}", Briefing)
def briefing(p, ctx):
    return np.full((len(ctx.timeline.units), ctx.calendar.n_days), p.minutes)
"""


def _plugin_scenario(tmp_path: Path, stream: str) -> Path:
    scenario = tmp_path / "with-plugin.yaml"
    scenario.write_text(
        f"extends: {TINY}\nworkload_streams:\n  - stream: {stream}\n    params: {{minutes: 20}}\n"
    )
    return scenario


def test_a_plugin_module_named_with_plugin_runs_from_the_command_line(tmp_path, monkeypatch):
    (tmp_path / "briefing_plugin.py").write_text(PLUGIN.format(name="cli_briefing"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CUTOVER_PLUGINS", "")
    scenario = _plugin_scenario(tmp_path, "cli_briefing")
    missing = invoke("validate", scenario)
    assert missing.exit_code == 65 and "cli_briefing" in missing.stderr
    ok = invoke("validate", scenario, "--plugin", "briefing_plugin")
    assert ok.exit_code == 0, ok.output
    assert "'cli_briefing': booked inside each session's share" in ok.stdout
    bad = invoke("validate", scenario, "--plugin", "no_such_plugin_module")
    assert bad.exit_code == 2 and "no_such_plugin_module" in bad.stderr


@pytest.mark.slow
def test_an_installed_plugin_package_runs_through_its_entry_point(tmp_path):
    site = tmp_path / "site"
    (site / "ep_briefing").mkdir(parents=True)
    (site / "ep_briefing" / "__init__.py").write_text(PLUGIN.format(name="ep_briefing"))
    info = site / "ep_briefing-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-briefing\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[cutover.extensions]\nbriefing = ep_briefing\n")
    scenario = _plugin_scenario(tmp_path, "ep_briefing")
    env = {"PYTHONPATH": f"{ROOT}:{site}", "PATH": "/usr/bin:/bin"}
    args = [sys.executable, "-m", "sim", "run", str(scenario), "-n", "1", "--seed", "1"]
    args += ["--out", str(tmp_path / "results"), "-w", "2"]
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    run = Path(done.stdout.strip().splitlines()[-1])
    days = pd.read_parquet(next((run / "tables" / "region_days").rglob("*.parquet")))
    assert days["extension_hours"].sum() > 0


def test_the_api_takes_a_str_for_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = run_experiment(Plan(str(TINY), (Variant("base"),), 1, root_seed=2), "results")
    assert folder.path.parent == Path("results") and (folder.path / "manifest.json").is_file()


# ------------------------------------------------------------------ 6. copied scenarios


def test_a_copied_scenario_still_finds_common_vgr(tmp_path, monkeypatch):
    copy = tmp_path / "my-plan.yaml"
    copy.write_text(TINY.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_scenario(copy).model.name == "tiny"
    lonely = tmp_path / "lonely.yaml"
    lonely.write_text("extends: common/nowhere.yaml\nname: x\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(lonely)
    message = str(info.value)
    assert "lonely.yaml:1:" in message and "CUTOVER_SCENARIO_PATH" in message
    assert str(ROOT / "scenarios") in message
    # A folder on CUTOVER_SCENARIO_PATH comes before the bundled scenarios.
    own = tmp_path / "own" / "common"
    own.mkdir(parents=True)
    (own / "nowhere.yaml").write_text((ROOT / "scenarios/common/vgr.yaml").read_text())
    monkeypatch.setenv("CUTOVER_SCENARIO_PATH", str(tmp_path / "own"))
    with pytest.raises(ScenarioError) as info:  # found now: fails later, on the library
        load_scenario(lonely)
    assert "not found" not in str(info.value)


# ------------------------------------------------------------------ 7. polish


def test_one_replication_warns_and_the_seed_is_printed_only_when_a_run_starts(tmp_path):
    usage = invoke("run", TINY, "--variants", "window-3w", "--out", tmp_path)
    assert usage.exit_code == 2
    assert "seed" not in usage.stderr
    assert "--set policies.coexistence_window_days=21" in usage.stderr  # the window hint
    ok = invoke("run", TINY, "--variants", "base,window-2w", "--out", tmp_path, "-w", "1")
    assert ok.exit_code == 0, ok.output
    assert "fresh entropy; pass --seed" in ok.stderr
    assert "one replication per variant" in ok.stderr
    manifest = json.loads((Path(ok.stdout.strip().splitlines()[-1]) / "manifest.json").read_text())
    assert manifest["variants"] == ["base", "window-2w"]


def test_one_term_for_results_nobody_watches(sweep_run, sweep_page):
    page, _ = sweep_page
    visible = re.sub(r"<svg.*?</svg>", "", page, flags=re.DOTALL)  # ids in charts aside
    compared = invoke("compare", sweep_run).stdout
    for text in (visible, compared):
        assert "Unwatched" in text and "abnormal" in text
        assert not re.search(r"orphan", text, re.IGNORECASE)


def test_a_schedule_chart_for_each_variant_that_changes_dates(sweep_run, sweep_page):
    from sim import charts

    assert charts.schedule_variants(sweep_run) == [f"coexistence_window_days={d}" for d in WINDOWS]
    page, pngs = sweep_page
    assert sorted(n for n in pngs if n.startswith("schedule")) == [
        "schedule", "schedule-coexistence_window_days_21", "schedule-coexistence_window_days_28"
    ]  # fmt: skip
    assert page.count("The switch schedule of cwd=") == 3


# ------------------------------------------------------------------ 8. export, runs, latest


def test_export_to_xlsx_and_csv_from_latest(sweep_run):
    before = invoke("runs", "--root", sweep_run.parent)
    assert before.exit_code == 0 and sweep_run.name in before.stdout
    assert "complete" in before.stdout and "cwd=14" in before.stdout
    xlsx = invoke("export", sweep_run.parent / "latest", "--format", "xlsx")
    assert xlsx.exit_code == 0, xlsx.output
    book = openpyxl.load_workbook(xlsx.stdout.strip().splitlines()[-1], read_only=True)
    assert book.sheetnames == ["kpis", "summary", "comparison", "site_weeks"]
    rows = list(book["kpis"].values)
    assert rows[0][:3] == ("variant", "label", "replication")
    assert len(rows) == 1 + 3 * (len(WINDOWS) + 1)  # and the no-cutover twin
    out = sweep_run.parent / "csv"
    csv = invoke("export", sweep_run, "--format", "csv", "--out", out)
    assert csv.exit_code == 0, csv.output
    summary = pd.read_csv(out / "summary.csv")
    kpis = pd.read_csv(out / "kpis.csv")
    mine = kpis[kpis["variant"] == "coexistence_window_days=21"]["late_abnormal"].mean()
    row = summary[(summary.kpi == "late_abnormal") & (summary.label == "cwd=21")]
    assert row["mean"].item() == pytest.approx(mine)
    comparison = pd.read_csv(out / "comparison.csv")
    assert set(comparison["baseline"]) == {"coexistence_window_days=14"}


def test_latest_with_no_runs_is_a_clear_error(tmp_path):
    result = invoke("compare", tmp_path / "latest")
    assert result.exit_code == 66 and "no run folder" in result.stderr


# ------------------------------------------------------------------ the sweep in a browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_a_six_variant_sweep_report_fits_1280_pixels_without_overlapping_titles(tmp_path):
    from playwright.sync_api import sync_playwright

    result = invoke(
        "sweep", TINY, "--grid", "policies.coexistence_window_days=14,21,28",
        "--grid", "policies.lock.mode=drain,lost", "-n", "2", "--seed", "4",
        "--out", tmp_path, "-w", "2", "--report",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = Path(result.stdout.strip().splitlines()[-1])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((run / "report.html").as_uri(), wait_until="load")
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        h1 = page.evaluate("document.querySelector('h1').getBoundingClientRect().height")
        boxes = page.evaluate(
            """Array.from(document.querySelectorAll('svg g[id^="title:"], svg g#legend'))
            .map(g => { const r = g.getBoundingClientRect();
                        return [g.id, r.left, r.top, r.right, r.bottom]; })"""
        )
        page.emulate_media(media="print")
        printed = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(run / "report-1280.png"), full_page=True)
        browser.close()
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
    assert h1 < 60, "the heading wraps onto several lines"
    assert printed
    titles = [b for b in boxes if b[0].startswith("title:")]
    assert len(titles) == 3 and any(b[0] == "legend" for b in boxes)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
            assert apart, f"{a[0]} overlaps {b[0]}: {a} {b}"
