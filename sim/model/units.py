"""Variation between units: each unit's order volume drawn once per replication.

A site whose ``orders_per_day`` names a library distribution describes a spread of units (the
distribution's note says what varies: health centres differ in list size, hospital units in
beds). Each of its units draws its own volume from that distribution once per replication,
from a stream keyed by the unit (``volume/<unit id>``), never by the variant, so every variant
of a replication sees the same units (common random numbers). Sites that give a number keep it.

Staffing follows the volume: a unit drawn with k times the distribution's mean has k times its
site's signers, rounded to whole signers (at least one), as units are staffed to their list
size or beds. No source gives a separate spread of signers per unit, so what varies between
units' utilisation is the rounding and the day-to-day noise of demand, not a drawn mismatch
between volume and staff (which would leave some units permanently overloaded).
"""

from __future__ import annotations

import dataclasses

from sim.sampling.streams import Streams
from sim.scenario.loading import LoadedScenario
from sim.schedule.timeline import Timeline


def vary_units(sc: LoadedScenario, tl: Timeline, streams: Streams) -> Timeline:
    """The timeline with each unit's ``orders_per_day`` drawn from its site's distribution
    and its signers scaled with it (``u.orders_per_day`` is the distribution's mean here)."""
    named = {s.id: s.orders_per_day for s in sc.model.sites if isinstance(s.orders_per_day, str)}
    if not named:
        return tl
    units = []
    for u in tl.units:
        if u.group in named:
            rng = streams.rng(f"volume/{u.id}")
            spec = sc.library[named[u.group]]
            volume = max(float(spec.sample(rng, 1)[0]), 0.0)
            signers = max(1, round(u.signers * volume / u.orders_per_day))
            u = dataclasses.replace(u, orders_per_day=volume, signers=signers)
        units.append(u)
    return dataclasses.replace(tl, units=units)
