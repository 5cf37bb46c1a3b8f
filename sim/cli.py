"""The ``cutover`` command: validate, run, compare, report and export scenarios' experiments.

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
from sim.scenario.loading import (
    BASE_VARIANT,
    LoadedScenario,
    load_doc,
    load_scenario,
    variant_patches,
)
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
PluginOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--plugin",
        help="Import this module first (it registers extensions; repeatable). Installed "
        "packages' cutover.extensions entry points load without it.",
    ),
]
RunArg = Annotated[
    Path,
    typer.Argument(
        metavar="RUN", help="A run folder, or latest (the newest under results/, or DIR/latest)."
    ),
]
TABLE_WIDTH = 100  # terminal tables fit this many columns (fewer on a narrower terminal)


def _report(exc: ScenarioError) -> None:
    for d in exc.diagnostics:
        _print_diagnostic(d)


def _print_diagnostic(d: Diagnostic) -> None:
    style = "red" if d.severity == "error" else "yellow"
    text = str(d).replace(f"{d.severity}: ", "", 1) if d.severity != "error" else str(d)
    err.print(f"[{style}]{d.severity}[/{style}] ", end="", markup=True)
    err.print(text, markup=False, soft_wrap=True)


def _plugins(modules: list[str] | None) -> None:
    """Import ``--plugin`` modules (and entry points) before any scenario is read."""
    from sim.extensions import PluginError, add_plugins, load_plugins

    try:
        add_plugins(modules) if modules else load_plugins()
    except PluginError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(int(ExitCode.USAGE)) from None


def _table(table: Table) -> None:
    """Print a table at most TABLE_WIDTH columns wide; rich wraps the cells to fit."""
    console.print(table, width=min(console.width, TABLE_WIDTH))


def _run_path(run_dir: Path) -> Path:
    """A run folder argument, with ``latest`` resolved."""
    from sim.experiment.catalog import resolve_run
    from sim.experiment.runfolder import RunFolderError

    try:
        return resolve_run(run_dir)
    except RunFolderError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(int(exc.exit_code)) from None


def _warn_incomplete(run_dir: Path) -> None:
    from sim.results import incomplete_warning

    text = incomplete_warning(run_dir)
    if text:
        err.print(f"[yellow]warning[/yellow] {text}", markup=True, highlight=False)


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
    plugins: PluginOpt = None,
) -> None:
    """Check scenario files and every variant they declare; report all problems at once.

    Exit codes: 0 ok, 2 usage (a plugin that cannot be imported), 65 invalid scenario,
    66 missing input file.
    """
    from sim.extensions import WORKLOAD_STREAMS

    _plugins(plugins)
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
                share = s.policies.max_workload_share
                for ref in s.workload_streams:
                    console.print(f"  {WORKLOAD_STREAMS[ref.stream].booking(share)}")
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
    plugins: PluginOpt = None,
) -> None:
    """Show each site's go-live, order/result switch, lab switch, dual window and locks."""
    from sim.schedule.table import timeline_frame

    _plugins(plugins)
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
        ("ehr_go_live", "EHR\ngo-live"),
        ("ros_switch", "lab\nordering"),
        ("lab_lis_switch", "lab\nLIS"),
        ("coexistence_days", "dual\ndays"),
        ("client_locked", "client\nlocked"),
        ("events", "events"),
    ]
    dates = ("EHR\ngo-live", "lab\nordering", "lab\nLIS", "client\nlocked")
    for _, head in shown:
        table.add_column(
            head,
            justify="right" if head in ("n", "dual\ndays") else "left",
            no_wrap=head in dates or head == "lab",
            overflow="fold",
        )
    for row in frame.itertuples(index=False):
        values = row._asdict()
        cells = ["" if values[k] is None else str(values[k]) for k, _ in shown]
        if values["coexistence_days"]:
            cells[6] = f"[bold yellow]{cells[6]}[/bold yellow]"
        table.add_row(*cells)
    _table(table)
    found = integrations(sc)
    if found:
        console.print("[bold]Transition integrations this schedule implies:[/bold]")
        for item in found:
            console.print(f"  - {item.describe()}", width=min(console.width, TABLE_WIDTH))
    else:
        console.print("No transition integrations: every lab switches with all its units.")


ReplicationsOpt = Annotated[
    int,
    typer.Option(
        "--replications",
        "-n",
        min=1,
        help="Replications per variant (one gives no confidence interval: use 8 or more to "
        "compare variants).",
    ),
]
ONE_REPLICATION = (
    "one replication per variant: no confidence intervals, so the variants cannot be told "
    "apart; use -n 8 or more to compare them"
)
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
    from sim.extensions import PluginError

    try:
        yield
    except PluginError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(int(ExitCode.USAGE)) from None
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


def _execute(
    folder, plan, scenarios, executor: str, workers, scheduler, quiet: bool, fresh: bool = False
) -> None:
    """Run the plan's remaining blocks with a progress bar; Ctrl-C keeps finished blocks.
    The seed is printed here, once the run has started (``fresh``: drawn from entropy)."""
    from sim.experiment.runs import Interrupted, execute, executor_for, keep_freed_memory

    todo = len(plan.blocks()) - len(folder.done_blocks())
    workers = min(workers or os.cpu_count() or 1, max(todo, 1))
    repeat = f" (fresh entropy; pass --seed {plan.root_seed} to repeat)" if fresh else ""
    err.print(
        f"{folder.path.name}: {len(plan.variants)} variant(s) x {plan.replications} "
        f"replication(s), root seed {plan.root_seed}{repeat}, {todo} block(s) on {workers} "
        f"{executor.value} worker(s)",
        markup=False,
    )
    if plan.replications == 1:
        err.print(f"[yellow]warning[/yellow] {ONE_REPLICATION}", markup=True)
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
    """KPI means (with 95% CI half-widths when there are several replications) per variant,
    variants by their labels (with a legend when some are shortened)."""
    from sim.compare import number, t_interval
    from sim.labels import legend, needs_legend, run_labels
    from sim.results import frame

    kpis = frame(folder.path, "kpis")
    variants = folder.manifest["variants"]
    labels = run_labels(folder.manifest)
    n = folder.manifest["replications"]
    title = f"{folder.manifest['title']} (seed {folder.manifest['root_seed']}, {n} replication"
    table = Table(title=title + ("s, mean ± 95% CI)" if n > 1 else ")"))
    table.add_column("KPI (unit)", min_width=22, overflow="fold")
    for v in variants:
        table.add_column(labels[v], justify="right", overflow="fold")
    for name, kpi in KPIS.items():
        cells = []
        for v in variants:
            e = t_interval(kpis.loc[kpis["variant"] == v, name].to_numpy())
            half = "" if e.n < 2 else f" ± {number((e.high - e.low) / 2)}"
            cells.append(f"{number(e.mean)}{half}")
        table.add_row(f"{kpi.display_name()} ({kpi.unit})", *cells)
    _table(table)
    if needs_legend(folder.manifest):
        _legend_table(legend(folder.manifest))


def _legend_table(rows: list[tuple[str, str, str]]) -> None:
    table = Table(title="Variants", title_justify="left")
    table.add_column("label", no_wrap=True)
    table.add_column("variant", overflow="fold")
    table.add_column("sets", overflow="fold")
    for row in rows:
        table.add_row(*row)
    _table(table)


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
    plugins: PluginOpt = None,
    precision: Annotated[
        float | None,
        typer.Option(
            help="Add blocks until the KPI's 95% CI half-width is within this fraction of its "
            "mean (Hoad-Robinson-Davies); -n is then not used.",
            rich_help_panel="Replications by precision",
        ),
    ] = None,
    kpi: Annotated[
        str | None,
        typer.Option(
            help="KPI of --precision (default: excess_late_abnormal if the run has it, "
            "else late_abnormal).",
            rich_help_panel="Replications by precision",
        ),
    ] = None,
    absolute: Annotated[
        bool,
        typer.Option(
            help="--precision is a half-width in the KPI's unit, not a fraction of the mean.",
            rich_help_panel="Replications by precision",
        ),
    ] = False,
    paired: Annotated[
        bool,
        typer.Option(
            help="Aim at the paired differences against the first variant, not each mean.",
            rich_help_panel="Replications by precision",
        ),
    ] = False,
    min_replications: Annotated[
        int,
        typer.Option(
            min=2, help="Fewest replications.", rich_help_panel="Replications by precision"
        ),
    ] = 3,
    max_replications: Annotated[
        int,
        typer.Option(min=2, help="Most replications.", rich_help_panel="Replications by precision"),
    ] = 200,
    input_uncertainty: Annotated[
        bool,
        typer.Option(
            "--input-uncertainty",
            help="Draw every input distribution's parameters per replication from its "
            "documented range (same as --set inputs.uncertainty=true).",
        ),
    ] = False,
) -> None:
    """Run replications of one or more variants and write them to a new run folder.

    Every variant runs the same replications with common random numbers; the variant `base`
    is the scenario as written. The last line printed is the run folder; compare its
    variants with `cutover compare RUN`.
    """
    from sim.experiment.runs import Plan, Variant, reopen_run, start_run

    _plugins(plugins)
    with _errors():
        if resume is not None:
            folder, plan, scenarios = reopen_run(_run_path(resume), scenario)
        elif precision is not None:
            from sim.decide import precision as prec

            if scenario is None:
                err.print("error: give a SCENARIO file (or --resume RUN)", markup=False)
                raise typer.Exit(int(ExitCode.USAGE))
            if replications != 1:
                err.print(
                    "error: -n and --precision together: the rule picks the count; bound it "
                    "with --min-replications and --max-replications",
                    markup=False,
                )
                raise typer.Exit(int(ExitCode.USAGE))
            rule = prec.Target(precision, not absolute, min_replications, max_replications)
            names = _split(variants)
            plan = Plan(
                str(scenario),
                tuple(Variant(n, n) for n in names) or (Variant("base"),),
                1, _seed(seed), tuple(overrides or ()), block_size, detail or per_result,
                per_result,
            )  # fmt: skip
            _check_out(out)
            folder, plan, scenarios = prec.start(plan, rule, kpi, paired, out, sys.argv)
        else:
            if scenario is None:
                err.print("error: give a SCENARIO file (or --resume RUN)", markup=False)
                raise typer.Exit(int(ExitCode.USAGE))
            names = _split(variants)
            plan = Plan(
                str(scenario),
                tuple(Variant(n, None if n == BASE_VARIANT else n) for n in names)
                or (Variant(BASE_VARIANT),),
                replications,
                _seed(seed),
                (*(overrides or ()), *(["inputs.uncertainty=true"] if input_uncertainty else [])),
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
        fresh = resume is None and seed is None
        if _precision_rule_open(folder):
            from sim.decide import precision as prec

            result = prec.advance(
                folder,
                plan,
                lambda p: _execute(
                    folder, p, scenarios, executor, workers, scheduler, quiet, fresh
                ),
            )
            err.print(_precision_line(result), markup=False)
        else:
            _execute(folder, plan, scenarios, executor, workers, scheduler, quiet, fresh)
        _summary(folder)
        if report:
            _write_report(folder.path)
    console.print(str(folder.path))


def _precision_rule_open(folder) -> bool:
    """Whether a precision rule drives the run and has not stopped; its module (scipy, DuckDB)
    is imported only for such runs, so that a plain run stays light until it computes."""
    if "precision" not in folder.manifest:
        return False
    from sim.decide.precision import is_open

    return is_open(folder)


def _precision_line(result) -> str:
    """One line on why a precision-driven run stopped."""
    unit = "of the mean" if result.relative else "absolute"
    target = f"{result.target:.1%}" if result.relative else f"{result.target:g}"
    achieved = f"{result.achieved:.1%}" if result.relative else f"{result.achieved:g}"
    return (
        f"precision: {result.kpi}{' (paired)' if result.paired else ''}, target ±{target} "
        f"{unit}, achieved ±{achieved} after {result.replications} replications: {result.reason}"
    )


def _write_report(
    run_dir: Path, baseline: str | None = None, other_uncertainty: Path | None = None
) -> Path:
    from sim.report import write_report

    path = write_report(run_dir, baseline, other_uncertainty)
    err.print(f"report: {path}", markup=False)
    return path


def _seed(seed: int | None) -> int:
    """The seed given, or a fresh one (printed by :func:`_execute` once the run starts, so
    that a usage error does not print a seed for a run that never happened)."""
    from sim.experiment.runs import fresh_seed

    return fresh_seed() if seed is None else seed


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
    plugins: PluginOpt = None,
) -> None:
    """Run a grid of variants (staffing, dates, window lengths) as one experiment.

    Charts and tables name the variants by short labels, with a legend of the full names.
    The last line printed is the run folder.
    """
    from sim.experiment.runs import Plan, start_run

    _plugins(plugins)
    with _errors():
        found = _grid_variants(grid) if grid else _declared_sweep(scenario)
        plan = Plan(
            str(scenario), found, replications, _seed(seed), tuple(overrides or ()), block_size,
            detail, twin=not no_twin,
        )  # fmt: skip
        _check_out(out)
        folder, scenarios = start_run(plan, out, sys.argv)
        _execute(folder, plan, scenarios, executor, workers, scheduler, quiet, seed is None)
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


BaselineOpt = Annotated[
    str | None,
    typer.Option(
        help="Variant to compare against (default: base if the run has it, else the first)."
    ),
]


@app.command()
def compare(
    run_dir: RunArg,
    baseline: BaselineOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Per KPI: each variant's mean and threshold risk, and paired differences, with 95% CIs.

    A run that is not complete is compared on the blocks it has, with a warning.
    """
    from sim.compare import compare_run

    run_dir = _run_path(run_dir)
    with _errors():
        result = compare_run(run_dir, baseline)
    if result.warning:
        _warn_incomplete(run_dir)
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

    labels = result.labels
    base = labels.get(result.baseline, result.baseline)
    table = Table(
        title=f"{result.run}: {result.replications} replications, baseline {base} (mean [95% CI])",
        title_justify="left",
    )
    twin = any(v.excess is not None for k in result.kpis for v in k.variants)
    heads = ["KPI (threshold)", "variant", "mean"]
    heads += ["excess vs no cutover", "P(excess > threshold)"] if twin else ["P(> threshold)"]
    heads.append(f"paired diff vs {base}")
    for head in heads:
        left = head.startswith(("KPI", "variant"))
        table.add_column(head, justify="left" if left else "right", overflow="fold")
    for k in result.kpis:
        diffs = {d.variant: d for d in k.differences}
        for i, v in enumerate(k.variants):
            d = diffs.get(v.variant)
            excess = [ci(v.excess) if v.excess is not None else "n/a"] if twin else []
            name = f"{KPIS[k.kpi].display_name()} ({k.unit}; > {k.threshold:,.0f})"
            table.add_row(
                name if i == 0 else "",
                labels.get(v.variant, v.variant),
                ci(v.estimate),
                *excess,
                pct(v.p_exceed),
                ci(d.paired) if d else "baseline",
                end_section=i == len(k.variants) - 1,
            )
    _table(table)
    if any(label != name for name, label in labels.items()):
        _legend_table([(labels[n], n, "") for n in labels])
    for k in result.kpis:
        if k.sentence:
            console.print(k.sentence, width=min(console.width, TABLE_WIDTH))
    for k in result.kpis:
        if k.warning:
            err.print(f"warning: {k.warning}", markup=False)

    for variant, rule in result.stop_rule.items():
        within = ", ".join(f"{k} d {e.mean:.0%}" for k, e in rule.within_days.items())
        first = f", first on day {ci(rule.first_day)}" if rule.first_day.n else ""
        console.print(
            f"stop rule, {labels.get(variant, variant)}: tripped in {pct(rule.p_trip_ci)} of "
            f"replications{first}; P(trip within k days of a go-live): {within}",
            width=min(console.width, TABLE_WIDTH),
        )


class SensitivityMethod(StrEnum):
    morris = "morris"
    sobol = "sobol"


KpiOpt = Annotated[
    str | None,
    typer.Option(
        help="Target KPI, any column of the kpis table (default: excess_late_abnormal if the "
        "run has it, else late_abnormal)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _points_progress(quiet: bool):
    """A progress callback over design points and the bar that shows it (or None)."""
    bar = _progress_bar(quiet)
    if bar is None:
        return contextlib.nullcontext(), None
    task = bar.add_task("points", total=None)
    return bar, lambda done, total: bar.update(task, completed=done, total=total)


@app.command()
def sensitivity(
    scenario: ScenarioArg,
    method: Annotated[
        SensitivityMethod, typer.Option(help="Morris screening or Sobol indices.")
    ] = SensitivityMethod.morris,
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--inputs",
            "-i",
            help="Inputs, comma-separated or repeated: dist.param (its range in distributions/)"
            ", dotted.path=low..high, or dummy. Default: every ranged parameter of the "
            "distributions the scenario uses.",
        ),
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(
            "-n",
            "--size",
            help="Morris trajectories (default 10) or Sobol base sample, a power of 2 "
            "(default 64).",
        ),
    ] = None,
    dummy: Annotated[
        bool, typer.Option("--dummy", help="Add an inert input: it must rank at the bottom.")
    ] = False,
    kpi: KpiOpt = None,
    replications: Annotated[
        int, typer.Option("--replications", "-r", min=1, help="Replications per design point.")
    ] = 1,
    variant: VariantOpt = None,
    overrides: SetOpt = None,
    seed: SeedOpt = None,
    out: OutOpt = Path("results"),
    workers: WorkersOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Which uncertain inputs drive a KPI: Morris mu*/sigma or Sobol S1/ST, with 95% CIs.

    Every design point runs the same replications (common random numbers). The run folder
    holds design.csv, the KPIs of every point and sensitivity.json; the last line printed is
    the folder (with --json, one JSON object instead).
    """
    from sim.decide import sensitivity as sens
    from sim.experiment.runs import executor_for

    with _errors():
        sc = _load(scenario, variant, overrides)
        chosen = sens.inputs_for(sc, _split(inputs), dummy)
        n = size if size is not None else (10 if method == "morris" else 64)
        sens.check_design(method.value, n)
        _check_out(out)
        root = _seed(seed)
        bar, progress = _points_progress(quiet)
        with bar, executor_for("process", workers) as pool:
            folder, result = sens.run_sensitivity(
                sc, chosen, method.value, n, kpi, replications, root, out, pool, progress,
                sys.argv,
            )  # fmt: skip
    if as_json:
        print(json.dumps({**result.to_json(), "run": str(folder.path)}, indent=2))
        return
    _print_indices(result)
    console.print(str(folder.path))


def _print_indices(result) -> None:
    cols = ("mu_star", "mu_star_conf", "sigma") if result.method == "morris" else (
        "S1", "S1_conf", "ST", "ST_conf"
    )  # fmt: skip
    heads = {"mu_star": "mu*", "mu_star_conf": "± 95%", "sigma": "sigma", "S1_conf": "± 95%"}
    heads["ST_conf"] = "± 95%"
    table = Table(
        title=f"{result.method.title()} indices of {result.kpi} ({len(result.y)} design points)",
        title_justify="left",
    )
    table.add_column("input")
    for c in cols:
        table.add_column(heads.get(c, c), justify="right")
    for row in result.indices:
        table.add_row(row["input"], *("n/a" if row[c] is None else f"{row[c]:.3g}" for c in cols))
    console.print(table)


@app.command()
def optimise(
    scenario: ScenarioArg,
    over: Annotated[
        list[str],
        typer.Option(
            help="A decision variable: path=low..high[:step] or path=a,b,c (repeatable: every "
            "combination is a candidate).",
            show_default=False,
        ),
    ],
    minimise: Annotated[
        str,
        typer.Option(
            help="KPI to minimise, or one of the --over paths (e.g. the shortest window)."
        ),
    ],
    subject_to: Annotated[
        str,
        typer.Option(help='Risk limit "P(KPI > x) <= p", decided with 95% Wilson intervals.'),
    ],
    n0: Annotated[int, typer.Option(min=2, help="First-stage replications per candidate.")] = 10,
    delta: Annotated[int, typer.Option(min=1, help="Replications allocated per round.")] = 10,
    budget: Annotated[
        int, typer.Option(min=0, help="Replications over all candidates (0: 30 per candidate).")
    ] = 0,
    pcs: Annotated[
        float, typer.Option(help="Stop when the probability of correct selection reaches this.")
    ] = 0.95,
    indifference: Annotated[
        float, typer.Option(help="Objective differences below this count as equally good.")
    ] = 0.0,
    variant: VariantOpt = None,
    overrides: SetOpt = None,
    seed: SeedOpt = None,
    out: OutOpt = Path("results"),
    workers: WorkersOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The best candidate under a risk constraint, by ranking and selection (OCBA).

    Every candidate runs the same replications (common random numbers); replications go where
    they decide the answer. The run folder holds every candidate's KPIs and optimise.json; the
    last line printed is the folder (with --json, one JSON object instead). When no candidate
    meets the constraint, the closest ones are shown and "best" is null.
    """
    from sim.decide import optimise as opt
    from sim.experiment.runs import executor_for

    with _errors():
        sc = _load(scenario, variant, overrides)
        axes = [opt.parse_over(o) for o in over]
        constraint = opt.parse_constraint(subject_to)
        settings = opt.Settings(n0, delta, budget, pcs, indifference)
        _check_out(out)
        root = _seed(seed)
        with executor_for("process", workers) as pool:
            folder, result = opt.run_optimise(
                sc, axes, minimise, constraint, settings, root, out, pool, sys.argv
            )
    if as_json:
        print(json.dumps(_no_nan({**result.to_json(), "run": str(folder.path)}), indent=2))
        return
    _print_selection(result)
    console.print(str(folder.path))


def _print_selection(result) -> None:
    from sim.compare import number

    table = Table(
        title=f"minimise {result.objective} subject to {result.constraint} "
        f"({result.replications} replications)",
        title_justify="left",
    )
    for head in ("candidate", "n", f"{result.objective} [95% CI]", "P(exceed) [95% CI]", "status"):
        table.add_column(head, justify="right" if head == "n" else "left")
    for r in result.candidates:
        mark = " (best)" if result.best and r.name == result.best.name else ""
        table.add_row(
            r.name + mark,
            str(r.replications),
            f"{number(r.mean)} [{number(r.low)}, {number(r.high)}]",
            f"{r.p_exceed:.1%} [{r.p_low:.1%}, {r.p_high:.1%}]",
            r.status,
        )
    console.print(table)
    if result.best is None:
        closest = ", ".join(f"{r.name} ({r.p_exceed:.1%})" for r in result.closest)
        console.print(f"No candidate meets the constraint ({result.reason}); closest: {closest}.")
    else:
        console.print(
            f"Best: {result.best.name}, approximate probability of correct selection "
            f"{result.pcs:.3f} (indifference zone {result.indifference:g}); {result.reason}."
        )


@app.command(name="report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run folder.")],
    baseline: Annotated[
        str | None, typer.Option(help="Variant to compare against (default: the first).")
    ] = None,
    other_uncertainty: Annotated[
        Path | None,
        typer.Option(
            help="A run of the same variants with parameter uncertainty switched the other "
            "way: the report shows the key KPIs' interval widths in both."
        ),
    ] = None,
) -> None:
    """Write report.html (one self-contained file) and chart PNGs into a run folder.

    A run that is not complete is reported on the blocks it has, with a warning here and in
    the report's header. The last line printed is the report's path.
    """
    run_dir = _run_path(run_dir)
    with _errors():
        _warn_incomplete(run_dir)
        path = _write_report(run_dir, baseline, other_uncertainty)
    console.print(str(path))


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


@app.command()
def export(
    run_dir: RunArg,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="csv (a folder of files) or xlsx.")
    ] = ExportFormat.xlsx,
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write (default: RUN/export/ or RUN/<run>.xlsx)."),
    ] = None,
    baseline: BaselineOpt = None,
) -> None:
    """Export KPIs per replication, their summary, the comparison and site-weeks.

    xlsx: one workbook, a sheet per table; csv: a folder with one file per table. The last
    line printed is what was written.
    """
    from sim.export import export_run

    run_dir = _run_path(run_dir)
    with _errors():
        _warn_incomplete(run_dir)
        path = export_run(run_dir, fmt.value, out, baseline)
    console.print(str(path))


@app.command()
def runs(
    root: Annotated[Path, typer.Option(help="Folder that holds the run folders.")] = Path(
        "results"
    ),
) -> None:
    """List the run folders under results/ (oldest first): scenario, variants, n, status."""
    from sim.experiment.catalog import list_runs
    from sim.labels import variant_labels

    found = list_runs(root)
    if not found:
        err.print(f"no run folders under {root}/", markup=False)
        return
    table = Table(title=f"Runs in {root}/ (the last is `latest`)", title_justify="left")
    for head in ("run", "scenario", "variants", "n", "status", "created (UTC)"):
        table.add_column(
            head, overflow="fold", no_wrap=head == "run", justify="right" if head == "n" else "left"
        )
    for r in found:
        labels = ", ".join(variant_labels(r.variants).values())
        status = r.status if r.status == "complete" else f"{r.status} {r.blocks_done}/{r.blocks}"
        created = r.created[:16].replace("T", " ")
        table.add_row(r.path.name, r.scenario, labels, str(r.replications), status, created)
    _table(table)


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
