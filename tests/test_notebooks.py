"""Every notebook runs top to bottom, small (2 replications, the first stage only)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_four_notebooks_stored_without_outputs():
    assert [p.stem for p in NOTEBOOKS] == [
        "01-quickstart", "02-compare-windows", "03-what-if-schedule", "04-extend-the-model"
    ]  # fmt: skip
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("CUTOVER_REPLICATIONS", "2")
    monkeypatch.setenv("CUTOVER_QUICK", "1")
    monkeypatch.setenv("CUTOVER_WORKERS", "2")
    monkeypatch.setenv("CUTOVER_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on failure
    assert any(p.is_dir() for p in tmp_path.iterdir()), "the notebook wrote no run folder"
