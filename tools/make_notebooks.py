"""Write the analyst notebooks in notebooks/ (without outputs) from the cells below.

The notebooks are generated so that they stay small, reviewable and free of outputs; edit
the cells here, run ``python tools/make_notebooks.py``, then ``ruff format notebooks`` (the
committed notebooks are formatted like the code). ``tests/test_notebooks.py``
executes every notebook with a small replication count.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent

PARAMS = """# Parameters: CI sets CUTOVER_REPLICATIONS and CUTOVER_QUICK (first stage only).
import os
from pathlib import Path

import sim

REPLICATIONS = int(os.environ.get("CUTOVER_REPLICATIONS", "8"))
QUICK = os.environ.get("CUTOVER_QUICK") == "1"
WORKERS = int(os.environ.get("CUTOVER_WORKERS", str(os.cpu_count() or 1)))
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
OUT = Path(os.environ.get("CUTOVER_OUT", ROOT / "results"))
SCENARIO = ROOT / "scenarios" / "fvm-2020.yaml"
OVERRIDES = ("horizon.end=2022-05-31",) if QUICK else ()  # stage 1 only, for a quick look
SEED = 2020"""

NOTEBOOKS = {
    "01-quickstart": [
        (
            "md",
            """# Quick start: one scenario, a few replications, the KPIs and a fan chart

The default scenario is the 2020 plan for Västra Götalandsregionen's move to Millennium
(`scenarios/fvm-2020.yaml`). Here we load it, look at its schedule, run a few replications of
the 4-week window and read what came out. Everything goes through the public API of `sim`
(`docs/api.md`).""",
        ),
        ("code", PARAMS),
        ("md", "## The scenario and its variants"),
        (
            "code",
            """sc = sim.load_scenario(SCENARIO, "window-4w", OVERRIDES)
print(sc.model.title)
sim.list_variants(SCENARIO)""",
        ),
        (
            "code",
            """from sim.schedule.table import timeline_frame

columns = ["site", "count", "lab", "ehr_go_live", "ros_switch", "coexistence_days"]
timeline_frame(sc)[columns].head(12)""",
        ),
        ("code", "sim.charts.schedule_chart(sc)"),
        (
            "md",
            """## Run replications

Each replication draws its own demand, turnaround and handling times; the run folder keeps
the KPIs of each replication, daily region totals and site-weeks. Blocks run on local
processes; `--workers` on the command line does the same.""",
        ),
        (
            "code",
            """plan = sim.Plan(
    str(SCENARIO),
    (sim.Variant("window-4w", "window-4w"),),
    REPLICATIONS,
    root_seed=SEED,
    overrides=OVERRIDES,
)
with sim.executor_for("process", WORKERS) as pool:
    folder = sim.run_experiment(plan, OUT, pool)
folder.path""",
        ),
        ("md", "## The KPIs, one row per replication (DuckDB relation, then pandas)"),
        (
            "code",
            """kpis = sim.results.open(folder.path)
kpis.df()""",
        ),
        (
            "code",
            """kpis.aggregate("avg(late_abnormal) AS mean_late, max(late_abnormal) AS worst, "
               "avg(extra_staff_hours) AS mean_extra_hours").df()""",
        ),
        (
            "code",
            """for name, kpi in sim.KPIS.items():
    print(f"{name:30s} {kpi.unit:12s} {kpi.definition}")""",
        ),
        ("md", "## Unsigned results over time"),
        ("code", "sim.charts.fan_chart(folder.path)"),
    ],
    "02-compare-windows": [
        (
            "md",
            """# 2 weeks, 3 weeks or 4 weeks of dual signing?

All three windows run the same replications with common random numbers, so each difference
is paired replication by replication. A 3-week middle is not declared in the scenario: it is
a variant made of one override.""",
        ),
        ("code", PARAMS),
        (
            "code",
            """variants = (
    sim.Variant("window-2w", "window-2w"),
    sim.Variant("window-3w", None, ("policies.coexistence_window_days=21",)),
    sim.Variant("window-4w", "window-4w"),
)
plan = sim.Plan(str(SCENARIO), variants, REPLICATIONS, root_seed=SEED, overrides=OVERRIDES)
with sim.executor_for("process", WORKERS) as pool:
    folder = sim.run_experiment(plan, OUT, pool)""",
        ),
        ("md", "## Paired differences against the 2-week window"),
        (
            "code",
            """import pandas as pd

comparison = sim.compare_run(folder.path, baseline="window-2w")
rows = []
for k in comparison.kpis:
    for d in k.differences:
        rows.append({"kpi": k.kpi, "variant": d.variant, "paired mean": d.paired.mean,
                     "paired 95% CI": (round(d.paired.low, 1), round(d.paired.high, 1)),
                     "unpaired 95% CI": (round(d.unpaired.low, 1), round(d.unpaired.high, 1))})
pd.DataFrame(rows)""",
        ),
        (
            "code",
            """for k in comparison.kpis:
    if k.sentence:
        print(k.sentence)""",
        ),
        ("code", 'sim.charts.differences_chart(folder.path, baseline="window-2w")'),
        ("md", "## How likely is each window to exceed the thresholds?"),
        ("code", "sim.charts.exceedance_chart(folder.path)"),
        ("md", "## What the manager's report would say"),
        (
            "code",
            """import re

from sim.report import summary_paragraph

text = summary_paragraph(sim.results.frame(folder.path), sim.results.manifest(folder.path))
print(re.sub("<[^>]+>", "", text))
report = sim.write_report(folder.path)
report""",
        ),
    ],
    "03-what-if-schedule": [
        (
            "md",
            """# What if we change the schedule?

Each what-if is a variant made of overrides, checked like a scenario file (a typo or a
schedule that breaks a rule is an error naming the field). All run against the same
replications as the plan as written.""",
        ),
        ("code", PARAMS),
        (
            "code",
            """WHAT_IF = {
    "plan": (),
    "move-sodra-pc-2": ("sites[sodra-pc-2].go_live=2022-03-15",),
    "merge-sodra-groups": ("sites[sodra-pc-2].go_live=go_live[sodra-pc-1]",),
    "delay-sas-lab-2w": ("labs[sas-lab].lis_switch=2022-04-19",),
    "more-super-users": ("staffing.super_users_per_10_staff=3",),
}
for changes in WHAT_IF.values():  # fail early, with the field named, before running
    sim.load_scenario(SCENARIO, "window-4w", (*OVERRIDES, *changes))
variants = tuple(sim.Variant(n, "window-4w", c) for n, c in WHAT_IF.items())""",
        ),
        (
            "code",
            """try:
    sim.load_scenario(SCENARIO, "window-4w", ("sites[sodra-pc-2].go_lvie=2022-03-15",))
except sim.ScenarioError as e:
    print(e)""",
        ),
        (
            "code",
            """plan = sim.Plan(
    str(SCENARIO), variants, REPLICATIONS, root_seed=SEED, overrides=OVERRIDES
)
with sim.executor_for("process", WORKERS) as pool:
    folder = sim.run_experiment(plan, OUT, pool)
comparison = sim.compare_run(folder.path, baseline="plan")""",
        ),
        (
            "code",
            """import pandas as pd

table = {}  # variant -> KPI -> paired difference against the plan, with its 95% CI
for k in comparison.kpis:
    for d in k.differences:
        e = d.paired
        table.setdefault(d.variant, {})[k.kpi] = f"{e.mean:+,.1f} [{e.low:+,.1f}, {e.high:+,.1f}]"
pd.DataFrame(table)""",
        ),
        ("code", 'sim.charts.differences_chart(folder.path, baseline="plan")'),
        ("code", 'sim.charts.schedule_chart(folder.path, variant="merge-sodra-groups")'),
        (
            "md",
            """The same what-ifs from Python objects instead of override strings: `with_changes`
gives a checked copy, and `sim.plan_for` runs the copies as variants.""",
        ),
        (
            "code",
            """base = sim.load_scenario(SCENARIO, "window-4w", OVERRIDES)
later = sim.with_changes(base, {"labs[sas-lab].lis_switch": "2022-04-19"})
print(base.site_dates["sodra-pc-1"])
print(later.site_dates["sodra-pc-1"])""",
        ),
    ],
    "04-extend-the-model": [
        (
            "md",
            """# Extend the model: a new workload stream, registered and used from a scenario

Go-live huddles: for the first working days after its go-live, each signer of a unit spends
some minutes a day in a huddle instead of in the inbox. We write it as a workload stream
(`docs/extending.md`), register it, use it from a scenario and compare.""",
        ),
        ("code", PARAMS),
        (
            "code",
            """import numpy as np
from pydantic import Field

from sim.extensions import Params, WorkloadContext, workload_stream


class Huddles(Params):
    minutes_per_signer: float = Field(15.0, gt=0)
    working_days: int = Field(10, ge=1)


@workload_stream("go_live_huddles", Huddles)
def go_live_huddles(p: Huddles, ctx: WorkloadContext) -> np.ndarray:
    \"\"\"Daily huddles on the first working days after a unit's go-live.\"\"\"
    cal, units = ctx.calendar, ctx.timeline.units
    out = np.zeros((len(units), cal.n_days))
    working = np.flatnonzero(cal.working_day_mask)
    for i, (unit, day) in enumerate(zip(units, ctx.go_live_days(), strict=True)):
        if day >= 0:
            days = working[working >= day][: p.working_days]
            out[i, days] = unit.signers * p.minutes_per_signer
    return out""",
        ),
        ("md", "A misspelt parameter is caught where it is written, like any scenario field:"),
        (
            "code",
            """base = sim.load_scenario(SCENARIO, "window-4w", OVERRIDES)
try:
    typo = "[{stream: go_live_huddles, params: {minutes_per_signr: 15}}]"
    sim.with_changes(base, [f"workload_streams={typo}"])
except sim.ScenarioError as e:
    print(e)""",
        ),
        (
            "code",
            """with_huddles = sim.with_changes(
    base, ["workload_streams=[{stream: go_live_huddles, params: {minutes_per_signer: 20}}]"]
)
scenarios = {"plan": base, "huddles": with_huddles}
plan = sim.plan_for(scenarios, REPLICATIONS, root_seed=SEED)
with sim.executor_for("process", WORKERS) as pool:  # forked workers see the registration
    folder = sim.run_experiment(plan, OUT, pool, scenarios=scenarios)""",
        ),
        (
            "code",
            """days = sim.results.frame(folder.path, "region_days")
days.groupby("variant")["extension_hours"].sum() / REPLICATIONS""",
        ),
        (
            "code",
            """for k in sim.compare_run(folder.path, baseline="plan").kpis:
    if k.sentence:
        print(k.sentence)""",
        ),
        ("code", "sim.charts.staff_hours_chart(folder.path)"),
    ],
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"
    }  # fmt: skip
    nb.metadata["language_info"] = {"name": "python"}
    for n, (kind, text) in enumerate(cells):
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell.id = f"{name}-{n:02d}"
        nb.cells.append(cell)
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        path = ROOT / "notebooks" / f"{name}.ipynb"
        nbformat.write(build(name, cells), path)
        print(path)


if __name__ == "__main__":
    main()
