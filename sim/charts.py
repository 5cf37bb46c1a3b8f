"""Charts of a run for managers and notebooks: each function takes a run, returns a Figure.

The object API only (``Figure``, never pyplot), so charts are safe in worker processes and
tests and never open a window; a notebook shows the returned Figure as it is. Each function
applies the house style ``cutover.mplstyle`` inside itself, so a caller's settings neither leak
in nor get changed. A variant keeps one colour in every chart: the one at its position in the
run's variant list, so "window-4w" is the same orange in the fan chart and in the heatmap.

    from sim import charts
    run = charts.RunData.open("results/20261126T0900Z-fvm-2020-1a2b3c4d")
    charts.fan_chart(run)                      # a Figure
    charts.save_all(run, "results/figures")    # every chart as PNG
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import math
import textwrap
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ParamSpec

import matplotlib
import matplotlib.dates as mdates
import matplotlib.style
import numpy as np
import pandas as pd
import yaml
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from sim import results
from sim.compare import KEY_KPIS, Estimate, compare_run, signed, t_interval
from sim.experiment.runfolder import RunFolder, slug
from sim.labels import run_labels
from sim.metrics.kpis import KPIS, thresholds
from sim.metrics.summary import HOURS
from sim.scenario.loading import LoadedScenario, from_model, load_scenario
from sim.scenario.schema import Scenario
from sim.schedule.table import timeline_frame

STYLE = Path(__file__).with_name("cutover.mplstyle")
# Okabe-Ito: tells variants apart for colour-blind readers too; variant i gets PALETTE[i].
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
GREY = "#555555"
DPI = 150

P = ParamSpec("P")


def styled(chart: Callable[P, Figure]) -> Callable[P, Figure]:
    """Draw ``chart`` in the house style without touching the caller's rcParams."""

    @functools.wraps(chart)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with matplotlib.style.context(STYLE):
            return chart(*args, **kwargs)

    return wrapper


# ------------------------------------------------------------------------------ the run


@dataclasses.dataclass
class RunData:
    """A run as the charts read it: manifest, tables loaded once each, scenarios on demand.

    Open it once and pass it to several charts so the Parquet tables are read only once.
    """

    path: Path
    manifest: dict[str, Any]
    _tables: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, run_dir: str | Path) -> RunData:
        return cls(Path(run_dir), results.manifest(run_dir))

    def table(self, name: str) -> pd.DataFrame:
        """One table of the run as pandas (see :func:`sim.results.frame`), read once."""
        if name not in self._tables:
            self._tables[name] = results.frame(self.path, name)
        return self._tables[name]

    @property
    def variants(self) -> list[str]:
        """The variants that have results, in run order (an interrupted run may lack some)."""
        have = set(self.table("kpis")["variant"])
        return [v for v in self.manifest["variants"] if v in have]

    @property
    def replications(self) -> int:
        return int(self.table("kpis")["replication"].nunique())

    def colour(self, variant: str) -> str:
        return PALETTE[self.manifest["variants"].index(variant) % len(PALETTE)]

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        """Each variant's display label (:mod:`sim.labels`)."""
        return run_labels(self.manifest)

    def label(self, variant: str) -> str:
        return self.labels.get(variant, variant)

    def limits(self, variant: str) -> dict[str, float]:
        """The KPI thresholds the variant was run with."""
        return self.manifest.get("kpi_thresholds", {}).get(variant) or thresholds()

    @functools.cached_property
    def scenarios(self) -> dict[str, LoadedScenario]:
        """Every variant's scenario as it ran: the resolved copy in the run folder, with the
        distributions of the scenario file (so variants made in Python come back too).

        A warning says if one no longer hashes as it did when run (its distributions or the
        code changed since): the dates drawn are then today's reading of it.
        """
        base = load_scenario(self.manifest["scenario_file"])
        folder = RunFolder.open(self.path)
        saved = self.manifest.get("scenario_hash", {})
        out, changed = {}, []
        for name in self.manifest["variants"]:
            sc = from_model(Scenario.model_validate(folder.scenario_data(name)), base)
            sc.variant = name
            out[name] = sc
            if saved.get(name) != sc.digest():
                changed.append(name)
        if changed:
            warnings.warn(
                f"run {self.manifest['run']}: the scenario of {', '.join(changed)} no longer "
                "hashes as when it ran (its distributions or the code changed since)",
                stacklevel=2,
            )
        return out

    def check_variant(self, variant: str) -> str:
        if variant not in self.variants:
            raise ValueError(
                f"{variant!r} is not a variant of run {self.manifest['run']} "
                f"(it has: {', '.join(self.variants)})"
            )
        return variant

    def caption(self) -> str:
        """Where a chart comes from, for its footnote."""
        m = self.manifest
        n = self.replications
        return (
            f"{m['title']} · {n} replication{'s' if n != 1 else ''} · seed {m['root_seed']} · "
            f"run {m['run']}"
        )


Run = str | Path | RunData


def load_run(run: Run) -> RunData:
    """A :class:`RunData` from a run folder path (or the one given)."""
    return run if isinstance(run, RunData) else RunData.open(run)


# ------------------------------------------------------------------------------ helpers


class Chart(Figure):
    """A Figure that shows itself as a PNG wherever IPython displays it (nbclient,
    JupyterLab, VS Code), whether or not the kernel chose a matplotlib backend: a plain
    ``Figure`` made without pyplot prints as ``<Figure size ...>`` in a kernel that has not."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100)
        return buf.getvalue()


def _figure(width: float, height: float) -> Figure:
    return Chart(figsize=(width, height), layout="constrained")


def _footnote(fig: Figure, *lines: str) -> None:
    """Small grey text under the chart: how to read it and where it comes from."""
    fig.supxlabel("\n".join(lines), x=0.01, ha="left", fontsize=7.5, color=GREY)


class MonthFormatter(mdates.DateFormatter):
    """Month names, with the year under the first month shown and under every January."""

    def __init__(self) -> None:
        super().__init__("%b")

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        low, high = sorted(self.axis.get_view_interval()) if self.axis else (-np.inf, np.inf)
        labels, year = [], None
        for value in values:
            day = mdates.num2date(value)
            visible = low <= value <= high
            labels.append(f"{day:%b}\n{day:%Y}" if visible and day.year != year else f"{day:%b}")
            year = day.year if visible else year
        return labels


def _month_axis(ax: Axes) -> None:
    """Month ticks, as many as fit: every month, every 2, 3, 6 or 12 over a long run."""
    low, high = ax.get_xlim()
    months = (high - low) / 30.44
    step = next((s for s in (1, 2, 3, 6) if months / s <= 14), 12)
    ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=range(1, 13, step)))
    ax.xaxis.set_major_formatter(MonthFormatter())


def _thousands(ax: Axes, axis: str = "y") -> None:
    """Tick labels as people write numbers: 12,000 rather than 12000 or 1.2e4."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda x, _: _value(x)))


def _value(x: float) -> str:
    """A number for a label: thousands separated, no needless decimals, never "-0"."""
    if x == 0:
        return "0"
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.3g}"


def _message(fig: Figure, text: str) -> None:
    """A panel that says why there is nothing to draw, instead of an empty axes."""
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, textwrap.fill(text, 70), ha="center", va="center", fontsize=11)


def _go_lives(sc: LoadedScenario) -> list[dt.date]:
    """The distinct EHR go-live dates of a scenario: its stages (a go-live paused for good
    has none)."""
    return sorted({d for d in timeline_frame(sc)["ehr_go_live"] if d is not None})


# ------------------------------------------------------------------------------ 1. fan chart

FAN = {
    "backlog": (
        "Unsigned lab results waiting in inboxes, all sites",
        "unsigned results at end of day",
    ),
    "late_abnormal": (
        "Abnormal lab results that went late, all sites",
        "late abnormal results per day",
    ),
}
BANDS = ((0.05, 0.95, 0.16, "90"), (0.25, 0.75, 0.32, "50"))  # low, high, alpha, name


@styled
def fan_chart(run: Run, metric: str = "backlog") -> Figure:
    """Median and 50%/90% bands across replications over calendar days, a panel per variant.

    Each panel marks the variant's go-live dates and has a strip below it with the number of
    units signing in two systems each day (its coexistence windows), so a bump in the fan can
    be read against what the schedule did that day. The other variants' medians are drawn
    thin in grey for comparison: overlaid bands of several variants would be unreadable.
    """
    if metric not in FAN:
        raise ValueError(f"metric must be one of {', '.join(FAN)}, not {metric!r}")
    run = load_run(run)
    days = run.table("region_days")
    variants = run.variants
    title, ylabel = FAN[metric]
    wide = {
        v: days[days["variant"] == v].pivot(index="date", columns="replication", values=metric)
        for v in variants
    }
    fig = _figure(11, 1.3 + 3.4 * len(variants))
    axes = fig.subplots(2 * len(variants), 1, sharex=True, height_ratios=[5, 1] * len(variants))
    fans, strips = axes[0::2], axes[1::2]
    for v, ax, strip in zip(variants, fans, strips, strict=True):
        colour = run.colour(v)
        for other in variants:
            if other != v:
                ax.plot(wide[other].index, wide[other].median(axis=1), color="#9a9a9a", lw=0.7)
        values = wide[v].to_numpy(float)
        for low, high, alpha, name in BANDS:
            lo, hi = np.quantile(values, [low, high], axis=1)
            ax.fill_between(
                wide[v].index, lo, hi, color=colour, alpha=alpha, lw=0, gid=f"band{name}:{v}"
            )
        median = np.quantile(values, 0.5, axis=1)
        ax.plot(wide[v].index, median, color=colour, lw=1.2, gid=f"median:{v}")
        ax.set_title(f"{run.label(v)}: {title[0].lower()}{title[1:]}", color=colour)
        ax.set_ylabel(ylabel)
        _thousands(ax)
        units = days[days["variant"] == v].groupby("date")["coexistence_units"].max()
        strip.fill_between(
            units.index,
            0,
            units.to_numpy(),
            step="mid",
            color=colour,
            alpha=0.45,
            lw=0,
            gid=f"coexistence:{v}",
        )
        strip.set_ylim(0, max(1, units.max()) * 1.15)
        strip.set_yticks([0, units.max()])
        strip.set_ylabel("units in\ntwo systems", rotation=0, ha="right", va="center", fontsize=8)
        strip.grid(False)
        for day in _go_lives(run.scenarios[v]):
            for a in (ax, strip):
                a.axvline(day, color=colour, lw=0.8, ls=(0, (4, 3)), gid=f"golive:{v}")
    for ax in fans[1:]:
        ax.sharey(fans[0])
    fans[0].set_ylim(bottom=0)
    fans[0].set_xlim(days["date"].min(), days["date"].max())
    _month_axis(strips[-1])
    handles = [
        Line2D([], [], color="#333333", lw=1.5, label="median of replications"),
        Patch(color="#333333", alpha=0.5, label="middle 50%"),
        Patch(color="#333333", alpha=0.2, label="middle 90%"),
        Line2D([], [], color="#333333", lw=0.8, ls=(0, (4, 3)), label="go-live date"),
        Patch(color="#333333", alpha=0.45, label="units signing in two systems (strip)"),
    ]
    if len(variants) > 1:
        handles.append(Line2D([], [], color="#9a9a9a", lw=0.7, label="other variants' median"))
    fig.legend(handles=handles, loc="outside upper center", ncols=3)
    _footnote(
        fig,
        f"{title}. Line: median over replications of each day's value; bands: the middle 50% "
        "and 90% of replications (they collapse to the line with one replication).",
        run.caption(),
    )
    return fig


# ------------------------------------------------------------------------------ 2. exceedance


@styled
def exceedance_chart(run: Run, kpis: Sequence[str] = KEY_KPIS) -> Figure:
    """For each KPI, the share of replications above every value x, with the threshold.

    Where the threshold line crosses a variant's curve is that variant's risk of exceeding
    it; the legend gives the same share per variant and panel.
    """
    run = load_run(run)
    table = run.table("kpis")
    variants = run.variants
    unknown = [k for k in kpis if k not in KPIS]
    if unknown:
        raise ValueError(f"unknown KPI(s) {', '.join(unknown)}; known: {', '.join(KPIS)}")
    fig = _figure(3.7 * len(kpis) + 2.5, 4.4)
    axes = fig.subplots(1, len(kpis), sharey=True, squeeze=False)[0]
    shares: dict[str, list[str]] = {}
    for i, (ax, name) in enumerate(zip(axes, kpis, strict=True)):
        kpi = KPIS[name]
        column = f"excess_{name}" if f"excess_{name}" in table else name  # thresholds judge
        values = {  # the excess over the no-cutover twin when the run has one
            v: np.sort(table.loc[table["variant"] == v, column].to_numpy(float)) for v in variants
        }
        limits = {v: float(run.limits(v)[name]) for v in variants}
        every = np.concatenate([*values.values(), list(limits.values())])
        pad = 0.06 * max(every.max() - every.min(), abs(every.max()) * 0.01, 1.0)
        lo, hi = every.min() - pad, every.max() + pad
        for v, x in values.items():
            steps = np.unique(x)
            above = (x[None, :] > steps[:, None]).mean(axis=1)
            ax.step(
                [lo, *steps, hi],
                [1.0, *above, 0.0],
                where="post",
                color=run.colour(v),
                lw=1.6,
                label=run.label(v),
                gid=f"exceedance:{name}:{v}",
            )
            shares.setdefault(v, []).append(f"{(x > limits[v]).mean():.0%}")
        for t in sorted(set(limits.values())):
            ax.axvline(t, color="#222222", lw=1.2, ls="--", gid=f"threshold:{name}")
            right = t > (lo + hi) / 2  # the label goes on the side with room
            ax.annotate(
                f"threshold {_value(t)}",
                (t, 0.5),
                xycoords=("data", "axes fraction"),
                xytext=(-4 if right else 4, 0),
                textcoords="offset points",
                ha="right" if right else "left",
                va="center",
                fontsize=8,
                bbox={"fc": "white", "ec": "none", "pad": 1, "alpha": 0.85},
            )
        ax.set_xlim(lo, hi)
        ax.set_ylim(-0.02, 1.08)
        # The title names the KPI only, wrapped to the panel: the shares above the threshold
        # of every variant go into the legend, which has room for any number of variants.
        ax.set_title(
            textwrap.fill(f"{i + 1}. {kpi.display_name()}", 34), fontsize=9.5, gid=f"title:{name}"
        )
        ax.set_xlabel(f"{kpi.unit} per run" + (" over no cutover" if column != name else ""))
        ax.grid(axis="x")
        _thousands(ax, "x")
    axes[0].set_ylabel("probability that the KPI exceeds x")
    axes[0].yaxis.set_major_formatter(FuncFormatter(lambda p, _: f"{p:.0%}"))
    handles = [
        Line2D([], [], color=run.colour(v), lw=2, label=f"{run.label(v)}: {' | '.join(shares[v])}")
        for v in variants
    ]
    handles.append(Line2D([], [], color="#222222", lw=1.2, ls="--", label="threshold"))
    panels = " | ".join(str(i + 1) for i in range(len(kpis)))
    fig.legend(
        handles=handles,
        loc="outside right upper",
        title=f"share above threshold\nin panel {panels}",
        title_fontsize=8.5,
        fontsize=8.5,
    ).set_gid("legend")
    fig.suptitle("How likely is each indicator to exceed its threshold?", x=0.01, ha="left")
    _footnote(
        fig,
        "Each step is one replication: read a curve at x to get the share of replications "
        "with a value above x. Thresholds from the scenario's kpi_thresholds.",
        run.caption(),
    )
    return fig


# ------------------------------------------------------------------------------ 3. heatmap

PEAK = "late_abnormal_peak_site_week"


@styled
def heatmap(run: Run, variant: str | None = None) -> Figure:
    """Site x ISO week: the share of replications in which the site's worst unit had more
    late abnormal results that week than the peak-site-week threshold (the same rule as the
    ``late_abnormal_peak_site_week`` KPI), so a dark cell is where and when risk piles up."""
    run = load_run(run)
    weeks = run.table("site_weeks")
    variants = [run.check_variant(variant)] if variant else run.variants
    first = timeline_frame(run.scenarios[variants[0]])
    present = set(weeks["site"])
    sites = [s for s in first["site"] if s in present] + sorted(present - set(first["site"]))
    starts = np.array(sorted(weeks["week"].unique()), dtype="datetime64[D]")
    edges = np.append(starts, starts[-1] + np.timedelta64(7, "D"))
    fig = _figure(12, 1.4 + len(variants) * (0.16 * len(sites) + 0.8))
    axes = fig.subplots(len(variants), 1, sharex=True, squeeze=False)[:, 0]
    cmap = matplotlib.colormaps["Reds"].with_extremes(bad="#eeeeee")
    mesh = None
    for ax, v in zip(axes, variants, strict=True):
        limit = run.limits(v)[PEAK]
        part = weeks[weeks["variant"] == v]
        worst = "late_abnormal_worst_unit"  # its excess over no cutover, when the run has it
        worst = f"excess_{worst}" if f"excess_{worst}" in part else worst
        over = (part[worst] > limit).groupby([part["site"], part["week"]]).mean()
        grid = over.unstack("week").reindex(index=sites, columns=pd.to_datetime(starts))
        mesh = ax.pcolormesh(
            edges,
            np.arange(len(sites) + 1),
            grid.to_numpy(float),
            cmap=cmap,
            vmin=0,
            vmax=1,
            gid=f"heatmap:{v}",
            rasterized=True,  # thousands of cells: one image, not one vector path per cell
        )
        dates = timeline_frame(run.scenarios[v]).set_index("site")["ehr_go_live"]
        rows = [i for i, s in enumerate(sites) if s in dates.index]
        ax.plot(
            [dates[sites[i]] for i in rows],
            np.array(rows) + 0.5,
            ls="",
            marker="|",
            ms=7,
            mew=1.5,
            color="black",
            gid=f"golive:{v}",
        )
        ax.set_yticks(np.arange(len(sites)) + 0.5, sites, fontsize=7 if len(sites) > 15 else 8.5)
        ax.set_ylim(len(sites), 0)
        ax.grid(False)
        ax.set_title(
            f"{run.label(v)}: weeks in which one unit of the site had more than "
            f"{_value(limit)} late abnormal results"
            + (" over no cutover" if worst.startswith("excess_") else ""),
            color=run.colour(v),
        )
        ax.set_ylabel("site")
    _month_axis(axes[-1])
    fig.colorbar(
        mesh,
        ax=list(axes),
        shrink=min(1.0, 4 / len(variants) / max(1, len(sites)) ** 0.3),
        aspect=25,
        pad=0.01,
        label="probability over replications\n(0 = never, 1 = in every replication)",
    )
    fig.suptitle("Where and when late abnormal results pile up", x=0.01, ha="left")
    _footnote(
        fig,
        "Rows: sites in go-live order; columns: ISO weeks (Monday to Sunday); black tick: the "
        "site's go-live; grey: no data.",
        run.caption(),
    )
    return fig


# ------------------------------------------------------------------------------ 4. differences


@styled
def differences_chart(run: Run, baseline: str | None = None) -> Figure:
    """Paired difference (variant - baseline) per KPI with its 95% interval, one row per KPI.

    KPIs have different units, so each row has its own scale; the text beside each dot
    gives the difference also as a share of the baseline's mean.
    """
    run = load_run(run)
    variants = run.variants
    title = "How the variants differ from the baseline"
    if len(variants) < 2:
        fig = _figure(8, 2.5)
        fig.suptitle(title, x=0.01, ha="left")
        _message(
            fig,
            f"This run has one variant ({run.label(variants[0])}): there is nothing to compare.",
        )
        _footnote(fig, run.caption())
        return fig
    comparison = compare_run(run.path, baseline and run.check_variant(baseline))
    base = comparison.baseline
    others = [v for v in variants if v != base]
    rows = comparison.kpis
    fig = _figure(10, 1.3 + len(rows) * (0.32 * len(others) + 0.85))
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, kc in zip(axes, rows, strict=True):
        kpi = KPIS[kc.kpi]
        base_mean = next(vk.estimate.mean for vk in kc.variants if vk.variant == base)
        reach = [0.0]
        for i, d in enumerate(kc.differences):
            e = d.paired
            has_ci = not math.isnan(e.low)
            err = [[e.mean - e.low], [e.high - e.mean]] if has_ci else None
            ax.errorbar(
                [e.mean],
                [i],
                xerr=err,
                fmt="o",
                color=run.colour(d.variant),
                ms=6,
                capsize=3,
                elinewidth=1.4,
                gid=f"difference:{kc.kpi}:{d.variant}",
            )
            reach += [e.low, e.high] if has_ci else [e.mean]
            ax.annotate(
                _difference_text(e, base_mean, kpi.higher_is_better),
                (e.high if has_ci else e.mean, i),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                bbox={"fc": "white", "ec": "none", "pad": 1, "alpha": 0.85},
            )
        ax.axvline(0, color="#222222", lw=1)
        span = max(abs(min(reach)), abs(max(reach))) or 1.0
        ax.set_xlim(-1.15 * span, 2.2 * span)  # room on the right for the text
        ax.set_yticks(range(len(others)), [run.label(v) for v in others])
        ax.set_ylim(len(others) - 0.4, -0.6)
        better = "higher" if kpi.higher_is_better else "lower"
        ax.set_title(f"{kpi.display_name()} ({better} is better)", fontsize=9.5)
        ax.set_xlabel(f"difference in {kc.unit}, variant − {run.label(base)}", fontsize=8)
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
        _thousands(ax, "x")
    fig.suptitle(f"{title} ({run.label(base)})", x=0.01, ha="left")
    one = comparison.replications < 2
    _footnote(
        fig,
        "Dot: mean over replications of (variant − baseline), paired by replication (common "
        "random numbers); whiskers: 95% confidence interval. Each row has its own scale."
        + (" One replication only: no intervals." if one else ""),
        run.caption(),
    )
    return fig


def _difference_text(e: Estimate, base_mean: float, higher_is_better: bool) -> str:
    """The difference in words beside its dot: size, share of the baseline, interval, verdict."""
    if e.n >= 2 and e.low == e.high == 0:
        return "no difference in any replication"
    share = f" ({signed(100 * e.mean / base_mean)}%)" if base_mean else ""
    if math.isnan(e.low):
        return f"{signed(e.mean)}{share}, one replication: no interval"
    verdict = "cannot be told apart"
    if e.low > 0 or e.high < 0:
        verdict = "better" if (e.mean > 0) == higher_is_better else "worse"
    return f"{signed(e.mean)}{share}; 95% CI {signed(e.low)} to {signed(e.high)}: {verdict}"


# ------------------------------------------------------------------------------ 5. staff hours

# Activities shown on their own; the remaining ledger activities are folded into "other".
NAMED = {
    "signing": "signing results",
    "dual_system": "dual-system switching",
    "lookup": "legacy look-ups",
    "messages": "other inbox messages",
    "back_entry": "back-entry",
    "migration": "migration",
    "relabelling": "relabelling",
}
WEEK = dt.timedelta(days=6)  # bar width: a gap between weeks
CATEGORY_COLOURS = (
    "#9ecae1", "#e6550d", "#fdae6b", "#c6dbef", "#756bb1", "#74c476", "#c994c7", "#bdbdbd"
)  # fmt: skip


def hour_categories() -> dict[str, list[str]]:
    """Chart category -> ``region_days`` columns; together exactly the worked-hours ledger."""
    ledger = [h for h in HOURS if h not in ("overtime_hours", "worked_hours")]
    named = {label: [f"{a}_hours"] for a, label in NAMED.items()}
    rest = [h for h in ledger if h.removesuffix("_hours") not in NAMED]
    words = ", ".join(h.removesuffix("_hours").replace("_", " ") for h in rest)
    return {**named, f"other ({words})": rest}


@styled
def staff_hours_chart(run: Run) -> Figure:
    """Staff hours per ISO week by activity, mean over replications, one panel per variant.

    Overtime is not an activity but time beyond the session spent on the activities (mostly
    signing), so it is already inside the stacked bars; a thin panel under each variant
    shows how much of it there was, rather than stacking it twice.
    """
    run = load_run(run)
    days = run.table("region_days")
    variants = run.variants
    categories = hour_categories()
    columns = [c for cols in categories.values() for c in cols] + ["overtime_hours"]
    weekly = (
        days.assign(week=days["date"].dt.to_period("W-SUN").dt.start_time)
        .groupby(["variant", "replication", "week"])[columns]
        .sum()
        .groupby(["variant", "week"])
        .mean()
    )
    fig = _figure(11, 1.4 + 3.3 * len(variants))
    axes = fig.subplots(2 * len(variants), 1, sharex=True, height_ratios=[3.2, 1] * len(variants))
    stacks, extra = axes[0::2], axes[1::2]
    for ax in [*stacks[1:], *extra[1:]]:
        ax.sharey(stacks[0] if ax in stacks else extra[0])
    for v, ax, ot in zip(variants, stacks, extra, strict=True):
        table = weekly.loc[v]
        x = table.index.to_numpy()
        bottom = np.zeros(len(table))
        for (label, cols), colour in zip(categories.items(), CATEGORY_COLOURS, strict=True):
            height = table[cols].sum(axis=1).to_numpy()
            ax.bar(x, height, width=WEEK, bottom=bottom, align="edge", color=colour, label=label)
            bottom += height
        ax.set_gid(f"hours:{v}")
        ax.set_title(f"{run.label(v)}: all worked hours per week, by activity", color=run.colour(v))
        ax.set_ylabel("staff hours per week")
        _thousands(ax)
        ot.bar(x, table["overtime_hours"], width=WEEK, align="edge", color="#444444")
        ot.set_gid(f"overtime:{v}")
        ot.set_title("of which overtime (already inside the bars above)", fontsize=8.5, color=GREY)
        ot.set_ylabel("hours\nper week", fontsize=8)
        _thousands(ot)
    stacks[0].set_xlim(
        weekly.index.get_level_values("week").min(), days["date"].max() + pd.Timedelta(days=1)
    )
    _month_axis(extra[-1])
    handles = [
        Patch(color=c, label=textwrap.fill(k, 24))
        for k, c in zip(categories, CATEGORY_COLOURS, strict=True)
    ]
    handles.append(Patch(color="#444444", label="overtime"))
    fig.legend(handles=handles, loc="outside right upper", labelspacing=0.8)
    fig.suptitle("Where staff time goes, week by week", x=0.01, ha="left")
    _footnote(
        fig,
        "Mean over replications of each ISO week's total (Monday to Sunday), all units. The "
        "stacked activities add up to all worked hours, overtime included.",
        run.caption(),
    )
    return fig


# ------------------------------------------------------------------------------ 6. schedule

EVENT_COLOUR = "#c0392b"
LOCK_GREY = "#777777"


def _schedule_marks(colour: str) -> list[tuple[str, str, float, dict[str, Any]]]:
    """(timeline column, legend text, row offset, marker style), drawn in this order so
    that same-day switches nest: the LIS diamond around the ordering square around the dot."""
    return [
        (
            "lab_lis_switch",
            "lab's LIS switch",
            0.0,
            {"marker": "D", "mfc": "white", "mec": "#333333", "ms": 10},
        ),
        (
            "ros_switch",
            "lab ordering switch",
            0.0,
            {"marker": "s", "mfc": colour, "mec": "black", "ms": 6.5, "mew": 0.8},
        ),
        ("ehr_go_live", "EHR go-live", 0.0, {"marker": "o", "color": "black", "ms": 3.8}),
        (
            "record_locked",
            "legacy record locked",
            -0.36,
            {"marker": "v", "color": LOCK_GREY, "ms": 4},
        ),
        (
            "client_locked",
            "legacy client locked",
            0.36,
            {"marker": "^", "color": LOCK_GREY, "ms": 4},
        ),
    ]


@styled
def schedule_chart(source: Run | LoadedScenario, variant: str | None = None) -> Figure:
    """The switch schedule per site: dual-system window as a bar, switches and locks as marks.

    Drawn from :func:`sim.schedule.table.timeline_frame`, the dates the model runs on; from a run it
    shows ``variant`` (default: the first), or a scenario loaded in a notebook as it is.
    """
    if isinstance(source, LoadedScenario):
        sc, colour = source, PALETTE[0]
        name = sc.variant or sc.model.name
        caption = f"{sc.model.title} · {sc.path.name}"
    else:
        run = load_run(source)
        variant = run.check_variant(variant) if variant else run.variants[0]
        sc, colour, caption = run.scenarios[variant], run.colour(variant), run.caption()
        name = run.label(variant)
    tl = timeline_frame(sc)
    rows = np.arange(len(tl))
    fig = _figure(12, 2.6 + 0.24 * max(len(tl), 6))
    ax = fig.subplots()
    window = tl["coexistence_days"] > 0
    ax.barh(
        rows[window],
        [dt.timedelta(days=int(d)) for d in tl.loc[window, "coexistence_days"]],
        left=list(tl.loc[window, "ehr_go_live"]),
        height=0.56,
        color=colour,
        alpha=0.45,
        gid="dual-window",
    )
    drain = tl["client_locked"].notna() & tl["drain_until"].notna()
    ax.hlines(
        rows[drain] + 0.36,
        list(tl.loc[drain, "client_locked"]),
        list(tl.loc[drain, "drain_until"]),
        color=LOCK_GREY,
        lw=1.0,
    )
    handles: list[Artist] = []
    if window.any():
        text = "dual-system window (EHR live,\nlabs still ordered in legacy)"
        handles.append(Patch(color=colour, alpha=0.45, label=text))
    for column, label, offset, style in _schedule_marks(colour):
        have = tl[column].notna()
        ax.plot(list(tl.loc[have, column]), rows[have] + offset, ls="", gid=column, **style)
        handles.append(Line2D([], [], ls="", label=label, **style))
    handles.append(
        Line2D([], [], color=LOCK_GREY, lw=1.0, label="legacy client drained after its lock")
    )
    events: dict[str, Artist] = {}  # legend entry per kind of event present
    for row, text in zip(rows, tl["events"], strict=True):
        for event in filter(None, text.split("; ")):
            kind, _, span = event.partition(" ")
            start, _, until = span.partition("..")
            begin = dt.date.fromisoformat(start)
            label = kind.replace("_", " ")
            if until:
                end = dt.date.fromisoformat(until) + dt.timedelta(days=1)
                style = {"fill": False, "hatch": "////", "edgecolor": EVENT_COLOUR, "lw": 0.8}
                ax.barh(row, end - begin, left=begin, height=0.8, gid=f"event:{kind}", **style)
                events.setdefault(f"{label} (period)", Patch(label=f"{label} (period)", **style))
            else:
                style = {"ls": "", "marker": "X", "color": EVENT_COLOUR, "ms": 8}
                ax.plot([begin], [row], gid=f"event:{kind}", **style)
                events.setdefault(label, Line2D([], [], label=label, **style))
    handles += events.values()
    labels = [f"{s} ({c})" if c > 1 else s for s, c in zip(tl["site"], tl["count"], strict=True)]
    ax.set_yticks(rows, labels, fontsize=7.5 if len(tl) > 20 else 8.5)
    ax.set_ylim(len(tl) - 0.4, -0.6)
    ax.set_ylabel("site (number of units)")
    ax.grid(axis="x")
    ax.grid(axis="y", visible=False)
    ax.set_xlim(sc.model.horizon.start, sc.model.horizon.end)
    _month_axis(ax)
    fig.legend(handles=handles, loc="outside upper center", ncols=4)
    ax.set_title(f"Switch schedule per site: {name}", fontsize=12, fontweight="bold")
    _footnote(
        fig, "Rows in go-live order; (n): the number of units a site entry stands for.", caption
    )
    return fig


# ------------------------------------------------------------------------------ signals

WATCHED = {
    "overdue_critical_rise_per_100": (
        "overdue critical results, rise over the eve of go-live",
        "overdue_critical",
    ),
    "overdue_abnormal_rise_per_100": (
        "overdue abnormal results, rise over the eve of go-live",
        "overdue_abnormal",
    ),
    "backlog_growth_3d_per_100": ("backlog growth over 3 days", "backlog_growth_3d"),
    "overtime_hours": ("overtime hours (no level)", None),
}


@styled
def signals_chart(run: Run) -> Figure:
    """What a command centre sees after each go-live, per area and day: the median over
    replications of each stop-rule signal (per 100 signers of the area), with the stop
    rule's level as a dashed line; a panel per signal, a column per variant, a line per
    area. Days the rule does not watch are left blank."""
    run = load_run(run)
    if "area_days" not in RunFolder.open(run.path).tables():
        fig = _figure(11, 2)
        _message(fig, "This run has no command-centre signals (it predates the stop rule).")
        return fig
    days = run.table("area_days")
    variants = run.variants
    fig = _figure(4.2 * len(variants) + 1.5, 2.3 * len(WATCHED) + 1)
    axes = np.atleast_2d(fig.subplots(len(WATCHED), len(variants), sharex="col", squeeze=False))
    for j, v in enumerate(variants):
        rule = run.scenarios[v].model.stop_rule
        mine = days[(days["variant"] == v) & days["watched"]]
        for i, (column, (label, level_name)) in enumerate(WATCHED.items()):
            ax = axes[i, j]
            areas = mine.groupby("area", sort=True) if column in mine else []  # older runs lack it
            for k, (area, rows) in enumerate(areas):
                median = rows.groupby("date")[column].median()
                full = median.reindex(pd.date_range(median.index.min(), median.index.max()))
                ax.plot(full.index, full.to_numpy(), lw=1.1, color=PALETTE[k % len(PALETTE)],
                        label=str(area), gid=f"signal:{v}:{column}:{area}")  # fmt: skip
            level = getattr(rule, level_name) if level_name else None
            if level is not None:
                ax.axhline(level, color="#C00000", lw=1, ls=(0, (5, 3)), gid=f"level:{v}:{column}")
            ax.set_title(f"{v}: {label}" if i == 0 else label, fontsize=9, loc="left")
            if j == 0:
                ax.set_ylabel("per 100 signers" if level_name else "hours")
            _thousands(ax)
        axes[-1, j].xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%Y"))
        axes[-1, j].tick_params(axis="x", labelsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="#C00000", lw=1, ls=(0, (5, 3))))
    labels.append("stop-rule level")
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 6))
    _footnote(
        fig,
        "Median over replications of each area's end-of-day count on the days the stop rule "
        "watches (from each planned go-live); the rule trips when a signal exceeds its level.",
        run.caption(),
    )
    return fig


# ------------------------------------------------------------------------------ output

# Name -> (chart, caption for a report): the order a reader meets them in.
CHARTS: dict[str, tuple[Callable[[RunData], Figure], str]] = {
    "schedule": (
        schedule_chart,
        "The switch schedule of the first variant: when each site goes live, when its lab "
        "ordering and its lab follow, and how long it signs in two systems.",
    ),
    "fan-backlog": (
        fan_chart,
        "Unsigned results over time: median and the spread over replications, with each "
        "variant's go-live dates and coexistence windows.",
    ),
    "fan-late-abnormal": (
        functools.partial(fan_chart, metric="late_abnormal"),
        "Abnormal results going late each day, with the same dates and windows.",
    ),
    "heatmap": (
        heatmap,
        "Where and when: the probability that a site's worst unit exceeds the site-week "
        "threshold for late abnormal results, week by week.",
    ),
    "exceedance": (
        exceedance_chart,
        "The risk of exceeding each threshold: the share of replications above any value.",
    ),
    "differences": (
        differences_chart,
        "Each variant against the baseline, paired by replication, with 95% intervals.",
    ),
    "staff-hours": (
        staff_hours_chart,
        "Where staff time goes each week, by activity, and how much of it is overtime.",
    ),
    "signals": (
        signals_chart,
        "What a command centre sees after each go-live, per area, with the stop rule's levels.",
    ),
}


# ------------------------------------------------------------------- sweeps and decisions


def swept(run: Run) -> pd.DataFrame:
    """Each variant's values of the fields its run varies (one column per varied path, rows
    in run order); empty when the variants do not differ in a numeric field.

    A variant's fields come from its ``--grid``/``--set``-style overrides and from the patch of
    the declared variant it applies (the ``sweep:`` block's included), as the plan saved them.
    """
    from sim.scenario.loading import load_doc, variant_patches

    run = load_run(run)
    plan = run.manifest.get("plan") or {}
    try:
        patches = variant_patches(load_doc(Path(plan["scenario_file"])).data)
    except (KeyError, OSError, ValueError, TypeError):
        patches = {}
    rows = {}
    for v in plan.get("variants", []):
        values: dict[str, Any] = {}
        patch = patches.get(v.get("declared") or "", {})
        if isinstance(patch, dict):
            values.update({k: x for k, x in patch.items() if k != "description"})
        for item in v.get("overrides", ()):
            key, _, raw = str(item).partition("=")
            values[key.strip()] = yaml.safe_load(raw)
        rows[v["name"]] = values
    frame = pd.DataFrame.from_dict(rows, orient="index")
    keep = [
        c
        for c in frame.columns
        if frame[c].notna().all()
        and all(isinstance(x, int | float) and not isinstance(x, bool) for x in frame[c])
        and frame[c].nunique() > 1
    ]
    present = [v for v in run.variants if v in frame.index]
    return frame.loc[present, keep].astype(float)


def _target_kpis(columns: Sequence[str], kpis: Sequence[str]) -> list[str]:
    """Each KPI's excess form (against the no-cutover twin) when the run has it."""
    return [
        f"excess_{k}" if f"excess_{k}" in columns else k
        for k in kpis
        if k in columns or f"excess_{k}" in columns
    ]


@styled
def sweep_chart(run: Run, kpis: Sequence[str] = KEY_KPIS) -> Figure:
    """Each key KPI (its excess form when the run has one) against the swept value: mean over
    replications with its 95% confidence band; one line per value of a second swept field."""
    run = load_run(run)
    values = swept(run)
    table = run.table("kpis")
    names = _target_kpis(list(table.columns), kpis)
    fig = _figure(3.6 * max(len(names), 1), 3.4)
    if values.empty or not names:
        _message(fig, "This run does not vary a numeric field across its variants.")
        return fig
    x_path, *rest = list(values.columns)
    groups = values.groupby(rest[0]) if rest else [(None, values)]
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        for g, (key, part) in enumerate(groups):
            part = part.sort_values(x_path)
            est = [
                t_interval(table.loc[table["variant"] == v, name].to_numpy()) for v in part.index
            ]
            x = part[x_path].to_numpy()
            mean = np.array([e.mean for e in est])
            low = np.array([e.low for e in est])
            high = np.array([e.high for e in est])
            colour = PALETTE[g % len(PALETTE)]
            label = None if key is None else f"{rest[0].split('.')[-1]} = {_value(key)}"
            ax.plot(x, mean, marker="o", color=colour, label=label)
            if np.isfinite(low).all():
                ax.fill_between(x, low, high, color=colour, alpha=0.2, linewidth=0)
        kpi = KPIS.get(name.removeprefix("excess_"))
        words = kpi.words() if kpi else name.replace("_", " ")
        ax.set_title(("excess " if name.startswith("excess_") else "") + words)
        ax.set_xlabel(x_path.split(".")[-1].replace("_", " "))
        ax.set_ylabel(kpi.unit if kpi else "")
        _thousands(ax)
        if rest:
            ax.legend(fontsize=7)
    _footnote(fig, "Mean over replications with its 95% confidence band.", run.caption())
    return fig


def _decision(run: str | Path, name: str) -> dict[str, Any]:
    """The JSON a decision tool wrote into its run folder (``sensitivity``, ``optimise``)."""
    import json

    path = Path(run.path if isinstance(run, RunData) else run) / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"{path.parent} is not a {name} run (no {path.name})")
    return json.loads(path.read_text(encoding="utf-8"))


@styled
def sensitivity_chart(run: Run) -> Figure:
    """A sensitivity run's indices: Morris mu* against sigma (mu* with its 95% interval), or
    Sobol first-order and total indices as bars with their intervals. The dummy is grey."""
    data = _decision(run, "sensitivity")
    rows = data["indices"]
    fig = _figure(7.5, 0.9 + 0.32 * len(rows) if data["method"] == "sobol" else 5.0)
    ax = fig.subplots()
    kpi = data["kpi"]
    if data["method"] == "morris":
        for r in rows:
            colour = GREY if r["kind"] == "dummy" else PALETTE[0]
            ax.errorbar(r["mu_star"], r["sigma"], xerr=r["mu_star_conf"] or 0, fmt="o",
                        color=colour, ms=4, elinewidth=0.8, capsize=2)  # fmt: skip
        for r in rows[:10]:
            ax.annotate(r["input"], (r["mu_star"], r["sigma"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
        ax.set_xlabel(f"mu* (mean |elementary effect| on {kpi})")
        ax.set_ylabel("sigma (interaction or non-linearity)")
        note = "Far right: inputs that move the KPI most; high: their effect depends on others."
    else:
        y = np.arange(len(rows))[::-1]
        for offset, key, colour in ((0.18, "S1", PALETTE[0]), (-0.18, "ST", PALETTE[1])):
            vals = [r[key] or 0.0 for r in rows]
            errs = [r[f"{key}_conf"] or 0.0 for r in rows]
            ax.barh(y + offset, vals, height=0.34, xerr=errs, color=colour, label=key,
                    error_kw={"elinewidth": 0.8, "capsize": 2})  # fmt: skip
        ax.set_yticks(y, [r["input"] for r in rows], fontsize=7)
        ax.set_xlabel(f"share of the variance of {kpi}")
        ax.legend(["first order (S1)", "total (ST)"], fontsize=8)
        note = "S1: the input alone; ST: with all its interactions. Bars: 95% intervals."
    _footnote(fig, note, f"{data['method'].title()} indices of {kpi}")
    return fig


@styled
def optimise_chart(run: Run) -> Figure:
    """Every candidate of an optimise run: the objective and the risk P(KPI > x) with their
    95% intervals, the risk limit, and the chosen candidate marked."""
    data = _decision(run, "optimise")
    rows = sorted(data["candidates"], key=lambda r: list(r["values"].values()))
    best = (data.get("best") or {}).get("name")
    limit = float(data["constraint"].rsplit("<=", 1)[1])
    fig = _figure(max(7.0, 0.7 * len(rows) + 3), 3.8)
    left, right = fig.subplots(1, 2)
    x = np.arange(len(rows))
    for ax, (mid, low, high), title in (
        (left, ("mean", "low", "high"), f"objective: {data['objective']}"),
        (right, ("p_exceed", "p_low", "p_high"), data["constraint"]),
    ):
        for i, r in enumerate(rows):
            colour = PALETTE[1] if r["name"] == best else (GREY if r["status"] != "feasible"
                                                          else PALETTE[0])  # fmt: skip
            lo = r[mid] - r[low] if r[low] == r[low] else 0
            hi = r[high] - r[mid] if r[high] == r[high] else 0
            ax.errorbar(i, r[mid], yerr=[[lo], [hi]], fmt="o", color=colour, capsize=3)
        ax.set_xticks(x, [r["name"] for r in rows], rotation=30, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
    right.axhline(limit, color=PALETTE[1], linestyle="--", linewidth=1)
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    verdict = f"chosen: {best}" if best else "no candidate meets the constraint"
    _footnote(fig, f"Orange: chosen; grey: infeasible or undecided. {verdict}.", data["reason"])
    return fig


def schedule_variants(run: Run) -> list[str]:
    """The first variant and every other one whose dates differ from it (each gets its own
    schedule chart; variants that change only, say, staffing share the first one's)."""
    run = load_run(run)
    first, *others = run.variants
    dates = timeline_frame(run.scenarios[first])
    return [first] + [v for v in others if not timeline_frame(run.scenarios[v]).equals(dates)]


def all_charts(run: Run) -> dict[str, tuple[Figure, str]]:
    """Every chart of the run with its caption, in reading order (for a report); the
    schedule once per variant that changes dates."""
    run = load_run(run)
    out = {}
    for name, (chart, caption) in CHARTS.items():
        if chart is not schedule_chart:
            out[name] = (chart(run), caption)
            continue
        for i, v in enumerate(schedule_variants(run)):
            key = name if i == 0 else f"{name}-{slug(v)}"
            text = caption.replace("the first variant", run.label(v))
            out[key] = (schedule_chart(run, v), text)
    return out


def save_all(
    run: Run, folder: str | Path, figures: dict[str, tuple[Figure, str]] | None = None
) -> dict[str, Path]:
    """Every chart as a PNG in ``folder`` (drawn now, or the ``figures`` of
    :func:`all_charts` already drawn); returns chart name -> file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (fig, _) in (all_charts(run) if figures is None else figures).items():
        out[name] = folder / f"{name}.png"
        fig.savefig(out[name], dpi=DPI)
    return out


def to_svg(fig: Figure) -> str:
    """The figure as inline SVG for an HTML page: text as paths, images embedded as data, no
    XML prologue or DOCTYPE (an ``<svg>`` inside HTML must not have them). The only ``url()``
    and ``href`` left are references to the SVG's own clip paths and glyphs (``#id``)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.image_inline": True}):
        fig.savefig(buf, format="svg", dpi=DPI, metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]
