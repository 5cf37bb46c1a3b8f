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
# # 2 weeks, 3 weeks or 4 weeks of dual signing?
#
# All three windows run the same replications with common random numbers, so each difference
# is paired replication by replication. A 3-week middle is not declared in the scenario: it is
# a variant made of one override.

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
variants = (
    sim.Variant("window-2w", "window-2w"),
    sim.Variant("window-3w", None, ("policies.coexistence_window_days=21",)),
    sim.Variant("window-4w", "window-4w"),
)
plan = sim.Plan(str(SCENARIO), variants, REPLICATIONS, root_seed=SEED, overrides=OVERRIDES)
with sim.executor_for("process", WORKERS) as pool:
    folder = sim.run_experiment(plan, OUT, pool)

# %% [markdown]
# ## Paired differences against the 2-week window

# %%
import pandas as pd

comparison = sim.compare_run(folder.path, baseline="window-2w")
rows = []
for k in comparison.kpis:
    for d in k.differences:
        rows.append(
            {
                "kpi": k.kpi,
                "variant": d.variant,
                "paired mean": d.paired.mean,
                "paired 95% CI": (round(d.paired.low, 1), round(d.paired.high, 1)),
                "unpaired 95% CI": (round(d.unpaired.low, 1), round(d.unpaired.high, 1)),
            }
        )
pd.DataFrame(rows)

# %%
for k in comparison.kpis:
    if k.sentence:
        print(k.sentence)

# %%
sim.charts.differences_chart(folder.path, baseline="window-2w")

# %% [markdown]
# ## How likely is each window to exceed the thresholds?

# %%
sim.charts.exceedance_chart(folder.path)

# %% [markdown]
# ## What the manager's report would say

# %%
from sim.report import summary_text

text = summary_text(sim.results.frame(folder.path), sim.results.manifest(folder.path))
print(text)
report = sim.write_report(folder.path)
report
