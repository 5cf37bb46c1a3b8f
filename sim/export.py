"""A run's numbers for a spreadsheet: KPIs, their comparison and the site-weeks, as CSV or Excel.

Managers and analysts who work in Excel should not need Python or DuckDB to get at a run:
``cutover export RUN --format xlsx`` writes one workbook with a sheet per table, and
``--format csv`` one CSV file per table in a folder. Every sheet names variants both by their
full name and by the label the report and charts use, and KPIs by their column name and their
display name, so the numbers can be matched to the report.

Sheets: ``kpis`` (one row per variant and replication, every KPI column of the run,
including any excess-over-twin columns it has), ``summary`` (per KPI and variant: mean,
95% CI, share above threshold), ``comparison`` (per KPI and variant: paired difference from
the baseline with its 95% CI, and the unpaired one) and ``site_weeks``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from sim.compare import compare_run
from sim.metrics.kpis import KPIS
from sim.results import frame, manifest

FORMATS = ("csv", "xlsx")


def export_tables(run_dir: str | Path, baseline: str | None = None) -> dict[str, pd.DataFrame]:
    """The sheets of an export, by name, in order."""
    comparison = compare_run(run_dir, baseline)
    labels = comparison.labels
    kpis = frame(run_dir, "kpis")
    kpis.insert(1, "label", kpis["variant"].map(labels))
    summary, diffs = [], []
    for k in comparison.kpis:
        common = {"kpi": k.kpi, "kpi_name": KPIS[k.kpi].display_name(), "unit": k.unit}
        for v in k.variants:
            e, p = v.estimate, v.p_exceed
            summary.append(
                {**common, "variant": v.variant, "label": labels.get(v.variant, v.variant),
                 "replications": e.n, "mean": e.mean, "ci95_low": e.low, "ci95_high": e.high,
                 "threshold": k.threshold, "share_above_threshold": p.mean,
                 "share_ci95_low": p.low, "share_ci95_high": p.high}
            )  # fmt: skip
        for d in k.differences:
            diffs.append(
                {**common, "variant": d.variant, "label": labels.get(d.variant, d.variant),
                 "baseline": comparison.baseline, "paired_mean_difference": d.paired.mean,
                 "paired_ci95_low": d.paired.low, "paired_ci95_high": d.paired.high,
                 "unpaired_ci95_low": d.unpaired.low, "unpaired_ci95_high": d.unpaired.high,
                 "paired_replications": d.paired.n}
            )  # fmt: skip
    sheets = {"kpis": kpis, "summary": pd.DataFrame(summary), "comparison": pd.DataFrame(diffs)}
    weeks = frame(run_dir, "site_weeks")
    weeks.insert(1, "label", weeks["variant"].map(labels))
    sheets["site_weeks"] = weeks
    return sheets


def default_out(run_dir: str | Path, fmt: str) -> Path:
    """``RUN/export/`` for CSV files, ``RUN/<run>.xlsx`` for a workbook."""
    run_dir = Path(run_dir)
    return run_dir / "export" if fmt == "csv" else run_dir / f"{manifest(run_dir)['run']}.xlsx"


def export_run(
    run_dir: str | Path, fmt: str, out: str | Path | None = None, baseline: str | None = None
) -> Path:
    """Write the export (all at once: an interrupted export leaves nothing half-written)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    target = Path(out) if out is not None else default_out(run_dir, fmt)
    sheets = export_tables(run_dir, baseline)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        _replace_dir(target, lambda tmp: _write_csvs(sheets, tmp))
    else:
        _replace_file(target, lambda tmp: _write_xlsx(sheets, tmp))
    return target


def _write_csvs(sheets: dict[str, pd.DataFrame], folder: Path) -> None:
    for name, df in sheets.items():
        df.to_csv(folder / f"{name}.csv", index=False)


def _write_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, df in sheets.items():
            out = df.copy()
            for col in out.columns:  # Excel has no time zones
                if isinstance(out[col].dtype, pd.DatetimeTZDtype):
                    out[col] = out[col].dt.tz_localize(None)
            out.to_excel(writer, sheet_name=name, index=False)
            sheet = writer.sheets[name]
            sheet.freeze_panes = "A2"
            for cells in sheet.columns:
                width = max(len(str(c.value)) if c.value is not None else 0 for c in cells[:200])
                sheet.column_dimensions[cells[0].column_letter].width = min(40, width + 2)


def _replace_file(target: Path, write: Callable[[Path], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _replace_dir(target: Path, write: Callable[[Path], None]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
