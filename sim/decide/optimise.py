"""Which option is best: ranking and selection under a risk constraint, with common random
numbers.

A planner asks for the option (window length, extra signers, ...) with the smallest objective
(a KPI, or the decision variable itself: "the shortest window") among those whose risk
``P(KPI2 > x)`` is at most ``p``. Every candidate is a scenario from a grid of ``--over``
values; all run the same replication indices of one root seed, so their differences are
paired. The procedure spends replications where they decide the answer:

1. Every candidate gets ``n0`` replications.
2. Feasibility: ``P(KPI2 > x)`` with a 95 % Wilson interval per candidate; a candidate is
   feasible when the interval lies at or below ``p``, infeasible when above, else undecided.
3. Objective: among feasible candidates (and undecided ones that would beat them), the
   Optimal Computing Budget Allocation of Chen et al. (2000) gives each the share of the next
   ``delta`` replications that most raises the approximate probability of correct selection
   (APCS, Bonferroni bound over paired comparisons with the best); undecided candidates that
   could still be best get replications to settle their feasibility.
4. Stop when the best is feasible, no undecided candidate could beat it, and the APCS (with
   the indifference zone, if given: differences below it count as correct) reaches the target;
   or when the budget is spent.

The procedure sees the model only through ``evaluate`` (candidate replications -> KPI rows),
so it runs the same on simulations and on a constructed test problem with a known answer.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.compare import wilson_interval
from sim.decide.points import Point, check_field, create, run_points
from sim.decide.target import DecideError, check_kpi
from sim.experiment.runfolder import RunFolder, write_json
from sim.scenario.loading import LoadedScenario, with_changes

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
OVER = re.compile(rf"^(?P<lo>{NUMBER})\s*\.\.\s*(?P<hi>{NUMBER})(?:\s*:\s*(?P<step>{NUMBER}))?$")
CONSTRAINT = re.compile(
    rf"^\s*P\s*\(\s*(?P<kpi>[A-Za-z_][A-Za-z0-9_]*)\s*>\s*(?P<x>{NUMBER})\s*\)\s*<=\s*"
    rf"(?P<p>{NUMBER})\s*$"
)
MAX_CANDIDATES = 200


@dataclass(frozen=True)
class Axis:
    """One decision variable: a scenario path and its candidate values."""

    path: str
    values: tuple[float | int, ...]


def parse_over(text: str) -> Axis:
    """``path=lo..hi[:step]`` (step 1 by default, integers when all are) or ``path=a,b,c``."""
    path, sep, spec = text.partition("=")
    path, spec = path.strip(), spec.strip()
    if not sep or not path or not spec:
        raise DecideError(f"--over {text!r}: expected path=low..high[:step] or path=a,b,c")
    m = OVER.match(spec)
    if m:
        parts = [m["lo"], m["hi"], m["step"] or "1"]
        integer = all(re.fullmatch(r"[-+]?\d+", p) for p in parts)
        lo, hi, step = (float(p) for p in parts)
        if step <= 0:
            raise DecideError(f"--over {text!r}: the step must be positive")
        if lo > hi:
            raise DecideError(f"--over {text!r}: empty range (low {lo:g} above high {hi:g})")
        count = math.floor((hi - lo) / step + 1e-9) + 1
        if count > MAX_CANDIDATES:
            raise DecideError(f"--over {text!r}: {count} values; at most {MAX_CANDIDATES}")
        values = [lo + i * step for i in range(count)]
        return Axis(path, tuple(round(v) if integer else round(v, 12) for v in values))
    try:
        values = [float(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise DecideError(f"--over {text!r}: values must be numbers") from None
    if not values:
        raise DecideError(f"--over {text!r}: no values")
    return Axis(path, tuple(int(v) if v.is_integer() else v for v in dict.fromkeys(values)))


@dataclass(frozen=True)
class Constraint:
    """``P(kpi > threshold) <= limit``."""

    kpi: str
    threshold: float
    limit: float

    def __str__(self) -> str:
        return f"P({self.kpi} > {self.threshold:g}) <= {self.limit:g}"


def parse_constraint(text: str) -> Constraint:
    m = CONSTRAINT.match(text)
    if not m:
        raise DecideError(f'--subject-to {text!r}: expected "P(KPI > x) <= p"')
    c = Constraint(check_kpi(m["kpi"]), float(m["x"]), float(m["p"]))
    if not 0 < c.limit < 1:
        raise DecideError(
            f"--subject-to {text!r}: p must lie strictly between 0 and 1 (p = 0 can never be "
            "shown by sampling, and p = 1 holds for every candidate)"
        )
    return c


def grid(axes: Sequence[Axis]) -> list[dict[str, float | int]]:
    """Every combination of the axes' values."""
    paths = [a.path for a in axes]
    if len(set(paths)) != len(paths):
        raise DecideError(f"a path is given twice in --over: {', '.join(paths)}")
    combos = list(itertools.product(*(a.values for a in axes)))
    if len(combos) > MAX_CANDIDATES:
        raise DecideError(f"{len(combos)} candidates; at most {MAX_CANDIDATES}")
    return [dict(zip(paths, c, strict=True)) for c in combos]


def name_of(candidate: dict[str, Any]) -> str:
    return ",".join(f"{p.split('.')[-1]}={v}" for p, v in candidate.items())


@dataclass
class Settings:
    """The procedure's knobs."""

    n0: int = 10  # first-stage replications per candidate
    delta: int = 10  # replications allocated per round
    budget: int = 0  # total replications over all candidates (0: 30 per candidate)
    pcs: float = 0.95  # target APCS
    indifference: float = 0.0  # differences smaller than this count as a correct selection
    max_per_candidate: int = 1000

    def check(self, k: int) -> None:
        if self.n0 < 2:
            raise DecideError(f"the first stage needs at least 2 replications, not {self.n0}")
        if self.delta < 1:
            raise DecideError("replications per round must be at least 1")
        if not 0 < self.pcs < 1:
            raise DecideError(f"the PCS target must lie between 0 and 1, not {self.pcs}")
        if self.indifference < 0:
            raise DecideError("the indifference zone cannot be negative")
        if self.budget and self.budget < self.n0 * k:
            raise DecideError(
                f"budget {self.budget} is below the first stage ({self.n0} x {k} candidates)"
            )


@dataclass
class CandidateResult:
    name: str
    values: dict[str, Any]
    replications: int
    mean: float  # objective
    low: float
    high: float
    p_exceed: float
    p_low: float
    p_high: float
    status: str  # "feasible", "infeasible" or "undecided"


@dataclass
class Selection:
    objective: str
    constraint: str
    best: CandidateResult | None
    runners_up: list[CandidateResult]
    candidates: list[CandidateResult]
    pcs: float | None  # APCS of the best among feasible candidates
    indifference: float
    replications: int
    reason: str
    closest: list[CandidateResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Evaluate = Callable[[list[tuple[int, range]]], pd.DataFrame]
"""(candidate index, replications) pairs -> KPI rows with columns ``candidate`` and
``replication`` (and the KPIs), for every pair."""


class _State:
    """Objective and constraint values per candidate, in replication order."""

    def __init__(self, k: int):
        self.y: list[np.ndarray] = [np.empty(0) for _ in range(k)]
        self.z: list[np.ndarray] = [np.empty(0) for _ in range(k)]

    def add(self, rows: pd.DataFrame, objective: Callable, c: Constraint) -> None:
        for i, part in rows.sort_values("replication").groupby("candidate", sort=False):
            self.y[int(i)] = np.concatenate([self.y[int(i)], objective(int(i), part)])
            self.z[int(i)] = np.concatenate([self.z[int(i)], part[c.kpi].to_numpy(float)])

    def n(self, i: int) -> int:
        return len(self.y[i])


def _apcs_terms(state: _State, best: int, others: Sequence[int], zone: float) -> dict[int, float]:
    """P(candidate i beats the best) per i, normal approximation of the paired mean
    difference on common replications (an indifference zone shifts it in the best's favour)."""
    out = {}
    for i in others:
        m = min(state.n(i), state.n(best))
        d = state.y[i][:m] - state.y[best][:m]
        mean = float(d.mean()) + zone
        se = float(d.std(ddof=1)) / math.sqrt(m) if m > 1 else math.inf
        out[i] = (0.0 if mean > 0 else 1.0) if se == 0 else float(stats.norm.cdf(-mean / se))
    return out


def _ocba(state: _State, pool: Sequence[int], best: int, total: int) -> dict[int, float]:
    """OCBA target counts for ``pool`` summing to ``total`` (Chen et al. 2000)."""
    means = {i: float(state.y[i].mean()) for i in pool}
    sds = {i: max(float(state.y[i].std(ddof=1)), 1e-12) for i in pool}
    ratio = {}
    for i in pool:
        if i == best:
            continue
        gap = max(abs(means[i] - means[best]), 1e-9 * (1 + abs(means[best])))
        ratio[i] = (sds[i] / gap) ** 2
    if not ratio:
        return {best: float(total)}
    ratio[best] = sds[best] * math.sqrt(sum(r * r / sds[i] ** 2 for i, r in ratio.items()))
    scale = total / sum(ratio.values())
    return {i: r * scale for i, r in ratio.items()}


def select(
    k: int,
    evaluate: Evaluate,
    objective: Callable[[int, pd.DataFrame], np.ndarray],
    objective_name: str,
    constraint: Constraint,
    names: Sequence[str],
    values: Sequence[dict[str, Any]],
    settings: Settings | None = None,
) -> Selection:
    """Run the procedure over ``k`` candidates (see the module docstring)."""
    s = settings or Settings()
    s.check(k)
    budget = s.budget or 30 * k
    state = _State(k)
    state.add(evaluate([(i, range(s.n0)) for i in range(k)]), objective, constraint)
    while True:
        status, rows = _classify(state, constraint, names, values)
        feasible = [i for i in range(k) if status[i] == "feasible"]
        undecided = [i for i in range(k) if status[i] == "undecided"]
        best = min(feasible, key=lambda i: state.y[i].mean()) if feasible else None
        if best is not None:
            challengers = [i for i in undecided if state.y[i].mean() < state.y[best].mean()]
        else:
            challengers = list(undecided)
        apcs = None
        if best is not None:
            others = [i for i in feasible if i != best]
            apcs = max(0.0, 1 - sum(_apcs_terms(state, best, others, s.indifference).values()))
        used = sum(state.n(i) for i in range(k))
        if best is not None and not challengers and apcs is not None and apcs >= s.pcs:
            reason = f"the best is feasible, none undecided could beat it, and APCS >= {s.pcs}"
            break
        if not feasible and not undecided:
            reason = "every candidate is infeasible: no candidate meets the constraint"
            break
        open_ = [i for i in (*feasible, *challengers) if state.n(i) < s.max_per_candidate]
        if used >= budget:
            reason = f"budget of {budget} replications spent"
            break
        if not open_:
            reason = f"every open candidate has its maximum of {s.max_per_candidate} replications"
            break
        grant = _allocate(state, best, feasible, challengers, min(s.delta, budget - used), s)
        batch = [(i, range(state.n(i), state.n(i) + g)) for i, g in grant.items() if g > 0]
        if not batch:
            reason = f"every open candidate has its maximum of {s.max_per_candidate} replications"
            break
        state.add(evaluate(batch), objective, constraint)
    ranked = sorted(rows, key=lambda r: (r.status != "feasible", r.mean))
    chosen = rows[best] if best is not None else None
    closest = [] if chosen else sorted(rows, key=lambda r: r.p_exceed)[:3]
    return Selection(
        objective_name, str(constraint), chosen,
        [r for r in ranked if r.status == "feasible" and r is not chosen][:3], ranked,
        apcs, s.indifference, used, reason, closest,
    )  # fmt: skip


def _classify(state: _State, c: Constraint, names, values) -> tuple[list[str], list]:
    status, rows = [], []
    for i in range(len(state.y)):
        y, z = state.y[i], state.z[i]
        p = wilson_interval(int((z > c.threshold).sum()), len(z))
        st = "feasible" if p.high <= c.limit else "infeasible" if p.low > c.limit else "undecided"
        half = stats.t.ppf(0.975, len(y) - 1) * y.std(ddof=1) / math.sqrt(len(y))
        status.append(st)
        rows.append(
            CandidateResult(
                names[i],
                dict(values[i]),
                len(y),
                float(y.mean()),
                float(y.mean() - half),
                float(y.mean() + half),
                p.mean,
                p.low,
                p.high,
                st,
            )
        )
    return status, rows


def _allocate(state, best, feasible, challengers, delta: int, s: Settings) -> dict[int, int]:
    """Split ``delta`` replications: half to settle challengers' feasibility (if any), the
    rest by OCBA among the feasible candidates and the challengers."""
    grant: dict[int, int] = {}
    if challengers:
        share = max(1, delta // 2) if feasible else delta
        for j, i in enumerate(sorted(challengers, key=lambda i: state.y[i].mean())):
            grant[i] = grant.get(i, 0) + share // len(challengers) + (j < share % len(challengers))
    left = delta - sum(grant.values())
    pool = [*feasible, *challengers]
    if left > 0 and best is not None and len(pool) > 1:
        total = sum(state.n(i) for i in pool) + left
        target = _ocba(state, pool, best, total)
        want = {i: max(0.0, target[i] - state.n(i)) for i in pool}
        spread = sum(want.values())
        if spread > 0:
            raw = {i: left * w / spread for i, w in want.items()}
            given = {i: math.floor(v) for i, v in raw.items()}
            rest = left - sum(given.values())
            for i in sorted(raw, key=lambda i: given[i] - raw[i])[:rest]:
                given[i] += 1
            for i, g in given.items():
                grant[i] = grant.get(i, 0) + g
    elif left > 0 and pool:
        grant[pool[0]] = grant.get(pool[0], 0) + left
    return {i: min(g, s.max_per_candidate - state.n(i)) for i, g in grant.items()}


def run_optimise(
    sc: LoadedScenario,
    axes: Sequence[Axis],
    minimise: str,
    constraint: Constraint,
    settings: Settings | None = None,
    root_seed: int = 0,
    out: Path = Path("results"),
    executor: Executor | None = None,
    argv: Sequence[str] = (),
) -> tuple[RunFolder, Selection]:
    """Select the best candidate of the grid by simulation; its run folder holds every
    candidate's KPIs (table ``kpis``, variant = candidate) and ``optimise.json``."""
    settings = settings or Settings()
    candidates = grid(axes)
    paths = [a.path for a in axes]
    if minimise not in paths:
        check_kpi(minimise)
    for a in axes:  # every value must be acceptable before anything runs
        check_field(sc, a.path, a.values)
    scenarios = [with_changes(sc, c) for c in candidates]
    names = [name_of(c) for c in candidates]
    settings.check(len(candidates))
    folder = create(
        "optimise", sc, out, root_seed, argv, variants=names, objective=minimise,
        constraint=str(constraint), over=[asdict(a) for a in axes], settings=asdict(settings),
    )  # fmt: skip
    blocks = itertools.count()

    def evaluate(batch: list[tuple[int, range]]) -> pd.DataFrame:
        points = [Point(next(blocks), names[i], scenarios[i], reps) for i, reps in batch]
        kpis = run_points(folder, points, executor)
        check_kpi(constraint.kpi, kpis.columns)
        if minimise not in paths:
            check_kpi(minimise, kpis.columns)
        index = {n: i for i, n in enumerate(names)}
        return kpis.assign(candidate=kpis["variant"].map(index))

    def objective(i: int, part: pd.DataFrame) -> np.ndarray:
        if minimise in paths:
            return np.full(len(part), float(candidates[i][minimise]))
        return part[minimise].to_numpy(float)

    result = select(
        len(candidates), evaluate, objective, minimise, constraint, names, candidates, settings
    )
    write_json(folder.path / "optimise.json", result.to_json())
    folder.update_manifest(status="complete")
    return folder, result


def load(run_dir: str | Path) -> dict[str, Any]:
    """The selection of an optimise run folder (``optimise.json``)."""
    return json.loads((Path(run_dir) / "optimise.json").read_text())
