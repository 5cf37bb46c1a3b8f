"""Every notebook runs top to bottom, small (2 replications, the first stage only), shows its
charts as images, and computes what it says it computes.

The jupytext percent scripts (``notebooks/NN-name.py``) are the notebooks' source; each is
paired with a ``.ipynb`` stored without outputs, which must hold the same cells.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.py"))
CHART = re.compile(r"^sim\.charts\.\w+\(.*\)$", re.MULTILINE)

# A last cell appended to each notebook sets ``probe``: what it computed, checked below.
PROBES = {
    "01-quickstart": """
k = sim.results.frame(folder.path)
probe = {"replications": int(k["replication"].nunique()), "variants": sorted(set(k["variant"])),
 "status": sim.results.manifest(folder.path)["status"], "late": float(k["late_abnormal"].sum())}
""",
    "02-compare-windows": """
probe = {"baseline": comparison.baseline,
 "differences": sorted({d.variant for k in comparison.kpis for d in k.differences}),
 "text": text}
""",
    "03-what-if-schedule": """
probe = {"baseline": comparison.baseline, "columns": sorted(table),
 "base": str(base.site_dates["sodra-pc-1"].go_live),
 "later": str(later.site_dates["sodra-pc-1"].go_live)}
""",
    "04-extend-the-model": """
hours = (days.groupby("variant")["extension_hours"].sum() / REPLICATIONS).to_dict()
stream = sim.extensions.WORKLOAD_STREAMS["go_live_huddles"]
probe = {"hours": hours, "booking": stream.booking(share)}
""",
}


def test_each_notebook_source_is_paired_with_an_ipynb_without_outputs():
    assert {p.stem for p in SOURCES} >= set(PROBES)
    for source in SOURCES:
        paired = source.with_suffix(".ipynb")
        assert paired.is_file(), f"{source.name} has no paired {paired.name} (jupytext --sync)"
        text = jupytext.read(source)
        stored = nbformat.read(paired, as_version=4)
        assert [c.source for c in stored.cells] == [c.source for c in text.cells], (
            f"{paired.name} differs from {source.name}: run jupytext --sync {source}"
        )
        for cell in stored.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, paired.name


def _execute(source: Path, tmp_path: Path, monkeypatch) -> tuple[nbformat.NotebookNode, dict]:
    monkeypatch.setenv("CUTOVER_REPLICATIONS", "2")
    monkeypatch.setenv("CUTOVER_QUICK", "1")
    monkeypatch.setenv("CUTOVER_WORKERS", "2")
    monkeypatch.setenv("CUTOVER_OUT", str(tmp_path))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # as in a kernel that chose no backend
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    nb = jupytext.read(source)
    probe = PROBES.get(source.stem)
    if probe:
        nb.cells.append(
            nbformat.v4.new_code_cell(f"{probe.strip()}\nimport json\nprint(json.dumps(probe))")
        )
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on failure
    found = {}
    if probe:
        out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
        found = json.loads(out)
    return nb, found


def _chart_cells(nb) -> list:
    return [
        c
        for c in nb.cells
        if c.cell_type == "code" and CHART.search(c.source.strip().split("\n")[-1])
    ]


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_runs_shows_its_charts_and_computes_what_it_says(source, tmp_path, monkeypatch):
    nb, found = _execute(source, tmp_path, monkeypatch)
    charts = _chart_cells(nb)
    assert charts or source.stem not in PROBES, f"{source.name} has no chart cell"
    for cell in charts:
        kinds = {k for o in cell.outputs for k in o.get("data", {})}
        assert kinds & {"image/png", "image/svg+xml"}, (
            f"{source.name}: chart cell {cell.source!r} shows no image (outputs: {kinds})"
        )
        text = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
        assert "<Figure size" not in text or "image/png" in kinds
    name = source.stem
    if name == "01-quickstart":
        # the variant and the no-cutover twin its excess is measured against
        assert found["replications"] == 2 and found["variants"] == ["no-cutover", "window-4w"]
        assert found["status"] == "complete" and found["late"] >= 0
    elif name == "02-compare-windows":
        assert found["baseline"] == "window-2w"
        assert found["differences"] == ["window-3w", "window-4w"]
        # The summary, as text: each of the other windows weighed against the baseline,
        # no HTML tags or entities left over.
        assert "window-3w" in found["text"] and "window-4w" in found["text"]
        assert not re.search(r"&\w+;|<[a-z/]", found["text"]), found["text"]
    elif name == "03-what-if-schedule":
        assert found["baseline"] == "plan"
        assert "merge-sodra-groups" in found["columns"] and "plan" not in found["columns"]
        assert found["later"] > found["base"]  # a later lab switch moves the go-live later
    elif name == "04-extend-the-model":
        assert found["hours"]["plan"] == 0 and found["hours"]["huddles"] > 0
        assert "displaces" in found["booking"]
