"""Scheduled workload that competes with signing: migration, validation, relabelling, ...

Before go-live, information sets under the row breakpoint (and sets never machine-migrated)
are migrated by hand, and sampling validation of the machine migration takes local staff
time. After go-live, responsible-doctor (PAL) relabelling, when PAL is not migrated, and new
reserve numbers take time. Each becomes minutes per unit and day, spread evenly over the
working days of its period, using the mean of its distribution; the signer pool takes them
from the same sessions as signing. Back-entry of paper orders after the cutover downtime is
added by the model from the orders themselves.
"""

from __future__ import annotations

import numpy as np

from sim.model.demand import mean_minutes, role_spec
from sim.model.ledger import WORKLOAD
from sim.sampling.calendar import Calendar
from sim.scenario.loading import LoadedScenario
from sim.schedule.timeline import Timeline


def _spread(total: float, days: np.ndarray, working: np.ndarray, out: np.ndarray) -> None:
    chosen = days[working[days]] if days.size else days
    if total > 0 and chosen.size:
        out[chosen] += total / chosen.size


def _days(go_day: int, n_days: int, a: float, b: float) -> np.ndarray:
    """Horizon days from ``a`` to ``b`` days after the go-live day (clipped)."""
    return np.arange(max(0, go_day + round(a)), min(n_days, go_day + round(b)))


def daily_workload(sc: LoadedScenario, cal: Calendar, tl: Timeline) -> np.ndarray:
    """Minutes of scheduled workload, shape (categories, units, days)."""
    s, mig = sc.model, sc.model.migration
    out = np.zeros((len(WORKLOAD), len(tl.units), cal.n_days))
    working = cal.working_day_mask
    c_mig, c_val = WORKLOAD.index("migration"), WORKLOAD.index("validation")
    c_rel, c_res = WORKLOAD.index("relabelling"), WORKLOAD.index("reserve_numbers")
    manual_rows = sum(
        ss.rows_per_site
        for ss in mig.info_sets
        if not ss.machine_migrated or ss.rows_per_site < mig.breakpoint_rows
    )
    machine = any(
        ss.machine_migrated and ss.rows_per_site >= mig.breakpoint_rows for ss in mig.info_sets
    )
    for i, u in enumerate(tl.units):
        go = tl.go_live[i]
        if not np.isfinite(go) or go >= cal.horizon_minutes:
            continue
        g = cal.day_index(go)
        setting = s.site_kinds[u.kind].setting

        per_row = mean_minutes(role_spec(sc, u.kind, "manual_migration_time"))
        _spread(
            manual_rows * per_row,
            _days(g, cal.n_days, -mig.manual_days_before_go_live, 0),
            working,
            out[c_mig, i],
        )
        if machine:
            _spread(
                mig.validation_hours_per_site * 60.0,
                _days(g, cal.n_days, -7, 0),
                working,
                out[c_val, i],
            )
        if not mig.pal_migrated and setting == "primary":
            per_record = mean_minutes(role_spec(sc, u.kind, "relabel_time"))
            span = _days(g, cal.n_days, 0, mig.relabel_days_after_go_live)
            _spread(u.records * per_record, span, working, out[c_rel, i])
        per_number = mean_minutes(role_spec(sc, u.kind, "reserve_number_time"))
        span = _days(g, cal.n_days, 0, mig.reserve_number_days_after_go_live)
        _spread(mig.reserve_numbers_per_site * per_number, span, working, out[c_res, i])
    return out
