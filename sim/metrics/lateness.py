"""When a result is late: its safety action against its site kind's threshold and clock.

A result is acted on at the earliest of its signing and its safety action (a phone call that
reached someone, an on-call review: :mod:`sim.model.safety`); unsigned and unacted results
count to the horizon's end. ``late_threshold_hours`` of abnormal results runs on the kind's
``late_clock``:

* ``calendar``: elapsed time. Right for kinds that work every day (hospital units), whose
  signers are there whatever the day.
* ``working_days``: only the days the kind holds sessions count, 24 hours each, so 72 hours
  are three working days, and a Thursday-to-Tuesday Easter closure stops the clock. Right
  for kinds that close (health centres): primary-care result handling is measured in working
  days (``shared/evidence.md`` section 4: "primary care median 1 working day" to
  acknowledge), and a closure's results are covered by on-call (:mod:`sim.model.oncall`),
  not by the result waiting.

``critical_threshold_hours`` always runs on the calendar: a critical result must be acted on
within hours whatever the day, which is what the lab's phone call is for.
"""

from __future__ import annotations

import numpy as np

from sim.sampling.calendar import Calendar


class WorkingClock:
    """Minutes of working days elapsed since the horizon's start, and back.

    ``forward(t)`` counts only minutes of working days before ``t`` (times past the horizon
    count as its end); ``back(w)`` is the earliest time with ``forward(t) == w`` that lies in
    a working day (``inf`` past the horizon).
    """

    def __init__(self, cal: Calendar):
        self._start = np.asarray(cal.day_start, dtype=float)
        self._work = np.asarray(cal.working_day_mask, dtype=bool)
        length = np.diff(self._start)
        self._before = np.r_[0.0, np.cumsum(np.where(self._work, length, 0.0))]
        self._n = len(self._work)

    def forward(self, t: np.ndarray) -> np.ndarray:
        t = np.minimum(np.asarray(t, dtype=float), self._start[-1])
        d = np.clip(np.searchsorted(self._start, t, side="right") - 1, 0, self._n - 1)
        into = np.where(self._work[d], t - self._start[d], 0.0)
        return self._before[d] + into

    def back(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=float)
        d = np.searchsorted(self._before, w, side="right") - 1
        inside = d < self._n
        dd = np.minimum(d, self._n - 1)
        return np.where(inside, self._start[dd] + (w - self._before[dd]), np.inf)


def effective_times(
    cal: Calendar,
    working_unit: np.ndarray,
    unit: np.ndarray,
    abnormal: np.ndarray,
    critical: np.ndarray,
    ready: np.ndarray,
    acted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, WorkingClock | None, np.ndarray]:
    """Ready and acted-on times on each result's clock (``acted``: nan is never, left as it
    is but for results on the working-day clock, where it is the horizon's end), and the
    indices of the results on the working-day clock (abnormal, not critical, of a
    ``working_unit``: only abnormal results can be late). ``unit`` never decreases (results
    are stored unit after unit). Pass the times as calendar times to the late test."""
    bounds = np.searchsorted(unit, np.arange(len(working_unit) + 1))
    runs = [np.arange(bounds[u], bounds[u + 1]) for u in np.flatnonzero(working_unit)]
    if not runs:
        return ready, acted, None, np.empty(0, dtype=np.int64)
    on_work = np.concatenate(runs)
    on_work = on_work[abnormal[on_work] & ~critical[on_work]]
    clock = WorkingClock(cal)
    ready, acted = ready.copy(), acted.copy()
    ready[on_work] = clock.forward(ready[on_work])
    done = acted[on_work]
    acted[on_work] = clock.forward(np.where(np.isnan(done), cal.horizon_minutes, done))
    return ready, acted, clock, on_work
