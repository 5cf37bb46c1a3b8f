"""The package's layers point one way and its modules import no cycle (DESIGN section 6).

Every import of a :mod:`sim` module, wherever it stands in a file (also inside functions and
``TYPE_CHECKING`` blocks), is read from the source with :mod:`ast`. A module may import its
own layer or those below; a new module must be given a layer here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sim"

# Bottom to top. A module belongs to the first prefix that matches its dotted name.
LAYERS: list[tuple[str, ...]] = [
    ("sim.sampling",),
    ("sim.scenario", "sim.extensions"),
    ("sim.schedule",),
    ("sim.model",),
    ("sim.metrics",),
    ("sim.experiment",),
    ("sim.results", "sim.compare", "sim.charts", "sim.attribution", "sim.report"),
    ("sim.cli", "sim.api", "sim.__main__", "sim.ext"),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int | None:
    if module == "sim":
        return -1  # the package's own lazy re-exports (strings, not imports)
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return None


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The sim modules a file imports (``from sim import x`` counts as ``sim.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("sim.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "sim":
                found |= {f"sim.{a.name}" for a in node.names if f"sim.{a.name}" in modules}
            elif node.module.startswith("sim."):
                found.add(node.module)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(files)) - {name} for name, path in files.items()}


def test_every_module_has_a_layer():
    assert [m for m in _graph() if _layer(m) is None] == []


def test_imports_point_down_only():
    upward = [
        f"{m} (layer {_layer(m)}) imports {d} (layer {_layer(d)})"
        for m, deps in _graph().items()
        for d in deps
        if _layer(d) is not None and _layer(m) is not None and _layer(d) > _layer(m)
    ]
    assert upward == []


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*path[path.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_reading_results_does_not_load_the_model():
    code = (
        "import sim.compare, sim.results, sys; print(sorted({'numba', 'simpy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
