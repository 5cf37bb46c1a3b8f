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
from dataclasses import asdict, dataclass
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
    p_exceed: Estimate  # share of replications above the threshold (of the excess, if any)
    excess: Estimate | None = None  # variant - no-cutover twin, paired by replication


@dataclass
class Difference:
    variant: str
    paired: Estimate  # mean of variant - baseline, paired by replication
    unpaired: Estimate  # Welch interval on the same difference in means
    excess: Estimate | None = None  # paired difference of the two variants' excesses


@dataclass
class KpiComparison:
    kpi: str
    unit: str
    threshold: float
    variants: list[VariantKpi]
    differences: list[Difference]
    sentence: str | None
    threshold_applies_to: str = "total"  # "excess" when the run has its no-cutover twin
    warning: str | None = None  # e.g. the threshold separates nothing


@dataclass
class Comparison:
    run: str
    baseline: str
    replications: int
    kpis: list[KpiComparison]

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
        excess = f"excess_{name}"
        has_excess = excess in kpis.columns and all(wide[v][excess].notna().all() for v in variants)
        judged = excess if has_excess else name  # thresholds apply to the excess when known
        per_variant = []
        for v in variants:
            x = wide[v][name].to_numpy(dtype=float)
            above = int((wide[v][judged].to_numpy(dtype=float) > limits[name]).sum())
            e = t_interval(wide[v][excess].to_numpy(dtype=float)) if has_excess else None
            per_variant.append(VariantKpi(v, t_interval(x), wilson_interval(above, len(x)), e))
        base = wide[baseline][name]
        diffs = []
        for v in variants:
            if v == baseline:
                continue
            other = wide[v][name]
            common = base.index.intersection(other.index)
            d = other.loc[common].to_numpy(float) - base.loc[common].to_numpy(float)
            de = None
            if has_excess:
                a, b = wide[v][excess].loc[common], wide[baseline][excess].loc[common]
                de = t_interval(a.to_numpy(float) - b.to_numpy(float))
            diffs.append(
                Difference(v, t_interval(d), welch_interval(other.to_numpy(), base.to_numpy()), de)
            )
        sentence = None
        if name in KEY_KPIS and diffs:
            sentence = " ".join(describe(name, baseline, d) for d in diffs)
            if has_excess:
                sentence = " ".join([excess_sentence(name, per_variant, baseline, diffs), sentence])
        applies = "excess" if has_excess else "total"
        warning = separates_nothing(name, limits[name], per_variant)
        out.append(
            KpiComparison(
                name, kpi.unit, limits[name], per_variant, diffs, sentence, applies, warning
            )
        )
    return out


def separates_nothing(name: str, threshold: float, per_variant: list[VariantKpi]) -> str | None:
    """A warning when every variant exceeds the threshold in all of its replications, or
    every variant in none: then P(> threshold) cannot tell the variants apart."""
    shares = [v.p_exceed.mean for v in per_variant if v.p_exceed.n]
    if not shares or not (all(p == 0 for p in shares) or all(p == 1 for p in shares)):
        return None
    how = "none" if shares[0] == 0 else "all"
    return (
        f"the threshold {number(threshold)} on {name} is exceeded in {how} of the replications "
        "of every variant: this threshold does not separate the variants"
    )


def excess_sentence(
    name: str, per_variant: list[VariantKpi], baseline: str, diffs: list[Difference]
) -> str:
    """What the cutover adds over no cutover at all, per variant, and how large the gap
    between variants is against what the baseline's cutover adds."""
    k = KPIS[name]
    parts = []
    for v in per_variant:
        e = v.excess
        assert e is not None
        ci = ""
        if e.n > 1 and not math.isnan(e.low):
            ci = f" (95% CI {signed(e.low)} to {signed(e.high)})"
        parts.append(f"{v.variant} {signed(e.mean)}{ci}")
    text = f"Against no cutover, the cutover adds {k.words()}: {'; '.join(parts)}."
    base = next(v.excess for v in per_variant if v.variant == baseline)
    if base is not None and base.mean != 0 and not math.isnan(base.mean):
        for d in diffs:
            if d.excess is not None:
                share = d.excess.mean / abs(base.mean)
                sign = "+" if share > 0 else "−" if share < 0 else ""
                text += (
                    f" {d.variant} against {baseline} is {signed(d.excess.mean)}, "
                    f"{sign}{abs(share):.0%} of what {baseline}'s cutover adds."
                )
    return text


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
    """Compare the variants of a run folder with ``baseline`` (default: its first variant).

    Every file of the folder is checked against its recorded hash first (``report`` comes
    through here too), so a folder changed by hand is refused, not half-believed."""
    RunFolder.open(Path(run_dir)).verify()
    info = manifest(run_dir)
    variants = list(info.get("variants", []))
    kpis = frame(run_dir, "kpis")
    present = [v for v in variants if (kpis["variant"] == v).any()]  # never the twin
    baseline = baseline or (present[0] if present else "")
    reps = int(kpis["replication"].nunique()) if len(kpis) else 0
    limits = info.get("kpi_thresholds", {}).get(baseline) or thresholds()
    return Comparison(info["run"], baseline, reps, compare_frame(kpis, baseline, present, limits))
