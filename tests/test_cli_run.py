"""`cutover run`, `sweep` and `compare` as a user meets them: folders, output, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from sim import results
from sim.cli import app
from sim.experiment.runfolder import RunFolder
from sim.metrics.kpis import KPIS

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _folder(result) -> Path:
    return Path(result.stdout.strip().splitlines()[-1])


def test_run_writes_a_complete_folder_and_prints_it_last(tmp_path):
    result = _run("run", TINY, "-v", "window-2w,window-4w", "-n", "2", "--seed", "7",
                  "--workers", "1", "--out", tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = _folder(result)
    assert folder.parent == tmp_path and folder.is_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["root_seed"] == 7 and manifest["variants"] == ["window-2w", "window-4w"]
    assert manifest["replications"] == 2 and manifest["status"] == "complete"
    assert set(manifest["scenario_hash"]) == {"window-2w", "window-4w", "no-cutover"}
    assert {"python", "numpy", "simpy", "duckdb"} <= set(manifest["versions"])
    assert "commit" in manifest and "dirty" in manifest and manifest["argv"]
    for variant in ("window-2w", "window-4w"):
        assert (folder / f"scenario-{variant}.yaml").is_file()
    kpis = results.frame(folder, "kpis")
    assert list(kpis["variant"]) == [*["window-2w"] * 2, *["window-4w"] * 2, *["no-cutover"] * 2]
    assert list(kpis["replication"]) == [0, 1] * 3
    assert set(KPIS) <= set(kpis.columns)
    days = results.open(folder, "region_days").df()
    assert {"date", "backlog", "late_abnormal", "dual_system_hours"} <= set(days)
    assert (
        len(results.frame(folder, "locks")) == 3 * 2 * 2
    )  # 3 locks, 2 variants, 2 reps (twin: none)
    # Nothing half-written is left beside the folder or in it.
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
    assert not list(folder.rglob(".*"))


def test_detail_and_per_result_tables_on_request(tmp_path):
    result = _run("run", TINY, "--per-result", "--seed", "1", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    folder = _folder(result)
    rows = results.open(folder, "results").df()
    assert len(rows) > 1000 and {"signed", "late", "orphan", "client"} <= set(rows)
    assert {"site_days", "lab_days"} <= set(RunFolder.open(folder).tables())


def test_without_seed_fresh_entropy_is_printed_and_saved(tmp_path):
    seeds = []
    for _ in range(2):
        result = _run("run", TINY, "--out", tmp_path, "-q")
        assert result.exit_code == 0, result.output
        seed = json.loads((_folder(result) / "manifest.json").read_text())["root_seed"]
        assert f"root seed {seed}" in result.stderr
        seeds.append(seed)
    assert seeds[0] != seeds[1]


def test_unwritable_out_fails_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = _run("run", TINY, "--seed", "1", "--out", blocker / "sub")
    assert result.exit_code == 2
    assert "--out" in result.output and "block(s)" not in result.output


def test_bad_requests_exit_2_and_write_nothing(tmp_path):
    cases = [
        (["run", TINY, "-v", "window-9w"], "window-9w"),
        (["run", TINY, "-n", "0"], "-n"),
        (["run", TINY, "--executor", "spark"], "spark"),
        (["run"], "SCENARIO"),
        (["sweep", TINY, "--grid", "staffing.extra_signers"], "path=value"),
    ]
    for args, needle in cases:
        result = _run(*args, "--seed", "1", "--out", tmp_path)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_unreadable_run_folder_exits_66_naming_the_file(tmp_path):
    missing = tmp_path / "nope"
    for args in (["compare", missing], ["run", "--resume", missing]):
        result = _run(*args)
        assert result.exit_code == 66, result.output
        assert "nope" in result.output
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"format": 2,\n "run": }')
    result = _run("compare", broken)
    assert result.exit_code == 66
    assert "manifest.json:2:" in result.output


def test_compare_prints_intervals_sentences_and_json(tmp_path):
    result = _run("run", TINY, "-v", "window-2w,window-4w", "-n", "3", "--seed", "3",
                  "--workers", "1", "--out", tmp_path)  # fmt: skip
    folder = _folder(result)
    text = _run("compare", folder, "--baseline", "window-2w")
    assert text.exit_code == 0, text.output
    assert "paired diff vs window-2w" in text.stdout
    assert "extra staff hours" in text.stdout and "95% CI" in text.stdout
    data = json.loads(_run("compare", folder, "--json").stdout)
    assert data["baseline"] == "window-2w" and data["replications"] == 3
    assert {k["kpi"] for k in data["kpis"]} == set(KPIS)
    late = next(k for k in data["kpis"] if k["kpi"] == "late_abnormal")
    assert [d["variant"] for d in late["differences"]] == ["window-4w"]
    bad = _run("compare", folder, "--baseline", "window-9w")
    assert bad.exit_code == 2 and "window-9w" in bad.output


def test_sweep_runs_a_grid_of_variants(tmp_path):
    result = _run("sweep", TINY, "--grid", "staffing.extra_signers.health_centre=0,2",
                  "--seed", "5", "--workers", "1", "--out", tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    kpis = results.frame(_folder(result), "kpis")
    assert list(kpis["variant"]) == ["health_centre=0", "health_centre=2", "no-cutover"]


def test_python_dash_m_sim_works():
    done = subprocess.run(
        [sys.executable, "-m", "sim", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("cutover ")


def test_parquet_files_carry_provenance(tmp_path):
    result = _run("run", TINY, "--seed", "11", "--out", tmp_path)
    folder = _folder(result)
    file = next((folder / "tables" / "kpis").rglob("*.parquet"))
    meta = results.parquet_provenance(file)
    assert meta["root_seed"] == 11 and meta["run"] == folder.name
    assert pd.read_parquet(file)["replication"].tolist() == [0]
