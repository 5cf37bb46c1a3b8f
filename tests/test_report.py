"""The HTML report: its summary says the right thing, and it renders offline in Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.experiment.runs import Plan, Variant, run_experiment
from sim.metrics.kpis import KPIS
from sim.report import summary_paragraph, write_report

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "scenarios" / "tiny.yaml")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    variants = (Variant("window-2w", "window-2w"), Variant("window-4w", "window-4w"))
    plan = Plan(TINY, variants, 4, root_seed=17, block_size=2)
    folder = run_experiment(plan, tmp_path_factory.mktemp("report"))
    write_report(folder.path)
    return folder.path


def _kpis(late_a, late_b, hours_a, hours_b, orphans_a=None, orphans_b=None) -> pd.DataFrame:
    rows = []
    ones = np.ones(len(late_a))
    orphans_a = ones if orphans_a is None else orphans_a
    orphans_b = ones if orphans_b is None else orphans_b
    for r in range(len(late_a)):
        for v, late, hours, orphans in (
            ("2w", late_a, hours_a, orphans_a), ("4w", late_b, hours_b, orphans_b)
        ):  # fmt: skip
            row = dict.fromkeys(KPIS, 0.0)
            row.update(late_abnormal=late[r], extra_staff_hours=hours[r], orphans=orphans[r])
            rows.append({"variant": v, "replication": r, **row})
    return pd.DataFrame(rows)


def test_summary_names_the_safer_variant_the_difference_and_the_cost():
    late_2w = np.array([1000.0, 1100, 900, 1050, 950])
    late_4w = late_2w - np.array([200.0, 210, 190, 205, 195])  # 200 fewer, sd 7.9
    hours_2w = np.array([5000.0, 5100, 4900, 5000, 5000])
    hours_4w = hours_2w + 1500
    manifest = {"variants": ["2w", "4w"], "variant_descriptions": {"4w": "four weeks"}}
    text = summary_paragraph(_kpis(late_2w, late_4w, hours_2w, hours_4w), manifest)
    assert "4w (four weeks) is the safer choice" in text
    # Paired t interval by hand: mean 200, sd 7.906, n 5, t(0.975, 4) = 2.776 -> +-9.8.
    assert "200 fewer" in text and "190 to 210 fewer" in text
    assert "1,500 more staff hours" in text


def test_summary_calls_a_trade_off_when_fewer_late_results_leave_more_unwatched():
    late_2w = np.array([1000.0, 1100, 900, 1050, 950])
    hours = np.full(5, 100.0)
    orphans_2w = np.array([10.0, 12, 9, 11, 10])
    text = summary_paragraph(
        _kpis(late_2w, late_2w - 200, hours, hours, orphans_2w, orphans_2w + 50),
        {"variants": ["2w", "4w"]},
    )
    assert "Neither variant is safer on both counts" in text and "safer choice" not in text
    assert "difference +50.0" in text


def test_summary_says_when_the_variants_cannot_be_told_apart():
    late_2w = np.array([1000.0, 1100, 900, 1050, 950])
    late_4w = late_2w + np.array([-30.0, 25, -20, 20, -10])  # mean -3, CI spans zero
    hours = np.full(5, 100.0)
    text = summary_paragraph(_kpis(late_2w, late_4w, hours, hours), {"variants": ["2w", "4w"]})
    assert "Neither variant is clearly safer" in text


def test_report_is_one_self_contained_file(run_dir):
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", page)
    assert not re.search(r"url\((?!#)", page) and "@import" not in page  # only url(#clip)
    assert not re.search(r"href=\"(?!#|data:|https?://)", page)  # links to sources are fine
    assert page.count("<svg") >= 6
    for heading in ("Key indicators", "Comparison", "Assumptions", "STRESS-DES"):
        assert heading in page
    # The answer leads: the excess over no cutover, then its chart, before the totals.
    lead, first_figure = page.index("id=excess-headline"), page.index("<figure>")
    assert lead < first_figure < page.index("id=summary")
    assert "excess.png" in {p.name for p in (run_dir / "charts").glob("*.png")}
    for section in ("By phase", "By stage", "By site kind", "Totals, including ordinary days"):
        assert section in page
    assert "result_review_time" in page  # an input distribution, with its source
    pngs = sorted((run_dir / "charts").glob("*.png"))
    assert len(pngs) >= 6 and all(p.stat().st_size > 5000 for p in pngs)


def test_cli_report_prints_the_path_last(run_dir):
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(run_dir / "report.html")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_report_renders_offline_in_headless_chromium(run_dir):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto((run_dir / "report.html").as_uri(), wait_until="load")
        figures = page.locator("figure svg").count()
        tables = page.locator("table").count()
        broken = page.evaluate(
            "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length"
        )
        summary = page.inner_text("#summary")
        headline = page.inner_text("#excess-headline")
        above = page.evaluate(
            "document.querySelector('#excess-headline').getBoundingClientRect().top"
            " < document.querySelector('#summary').getBoundingClientRect().top"
        )
        sizes = page.evaluate(
            "Array.from(document.querySelectorAll('figure svg'))"
            ".map(s => s.getBoundingClientRect().width * s.getBoundingClientRect().height)"
        )
        page.screenshot(path=str(run_dir / "report-screenshot.png"), full_page=True)
        browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith("file://")] == []
    assert figures >= 6 and tables >= 4 and broken == 0
    assert all(area > 10_000 for area in sizes)
    assert "window-" in summary
    assert above and "against no cutover" in headline and "window-2w" in headline
    assert (run_dir / "report-screenshot.png").stat().st_size > 10_000


def test_report_says_how_often_the_stop_rule_tripped_and_whether_uncertainty_was_on(run_dir):
    html = (run_dir / "report.html").read_text()
    section = html[html.index("Would the go-live have been stopped?") :]
    assert "P(trips)" in section and "within 7 days" in section
    assert "Parameter uncertainty was off" in html
    # the signals chart draws every stop-rule level as a line
    assert 'id="level:window-2w:overdue_critical_rise_per_100"' in html


def test_report_compares_interval_widths_with_another_run(run_dir, tmp_path):
    from sim.report import render

    page, _ = render(run_dir, other_uncertainty=run_dir)
    assert "width in the other run" in page
    assert ">1.0</td>" in page  # the same run on both sides: every ratio is one


def test_compare_json_gives_the_stop_rule_per_variant(run_dir):
    import json

    result = CliRunner().invoke(app, ["compare", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    rules = json.loads(result.output)["stop_rule"]
    assert set(rules) == {"window-2w", "window-4w"}
    for rule in rules.values():
        assert 0.0 <= rule["p_trip"] <= 1.0
        assert set(rule["first_day"]) == {"mean", "low", "high", "n"}
        tripped = round(rule["p_trip"] * 4)
        assert rule["first_day"]["n"] == tripped
