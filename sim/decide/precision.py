"""How many replications: add blocks until a KPI's 95 % confidence interval is narrow enough.

The rule is the sequential one of Hoad, Robinson & Davies (2010, "Automated selection of the
number of replications for a discrete-event simulation", JORS 61:1632-1644), which sim-tools
implements as ``ReplicationsAlgorithm``: after ``n`` replications the precision is
``d_n = t(0.975, n-1) * s_n / sqrt(n)``, divided by ``|mean_n|`` for a relative target. The
answer is the smallest ``n`` with ``d_n`` within the target that stays within it for a
look-ahead of ``kLimit`` further replications (``kLimit`` up to ``n = 100``, then
``n * kLimit / 100``), which guards against stopping on a lucky early streak.

The run grows block by block in the same run folder with a fixed block size, so its blocks are
exactly those a fixed-``n`` run of the final count would hold, replication for replication,
and an interrupted run resumes and continues the same rule. The series may be one KPI per
variant, or the paired differences of every variant against the first (common random numbers
make those the sharp quantity to pin down); the run stops when every series is precise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.decide.target import DecideError, check_kpi, default_kpi
from sim.experiment.runfolder import RunFolder
from sim.experiment.runs import MAX_BLOCK, InlineExecutor, Plan, execute, start_run
from sim.results import frame
from sim.scenario.loading import LoadedScenario

LEVEL = 0.95


@dataclass(frozen=True)
class Target:
    """What precise enough means: a half-width relative to the mean (``relative``) or in the
    KPI's unit, with the look-ahead and the replication bounds."""

    half_width: float
    relative: bool = True
    min_replications: int = 3
    max_replications: int = 200
    look_ahead: int = 5

    def __post_init__(self) -> None:
        if not self.half_width > 0 or not math.isfinite(self.half_width):
            raise DecideError(f"precision target must be a positive number, not {self.half_width}")
        if self.relative and self.half_width >= 1:
            raise DecideError(
                f"relative precision {self.half_width} is 100 % of the mean or more; give a "
                "fraction such as 0.05, or an absolute half-width with --absolute"
            )
        if self.min_replications < 2:
            raise DecideError("a confidence interval needs at least 2 replications")
        if self.max_replications < self.min_replications:
            raise DecideError(
                f"maximum replications ({self.max_replications}) below the minimum "
                f"({self.min_replications})"
            )
        if self.look_ahead < 0:
            raise DecideError("the look-ahead cannot be negative")


@dataclass(frozen=True)
class Decision:
    """The rule applied to the values at hand: ``met`` with the answer ``n``, or ``need``
    more values (at least ``n``), or ``max`` when the budget ends first."""

    status: str  # "met", "need" or "max"
    n: int
    deviation: float  # d_n at the answer (met) or at the last value (need, max)


def look_ahead(n: int, k_limit: int) -> int:
    """HRD's f(kLimit, n): replications that must confirm a precision reached at ``n``."""
    return k_limit if n <= 100 else math.floor(n * k_limit / 100)


def deviations(x: Sequence[float], relative: bool) -> np.ndarray:
    """``d_n`` for every prefix of ``x`` (index ``n``; nan below 2 values): the CI's
    half-width, over ``|mean|`` when relative (inf at a zero mean)."""
    x = np.asarray(x, dtype=float)
    out = np.full(len(x) + 1, np.nan)
    if len(x) < 2:
        return out
    k = np.arange(2, len(x) + 1)
    xc = x - x[0]  # centred on the first value, so the running sums keep their precision
    s1, s2 = np.cumsum(xc)[1:], np.cumsum(xc * xc)[1:]
    mean = x[0] + s1 / k
    sd = np.sqrt(np.maximum(s2 - s1 * s1 / k, 0.0) / (k - 1))
    half = stats.t.ppf(0.5 + LEVEL / 2, k - 1) * sd / np.sqrt(k)
    if relative:
        with np.errstate(divide="ignore", invalid="ignore"):
            half = np.where(mean != 0, half / np.abs(mean), np.where(half == 0, 0.0, np.inf))
    out[2:] = half
    return out


def decide(x: Sequence[float], target: Target) -> Decision:
    """Hoad-Robinson-Davies on the values at hand (replication order)."""
    d = deviations(x, target.relative)
    have = len(x)
    last = float(d[have]) if have >= 2 else math.inf
    for n in range(max(target.min_replications, 2), have + 1):
        if not d[n] <= target.half_width:
            continue
        end = min(n + look_ahead(n, target.look_ahead), target.max_replications)
        if have < end:
            return Decision("need", end, last)
        if all(d[m] <= target.half_width for m in range(n + 1, end + 1)):
            return Decision("met", n, float(d[n]))
    if have >= target.max_replications:
        return Decision("max", have, last)
    return Decision("need", max(have + 1, target.min_replications), last)


@dataclass
class SeriesResult:
    """One series (a variant's KPI, or a paired difference) at the stop."""

    series: str
    mean: float
    half_width: float  # in the KPI's unit, at all the replications run
    deviation: float  # the half-width as the target measures it (relative or absolute)
    status: str
    recommended: int  # HRD's answer n (replications run when the rule did not stop)


@dataclass
class PrecisionResult:
    """What the manifest's ``precision`` field holds."""

    kpi: str
    paired: bool
    target: float
    relative: bool
    replications: int
    reason: str
    achieved: float  # the worst series' deviation at the replications run
    series: list[SeriesResult]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def series(kpis: pd.DataFrame, kpi: str, variants: Sequence[str], paired: bool) -> dict:
    """Name -> values in replication order: each variant's KPI, or each variant's paired
    difference from the first variant."""
    wide = kpis.pivot(index="replication", columns="variant", values=kpi).sort_index()
    if not paired:
        return {v: wide[v].to_numpy(float) for v in variants}
    if len(variants) < 2:
        raise DecideError("a paired precision target needs at least two variants")
    base = variants[0]
    return {f"{v} - {base}": (wide[v] - wide[base]).to_numpy(float) for v in variants[1:]}


def evaluate(kpis: pd.DataFrame, spec: dict[str, Any], variants: Sequence[str]) -> tuple:
    """The rule over every series: (replications still needed or None, PrecisionResult)."""
    target = Target(**spec["rule"])
    data = series(kpis, spec["kpi"], variants, spec["paired"])
    have = min(len(x) for x in data.values())
    out, needed, stop = [], [], []
    for name, x in data.items():
        dec = decide(x, target)
        hw = deviations(x, False)[len(x)] if len(x) >= 2 else math.nan
        dev = deviations(x, target.relative)[len(x)] if len(x) >= 2 else math.nan
        out.append(SeriesResult(name, float(np.mean(x)), float(hw), float(dev), dec.status, dec.n))
        (needed if dec.status == "need" else stop).append(dec)
    if needed:
        return max(d.n for d in needed), None
    reason = (
        f"every series met ±{spec['target_text']} and stayed within it for the look-ahead"
        if all(d.status == "met" for d in stop)
        else f"maximum of {target.max_replications} replications reached before "
        f"±{spec['target_text']} held"
    )
    result = PrecisionResult(
        spec["kpi"], spec["paired"], target.half_width, target.relative, have, reason,
        max(s.deviation for s in out), out,
    )  # fmt: skip
    return None, result


def _round_up(n: int, block: int) -> int:
    return -(-n // block) * block


def start(
    plan: Plan,
    target: Target,
    kpi: str | None = None,
    paired: bool = False,
    out: Path = Path("results"),
    argv: Sequence[str] = (),
    scenarios: dict[str, LoadedScenario] | None = None,
) -> tuple[RunFolder, Plan, dict[str, LoadedScenario]]:
    """Create the run folder of a precision-driven run (its first stage not yet run).

    ``plan.replications`` is ignored: the run starts at the target's minimum (rounded up to
    whole blocks) and grows; the block size is fixed from the maximum, so every stage keeps
    the blocks of the previous ones.
    """
    if kpi is not None:
        check_kpi(kpi)
    if paired and len(plan.variants) < 2:
        raise DecideError("a paired precision target needs at least two variants")
    block = min(MAX_BLOCK, max(1, math.ceil(target.max_replications / 50)))
    first = min(_round_up(target.min_replications, block), target.max_replications)
    plan = dataclasses.replace(plan, replications=first, block_size=block)
    folder, scenarios = start_run(plan, out, argv, scenarios=scenarios)
    unit = "" if target.relative else " (absolute)"
    text = f"{target.half_width:.0%}" if target.relative else f"{target.half_width:g}"
    spec = {
        "kpi": kpi,
        "paired": paired,
        "target_text": text + unit,
        "rule": dataclasses.asdict(target),
        "method": "Hoad, Robinson & Davies (2010) sequential CI, 95 %",
        "status": "running",
    }
    folder.update_manifest(precision=spec)
    return folder, plan, scenarios


def is_open(folder: RunFolder) -> bool:
    """Whether the run is precision-driven and its rule has not stopped yet."""
    spec = folder.manifest.get("precision")
    return isinstance(spec, dict) and spec.get("status") == "running"


RunBlocks = Callable[[Plan], None]  # runs the plan's blocks not yet on disk


def advance(
    folder: RunFolder, plan: Plan, run_blocks: RunBlocks, read: Callable = frame
) -> PrecisionResult:
    """Run the current stage, apply the rule, grow the plan by whole blocks, and so on until
    the rule stops; write the result into the manifest's ``precision`` and return it."""
    spec = dict(folder.manifest["precision"])
    rule = Target(**spec["rule"])
    variants = [v.name for v in plan.variants]
    while True:
        run_blocks(plan)
        kpis = read(folder.path, "kpis")
        if spec["kpi"] is None:
            spec["kpi"] = default_kpi(kpis.columns)
        check_kpi(spec["kpi"], kpis.columns)
        need, result = evaluate(kpis, spec, variants)
        if result is not None:
            spec.update(status="stopped", **result.to_json())
            folder.update_manifest(precision=spec)
            return result
        grown = min(_round_up(need, plan.block_size), rule.max_replications)
        plan = dataclasses.replace(plan, replications=grown)
        folder.update_manifest(
            plan=plan.to_json(), replications=grown, blocks=len(plan.blocks()), precision=spec
        )


def run_to_precision(
    plan: Plan,
    target: Target,
    kpi: str | None = None,
    paired: bool = False,
    out: Path = Path("results"),
    executor: Executor | None = None,
    scenarios: dict[str, LoadedScenario] | None = None,
) -> tuple[RunFolder, PrecisionResult]:
    """Run ``plan``'s variants until ``kpi`` (default: :func:`default_kpi`) is as precise as
    ``target`` asks, or its maximum is reached; returns the run folder and the result."""
    folder, plan, scenarios = start(plan, target, kpi, paired, out, scenarios=scenarios)
    pool = executor or InlineExecutor()
    result = advance(folder, plan, lambda p: execute(folder, p, scenarios, pool))
    return folder, result
