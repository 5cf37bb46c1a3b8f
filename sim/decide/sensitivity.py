"""Which uncertain inputs drive the answer: global sensitivity with SALib (Morris or Sobol).

The inputs are the parameters of the scenario's input distributions over the plausible
``range:`` documented for each in ``distributions/`` (``result_review_time.median``), and any
numeric field of the scenario reachable by dotted path with a range given by the user
(``staffing.extra_signers.health_centre=0..3``, integers when both ends are). Each design point
is the scenario with those values set, run over the same replications of one root seed
(common random numbers, :mod:`sim.decide.points`), so the only thing that differs between
points is the inputs. A ``dummy`` input that the model never reads is the built-in check: its
elementary effects and Sobol indices are exactly zero under common random numbers, and any
real input ranked below it is indistinguishable from noise.

Morris screening (elementary effects, Campolongo's mu*) ranks many inputs with ``r (k + 1)``
points; Sobol's first- and total-order indices (Saltelli sampling, ``N (k + 2)`` points)
quantify them. One function, :func:`study`, samples, evaluates through a callback and analyses,
whatever the callback is: the command line's simulation or a test function with known indices.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from sim.decide.points import Point, check_field, create, run_points
from sim.decide.target import DecideError, check_kpi, default_kpi
from sim.experiment.runfolder import RunFolder, write_json
from sim.scenario.drawn import with_library
from sim.scenario.loading import LoadedScenario, with_changes
from sim.scenario.yamlio import resolve_dotted

METHODS = ("morris", "sobol")
DUMMY = "dummy"
LEVEL = 0.95
MORRIS_LEVELS = 4
RANGE = re.compile(r"^\s*(?P<lo>[-+0-9.eE]+)\s*\.\.\s*(?P<hi>[-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Input:
    """One uncertain input: a distribution parameter, a scenario field, or the dummy."""

    name: str
    low: float
    high: float
    kind: str  # "distribution", "field" or "dummy"
    integer: bool = False

    def value(self, x: float) -> float | int:
        return round(x) if self.integer else float(x)


def used_distributions(sc: LoadedScenario) -> list[str]:
    """Names of the library distributions the scenario reads, in first-use order."""
    s = sc.model
    names = [*s.inputs.values()]
    for kind in s.site_kinds.values():
        names += kind.inputs.values()
    names += [c.turnaround for c in s.test_categories]
    names += [site.orders_per_day for site in s.sites if isinstance(site.orders_per_day, str)]
    names += sc.sources.values()  # numbers given as a distribution's name
    return list(dict.fromkeys(n for n in names if n in sc.library))


def default_inputs(sc: LoadedScenario) -> list[Input]:
    """Every ranged parameter of every distribution the scenario uses."""
    out = []
    for name in used_distributions(sc):
        for param, (lo, hi) in (sc.library[name].range or {}).items():
            out.append(Input(f"{name}.{param}", float(lo), float(hi), "distribution"))
    return out


def parse_input(sc: LoadedScenario, text: str) -> Input:
    """``dist.param`` (its documented range), ``dotted.path=lo..hi`` or ``dummy``."""
    text = text.strip()
    if text == DUMMY:
        return Input(DUMMY, 0.0, 1.0, "dummy")
    path, sep, span = text.partition("=")
    if sep:
        m = RANGE.match(span)
        if not m:
            raise DecideError(f"input {text!r}: expected path=low..high, e.g. {path}=0..3")
        lo, hi = float(m["lo"]), float(m["hi"])
        if not lo < hi:
            raise DecideError(f"input {text!r}: empty range (low must be below high)")
        try:
            resolve_dotted(sc.doc.data, path.strip())
        except KeyError as exc:
            raise DecideError(f"input {path.strip()!r}: {exc.args[0]}") from None
        integer = all(re.fullmatch(r"[-+]?\d+", m[k]) for k in ("lo", "hi"))
        found = Input(path.strip(), lo, hi, "field", integer)
        check_field(sc, found.name, [found.value(lo), found.value(hi)])
        return found
    name, _, param = text.rpartition(".")
    spec = sc.library.get(name)
    if spec is None:
        raise DecideError(
            f"unknown input {text!r}: not a distribution parameter (known: "
            f"{', '.join(i.name for i in default_inputs(sc))}); give a scenario field as "
            "path=low..high"
        )
    ranges = spec.range or {}
    if param not in ranges:
        raise DecideError(
            f"input {text!r}: distribution {name!r} documents no range for {param!r} "
            f"(ranged: {', '.join(ranges) or 'none'}); add one in distributions/ first"
        )
    lo, hi = ranges[param]
    if not lo < hi:
        raise DecideError(f"input {text!r}: empty range [{lo}, {hi}] in distributions/")
    return Input(text, float(lo), float(hi), "distribution")


def inputs_for(sc: LoadedScenario, names: Sequence[str] | None, dummy: bool) -> list[Input]:
    """The study's inputs: those named (default: every ranged used distribution parameter),
    plus the dummy when asked; at least two, no repeats."""
    found = [parse_input(sc, n) for n in names] if names else default_inputs(sc)
    if dummy and all(i.kind != "dummy" for i in found):
        found.append(Input(DUMMY, 0.0, 1.0, "dummy"))
    empty = [i.name for i in found if not i.low < i.high]
    if empty:
        raise DecideError(f"empty range for input(s) {', '.join(empty)}")
    seen = [i.name for i in found]
    if len(set(seen)) != len(seen):
        raise DecideError(f"an input is named twice: {', '.join(seen)}")
    if len(found) < 2:
        raise DecideError("a sensitivity study needs at least two inputs")
    return found


def apply(sc: LoadedScenario, inputs: Sequence[Input], row: Sequence[float]) -> LoadedScenario:
    """The scenario at one design point (checked like ``--set``)."""
    fields = {i.name: i.value(x) for i, x in zip(inputs, row, strict=True) if i.kind == "field"}
    out = with_changes(sc, fields) if fields else sc
    params: dict[str, dict[str, float]] = {}
    for i, x in zip(inputs, row, strict=True):
        if i.kind == "distribution":
            name, _, param = i.name.rpartition(".")
            params.setdefault(name, {})[param] = float(np.clip(x, i.low, i.high))
    if params:
        library = dict(out.library)
        for name, values in params.items():
            library[name] = library[name].with_params(values)
        out = with_library(out, library)  # numbers named after a distribution follow it
    return out


def problem(inputs: Sequence[Input]) -> dict[str, Any]:
    """The SALib problem of the inputs."""
    return {
        "num_vars": len(inputs),
        "names": [i.name for i in inputs],
        "bounds": [[i.low, i.high] for i in inputs],
    }


def check_design(method: str, n: int) -> None:
    """A usage error for a method or size SALib cannot sample."""
    if method not in METHODS:
        raise DecideError(f"unknown method {method!r}; choose {' or '.join(METHODS)}")
    if n < 2:
        raise DecideError(f"-n must be at least 2 for {method}, not {n}")
    if method == "sobol" and n & (n - 1):
        raise DecideError(f"Sobol's base sample -n must be a power of 2, not {n}")


def sample(inputs: Sequence[Input], method: str, n: int, seed: int) -> np.ndarray:
    """The design: ``n`` Morris trajectories, or a Saltelli sample of base size ``n``."""
    check_design(method, n)
    p = problem(inputs)
    if method == "morris":
        return morris_sample.sample(p, n, num_levels=MORRIS_LEVELS, seed=seed)
    return sobol_sample.sample(p, n, calc_second_order=False, seed=seed)


def analyse(
    inputs: Sequence[Input],
    method: str,
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    level: float = LEVEL,
) -> list[dict[str, Any]]:
    """Indices with bootstrap confidence half-widths, most influential first."""
    p = problem(inputs)
    y = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(y)):
        raise DecideError("the KPI is not a finite number at every design point")
    if method == "morris":
        r = morris_analyze.analyze(
            p, x, y, num_resamples=1000, conf_level=level, num_levels=MORRIS_LEVELS, seed=seed
        )
        keys = ("mu_star", "mu_star_conf", "mu", "sigma")
        order = "mu_star"
    else:
        if np.var(y) == 0:
            raise DecideError("the KPI is the same at every design point: no variance to split")
        r = sobol_analyze.analyze(
            p, y, calc_second_order=False, num_resamples=1000, conf_level=level, seed=seed
        )
        keys = ("S1", "S1_conf", "ST", "ST_conf")
        order = "ST"
    rows = []
    for j, i in enumerate(inputs):
        row: dict[str, Any] = {"input": i.name, "kind": i.kind, "low": i.low, "high": i.high}
        row.update({k: _clean(r[k][j]) for k in keys})
        rows.append(row)
    return sorted(rows, key=lambda row: -(row[order] if row[order] is not None else -math.inf))


def _clean(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass
class Result:
    """A finished study: the design, the KPI at each point, and the indices."""

    method: str
    kpi: str
    inputs: list[Input]
    design: np.ndarray
    y: np.ndarray
    indices: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "kpi": self.kpi, "indices": self.indices}


Evaluate = Callable[[np.ndarray], tuple[np.ndarray, str]]  # design -> (KPI per point, name)


def study(
    inputs: Sequence[Input], method: str, n: int, evaluate: Evaluate, seed: int = 0
) -> Result:
    """Sample, evaluate every point, analyse: the path of every sensitivity study."""
    x = sample(inputs, method, n, seed)
    y, kpi = evaluate(x)
    return Result(method, kpi, list(inputs), x, y, analyse(inputs, method, x, y, seed))


def run_sensitivity(
    sc: LoadedScenario,
    inputs: Sequence[Input],
    method: str = "morris",
    n: int = 10,
    kpi: str | None = None,
    replications: int = 1,
    root_seed: int = 0,
    out: Path = Path("results"),
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
    argv: Sequence[str] = (),
) -> tuple[RunFolder, Result]:
    """A sensitivity study of ``sc`` by simulation; its run folder holds the design
    (``design.csv``), the KPIs of every point and replication (table ``kpis``, variant =
    point) and the indices (``sensitivity.json``)."""
    if kpi is not None:
        check_kpi(kpi)
    if replications < 1:
        raise DecideError(f"replications per point must be at least 1, not {replications}")
    check_design(method, n)  # a bad request fails before any folder exists
    folder = create(
        "sensitivity", sc, out, root_seed, argv, method=method, replications=replications,
        inputs=[dataclasses.asdict(i) for i in inputs],
    )  # fmt: skip

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, str]:
        names = [f"p{j:05d}" for j in range(len(x))]
        design = pd.DataFrame(x, columns=[i.name for i in inputs])
        design.insert(0, "point", names)
        design.to_csv(folder.path / "design.csv", index=False)
        folder.update_manifest(variants=names, design_points=len(x))
        points = [
            Point(j, names[j], apply(sc, inputs, row), range(replications))
            for j, row in enumerate(x)
        ]
        kpis = run_points(folder, points, executor, progress)
        name = kpi or default_kpi(kpis.columns)
        check_kpi(name, kpis.columns)
        means = kpis.groupby("variant", sort=False)[name].mean()
        return means.reindex(names).to_numpy(float), name

    result = study(inputs, method, n, evaluate, root_seed)
    write_json(folder.path / "sensitivity.json", result.to_json())
    folder.update_manifest(status="complete", kpi=result.kpi)
    return folder, result


def load(run_dir: str | Path) -> dict[str, Any]:
    """The indices of a sensitivity run folder (``sensitivity.json``)."""
    return json.loads((Path(run_dir) / "sensitivity.json").read_text())
