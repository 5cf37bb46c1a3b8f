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
import tempfile
from pathlib import Path

import pandas as pd

from sim import attribution, charts
from sim.compare import Comparison, Estimate, compare_run, number, signed, t_interval
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
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.9rem}
th,td{border-bottom:1px solid #e2e6ec;padding:.3rem .6rem;text-align:right;vertical-align:top}
th:first-child,td:first-child,td.text,th.text{text-align:left}
figure{margin:1.2rem 0}figure svg{max-width:100%;height:auto}
figcaption{color:#4a5366;font-size:.9rem}.muted{color:#5b6475;font-size:.85rem}
code{background:#f1f3f6;padding:0 .2rem}
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


def _label(variant: str, descriptions: dict[str, str]) -> str:
    text = descriptions.get(variant)
    return f"{variant} ({text})" if text else variant


def summary_paragraph(kpis: pd.DataFrame, manifest: dict) -> str:
    """Which variant is safer (fewer late abnormal results, without leaving more results
    unwatched), by how much with its 95% interval, and what it costs in staff hours."""
    variants = [v for v in manifest["variants"] if (kpis["variant"] == v).any()]
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
    reps = f"{n} paired replications"
    late = (
        f"{number(d.mean)} fewer abnormal results are signed late than with {_e(other)} "
        f"(95% CI {number(d.low)} to {number(d.high)} fewer; {reps})"
    )
    if n < 2 or math.isnan(d.low):
        verdict = (
            f"In a single replication {_e(_label(safer, desc))} had {number(d.mean)} fewer late "
            f"abnormal results than {_e(other)}; one replication cannot tell the variants apart."
        )
    elif d.low > 0 and orphans.low > 0:
        verdict = (
            f"<b>Neither variant is safer on both counts</b>: with {_e(_label(safer, desc))} "
            f"{late}, but more results are left unwatched."
        )
    elif d.low > 0:
        verdict = f"<b>{_e(_label(safer, desc))} is the safer choice</b>: {late}."
    else:
        verdict = (
            f"<b>Neither variant is clearly safer</b>: {_e(safer)} has {number(d.mean)} fewer "
            f"late abnormal results than {_e(other)} on average, but the 95% CI runs from "
            f"{signed(-d.high)} to {signed(-d.low)} ({reps})."
        )

    def ci(e: Estimate) -> str:
        return f"; 95% CI {signed(e.low)} to {signed(e.high)}" if n > 1 else ""

    watched = (
        f" It leaves {number(kpis.loc[kpis.variant == safer, 'orphans'].mean())} results "
        f"unwatched on average, against {number(kpis.loc[kpis.variant == other, 'orphans'].mean())}"
        f" (difference {signed(orphans.mean)}{ci(orphans)})."
    )
    word = "more" if cost.mean >= 0 else "fewer"
    cost_text = (
        f" {_e(safer)} takes {number(abs(cost.mean))} {word} staff hours than {_e(other)} "
        f"(extra work plus overtime{ci(cost)})."
    )
    return verdict + watched + cost_text


def _kpi_table(comparison: Comparison, variants: list[str]) -> str:
    head = "".join(f"<th>{_e(v)}</th>" for v in variants)
    rows = []
    for k in comparison.kpis:
        cells = "".join(f"<td>{_ci(x.estimate)}</td>" for x in k.variants)
        risk = "".join(f"<td>{_ci(x.p_exceed, pct=True)}</td>" for x in k.variants)
        rows.append(
            f"<tr><td class=text><b>{_e(k.kpi)}</b><br><span class=muted>{_e(k.unit)}; "
            f"{_e(KPIS[k.kpi].definition)}</span></td>{cells}"
            f"<td class=text>&gt; {number(k.threshold)}</td>{risk}</tr>"
        )
    risk_head = "".join(f"<th>P(&gt;) {_e(v)}</th>" for v in variants)
    return (
        f"<table><tr><th>KPI</th>{head}<th class=text>threshold</th>{risk_head}</tr>"
        + "".join(rows)
        + "</table>"
    )


def _difference_table(comparison: Comparison) -> str:
    rows = []
    for k in comparison.kpis:
        for d in k.differences:
            rows.append(
                f"<tr><td class=text>{_e(k.kpi)}</td><td class=text>{_e(d.variant)}</td>"
                f"<td>{_ci(d.paired)}</td><td>{_ci(d.unpaired)}</td></tr>"
            )
    if not rows:
        return "<p>Only one variant: nothing to compare.</p>"
    sentences = "".join(f"<li>{_e(k.sentence)}</li>" for k in comparison.kpis if k.sentence)
    return (
        f"<table><tr><th>KPI</th><th class=text>variant</th>"
        f"<th>paired difference vs {_e(comparison.baseline)}</th>"
        f"<th>unpaired (Welch), for reference</th></tr>{''.join(rows)}</table>"
        f"<ul>{sentences}</ul>"
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
    return (
        "<table><tr><th>input</th><th class=text>distribution</th><th class=text>unit</th>"
        f"<th class=text>source</th></tr>{''.join(rows)}</table>"
    )


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
         f"({', '.join(map(_e, manifest['variants']))}), horizon {s.horizon.start} to "
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
    body = "".join(cell.format(a, b) for a, b in rows)
    return f"<table>{body}</table>"


def _figure(fig, caption: str) -> str:
    return f"<figure>{charts.to_svg(fig)}<figcaption>{_e(caption)}</figcaption></figure>"


def render(run_dir: Path, baseline: str | None = None) -> tuple[str, dict[str, Path]]:
    """The report's HTML and the PNGs written beside it."""
    run = charts.load_run(run_dir)
    manifest = run.manifest
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
    title = f"{manifest.get('title') or manifest['scenario']}: {', '.join(variants)}"
    created = manifest.get("finished_utc") or manifest.get("created_utc")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class=muted>Run {_e(manifest["run"])}, {manifest["replications"]} replications per variant,
written {_e(created)}; status {_e(manifest.get("status"))}.</p>
{lead}{first_chart}{excess_html}
<p class=lead id=summary>{summary_paragraph(kpis, manifest)}</p>
<h2>Where and when risk piles up</h2>{chart_html}
<h2>Key indicators</h2>
<p>Mean over replications with its 95% confidence interval in brackets; P(&gt;) is the share of
replications in which the indicator exceeded its threshold (Wilson 95% interval).</p>
{_kpi_table(comparison, variants)}
<h2>Comparison</h2>
<p>Every variant ran the same replications with common random numbers, so differences are
paired replication by replication; the unpaired interval shows what pairing buys.</p>
{_difference_table(comparison)}
<h2>Assumptions and their sources</h2>
{_assumptions(scenario)}
<h2>Model reporting (STRESS-DES)</h2>
{_stress(manifest, scenario)}
</body></html>
"""
    return page, pngs


def write_report(run_dir: str | Path, baseline: str | None = None) -> Path:
    """Write ``report.html`` (atomically) and the chart PNGs into the run folder."""
    run_dir = Path(run_dir)
    page, _ = render(run_dir, baseline)
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
