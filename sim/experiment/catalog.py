"""The run folders under a results folder: a list for people, and ``latest`` for commands.

An analyst who ran three experiments this morning should not have to copy a folder name
like ``20261203T0812Z-fvm-2020-1a2b3c4d`` to look at the last one: every command that takes a
run folder also accepts ``latest`` (the newest run under ``results/``) or ``DIR/latest``
(the newest under ``DIR``), and ``cutover runs`` lists what is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sim.experiment.runfolder import MANIFEST, RunFolder, RunFolderError

LATEST = "latest"
DEFAULT_ROOT = Path("results")


@dataclass(frozen=True)
class RunInfo:
    """One run folder as ``cutover runs`` shows it."""

    path: Path
    scenario: str
    variants: list[str]
    replications: int
    status: str
    blocks_done: int
    blocks: int
    created: str


def list_runs(root: str | Path = DEFAULT_ROOT) -> list[RunInfo]:
    """Every run folder directly under ``root``, oldest first (unreadable ones skipped)."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(p for p in root.iterdir() if (p / MANIFEST).is_file()):
        try:
            folder = RunFolder.open(path)
        except RunFolderError:
            continue
        m = folder.manifest
        out.append(
            RunInfo(
                path,
                str(m.get("scenario", "?")),
                list(m.get("variants", [])),
                int(m.get("replications", 0)),
                str(m.get("status", "?")),
                len(folder.done_blocks()),
                int(m.get("blocks", 0)),
                str(m.get("created_utc", "")),
            )
        )
    return sorted(out, key=lambda r: (r.created, r.path.name))


def resolve_run(path: str | Path) -> Path:
    """``path`` itself, or for ``latest`` / ``DIR/latest`` (when no such folder exists) the
    newest run folder under ``results/`` / ``DIR``."""
    path = Path(path)
    if path.name != LATEST or path.exists():
        return path
    root = DEFAULT_ROOT if path == Path(LATEST) else path.parent
    runs = list_runs(root)
    if not runs:
        raise RunFolderError(f"{path}: there is no run folder under {root}/ to call latest")
    return runs[-1].path
