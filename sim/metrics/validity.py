"""Face validity of the coexistence effect, calendar-matched, and its placebo.

The published effect (hybrid records: about twice the odds of an abnormal result not being
followed up, Casalino 2009) compares practices, not calendar weeks. Comparing a unit's
coexistence weeks with its own other weeks mixes in whatever else those weeks hold (Easter
falls in the 2022 and 2023 go-live weeks). So the comparison here is calendar-matched: the
same units in the same calendar weeks (each unit's would-be coexistence window, from its
go-live to its ROS switch in the real schedule), once in a run and once in its
no-cutover twin (:mod:`sim.experiment.twin`: the very twin a run compares its excess with),
with the same random numbers.

The *placebo* runs the same units and dates with lab ordering switched at go-live, so there
is no dual period (:func:`placebo_timeline`): its odds ratio is what the go-live itself, not
signing in two systems, does to those weeks.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sim.metrics.tables import late_flags
from sim.model.replication import Replication
from sim.schedule.timeline import Timeline


def placebo_timeline(tl: Timeline) -> Timeline:
    """The same units and dates with every unit ordering labs in Millennium from its go-live
    (a counterfactual no plan may have: it needs the lab to take Millennium orders before it
    switches LIS, which the schedule checks forbid)."""
    return dataclasses.replace(tl, ros_switch=tl.go_live.copy())


def windows(tl: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's coexistence window in the real schedule, [go-live, ROS switch) in minutes
    (empty where the unit has none)."""
    return tl.go_live, np.where(tl.ros_switch > tl.go_live, tl.ros_switch, tl.go_live)


def window_counts(rep: Replication, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """[late, on time] of the abnormal results ready inside their unit's window (and the
    horizon)."""
    late, _ = late_flags(rep)
    o, ready = rep.orders, rep.lab_ready
    inside = (
        o.abnormal
        & (ready >= start[o.unit])
        & (ready < end[o.unit])
        & (ready < rep.calendar.horizon_minutes)
    )
    n_late = int(np.count_nonzero(late & inside))
    return np.array([n_late, int(np.count_nonzero(inside)) - n_late], dtype=float)


def matched_counts(run: Replication, twin: Replication, tl: Timeline) -> np.ndarray:
    """[late, on time] in ``run``, then in ``twin``, within the windows of ``tl``."""
    start, end = windows(tl)
    return np.concatenate([window_counts(run, start, end), window_counts(twin, start, end)])


def odds_ratio(counts: np.ndarray) -> tuple[float, float, float]:
    """Odds ratio of a 2x2 table [a, b, c, d] (a/b over c/d) and its 95 % Wald interval."""
    a, b, c, d = (float(x) for x in counts)
    if min(a, b, c, d) <= 0:
        raise ValueError(f"an empty cell in the 2x2 table {counts.tolist()}: no odds ratio")
    log_or = np.log((a / b) / (c / d))
    half = 1.96 * np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return float(np.exp(log_or)), float(np.exp(log_or - half)), float(np.exp(log_or + half))
