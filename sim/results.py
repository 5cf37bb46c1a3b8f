"""Reading a run folder back: DuckDB relations over its Parquet tables.

``open(run_dir)`` gives the replication KPIs as a DuckDB relation, which can be filtered and
aggregated in SQL without loading everything, and turned into pandas with ``.df()``::

    from sim import results
    kpis = results.open("results/20261126T0900Z-fvm-2020-1a2b3c4d")
    kpis.filter("variant = 'window-4w'").df()
    results.open(run, "region_days").aggregate("variant, avg(backlog)").df()

Only the files that finished blocks list are read, each checked against the hash in its
block's marker (:class:`~sim.experiment.runfolder.RunFolderDamaged` names one that was
changed; see :mod:`sim.experiment.runfolder`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from sim.experiment.runfolder import RunFolder, RunFolderError


def open(
    run_dir: str | Path, table: str = "kpis", con: duckdb.DuckDBPyConnection | None = None
) -> duckdb.DuckDBPyRelation:
    """A relation over one table of a run (``kpis``, ``region_days``, ``site_weeks``,
    ``locks``, and with ``--detail`` ``site_days`` and ``lab_days``), every variant."""
    folder = RunFolder.open(Path(run_dir))
    known = folder.tables()
    if table not in known:
        raise RunFolderError(
            f"{folder.path}: no table {table!r} (this run has: {', '.join(known) or 'none yet'})"
        )
    files = [str(f) for f in folder.block_files(table)]
    if not files:
        raise RunFolderError(f"{folder.path}: no finished block of table {table!r} yet")
    con = con or duckdb.connect()
    return con.read_parquet(files, hive_partitioning=False, union_by_name=True)


def frame(run_dir: str | Path, table: str = "kpis") -> pd.DataFrame:
    """A whole table as pandas, sorted by variant (in run order) and replication."""
    folder = RunFolder.open(Path(run_dir))
    df = open(folder.path, table).df()
    order = {v: i for i, v in enumerate(folder.manifest.get("variants", []))}
    keys = [c for c in ("replication", "date", "week", "site", "unit") if c in df.columns]
    df = df.assign(_v=df["variant"].map(order)).sort_values(["_v", *keys], kind="stable")
    return df.drop(columns="_v").reset_index(drop=True)


def manifest(run_dir: str | Path) -> dict[str, Any]:
    """The run's manifest: plan, seeds, hashes, versions, status."""
    return RunFolder.open(Path(run_dir)).manifest


def parquet_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance stored in one Parquet file's metadata."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(b"cutover")
    return json.loads(raw) if raw else {}


__all__ = ["frame", "manifest", "open", "parquet_provenance"]
