"""Key performance indicators: each defined once, with its unit, meaning and threshold.

Every table, chart and comparison names KPIs from this registry, and scenarios may only set
thresholds for names listed here. ``docs/kpis.md`` documents the same list for readers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kpi:
    """A replication-level indicator; lower is better unless ``higher_is_better``."""

    name: str
    unit: str
    definition: str
    threshold: float
    label: str = ""  # plain words for sentences, e.g. "late abnormal results"
    higher_is_better: bool = False
    display: str = ""  # a table row's or chart panel's name (default: the label, capitalised)

    def words(self) -> str:
        return self.label or self.name.replace("_", " ")

    def display_name(self) -> str:
        """The KPI as tables and charts name it: plain words, never the column name."""
        return self.display or self.words()[:1].upper() + self.words()[1:]


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
            "or still unsigned past it at the horizon",
            threshold=500,
            label="late abnormal results",
        ),
        Kpi(
            "orphans",
            "results",
            "results that arrived where nobody watches them (locked legacy inbox, lost "
            "reroute) and so were never signed",
            threshold=1,
            label="unwatched results",
        ),
        Kpi(
            "late_abnormal_peak_site_week",
            "results",
            "largest number of late abnormal results at one site in one ISO week",
            threshold=10,
            label="late abnormal results in the worst site-week",
            display="Worst site-week: late abnormal",
        ),
        Kpi(
            "backlog_peak",
            "results",
            "largest end-of-day count of unsigned results over all sites together",
            threshold=5000,
            label="unsigned results at the peak",
        ),
        Kpi(
            "overtime_hours",
            "staff hours",
            "overtime worked in signing sessions",
            threshold=2000,
            label="overtime hours",
        ),
        Kpi(
            "dual_system_hours",
            "staff hours",
            "time spent switching between the legacy and the Millennium inbox",
            threshold=1000,
            label="dual-system hours",
        ),
        Kpi(
            "extra_staff_hours",
            "staff hours",
            "dual-system, lookup, back-entry, migration, relabelling and chase hours",
            threshold=20000,
            label="extra staff hours",
        ),
    ]
}
