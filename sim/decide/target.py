"""Which KPI a decision tool aims at, and one error type for requests it cannot serve.

The tools take any column of the ``kpis`` table. Their default is the harm the cutover
itself causes: ``excess_late_abnormal`` (against the no-cutover twin) when a run has it,
else ``late_abnormal``; one function decides, so every tool agrees.
"""

from __future__ import annotations

from collections.abc import Iterable

from sim.experiment.errors import ExperimentError
from sim.metrics.kpis import KPIS

PREFERRED = ("excess_late_abnormal", "late_abnormal")
NOT_KPIS = frozenset({"variant", "replication"})


class DecideError(ExperimentError):
    """A decision request that cannot be served as asked (exit code 2, usage)."""


def default_kpi(columns: Iterable[str]) -> str:
    """The default target among a ``kpis`` table's columns: the excess late abnormal results
    when present, else late abnormal results."""
    cols = set(columns)
    for name in PREFERRED:
        if name in cols:
            return name
    raise DecideError(f"no {' or '.join(PREFERRED)} column among the KPIs; name one with --kpi")


def known_kpis() -> list[str]:
    """KPI names a request may use before any replication has run: the registry's names and
    their ``excess_`` forms (present when the run keeps a no-cutover twin)."""
    return [*KPIS, *(f"excess_{k}" for k in KPIS)]


def check_kpi(kpi: str, columns: Iterable[str] | None = None) -> str:
    """``kpi`` if it names a KPI (a column of ``columns`` when given), else :class:`DecideError`."""
    known = [c for c in columns if c not in NOT_KPIS] if columns is not None else known_kpis()
    if kpi not in known:
        raise DecideError(f"unknown KPI {kpi!r}; known: {', '.join(known)}")
    return kpi
