"""The allocator tuning is opt-in per worker: running blocks never changes the caller's
process (a notebook kernel keeps its allocator), and ``executor_for``'s ``initializer`` runs in
each worker process."""

from __future__ import annotations

import os
import sys

import pytest

from sim.experiment import runs
from sim.experiment.runs import Plan, Variant, executor_for, keep_freed_memory, run_experiment

_STARTED: list[int] = []  # pids in which _start ran


def _start() -> None:
    _STARTED.append(os.getpid())


def _started_here() -> bool:
    return os.getpid() in _STARTED


def _memory_kept() -> bool | None:
    return runs._MEMORY_KEPT


def test_running_blocks_leaves_the_callers_allocator_alone(monkeypatch, tmp_path):
    calls: list[str] = []
    monkeypatch.setattr(runs, "keep_freed_memory", lambda: calls.append("called") or True)
    plan = Plan("scenarios/tiny.yaml", [Variant("base", None)], 1, root_seed=7)
    with executor_for("process", 1) as ex:
        run_experiment(plan, tmp_path, ex)
    assert calls == []


def test_initializer_runs_in_each_worker_and_not_here():
    with executor_for("process", 2, initializer=_start) as ex:
        assert ex.submit(_started_here).result() is True
    assert not _started_here()


@pytest.mark.skipif(sys.platform != "linux", reason="glibc only")
def test_keep_freed_memory_as_initializer_applies_in_the_worker():
    with executor_for("process", 2, initializer=keep_freed_memory) as ex:
        assert ex.submit(_memory_kept).result() is True
