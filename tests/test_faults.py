"""Runs on a shared machine: concurrent starts, failing disks and hand-edited run folders.

Two runs started together in one results folder must each get their own folder; a write that
fails (full disk, read-only folder) must end with exit 74, a plain message and a folder that
resumes to the full result; a run folder edited after it was written must be refused by
``compare``, ``report`` and ``--resume`` (exit 65) with the file named.
"""

from __future__ import annotations

import concurrent.futures
import errno
import json
import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sim import results
from sim.cli import app
from sim.experiment import runfolder
from sim.experiment.runfolder import RunFolder, RunFolderBusy, RunFolderDamaged

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
runner = CliRunner()
RUN = ("run", str(TINY), "-v", "window-2w,window-4w", "-n", "3", "--block-size", "1",
       "--seed", "21", "--workers", "1", "-q")  # fmt: skip


def _cli(*args) -> object:
    return runner.invoke(app, [str(a) for a in args])


def _folder(result) -> Path:
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("straight")
    result = _cli(*RUN, "--out", out)
    assert result.exit_code == 0, result.output
    frame = results.frame(_folder(result), "kpis")
    frame.attrs["folder"] = str(_folder(result))
    return frame


def _files_per_block(kpis: pd.DataFrame) -> int:
    """Parquet files one block writes: a file per table and variant (the twin included)."""
    folder = Path(kpis.attrs["folder"])
    return len(list((folder / "tables").rglob("block-00000.parquet")))


def test_two_runs_started_together_get_distinct_folders_and_both_complete(tmp_path, straight):
    cmd = [sys.executable, "-m", "sim", *RUN, "--out", str(tmp_path)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    folders = {Path(out.strip().splitlines()[-1]) for out, _ in outs}
    assert len(folders) == 2 and {f.parent for f in folders} == {tmp_path}
    for folder in folders:
        assert RunFolder.open(folder).manifest["status"] == "complete"
        assert RunFolder.open(folder).manifest["run"] == folder.name
        pd.testing.assert_frame_equal(results.frame(folder, "kpis"), straight)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f.name for f in folders)


def test_folders_created_at_the_same_instant_under_one_name_are_all_distinct(tmp_path):
    """Eight threads create a run folder of the same name at once: eight folders, each with
    its own name in its manifest, and nothing half-made beside them."""
    barrier = threading.Barrier(8)
    made: list[RunFolder] = []

    def create() -> None:
        barrier.wait()
        made.append(RunFolder.create(tmp_path, "same", {"k": 1}, {"base": {"name": "x"}}))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(f.path.name for f in made)
    assert len(set(names)) == 8 and "same" in names
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    for f in made:
        assert RunFolder.open(f.path).manifest["run"] == f.path.name


def test_a_second_process_cannot_run_a_folder_that_is_running(tmp_path):
    folder = RunFolder.create(tmp_path, "run", {}, {})
    with folder.lock():
        code = (
            "import sys; from sim.experiment.runfolder import RunFolder, RunFolderBusy\n"
            "try:\n"
            f"    with RunFolder.open({str(folder.path)!r}).lock(): sys.exit(0)\n"
            "except RunFolderBusy: sys.exit(9)\n"
        )
        busy = subprocess.run([sys.executable, "-c", code], cwd=ROOT)
        assert busy.returncode == 9
    with folder.lock():  # released: taken again
        pass
    assert RunFolderBusy.exit_code == 2


def test_workers_forked_while_the_folder_is_held_do_not_keep_it(tmp_path):
    """A process pool kept across runs (a notebook's, or the precision rule's rounds) forks
    its workers inside the first run's lock; the next run must still get the folder."""
    folder = RunFolder.create(tmp_path, "run", {}, {})
    with concurrent.futures.ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("fork")
    ) as pool:
        with folder.lock():
            assert pool.submit(os.getpid).result() != os.getpid()  # forked now, holding a copy
        with folder.lock():  # the worker still lives
            pass


def _failing(monkeypatch, after: int, error: int) -> None:
    """Let ``after`` Parquet files be written, then fail every write with ``error``."""
    real = pq.write_table
    count = iter(range(after))

    def write_table(table, where, *a, **kw):
        if next(count, None) is None:
            raise OSError(error, os.strerror(error), str(where))
        return real(table, where, *a, **kw)

    monkeypatch.setattr(pq, "write_table", write_table)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS])
def test_a_failing_write_exits_74_keeps_finished_blocks_and_resumes(
    tmp_path, monkeypatch, straight, error
):
    with monkeypatch.context() as mp:
        _failing(mp, after=_files_per_block(straight) + 3, error=error)
        result = _cli(*RUN, "--out", tmp_path)
    assert result.exit_code == 74, result.output
    assert os.strerror(error) in result.stderr and "--resume" in result.stderr
    assert "Traceback" not in result.output
    (path,) = tmp_path.iterdir()
    folder = RunFolder.open(path)
    assert len(folder.done_blocks()) == 1  # one block whole, the next in part
    assert folder.manifest["status"] == "interrupted"
    assert not list(path.rglob(".*"))  # no temporary file left behind
    assert len(results.frame(path, "kpis")) == straight["variant"].nunique()  # one block
    again = _cli("run", "--resume", path, "-q")
    assert again.exit_code == 0, again.output
    pd.testing.assert_frame_equal(results.frame(path, "kpis"), straight)


def test_a_full_manifest_write_still_exits_74(tmp_path, monkeypatch):
    """The disk fills between the last block and the final manifest: exit 74, every block
    kept, and resuming writes the manifest."""
    real = runfolder.write_json

    def write_json(path, data):
        if Path(path).name == runfolder.MANIFEST and data.get("status") == "complete":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    with monkeypatch.context() as mp:
        mp.setattr(runfolder, "write_json", write_json)
        result = _cli(*RUN, "--out", tmp_path)
    assert result.exit_code == 74, result.output
    (path,) = tmp_path.iterdir()
    assert RunFolder.open(path).done_blocks() == {0, 1, 2}
    assert _cli("run", "--resume", path, "-q").exit_code == 0
    assert json.loads((path / "manifest.json").read_text())["status"] == "complete"


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


def test_a_real_full_disk_exits_74_and_resumes_once_there_is_room(tmp_path, straight):
    """On a 160 kB tmpfs (where this machine allows mounting one) the run fills the disk."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "160k"):
        pytest.skip("cannot mount a tmpfs here; the patched-writer tests above cover this")
    try:
        result = _cli(*RUN, "--out", disk)
        assert result.exit_code == 74, result.output
        assert "No space left on device" in result.stderr
        (path,) = [p for p in disk.iterdir() if not p.name.startswith(".")]
        done = RunFolder.open(path).done_blocks()
        assert done != {0, 1, 2}
        RunFolder.open(path).block_files()  # the finished blocks are intact
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        again = _cli("run", "--resume", path, "-q")
        assert again.exit_code == 0, again.output
        pd.testing.assert_frame_equal(results.frame(path, "kpis"), straight)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_read_only_results_folder_exits_74_before_running(tmp_path):
    disk = tmp_path / "ro"
    if not _mount_tmpfs(disk, "1m"):
        pytest.skip("cannot mount a tmpfs here; the patched-writer tests above cover this")
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = _cli(*RUN, "--out", disk)
        assert result.exit_code == 74, result.output
        assert "--out" in result.stderr and "block(s)" not in result.output
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.fixture
def finished(tmp_path) -> Path:
    result = _cli("run", TINY, "-n", "2", "--seed", "5", "--workers", "1", "-q", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    return _folder(result)


def _refused(folder: Path, needle: str) -> None:
    for args in (["compare", folder], ["report", folder], ["run", "--resume", folder]):
        result = _cli(*args)
        assert result.exit_code == 65, (args, result.output)
        assert needle in result.stderr and "Traceback" not in result.output, result.stderr


def test_an_edited_table_is_refused_by_compare_report_and_resume(finished):
    file = next((finished / "tables" / "kpis").rglob("block-00001.parquet"))
    table = pq.read_table(file)
    pq.write_table(table.slice(0, len(table) - 1), file)  # a row removed by hand
    _refused(finished, f"{file}: its content differs")
    with pytest.raises(RunFolderDamaged):
        results.open(finished, "kpis")


def test_a_deleted_table_and_an_edited_scenario_copy_are_refused(finished, tmp_path):
    copy = next(finished.glob("scenario-*.yaml"))
    copy.write_text(copy.read_text().replace("window", "windoe"))
    result = _cli("report", finished)
    assert result.exit_code == 65 and copy.name in result.stderr, result.output
    file = next((finished / "tables" / "locks").rglob("block-00000.parquet"))
    file.unlink()
    _refused(finished, f"{file}: missing")


def test_a_damaged_marker_is_refused(finished):
    marker = finished / "blocks" / "block-00000.json"
    marker.write_text('{"block": 0, "replications": [0, 1]}\n')  # an old or edited marker
    _refused(finished, "field 'files'")
    marker.write_text("{not json")
    _refused(finished, "block-00000.json:1:2: not JSON")
