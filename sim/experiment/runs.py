"""Monte Carlo experiments: every variant over the same replications, in blocks, on any executor.

A replication's random streams are keyed by root seed, replication index and stream name,
never by variant (:mod:`sim.sampling.streams`), so variant A and variant B of replication *r*
face the same demand, turnaround and handling draws: common random numbers, which is what
makes a paired comparison of variants sharp.

The work is cut into blocks of replications; a block runs every variant of its replications
and returns small tables (:mod:`sim.metrics.summary`). Blocks are the unit of scheduling and of
recovery: the driver writes each finished block to the run folder atomically, whichever
worker computed it, so no shared file system is needed, an interrupted run keeps every
finished block, and ``resume`` runs the rest. The cut depends on the replication count only,
never on the number of workers, so 1 worker, 2 workers and a Dask cluster write the same rows.

Any :class:`concurrent.futures.Executor` runs the blocks: in this process, local processes, or
a Dask cluster (``distributed.Client.get_executor``).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import hashlib
import math
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED as FIRST
from concurrent.futures import Executor, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.experiment.errors import ExperimentError
from sim.experiment.runfolder import RunFolder, RunFolderError, RunFolderWriteError, environment
from sim.experiment.twin import TWIN, no_cutover
from sim.metrics.excess import UnitDays, add_excess, breakdown, time_to_sign, unit_days
from sim.metrics.kpis import thresholds
from sim.metrics.summary import summarise
from sim.metrics.tables import tabulate
from sim.model.replication import run_replication
from sim.scenario.loading import LoadedScenario, load_doc, load_scenario, variant_patches

MAX_BLOCK = 4  # replications per block: small enough that an interruption loses little


@dataclass(frozen=True)
class Variant:
    """A named scenario variant: a declared one (``declared``) and/or ``--set``-style overrides."""

    name: str
    declared: str | None = None
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What an experiment runs; saved in the manifest so that a run can be resumed."""

    scenario_file: str
    variants: tuple[Variant, ...]
    replications: int
    root_seed: int
    overrides: tuple[str, ...] = ()
    block_size: int = 0  # 0: chosen from the replication count
    detail: bool = False  # keep unit-day and lab-day tables too
    per_result: bool = False  # keep one row per result too (small runs only)
    twin: bool = True  # also run the no-cutover twin of each replication (excess KPIs)

    def __post_init__(self) -> None:
        # Absolute, so that a run can be resumed or charted from any working directory.
        object.__setattr__(self, "scenario_file", str(Path(self.scenario_file).resolve()))
        if self.replications < 1:
            raise ExperimentError(f"replications must be at least 1, not {self.replications}")
        if not self.variants:
            raise ExperimentError("no variant to run")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ExperimentError(f"variant names repeat: {', '.join(names)}")
        if self.twin and TWIN in names:
            raise ExperimentError(f"variant name {TWIN!r} is the twin's; rename the variant")
        if self.block_size == 0:
            size = min(MAX_BLOCK, max(1, math.ceil(self.replications / 50)))
            object.__setattr__(self, "block_size", size)

    def blocks(self) -> list[range]:
        n, b = self.replications, self.block_size
        return [range(i, min(i + b, n)) for i in range(0, n, b)]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        variants = tuple(
            Variant(v["name"], v.get("declared"), tuple(v.get("overrides", ())))
            for v in data["variants"]
        )
        # A run started before the twin existed has none, and resumes without one.
        twin = bool(data.get("twin", False))
        overrides = tuple(data.get("overrides", ()))
        return cls(**{**data, "variants": variants, "overrides": overrides, "twin": twin})


def plan_for(
    scenarios: dict[str, LoadedScenario], replications: int, root_seed: int | None = None, **kw
) -> Plan:
    """A plan for scenarios made in Python (pass them to :func:`run_experiment` too)."""
    first = next(iter(scenarios.values()))
    variants = tuple(Variant(name) for name in scenarios)
    seed = fresh_seed() if root_seed is None else root_seed
    return Plan(str(first.path), variants, replications, seed, **kw)


def fresh_seed() -> int:
    """A root seed from the operating system's entropy (63 bits: fits every table format)."""
    return secrets.randbits(63)


def load_variants(plan: Plan) -> dict[str, LoadedScenario]:
    """Every variant of the plan, loaded and checked (raises :class:`ScenarioError`)."""
    out = {}
    for v in plan.variants:
        sc = load_scenario(plan.scenario_file, v.declared, (*plan.overrides, *v.overrides))
        sc.variant = v.name
        out[v.name] = sc
    return out


def load_twin(
    plan: Plan, scenarios: dict[str, LoadedScenario], in_python: bool
) -> LoadedScenario | None:
    """The plan's no-cutover twin (None with ``twin=False``): that of the base scenario, the
    file with the run's overrides and no variant patch (:mod:`sim.experiment.twin` says why),
    or, for scenarios made in Python, that of the first one."""
    if not plan.twin:
        return None
    if in_python:
        base = next(iter(scenarios.values()))
    else:
        base = load_scenario(plan.scenario_file, None, plan.overrides)
    return no_cutover(base)


# ---------------------------------------------------------------------------------- blocks


@dataclass
class Block:
    """One task: these replications, every variant. Carries the loaded scenarios themselves
    (a few hundred kB pickled), so workers need no access to the scenario files."""

    index: int
    replications: range
    scenarios: dict[str, LoadedScenario]
    root_seed: int
    detail: bool
    per_result: bool
    twin: LoadedScenario | None = None


@dataclass
class BlockResult:
    index: int
    tables: dict[str, pd.DataFrame]
    seconds: float
    worker: str = field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}")


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse instead of returning it to the system.

    A replication allocates about a gigabyte in large arrays; by default each is mapped fresh
    from the system and unmapped when freed, and the virtual machine charges for every page
    touched anew (1-2 s per replication, in system time). Kept in the heap, the next
    replication of the same worker reuses those pages. The peak memory does not change, and
    neither do the results. Returns whether it applied (glibc only).

    It changes the whole process, so it is opt-in, for processes that run replications and
    nothing else: the ``initializer`` of :func:`executor_for`'s workers, or the ``cutover``
    command's own process. Running blocks never applies it (a notebook kernel keeps its
    allocator as it was).
    """
    global _MEMORY_KEPT
    if _MEMORY_KEPT is None:
        try:
            libc = ctypes.CDLL("libc.so.6")
            m_trim_threshold, m_mmap_max = -1, -4  # from glibc's malloc.h
            _MEMORY_KEPT = bool(
                libc.mallopt(m_mmap_max, 0) and libc.mallopt(m_trim_threshold, 2**30)
            )
        except (OSError, AttributeError):
            _MEMORY_KEPT = False
    return _MEMORY_KEPT


_MEMORY_KEPT: bool | None = None


def run_block(block: Block) -> BlockResult:
    """Run the twin (if any) and every variant of the block's replications; return their
    summary tables, each variant's with its excess over the twin of the same replication."""
    start = time.perf_counter()
    parts: dict[str, list[pd.DataFrame]] = {}
    for r in block.replications:
        twin_summary, twin_days = None, None
        if block.twin is not None:
            twin_summary, twin_days = _replicate(block.twin, r, block, None, is_twin=True)
        for name, sc in block.scenarios.items():
            summary, _ = _replicate(sc, r, block, twin_days)
            if twin_summary is not None:
                add_excess(summary, twin_summary)
            _collect(parts, summary, name, r)
        if twin_summary is not None:  # last: the variants' excess needs it unlabelled
            add_excess(twin_summary, twin_summary)
            _collect(parts, twin_summary, TWIN, r)
    tables = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
    return BlockResult(block.index, tables, time.perf_counter() - start)


def _replicate(
    sc: LoadedScenario, r: int, block: Block, twin_days: UnitDays | None, is_twin: bool = False
) -> tuple[dict[str, pd.DataFrame], UnitDays]:
    """One replication's summary tables, with its breakdown against the twin's unit-days
    (``twin_days``, or its own if it is the twin; no excess without a twin) and its
    time-to-sign distribution; and its unit-days, for the twin to hand to the variants."""
    rep = run_replication(sc, r, block.root_seed)
    tables = tabulate(rep, with_results=block.per_result)
    summary = summarise(tables, detail=block.detail)
    days = unit_days(rep, tables)
    summary["breakdown"] = breakdown(days, days if is_twin else twin_days)
    summary["time_to_sign"] = time_to_sign(rep)
    if block.per_result:
        summary["results"] = tables.results
    return summary, days


def _collect(parts: dict[str, list[pd.DataFrame]], summary: dict, name: str, r: int) -> None:
    for table, frame in summary.items():
        frame.insert(0, "replication", r)
        frame.insert(0, "variant", name)
        parts.setdefault(table, []).append(frame)


class InlineExecutor(Executor):
    """Runs each task when it is submitted, in this process: one worker, no pickling."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future


@contextlib.contextmanager
def executor_for(
    kind: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    initializer: Callable[[], object] | None = None,
) -> Iterator[Executor]:
    """An executor by name: ``process`` (local processes; 1 worker runs inline) or ``dask``
    (the cluster at ``scheduler``, or a local one with ``workers`` processes).

    ``initializer`` (e.g. :func:`keep_freed_memory`) runs in each worker process as it starts,
    never in this one: one inline worker does without it."""
    workers = workers or os.cpu_count() or 1
    if kind == "process":
        if workers == 1:
            yield InlineExecutor()
            return
        pool = ProcessPoolExecutor(max_workers=workers, initializer=initializer)
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return
    if kind != "dask":
        raise ExperimentError(f"unknown executor {kind!r}; choose process or dask")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ExperimentError(
            "--executor dask needs the optional extra: pip install 'cutover[dask]'"
        ) from None
    with contextlib.ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler, timeout="10s"))
        else:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=40,
                )
            )
            client = stack.enter_context(Client(cluster))
        if initializer is not None:
            client.register_worker_callbacks(setup=initializer)
        yield client.get_executor(pure=False)


# ---------------------------------------------------------------------------------- driver


class Interrupted(Exception):
    """The run stopped before all blocks finished; the finished ones are on disk."""

    def __init__(self, folder: RunFolder, done: int, total: int):
        super().__init__(f"interrupted after {done} of {total} blocks")
        self.folder, self.done, self.total = folder, done, total


Progress = Callable[[int, int], None]  # (blocks done, blocks in all)


def start_run(
    plan: Plan,
    out: Path,
    argv: Sequence[str] = (),
    now: dt.datetime | None = None,
    scenarios: dict[str, LoadedScenario] | None = None,
) -> tuple[RunFolder, dict[str, LoadedScenario]]:
    """Load every variant (failing before anything is written), then create the run folder.

    ``scenarios`` (name -> loaded scenario, as made in Python with
    :func:`sim.scenario.with_changes`) replaces loading the plan's variants from the file.
    Returns the folder and the scenarios to run: the variants, then the twin under
    :data:`~sim.experiment.twin.TWIN` if the plan has one.
    """
    if scenarios is not None and list(scenarios) != [v.name for v in plan.variants]:
        raise ExperimentError("the scenarios given must be the plan's variants, in order")
    in_python = scenarios is not None
    scenarios = scenarios or load_variants(plan)
    first = next(iter(scenarios.values()))
    twin = load_twin(plan, scenarios, in_python)
    now = now or dt.datetime.now(dt.UTC)
    hashes = {name: sc.digest() for name, sc in scenarios.items()}
    combined = first.digest() if len(hashes) == 1 else _combine(hashes)
    name = f"{now:%Y%m%dT%H%M%SZ}-{first.model.name}-{combined[:8]}"
    manifest = {
        "argv": list(argv),
        "created_utc": now.isoformat(timespec="seconds"),
        "status": "running",
        "scenario": first.model.name,
        "title": first.model.title,
        "scenario_file": str(Path(plan.scenario_file).resolve()),
        "variants": [v.name for v in plan.variants],
        "replications": plan.replications,
        "root_seed": plan.root_seed,
        "scenario_hash": hashes | ({TWIN: twin.digest()} if twin else {}),
        "twin": TWIN if twin else None,
        "variant_descriptions": (
            dict.fromkeys(scenarios, "made in Python") if in_python else _descriptions(plan)
        ),
        "kpi_thresholds": {n: thresholds(sc.model.kpi_thresholds) for n, sc in scenarios.items()},
        "plan": plan.to_json(),
        "blocks": len(plan.blocks()),
        **environment(),
    }
    scenarios = scenarios | ({TWIN: twin} if twin else {})
    data = {n: sc.resolved_data() for n, sc in scenarios.items()}
    return RunFolder.create(out, name, manifest, data), scenarios


def _descriptions(plan: Plan) -> dict[str, str]:
    """Each variant's ``description`` from the scenario file, or its overrides."""
    doc = load_doc(Path(plan.scenario_file))
    patches = variant_patches(doc.data, doc)
    out = {}
    for v in plan.variants:
        patch = patches.get(v.declared or "", {})
        text = patch.get("description") if isinstance(patch, dict) else None
        out[v.name] = str(text) if text else ", ".join(v.overrides) or "the scenario as written"
    return out


def _combine(hashes: dict[str, str]) -> str:
    """One hash for a run of several variants (its folder name's ``hash8``)."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def reopen_run(
    run_dir: Path,
    scenario_file: Path | None = None,
    scenarios: dict[str, LoadedScenario] | None = None,
) -> tuple[RunFolder, Plan, dict]:
    """Open a run folder to finish it: its plan, and its variants (reloaded from the file,
    or those given) checked to be the very scenarios it started with."""
    folder = RunFolder.open(run_dir)
    try:
        plan = Plan.from_json(folder.manifest["plan"])
    except (KeyError, TypeError, ValueError) as exc:
        where = f"{run_dir}/manifest.json"
        raise RunFolderError(f"{where}: field 'plan' is unreadable: {exc}") from None
    same_file = Path(plan.scenario_file).resolve()
    if scenario_file is not None and Path(scenario_file).resolve() != same_file:
        raise ExperimentError(
            f"{run_dir} is a run of {plan.scenario_file}, not of {scenario_file}; "
            "resume it without a scenario argument or with the same file"
        )
    in_python = scenarios is not None
    scenarios = scenarios or load_variants(plan)
    twin = load_twin(plan, scenarios, in_python)
    scenarios = scenarios | ({TWIN: twin} if twin else {})
    saved = folder.manifest.get("scenario_hash", {})
    changed = [n for n, sc in scenarios.items() if saved.get(n) != sc.digest()]
    if changed:
        raise ExperimentError(
            f"{plan.scenario_file} (or its distributions) changed since {Path(run_dir).name} "
            f"started: variant(s) {', '.join(changed)} no longer match the saved scenario "
            "hash (a run of scenarios changed in Python resumes only with the same scenarios "
            "passed again); start a new run instead"
        )
    return folder, plan, scenarios


def execute(
    folder: RunFolder,
    plan: Plan,
    scenarios: dict[str, LoadedScenario],
    executor: Executor,
    progress: Progress | None = None,
) -> RunFolder:
    """Run the blocks not yet on disk and write each as it finishes.

    On Ctrl-C (or any error) pending blocks are cancelled, finished ones stay, the manifest
    says ``interrupted`` (if it can still be written) and :class:`Interrupted` is raised (the
    error itself, for errors: :class:`RunFolderWriteError` when the disk refused a write).
    The folder is locked meanwhile, and the files of the blocks already done are checked
    against their hashes first (:class:`RunFolderDamaged`).
    """
    if plan.twin and TWIN not in scenarios:
        raise ExperimentError(
            "the plan runs the no-cutover twin: pass the scenarios start_run or reopen_run "
            "returned (they include it)"
        )
    with folder.lock():
        folder.block_files()
        folder.clean_partial()
        return _execute_blocks(folder, plan, scenarios, executor, progress)


def _execute_blocks(
    folder: RunFolder,
    plan: Plan,
    scenarios: dict[str, LoadedScenario],
    executor: Executor,
    progress: Progress | None,
) -> RunFolder:
    twin = scenarios.get(TWIN) if plan.twin else None
    variants = {k: v for k, v in scenarios.items() if k != TWIN}
    blocks = plan.blocks()
    done = folder.done_blocks()
    todo = [i for i in range(len(blocks)) if i not in done]
    started = time.perf_counter()
    previous = float(folder.manifest.get("elapsed_seconds") or 0.0)
    if progress:
        progress(len(done), len(blocks))
    futures: set[Future] = set()
    try:
        for i in todo:
            block = Block(
                i, blocks[i], variants, plan.root_seed, plan.detail, plan.per_result, twin
            )
            futures.add(executor.submit(run_block, block))
        while futures:
            finished, futures = wait(futures, return_when=FIRST)
            for f in finished:
                result: BlockResult = f.result()
                info = {
                    "block": result.index,
                    "replications": [blocks[result.index].start, blocks[result.index].stop],
                    "seconds": round(result.seconds, 3),
                    "worker": result.worker,
                }
                folder.write_block(result.index, result.tables, info)
                done.add(result.index)
                if progress:
                    progress(len(done), len(blocks))
    except BaseException as exc:
        for f in futures:
            f.cancel()
        with contextlib.suppress(RunFolderWriteError):  # a full disk: the status stays stale
            folder.update_manifest(
                status="interrupted", elapsed_seconds=previous + time.perf_counter() - started
            )
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(folder, len(done), len(blocks)) from None
        raise
    compute = sum(info["seconds"] for info in folder.block_infos())
    folder.update_manifest(
        status="complete",
        finished_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        elapsed_seconds=round(previous + time.perf_counter() - started, 3),
        compute_seconds=round(compute, 3),
    )
    return folder


def run_experiment(
    plan: Plan,
    out: Path = Path("results"),
    executor: Executor | None = None,
    progress: Progress | None = None,
    argv: Sequence[str] = (),
    scenarios: dict[str, LoadedScenario] | None = None,
) -> RunFolder:
    """Create a run folder for ``plan`` and run it (inline when no executor is given);
    ``scenarios``: the variants as loaded scenarios, when they were made in Python."""
    folder, scenarios = start_run(plan, out, argv, scenarios=scenarios)
    return execute(folder, plan, scenarios, executor or InlineExecutor(), progress)
