"""The one-file HTML report of a run, for managers: summary, charts, KPIs, assumptions.

``write_report(run_dir)`` writes ``report.html`` into the run folder: one self-contained file
(charts as inline SVG, styles inline, no scripts, no network fetches) that opens from an
e-mail attachment, plus a PNG of every chart in ``charts/`` for slides. It opens with one
paragraph in plain words: which variant is safer, by how much (with its 95% interval) and at
what cost in staff hours. It ends with a model-reporting section in the spirit of STRESS-DES
(Monks et al. 2019), generated from the manifest so that it cannot drift from the run.
"""

from __future__ import annotations

import html
import math
import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from sim import attribution, charts
from sim.compare import (
    KEY_KPIS,
    Comparison,
    Estimate,
    compare_run,
    default_baseline,
    number,
    signed,
    t_interval,
)
from sim.labels import legend, needs_legend, run_labels
from sim.metrics.kpis import KPIS
from sim.results import frame

REPORT = "report.html"
SAFETY_KPI = "late_abnormal"
COST_KPIS = ("extra_staff_hours", "overtime_hours")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;
margin:2rem auto;padding:0 1rem;color:#1d2330;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #d0d5de}
.lead{font-size:1.12rem;background:#f3f6fa;border-left:4px solid #2b6cb0;padding:.8rem 1rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.9rem;max-width:100%}
th,td{border-bottom:1px solid #e2e6ec;padding:.3rem .6rem;text-align:right;vertical-align:top;
overflow-wrap:break-word}td a{overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
th:first-child,td:first-child,td.text,th.text{text-align:left}
figure{margin:1.2rem 0}figure svg{max-width:100%;height:auto}
figcaption{color:#4a5366;font-size:.9rem}.muted{color:#5b6475;font-size:.85rem}
code{background:#f1f3f6;padding:0 .2rem}
.warning{background:#fff4e5;border-left:4px solid #c05621;padding:.6rem 1rem}
ol.ranked li{margin:.3rem 0}
@media print{body{max-width:none;margin:0;padding:0;font-size:10pt;color:#000}
a{color:inherit;text-decoration:none}.lead,.warning{background:none}
h2{break-after:avoid}figure,tr,.lead,.warning{break-inside:avoid}
figure svg{max-height:24cm}table{font-size:8.5pt}}
@page{size:A4;margin:1.5cm}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _ci(e: Estimate, pct: bool = False) -> str:
    fmt = (lambda x: f"{x:.0%}") if pct else number
    if e.n < 2 or math.isnan(e.low):
        return fmt(e.mean)
    return f"{fmt(e.mean)} <span class=muted>[{fmt(e.low)}, {fmt(e.high)}]</span>"


def _paired(kpis: pd.DataFrame, name: str, a: str, b: str) -> Estimate:
    """Paired mean difference a - b of a KPI (or a sum of KPIs) over shared replications."""
    names = [name] if isinstance(name, str) else list(name)
    wide = kpis.assign(_x=kpis[names].sum(axis=1)).pivot(
        index="replication", columns="variant", values="_x"
    )
    both = wide[[a, b]].dropna()
    return t_interval((both[a] - both[b]).to_numpy())


def _label(variant: str, descriptions: dict[str, str], labels: dict[str, str]) -> str:
    text = descriptions.get(variant)
    shown = labels.get(variant, variant)
    return f"{shown} ({text})" if text and shown == variant else shown


def summary_paragraph(kpis: pd.DataFrame, manifest: dict, baseline: str | None = None) -> str:
    """Which variant is safer (fewer late abnormal results, without leaving more results
    unwatched), by how much with its 95% interval, and what it costs in staff hours; with
    three or more variants, every variant against the baseline, ranked (:func:`ranking`)."""
    variants = [v for v in manifest["variants"] if (kpis["variant"] == v).any()]
    labels = run_labels(manifest)
    if len(variants) > 2:
        return ranking(kpis, manifest, baseline or default_baseline(variants))
    n = int(kpis["replication"].nunique())
    means = kpis.groupby("variant")[SAFETY_KPI].mean()
    if len(variants) < 2:
        v = variants[0]
        return (
            f"One variant ({_e(v)}) over {n} replication(s): on average "
            f"{number(means[v])} abnormal results were signed late and "
            f"{number(kpis[list(COST_KPIS)].sum(axis=1).mean())} extra and overtime staff hours "
            "were worked. Run two or more variants to compare them."
        )
    safer = min(variants, key=lambda v: means[v])
    other = max((v for v in variants if v != safer), key=lambda v: means[v])
    desc = manifest.get("variant_descriptions", {})
    d = _paired(kpis, SAFETY_KPI, other, safer)  # > 0: safer has fewer late results
    orphans = _paired(kpis, "orphans", safer, other)  # > 0: safer leaves more unwatched
    cost = _paired(kpis, COST_KPIS, safer, other)
    safer_name, other_name = safer, other
    safer, other = labels.get(safer, safer), labels.get(other, other)
    reps = f"{n} paired replications"
    late = (
        f"{number(d.mean)} fewer abnormal results are signed late than with {_e(other)} "
        f"(95% CI {number(d.low)} to {number(d.high)} fewer; {reps})"
    )
    if n < 2 or math.isnan(d.low):
        verdict = (
            f"In a single replication {_e(_label(safer_name, desc, labels))} had "
            f"{number(d.mean)} fewer late abnormal results than {_e(other)}; one replication "
            "cannot tell the variants apart."
        )
    elif d.low > 0 and orphans.low > 0:
        verdict = (
            "<b>Neither variant is safer on both counts</b>: with "
            f"{_e(_label(safer_name, desc, labels))} {late}, but more results are left "
            "unwatched."
        )
    elif d.low > 0:
        verdict = f"<b>{_e(_label(safer_name, desc, labels))} is the safer choice</b>: {late}."
    else:
        verdict = (
            f"<b>Neither variant is clearly safer</b>: {_e(safer)} has {number(d.mean)} fewer "
            f"late abnormal results than {_e(other)} on average, but the 95% CI runs from "
            f"{signed(-d.high)} to {signed(-d.low)} ({reps})."
        )

    def ci(e: Estimate) -> str:
        return f"; 95% CI {signed(e.low)} to {signed(e.high)}" if n > 1 else ""

    watched = (
        f" It leaves {number(kpis.loc[kpis.variant == safer_name, 'orphans'].mean())} results "
        "unwatched on average, against "
        f"{number(kpis.loc[kpis.variant == other_name, 'orphans'].mean())}"
        f" (difference {signed(orphans.mean)}{ci(orphans)})."
    )
    word = "more" if cost.mean >= 0 else "fewer"
    cost_text = (
        f" {_e(safer)} takes {number(abs(cost.mean))} {word} staff hours than {_e(other)} "
        f"(extra work plus overtime{ci(cost)})."
    )
    return verdict + watched + cost_text


def summary_text(kpis: pd.DataFrame, manifest: dict, baseline: str | None = None) -> str:
    """:func:`summary_paragraph` as plain text (for a notebook or a terminal): no tags, no
    HTML entities, one line per ranked variant."""
    page = summary_paragraph(kpis, manifest, baseline)
    page = re.sub(r"<li>", "\n- ", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page)).strip()


def ranking(kpis: pd.DataFrame, manifest: dict, baseline: str) -> str:
    """Every variant against ``baseline``, one sentence each, safest first: paired
    difference in late abnormal results with its 95% interval, then unwatched results and
    staff hours, and a verdict the interval supports."""
    variants = [v for v in manifest["variants"] if (kpis["variant"] == v).any()]
    labels = run_labels(manifest)
    n = int(kpis["replication"].nunique())
    base = labels.get(baseline, baseline)
    rows = []
    for v in variants:
        if v == baseline:
            continue
        late = _paired(kpis, SAFETY_KPI, v, baseline)  # < 0: v has fewer late results
        unwatched = _paired(kpis, "orphans", v, baseline)
        hours = _paired(kpis, COST_KPIS, v, baseline)
        rows.append((late.mean, v, late, unwatched, hours))
    rows.sort(key=lambda r: (r[0], variants.index(r[1])))
    items = []
    for _, v, late, unwatched, hours in rows:
        one = n < 2 or math.isnan(late.low)
        if one:
            verdict = "one replication cannot tell them apart"
        elif late.high < 0 and unwatched.low > 0:
            verdict = "fewer late but more unwatched results: a trade-off"
        elif late.high < 0:
            verdict = "<b>safer</b>"
        elif late.low > 0:
            verdict = "<b>less safe</b>"
        else:
            verdict = "cannot be told apart on late abnormal results"
        ci = "" if one else f" (95% CI {signed(late.low)} to {signed(late.high)})"
        word = "fewer" if late.mean < 0 else "more"
        items.append(
            f"<li><b>{_e(labels.get(v, v))}</b>: {number(abs(late.mean))} {word} late abnormal "
            f"results than {_e(base)}{ci}, {signed(unwatched.mean)} unwatched results and "
            f"{signed(hours.mean)} staff hours; {verdict}.</li>"
        )
    safest = labels.get(rows[0][1], rows[0][1]) if rows and rows[0][0] < 0 else base
    return (
        f"{len(variants)} variants, each against the baseline <b>{_e(base)}</b> over {n} "
        f"paired replication(s), fewest late abnormal results first; {_e(safest)} has the "
        f"fewest on average.<ol class=ranked>{''.join(items)}</ol>"
    )


def _ci_lines(e: Estimate, pct: bool = False) -> str:
    """Mean over its interval on a second line (keeps wide tables narrow)."""
    return _ci(e, pct).replace(" <span class=muted>", "<br><span class=muted>")


def _table(head: str, rows: list[str]) -> str:
    """A table in a box that scrolls sideways if it must, so the page itself never does."""
    return f"<div class=scroll><table>{head}{''.join(rows)}</table></div>"


def _kpi_table(comparison: Comparison, variants: list[str]) -> str:
    """Two tables, KPI means and the risk of exceeding each threshold, with a column per
    variant named by its label and a row per KPI named by its display name and unit."""
    labels = comparison.labels
    head = "".join(f"<th>{_e(labels.get(v, v))}</th>" for v in variants)
    means, risks = [], []
    for k in comparison.kpis:
        kpi = KPIS[k.kpi]
        name = (
            f"<td class=text><b>{_e(kpi.display_name())}</b> <span class=muted>({_e(k.unit)})"
            f"<br>{_e(kpi.definition)}</span></td>"
        )
        cells = "".join(f"<td>{_ci_lines(x.estimate)}</td>" for x in k.variants)
        risk = "".join(f"<td>{_ci_lines(x.p_exceed, pct=True)}</td>" for x in k.variants)
        means.append(f"<tr>{name}{cells}</tr>")
        short = f"<td class=text>{_e(kpi.display_name())}</td>"
        risks.append(f"<tr>{short}<td class=text>&gt; {number(k.threshold)}</td>{risk}</tr>")
    return _table(f"<tr><th>KPI</th>{head}</tr>", means) + (
        "<p>P(&gt; threshold): the share of replications above the threshold.</p>"
        + _table(f"<tr><th>KPI</th><th class=text>threshold</th>{head}</tr>", risks)
    )


def _difference_table(comparison: Comparison) -> str:
    labels = comparison.labels
    rows = []
    for k in comparison.kpis:
        for d in k.differences:
            rows.append(
                f"<tr><td class=text>{_e(KPIS[k.kpi].display_name())}</td>"
                f"<td class=text>{_e(labels.get(d.variant, d.variant))}</td>"
                f"<td>{_ci(d.paired)}</td><td>{_ci(d.unpaired)}</td></tr>"
            )
    if not rows:
        return "<p>Only one variant: nothing to compare.</p>"
    sentences = "".join(f"<li>{_e(k.sentence)}</li>" for k in comparison.kpis if k.sentence)
    base = labels.get(comparison.baseline, comparison.baseline)
    head = (
        "<tr><th>KPI</th><th class=text>variant</th>"
        f"<th>paired difference vs {_e(base)}</th><th>unpaired (Welch), for reference</th></tr>"
    )
    return _table(head, rows) + f"<ul>{sentences}</ul>"


def _legend(manifest: dict) -> str:
    """Label -> full variant name and the fields it sets, when some label is shortened."""
    if not needs_legend(manifest):
        return ""
    rows = [
        f"<tr><td class=text><b>{_e(label)}</b></td><td class=text><code>{_e(name)}</code></td>"
        f"<td class=text>{_e(sets)}</td></tr>"
        for label, name, sets in legend(manifest)
    ]
    head = "<tr><th>label</th><th class=text>variant</th><th class=text>sets</th></tr>"
    return "<h2>Variants</h2><p>Charts and tables name each variant by its label.</p>" + _table(
        head, rows
    )


def _assumptions(scenario) -> str:
    """Every named input distribution the scenario uses, with unit and source."""
    rows = []
    for name, spec in sorted(scenario.library.items()):
        data = spec.model_dump(exclude={"unit", "source", "range", "note"}, exclude_none=True)
        params = ", ".join(f"{k}={v}" for k, v in data.items() if k != "family")
        source = _e(spec.source)
        source = " ".join(
            f'<a href="{w}">{w}</a>' if w.startswith(("http://", "https://")) else w
            for w in source.split()
        )
        rows.append(
            f"<tr><td class=text><code>{_e(name)}</code></td><td class=text>{_e(data['family'])}"
            f"({_e(params)})</td><td class=text>{_e(spec.unit)}</td>"
            f"<td class=text>{source}</td></tr>"
        )
    head = (
        "<tr><th>input</th><th class=text>distribution</th><th class=text>unit</th>"
        "<th class=text>source</th></tr>"
    )
    return _table(head, rows)


def _stress(manifest: dict, scenario) -> str:
    """Model reporting after STRESS-DES: objectives, logic, data, experimentation,
    implementation, code access; every fact from the manifest or the scenario."""
    s = scenario.model
    versions = ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items())
    elapsed = manifest.get("elapsed_seconds")
    compute = manifest.get("compute_seconds")
    commit = manifest.get("commit") or "not under git"
    dirty = " (with uncommitted changes)" if manifest.get("dirty") else ""
    plan = manifest.get("plan", {})
    rows = [
        ("1 Objectives", "Compare go-live schedules and dual-system window lengths by late and "
         "unwatched abnormal lab results and staff hours. KPIs and thresholds: see above."),
        ("2 Logic", "Discrete-event simulation (SimPy) of lab orders, lab turnaround, inbox "
         "signing sessions per signer pool, coexistence of legacy and Millennium inboxes, "
         "legacy locks and their policy, lookups, downtime back-entry, migration and staff "
         "effects. Entities: lab orders and their results; resources: signers by site kind."),
        ("3 Data", f"Named input distributions (table above) with sources; scenario "
         f"<code>{_e(manifest.get('scenario_file'))}</code>, hash(es) "
         + ", ".join(f"{_e(k)} {_e(v[:12])}" for k, v in manifest["scenario_hash"].items())),
        ("4 Experimentation", f"{manifest['replications']} replications per variant "
         f"({', '.join(map(_e, manifest['variants']))}; baseline rule: the variant named "
         "<code>base</code> if any, else the first), horizon {s.horizon.start} to "
         f"{s.horizon.end}, no warm-up (the model starts empty before the first go-live and "
         f"the first months are single-system weeks), root seed {manifest['root_seed']}. "
         "Common random numbers: one PCG64 stream per activity and unit, keyed by "
         "(root seed, replication, stream name), never by variant; stream names such as "
         "<code>orders/&lt;unit&gt;</code>, <code>turnaround/&lt;unit&gt;/&lt;category&gt;</code>, "
         "<code>handling/&lt;unit&gt;</code>, <code>absence/&lt;unit&gt;</code>. "
         f"{plan.get('block_size', '?')} replication(s) per block."),
        ("5 Implementation", f"{_e(versions)}; {_e(manifest.get('platform'))}, "
         f"{manifest.get('cpus')} CPUs; run time {number(elapsed or math.nan)} s wall, "
         f"{number(compute or math.nan)} s of compute over all blocks."),
        ("6 Code access", f"cutover commit <code>{_e(commit)}</code>{dirty}; command "
         f"<code>{_e(' '.join(manifest.get('argv', [])))}</code>; run {_e(manifest['run'])}."),
    ]  # fmt: skip
    cell = "<tr><td class=text><b>{}</b></td><td class=text>{}</td></tr>"
    return _table("", [cell.format(a, b) for a, b in rows])


def stop_rule_section(comparison: Comparison) -> str:
    """Per variant: how often the stop rule tripped, how soon, and P(trip within k days)."""
    if not comparison.stop_rule:
        return "<p>This run has no stop-rule table (it predates the stop rule).</p>"
    ks = list(next(iter(comparison.stop_rule.values())).within_days)
    head = "".join(f"<th>within {k} days</th>" for k in ks)
    rows = []
    for variant, rule in comparison.stop_rule.items():
        first = _ci(rule.first_day) if rule.first_day.n else "never tripped"
        cells = "".join(f"<td>{_ci(rule.within_days[k], pct=True)}</td>" for k in ks)
        rows.append(
            f"<tr><td class=text>{_e(variant)}</td><td>{_ci(rule.p_trip_ci, pct=True)}</td>"
            f"<td>{first}</td>{cells}</tr>"
        )
    return (
        "<p>A command centre's daily rule, per area, on the days after each planned go-live: "
        "it trips when overdue critical results, overdue abnormal results or the growth of "
        "the backlog over three days exceed the scenario's levels (per 100 signers; see the "
        "signals chart). Day 1 is the go-live day; shares with Wilson 95% intervals.</p>"
        "<table><tr><th class=text>variant</th><th>P(trips)</th>"
        f"<th>first day it trips</th>{head}</tr>{''.join(rows)}</table>"
    )


def uncertainty_section(kpis: pd.DataFrame, scenario, without: pd.DataFrame | None = None) -> str:
    """Whether parameter uncertainty was on, and the 95% interval width of the key KPIs with
    it and (from a run of the same variants with it off, if given) without it."""
    on = scenario.model.input_uncertainty
    state = (
        "on: every replication drew each input distribution's parameters from its documented "
        "range (triangular, mode at the library value), the same draws for every variant"
        if on
        else "off: every replication ran on the library's values, so the intervals carry the "
        "dice only, not what we do not know about the inputs"
    )
    variants = list(dict.fromkeys(kpis["variant"]))
    head = "<th>width in this run</th>" + (
        "<th>width in the other run</th><th>ratio</th>" if without is not None else ""
    )
    rows = []
    for name in KEY_KPIS:
        for v in variants:
            e = t_interval(kpis.loc[kpis["variant"] == v, name].to_numpy(float))
            cells = f"<td>{number(e.high - e.low)}</td>"
            if without is not None:
                x = without.loc[without["variant"] == v, name].to_numpy(float)
                o = t_interval(x)
                ratio = (e.high - e.low) / (o.high - o.low) if o.high > o.low else math.nan
                cells += f"<td>{number(o.high - o.low)}</td><td>{number(ratio)}</td>"
            rows.append(
                f"<tr><td class=text>{_e(KPIS[name].words())}</td>"
                f"<td class=text>{_e(v)}</td>{cells}</tr>"
            )
    other = (
        f"The other run is the same scenario and variants with uncertainty {'off' if on else 'on'}."
        if without is not None
        else "Pass a run of the same variants with it switched the other way "
        "(<code>cutover report RUN --other-uncertainty RUN2</code>) to see both widths."
    )
    return (
        f"<p>Parameter uncertainty was {state}. {other}</p>"
        "<table><tr><th class=text>KPI</th><th class=text>variant</th>"
        f"{head}</tr>{''.join(rows)}</table>"
    )


def _figure(fig, caption: str) -> str:
    return f"<figure>{charts.to_svg(fig)}<figcaption>{_e(caption)}</figcaption></figure>"


def render(
    run_dir: Path, baseline: str | None = None, other_uncertainty: Path | None = None
) -> tuple[str, dict[str, Path]]:
    """The report's HTML and the PNGs written beside it; ``other_uncertainty``: a run of the
    same variants with parameter uncertainty switched the other way."""
    run = charts.load_run(run_dir)
    manifest = run.manifest
    if manifest.get("kind") in DECISIONS:
        return render_decision(run)
    kpis = frame(run_dir, "kpis")
    comparison = compare_run(run_dir, baseline)
    variants = [v.variant for v in comparison.kpis[0].variants]
    scenario = next(iter(run.scenarios.values()))
    figures = charts.all_charts(run)
    lead, first_chart, excess_html = "", "", ""
    if attribution.has_twin(run):  # the excess over no cutover is the answer: it leads
        excess = {
            name: (chart(run) if name != "difference_heatmap" else chart(run, comparison.baseline),
                   caption)
            for name, (chart, caption) in attribution.CHARTS.items()
        }  # fmt: skip
        figures = excess | figures
        lead = f"<p class=lead id=excess-headline>{attribution.headline(run, comparison)}</p>"
        first_chart = _figure(*excess.pop("excess"))
        excess_html = (
            "<h2>What the cutover adds: where and when</h2>"
            + "".join(_figure(fig, caption) for fig, caption in excess.values())
            + attribution.sections_html(run, comparison)
            + "<h2>Totals, including ordinary days</h2>"
        )
        figures_rest = {k: v for k, v in figures.items() if k not in attribution.CHARTS}
    else:
        figures_rest = figures
    pngs = charts.save_all(run, run_dir / "charts", figures)
    chart_html = "".join(_figure(fig, caption) for fig, caption in figures_rest.values())
    labels = comparison.labels
    title = manifest.get("title") or manifest["scenario"]
    shown = ", ".join(labels.get(v, v) for v in variants)
    sweep_html = ""
    if not charts.swept(run).empty:
        fig = charts.sweep_chart(run)
        pngs["sweep"] = run_dir / "charts" / "sweep.png"
        fig.savefig(pngs["sweep"], dpi=charts.DPI)
        sweep_html = "<h2>Against the swept value</h2>" + _figure(fig, SWEEP_CAPTION)
    created = manifest.get("finished_utc") or manifest.get("created_utc")
    warning = (
        f"<p class=warning id=incomplete><b>Incomplete run.</b> {_e(comparison.warning)}</p>"
        if comparison.warning
        else ""
    )
    summary = summary_paragraph(kpis, manifest, comparison.baseline)
    other = frame(other_uncertainty, "kpis") if other_uncertainty is not None else None
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class=muted>Variants {_e(shown)}; baseline {_e(labels.get(comparison.baseline, ""))}.
Run {_e(manifest["run"])}, {manifest["replications"]} replications per variant,
written {_e(created)}; status {_e(manifest.get("status"))}.</p>{_precision(manifest)}
{warning}
{lead}{first_chart}{excess_html}
<div class=lead id=summary>{summary}</div>
{_legend(manifest)}
<h2>Where and when risk piles up</h2>{chart_html}{sweep_html}
<h2>Key indicators</h2>
<p>Mean over replications with its 95% confidence interval in brackets; P(&gt; threshold) is
the share of replications in which the indicator exceeded its threshold (Wilson 95%
interval).</p>
{_kpi_table(comparison, variants)}
<h2>Comparison</h2>
<p>Every variant ran the same replications with common random numbers, so differences are
paired replication by replication; the unpaired interval shows what pairing buys.</p>
{_difference_table(comparison)}
<h2>Would the go-live have been stopped?</h2>
{stop_rule_section(comparison)}
<h2>What we do not know: parameter uncertainty</h2>
{uncertainty_section(kpis, scenario, other)}
<h2>Assumptions and their sources</h2>
{_assumptions(scenario)}
<h2>Model reporting (STRESS-DES)</h2>
{_stress(manifest, scenario)}
</body></html>
"""
    return page, pngs


SWEEP_CAPTION = (
    "Each key indicator against the value the variants sweep: mean over replications with its "
    "95% confidence band (the excess over the no-cutover twin when the run has it)."
)
DECISIONS = {
    "sensitivity": (
        charts.sensitivity_chart,
        "Which uncertain inputs move the indicator: every design point ran the same "
        "replications (common random numbers), so an inert input scores zero.",
    ),
    "optimise": (
        charts.optimise_chart,
        "Every candidate's objective and risk with 95% intervals; replications went where "
        "they decided the answer.",
    ),
}


def _precision(manifest: dict) -> str:
    """Why a precision-driven run has the replications it has."""
    p = manifest.get("precision")
    if not isinstance(p, dict) or p.get("status") != "stopped":
        return ""
    fmt = "{:.1%}" if p["relative"] else "{:,.3g}"
    what = f"{p['kpi']} (paired differences)" if p["paired"] else p["kpi"]
    return (
        f"\n<p class=muted id=precision>Replications chosen by precision ({_e(p['method'])}): "
        f"target ±{fmt.format(p['target'])}{' of the mean' if p['relative'] else ''} on "
        f"{_e(what)}, achieved ±{fmt.format(p['achieved'])} after {p['replications']} "
        f"replications; {_e(p['reason'])}.</p>"
    )


def render_decision(run: charts.RunData) -> tuple[str, dict[str, Path]]:
    """The report of a sensitivity or optimise run: its chart and its table of results."""
    import json

    manifest = run.manifest
    kind = manifest["kind"]
    chart, caption = DECISIONS[kind]
    fig = chart(run)
    (run.path / "charts").mkdir(exist_ok=True)
    png = run.path / "charts" / f"{kind}.png"
    fig.savefig(png, dpi=charts.DPI)
    data = json.loads((run.path / f"{kind}.json").read_text(encoding="utf-8"))
    rows = data["indices"] if kind == "sensitivity" else data["candidates"]
    table = pd.DataFrame(rows).drop(columns=["values"], errors="ignore")
    title = f"{manifest.get('title') or manifest['scenario']}: {kind}"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class=muted>Run {_e(manifest["run"])}, seed {manifest["root_seed"]}, written
{_e(manifest.get("created_utc"))}; status {_e(manifest.get("status"))}.</p>
{_figure(fig, caption)}
{table.to_html(index=False, float_format=lambda v: f"{v:,.4g}", na_rep="n/a", border=0)}
</body></html>
"""
    return page, {kind: png}


def write_report(
    run_dir: str | Path, baseline: str | None = None, other_uncertainty: Path | None = None
) -> Path:
    """Write ``report.html`` (atomically) and the chart PNGs into the run folder."""
    run_dir = Path(run_dir)
    page, _ = render(run_dir, baseline, other_uncertainty)
    target = run_dir / REPORT
    fd, tmp = tempfile.mkstemp(prefix=f".{REPORT}.", suffix=".tmp", dir=run_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
