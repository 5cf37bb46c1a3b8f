"""Acting on the stop rule: "what if we had paused (or rolled back) when the rule tripped?"

The stop rule (:mod:`sim.metrics.signals`) reads a finished replication, so acting on it
takes a second pass: run the replication, find the first day the rule trips, then run the
same replication again (the same random numbers) with a ``pause`` or ``rollback`` event for
the area where it tripped, from the next day on and without end, added to the scenario the
way a planner would add it (:func:`sim.scenario.loading.with_changes`). The schedule applies
the event as any other (:mod:`sim.schedule.schedule`). The ``stop_rule`` row keeps the trip
that made the region act, with ``acted`` naming the action; the other tables are those of the
second pass.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from sim.metrics.signals import signals
from sim.metrics.tables import Tables, tabulate
from sim.model.replication import Replication, run_replication
from sim.scenario.loading import LoadedScenario, with_changes


def with_stop_event(sc: LoadedScenario, action: str, day: dt.date, area: str) -> LoadedScenario:
    """``sc`` with a ``pause`` or ``rollback`` event for ``area`` from ``day``, without end,
    after its own events."""
    events = [e.model_dump(mode="json", exclude_none=True) for e in sc.model.events]
    note = "the stop rule tripped the day before (stop_rule.on_trip)"
    events.append({"type": action, "date": day.isoformat(), "areas": [area], "note": note})
    return with_changes(sc, [f"events={json.dumps(events)}"])


def run_acting_on_stop_rule(
    sc: LoadedScenario, replication: int, root_seed: int, per_result: bool = False
) -> tuple[Replication, Tables, dict[str, pd.DataFrame]]:
    """One replication with its tables and signals, acting on the stop rule if the scenario
    says so (``stop_rule.on_trip``)."""
    rep = run_replication(sc, replication, root_seed)
    tables = tabulate(rep, with_results=per_result)
    watch = signals(rep, tables.site_days)
    trip = watch["stop_rule"].iloc[0]
    action = sc.model.stop_rule.on_trip
    if action == "none" or not trip["tripped"]:
        watch["stop_rule"]["acted"] = "none"
        return rep, tables, watch
    day = pd.Timestamp(trip["first_date"]).date() + dt.timedelta(days=1)
    del rep, tables  # the first pass only decided when to act
    acted = with_stop_event(sc, action, day, str(trip["area"]))
    rep = run_replication(acted, replication, root_seed)
    tables = tabulate(rep, with_results=per_result)
    second = signals(rep, tables.site_days)
    second["stop_rule"] = watch["stop_rule"].assign(acted=action)
    return rep, tables, second
