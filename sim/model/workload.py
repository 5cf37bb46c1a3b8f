"""Scheduled workload that competes with signing: migration, validation, relabelling, ...

Before go-live, information sets under the row breakpoint (and sets never machine-migrated)
are migrated by hand, and sampling validation of the machine migration takes local staff
time. After go-live, responsible-doctor (PAL) relabelling, when PAL is not migrated, and new
reserve numbers take time. Each becomes minutes per unit and day, using the mean of its
distribution; the signer pool takes them from the same sessions as signing.

Validation, relabelling and reserve numbers are spread evenly over the working days of their
periods. Manual migration is *planned backwards* from go-live (:func:`plan_backwards`): the
last working day before go-live is filled up to the unit's expected capacity for scheduled
work (its signers, present at ``1 - absence_share``, times its session minutes, times
``max_workload_share``, times the training factor, less that day's validation), then the day
before, and so on back to ``manual_days_before_go_live``. What does not fit in that window is
*spill-over*: it lands on the go-live day, is worked after go-live at the workload share, and
is reported (KPI ``migration_spillover_hours``) instead of being silently spread over months.

Paper orders from the cutover downtime are entered afterwards (:func:`add_back_entry`), and
registered workload streams add their minutes (:func:`add_extension_workload`).
:func:`signer_workload` hands each signer its share of its unit's minutes, day by day.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sim import extensions
from sim.model.demand import Orders, draw_for, mean_minutes, role_spec
from sim.model.ledger import WORKLOAD
from sim.sampling.calendar import Calendar
from sim.sampling.streams import Streams
from sim.scenario.loading import LoadedScenario
from sim.schedule.timeline import Timeline


def _spread(total: float, days: np.ndarray, working: np.ndarray, out: np.ndarray) -> None:
    chosen = days[working[days]] if days.size else days
    if total > 0 and chosen.size:
        out[chosen] += total / chosen.size


def _days(go_day: int, n_days: int, a: float, b: float) -> np.ndarray:
    """Horizon days from ``a`` to ``b`` days after the go-live day (clipped)."""
    return np.arange(max(0, go_day + round(a)), min(n_days, go_day + round(b)))


def plan_backwards(total: float, days: np.ndarray, capacity: np.ndarray, out: np.ndarray) -> float:
    """Place ``total`` minutes on ``days`` (ascending), latest first, each day up to its
    ``capacity`` (minutes, aligned with ``days``); returns the minutes that did not fit."""
    left = total
    for d, cap in zip(days[::-1], capacity[::-1], strict=True):
        if left <= 0:
            break
        take = min(left, max(cap, 0.0))
        out[d] += take
        left -= take
    return max(left, 0.0)


def _capacity(sc: LoadedScenario, cal: Calendar, unit, go: float, days: np.ndarray) -> np.ndarray:
    """Expected minutes of scheduled work a unit can do on each of ``days``."""
    s = sc.model
    kind, st = s.site_kinds[unit.kind], s.staffing
    session = sum(x.minutes for x in kind.sessions)
    open_day = np.asarray(cal.working_day_mask)[days] if kind.session_days == "working" else 1.0
    train_from = go - st.training_weeks * 7 * 1440.0
    train = max(0.0, 1.0 - st.training_hours / (st.training_weeks * 40.0))
    factor = np.where(np.asarray(cal.day_start)[days] + 720.0 >= train_from, train, 1.0)
    present = unit.signers * (1.0 - st.absence_share)
    return open_day * present * session * s.policies.max_workload_share * factor


def daily_workload(sc: LoadedScenario, cal: Calendar, tl: Timeline) -> tuple[np.ndarray, float]:
    """Minutes of scheduled workload, shape (categories, units, days), and the manual
    migration minutes that did not fit before go-live (spill-over, on the go-live day)."""
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
    spill = 0.0
    for i, u in enumerate(tl.units):
        go = tl.go_live[i]
        if not np.isfinite(go) or go >= cal.horizon_minutes:
            continue
        g = cal.day_index(go)
        setting = s.site_kinds[u.kind].setting
        if machine:
            _spread(
                mig.validation_hours_per_site * 60.0,
                _days(g, cal.n_days, -7, 0),
                working,
                out[c_val, i],
            )
        per_row = mean_minutes(role_spec(sc, u.kind, "manual_migration_time"))
        window = _days(g, cal.n_days, -mig.manual_days_before_go_live, 0)
        room = _capacity(sc, cal, u, go, window) - out[c_val, i, window]
        left = plan_backwards(manual_rows * per_row, window, room, out[c_mig, i])
        out[c_mig, i, g] += left
        spill += left
        if not mig.pal_migrated and setting == "primary":
            per_record = mean_minutes(role_spec(sc, u.kind, "relabel_time"))
            span = _days(g, cal.n_days, 0, mig.relabel_days_after_go_live)
            _spread(u.records * per_record, span, working, out[c_rel, i])
        per_number = mean_minutes(role_spec(sc, u.kind, "reserve_number_time"))
        span = _days(g, cal.n_days, 0, mig.reserve_number_days_after_go_live)
        _spread(mig.reserve_numbers_per_site * per_number, span, working, out[c_res, i])
    return out, float(spill)


def add_extension_workload(
    sc: LoadedScenario, cal: Calendar, tl: Timeline, workload: np.ndarray
) -> None:
    """Minutes of the scenario's registered workload streams (:mod:`sim.extensions`)."""
    ctx = extensions.WorkloadContext(sc, cal, tl)
    row = workload[WORKLOAD.index("extension")]
    for ref in sc.model.workload_streams:
        stream = extensions.WORKLOAD_STREAMS[ref.stream]
        minutes = np.asarray(stream.minutes(stream.params(**ref.params), ctx), dtype=float)
        if minutes.shape != row.shape or not (np.isfinite(minutes) & (minutes >= 0)).all():
            raise ValueError(
                f"workload stream {ref.stream!r} must return finite minutes >= 0 of shape "
                f"(units, days) = {row.shape}, not {minutes.shape}"
            )
        row += minutes


def add_back_entry(
    sc: LoadedScenario,
    cal: Calendar,
    tl: Timeline,
    o: Orders,
    workload: np.ndarray,
    streams: Streams,
) -> None:
    """Paper orders from the cutover downtime are entered afterwards, on the go-live day."""
    if not o.paper.any():
        return
    minutes = draw_for(sc, tl, streams, o, "back_entry_time", o.paper)
    add_per_order(workload[WORKLOAD.index("back_entry")], cal, o.unit[o.paper], o.time[o.paper],
                  minutes)  # fmt: skip


def add_per_order(
    row: np.ndarray, cal: Calendar, units: np.ndarray, times: np.ndarray, minutes: np.ndarray
) -> None:
    """Add each order's ``minutes`` to ``row`` (unit, day), in place, at its unit and the day
    of its time. ``np.bincount`` adds in the orders' order, as ``np.add.at`` would, in a
    fraction of its time."""
    cell = units.astype(np.int64) * row.shape[1] + cal.day_indices(times)
    row += np.bincount(cell, weights=minutes, minlength=row.size).reshape(row.shape)


def signer_workload(
    workload: np.ndarray, signer_unit: np.ndarray, days: np.ndarray
) -> Iterator[np.ndarray]:
    """The workload minutes (category, signer) that each of ``days`` (the days a pool works,
    ascending) adds: a signer's share of its unit's minutes of the days since the last one.

    Spans of the same length are summed for all of them and all units in one call: a sum over
    the last axis, when it is contiguous, adds in the same order whatever the leading axes.
    """
    units, unit_of = np.unique(signer_unit, return_inverse=True)
    signers = np.bincount(unit_of)
    first = np.r_[0, days[:-1] + 1]
    length = days + 1 - first
    per_unit = np.empty((len(days), workload.shape[0], len(units)))
    own = workload[:, units]
    for n in np.unique(length):
        chosen = np.flatnonzero(length == n)
        span = first[chosen, None] + np.arange(n)
        minutes = np.ascontiguousarray(own[:, :, span])  # (category, unit, day, span)
        per_unit[chosen] = np.moveaxis(minutes.sum(axis=3) / signers[:, None], 2, 0)
    for minutes in per_unit:
        yield minutes[:, unit_of]
