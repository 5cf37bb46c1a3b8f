"""Small conveniences of the public API that no other module owns.

Everything else public lives in its own module and is re-exported by :mod:`sim`.
"""

from __future__ import annotations

from pathlib import Path

from sim.metrics.tables import Tables
from sim.scenario.loading import LoadedScenario, load_doc, variant_patches


def list_variants(path: str | Path) -> dict[str, str]:
    """A scenario file's variants (declared and from its ``sweep:`` block) with their
    descriptions, in file order."""
    out = {}
    doc = load_doc(Path(path))
    for name, patch in variant_patches(doc.data, doc).items():
        text = patch.get("description") if isinstance(patch, dict) else None
        out[name] = str(text or "")
    return out


def run_one(
    sc: LoadedScenario, replication: int = 0, root_seed: int | None = None, per_result=False
) -> Tables:
    """One replication of a loaded scenario, as tables (unit-day, lab-day, locks, KPIs)."""
    from sim.metrics.tables import tabulate
    from sim.model.replication import run_replication

    rep = run_replication(sc, replication, root_seed)
    return tabulate(rep, with_results=per_result)
