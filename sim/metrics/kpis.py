"""Key performance indicators: each defined once, with its unit, meaning, threshold and formula.

Every table, chart and comparison names KPIs from this registry, and scenarios may only set
thresholds for names listed here. Each entry carries the function that computes it from one
replication's :class:`KpiInputs`, so the words and the number cannot drift apart; the KPI
table of ``docs/kpis.md`` is generated from here (``python -m sim.metrics.kpis``, checked by
a test).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim import extensions
from sim.model.ledger import EXTRA
from sim.scenario.errors import Diagnostic
from sim.scenario.loading import LoadedScenario, Refs


@dataclass(frozen=True)
class KpiInputs:
    """What every replication KPI is computed from (assembled by :mod:`sim.metrics.tables`)."""

    site_days: pd.DataFrame  # the unit-day table
    late: np.ndarray  # per result: a late abnormal result
    orphan: np.ndarray  # per result: nobody watches it
    abnormal: np.ndarray  # per result: abnormal (critical ones included)
    late_unit_weeks: np.ndarray  # late abnormal results per unit and ISO week
    backlog_days: np.ndarray  # unsigned results over all units at the end of each day
    reroute_hours: float  # central reroute queue
    workload_left_hours: float  # scheduled work still undone at the horizon's end
    failed_calls: float = 0.0  # the lab's calls for critical results that reached nobody
    spillover_hours: float = 0.0  # manual migration planned before go-live that did not fit


@dataclass(frozen=True)
class Kpi:
    """A replication-level indicator; lower is better unless ``higher_is_better``."""

    name: str
    unit: str
    definition: str
    threshold: float
    compute: Callable[[KpiInputs], float]
    label: str = ""  # plain words for sentences, e.g. "late abnormal results"
    higher_is_better: bool = False
    display: str = ""  # a table row's or chart panel's name (default: the label, capitalised)

    def words(self) -> str:
        return self.label or self.name.replace("_", " ")

    def display_name(self) -> str:
        """The KPI as tables and charts name it: plain words, never the column name."""
        return self.display or self.words()[:1].upper() + self.words()[1:]


def _peak(values: np.ndarray) -> float:
    return float(values.max()) if values.size else 0.0


def _hours(*columns: str) -> Callable[[KpiInputs], float]:
    return lambda x: float(x.site_days[list(columns)].to_numpy().sum())


def thresholds(overrides: dict[str, float] | None = None) -> dict[str, float]:
    """Every KPI's threshold, with a scenario's ``kpi_thresholds`` applied."""
    return {name: (overrides or {}).get(name, k.threshold) for name, k in KPIS.items()}


KPIS: dict[str, Kpi] = {
    k.name: k
    for k in [
        Kpi(
            "late_abnormal",
            "results",
            "abnormal or critical results signed after the site kind's late threshold, "
            "or still unsigned past it at the horizon, or unwatched",
            compute=lambda x: float(x.late.sum()),
            threshold=500,
            label="late abnormal results",
        ),
        Kpi(
            "orphans",
            "results",
            "abnormal or critical results that arrived where nobody watches them (locked "
            "legacy inbox, lost reroute) and so were never signed: the safety signal",
            compute=lambda x: float((x.orphan & x.abnormal).sum()),
            threshold=1,
            label="unwatched abnormal results",
        ),
        Kpi(
            "orphans_normal",
            "results",
            "normal results that nobody watches (not a safety signal)",
            compute=lambda x: float((x.orphan & ~x.abnormal).sum()),
            threshold=100,
            label="unwatched normal results",
        ),
        Kpi(
            "late_abnormal_peak_site_week",
            "results",
            "largest number of late abnormal results at one unit in one ISO week",
            compute=lambda x: _peak(x.late_unit_weeks),
            threshold=10,
            label="late abnormal results in the worst site-week",
            display="Worst site-week: late abnormal",
        ),
        Kpi(
            "backlog_peak",
            "results",
            "largest end-of-day count of unsigned results over all units together",
            compute=lambda x: _peak(x.backlog_days),
            threshold=5000,
            label="unsigned results at the peak",
        ),
        Kpi(
            "overtime_hours",
            "staff hours",
            "time signers worked past their sessions' nominal end",
            compute=_hours("overtime_hours"),
            threshold=2000,
            label="overtime hours",
        ),
        Kpi(
            "dual_system_hours",
            "staff hours",
            "dual work during coexistence: logins to open the second system's inbox, ordering "
            "in the legacy client while documenting in Millennium, cross-documenting abnormal "
            "results",
            compute=_hours("dual_system_hours"),
            threshold=1000,
            label="dual-system hours",
        ),
        Kpi(
            "extra_staff_hours",
            "staff hours",
            f"hours booked to {', '.join(a.replace('_', ' ') for a in EXTRA)}, "
            "plus the central reroute queue's hours",
            compute=lambda x: _hours(*(f"{a}_hours" for a in EXTRA))(x) + x.reroute_hours,
            threshold=20000,
            label="extra staff hours",
        ),
        Kpi(
            "unfinished_workload_hours",
            "staff hours",
            "scheduled cutover work (dual work per item, migration, validation, relabelling, "
            "reserve numbers, "
            "back-entry, registered streams) still undone at the horizon's end",
            compute=lambda x: x.workload_left_hours,
            threshold=100,
            label="hours of cutover work left undone",
        ),
        Kpi(
            "migration_spillover_hours",
            "staff hours",
            "manual migration that did not fit in the units' capacity for scheduled work in "
            "the planned days before go-live and is done after it",
            compute=lambda x: x.spillover_hours,
            threshold=0,
            label="hours of migration spilling past go-live",
        ),
        Kpi(
            "failed_critical_calls",
            "calls",
            "the lab's first phone call for a critical result that reached nobody (unit closed, "
            "no duty doctor); the lab calls again when the unit opens",
            compute=lambda x: x.failed_calls,
            threshold=1,
            label="failed calls for critical results",
        ),
        Kpi(
            "support_unmet_days",
            "supporter-days",
            "go-live support asked for and not given: in their go-live and lab-switch weeks "
            "units ask for super users per 10 signers, and an area short of supporters shares "
            "each day's capacity in proportion to what its units ask for",
            compute=lambda x: float(x.site_days["support_unmet"].sum()),
            threshold=10,
            label="supporter-days of go-live support missing",
        ),
    ]
}


@extensions.scenario_check
def check_thresholds(sc: LoadedScenario) -> list[Diagnostic]:
    """A scenario may set thresholds only for KPIs of this registry."""
    refs = Refs(sc.doc)
    for name in sc.model.kpi_thresholds:
        refs.check(name, KPIS, "KPI", ("kpi_thresholds", name))
    return refs.errors


def markdown_table() -> str:
    """The KPI table of ``docs/kpis.md``."""
    rows = ["| name | unit | definition | default threshold |", "|---|---|---|---|"]
    for k in KPIS.values():
        rows.append(f"| `{k.name}` | {k.unit} | {k.definition} | {k.threshold:g} |")
    return "\n".join(rows) + "\n"


BEGIN, END = "<!-- kpi-table: generated by python -m sim.metrics.kpis -->", "<!-- /kpi-table -->"


def write_docs(page: Path) -> None:
    """Replace the generated KPI table in ``page`` with the registry's."""
    text = page.read_text()
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    page.write_text(f"{head}{BEGIN}\n{markdown_table()}{END}{tail}")


if __name__ == "__main__":
    write_docs(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/kpis.md"))
