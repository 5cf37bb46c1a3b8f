"""Medication reconciliation at go-live: a workload stream added as an extension.

At go-live every patient's medication list must be checked and re-entered in the new
record (in VGR's move to Millennium, pharmacists and nurses reconciled inpatients' lists
during the first days; primary care reconciles lists of patients with many medicines as
they come in). The work takes staff time from the same sessions as signing, so a unit that
reconciles at the same time as it signs in two systems falls behind faster.

Minutes per unit and day = patients x minutes per patient, spread evenly over the days from
``days_before_go_live`` before to ``days_after_go_live`` after the unit's go-live (every day
for inpatient units, working days for primary care).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sim.extensions import Params, WorkloadContext, workload_stream


class MedicationReconciliation(Params):
    minutes_per_patient: float = Field(
        10.0, gt=0, description="assumption: 5-15 min to reconcile one list (own estimate)"
    )
    patients_per_unit: dict[str, float] = Field(
        description="site kind -> patients whose list is reconciled at go-live, per unit"
    )
    days_before_go_live: int = Field(0, ge=0)
    days_after_go_live: int = Field(3, ge=1)


def _check_kinds(p: MedicationReconciliation, scenario) -> list[tuple[tuple, str]]:
    """Site kinds named in ``patients_per_unit`` must exist in the scenario."""
    known = scenario.site_kinds
    return [
        (("patients_per_unit", kind), f"unknown site kind {kind!r}; known: {', '.join(known)}")
        for kind in p.patients_per_unit
        if kind not in known
    ]


@workload_stream("medication_reconciliation", MedicationReconciliation, check=_check_kinds)
def medication_reconciliation(p: MedicationReconciliation, ctx: WorkloadContext) -> np.ndarray:
    """Reconciling every patient's medication list around the unit's go-live."""
    cal, tl, s = ctx.calendar, ctx.timeline, ctx.scenario.model
    out = np.zeros((len(tl.units), cal.n_days))
    go_days = ctx.go_live_days()
    for i, unit in enumerate(tl.units):
        patients = p.patients_per_unit.get(unit.kind, 0.0)
        if patients <= 0 or go_days[i] < 0:
            continue
        days = np.arange(
            max(0, go_days[i] - p.days_before_go_live),
            min(cal.n_days, go_days[i] + p.days_after_go_live),
        )
        if s.site_kinds[unit.kind].setting == "primary":
            days = days[cal.working_day_mask[days]]
        if days.size:
            out[i, days] += patients * p.minutes_per_patient / days.size
    return out
