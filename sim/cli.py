"""The ``cutover`` command: validate scenarios, show their timelines, print the schema.

Exit codes (also in ``--help`` and the README): 0 ok, 1 internal error, 2 usage,
65 invalid scenario (or a run folder changed after it was written), 66 missing input file,
74 a write failed (disk full, read-only folder; finished blocks are kept). Errors go to
standard error as ``file:line:col field: message`` lines, never as a Python traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sim import __version__
from sim.metrics.kpis import KPIS
from sim.scenario.errors import Diagnostic, ExitCode, ScenarioError
from sim.scenario.loading import LoadedScenario, load_doc, load_scenario, variant_patches
from sim.schedule.checks import integrations

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 internal error, 2 usage error, 65 invalid scenario or damaged run "
    "folder, 66 missing input file, 74 write failed (disk full, read-only), 130 interrupted."
)

app = typer.Typer(
    name="cutover",
    help="Simulate a staged record-system cutover and its dual-system lab-result window.\n\n"
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console(highlight=False, emoji=False)  # "file:100:5" must not become an emoji
err = Console(stderr=True, highlight=False, emoji=False)
for _console in (console, err):
    if not _console.is_terminal:  # piped or captured: never truncate or wrap diagnostics
        _console.width = 10_000

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)]
VariantOpt = Annotated[
    str | None, typer.Option("--variant", "-v", help="Apply this declared variant.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a field: dotted.path=value (repeatable)."),
]


def _report(exc: ScenarioError) -> None:
    for d in exc.diagnostics:
        _print_diagnostic(d)


def _print_diagnostic(d: Diagnostic) -> None:
    style = "red" if d.severity == "error" else "yellow"
    text = str(d).replace(f"{d.severity}: ", "", 1) if d.severity != "error" else str(d)
    err.print(f"[{style}]{d.severity}[/{style}] ", end="", markup=True)
    err.print(text, markup=False, soft_wrap=True)


def _load(path: Path, variant: str | None, overrides: list[str] | None) -> LoadedScenario:
    try:
        sc = load_scenario(path, variant, overrides or ())
    except ScenarioError as exc:
        _report(exc)
        raise typer.Exit(int(exc.exit_code)) from None
    for w in sc.warnings:
        _print_diagnostic(w)
    return sc


def _version(value: bool) -> None:
    if value:
        console.print(f"cutover {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Simulate a staged record-system cutover."""


@app.command()
def validate(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario files.", show_default=False)],
    overrides: SetOpt = None,
) -> None:
    """Check scenario files and every variant they declare; report all problems at once.

    Exit codes: 0 ok, 65 invalid scenario, 66 missing input file.
    """
    worst = ExitCode.OK
    for path in scenarios:
        try:
            base = load_scenario(path, None, overrides or ())
            doc = load_doc(path)
            names = list(variant_patches(doc.data, doc))
            for w in base.warnings:
                _print_diagnostic(w)
            bad = 0
            for name in names:
                try:
                    load_scenario(path, name, overrides or ())
                except ScenarioError as exc:
                    bad += 1
                    err.print(f"[red]error[/red] in variant {name!r} of {path}:", markup=True)
                    _report(exc)
                    worst = max(worst, exc.exit_code)
            if not bad:
                s = base.model
                console.print(
                    f"[green]ok[/green] {path}: {s.name}, {len(s.sites)} site entries "
                    f"({sum(x.count for x in s.sites)} sites), {len(s.labs)} labs, "
                    f"{len(names)} variants"
                )
        except ScenarioError as exc:
            _report(exc)
            worst = max(worst, exc.exit_code)
    raise typer.Exit(int(worst))


@app.command()
def timeline(
    scenario: ScenarioArg,
    variant: VariantOpt = None,
    overrides: SetOpt = None,
    csv: Annotated[bool, typer.Option("--csv", help="Write CSV to standard output.")] = False,
) -> None:
    """Show each site's go-live, order/result switch, lab switch, dual window and locks."""
    from sim.schedule.table import timeline_frame

    sc = _load(scenario, variant, overrides)
    frame = timeline_frame(sc)
    if csv:
        frame.to_csv(sys.stdout, index=False)
        return
    table = Table(title=f"Timeline of {sc.label}: {sc.model.title}", title_justify="left")
    shown = [
        ("site", "site"),
        ("count", "n"),
        ("lab", "lab"),
        ("ehr_go_live", "EHR go-live"),
        ("ros_switch", "lab ordering"),
        ("lab_lis_switch", "lab LIS"),
        ("coexistence_days", "dual days"),
        ("client_locked", "client locked"),
        ("events", "events"),
    ]
    for _, head in shown:
        table.add_column(head, justify="right" if head in ("n", "dual days") else "left")
    for row in frame.itertuples(index=False):
        values = row._asdict()
        cells = ["" if values[k] is None else str(values[k]) for k, _ in shown]
        if values["coexistence_days"]:
            cells[6] = f"[bold yellow]{cells[6]}[/bold yellow]"
        table.add_row(*cells)
    console.print(table)
    found = integrations(sc)
    if found:
        console.print("[bold]Transition integrations this schedule implies:[/bold]")
        for item in found:
            console.print(f"  - {item.describe()}")
    else:
        console.print("No transition integrations: every lab switches with all its units.")


ReplicationsOpt = Annotated[
    int, typer.Option("--replications", "-n", min=1, help="Replications per variant.")
]
SeedOpt = Annotated[
    int | None,
    typer.Option(min=0, max=2**63 - 1, help="Root seed (default: fresh entropy, printed)."),
]
OutOpt = Annotated[Path, typer.Option(help="Folder that receives the run folder.")]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", "-w", min=1, help="Worker processes (default: all cores)."),
]


class ExecutorKind(StrEnum):
    process = "process"
    dask = "dask"


ExecutorOpt = Annotated[
    ExecutorKind, typer.Option("--executor", help="Where blocks run: local processes or Dask.")
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(help="Dask scheduler address, e.g. tcp://host:8786 (default: a LocalCluster)."),
]
DetailOpt = Annotated[
    bool,
    typer.Option(
        "--detail", help="Also keep unit-day and lab-day tables (about 10 MB per replication)."
    ),
]
PerResultOpt = Annotated[
    bool, typer.Option("--per-result", help="Also keep one row per result (small runs only).")
]
ReportOpt = Annotated[
    bool, typer.Option("--report", help="Write report.html into the run folder at the end.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
BlockOpt = Annotated[
    int, typer.Option(min=0, help="Replications per block (0: chosen from -n, at most 4).")
]
NoTwinOpt = Annotated[
    bool,
    typer.Option(
        "--no-twin",
        help="Skip the no-cutover twin of each replication (no excess_* columns).",
    ),
]


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Map the package's errors to their message and documented exit code."""
    from sim.experiment.errors import ExperimentError
    from sim.experiment.runfolder import RunFolderError

    try:
        yield
    except ScenarioError as exc:
        _report(exc)
        raise typer.Exit(int(exc.exit_code)) from None
    except (ExperimentError, RunFolderError) as exc:
        err.print(f"[red]error[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(int(exc.exit_code)) from None
    except OSError as exc:  # writing the report or its charts
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(f"error: {where}{exc.strerror or exc}", markup=False)
        raise typer.Exit(int(ExitCode.IO_ERROR)) from None


def _split(values: list[str] | None) -> list[str]:
    return list(
        dict.fromkeys(v.strip() for item in values or [] for v in item.split(",") if v.strip())
    )


def _check_out(out: Path) -> None:
    try:  # fail before simulating, not after
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK):
            raise PermissionError(f"{out} is not writable")
    except (FileExistsError, NotADirectoryError) as exc:  # a file in the way: a usage error
        err.print(f"error: --out {out}: {exc}", markup=False)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    except OSError as exc:  # read-only, full, permission
        err.print(f"error: --out {out}: {exc}", markup=False)
        raise typer.Exit(int(ExitCode.IO_ERROR)) from None


def _progress_bar(quiet: bool):
    """A rich progress bar on standard error, or None when quiet or not a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if quiet or not err.is_terminal:
        return None
    return Progress(
        TextColumn("blocks"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
    )


def _execute(folder, plan, scenarios, executor: str, workers, scheduler, quiet: bool) -> None:
    """Run the plan's remaining blocks with a progress bar; Ctrl-C keeps finished blocks."""
    from sim.experiment.runs import Interrupted, execute, executor_for, keep_freed_memory

    todo = len(plan.blocks()) - len(folder.done_blocks())
    workers = min(workers or os.cpu_count() or 1, max(todo, 1))
    err.print(
        f"{folder.path.name}: {len(plan.variants)} variant(s) x {plan.replications} "
        f"replication(s), seed {plan.root_seed}, {todo} block(s) on {workers} {executor.value} "
        "worker(s)",
        markup=False,
    )
    bar = _progress_bar(quiet)
    task = bar.add_task("run", total=len(plan.blocks())) if bar else None

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(task, completed=done, total=total)

    keep_freed_memory()  # the command owns this process and its workers: all run replications
    try:
        with (
            bar or contextlib.nullcontext(),
            executor_for(executor.value, workers, scheduler, keep_freed_memory) as ex,
        ):
            execute(folder, plan, scenarios, ex, progress)
    except Interrupted as stop:
        err.print(
            f"interrupted: {stop.done} of {stop.total} blocks are kept in {folder.path}\n"
            f"finish with: cutover run --resume {folder.path}",
            markup=False,
        )
        raise typer.Exit(130) from None


def _summary(folder) -> None:
    """KPI means (with 95% CI half-widths when there are several replications) per variant."""
    from sim.compare import number, t_interval
    from sim.results import frame

    kpis = frame(folder.path, "kpis")
    variants = folder.manifest["variants"]
    n = folder.manifest["replications"]
    title = f"{folder.manifest['title']} (seed {folder.manifest['root_seed']}, {n} replication"
    table = Table(title=title + ("s, mean ± 95% CI)" if n > 1 else ")"))
    table.add_column("KPI")
    table.add_column("unit")
    for v in variants:
        table.add_column(v, justify="right")
    for name, kpi in KPIS.items():
        cells = []
        for v in variants:
            e = t_interval(kpis.loc[kpis["variant"] == v, name].to_numpy())
            half = "" if e.n < 2 else f" ± {number((e.high - e.low) / 2)}"
            cells.append(f"{number(e.mean)}{half}")
        table.add_row(name, kpi.unit, *cells)
    console.print(table)


@app.command()
def run(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario YAML file (not needed with --resume).")
    ] = None,
    variants: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            "--variants",
            "-v",
            help="Variant(s) to run, repeatable or comma-separated; all share random numbers.",
        ),
    ] = None,
    replications: ReplicationsOpt = 1,
    seed: SeedOpt = None,
    overrides: SetOpt = None,
    out: OutOpt = Path("results"),
    workers: WorkersOpt = None,
    executor: ExecutorOpt = ExecutorKind.process,
    scheduler: SchedulerOpt = None,
    detail: DetailOpt = False,
    per_result: PerResultOpt = False,
    block_size: BlockOpt = 0,
    quiet: QuietOpt = False,
    no_twin: NoTwinOpt = False,
    resume: Annotated[
        Path | None,
        typer.Option(help="Finish an interrupted run folder (same results as a straight run)."),
    ] = None,
    report: ReportOpt = False,
) -> None:
    """Run replications of one or more variants and write them to a new run folder.

    Every variant runs the same replications with common random numbers. The last line
    printed is the run folder; compare its variants with `cutover compare RUN`.
    """
    from sim.experiment.runs import Plan, Variant, reopen_run, start_run

    with _errors():
        if resume is not None:
            folder, plan, scenarios = reopen_run(resume, scenario)
        else:
            if scenario is None:
                err.print("error: give a SCENARIO file (or --resume RUN)", markup=False)
                raise typer.Exit(int(ExitCode.USAGE))
            names = _split(variants)
            plan = Plan(
                str(scenario),
                tuple(Variant(n, n) for n in names) or (Variant("base"),),
                replications,
                _seed(seed),
                tuple(overrides or ()),
                block_size,
                detail or per_result,
                per_result,
                twin=not no_twin,
            )
            _check_out(out)
            folder, scenarios = start_run(plan, out, sys.argv)
        for sc in list(scenarios.values())[:1]:
            for w in sc.warnings:
                _print_diagnostic(w)
        _execute(folder, plan, scenarios, executor, workers, scheduler, quiet)
        _summary(folder)
        if report:
            _write_report(folder.path)
    console.print(str(folder.path))


def _write_report(run_dir: Path, baseline: str | None = None) -> Path:
    from sim.report import write_report

    path = write_report(run_dir, baseline)
    err.print(f"report: {path}", markup=False)
    return path


def _seed(seed: int | None) -> int:
    from sim.experiment.runs import fresh_seed

    if seed is not None:
        return seed
    seed = fresh_seed()
    err.print(f"root seed {seed} (fresh entropy; pass --seed {seed} to repeat)", markup=False)
    return seed


@app.command()
def sweep(
    scenario: ScenarioArg,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            "-g",
            help="path=a,b,c: one variant per value (repeatable: every combination). "
            "Default: the scenario's sweep: block.",
        ),
    ] = None,
    replications: ReplicationsOpt = 1,
    seed: SeedOpt = None,
    overrides: SetOpt = None,
    out: OutOpt = Path("results"),
    workers: WorkersOpt = None,
    executor: ExecutorOpt = ExecutorKind.process,
    scheduler: SchedulerOpt = None,
    detail: DetailOpt = False,
    block_size: BlockOpt = 0,
    quiet: QuietOpt = False,
    no_twin: NoTwinOpt = False,
    report: ReportOpt = False,
) -> None:
    """Run a grid of variants (staffing, dates, window lengths) as one experiment.

    The last line printed is the run folder.
    """
    from sim.experiment.runs import Plan, start_run

    with _errors():
        found = _grid_variants(grid) if grid else _declared_sweep(scenario)
        plan = Plan(
            str(scenario), found, replications, _seed(seed), tuple(overrides or ()), block_size,
            detail, twin=not no_twin,
        )  # fmt: skip
        _check_out(out)
        folder, scenarios = start_run(plan, out, sys.argv)
        _execute(folder, plan, scenarios, executor, workers, scheduler, quiet)
        _summary(folder)
        if report:
            _write_report(folder.path)
    console.print(str(folder.path))


def _grid_variants(grid: list[str]):
    """``path=a,b`` options as variants named ``field=a,...``, one per combination."""
    import itertools

    from sim.experiment.errors import ExperimentError
    from sim.experiment.runs import Variant

    axes = []
    for item in grid:
        path, sep, values = item.partition("=")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not path.strip() or not vals:
            raise ExperimentError(f"--grid {item!r}: expected path=value1,value2,...")
        axes.append([(path.strip(), v) for v in vals])
    out = []
    for combo in itertools.product(*axes):
        name = ",".join(f"{p.split('.')[-1]}={v}" for p, v in combo)
        out.append(Variant(name, None, tuple(f"{p}={v}" for p, v in combo)))
    return tuple(out)


def _declared_sweep(scenario: Path):
    from sim.experiment.errors import ExperimentError
    from sim.experiment.runs import Variant

    doc = load_doc(scenario)
    names = [n for n in variant_patches(doc.data, doc) if n.startswith("sweep:")]
    if not names:
        raise ExperimentError(f"{scenario} has no sweep: block; give --grid path=a,b,c")
    return tuple(Variant(n, n) for n in names)


@app.command()
def compare(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run folder.")],
    baseline: Annotated[
        str | None, typer.Option(help="Variant to compare against (default: the first).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Per KPI: each variant's mean and threshold risk, and paired differences, with 95% CIs."""
    from sim.compare import compare_run

    with _errors():
        result = compare_run(run_dir, baseline)
    if as_json:
        print(json.dumps(_no_nan(result.to_json()), indent=2, allow_nan=False))
        return
    _print_comparison(result)


def _no_nan(x):
    """JSON has no NaN: undefined intervals (one replication) become null."""
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    return None if isinstance(x, float) and x != x else x


def _print_comparison(result) -> None:
    from sim.compare import number

    def ci(e) -> str:
        if e.n < 2 or e.low != e.low:
            return number(e.mean)
        return f"{number(e.mean)} [{number(e.low)}, {number(e.high)}]"

    def pct(e) -> str:
        return f"{e.mean:.0%} [{e.low:.0%}, {e.high:.0%}]"

    table = Table(
        title=f"{result.run}: {result.replications} replications, baseline {result.baseline} "
        "(mean [95% CI])",
        title_justify="left",
    )
    twin = any(v.excess is not None for k in result.kpis for v in k.variants)
    heads = ["KPI", "variant", "mean"]
    heads += ["excess vs no cutover", "P(excess > threshold)"] if twin else ["P(> threshold)"]
    heads.append(f"paired diff vs {result.baseline}")
    for head in heads:
        table.add_column(head, justify="left" if head in ("KPI", "variant") else "right")
    for k in result.kpis:
        diffs = {d.variant: d for d in k.differences}
        for i, v in enumerate(k.variants):
            d = diffs.get(v.variant)
            excess = [ci(v.excess) if v.excess is not None else "n/a"] if twin else []
            table.add_row(
                f"{k.kpi} (> {k.threshold:,.0f})" if i == 0 else "",
                v.variant,
                ci(v.estimate),
                *excess,
                pct(v.p_exceed),
                ci(d.paired) if d else "baseline",
                end_section=i == len(k.variants) - 1,
            )
    console.print(table)
    for k in result.kpis:
        if k.sentence:
            console.print(k.sentence, soft_wrap=True)
    for k in result.kpis:
        if k.warning:
            err.print(f"warning: {k.warning}", markup=False)


@app.command(name="report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run folder.")],
    baseline: Annotated[
        str | None, typer.Option(help="Variant to compare against (default: the first).")
    ] = None,
) -> None:
    """Write report.html (one self-contained file) and chart PNGs into a run folder.

    The last line printed is the report's path.
    """
    with _errors():
        path = _write_report(run_dir, baseline)
    console.print(str(path))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the scenario format (for editors that check YAML)."""
    from sim.scenario.schema import Scenario

    console.print_json(json.dumps(Scenario.model_json_schema()))


def main() -> None:
    """Console entry point: map any unexpected exception to exit code 1, without a traceback."""
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # pragma: no cover - the last line of defence
        err.print(f"internal error: {type(exc).__name__}: {exc} (please report this)")
        sys.exit(int(ExitCode.INTERNAL))
