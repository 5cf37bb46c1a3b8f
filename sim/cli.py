"""The ``cutover`` command: validate scenarios, show their timelines, print the schema.

Exit codes (also in ``--help`` and the README): 0 ok, 1 internal error, 2 usage,
65 invalid scenario, 66 missing input file. Errors go to standard error as
``file:line:col field: message`` lines, never as a Python traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sim import __version__
from sim.checks import integrations
from sim.errors import Diagnostic, ExitCode, ScenarioError
from sim.kpis import KPIS
from sim.scenario import LoadedScenario, load_doc, load_scenario, variant_patches

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 internal error, 2 usage error, 65 invalid scenario, 66 missing input file."
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
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
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
            names = list(variant_patches(load_doc(path).data))
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
    from sim.timeline import timeline_frame

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


@app.command()
def run(
    scenario: ScenarioArg,
    variants: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            "-v",
            help="Variant(s) to run, repeatable or comma-separated; all share random numbers.",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Root seed (default: the scenario's).")] = None,
    replication: Annotated[int, typer.Option(min=0, help="Replication index.")] = 0,
    overrides: SetOpt = None,
    out: Annotated[Path, typer.Option(help="Folder that receives the run folder.")] = Path(
        "results"
    ),
    per_result: Annotated[
        bool, typer.Option("--per-result", help="Also write one row per result (small runs).")
    ] = False,
) -> None:
    """Run one replication per variant, write its tables and print a short summary.

    The last line printed is the run folder.
    """
    import time

    from sim.model import run_replication
    from sim.outputs import tabulate
    from sim.runfolder import write_run

    names = [v.strip() for item in (variants or [None]) for v in (item or "").split(",")]
    names = [n or None for n in dict.fromkeys(names)]
    loaded = [_load(scenario, name, overrides) for name in names]
    try:  # fail before simulating, not after
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK):
            raise PermissionError(f"{out} is not writable")
    except OSError as exc:
        err.print(f"error: --out {out}: {exc}", markup=False)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    root_seed = loaded[0].model.seed if seed is None else seed
    start = time.perf_counter()
    runs = []
    for sc in loaded:
        t0 = time.perf_counter()
        rep = run_replication(sc, replication, root_seed)
        tables = tabulate(rep, with_results=per_result)
        runs.append((sc, replication, tables))
        elapsed = time.perf_counter() - t0
        err.print(f"{sc.label}: {rep.n_results:,} orders in {elapsed:.1f} s", markup=False)
    try:
        folder = write_run(out, runs, sys.argv, time.perf_counter() - start, root_seed)
    except OSError as exc:
        err.print(f"error: cannot write the run folder under {out}: {exc}", markup=False)
        raise typer.Exit(int(ExitCode.INTERNAL)) from None
    table = Table(title=f"{loaded[0].model.title} (seed {root_seed}, replication {replication})")
    table.add_column("KPI")
    table.add_column("unit")
    for sc, _, _ in runs:
        table.add_column(sc.variant or "base", justify="right")
    for name, kpi in KPIS.items():
        table.add_row(name, kpi.unit, *[f"{t.kpis[name]:,.0f}" for _, _, t in runs])
    console.print(table)
    console.print(str(folder))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the scenario format (for editors that check YAML)."""
    from sim.schema import Scenario

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
