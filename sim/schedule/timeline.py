"""The systems timeline: for every unit and instant, which system it documents and orders in.

A site group declared with ``count`` becomes that many units, each with its own signers and
inboxes. For each unit the timeline holds, in simulation minutes:

* ``go_live``: from then on it documents in Millennium (its *home* system),
* ``ros_switch``: from then on it orders labs in Millennium; before, in its legacy client,
* ``lock``: its legacy client turns read-only (``inf`` if never); results of legacy orders
  that arrive later are handled by the lock policy,
* ``rb_start``/``rb_end``: a rollback interval in which it is back on its legacy systems.

Pause events move go-lives, order switches and lab switches that fall inside the pause to its
end (or beyond the horizon). Everything here is fixed before the simulation starts; the model
asks it vectorized questions such as "was this order placed in the legacy client?".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from sim.sampling.calendar import Calendar
from sim.scenario.loading import LoadedScenario

NEVER = np.inf


@dataclass(frozen=True)
class Unit:
    """One unit (health centre, hospital department, ...) of a declared site group."""

    id: str
    group: str
    kind: str
    area: str
    lab: str
    signers: int
    orders_per_day: float
    staff: int
    records: int
    legacy_client: str


@dataclass
class Timeline:
    """Per-unit switch times in simulation minutes, as arrays aligned with ``units``."""

    units: list[Unit]
    go_live: np.ndarray
    ros_switch: np.ndarray
    lock: np.ndarray
    rb_start: np.ndarray
    rb_end: np.ndarray
    lab_ids: list[str]
    lab_switch: np.ndarray  # per lab
    unit_lab: np.ndarray  # lab index per unit

    def home_new(self, unit: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        """True where the unit documents in Millennium at time ``t``."""
        return (t >= self.go_live[unit]) & ~self._rolled_back(unit, t)

    def client_new(self, unit: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        """True where the unit orders labs in Millennium at time ``t``."""
        return (t >= self.ros_switch[unit]) & ~self._rolled_back(unit, t)

    def _rolled_back(self, unit: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        return (t >= self.rb_start[unit]) & (t < self.rb_end[unit])


def expand_units(sc: LoadedScenario) -> list[Unit]:
    """One :class:`Unit` per counted member of each site group, in declaration order."""
    s = sc.model
    units = []
    for site in s.sites:
        if isinstance(site.orders_per_day, str):
            volume = float(sc.library[site.orders_per_day].mean)
        else:
            volume = float(site.orders_per_day)
        signers = site.signers + s.staffing.extra_signers.get(site.kind, 0)
        for i in range(site.count):
            uid = site.id if site.count == 1 else f"{site.id}/{i + 1:02d}"
            units.append(
                Unit(
                    uid,
                    site.id,
                    site.kind,
                    site.area,
                    site.lab,
                    max(1, signers),
                    volume,
                    site.staff,
                    site.records,
                    site.legacy_client,
                )
            )
    return units


def _paused(day: dt.date, pauses: list[tuple[dt.date, dt.date | None]]) -> dt.date | None:
    """The date a switch on ``day`` moves to because of a pause (None: beyond the horizon)."""
    for start, until in pauses:
        if start <= day and (until is None or day <= until):
            return None if until is None else until + dt.timedelta(days=1)
    return day


def build_timeline(sc: LoadedScenario, cal: Calendar) -> Timeline:
    """Resolve the schedule, pauses, rollbacks and locks into per-unit minute arrays."""
    s = sc.model
    units = expand_units(sc)
    systems = {sy.id: sy for sy in s.systems}
    all_live = max(d.go_live for d in sc.site_dates.values())

    def minutes(day: dt.date | None) -> float:
        return NEVER if day is None else cal.to_minutes(day)

    def pauses_for(group: str, area: str) -> list[tuple[dt.date, dt.date | None]]:
        return [
            (ev.date, ev.until)
            for ev in s.events
            if ev.type == "pause" and (group in ev.sites or area in ev.areas)
        ]

    lab_ids = [lab.id for lab in s.labs]
    lab_area = {lab.id: lab.area for lab in s.labs}
    lab_switch = np.array(
        [minutes(_paused(sc.lab_dates[lab], pauses_for("", lab_area[lab]))) for lab in lab_ids]
    )
    n = len(units)
    go, ros, lock = np.empty(n), np.empty(n), np.empty(n)
    rb_start, rb_end = np.full(n, NEVER), np.full(n, NEVER)
    for i, u in enumerate(units):
        d = sc.site_dates[u.group]
        pauses = pauses_for(u.group, u.area)
        go_day, ros_day = _paused(d.go_live, pauses), _paused(d.ros_switch, pauses)
        go[i], ros[i] = minutes(go_day), minutes(ros_day)
        rule = systems[u.legacy_client].locks
        lock_day = {"per_site": ros_day, "when_all_live": all_live, "never": None}[rule]
        for ev in s.events:
            everyone = not ev.sites and not ev.areas
            hits = everyone or u.group in ev.sites or u.area in ev.areas
            if ev.type == "legacy_lock" and ev.system == u.legacy_client and hits:
                lock_day = ev.date
        lock[i] = minutes(lock_day)
        for ev in s.events:
            if ev.type == "rollback" and (u.group in ev.sites or u.area in ev.areas):
                rb_start[i] = minutes(ev.date)
                rb_end[i] = minutes(ev.until) if ev.until else NEVER
    unit_lab = np.array([lab_ids.index(u.lab) for u in units], dtype=np.int32)
    return Timeline(units, go, ros, lock, rb_start, rb_end, lab_ids, lab_switch, unit_lab)
