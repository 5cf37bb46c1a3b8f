"""The shared go-live support pool: super users, floor walkers and the service desk.

Every unit asks for at-the-elbow support in the ``staffing.support_days`` after its go-live
and after its lab-ordering (ROS) switch: ``super_users_per_10_staff`` supporters per 10 of its
signers, every day of those periods (once, when the two overlap). An area fields at most
``areas[].support_per_day`` supporters a day (``null``: as many as asked for); when its units
ask for more, the day's capacity is shared in proportion to what each asked for, so every
unit of the area gets the same share of its demand. Units that go live together, or go live
near their lab's switch (when every unit of the lab switches ROS), therefore get less help
each: this is the short window's support cost.

What a unit gets (supporters per 10 signers) speeds up its learning curves and the decay of
its legacy lookups in :class:`sim.model.staff.UnitState`; what it asked for and did not get is
the ``support_unmet`` column of the unit-day table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.sampling.calendar import Calendar
from sim.scenario.loading import LoadedScenario
from sim.schedule.timeline import Timeline


@dataclass(frozen=True)
class Support:
    """Per unit (rows) and horizon day (columns): supporters asked for and the share given."""

    demand: np.ndarray  # supporters the unit asked for that day
    share_met: np.ndarray  # share of its demand its area could give (1 with no demand)
    per_10: float  # the planned ratio: supporters asked for per 10 signers

    @property
    def received_per_10(self) -> np.ndarray:
        """Supporters a unit got per 10 signers: what the learning curves respond to."""
        return np.where(self.demand > 0, self.per_10 * self.share_met, 0.0)

    @property
    def unmet(self) -> np.ndarray:
        """Supporter-days asked for and not given."""
        return self.demand * (1.0 - self.share_met)


def support_periods(tl: Timeline, cal: Calendar, days: float) -> np.ndarray:
    """(units, days) True on the ``days`` calendar days from a unit's go-live day and from its
    ROS switch day (those inside the horizon)."""
    out = np.zeros((len(tl.units), cal.n_days), dtype=bool)
    length = round(days)
    for switches in (tl.go_live, tl.ros_switch):
        for u, t in enumerate(switches):
            if np.isfinite(t) and 0 <= t < cal.horizon_minutes:
                first = cal.day_index(t)
                out[u, first : first + length] = True
    return out


def allocate(sc: LoadedScenario, cal: Calendar, tl: Timeline) -> Support:
    """Each day, share each area's capacity among its units in proportion to their demand."""
    st = sc.model.staffing
    per_10 = float(st.super_users_per_10_staff)
    signers = np.array([u.signers for u in tl.units], dtype=float)
    demand = support_periods(tl, cal, st.support_days) * (signers * per_10 / 10.0)[:, None]
    share = np.ones_like(demand)
    area_of = np.array([u.area for u in tl.units])
    for area in sc.model.areas:
        if area.support_per_day is None:
            continue
        members = area_of == area.id
        total = demand[members].sum(axis=0)
        given = np.where(total > area.support_per_day, area.support_per_day / np.where(
            total > 0, total, 1.0), 1.0)  # fmt: skip
        share[members] = given
    return Support(demand, share, per_10)
