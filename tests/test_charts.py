"""Charts draw what they claim: every expected value is recomputed here from the run's tables,
never read back from the chart that is being checked."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection, QuadMesh
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats

from sim import charts, results
from sim.experiment.runs import Plan, Variant, load_variants, run_experiment
from sim.schedule.table import timeline_frame

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "scenarios" / "tiny.yaml")
WINDOWS = (Variant("window-2w", "window-2w"), Variant("window-4w", "window-4w"))
KPI_UNITS = {"late_abnormal": "results", "orphans": "results", "extra_staff_hours": "staff hours"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    plan = Plan(TINY, WINDOWS, 5, root_seed=1, block_size=1)
    return run_experiment(plan, tmp_path_factory.mktemp("charts")).path


@pytest.fixture(scope="module")
def run(run_dir) -> charts.RunData:
    return charts.RunData.open(run_dir)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> charts.RunData:
    """One variant, one replication: bands collapse, nothing to compare."""
    plan = Plan(TINY, WINDOWS[:1], 1, root_seed=2)
    return charts.RunData.open(run_experiment(plan, tmp_path_factory.mktemp("single")).path)


@pytest.fixture(scope="module")
def manifest(run_dir) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


@pytest.fixture(scope="module")
def days(run_dir) -> pd.DataFrame:
    return results.open(run_dir, "region_days").df()


@pytest.fixture(scope="module")
def timelines() -> dict[str, pd.DataFrame]:
    plan = Plan(TINY, WINDOWS, 1, root_seed=1)
    return {name: timeline_frame(sc) for name, sc in load_variants(plan).items()}


def _with_gid(fig: Figure, gid: str, kind: type) -> list:
    return [
        a
        for ax in fig.axes
        for a in ax.get_children()
        if a.get_gid() == gid and isinstance(a, kind)
    ]


def _axis_of(fig: Figure, gid: str, kind: type):
    (ax,) = {a.axes for a in _with_gid(fig, gid, kind)}
    return ax


def _dates(values) -> list[pd.Timestamp]:
    """Matplotlib date numbers as timestamps (to the second: the numbers are floats)."""
    days = np.atleast_1d(values)
    return [pd.Timestamp(mdates.num2date(v)).tz_localize(None).round("s") for v in days]


def _week(dates: pd.Series) -> pd.Series:
    """Monday of the ISO week, computed without the periods the module uses."""
    return dates.dt.normalize() - pd.to_timedelta(dates.dt.day_of_week, unit="D")


# ------------------------------------------------------------------------------ fan chart


@pytest.mark.parametrize("metric", ["backlog", "late_abnormal"])
def test_fan_chart_draws_median_and_both_bands_per_variant(run, days, metric):
    fig = charts.fan_chart(run, metric)
    for v in ("window-2w", "window-4w"):
        per_day = days[days["variant"] == v].groupby("date")[metric]
        (median,) = _with_gid(fig, f"median:{v}", Line2D)
        assert np.array_equal(median.get_ydata(), per_day.median().to_numpy())
        assert median.get_color() == charts.PALETTE[["window-2w", "window-4w"].index(v)]
        for name, high in (("50", 0.75), ("90", 0.95)):
            (band,) = _with_gid(fig, f"band{name}:{v}", PolyCollection)
            top = band.get_paths()[0].vertices[:, 1].max()
            assert top == pytest.approx(per_day.quantile(high).max())
        ax = median.axes
        assert "results" in ax.get_ylabel()
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2
        (coex,) = _with_gid(fig, f"coexistence:{v}", PolyCollection)
        units = days[days["variant"] == v]
        on = units.loc[units["coexistence_units"] > 0, "date"]
        corners = coex.get_paths()[0].vertices
        assert set(corners[:, 1]) == set(units["coexistence_units"]) and len(on)
        shaded = _dates(corners[corners[:, 1] > 0, 0])
        half = pd.Timedelta(hours=12)  # steps change midway between days
        assert (min(shaded), max(shaded)) == (on.min() - half, on.max() + half)
    start, end = _dates(fig.axes[0].get_xlim())
    assert (start, end) == (days["date"].min(), days["date"].max())


def test_fan_chart_marks_each_variants_go_live_dates(run, timelines):
    fig = charts.fan_chart(run)
    for v, tl in timelines.items():
        lines = _with_gid(fig, f"golive:{v}", Line2D)
        fan = _axis_of(fig, f"median:{v}", Line2D)
        drawn = {_dates(line.get_xdata(orig=False)[0])[0] for line in lines if line.axes is fan}
        assert drawn == {pd.Timestamp(d) for d in tl["ehr_go_live"]}


def test_fan_chart_rejects_an_unknown_metric(run):
    with pytest.raises(ValueError, match="metric"):
        charts.fan_chart(run, "queue")


# ------------------------------------------------------------------------------ exceedance


def _step_value(line: Line2D, x: float) -> float:
    """A steps-post curve's value at x."""
    xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    return float(ys[np.searchsorted(xs, x, side="right") - 1])


def test_exceedance_curves_give_the_share_above_each_value_and_the_threshold(run, manifest):
    kpis = results.open(run.path).df()
    fig = charts.exceedance_chart(run)
    for name, unit in KPI_UNITS.items():
        limit = manifest["kpi_thresholds"]["window-2w"][name]
        (threshold,) = _with_gid(fig, f"threshold:{name}", Line2D)
        assert threshold.get_xdata()[0] == limit
        ax = threshold.axes
        assert ax.get_xlim()[0] <= limit <= ax.get_xlim()[1]
        assert unit in ax.get_xlabel()
        for v in ("window-2w", "window-4w"):
            (curve,) = _with_gid(fig, f"exceedance:{name}:{v}", Line2D)
            x = kpis.loc[kpis["variant"] == v, f"excess_{name}"].to_numpy()
            first, last = curve.get_xdata()[0], curve.get_xdata()[-1]
            assert first < min(x.min(), limit) and last > max(x.max(), limit)
            for at in [limit, *x, first, last, *(np.sort(x)[:-1] + np.diff(np.sort(x)) / 2)]:
                assert _step_value(curve, at) == pytest.approx((x > at).mean())
            title = ax.get_title("left").replace("\n", " ").replace("\u00a0", " ")
            assert f"{v} {(x > limit).mean():.0%}" in title


# ------------------------------------------------------------------------------ heatmap


def test_heatmap_is_sites_by_weeks_of_the_share_of_replications_over_the_threshold(run, manifest):
    weeks = results.open(run.path, "site_weeks").df()
    fig = charts.heatmap(run)
    n_sites, n_weeks = weeks["site"].nunique(), weeks["week"].nunique()
    for v in ("window-2w", "window-4w"):
        limit = manifest["kpi_thresholds"][v]["late_abnormal_peak_site_week"]
        (mesh,) = _with_gid(fig, f"heatmap:{v}", QuadMesh)
        values = np.asarray(mesh.get_array()).reshape(n_sites, n_weeks)
        assert mesh.get_clim() == (0, 1) and ((values >= 0) & (values <= 1)).all()
        ax = mesh.axes
        sites = [t.get_text() for t in ax.get_yticklabels()]
        assert sorted(sites) == sorted(weeks["site"].unique())
        part = weeks[weeks["variant"] == v]
        for (site, week), cell in part.groupby(["site", "week"]):
            column = sorted(weeks["week"].unique()).index(week)
            worst = cell["excess_late_abnormal_worst_unit"]  # thresholds judge the excess
            share = (worst > limit).sum() / cell["replication"].nunique()
            assert values[sites.index(site), column] == pytest.approx(share)
    colorbar = [ax for ax in fig.axes if "probability" in ax.get_ylabel()]
    assert len(colorbar) == 1 and colorbar[0].get_ylim() == (0, 1)
    one = charts.heatmap(run, "window-4w")
    assert len(_with_gid(one, "heatmap:window-4w", QuadMesh)) == 1
    assert not _with_gid(one, "heatmap:window-2w", QuadMesh)
    with pytest.raises(ValueError, match="not a variant"):
        charts.heatmap(run, "window-9w")


# ------------------------------------------------------------------------------ differences


def test_difference_dots_are_paired_means_with_t_intervals(run):
    kpis = results.open(run.path).df().set_index(["variant", "replication"])
    fig = charts.differences_chart(run)
    for name in [c for c in kpis.columns if not c.startswith("excess_")]:
        d = (kpis.loc["window-4w", name] - kpis.loc["window-2w", name]).to_numpy()
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        dots = _with_gid(fig, f"difference:{name}:window-4w", Line2D)
        (dot,) = [line for line in dots if line.get_marker() == "o"]
        assert dot.get_xdata()[0] == pytest.approx(d.mean())
        ax = dot.axes
        (whisker,) = ax.collections
        ends = whisker.get_segments()[0][:, 0]
        assert ends.min() == pytest.approx(d.mean() - half)
        assert ends.max() == pytest.approx(d.mean() + half)
        assert any(list(line.get_xdata()) == [0, 0] for line in ax.lines)
        assert "difference in" in ax.get_xlabel()


# ------------------------------------------------------------------------------ staff hours


def test_stacked_staff_hours_add_up_to_the_worked_hours_of_each_week(run, days):
    fig = charts.staff_hours_chart(run)
    weekly = (
        days.assign(week=_week(days["date"]))
        .groupby(["variant", "replication", "week"])[["worked_hours", "overtime_hours"]]
        .sum()
        .groupby(["variant", "week"])
        .mean()
    )
    for v in ("window-2w", "window-4w"):
        expected = weekly.loc[v]
        (ax,) = [a for a in fig.axes if a.get_gid() == f"hours:{v}"]
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert len(bars) == len(charts.hour_categories())
        heights = np.sum([[p.get_height() for p in c] for c in bars], axis=0)
        np.testing.assert_allclose(heights, expected["worked_hours"], rtol=1e-9)
        starts = _dates([p.get_x() for p in bars[0]])
        assert starts == list(expected.index)
        assert "hours" in ax.get_ylabel()
        (ot,) = [a for a in fig.axes if a.get_gid() == f"overtime:{v}"]
        np.testing.assert_allclose(
            [p.get_height() for p in ot.containers[0]], expected["overtime_hours"], rtol=1e-9
        )


# ------------------------------------------------------------------------------ schedule


def test_schedule_has_one_row_per_site_and_a_bar_for_each_dual_window(run, timelines):
    for v in ("window-2w", "window-4w"):
        fig = charts.schedule_chart(run, v)
        tl = timelines[v]
        (ax,) = fig.axes
        labels = [t.get_text().split(" (")[0] for t in ax.get_yticklabels()]
        assert labels == list(tl["site"])
        window = tl[tl["ros_switch"] > tl["ehr_go_live"]]
        bars = [p for p in ax.patches if p.get_gid() == "dual-window"]
        assert len(bars) == len(window) > 0
        for bar, (_, row) in zip(bars, window.iterrows(), strict=True):
            start, end = _dates([bar.get_x(), bar.get_x() + bar.get_width()])
            assert (start.date(), end.date()) == (row["ehr_go_live"], row["ros_switch"])
        (go,) = _with_gid(fig, "ehr_go_live", Line2D)
        assert [d.date() for d in _dates(go.get_xdata(orig=False))] == list(tl["ehr_go_live"])


def test_schedule_of_a_loaded_scenario(run):
    sc = load_variants(Plan(TINY, WINDOWS, 1, root_seed=1))["window-4w"]
    fig = charts.schedule_chart(sc)
    assert len(fig.axes[0].get_yticklabels()) == len(sc.model.sites)


# ------------------------------------------------------------------------------ edge cases


def test_one_variant_and_one_replication_draw_without_error(single):
    figures = charts.all_charts(single)
    assert set(figures) == set(charts.CHARTS)
    diff, _ = figures["differences"]
    texts = [t.get_text() for ax in diff.axes for t in ax.texts]
    assert any("nothing to compare" in t for t in texts)
    fan, _ = figures["fan-backlog"]
    (median,) = _with_gid(fan, "median:window-2w", Line2D)
    (band,) = _with_gid(fan, "band90:window-2w", PolyCollection)
    assert set(band.get_paths()[0].vertices[:, 1]) <= set(median.get_ydata())


def test_colours_follow_the_variant_in_every_chart(run):
    colour = charts.PALETTE[1]
    (fan,) = _with_gid(charts.fan_chart(run), "median:window-4w", Line2D)
    curve = _with_gid(charts.exceedance_chart(run), "exceedance:orphans:window-4w", Line2D)
    assert fan.get_color() == curve[0].get_color() == colour


def test_charts_leave_the_callers_style_alone(run):
    before = dict(matplotlib.rcParams)
    charts.exceedance_chart(run)
    assert dict(matplotlib.rcParams) == before


# ------------------------------------------------------------------------------ output


def test_save_all_writes_a_png_per_chart_and_svg_is_self_contained(run, single, tmp_path):
    paths = charts.save_all(single, tmp_path)  # the small run: PNGs take most of the time
    assert set(paths) == set(charts.CHARTS)
    for path in paths.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    svg = charts.to_svg(charts.heatmap(run))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<!DOCTYPE" not in svg and "<?xml" not in svg
    refs = re.findall(r'href="([^"]*)"', svg)
    assert refs and all(r.startswith(("#", "data:")) for r in refs)
