"""Running many design points of one scenario, with common random numbers, into a run folder.

Sensitivity designs and optimiser candidates are scenarios made in Python, one per point, each
run over replications ``0..n-1`` of one root seed: the random streams depend on the seed, the
replication and the stream name only (:mod:`sim.sampling.streams`), so every point faces the
same demand and handling draws, and a difference between points is the inputs' doing.

A point (or a later batch of an optimiser's candidate) is one block of the run folder, so the
points spread over the workers, each is written atomically when it finishes, and the folder's
``kpis`` table reads back with :func:`sim.results.frame` like any run's. Only the KPIs are
kept: a design of hundreds of points would otherwise store hundreds of daily tables.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from sim.decide.target import DecideError
from sim.experiment.runfolder import RunFolder, environment, slug
from sim.experiment.runs import Block, BlockResult, InlineExecutor, run_block
from sim.scenario.errors import ScenarioError
from sim.scenario.loading import LoadedScenario, with_changes


@dataclass(frozen=True)
class Point:
    """One block of work: replications of one design point's scenario."""

    block: int
    name: str
    scenario: LoadedScenario
    replications: range


def create(
    kind: str,
    base: LoadedScenario,
    out: Path,
    root_seed: int,
    argv: Sequence[str] = (),
    **fields: Any,
) -> RunFolder:
    """A new run folder for a study of ``kind`` (``sensitivity``, ``optimise``) on ``base``."""
    now = dt.datetime.now(dt.UTC)
    digest = base.digest()
    name = f"{now:%Y%m%dT%H%M%SZ}-{base.model.name}-{kind}-{digest[:8]}"
    manifest = {
        "kind": kind,
        "argv": list(argv),
        "created_utc": now.isoformat(timespec="seconds"),
        "status": "running",
        "scenario": base.model.name,
        "title": base.model.title,
        "scenario_file": str(Path(base.path).resolve()),
        "base_variant": base.variant,
        "root_seed": root_seed,
        "scenario_hash": {"base": digest},
        **fields,
        **environment(),
    }
    return RunFolder.create(Path(out), name, manifest, {"base": base.resolved_data()})


def check_field(sc: LoadedScenario, path: str, values: Sequence[Any]) -> None:
    """A usage error unless the scenario accepts each value at ``path`` (as ``--set`` would)."""
    for v in values:
        try:
            with_changes(sc, {path: v})
        except ScenarioError as exc:
            problems = "; ".join(d.message for d in exc.diagnostics)
            raise DecideError(f"input {path}={v}: {problems}") from None


Progress = Callable[[int, int], None]


def run_points(
    folder: RunFolder,
    points: Sequence[Point],
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Run the points whose blocks are not on disk yet; return the KPIs of ``points``
    (one row per point and replication, in the order given)."""
    folder.clean_partial()
    done = folder.done_blocks()
    seed = int(folder.manifest["root_seed"])
    executor = executor or InlineExecutor()
    futures: dict[Future, Point] = {}
    finished = len([p for p in points if p.block in done])
    started = time.perf_counter()
    try:
        for p in points:
            if p.block in done:
                continue
            block = Block(p.block, p.replications, {p.name: p.scenario}, seed, False, False)
            futures[executor.submit(run_block, block)] = p
        pending = set(futures)
        while pending:
            ready, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in ready:
                result: BlockResult = f.result()
                p = futures[f]
                info = {
                    "block": p.block,
                    "point": p.name,
                    "replications": [p.replications.start, p.replications.stop],
                    "seconds": round(result.seconds, 3),
                    "worker": result.worker,
                }
                folder.write_block(p.block, {"kpis": result.tables["kpis"]}, info)
                finished += 1
                if progress:
                    progress(finished, len(points))
    except BaseException:
        for f in futures:
            f.cancel()
        folder.update_manifest(status="interrupted")
        raise
    folder.update_manifest(
        elapsed_seconds=round(
            float(folder.manifest.get("elapsed_seconds") or 0) + time.perf_counter() - started, 3
        )
    )
    return kpis_of(folder, points)


def kpis_of(folder: RunFolder, points: Sequence[Point]) -> pd.DataFrame:
    """The KPI rows of ``points`` from the folder, in the order of ``points``."""
    parts = []
    for p in points:
        path = folder.path / "tables" / "kpis" / f"variant={slug(p.name)}"
        parts.append(pq.read_table(path / f"block-{p.block:05d}.parquet").to_pandas())
    return pd.concat(parts, ignore_index=True)
