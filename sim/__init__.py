"""cutover: discrete-event simulation of a staged record-system cutover.

The package answers one planning question: during the weeks when staff must sign and
watch lab results in two systems, how many abnormal results go late or unwatched, where,
when, and at what cost in staff hours.

The public API (``docs/api.md``) is reachable from here and imported on first use, so that
``import sim`` stays quick for the command line::

    import sim
    sc = sim.load_scenario("scenarios/fvm-2020.yaml", "window-4w")
    tables = sim.run_one(sc, replication=0, root_seed=1)
    folder = sim.run_experiment(sim.Plan(...), "results")
    sim.results.open(folder.path).df()
    sim.charts.fan_chart(folder.path)
    sim.write_report(folder.path)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> module that defines it.
_API = {
    "load_scenario": "sim.scenario.loading",
    "with_changes": "sim.scenario.loading",
    "from_model": "sim.scenario.loading",
    "ScenarioError": "sim.scenario.errors",
    "LoadedScenario": "sim.scenario.loading",
    "Scenario": "sim.scenario.schema",
    "list_variants": "sim.api",
    "run_one": "sim.api",
    "run_replication": "sim.model.replication",
    "tabulate": "sim.metrics.tables",
    "Plan": "sim.experiment.runs",
    "Variant": "sim.experiment.runs",
    "plan_for": "sim.experiment.runs",
    "run_experiment": "sim.experiment.runs",
    "executor_for": "sim.experiment.runs",
    "reopen_run": "sim.experiment.runs",
    "execute": "sim.experiment.runs",
    "compare_run": "sim.compare",
    "write_report": "sim.report",
    "KPIS": "sim.metrics.kpis",
}
# Public module name -> module.
_MODULES = {
    "results": "sim.results",
    "charts": "sim.charts",
    "extensions": "sim.extensions",
    "report": "sim.report",
    "compare": "sim.compare",
    "experiment": "sim.experiment.runs",
    "export": "sim.export",
    "labels": "sim.labels",
    "precision": "sim.decide.precision",
    "sensitivity": "sim.decide.sensitivity",
    "optimise": "sim.decide.optimise",
}

__all__ = [*_API, *_MODULES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
