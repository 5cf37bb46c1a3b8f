"""A run folder: the resolved scenario, a manifest and tidy Parquet tables, written atomically.

Everything is written into a hidden temporary folder beside the target and renamed into
place at the end, so an interrupted or failed run leaves no half-written folder behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from sim import __version__
from sim.outputs import Tables
from sim.scenario import LoadedScenario

PACKAGES = ("simpy", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "holidays")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "cutover": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def git_commit() -> dict[str, Any]:
    """The commit of the code and whether the work tree had changes (None outside git)."""
    root = Path(__file__).resolve().parent.parent
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


def folder_name(sc: LoadedScenario, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{sc.model.name}-{sc.digest()[:8]}"


def write_run(
    root: Path,
    runs: list[tuple[LoadedScenario, int, Tables]],
    argv: list[str],
    elapsed: float,
    root_seed: int,
) -> Path:
    """Write one folder holding every (variant, replication) of a run; returns its path."""
    root.mkdir(parents=True, exist_ok=True)
    first = runs[0][0]
    target = root / folder_name(first)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        for sc, rep, tables in runs:
            tag = f"variant={sc.variant or 'base'}/replication={rep}"
            part = tmp / "tables" / tag
            part.mkdir(parents=True)
            tables.site_days.to_parquet(part / "site_days.parquet", index=False)
            tables.lab_days.to_parquet(part / "lab_days.parquet", index=False)
            tables.locks.to_parquet(part / "locks.parquet", index=False)
            if tables.results is not None:
                tables.results.to_parquet(part / "results.parquet", index=False)
            (part / "kpis.json").write_text(json.dumps(tables.kpis, indent=2) + "\n")
            name = f"scenario-{sc.variant or 'base'}.yaml"
            (tmp / name).write_text(yaml.safe_dump(sc.resolved_data(), sort_keys=False))
        manifest = {
            "run": target.name,
            "argv": argv,
            "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "scenario": first.model.name,
            "scenario_file": str(first.path),
            "variants": sorted({sc.variant or "base" for sc, _, _ in runs}),
            "replications": sorted({rep for _, rep, _ in runs}),
            "root_seed": root_seed,
            "scenario_hash": {sc.variant or "base": sc.digest() for sc, _, _ in runs},
            "elapsed_seconds": round(elapsed, 3),
            "versions": versions(),
            "platform": platform.platform(),
            "executable": sys.executable,
            **git_commit(),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
