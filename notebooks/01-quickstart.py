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
# # Quick start: one scenario, a few replications, the KPIs and a fan chart
#
# The default scenario is the 2020 plan for Västra Götalandsregionen's move to Millennium
# (`scenarios/fvm-2020.yaml`). Here we load it, look at its schedule, run a few replications of
# the 4-week window and read what came out. Everything goes through the public API of `sim`
# (`docs/api.md`).

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

# %% [markdown]
# ## The scenario and its variants

# %%
sc = sim.load_scenario(SCENARIO, "window-4w", OVERRIDES)
print(sc.model.title)
sim.list_variants(SCENARIO)

# %%
from sim.schedule.table import timeline_frame

columns = ["site", "count", "lab", "ehr_go_live", "ros_switch", "coexistence_days"]
timeline_frame(sc)[columns].head(12)

# %%
sim.charts.schedule_chart(sc)

# %% [markdown]
# ## Run replications
#
# Each replication draws its own demand, turnaround and handling times; the run folder keeps
# the KPIs of each replication, daily region totals and site-weeks. Blocks run on local
# processes; `--workers` on the command line does the same.

# %%
plan = sim.Plan(
    str(SCENARIO),
    (sim.Variant("window-4w", "window-4w"),),
    REPLICATIONS,
    root_seed=SEED,
    overrides=OVERRIDES,
)
with sim.executor_for("process", WORKERS) as pool:
    folder = sim.run_experiment(plan, OUT, pool)
folder.path

# %% [markdown]
# ## The KPIs, one row per replication (DuckDB relation, then pandas)

# %%
kpis = sim.results.open(folder.path)
kpis.df()

# %%
kpis.aggregate(
    "avg(late_abnormal) AS mean_late, max(late_abnormal) AS worst, "
    "avg(extra_staff_hours) AS mean_extra_hours"
).df()

# %%
for name, kpi in sim.KPIS.items():
    print(f"{name:30s} {kpi.unit:12s} {kpi.definition}")

# %% [markdown]
# ## Unsigned results over time

# %%
sim.charts.fan_chart(folder.path)
