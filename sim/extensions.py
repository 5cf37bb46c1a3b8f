"""Extension points: new workload streams, lock policies and site kinds, picked up by name.

An analyst adds a mechanism without editing the engine: register it here (from a module, a
notebook cell, or a plugin package), then name it in a scenario file. Its parameters are a
pydantic model, so a scenario that misspells one gets the same ``file:line:col field`` error
as any built-in field, and a scenario that names an unregistered extension gets an error
listing the registered names.

* **Workload streams** take staff time from the same signing sessions as migration or
  relabelling: a function returns minutes per unit and day. Scenario::

      workload_streams:
        - stream: medication_reconciliation
          params: {minutes_per_patient: 8}

* **Lock policies** decide what becomes of results of legacy orders that arrive after the
  legacy client locked: kept in the legacy inbox (``OPEN``), sent to the central reroute
  queue (``REROUTE``) or unwatched (``ORPHAN``). Scenario:
  ``policies: {lock: {mode: <name>, params: {...}}}``.
* **Site kinds** registered here can be used by ``sites[].kind`` without being written in the
  scenario's ``site_kinds:``.

Registration is per process: an executor's worker processes import the module that registers
(``sim.ext.*`` for the shipped examples), so register from an importable module when running
experiments on several processes; :data:`PLUGIN_MODULES` lists modules that are imported
before a scenario is loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

OPEN, ORPHAN, REROUTE = 0, 1, 2  # fates of a late legacy result (see sim.model.locks)


class Params(BaseModel):
    """Base for extension parameters: unknown keys are errors, as in scenario files."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class WorkloadContext:
    """What a workload stream may read: the scenario, its calendar and its units."""

    scenario: Any  # sim.scenario.LoadedScenario
    calendar: Any  # sim.calendar.Calendar
    timeline: Any  # sim.systems.Timeline: units, go_live, ros_switch, lock (minutes)

    def go_live_days(self) -> np.ndarray:
        """Each unit's go-live as a horizon day index (-1: not within the horizon)."""
        tl, cal = self.timeline, self.calendar
        inside = np.isfinite(tl.go_live) & (tl.go_live < cal.horizon_minutes)
        days = np.full(len(tl.units), -1)
        days[inside] = cal.day_indices(np.maximum(tl.go_live[inside], 0))
        return days


@dataclass(frozen=True)
class LockContext:
    """Per late legacy result: its unit, when it is ready, and when its client locked."""

    unit: np.ndarray
    ready: np.ndarray  # minutes
    lock: np.ndarray  # minutes, the unit's lock
    timeline: Any


Problems = list[tuple[tuple, str]]  # (path within params, message)


@dataclass(frozen=True)
class WorkloadStream:
    name: str
    params: type[Params]
    minutes: Callable[[Any, WorkloadContext], np.ndarray]  # -> (units, days) minutes
    description: str
    check: Callable[[Any, Any], Problems] | None = None  # (params, Scenario) -> problems


@dataclass(frozen=True)
class LockPolicy:
    name: str
    params: type[Params]
    fate: Callable[[Any, LockContext], np.ndarray]  # -> int8 OPEN / ORPHAN / REROUTE
    leftovers: Callable[[Any], tuple[float, int]]  # -> (days after the lock, ORPHAN|REROUTE)
    description: str
    # Built-in policies read their parameters from the fields beside ``mode`` (policies.lock);
    # registered ones from ``policies.lock.params``.
    params_from: Callable[[Any], Params] | None = None

    @property
    def builtin(self) -> bool:
        return self.params_from is not None

    def params_of(self, lock: Any) -> Params:
        """This policy's parameters from a scenario's ``policies.lock``."""
        return self.params_from(lock) if self.params_from else self.params(**lock.params)


WORKLOAD_STREAMS: dict[str, WorkloadStream] = {}
# Checks of a whole loaded scenario (-> located diagnostics), run by every load after its
# dates are resolved; layers above the scenario (the schedule, the KPI registry) add theirs.
SCENARIO_CHECKS: dict[str, Callable[[Any], list]] = {}
LOCK_POLICIES: dict[str, LockPolicy] = {}
SITE_KINDS: dict[str, dict[str, Any]] = {}
# Built-ins register like any extension: the lock policies (sim.model.locks) and the
# scenario checks of the schedule and the KPI registry; then the shipped examples.
PLUGIN_MODULES: list[str] = [
    "sim.model.locks",
    "sim.schedule.checks",
    "sim.metrics.kpis",
    "sim.ext.medication_reconciliation",
    "sim.ext.lock_policies",
]


def workload_stream(
    name: str,
    params: type[Params],
    description: str = "",
    check: Callable[[Any, Any], Problems] | None = None,
):
    """Decorator: register ``fn(params, ctx) -> minutes[units, days]`` as a workload stream;
    ``check(params, scenario)`` may report problems that need the whole scenario."""

    def register(fn):
        text = description or (fn.__doc__ or "").strip()
        WORKLOAD_STREAMS[name] = WorkloadStream(name, params, fn, text, check)
        return fn

    return register


def lock_policy(
    name: str,
    params: type[Params],
    leftovers: Callable[[Any], tuple[float, int]],
    description: str = "",
    params_from: Callable[[Any], Params] | None = None,
):
    """Decorator: register ``fn(params, ctx) -> fates`` as a lock policy.

    ``fn`` decides, per result arriving after the lock, OPEN, ORPHAN or REROUTE;
    ``leftovers(params)`` says when (days after the lock) the results still unsigned in the
    legacy inbox leave it, and whether they are then ORPHAN or REROUTE. ``params_from`` is for
    the built-in policies only (see :class:`LockPolicy`).
    """
    known = LOCK_POLICIES.get(name)
    if known is not None and known.builtin:
        raise ValueError(f"{name!r} is a built-in lock policy")

    def register(fn):
        text = description or (fn.__doc__ or "").strip()
        LOCK_POLICIES[name] = LockPolicy(name, params, fn, leftovers, text, params_from)
        return fn

    return register


def scenario_check(fn: Callable[[Any], list]) -> Callable[[Any], list]:
    """Decorator: run ``fn(loaded_scenario) -> [Diagnostic]`` on every scenario loaded."""
    SCENARIO_CHECKS[f"{fn.__module__}.{fn.__qualname__}"] = fn
    return fn


def register_site_kind(name: str, definition: dict[str, Any]) -> None:
    """Register a site kind (the fields of ``site_kinds.<name>`` in a scenario)."""
    from sim.scenario.schema import SiteKind

    SiteKind.model_validate(definition)  # fail here, not in every scenario that uses it
    SITE_KINDS[name] = dict(definition)


def load_plugins() -> None:
    """Import the modules of :data:`PLUGIN_MODULES` (idempotent)."""
    for module in PLUGIN_MODULES:
        importlib.import_module(module)


def lock_modes() -> list[str]:
    load_plugins()
    return list(LOCK_POLICIES)


def lock_policy_of(lock: Any) -> LockPolicy:
    """The registered policy a scenario's ``policies.lock`` names (built-in or extension)."""
    load_plugins()
    return LOCK_POLICIES[lock.mode]
