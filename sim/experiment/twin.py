"""The no-cutover twin: the same region, staff and random numbers, with no cutover at all.

Almost everything a replication counts (late abnormal results over holidays, absent signers,
routine chase work) would happen without any cutover. The planner's question is what the
cutover *adds*, so every replication also runs once with no go-live, order/result switch, LIS
switch, legacy lock, pause, rollback or migration inside the horizon, and every KPI is reported
as the variant's value minus this twin's (``excess_<kpi>``, :mod:`sim.metrics.excess`).

The twin is a scenario transform, not a model switch: every site's and lab's switch dates move
past the horizon's end by more than anything the model starts ahead of a go-live (training,
manual migration, the planned volume reduction, the five weeks the attribution counts as
"touched"), and every schedule event is dropped. Units, staffing, volumes and inputs are
untouched, and random streams are keyed by unit and name, never by date (:mod:`sim.sampling
.streams`), so the twin sees the very demand, handling times and absences of every variant
that has the same units and staffing.

One twin per replication serves every variant: the twin of the *base* scenario (the file as
written, with the run's ``--set`` overrides, before any variant's patch). A variant that changes
something besides the schedule (extra signers, volumes, thresholds of a policy) is thereby
measured against the organisation as it is today without a cutover: its excess includes the
effect of its own change on ordinary days too. That is the planner's counterfactual ("do we
cut over like this, or not at all, with the staff we have?"), it keeps the difference of two
variants' excesses equal to their paired difference, and it costs one twin per replication,
not one per variant.
"""

from __future__ import annotations

import datetime as dt
import math

from sim.scenario.loading import LoadedScenario, from_model

TWIN = "no-cutover"  # the twin's variant name in every table of a run folder

#: Days after the horizon's end beyond any lead time, so that the year-long margin also covers
#: anything a later mechanism starts ahead of a go-live.
MARGIN_DAYS = 366


def twin_date(sc: LoadedScenario) -> dt.date:
    """A switch date far enough past the horizon that nothing tied to it starts inside."""
    s = sc.model
    lead_days = max(
        s.staffing.training_weeks * 7,
        s.migration.manual_days_before_go_live,
        s.policies.volume_reduction.days_before,
        7 * 5,  # the attribution's "touched" span before a go-live
    )
    return s.horizon.end + dt.timedelta(days=math.ceil(lead_days) + MARGIN_DAYS)


def no_cutover(sc: LoadedScenario) -> LoadedScenario:
    """``sc`` with every go-live, order switch and LIS switch past the horizon and no schedule
    events (locks, pauses, rollbacks): the same units, staffing and inputs, no cutover."""
    model = sc.model
    far = twin_date(sc)
    sites = [site.model_copy(update={"go_live": far, "ros_switch": far}) for site in model.sites]
    labs = [lab.model_copy(update={"lis_switch": far}) for lab in model.labs]
    changed = model.model_copy(update={"sites": sites, "labs": labs, "events": []})
    twin = from_model(changed, sc)
    twin.variant = TWIN
    return twin
