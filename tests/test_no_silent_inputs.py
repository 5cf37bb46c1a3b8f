"""No silent inputs: every number a scenario may set changes the run (or is rejected).

The test walks every numeric field of ``tiny.yaml`` as loaded (defaults included), changes it
through the same ``--set`` path a planner would use, runs one replication and checks that some
table of the run changed. A field may need a context to matter at all (the reroute queue's
capacity matters only under the ``reroute`` policy); such contexts are listed with their reason,
and so are the few fields that by design do not act on a run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import BaseModel

import sim
from sim.metrics.signals import signals
from sim.metrics.tables import tabulate
from sim.model.replication import run_replication
from sim.scenario.errors import ScenarioError

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios/tiny.yaml"

# Fields that act on something other than one replication's tables, with the reason.
NOT_RUN_INPUTS = {
    "seed": "the root seed: runs differ by construction (tested in tests/test_streams.py)",
    "kpi_thresholds": "thresholds act on comparisons (tests/test_experiment.py)",
    "stage": "a label that groups sites in reports",
    "variants": "patches applied before loading: their fields are walked where they land",
    "sweep": "patches applied before loading: their fields are walked where they land",
}
# Fields that matter only in a context, which is applied to both runs compared.
CONTEXT = {
    "policies.lock.reroute_capacity_per_day": ["policies.lock.mode=reroute"],
    "policies.lock.reroute_minutes_per_result": ["policies.lock.mode=reroute"],
    "labs[lab].manual_matching_share": ["labs[lab].lid_continuity=false"],
    # The lab phones critical results at once and an out-of-hours doctor takes the calls, so
    # the critical threshold matters where nobody phones them.
    "site_kinds.hospital_unit.critical_threshold_hours": ["policies.critical_calls=null"],
    "site_kinds.health_centre.critical_threshold_hours": ["policies.critical_calls=null"],
    # Calls reach someone whenever they are made: their delay matters where they can fail.
    "policies.critical_calls.delay_minutes": [
        "site_kinds.health_centre.on_call.phone_after_hours=false"
    ],
}
# Optional numbers that tiny leaves unset, with values to try.
UNSET = {
    "staffing.cover_after_days": [1, 2],
    "site_kinds.health_centre.cover_after_days": [0, 5],
    "site_kinds.health_centre.learning_time_constant_days": [3.0, 90.0],
    "site_kinds.hospital_unit.learning_time_constant_days": [3.0, 90.0],
    "areas[south].support_per_day": [0.0, 0.3],  # null: every unit gets its planned ratio
}


def _numbers(obj: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(dotted --set path, value) of every number, and of every list or tuple of numbers."""
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from _numbers(getattr(obj, name), f"{path}.{name}" if path else name)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _numbers(value, f"{path}.{key}")
    elif isinstance(obj, list | tuple) and obj and all(_is_number(x) for x in obj):
        yield path, list(obj)
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            ident = getattr(item, "id", None)
            yield from _numbers(item, f"{path}[{ident if ident is not None else i}]")
    elif _is_number(obj):
        yield path, obj


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _candidates(value: Any) -> list[Any]:
    """Changed values to try, strong enough to matter in a small scenario."""
    if isinstance(value, list):
        out = []
        for i, x in enumerate(value):
            for new in (x + 1, x * 3 + 1):
                changed = list(value)
                changed[i] = type(x)(new)
                out.append(changed)
        return out
    if isinstance(value, int):
        return [value + 1, value * 2 + 2, max(0, value - 1), value // 10]
    return [value * 0.1, value * 5 + 1, 1.0, 0.0, 0.5]


def _fingerprint(sc: sim.LoadedScenario) -> list[pd.DataFrame]:
    """The replication's tables, and the command-centre signals and stop rule read from
    them (where the ``stop_rule`` levels act)."""
    rep = run_replication(sc, 0, 5)
    t = tabulate(rep)
    watch = signals(rep, t.site_days)
    return [t.site_days, t.lab_days, t.locks, pd.DataFrame([t.kpis]), *watch.values()]


def _same(a: list[pd.DataFrame], b: list[pd.DataFrame]) -> bool:
    return all(x.shape == y.shape and x.equals(y) for x, y in zip(a, b, strict=True))


def _kind_in_use(path: str, sc: sim.LoadedScenario) -> bool:
    if not path.startswith("site_kinds."):
        return True
    return path.split(".")[1] in {site.kind for site in sc.model.sites}


def _fields() -> list[tuple[str, Any]]:
    sc = sim.load_scenario(TINY)
    found = [
        (p, v)
        for p, v in _numbers(sc.model, "")
        if not any(p == k or p.startswith(k + ".") or p.endswith("." + k) for k in NOT_RUN_INPUTS)
        and _kind_in_use(p, sc)
    ]
    return found + [(p, None) for p in UNSET]


def _coupled(path: str, new: Any, sc: sim.LoadedScenario) -> list[str]:
    """Changes that keep a constraint across fields: category shares must add up to 1, so
    another category gives or takes the difference."""
    if not (path.startswith("test_categories[") and path.endswith("].share")):
        return []
    ident = path[len("test_categories[") : -len("].share")]
    cats = {c.id: c.share for c in sc.model.test_categories}
    other = next(c for c in cats if c != ident)
    return [f"test_categories[{other}].share={cats[other] - (new - cats[ident])}"]


@pytest.mark.slow
@pytest.mark.parametrize(("path", "value"), _fields(), ids=lambda x: str(x))
def test_every_numeric_input_changes_the_run(path, value):
    context = CONTEXT.get(path, [])
    base_sc = sim.load_scenario(TINY, overrides=context)
    base = _fingerprint(base_sc)
    tried = []
    for new in UNSET.get(path) or _candidates(value):
        if new == value:
            continue
        text = f"[{', '.join(map(str, new))}]" if isinstance(new, list) else str(new)
        changes = [*context, f"{path}={text}", *_coupled(path, new, base_sc)]
        try:
            changed = sim.load_scenario(TINY, overrides=changes)
        except ScenarioError:
            continue  # outside the field's bounds or an illegal schedule: rejected, not silent
        tried.append(text)
        if not _same(base, _fingerprint(changed)):
            return
    if tried:
        pytest.fail(f"{path}: no table changed for any of {tried} (context {context})")


def test_the_walk_finds_the_inputs_it_must():
    paths = {p for p, _ in _fields()}
    for expected in (
        "policies.overtime_cap_hours_per_week",
        "staffing.absence_share",
        "labs[lab].capacity_per_hour",
        "site_kinds.health_centre.weekday_profile",
        "sites[ward].signers",
        "test_categories[chemistry].due_hours",
    ):
        assert expected in paths, expected
