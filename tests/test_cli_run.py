"""`cutover run`: a run folder with the resolved scenario, a manifest and readable tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from sim.cli import app
from sim.kpis import KPIS

TINY = Path(__file__).resolve().parent.parent / "scenarios" / "tiny.yaml"
runner = CliRunner()


def test_run_writes_a_complete_folder_and_prints_it_last(tmp_path):
    result = runner.invoke(
        app, ["run", str(TINY), "-v", "window-2w,window-4w", "--seed", "7", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip().splitlines()[-1])
    assert folder.parent == tmp_path and folder.is_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["root_seed"] == 7 and manifest["variants"] == ["window-2w", "window-4w"]
    assert set(manifest["scenario_hash"]) == {"window-2w", "window-4w"}
    for variant in ("window-2w", "window-4w"):
        assert (folder / f"scenario-{variant}.yaml").is_file()
        part = folder / "tables" / f"variant={variant}" / "replication=0"
        days = pd.read_parquet(part / "site_days.parquet")
        assert {"date", "unit", "backlog", "late_abnormal", "dual_system_hours"} <= set(days)
        assert set(json.loads((part / "kpis.json").read_text())) == set(KPIS)
        assert len(pd.read_parquet(part / "locks.parquet")) == 3
    # Nothing half-written is left beside the folder.
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]


def test_per_result_table_on_request(tmp_path):
    result = runner.invoke(app, ["run", str(TINY), "--per-result", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip().splitlines()[-1])
    rows = pd.read_parquet(folder / "tables" / "variant=base" / "replication=0" / "results.parquet")
    assert len(rows) > 1000 and {"signed", "late", "orphan", "client"} <= set(rows)


def test_unwritable_out_fails_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["run", str(TINY), "--out", str(blocker / "sub")])
    assert result.exit_code == 2
    assert "--out" in result.output and "orders in" not in result.output


def test_python_dash_m_sim_works():
    done = subprocess.run(
        [sys.executable, "-m", "sim", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("cutover ")
