"""A run folder: the results store of one experiment.

Layout (``results/<utc-stamp>-<scenario>-<hash8>/``)::

    manifest.json                      run id, argv, plan, seeds, hashes, versions, git, status
    scenario-<variant>.yaml            each variant's resolved scenario
    tables/<table>/variant=<v>/block-00012.parquet
    blocks/block-00012.json            written last: the block is complete

Every file is written to a hidden temporary name and renamed into place, so a killed run
leaves whole files only; a block counts as done only when its marker exists, and anything of
a block without one is rewritten on resume. The folder itself appears atomically, manifest and
scenarios included, before the first block is run. Provenance (run id, seed, scenario hash,
code version) is also stored in each Parquet file's metadata, so a file that travels alone
still says where it came from.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from sim import __version__
from sim.scenario.errors import ExitCode

PACKAGES = (
    "simpy", "numpy", "scipy", "pandas", "pyarrow", "duckdb", "pydantic", "holidays", "matplotlib",
    "dask", "distributed",
)  # fmt: skip
MANIFEST = "manifest.json"
FORMAT = 2  # bump when the layout changes


class RunFolderError(Exception):
    """A run folder that is missing or cannot be read (exit code 66, missing input)."""

    exit_code = ExitCode.MISSING_INPUT


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "cutover": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> dict[str, Any]:
    """The commit of the code and whether the work tree had changes (None outside git)."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": head, "dirty": bool(dirty)}


def environment() -> dict[str, Any]:
    """Software and machine, for the manifest and the report's model-reporting section."""
    return {
        "versions": versions(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "cpus": os.cpu_count(),
        **git_commit(),
    }


def slug(name: str) -> str:
    """A variant name as a safe folder name (the exact name is a column in every table)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` and rename the result to ``path``; nothing partial survives."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    _atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2, default=str) + "\n"))


class RunFolder:
    """One experiment's folder: create it, add blocks, read what is done."""

    def __init__(self, path: Path, manifest: dict[str, Any]):
        self.path = path
        self.manifest = manifest

    @classmethod
    def create(
        cls, root: Path, name: str, manifest: dict[str, Any], scenarios: dict[str, dict]
    ) -> RunFolder:
        """Make the folder with its manifest and resolved scenarios, all at once."""
        root.mkdir(parents=True, exist_ok=True)
        target, n = root / name, 1
        while target.exists():  # two runs of one scenario in the same second
            n += 1
            target = root / f"{name}-{n}"
        name = target.name
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        try:
            for variant, data in scenarios.items():
                (tmp / f"scenario-{slug(variant)}.yaml").write_text(
                    yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
                )
            manifest = {"format": FORMAT, "run": name, **manifest}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
            os.rename(tmp, target)  # fails, rather than merges, if the name was just taken
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(target, manifest)

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """Read a run folder's manifest; :class:`RunFolderError` says what is wrong."""
        path = Path(path)
        file = path / MANIFEST
        if not path.is_dir():
            raise RunFolderError(f"{path}: not a run folder (no such directory)")
        try:
            manifest = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunFolderError(f"{file}: missing; {path} is not a run folder") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RunFolderError(f"{file}: cannot read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise RunFolderError(f"{file}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise RunFolderError(
                f"{file}: field 'format': expected {FORMAT}, found "
                f"{manifest.get('format') if isinstance(manifest, dict) else manifest!r} "
                "(written by another version of cutover)"
            )
        return cls(path, manifest)

    # ------------------------------------------------------------------ blocks
    def _marker(self, block: int) -> Path:
        return self.path / "blocks" / f"block-{block:05d}.json"

    def done_blocks(self) -> set[int]:
        folder = self.path / "blocks"
        if not folder.is_dir():
            return set()
        return {int(p.stem.split("-")[1]) for p in folder.glob("block-*.json")}

    def clean_partial(self) -> None:
        """Remove temporary files and the files of blocks that have no marker."""
        done = self.done_blocks()
        for p in self.path.rglob(".*.tmp"):
            p.unlink(missing_ok=True)
        for p in (self.path / "tables").rglob("block-*.parquet"):
            if int(p.stem.split("-")[1]) not in done:
                p.unlink()

    def write_block(self, block: int, tables: dict[str, pd.DataFrame], info: dict) -> None:
        """Write one block's tables (each split by variant), then its marker."""
        provenance = {
            k: self.manifest.get(k) for k in ("run", "root_seed", "scenario_hash", "commit")
        }
        provenance["block"] = block
        meta = {b"cutover": json.dumps(provenance, default=str).encode()}
        for name, frame in tables.items():
            for variant, part in frame.groupby("variant", sort=True):
                table = pa.Table.from_pandas(part, preserve_index=False)
                table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
                path = self.path / "tables" / name / f"variant={slug(variant)}"
                _atomic_write(path / f"block-{block:05d}.parquet", partial(pq.write_table, table))
        write_json(self._marker(block), info)

    def block_infos(self) -> Iterator[dict]:
        for block in sorted(self.done_blocks()):
            yield json.loads(self._marker(block).read_text())

    def update_manifest(self, **fields: Any) -> None:
        self.manifest.update(fields)
        write_json(self.path / MANIFEST, self.manifest)

    def tables(self) -> list[str]:
        folder = self.path / "tables"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
