"""What the cutover adds, for the report: the excess over the no-cutover twin, where and when.

The planner asks "is a 2-week or a 4-week window safer, and what does each cost?". Whole-region
totals bury the answer under ordinary days, so the report leads with the *excess* of each
variant over its replication's no-cutover twin (:mod:`sim.experiment.twin`), and with the gap
between variants measured against that excess. This module draws the excess charts (headline
intervals, a daily excess fan with the schedule and holidays marked, a site-by-week heatmap of
the difference between variants, the time-to-sign tail) and writes the HTML of the report's
excess sections; :mod:`sim.report` places them.
"""

from __future__ import annotations

import datetime as dt
import html
import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.charts import GREY, Run, _figure, _footnote, _message, _month_axis, _thousands, load_run
from sim.charts import styled as _styled
from sim.compare import Comparison, Estimate, number, signed, t_interval
from sim.experiment.twin import TWIN
from sim.metrics.excess import PHASES
from sim.metrics.kpis import KPIS
from sim.sampling.calendar import Calendar
from sim.schedule.table import timeline_frame

HEADLINE_KPIS = ("late_abnormal", "orphans", "extra_staff_hours", "overtime_hours")
PHASE_WORDS = {
    "before_go_live": "before go-live",
    "go_live_to_lab_switch": "go-live to lab-ordering switch (two systems)",
    "lab_switch_to_lock": "lab-ordering switch to legacy inbox closing",
    "after_lock": "after the legacy inbox closed",
    "rolled_back": "rolled back to legacy",
}
PHASE_SHORT = {
    "before_go_live": "before\ngo-live",
    "go_live_to_lab_switch": "two\nsystems",
    "lab_switch_to_lock": "switch to\ninbox closed",
    "after_lock": "after\ninbox closed",
    "rolled_back": "rolled\nback",
}
DIVERGING = "RdBu_r"  # red: more late results than the baseline, blue: fewer


def has_twin(run: Run) -> bool:
    """Whether the run kept a no-cutover twin (and so excess columns)."""
    run = load_run(run)
    return bool(run.manifest.get("twin")) and "excess_late_abnormal" in run.table("kpis")


def _e(text: object) -> str:
    return html.escape(str(text))


def _ci_text(e: Estimate) -> str:
    if e.n < 2 or math.isnan(e.low):
        return signed(e.mean)
    return f"{signed(e.mean)} <span class=muted>[{signed(e.low)}, {signed(e.high)}]</span>"


# -------------------------------------------------------------------------- the headline


def headline(run: Run, comparison: Comparison) -> str:
    """The report's first paragraph: what each variant's cutover adds over no cutover, with
    95% intervals, and the gap between variants as a share of what the baseline adds."""
    run = load_run(run)
    by_kpi = {k.kpi: k for k in comparison.kpis}
    late = by_kpi["late_abnormal"]
    n = comparison.replications
    parts = []
    for v in late.variants:
        e = v.excess
        assert e is not None
        orphans = next(x.excess for x in by_kpi["orphans"].variants if x.variant == v.variant)
        hours = next(
            x.excess for x in by_kpi["extra_staff_hours"].variants if x.variant == v.variant
        )
        parts.append(
            f"<b>{_e(v.variant)}</b>: {_ci_text(e)} late abnormal results, "
            f"{_ci_text(orphans)} unwatched abnormal results and {_ci_text(hours)} extra staff "
            "hours"
        )
    text = (
        f"Over the same {n} replication{'s' if n != 1 else ''}, the cutover adds, against "
        f"no cutover at all (mean and 95% CI): {'; '.join(parts)}."
    )
    base = next(v.excess for v in late.variants if v.variant == comparison.baseline)
    for d in late.differences:
        e = d.excess
        if e is None or base is None:
            continue
        share = f", {abs(e.mean) / abs(base.mean):.0%} of what {_e(comparison.baseline)}'s " \
            "cutover adds" if base.mean else ""  # fmt: skip
        clear = e.n > 1 and not math.isnan(e.low) and (e.low > 0 or e.high < 0)
        word = "more" if e.mean > 0 else "fewer"
        interval = "" if e.n < 2 else f"; 95% CI {signed(e.low)} to {signed(e.high)}"
        verdict = (
            f"<b>{_e(d.variant)} gives {number(abs(e.mean))} {word} late abnormal results "
            f"than {_e(comparison.baseline)}</b> ({signed(e.mean)}{interval}{share})"
            if clear
            else f"<b>{_e(d.variant)} and {_e(comparison.baseline)} cannot be told apart</b> "
            f"on late abnormal results (difference {signed(e.mean)}{interval}{share})"
        )
        text += f" {verdict}."
    touched = touched_share(run)
    if touched is not None:
        text += (
            f" {touched:.0%} of the late-abnormal excess falls in units and weeks the cutover "
            "touches (5 weeks before a unit's go-live to 4 weeks after its legacy inbox closes)."
        )
    return text


def touched_share(run: Run) -> float | None:
    """Share of the variants' late-abnormal excess (all variants, all replications) that
    falls in touched unit-days; None without a twin or without any excess."""
    run = load_run(run)
    cells = run.table("breakdown") if "breakdown" in _tables(run) else None
    if cells is None or "excess_late_abnormal" not in cells:
        return None
    cells = cells[cells["variant"].isin(run.variants)]
    total = cells["excess_late_abnormal"].sum()
    if not total:
        return None
    return float(cells.loc[cells["touched"], "excess_late_abnormal"].sum() / total)


def _tables(run) -> list[str]:
    return sorted(p.name for p in (run.path / "tables").iterdir() if p.is_dir())


@_styled
def excess_chart(run: Run, kpis: tuple[str, ...] = HEADLINE_KPIS) -> Figure:
    """Each variant's excess over no cutover, mean with its 95% interval, per key KPI: the
    answer the report leads with."""
    run = load_run(run)
    table = run.table("kpis")
    variants = run.variants
    fig = _figure(3.0 * len(kpis) + 0.6, 1.6 + 0.45 * len(variants))
    axes = fig.subplots(1, len(kpis), sharey=True, squeeze=False)[0]
    for ax, name in zip(axes, kpis, strict=True):
        for i, v in enumerate(variants):
            x = table.loc[table["variant"] == v, f"excess_{name}"].to_numpy(float)
            e = t_interval(x)
            colour = run.colour(v)
            y = len(variants) - 1 - i
            ax.plot([e.mean], [y], "o", color=colour, ms=7, gid=f"excess:{name}:{v}")
            if e.n > 1:
                ax.hlines(y, e.low, e.high, color=colour, lw=3, alpha=0.8)
            ax.annotate(
                number(e.mean), (e.mean, y), xytext=(0, 7), textcoords="offset points",
                ha="center", fontsize=8, color=colour,
            )  # fmt: skip
        ax.axvline(0, color=GREY, lw=0.8)
        ax.set_title(f"{KPIS[name].words()}\nadded by the cutover", fontsize=9.5)
        ax.set_xlabel(KPIS[name].unit)
        _thousands(ax, "x")
        ax.margins(x=0.25)
    axes[0].set_yticks(range(len(variants)), list(reversed(variants)))
    axes[0].set_ylim(-0.7, len(variants) - 0.3)
    fig.suptitle("What each variant's cutover adds over no cutover at all", x=0.01, ha="left")
    _footnote(
        fig,
        "Dot: mean over replications of (variant − no-cutover twin of the same replication); "
        "bar: 95% CI. 0 = no harm beyond ordinary days.",
        run.caption(),
    )
    return fig


# -------------------------------------------------------------------------- daily excess fan


def _schedule_days(run) -> dict[str, dict[str, list[dt.date]]]:
    """Per variant: its go-live, lab (LIS) switch and legacy order/result client lock dates
    (the lock that strands results; a legacy record locks at go-live)."""
    out = {}
    for v in run.variants:
        frame = timeline_frame(run.scenarios[v])
        out[v] = {
            "go-live": sorted(set(frame["ehr_go_live"])),
            "lab switch": sorted(set(frame["lab_lis_switch"])),
            "legacy client lock": sorted(set(frame["client_locked"].dropna())),
        }
    return out


#: How each kind of schedule date is drawn: colour, line style, width (distinct colours, since
#: a lock often falls on the day of the lab switch).
MARKS = {
    "go-live": ("#009E73", "-", 1.2),
    "lab switch": ("#CC79A7", (0, (5, 2)), 1.4),
    "legacy client lock": ("#222222", ":", 1.6),
}
HOLIDAY = "#E69F00"


@_styled
def excess_fan_chart(run: Run, metric: str = "late_abnormal", smooth_days: int = 7) -> Figure:
    """Daily excess (variant − twin, same replication and day) as a fan over replications,
    a panel per variant, with its go-lives, lab switches and legacy locks drawn as lines and
    public holidays shaded: where in time the cutover's harm falls."""
    run = load_run(run)
    if not has_twin(run):
        fig = _figure(10, 2)
        _message(fig, "This run has no no-cutover twin (--no-twin): no excess to draw.")
        return fig
    days = run.table("region_days")
    variants = run.variants
    marks = _schedule_days(run)
    first, last = days["date"].min(), days["date"].max()
    cal = Calendar(first.date(), last.date())
    holidays = [d for d, h in zip(cal.days, cal.holiday_mask, strict=True) if h]
    fig = _figure(11, 1.4 + 2.7 * len(variants))
    axes = fig.subplots(len(variants), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for v, ax in zip(variants, axes, strict=True):
        colour = run.colour(v)
        wide = days[days["variant"] == v].pivot(
            index="date", columns="replication", values=f"excess_{metric}"
        )
        smooth = wide.rolling(smooth_days, center=True, min_periods=1).mean().to_numpy(float)
        for low, high, alpha in ((0.05, 0.95, 0.18), (0.25, 0.75, 0.35)):
            lo, hi = np.quantile(smooth, [low, high], axis=1)
            ax.fill_between(wide.index, lo, hi, color=colour, alpha=alpha, lw=0)
        ax.plot(wide.index, smooth.mean(axis=1), color=colour, lw=1.3, gid=f"excess_mean:{v}")
        ax.axhline(0, color=GREY, lw=0.7)
        for d in holidays:
            ax.axvspan(d, d + dt.timedelta(days=1), color=HOLIDAY, alpha=0.2, lw=0)
        for kind, dates in marks[v].items():
            line, style, width = MARKS[kind]
            for d in dates:
                if first.date() <= d <= last.date():
                    ax.axvline(d, color=line, ls=style, lw=width, alpha=0.85, gid=kind)
        ax.set_title(f"{v}: {KPIS[metric].words()} added by the cutover, per day", color=colour)
        ax.set_ylabel(f"excess per day\n({smooth_days}-day mean)")
        _thousands(ax)
    axes[0].set_xlim(first, last)
    _month_axis(axes[-1])
    handles = [
        Line2D([], [], color="#333333", lw=1.3, label="mean of replications"),
        Patch(color="#333333", alpha=0.35, label="middle 50%"),
        Patch(color="#333333", alpha=0.18, label="middle 90%"),
        *[Line2D([], [], color=c, ls=ls, lw=w, label=k) for k, (c, ls, w) in MARKS.items()],
        Patch(color=HOLIDAY, alpha=0.35, label="public holiday"),
    ]
    fig.legend(handles=handles, loc="outside upper center", ncols=4)
    _footnote(
        fig,
        f"Each replication's daily {KPIS[metric].words()} minus its no-cutover twin's on the "
        f"same day, averaged over {smooth_days} days; 0 = what would have happened anyway.",
        run.caption(),
    )
    return fig


# -------------------------------------------------------------------- difference heatmap


@_styled
def difference_heatmap(run: Run, baseline: str | None = None, top: int = 40) -> Figure:
    """Site x ISO week: mean over replications of (variant − baseline) late abnormal results,
    a panel per other variant; the ``top`` sites with the largest absolute difference."""
    run = load_run(run)
    variants = run.variants
    baseline = baseline or variants[0]
    others = [v for v in variants if v != baseline]
    if not others:
        fig = _figure(10, 2)
        _message(fig, "One variant only: no difference between variants to draw.")
        return fig
    weeks = run.table("site_weeks")
    sums = weeks.groupby(["variant", "replication", "site", "week"], observed=True)[
        "late_abnormal"
    ].sum()
    base = sums.xs(baseline, level="variant")
    fig = _figure(11, 1.6 + 4.6 * len(others))
    axes = fig.subplots(len(others), 1, squeeze=False)[:, 0]
    for v, ax in zip(others, axes, strict=True):
        diff = (sums.xs(v, level="variant") - base).groupby(["site", "week"]).mean()
        grid = diff.unstack("week").fillna(0.0)
        order = grid.abs().sum(axis=1).sort_values(ascending=False).index[:top]
        grid = grid.loc[order]
        big = 0.05 * float(np.abs(grid.to_numpy()).max())  # weeks that differ visibly
        moved = grid.columns[(grid.abs() > big).any(axis=0).to_numpy()]
        grid = grid[moved] if len(moved) else grid
        limit = max(float(np.abs(grid.to_numpy()).max()), 0.5)
        image = ax.imshow(
            grid.to_numpy(), aspect="auto", cmap=DIVERGING, vmin=-limit, vmax=limit,
            interpolation="nearest",
        )  # fmt: skip
        ax.set_yticks(range(len(grid)), grid.index, fontsize=7)
        cols = list(grid.columns)
        step = max(1, len(cols) // 14)
        ax.set_xticks(range(0, len(cols), step), [f"{c:%Y-%m-%d}" for c in cols[::step]])
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.grid(False)
        ax.set_title(
            f"{v} − {baseline}: late abnormal results per site and week (red: more with {v})",
            fontsize=10,
        )
        fig.colorbar(image, ax=ax, label="mean difference per week", shrink=0.8)
    _footnote(
        fig,
        "Paired by replication (same random numbers). Only weeks in which some site differs by "
        f"5% of the largest cell or more, and the {top} sites with the largest total absolute "
        "difference, are shown.",
        run.caption(),
    )
    return fig


# -------------------------------------------------------------------------- time to sign


@_styled
def time_to_sign_chart(run: Run, severity: str = "abnormal") -> Figure:
    """Median and 90th percentile of ready-to-signed hours by phase and site kind, per
    variant and for the twin: the tail, not the median, is where dual signing shows. The
    99th percentile (in the table) lies among the results put aside at first read
    (:mod:`sim.model.overlooked`, one in ten), weeks in every phase with or without a
    cutover, so the chart shows the 90th, where the cutover's delays are."""
    run = load_run(run)
    tts = run.table("time_to_sign")
    tts = tts[tts["severity"] == severity]
    shown = run.variants + ([TWIN] if (tts["variant"] == TWIN).any() else [])
    kinds = sorted(tts["kind"].unique())
    fig = _figure(3.6 * len(kinds) + 2.8, 4.6)
    axes = fig.subplots(1, len(kinds), sharey=False, squeeze=False)[0]
    phases = [p for p in PHASES if (tts["phase"] == p).any()]
    width = 0.8 / len(shown)
    for ax, kind in zip(axes, kinds, strict=True):
        mine = tts[tts["kind"] == kind].groupby(["variant", "phase"])[["p50_h", "p90_h"]].mean()
        for i, v in enumerate(shown):
            colour = "#999999" if v == TWIN else run.colour(v)
            for j, p in enumerate(phases):
                if (v, p) not in mine.index:
                    continue
                p50, p90 = mine.loc[(v, p)]
                x = j + (i - (len(shown) - 1) / 2) * width
                ax.bar(x, p90, width * 0.9, color=colour, alpha=0.45)
                ax.plot([x - width * 0.4, x + width * 0.4], [p50, p50], color=colour, lw=2)
        ax.set_xticks(range(len(phases)), [PHASE_SHORT[p] for p in phases])
        ax.tick_params(axis="x", labelsize=7.5)
        ax.set_title(kind.replace("_", " "), fontsize=10)
        ax.set_ylabel("hours from ready to signed")
    handles = [
        Patch(color="#999999" if v == TWIN else run.colour(v), alpha=0.6, label=v) for v in shown
    ]
    handles.append(Line2D([], [], color="#333333", lw=2, label="median"))
    handles.append(Patch(color="#333333", alpha=0.45, label="90th percentile (bar)"))
    fig.legend(handles=handles, loc="outside right upper")
    fig.suptitle(f"Time to sign {severity} results: median and 90th percentile", x=0.01, ha="left")
    _footnote(
        fig,
        "Percentiles per replication, averaged over replications; phase of the unit when the "
        "result was ready. The 99th percentile (table time_to_sign) falls among results put "
        "aside at first read, weeks in every phase.",
        "The no-cutover twin shows every unit's ordinary days.",
        run.caption(),
    )
    return fig


# -------------------------------------------------------------------------- tables


def breakdown_table(run: Run, by: str, measure: str = "late_abnormal") -> pd.DataFrame:
    """Per variant and value of ``by`` (stage, area, kind, phase or touched): the mean excess
    per replication with its 95% interval, and each variant's paired difference from the
    first variant (the window effect per ``by``)."""
    run = load_run(run)
    cells = run.table("breakdown")
    variants = run.variants
    per_rep = (
        cells[cells["variant"].isin(variants)]
        .groupby(["variant", by, "replication"], observed=True)[f"excess_{measure}"]
        .sum()
    )
    full = per_rep.unstack("replication", fill_value=0.0)  # a missing cell is 0 excess
    rows = []
    for (v, key), values in full.iterrows():
        e = t_interval(values.to_numpy(float))
        row = {"variant": v, by: key, "mean": e.mean, "low": e.low, "high": e.high, "n": e.n}
        if v != variants[0] and (variants[0], key) in full.index:
            d = t_interval((values - full.loc[(variants[0], key)]).to_numpy(float))
            row |= {"diff_mean": d.mean, "diff_low": d.low, "diff_high": d.high}
        rows.append(row)
    return pd.DataFrame(rows)


def sections_html(run: Run, comparison: Comparison) -> str:
    """The report's excess sections: the tables of where and when the excess falls, and the
    time-to-sign tail, after the headline and its chart."""
    run = load_run(run)
    out = []
    base = run.variants[0]
    for by, title in (
        ("phase", "By phase of the unit's cutover"),
        ("stage", "By stage"),
        ("area", "By area"),
        ("kind", "By site kind"),
    ):
        table = breakdown_table(run, by)
        if table.empty:
            continue
        has_diff = "diff_mean" in table
        label = run.label
        head = f"<th class=text>{_e(by)}</th>"
        head += "".join(f"<th>{_e(label(v))}</th>" for v in run.variants)
        if has_diff:
            diffs = (f"<th>{_e(label(v))} − {_e(label(base))}</th>" for v in run.variants[1:])
            head += "".join(diffs)
        body = []
        for key, group in table.groupby(by, sort=True):
            label = PHASE_WORDS.get(str(key), str(key)) if by == "phase" else key
            if by == "stage":
                label = "none" if int(key) < 0 else f"stage {int(key)}"
            cells = [f"<td class=text>{_e(label)}</td>"]
            g = group.set_index("variant")
            for v in run.variants:
                cells.append(f"<td>{_ci_text(_est(g, v, ''))}</td>" if v in g.index else "<td>")
            if has_diff:
                for v in run.variants[1:]:
                    ok = v in g.index and not pd.isna(g.loc[v].get("diff_mean"))
                    cells.append(f"<td>{_ci_text(_est(g, v, 'diff_'))}</td>" if ok else "<td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        table_html = f"<table><tr>{head}</tr>{''.join(body)}</table>"
        out.append(f"<h3>{_e(title)}</h3><div class=scroll>{table_html}</div>")  # wide sweeps
    warnings = [k.warning for k in comparison.kpis if k.warning]
    if warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
        out.append(f"<p><b>Thresholds that do not separate the variants:</b></p><ul>{items}</ul>")
    return (
        "<p>Late abnormal results added by the cutover per run (mean over replications and "
        "95% CI), and the difference between variants, paired by replication.</p>" + "".join(out)
    )


def _est(g: pd.DataFrame, v: str, prefix: str) -> Estimate:
    row = g.loc[v]
    return Estimate(row[f"{prefix}mean"], row[f"{prefix}low"], row[f"{prefix}high"], int(row["n"]))


#: Excess charts in reading order, with their report captions.
CHARTS = {
    "excess": (
        excess_chart,
        "What the cutover adds over no cutover at all, per variant, with 95% intervals.",
    ),
    "excess_fan": (
        excess_fan_chart,
        "Late abnormal results added by the cutover per day, with go-lives, lab switches, "
        "legacy locks and public holidays marked.",
    ),
    "difference_heatmap": (
        difference_heatmap,
        "Where and when the variants differ: late abnormal results per site and week, "
        "variant minus baseline.",
    ),
    "time_to_sign": (
        time_to_sign_chart,
        "How long abnormal results wait to be signed, by phase and site kind: median and tail.",
    ),
}
