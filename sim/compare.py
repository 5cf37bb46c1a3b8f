"""Comparing variants of a run: means, paired differences and threshold risks, with CIs.

Variants of one run share common random numbers replication by replication, so the right
comparison of variant B with baseline A is the paired one: the mean over replications of
``KPI_B(r) - KPI_A(r)``, with a t interval from the spread of those differences. The unpaired
(Welch) interval is reported beside it to show what pairing bought. The probability that a KPI
exceeds its threshold (:data:`sim.kpis.KPIS`) is the share of replications above it, with a
Wilson score interval, which stays inside [0, 1] and is honest at 0 or 1 out of n.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sim.experiment.errors import ExperimentError
from sim.experiment.runfolder import RunFolder
from sim.metrics.kpis import KPIS, thresholds
from sim.results import frame, manifest

KEY_KPIS = ("late_abnormal", "orphans", "extra_staff_hours")
LEVEL = 0.95


@dataclass
class Estimate:
    mean: float
    low: float
    high: float
    n: int


@dataclass
class VariantKpi:
    variant: str
    estimate: Estimate
    p_exceed: Estimate  # share of replications above the threshold


@dataclass
class Difference:
    variant: str
    paired: Estimate  # mean of variant - baseline, paired by replication
    unpaired: Estimate  # Welch interval on the same difference in means


@dataclass
class KpiComparison:
    kpi: str
    unit: str
    threshold: float
    variants: list[VariantKpi]
    differences: list[Difference]
    sentence: str | None


@dataclass
class StopRuleSummary:
    """How often and how soon the stop rule tripped (:mod:`sim.metrics.signals`)."""

    p_trip: float  # share of replications in which it tripped
    p_trip_ci: Estimate  # the same share with its Wilson interval
    first_day: Estimate  # day after go-live it first tripped, over the tripped replications
    within_days: dict[int, Estimate]  # P(tripped by day k after go-live), Wilson intervals


@dataclass
class Comparison:
    run: str
    baseline: str
    replications: int
    kpis: list[KpiComparison]
    stop_rule: dict[str, StopRuleSummary] = field(default_factory=dict)  # per variant

    def to_json(self) -> dict:
        return asdict(self)


def t_interval(x: np.ndarray, level: float = LEVEL) -> Estimate:
    """Mean with a Student t interval (nan bounds with fewer than two values)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n)
    half = stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n)


def welch_interval(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> Estimate:
    """Interval on mean(a) - mean(b) ignoring any pairing (Welch-Satterthwaite)."""
    na, nb = len(a), len(b)
    diff = float(np.mean(a) - np.mean(b))
    if na < 2 or nb < 2:
        return Estimate(diff, math.nan, math.nan, min(na, nb))
    va, vb = np.var(a, ddof=1) / na, np.var(b, ddof=1) / nb
    se = math.sqrt(va + vb)
    if se == 0:
        return Estimate(diff, diff, diff, min(na, nb))
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return Estimate(diff, diff - half, diff + half, min(na, nb))


def wilson_interval(k: int, n: int, level: float = LEVEL) -> Estimate:
    """Share k/n with the Wilson score interval."""
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return Estimate(p, low, high, n)


def compare_frame(
    kpis: pd.DataFrame,
    baseline: str,
    variants: list[str],
    limits: dict[str, float] | None = None,
) -> list[KpiComparison]:
    """Compare every variant with ``baseline`` on every KPI of a replication-KPI table;
    ``limits``: the thresholds (default: those of :data:`sim.kpis.KPIS`)."""
    limits = limits or thresholds()
    if baseline not in variants:
        raise ExperimentError(
            f"baseline {baseline!r} is not a variant of this run (it has: {', '.join(variants)})"
        )
    wide = {v: kpis[kpis["variant"] == v].set_index("replication").sort_index() for v in variants}
    out = []
    for name, kpi in KPIS.items():
        per_variant = []
        for v in variants:
            x = wide[v][name].to_numpy(dtype=float)
            above = int((x > limits[name]).sum())
            per_variant.append(VariantKpi(v, t_interval(x), wilson_interval(above, len(x))))
        base = wide[baseline][name]
        diffs = []
        for v in variants:
            if v == baseline:
                continue
            other = wide[v][name]
            common = base.index.intersection(other.index)
            d = other.loc[common].to_numpy(float) - base.loc[common].to_numpy(float)
            diffs.append(
                Difference(v, t_interval(d), welch_interval(other.to_numpy(), base.to_numpy()))
            )
        sentence = None
        if name in KEY_KPIS and diffs:
            sentence = " ".join(describe(name, baseline, d) for d in diffs)
        out.append(KpiComparison(name, kpi.unit, limits[name], per_variant, diffs, sentence))
    return out


def describe(kpi: str, baseline: str, d: Difference) -> str:
    """One plain sentence about a paired difference, for a reader who never saw the model."""
    k = KPIS[kpi]
    e = d.paired
    if e.n < 2 or math.isnan(e.low):
        return (
            f"{d.variant} against {baseline}: {signed(e.mean)} {k.words()} in a single "
            "replication, too few for an interval."
        )
    ci = f"95% CI {signed(e.low)} to {signed(e.high)}, {e.n} paired replications"
    if e.low > 0 or e.high < 0:
        better = (e.mean < 0) != k.higher_is_better
        word = "fewer" if e.mean < 0 else "more"
        verdict = "better" if better else "worse"
        return (
            f"{d.variant} gives {number(abs(e.mean))} {word} {k.words()} than {baseline} "
            f"per run ({ci}): {verdict}."
        )
    return (
        f"{d.variant} and {baseline} cannot be told apart on {k.words()}: "
        f"difference {signed(e.mean)} ({ci})."
    )


def number(x: float) -> str:
    """A KPI value for people: whole numbers from 100 up, one decimal below, never "-0"."""
    if math.isnan(x):
        return "n/a"
    text = f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"
    return text.lstrip("-") if float(text.replace(",", "")) == 0 else text


def signed(x: float) -> str:
    """A difference with its sign (a true minus sign)."""
    text = number(abs(x))
    if text.strip("0.,") == "":
        return text
    return ("+" if x > 0 else "−") + text


def compare_run(run_dir: str | Path, baseline: str | None = None) -> Comparison:
    """Compare the variants of a run folder with ``baseline`` (default: its first variant)."""
    info = manifest(run_dir)
    variants = list(info.get("variants", []))
    kpis = frame(run_dir, "kpis")
    present = [v for v in variants if (kpis["variant"] == v).any()]
    baseline = baseline or (present[0] if present else "")
    reps = int(kpis["replication"].nunique()) if len(kpis) else 0
    limits = info.get("kpi_thresholds", {}).get(baseline) or thresholds()
    result = Comparison(info["run"], baseline, reps, compare_frame(kpis, baseline, present, limits))
    if "stop_rule" in RunFolder.open(Path(run_dir)).tables():
        result.stop_rule = stop_rule_summaries(frame(run_dir, "stop_rule"), present)
    return result


WITHIN_DAYS = (3, 7, 14, 28)
"""The k of P(the stop rule trips within k days of a go-live) in comparisons and reports."""


def stop_rule_summaries(trips: pd.DataFrame, variants: list[str]) -> dict[str, StopRuleSummary]:
    """Per variant: the share of replications whose stop rule tripped, the first trip day
    (t interval over the tripped replications) and P(trip within k days) for
    :data:`WITHIN_DAYS` (day 1 is the go-live day)."""
    out = {}
    for v in variants:
        rows = trips[trips["variant"] == v]
        n = len(rows)
        tripped = rows["tripped"].to_numpy(bool)
        days = rows["first_day"].to_numpy(float)[tripped]
        share = wilson_interval(int(tripped.sum()), n)
        within = {k: wilson_interval(int((days <= k).sum()), n) for k in WITHIN_DAYS}
        first = t_interval(days) if days.size else Estimate(math.nan, math.nan, math.nan, 0)
        out[v] = StopRuleSummary(share.mean, share, first, within)
    return out
