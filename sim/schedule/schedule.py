"""The schedule: every site's switch dates with all events applied, built once per scenario.

A scenario's *planned* dates (:class:`sim.scenario.loading.SiteDates`, date rules already
evaluated) are what the planner wrote. What actually happens also depends on its events, and
every reader must see the same answer, so they are applied here and nowhere else:

* **pause** (sites or areas, ``date..until``): a go-live, order/result (ROS) switch or LIS
  switch that falls inside the pause moves to the day after it ends (beyond the horizon if it
  has no end). A lab follows the pauses of its area.
* **legacy lock**: a legacy system locks by its own rule (``per_site``: at the site's own
  switch away from it; ``when_all_live``: when the last site has gone live; ``never``), unless a
  ``legacy_lock`` event names a date for it (the last such event wins).
* **rollback** (sites or areas, ``date..until``): the site is back on its legacy record and
  client. A rollback cancels every lock of the site that has not fully happened by its start
  (a lock has happened once its lock policy's deadline has passed: the legacy inbox is closed);
  a cancelled lock comes back only if the scenario says when, with a ``legacy_lock`` event on
  or after the rollback's start.

A site is **in coexistence** on a day when it documents in Millennium but orders labs in its
legacy client and is not rolled back (:meth:`SiteSchedule.in_coexistence`). The model takes
the per-unit minute arrays from :meth:`Schedule.timeline`; ``cutover timeline``, the checks,
the tables and the charts read the dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sim import extensions
from sim.sampling.calendar import Calendar
from sim.scenario.loading import LoadedScenario
from sim.schedule.timeline import NEVER, Timeline, expand_units

Pause = tuple[dt.date, dt.date | None]


@dataclass(frozen=True)
class SiteSchedule:
    """One declared site's dates after events; ``None`` means never (or beyond any horizon)."""

    site: str
    planned_go_live: dt.date
    planned_ros_switch: dt.date
    go_live: dt.date | None
    ros_switch: dt.date | None
    lab_switch: dt.date | None
    record_lock: dt.date | None
    client_lock: dt.date | None
    client_closed: dt.date | None  # the lock policy's deadline (whole days): inbox gone
    rollback: dt.date | None
    rollback_end: dt.date | None  # None with a rollback: it lasts to the end of time
    events: tuple[str, ...]

    def rolled_back(self, day: dt.date) -> bool:
        """True on days the site is back on its legacy systems."""
        if self.rollback is None or day < self.rollback:
            return False
        return self.rollback_end is None or day < self.rollback_end

    def in_coexistence(self, day: dt.date) -> bool:
        """The one definition: documents in Millennium, orders labs in its legacy client."""
        live = self.go_live is not None and day >= self.go_live
        ordering_new = self.ros_switch is not None and day >= self.ros_switch
        return live and not ordering_new and not self.rolled_back(day)

    def coexistence_days(self, end: dt.date) -> int:
        """Days up to ``end`` (inclusive) spent in coexistence."""
        if self.go_live is None or self.go_live > end:
            return 0
        last = end if self.ros_switch is None else min(end, self.ros_switch - _DAY)
        days = (last - self.go_live).days + 1
        if days <= 0:
            return 0
        if self.rollback is not None:
            rb_last = end if self.rollback_end is None else self.rollback_end - _DAY
            overlap = (min(last, rb_last) - max(self.go_live, self.rollback)).days + 1
            days -= max(0, overlap)
        return days


_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Schedule:
    """Every site's and lab's dates after events, for one scenario and variant."""

    scenario: LoadedScenario
    sites: dict[str, SiteSchedule]
    labs: dict[str, dt.date | None]

    @cached_property
    def end(self) -> dt.date:
        return self.scenario.model.horizon.end

    def timeline(self, cal: Calendar) -> Timeline:
        """Per-unit switch times in simulation minutes, for the model."""
        units = expand_units(self.scenario)

        def minutes(day: dt.date | None) -> float:
            return NEVER if day is None else cal.to_minutes(day)

        def column(field: str) -> np.ndarray:
            return np.array([minutes(getattr(self.sites[u.group], field)) for u in units])

        lab_ids = list(self.labs)
        return Timeline(
            units=units,
            go_live=column("go_live"),
            ros_switch=column("ros_switch"),
            lock=(lock := column("client_lock")),
            closed=lock + lock_deadline_days(self.scenario) * 1440.0,
            rb_start=column("rollback"),
            rb_end=column("rollback_end"),  # never without a rollback, or without an end
            lab_ids=lab_ids,
            lab_switch=np.array([minutes(self.labs[lab]) for lab in lab_ids]),
            unit_lab=np.array([lab_ids.index(u.lab) for u in units], dtype=np.int32),
        )


def lock_deadline_days(sc: LoadedScenario) -> float:
    """Days after a lock until the lock policy closes the legacy inbox."""
    policy = extensions.lock_policy_of(sc.model.policies.lock)
    return policy.leftovers(policy.params_of(sc.model.policies.lock))[0]


def _everywhere_lock(ev, site) -> bool:
    """A region-wide ``legacy_lock`` event of one of the site's legacy systems."""
    region_wide = ev.type == "legacy_lock" and not ev.sites and not ev.areas
    return region_wide and ev.system in (site.legacy_client, site.legacy_record)


def _moved(day: dt.date, pauses: list[Pause]) -> dt.date | None:
    """The date a switch planned on ``day`` happens on after pauses (None: never)."""
    for start, until in pauses:
        if start <= day and (until is None or day <= until):
            return None if until is None else until + _DAY
    return day


def build_schedule(sc: LoadedScenario) -> Schedule:
    """Apply the scenario's events to its planned dates (see the module docstring)."""
    s = sc.model
    systems = {sy.id: sy for sy in s.systems}
    lab_area = {lab.id: lab.area for lab in s.labs}

    def hits(ev, site) -> bool:
        return site.id in ev.sites or site.area in ev.areas

    def pauses(site_id: str, area: str) -> list[Pause]:
        return [
            (ev.date, ev.until)
            for ev in s.events
            if ev.type == "pause" and (site_id in ev.sites or area in ev.areas)
        ]

    labs = {lab: _moved(sc.lab_dates[lab], pauses("", lab_area[lab])) for lab in sc.lab_dates}
    moved = {}
    for site in s.sites:
        planned = sc.site_dates[site.id]
        p = pauses(site.id, site.area)
        moved[site.id] = (_moved(planned.go_live, p), _moved(planned.ros_switch, p))
    go_lives = [go for go, _ in moved.values()]
    all_live = None if None in go_lives else max(go_lives)
    deadline_days = lock_deadline_days(sc)

    def lock_of(site, system: str, own: dt.date | None, rollback: dt.date | None):
        rule = systems[system].locks
        lock = {"per_site": own, "when_all_live": all_live, "never": None}[rule]
        explicit = [
            ev.date
            for ev in s.events
            if ev.type == "legacy_lock"
            and ev.system == system
            and ((not ev.sites and not ev.areas) or hits(ev, site))
        ]
        if explicit:
            lock = explicit[-1]
        if rollback is not None and lock is not None and (rollback - lock).days < deadline_days:
            later = [d for d in explicit if d >= rollback]
            lock = later[-1] if later else None
        return lock

    sites = {}
    for site in s.sites:
        planned = sc.site_dates[site.id]
        go, ros = moved[site.id]
        rollbacks = [ev for ev in s.events if ev.type == "rollback" and hits(ev, site)]
        rb = rollbacks[-1] if rollbacks else None
        rb_start = rb.date if rb else None
        client_lock = lock_of(site, site.legacy_client, ros, rb_start)
        sites[site.id] = SiteSchedule(
            site=site.id,
            planned_go_live=planned.go_live,
            planned_ros_switch=planned.ros_switch,
            go_live=go,
            ros_switch=ros,
            lab_switch=labs[site.lab],
            record_lock=lock_of(site, site.legacy_record, go, rb_start),
            client_lock=client_lock,
            client_closed=None
            if client_lock is None
            else client_lock + dt.timedelta(days=round(deadline_days)),
            rollback=rb_start,
            rollback_end=rb.until if rb else None,
            events=tuple(
                f"{ev.type} {ev.date}" + (f"..{ev.until}" if ev.until else "")
                for ev in s.events
                if hits(ev, site) or _everywhere_lock(ev, site)
            ),
        )
    return Schedule(sc, sites, labs)
