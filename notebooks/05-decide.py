# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Deciding: how many replications, which inputs matter, which window is best
#
# Three questions a planner asks before committing to a cutover plan, answered on the small
# teaching scenario (`scenarios/tiny.yaml`: one lab, three sites) so that each takes seconds.
# The same calls work on `fvm-2020.yaml`; the command line has them too (`cutover run
# --precision`, `cutover sensitivity`, `cutover optimise`; see `docs/decide.md`).
#
# Every tool runs its design points with common random numbers: the same replications of one
# root seed, so two points differ only by what the tool changed.

# %%
# Parameters: CI sets CUTOVER_QUICK (smaller designs). The charts are matplotlib Figures
# drawn without pyplot, so the inline display is switched on here.
# %matplotlib inline
import os
from pathlib import Path

import pandas as pd

import sim

QUICK = os.environ.get("CUTOVER_QUICK") == "1"
WORKERS = int(os.environ.get("CUTOVER_WORKERS", str(os.cpu_count() or 1)))
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
OUT = Path(os.environ.get("CUTOVER_OUT", ROOT / "results"))
SCENARIO = ROOT / "scenarios" / "tiny.yaml"
SEED = 2020

# %% [markdown]
# ## 1. How many replications?
#
# Instead of guessing `-n`, ask for a precision: here the 95 % confidence interval of each
# window's late abnormal results within ±10 % of its mean. Replications are added block by
# block until the half-width is within the target and stays there for a few more
# (Hoad, Robinson & Davies 2010).

# %%
plan = sim.Plan(
    str(SCENARIO),
    (sim.Variant("window-2w", "window-2w"), sim.Variant("window-4w", "window-4w")),
    1,  # the rule chooses the count
    SEED,
)
target = sim.precision.Target(0.10, max_replications=60 if QUICK else 200)
with sim.executor_for("process", WORKERS) as pool:
    folder, precise = sim.precision.run_to_precision(plan, target, out=OUT, executor=pool)
print(precise.reason)
pd.DataFrame([vars(s) for s in precise.series])

# %% [markdown]
# `recommended` is the smallest count that met the target and kept it; the run holds that
# plus the look-ahead, rounded to whole blocks. The run folder's manifest records all of it.

# %% [markdown]
# ## 2. Which uncertain inputs drive the answer?
#
# Every input distribution documents a plausible `range:` for its parameters
# (`distributions/*.yaml`). A Morris screening moves them one at a time along random
# trajectories and ranks them by mu*, the mean absolute effect of moving an input across its
# range. The `dummy` input is read by nothing: it must come last, and anything tied with it
# has no detectable effect.

# %%
sc = sim.load_scenario(SCENARIO)
inputs = sim.sensitivity.inputs_for(sc, None, dummy=True)
with sim.executor_for("process", WORKERS) as pool:
    sens_folder, screening = sim.sensitivity.run_sensitivity(
        sc, inputs, "morris", 4 if QUICK else 10, root_seed=SEED, out=OUT, executor=pool
    )
pd.DataFrame(screening.indices)[["input", "mu_star", "mu_star_conf", "sigma"]].head(12)

# %%
sim.charts.sensitivity_chart(sens_folder.path)

# %% [markdown]
# ## 3. What is the shortest window that keeps the risk under my limit?
#
# Candidates: windows of 1 to 5 weeks. The limit: at most a 30 % chance that late abnormal
# results exceed 100. The optimiser first runs every window a little, decides feasibility with
# confidence intervals, and spends further replications only where they change the answer.

# %%
axes = [sim.optimise.parse_over("policies.coexistence_window_days=7..35:7")]
limit = sim.optimise.parse_constraint("P(late_abnormal > 100) <= 0.3")
settings = sim.optimise.Settings(n0=10, budget=100 if QUICK else 300)
with sim.executor_for("process", WORKERS) as pool:
    opt_folder, choice = sim.optimise.run_optimise(
        sc, axes, "policies.coexistence_window_days", limit, settings, SEED, OUT, pool
    )
print(choice.best.name if choice.best else "no window meets the limit", "-", choice.reason)
pd.DataFrame([vars(c) for c in choice.candidates]).drop(columns="values")

# %%
sim.charts.optimise_chart(opt_folder.path)

# %% [markdown]
# ## 4. A KPI against the swept value
#
# A sweep runs one variant per value; the sweep chart shows each key KPI against it with its
# 95 % band (the excess over the no-cutover twin, when the run has one).

# %%
values = [7, 14, 21, 28]
variants = tuple(
    sim.Variant(f"window={d}", None, (f"policies.coexistence_window_days={d}",)) for d in values
)
with sim.executor_for("process", WORKERS) as pool:
    sweep = sim.run_experiment(
        sim.Plan(str(SCENARIO), variants, 4 if QUICK else 20, SEED), OUT, pool
    )
sim.charts.sweep_chart(sweep.path)
