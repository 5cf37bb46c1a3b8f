"""Critical results by phone: the lab calls the unit, so they do not wait in an inbox.

A lab phones each critical result to the ordering unit ``policies.critical_calls.delay_minutes``
after it is ready (CAP Q-Probes: median 4 minutes from result to call). The call reaches
someone if the unit is open then (a session day of its kind, inside its ``order_hours``), a
duty doctor answers for it over a long closure (:mod:`sim.model.oncall`), or its kind has an
out-of-hours doctor who takes the lab's calls whenever it is closed
(``on_call.phone_after_hours``, as the lab passes results to an out-of-hours service). A call
that reaches nobody is a *failed call*, counted on its own (KPI ``failed_critical_calls``); the
lab tries again when the unit next opens or its duty starts, and that call is the result's
safety action. A call that reaches someone costs the receiving clinician ``talk_minutes``
(ledger activity ``critical_calls``). Either way the result still has to be signed in its inbox.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.oncall import duty_windows
from sim.sampling.calendar import Calendar
from sim.scenario.schema import CriticalCalls, SiteKind


@dataclass
class Calls:
    """Per result: when a call reached someone (nan: no call, or none inside the horizon),
    and whether the first call reached nobody."""

    reached: np.ndarray
    failed: np.ndarray


def reachable_windows(cal: Calendar, kind: SiteKind) -> np.ndarray:
    """(k, 2) sorted, disjoint [start, end) minutes in which a call to a unit of ``kind``
    reaches someone: its opening hours, and its duty days (all the time, with an out-of-hours
    doctor)."""
    if kind.on_call is not None and kind.on_call.phone_after_hours:
        return np.array([[0.0, float(cal.horizon_minutes)]])
    h0, h1 = kind.order_hours
    opening = cal.session_windows([(f"{h0:02d}:00", (h1 - h0) * 60)], kind.session_days)
    windows = np.concatenate([opening, duty_windows(cal, kind)]) if len(opening) else opening
    if not len(windows):
        return np.empty((0, 2))
    windows = windows[np.argsort(windows[:, 0], kind="stable")]
    # Merge windows that touch or overlap (an always-open kind is one window).
    end = np.maximum.accumulate(windows[:, 1])
    new = np.r_[True, windows[1:, 0] > end[:-1]]
    starts = windows[new, 0]
    ends = np.maximum.reduceat(end, np.flatnonzero(new))
    return np.column_stack([starts, ends])


def place_calls(windows: np.ndarray, call: np.ndarray, horizon: float) -> Calls:
    """Calls made at ``call`` (nan: none) to a unit reachable in ``windows``: reached at
    once, or failed and reached at the start of the next window (nan past the horizon)."""
    reached = np.full(len(call), np.nan)
    failed = np.zeros(len(call), dtype=bool)
    made = np.isfinite(call) & (call < horizon)
    t = call[made]
    if windows.size:
        i = np.searchsorted(windows[:, 0], t, side="right") - 1
        inside = (i >= 0) & (t < windows[np.maximum(i, 0), 1])
        nxt = np.append(windows[:, 0], np.inf)[i + 1]
    else:
        inside = np.zeros(len(t), dtype=bool)
        nxt = np.full(len(t), np.inf)
    when = np.where(inside, t, nxt)
    reached[made] = np.where(when < horizon, when, np.nan)
    failed[made] = ~inside
    return Calls(reached, failed)


def critical_calls(
    cfg: CriticalCalls,
    windows: list[np.ndarray],
    unit_kind: np.ndarray,
    unit: np.ndarray,
    critical: np.ndarray,
    ready: np.ndarray,
    horizon: float,
) -> Calls:
    """The lab's calls for every result (``windows`` per kind index, ``unit_kind`` per unit)."""
    out = Calls(np.full(len(ready), np.nan), np.zeros(len(ready), dtype=bool))
    phoned = np.flatnonzero(critical & np.isfinite(ready))  # a few percent of the results
    call = ready[phoned] + cfg.delay_minutes
    kind_of = unit_kind[unit[phoned]]
    for k, w in enumerate(windows):
        mine = kind_of == k
        part = place_calls(w, call[mine], horizon)
        out.reached[phoned[mine]], out.failed[phoned[mine]] = part.reached, part.failed
    return out
