"""On-call cover over long closures: who answers for a health centre on Easter Sunday.

A kind whose units work only on working days is closed over weekends and holidays. Over a
*long* closure (one that contains a public holiday and lasts at least
``on_call.min_closed_days`` days, so longer than an ordinary weekend), a duty doctor answers
for the unit on every closed day: the lab's calls for critical results reach them
(:mod:`sim.model.phone`), and at each ``review_at`` time they review the abnormal results
still unsigned in the unit's inboxes. A review is a safety action (the result is no longer
waiting unseen); the result still needs signing by its own clinician when the unit reopens.
Review minutes are booked to the unit as ``on_call`` staff time.

Everything here is computed after the run, vectorized: the duty doctor does not change what
the unit's signers do, only when a result was first acted on.
"""

from __future__ import annotations

import numpy as np

from sim.sampling.calendar import Calendar
from sim.scenario.schema import SiteKind


def duty_days(cal: Calendar, kind: SiteKind) -> np.ndarray:
    """Per horizon day: a duty doctor answers for units of ``kind`` (bool)."""
    duty = np.zeros(cal.n_days, dtype=bool)
    if kind.on_call is None or kind.session_days == "all":
        return duty
    closed = ~np.asarray(cal.working_day_mask)
    holiday = np.asarray(cal.holiday_mask)
    # Runs of consecutive closed days: [start, end) pairs.
    edges = np.diff(np.r_[0, closed.astype(np.int8), 0])
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if b - a >= kind.on_call.min_closed_days and holiday[a:b].any():
            duty[a:b] = True
    return duty


def duty_windows(cal: Calendar, kind: SiteKind) -> np.ndarray:
    """(k, 2) start and end minutes of the days a duty doctor answers for ``kind``."""
    days = np.flatnonzero(duty_days(cal, kind))
    return np.column_stack([cal.day_start[days], cal.day_start[days + 1]]).astype(float)


def review_times(cal: Calendar, kind: SiteKind) -> np.ndarray:
    """Sorted minutes of the duty doctor's review rounds for units of ``kind``."""
    days = np.flatnonzero(duty_days(cal, kind))
    if kind.on_call is None or not days.size:
        return np.empty(0)
    at = [int(c[:2]) * 60 + int(c[3:]) for c in kind.on_call.review_at]
    times = cal.local_minutes(np.repeat(days, len(at)), np.tile(at, len(days)))
    return np.sort(times)


def reviews(
    reviews_at: np.ndarray, ready: np.ndarray, acted: np.ndarray, horizon: float
) -> np.ndarray:
    """Per result of one kind's units: the first review round at or after it reached the
    inbox, if that comes before it was otherwise acted on (``acted``, nan: never) and inside
    the horizon; else nan. ``ready`` may be ``inf`` (never reached an inbox)."""
    out = np.full(len(ready), np.nan)
    if not reviews_at.size:
        return out
    i = np.searchsorted(reviews_at, ready, side="left")
    ok = i < len(reviews_at)
    r = np.where(ok, reviews_at[np.minimum(i, len(reviews_at) - 1)], np.inf)
    first = (r < np.where(np.isnan(acted), np.inf, acted)) & (r < horizon)
    out[first] = r[first]
    return out
