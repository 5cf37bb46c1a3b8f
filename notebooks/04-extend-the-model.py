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
# # Extend the model: a new workload stream, registered and used from a scenario
#
# Go-live huddles: for the first working days after its go-live, each signer of a unit spends
# some minutes a day in a huddle instead of in the inbox. We write it as a workload stream
# (`docs/extending.md`), register it, use it from a scenario and compare.

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
import numpy as np
from pydantic import Field

from sim.extensions import Params, WorkloadContext, workload_stream


class Huddles(Params):
    minutes_per_signer: float = Field(15.0, gt=0)
    working_days: int = Field(10, ge=1)


@workload_stream("go_live_huddles", Huddles)
def go_live_huddles(p: Huddles, ctx: WorkloadContext) -> np.ndarray:
    """Daily huddles on the first working days after a unit's go-live."""
    cal, units = ctx.calendar, ctx.timeline.units
    out = np.zeros((len(units), cal.n_days))
    working = np.flatnonzero(cal.working_day_mask)
    for i, (unit, day) in enumerate(zip(units, ctx.go_live_days(), strict=True)):
        if day >= 0:
            days = working[working >= day][: p.working_days]
            out[i, days] = unit.signers * p.minutes_per_signer
    return out


# %% [markdown]
# A misspelt parameter is caught where it is written, like any scenario field:

# %%
base = sim.load_scenario(SCENARIO, "window-4w", OVERRIDES)
try:
    typo = "[{stream: go_live_huddles, params: {minutes_per_signr: 15}}]"
    sim.with_changes(base, [f"workload_streams={typo}"])
except sim.ScenarioError as e:
    print(e)

# %%
with_huddles = sim.with_changes(
    base, ["workload_streams=[{stream: go_live_huddles, params: {minutes_per_signer: 20}}]"]
)
scenarios = {"plan": base, "huddles": with_huddles}
plan = sim.plan_for(scenarios, REPLICATIONS, root_seed=SEED)
with sim.executor_for("process", WORKERS) as pool:  # forked workers see the registration
    folder = sim.run_experiment(plan, OUT, pool, scenarios=scenarios)

# %% [markdown]
# How the stream's minutes meet other work: it is booked in the share of each session kept
# for scheduled work, so where migration already fills that share it displaces migration to
# later sessions instead of taking time from signing. Its hours and any KPI it moves:

# %%
share = base.model.policies.max_workload_share
print(sim.extensions.WORKLOAD_STREAMS["go_live_huddles"].booking(share))
days = sim.results.frame(folder.path, "region_days")
days.groupby("variant")["extension_hours"].sum() / REPLICATIONS

# %%
for k in sim.compare_run(folder.path, baseline="plan").kpis:
    if k.sentence:
        print(k.sentence)

# %%
sim.charts.staff_hours_chart(folder.path)
