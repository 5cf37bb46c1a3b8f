"""Performance benchmarks of the simulation model: ``python -m benchmarks.bench_model``.

Two things are measured, each over several runs, and reported as median (min-max):

(a) **Full default scenario, one replication, one core.** ``scenarios/fvm-2020.yaml`` with the
    ``window-4w`` variant, the scenario analysts run most. Wall-clock time of ``build`` (sampling
    orders, results, signers, absences), ``simulate`` (the SimPy run) and ``tabulate`` (the
    output tables and KPIs), separately and in total, the number of orders, and the peak
    resident memory of the process. Importing the package, starting numba (its first compiled
    call in a process initialises its compiler target, about 0.4 s whatever the call) and
    loading the scenario are timed too, for information, but are not part of the total: a
    batch of replications pays them once per process. (Loading each compiled kernel from
    numba's cache, a few ms each, stays in the replication that first calls it.)
    The child first calls ``sim.experiment.keep_freed_memory()``, as every process of
    ``cutover run`` does, so that freed arrays are reused instead of mapped afresh. For
    information, the child then builds, simulates and tabulates a second replication (index
    ``r + 1000``): what a worker pays for each replication after its first, with numba loaded
    and the heap warm. Targets, on the first (fresh-process) replication:
    total <= 5 s median, peak memory < 2 GiB. This is what decides whether a
    sweep of hundreds of replications fits in a working day on a laptop.

(b) **Fast model against the per-item reference.** On ``tests/data/reference.yaml`` (the
    teaching scenario with overtime, messages, scheduled workload and locks switched off) the
    same built replication is run through :func:`benchmarks.reference_model.reference_sign_times`
    (one SimPy process per item, the plain way to write the model) and through
    :func:`sim.model.simulate` (the fast, vectorised signer pools). Both times, the speed-up
    (reference / fast) and whether the sign times are identical are reported; a mismatch is
    printed loudly and the command exits non-zero. Target: speed-up >= 20x. With its three
    units the teaching scenario ("base") has a dozen items per session, so the fast model's
    fixed cost per session dominates; it is also measured with ten units in each site group
    ("units10", 30 units): the fast model works all signers of a kind in one call per session,
    so its cost grows with sessions while the reference's grows with items.

Every run is a fresh Python subprocess (``subprocess.run([sys.executable, "-c", ...])``), so
memory, caches and the allocator's state do not leak from one run into the next, and the peak
memory is that of one replication alone. The subprocess is pinned to one CPU
(``os.sched_setaffinity``) with ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
``MKL_NUM_THREADS`` set to 1. Run ``i`` uses replication index ``i``, so the runs are different
samples, not the same one repeated.

``--quick`` is a smoke test: one run of (b) and a one-month horizon of (a)
(``horizon.end=2022-02-28``, no variant); targets of (a) do not apply to it. ``--json PATH``
writes every run and the summaries. Progress goes to standard error, the tables to standard
output. Exit codes: 0 ok (targets are reported, not enforced), 1 sign times differ or a run
failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MARK = "BENCH-RESULT "

FULL_SCENARIO = "scenarios/fvm-2020.yaml"
FULL_VARIANT = "window-4w"
QUICK_OVERRIDES = ["horizon.end=2022-02-28"]
REDUCED_SCENARIO = "tests/data/reference.yaml"
UNITS10_OVERRIDES = [f"sites[{s}].count=10" for s in ("vc-early", "vc-late", "ward")]

TARGET_TOTAL_S = 5.0
TARGET_PEAK_MIB = 2048.0
TARGET_SPEEDUP = 20.0
CHILD_TIMEOUT_S = 1800
NEXT_OFFSET = 1000  # replication index of the second replication of a run (steady state)

# ---------------------------------------------------------------------------------------------
# Child side: runs in a fresh interpreter, prints one line ``MARK + json`` on standard output.
# Only the standard library is imported at module level, so the child's numbers start clean.


def _pin_one_core() -> int | None:
    """Pin this process to one CPU (the lowest it may use); return it, or None if unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _peak_mib() -> float:
    import resource

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / (1024.0 * 1024.0) if sys.platform == "darwin" else kib / 1024.0


def _child_full(spec: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    import numpy as np

    from sim.experiment.runs import keep_freed_memory
    from sim.metrics.tables import tabulate
    from sim.model.kernels.sorting import argsort_nearly_sorted
    from sim.model.replication import build, simulate
    from sim.scenario.loading import load_scenario

    memory_kept = keep_freed_memory()  # as every `cutover run` process does before replicating
    t0b = time.perf_counter()
    argsort_nearly_sorted(np.zeros(2))  # numba's start-up: its first compiled call in a process
    t1 = time.perf_counter()
    sc = load_scenario(spec["scenario"], spec["variant"], spec["overrides"])
    t2 = time.perf_counter()
    rep = build(sc, replication=spec["replication"])
    t3 = time.perf_counter()
    simulate(rep)
    t4 = time.perf_counter()
    tabulate(rep)
    t5 = time.perf_counter()
    out = {
        "import_s": t0b - t0,
        "numba_start_s": t1 - t0b,
        "load_s": t2 - t1,
        "build_s": t3 - t2,
        "simulate_s": t4 - t3,
        "tabulate_s": t5 - t4,
        "total_s": t5 - t2,
        "orders": int(rep.n_results),
        "items": len(rep.items.ready),
        "peak_mib": _peak_mib(),
        "memory_kept": memory_kept,
    }
    if spec.get("next"):  # the same again in this process, as a worker's later replications
        del rep
        t6 = time.perf_counter()
        tabulate(simulate(build(sc, replication=spec["replication"] + NEXT_OFFSET)))
        out["next_total_s"] = time.perf_counter() - t6
    return out


def _child_reduced(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from benchmarks.reference_model import reference_sign_times
    from sim.model.replication import build, simulate
    from sim.scenario.loading import load_scenario

    sc = load_scenario(spec["scenario"], spec["variant"], spec["overrides"])
    rep = build(sc, replication=spec["replication"])
    t0 = time.perf_counter()
    expected = reference_sign_times(rep)  # reads the same inputs, so before simulate
    t1 = time.perf_counter()
    simulate(rep)
    t2 = time.perf_counter()
    got = rep.items.done
    out: dict[str, Any] = {
        "reference_s": t1 - t0,
        "fast_s": t2 - t1,
        "orders": int(rep.n_results),
        "items": len(got),
        "signed": int((~np.isnan(expected)).sum()),
        "identical": True,
        "problem": "",
    }
    both = ~np.isnan(expected)
    try:
        if not np.array_equal(np.isnan(got), np.isnan(expected)):
            differ = int((np.isnan(got) != np.isnan(expected)).sum())
            raise AssertionError(f"{differ} items signed in one model but not in the other")
        np.testing.assert_allclose(got[both], expected[both], rtol=0, atol=1e-6)
    except AssertionError as exc:
        out["identical"] = False
        out["problem"] = str(exc).strip().splitlines()[0]
        if np.array_equal(np.isnan(got), np.isnan(expected)):
            diff = np.abs(got[both] - expected[both])
            out["problem"] = (
                f"{int((diff > 1e-6).sum())} of {int(both.sum())} sign times differ, "
                f"by up to {float(diff.max()):.6g} min"
            )
    return out


def _child(arg: str) -> None:
    """Entry point of one benchmark run in a fresh interpreter."""
    spec = json.loads(arg)
    cpu = _pin_one_core()
    run = _child_full if spec["kind"] == "full" else _child_reduced
    result = run(spec)
    result["cpu"] = cpu
    print(MARK + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# Parent side.


def code_version() -> str:
    """Short hash of the model's source (``sim/`` and the reference model) as it is right now.

    Recorded before every run: others may edit the code while a benchmark is running, and runs
    of different code should not be summarised together without saying so.
    """
    digest = hashlib.sha1()
    files = [*sorted((ROOT / "sim").rglob("*.py")), ROOT / "benchmarks" / "reference_model.py"]
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def _run_child(spec: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    code = "import sys; from benchmarks.bench_model import _child; _child(sys.argv[1])"
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"benchmark run failed (exit {proc.returncode}): {spec}\n{proc.stderr[-4000:]}"
        )
    return json.loads(lines[-1][len(MARK) :])


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_full(runs: int, quick: bool) -> dict[str, Any]:
    spec = {
        "kind": "full",
        "scenario": FULL_SCENARIO,
        "variant": None if quick else FULL_VARIANT,
        "overrides": QUICK_OVERRIDES if quick else [],
        "next": not quick,
    }
    label = "full (quick: one month, no variant)" if quick else "full"
    results = []
    for r in range(runs):
        _progress(f"[{label}] run {r + 1}/{runs} (replication {r}) ...")
        code = code_version()
        res = {"code": code, **_run_child({**spec, "replication": r})}
        _progress(f"    total {res['total_s']:.2f} s, peak {res['peak_mib']:.0f} MiB")
        results.append({"replication": r, **res})
    keys = ["build_s", "simulate_s", "tabulate_s", "total_s", "orders", "peak_mib"]
    keys += ["import_s", "numba_start_s", "load_s"] + (["next_total_s"] if not quick else [])
    return {
        "spec": spec,
        "quick": quick,
        "runs": results,
        "summary": {k: _stats([x[k] for x in results]) for k in keys},
    }


def bench_reduced(runs: int, name: str, overrides: list[str]) -> dict[str, Any]:
    spec = {"kind": "reduced", "scenario": REDUCED_SCENARIO, "variant": None}
    spec["overrides"] = overrides
    results = []
    for r in range(runs):
        _progress(f"[reduced/{name}] run {r + 1}/{runs} (replication {r}) ...")
        code = code_version()
        res = {"code": code, **_run_child({**spec, "replication": r})}
        res["speedup"] = res["reference_s"] / res["fast_s"]
        _progress(
            f"    reference {res['reference_s']:.3f} s, fast {res['fast_s']:.3f} s, "
            f"x{res['speedup']:.1f}, identical: {res['identical']}"
        )
        if not res["identical"]:
            _progress(f"    !!! SIGN TIMES DIFFER: {res['problem']}")
        results.append({"replication": r, **res})
    summary = {k: _stats([x[k] for x in results]) for k in ["reference_s", "fast_s", "orders"]}
    summary["items"] = _stats([x["items"] for x in results])
    summary["speedup_per_run"] = _stats([x["speedup"] for x in results])
    summary["speedup"] = summary["reference_s"]["median"] / summary["fast_s"]["median"]
    return {
        "name": name,
        "spec": spec,
        "runs": results,
        "summary": summary,
        "identical": all(x["identical"] for x in results),
    }


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return ""
        return out.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "sim", "benchmarks/reference_model.py")),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine() -> dict[str, Any]:
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "processor": platform.processor(),
        "cpu_model": _cpu_model(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpus_allowed": allowed,
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "simpy": _version("simpy"),
    }


# ---------------------------------------------------------------------------------------------
# Report.


def _fmt(stats: dict[str, float], unit: str, digits: int) -> tuple[str, str]:
    med = f"{stats['median']:.{digits}f}{unit}"
    rng = f"{stats['min']:.{digits}f} - {stats['max']:.{digits}f}"
    return med, rng


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("[green]ok[/]" if ok else "[red]MISSED[/]")


def report(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    # Wide enough for the tables when the output goes to a file or a pipe (rich assumes 80).
    console = Console(width=max(120, shutil.get_terminal_size((120, 24)).columns))
    m = data["machine"]
    g = data["git"]
    console.print(
        f"machine: {m['cpu_model'] or m['processor'] or m['machine']} "
        f"(processor={m['processor']!r}), cpu_count={m['cpu_count']}, "
        f"cpus allowed={m['cpus_allowed']}; Python {m['python']}, numpy {m['numpy']}, "
        f"simpy {m['simpy']}; {m['platform']}"
    )
    console.print(
        f"code: commit {g['commit']}{' + uncommitted changes' if g['dirty'] else ''}"
        f"; {data['date']}; runs={data['runs']}{' (quick)' if data['quick'] else ''}; "
        f"one core per run, fresh subprocess per run"
    )

    versions = data["code_versions"]
    if len(versions) > 1:
        console.print(
            f"[bold red]warning:[/] the code changed during the benchmark ({len(versions)} "
            f"versions of sim/: {', '.join(versions)}); medians mix them, see the per-run "
            "'code' in the JSON"
        )

    full = data["full"]
    s = full["summary"]
    quick = full["quick"]
    what = (
        f"{FULL_SCENARIO}, horizon.end=2022-02-28, no variant (quick)"
        if quick
        else f"{FULL_SCENARIO} --variant {FULL_VARIANT}"
    )
    t = Table(title=f"(a) One replication of {what}, one core")
    for col in ["", "median", "min - max", "target", ""]:
        t.add_column(col, justify="right" if col else "left")
    rows = [
        ("build", "build_s", " s", 2, None, None),
        ("simulate", "simulate_s", " s", 2, None, None),
        ("tabulate", "tabulate_s", " s", 2, None, None),
        ("total (build+simulate+tabulate)", "total_s", " s", 2, "<= 5 s", TARGET_TOTAL_S),
        ("orders", "orders", "", 0, None, None),
        ("peak memory", "peak_mib", " MiB", 0, "< 2048 MiB", TARGET_PEAK_MIB),
        ("(info) next replication, same process", "next_total_s", " s", 2, None, None),
        ("(info) import sim", "import_s", " s", 2, None, None),
        ("(info) numba start-up", "numba_start_s", " s", 2, None, None),
        ("(info) load scenario", "load_s", " s", 2, None, None),
    ]
    for label, key, unit, digits, target, limit in rows:
        if key not in s:
            continue
        med, rng = _fmt(s[key], unit, digits)
        ok = None
        if limit is not None and not quick:
            ok = s[key]["median"] <= limit if key == "total_s" else s[key]["median"] < limit
        t.add_row(label, med, rng, target or "", _verdict(ok) if target else "")
    console.print(t)

    t = Table(title=f"(b) Fast model vs per-item reference, {REDUCED_SCENARIO}")
    t.add_column("variant", no_wrap=True)
    for col in ["orders", "items", "reference", "fast", "speed-up", "min-max", ">= x20"]:
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("sign times", no_wrap=True)
    for red in data["reduced"]:
        s = red["summary"]
        name = red["name"]
        if red["spec"]["overrides"]:
            name += ": " + ", ".join(red["spec"]["overrides"])
        sp = s["speedup_per_run"]
        t.add_row(
            name,
            f"{s['orders']['median']:.0f}",
            f"{s['items']['median']:.0f}",
            f"{s['reference_s']['median']:.3f} s",
            f"{s['fast_s']['median']:.3f} s",
            f"x{s['speedup']:.1f}",
            f"x{sp['min']:.1f}-x{sp['max']:.1f}",
            _verdict(s["speedup"] >= TARGET_SPEEDUP),
            "[green]identical[/]" if red["identical"] else "[bold red]DIFFER[/]",
        )
    console.print(t)
    console.print(
        "medians over runs; speed-up = median reference time / median fast time; "
        "min-max = of the per-run speed-ups"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_model",
        description="Time the model (full scenario, one core) and the fast-vs-reference speed-up.",
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per benchmark (default 5)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 1 run, one-month full scenario"
    )
    parser.add_argument("--json", type=Path, default=None, help="write all results to this file")
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (1 if args.quick else 5)
    if runs < 1:
        parser.error("--runs must be at least 1")

    started = time.perf_counter()
    data: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.bench_model", *(argv or sys.argv[1:])]),
        "runs": runs,
        "quick": args.quick,
        "machine": machine(),
        "git": _git(),
        "targets": {
            "total_s_median_max": TARGET_TOTAL_S,
            "peak_mib_max": TARGET_PEAK_MIB,
            "speedup_min": TARGET_SPEEDUP,
        },
    }
    try:
        data["full"] = bench_full(runs, args.quick)
        data["reduced"] = [
            bench_reduced(runs, "base", []),
            bench_reduced(runs, "units10", UNITS10_OVERRIDES),
        ]
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    data["elapsed_s"] = time.perf_counter() - started
    runs_all = data["full"]["runs"] + [x for red in data["reduced"] for x in red["runs"]]
    data["code_versions"] = list(dict.fromkeys(x["code"] for x in runs_all))

    report(data)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        _progress(f"results written to {args.json}")
    if not all(red["identical"] for red in data["reduced"]):
        bar = "!" * 78
        print(
            f"\n{bar}\n!!! FAST MODEL AND REFERENCE GIVE DIFFERENT SIGN TIMES: the speed-up above"
            f" is meaningless\n{bar}",
            file=sys.stderr,
        )
        for red in data["reduced"]:
            for run in red["runs"]:
                if not run["identical"]:
                    print(
                        f"  {red['name']} replication {run['replication']}: {run['problem']}",
                        file=sys.stderr,
                    )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
