"""The schedule in the model's terms: per unit, switch times in simulation minutes.

A site group declared with ``count`` becomes that many units, each with its own signers and
inboxes. For each unit the timeline holds, in simulation minutes (``inf``: never):

* ``go_live``: from then on it documents in Millennium (its *home* system),
* ``ros_switch``: from then on it orders labs in Millennium; before, in its legacy client,
* ``lock``: its legacy client turns read-only; results of legacy orders that arrive later
  are handled by the lock policy, and ``closed`` is the policy's deadline, when what is left
  in the legacy inbox leaves it,
* ``rb_start``/``rb_end``: a rollback interval in which it is back on its legacy systems.

The dates come from :mod:`sim.schedule.schedule`, which applies the events; this module only
holds them as arrays, so the model can ask vectorized questions such as "was this order placed
in the legacy client?".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    records: int
    legacy_client: str


@dataclass
class Timeline:
    """Per-unit switch times in simulation minutes, as arrays aligned with ``units``."""

    units: list[Unit]
    go_live: np.ndarray
    ros_switch: np.ndarray
    lock: np.ndarray
    closed: np.ndarray
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

    def in_coexistence(self, unit: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        """True where the unit documents in Millennium but orders labs in its legacy client."""
        return self.home_new(unit, t) & ~self.client_new(unit, t)

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
                    site.records,
                    site.legacy_client,
                )
            )
    return units
