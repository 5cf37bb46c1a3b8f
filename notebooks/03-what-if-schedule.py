# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # What if we change the schedule?
#
# Each what-if is a variant made of overrides, checked like a scenario file (a typo or a
# schedule that breaks a rule is an error naming the field). All run against the same
# replications as the plan as written.

# %%
# Parameters: CI sets CUTOVER_REPLICATIONS and CUTOVER_QUICK (first stage only).
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
SEED = 2020

# %%
WHAT_IF = {
    "plan": (),
    "move-sodra-pc-2": ("sites[sodra-pc-2].go_live=2022-03-15",),
    "merge-sodra-groups": ("sites[sodra-pc-2].go_live=go_live[sodra-pc-1]",),
    "delay-sas-lab-2w": ("labs[sas-lab].lis_switch=2022-04-19",),
    "more-super-users": ("staffing.super_users_per_10_staff=3",),
}
for changes in WHAT_IF.values():  # fail early, with the field named, before running
    sim.load_scenario(SCENARIO, "window-4w", (*OVERRIDES, *changes))
variants = tuple(sim.Variant(n, "window-4w", c) for n, c in WHAT_IF.items())

# %%
try:
    sim.load_scenario(SCENARIO, "window-4w", ("sites[sodra-pc-2].go_lvie=2022-03-15",))
except sim.ScenarioError as e:
    print(e)

# %%
plan = sim.Plan(str(SCENARIO), variants, REPLICATIONS, root_seed=SEED, overrides=OVERRIDES)
with sim.executor_for("process", WORKERS) as pool:
    folder = sim.run_experiment(plan, OUT, pool)
comparison = sim.compare_run(folder.path, baseline="plan")

# %%
import pandas as pd

table = {}  # variant -> KPI -> paired difference against the plan, with its 95% CI
for k in comparison.kpis:
    for d in k.differences:
        e = d.paired
        table.setdefault(d.variant, {})[k.kpi] = f"{e.mean:+,.1f} [{e.low:+,.1f}, {e.high:+,.1f}]"
pd.DataFrame(table)

# %%
sim.charts.differences_chart(folder.path, baseline="plan")

# %%
sim.charts.schedule_chart(folder.path, variant="merge-sodra-groups")

# %% [markdown]
# The same what-ifs from Python objects instead of override strings: `with_changes`
# gives a checked copy, and `sim.plan_for` runs the copies as variants.

# %%
base = sim.load_scenario(SCENARIO, "window-4w", OVERRIDES)
later = sim.with_changes(base, {"labs[sas-lab].lis_switch": "2022-04-19"})
print(base.site_dates["sodra-pc-1"])
print(later.site_dates["sodra-pc-1"])
