"""Crash anywhere: SIGKILL a run at every write it makes (and inside its computation), resume
it, and get the very files an uninterrupted run writes.

Each kill point runs the experiment in a forked child that kills itself with SIGKILL at one
chosen moment: halfway through writing a Parquet table, a block marker or the manifest, just
before or just after a rename commits a file, just before or after the run folder appears, or
inside a replication. The parent then checks that what the killed run left is never read as
more than it is (every listed file whole and matching its hash, no unfinished block visible),
resumes it (or starts it again, if the folder never appeared) with the real computation, and
compares every file byte for byte with an uninterrupted run of the same plan and start time.

To keep a few dozen kills fast, the children take each block's tables from the uninterrupted
run instead of simulating them again (the simulation's determinism is tested in
``test_experiment.py``), except at the kill points inside the computation.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import signal
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sim import results
from sim.experiment import runfolder, runs, stopping
from sim.experiment.runfolder import RunFolder
from sim.experiment.runs import Plan, Variant, execute, reopen_run, start_run

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
VARIANTS = (Variant("window-2w", "window-2w"), Variant("window-4w", "window-4w"))
PLAN = Plan(str(ROOT / "scenarios" / "tiny.yaml"), VARIANTS, 3, root_seed=77, block_size=1)
# Manifest fields that are about when and how long, not about what.
TIMING = {"elapsed_seconds", "finished_utc", "compute_seconds"}


def _run(out: Path) -> RunFolder:
    folder, scenarios = start_run(PLAN, out, now=NOW)
    return execute(folder, PLAN, scenarios, runs.InlineExecutor())


def _snapshot(folder: Path) -> dict[str, object]:
    """Every file of a finished run: tables and scenarios as bytes, markers and manifest as
    data without their timings."""
    out: dict[str, object] = {}
    for file in sorted(folder.rglob("*")):
        rel = file.relative_to(folder).as_posix()
        if file.is_dir():
            continue
        if rel.startswith("blocks/"):
            info = json.loads(file.read_text())
            out[rel] = {k: v for k, v in info.items() if k not in ("seconds", "worker")}
        elif rel == "manifest.json":
            man = json.loads(file.read_text())
            out[rel] = {k: v for k, v in man.items() if k not in TIMING}
        else:
            out[rel] = file.read_bytes()
    return out


class Events:
    """Counts the run's writes and renames; with ``kill_at`` set, dies at that one."""

    def __init__(self, kill_at: tuple[int, str] | None = None):
        self.seen: list[tuple[int, str]] = []
        self.kill_at = kill_at

    def _point(self, kind: str, phase: str) -> None:
        if phase == "first":
            self.seen.append((len(self.seen), kind))
        if self.kill_at == (len(self.seen) - 1, phase):
            os.kill(os.getpid(), signal.SIGKILL)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_table, real_text = pq.write_table, pathlib.Path.write_text
        real_replace, real_rename = os.replace, os.rename

        def write_table(table, where, *a, **kw):
            self._point("parquet", "first")
            real_table(table, where, *a, **kw)
            if self.kill_at == (len(self.seen) - 1, "half"):  # as if killed halfway through
                os.truncate(where, os.path.getsize(where) // 2)
            self._point("parquet", "half")

        def write_text(path, data, *a, **kw):
            self._point("text", "first")
            if self.kill_at == (len(self.seen) - 1, "half"):
                real_text(path, data[: len(data) // 2], *a, **kw)
            self._point("text", "half")
            return real_text(path, data, *a, **kw)

        def replace(src, dst, *a, **kw):
            self._point("replace", "first")
            self._point("replace", "before")
            real_replace(src, dst, *a, **kw)
            self._point("replace", "after")

        def rename(src, dst, *a, **kw):
            self._point("rename", "first")
            self._point("rename", "before")
            real_rename(src, dst, *a, **kw)
            self._point("rename", "after")

        monkeypatch.setattr(pq, "write_table", write_table)
        monkeypatch.setattr(pathlib.Path, "write_text", write_text)
        monkeypatch.setattr(runfolder.os, "replace", replace)
        monkeypatch.setattr(runfolder.os, "rename", rename)


def _in_child(body: Callable[[], None]) -> int:
    """Run ``body`` in a forked child; return the signal that ended it (0 if it exited)."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 3
        try:
            body()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status)


def _check_what_was_left(out: Path) -> Path | None:
    """Nothing a reader takes is partial: the folder, if it appeared, opens; every file its
    markers list is whole and hashes as listed; results show exactly the finished blocks."""
    folders = [p for p in out.iterdir() if not p.name.startswith(".")]
    if not folders:
        return None
    (path,) = folders
    folder = RunFolder.open(path)
    listed = folder.block_files()
    for file in listed:
        pq.read_table(file)
    done = folder.done_blocks()
    if done:
        kpis = results.frame(path, "kpis")
        assert sorted(set(kpis["replication"])) == sorted(done)
        assert len(kpis) == len(done) * (len(VARIANTS) + 1)  # + the no-cutover twin
    else:
        with pytest.raises(runfolder.RunFolderError):
            results.open(path, "kpis")
    return path


@pytest.fixture(scope="module", autouse=True)
def fixed_commit():
    """The git commit goes into the manifest and every Parquet file; a commit made while
    the test runs must not make the runs differ."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runfolder, "git_commit", lambda: {"commit": "0" * 40, "dirty": False})
        yield


@pytest.fixture(scope="module")
def reference(tmp_path_factory, fixed_commit):
    """The uninterrupted run, its files, the write events it makes and its block results."""
    out = tmp_path_factory.mktemp("reference")
    computed: dict[int, runs.BlockResult] = {}
    real = runs.run_block

    def remember(block):
        computed[block.index] = result = real(block)
        return result

    events = Events()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "run_block", remember)
        events.install(mp)
        folder = _run(out)
    return _snapshot(folder.path), events.seen, computed


def _kill_points(seen: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Every write and rename of the run's start and end, the first of each kind, and every
    fourth one between (so a run that writes more tables still kills at every kind)."""
    phases = {"parquet": ("half",), "text": ("half",), "replace": ("before", "after"),
              "rename": ("before", "after")}  # fmt: skip
    every = [(i, phase) for i, kind in seen for phase in phases[kind]]
    ends = [p for p in every if p[0] < 5 or p[0] >= len(seen) - 2]
    first = {kind: i for i, kind in reversed(seen)}
    firsts = [(i, phase) for kind, i in first.items() for phase in phases[kind]]
    return sorted(set(every[::4]) | set(ends) | set(firsts))


def test_the_reference_run_makes_enough_distinct_kill_points(reference):
    _, seen, _ = reference
    points = _kill_points(seen)
    assert {seen[i][1] for i, _ in points} == {"parquet", "text", "replace", "rename"}
    assert {phase for _, phase in points} == {"half", "before", "after"}
    assert len(points) >= 20
    assert seen[-2:] == [(len(seen) - 2, "text"), (len(seen) - 1, "replace")]  # the manifest


@pytest.mark.slow
def test_killed_anywhere_and_resumed_the_run_is_bit_identical(reference, tmp_path):
    expected, seen, computed = reference
    points: list[tuple[int, str] | int] = [*_kill_points(seen), 1, 2, 4]  # ints: replications
    for n, point in enumerate(points):
        out = tmp_path / f"k{n}"
        out.mkdir()

        def body(point=point, out=out):
            with pytest.MonkeyPatch.context() as mp:
                if isinstance(point, int):  # inside the computation: the point-th replication
                    calls = iter(range(point))
                    real = stopping.run_replication

                    def replication(*a, **kw):
                        if next(calls, None) is None:
                            os.kill(os.getpid(), signal.SIGKILL)
                        return real(*a, **kw)

                    mp.setattr(stopping, "run_replication", replication)
                else:
                    mp.setattr(runs, "run_block", lambda block: computed[block.index])
                    Events(point).install(mp)
                _run(out)

        assert _in_child(body) == signal.SIGKILL, point
        path = _check_what_was_left(out)
        if path is None:  # killed before the folder appeared: start again
            path = _run(out).path
        else:
            folder, plan, scenarios = reopen_run(path)
            execute(folder, plan, scenarios, runs.InlineExecutor())
        assert not list(path.rglob(".*")), point
        assert _snapshot(path) == expected, point
