"""Experiments: the same rows whatever runs them, common random numbers, safe interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim import results
from sim.compare import t_interval, welch_interval
from sim.experiment.runfolder import RunFolder
from sim.experiment.runs import (
    Interrupted,
    Plan,
    Variant,
    execute,
    executor_for,
    load_variants,
    reopen_run,
    run_experiment,
    start_run,
)

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "scenarios" / "tiny.yaml")
WINDOWS = (Variant("window-2w", "window-2w"), Variant("window-4w", "window-4w"))
TABLES = ("kpis", "region_days", "site_weeks", "locks", "breakdown", "time_to_sign")


def _plan(n: int = 4, **kw) -> Plan:
    return Plan(TINY, WINDOWS, n, root_seed=4242, block_size=1, **kw)


def _tables(folder: RunFolder) -> dict[str, pd.DataFrame]:
    return {t: results.frame(folder.path, t) for t in TABLES}


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The reference: one worker, in this process, no interruption."""
    out = tmp_path_factory.mktemp("straight")
    with executor_for("process", 1) as ex:
        return _tables(run_experiment(_plan(), out, ex))


def test_two_local_workers_give_bit_identical_tables(straight, tmp_path):
    with executor_for("process", 2) as ex:
        folder = run_experiment(_plan(), tmp_path, ex)
    _assert_same(straight, _tables(folder))
    workers = {info["worker"] for info in folder.block_infos()}
    assert len(workers) >= 1 and all(str(os.getpid()) not in w for w in workers)


@pytest.mark.slow
def test_dask_local_cluster_gives_bit_identical_tables(straight, tmp_path):
    with executor_for("dask", 2) as ex:
        folder = run_experiment(_plan(), tmp_path, ex)
    _assert_same(straight, _tables(folder))


def test_interrupted_then_resumed_equals_straight(straight, tmp_path):
    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    plan = _plan()
    folder, scenarios = start_run(plan, tmp_path)
    with executor_for("process", 1) as ex, pytest.raises(Interrupted) as stopped:
        execute(folder, plan, scenarios, ex, stop_after_two)
    assert stopped.value.done == 2 and stopped.value.total == 4
    assert RunFolder.open(folder.path).manifest["status"] == "interrupted"
    assert len(results.frame(folder.path, "kpis")) == 2 * 3  # two blocks, two variants, twin
    again, plan2, scenarios2 = reopen_run(folder.path)
    assert plan2 == plan
    with executor_for("process", 1) as ex:
        execute(again, plan2, scenarios2, ex)
    assert RunFolder.open(folder.path).manifest["status"] == "complete"
    _assert_same(straight, _tables(again))


def test_killed_run_leaves_whole_files_and_resume_completes_it(straight, tmp_path):
    """SIGKILL the CLI mid-run: every file present is whole; --resume gives the same rows."""
    cmd = [sys.executable, "-m", "sim", "run", TINY, "-v", "window-2w,window-4w", "-n", "4",
           "--block-size", "1", "--seed", "4242", "--workers", "1", "-q",
           "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    markers: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        markers = list(tmp_path.glob("*/blocks/block-*.json"))
        if markers:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert markers, "the run finished no block before the deadline"
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    for file in folder.rglob("*"):
        if file.suffix == ".parquet" and not file.name.startswith("."):
            pq.read_table(file)  # raises on a truncated file
        if file.suffix == ".json" and not file.name.startswith("."):
            json.loads(file.read_text())
    done = subprocess.run(
        [sys.executable, "-m", "sim", "run", "--resume", str(folder), "-q"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(folder)
    assert not [p for p in folder.rglob(".*")]
    _assert_same(straight, _tables(RunFolder.open(folder)))


def test_resume_of_another_scenario_is_refused_and_writes_nothing(tmp_path):
    plan = _plan(n=1)
    folder, _ = start_run(plan, tmp_path)
    before = sorted(p.relative_to(folder.path) for p in folder.path.rglob("*"))
    done = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(ROOT / "tests/data/reference.yaml"),
         "--resume", str(folder.path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "not of" in done.stderr and "reference.yaml" in done.stderr
    assert sorted(p.relative_to(folder.path) for p in folder.path.rglob("*")) == before


def test_variants_face_the_same_demand(tmp_path):
    """Common random numbers: potential orders per unit and day do not depend on the variant."""
    folder = run_experiment(_plan(n=2, detail=True), tmp_path)
    days = results.frame(folder.path, "site_days")
    wide = days.pivot_table(
        index=["replication", "unit", "date"], columns="variant", values="demand"
    )
    assert len(wide) > 100 and wide.notna().all().all()
    np.testing.assert_array_equal(wide["window-2w"], wide["window-4w"])
    # ... while what the variants change does change.
    kpis = results.frame(folder.path, "kpis").pivot(
        index="replication", columns="variant", values="dual_system_hours"
    )
    assert (kpis["window-4w"] > kpis["window-2w"]).all()


@pytest.mark.slow
def test_paired_interval_is_narrower_than_unpaired_on_the_default_scenario(tmp_path):
    """The default scenario over its first stage (to keep the test short): pairing by
    replication removes the demand noise both variants share."""
    plan = Plan(
        str(ROOT / "scenarios" / "fvm-2020.yaml"),
        WINDOWS,
        4,
        root_seed=99,
        overrides=("horizon.end=2022-05-31",),
        block_size=1,
    )
    with executor_for("process", 2) as ex:
        folder = run_experiment(plan, tmp_path, ex)
    kpis = results.frame(folder.path, "kpis")
    for name in ("late_abnormal", "extra_staff_hours"):
        wide = kpis.pivot(index="replication", columns="variant", values=name)
        a, b = wide["window-4w"].to_numpy(), wide["window-2w"].to_numpy()
        paired, unpaired = t_interval(a - b), welch_interval(a, b)
        assert paired.high - paired.low < unpaired.high - unpaired.low, name


def test_a_plan_made_from_a_relative_path_loads_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    plan = Plan("scenarios/tiny.yaml", WINDOWS, 1, root_seed=1)
    monkeypatch.chdir(tmp_path)
    assert Path(plan.scenario_file).is_absolute()
    assert set(load_variants(plan)) == {"window-2w", "window-4w"}
