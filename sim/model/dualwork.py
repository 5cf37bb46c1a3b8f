"""Dual work per item during coexistence: the long window's cost that grows with volume.

While a unit documents in Millennium but orders labs in its legacy client, two things cost
time on every item, on top of the login per session that opening the second inbox costs
(input role ``switch_cost``, booked by the session kernel):

* every lab order placed in the legacy client (paper orders from the go-live downtime too,
  as they are entered there) costs ``legacy_order_time``:
  switching to the legacy client and finding the patient again while the visit is
  documented in Millennium;
* every abnormal result that arrives in the legacy client's inbox while the unit documents in
  Millennium (not orphaned or rerouted on arrival) costs ``cross_documentation_time``: noting
  the result and its action in the Millennium record.

Both are minutes per unit and day (the mean of each role's distribution, per site kind) that
become the *first* category of scheduled workload (:data:`sim.model.ledger.WORKLOAD`), booked
to the ``dual_system`` activity. Why workload rather than longer handling times: the minutes
then land in the ledger's ``dual_system`` row and are taken from the same sessions as signing
(so they crowd it out), and, served first, they fit well inside the session's workload share
(a health centre's few minutes per signer and day against 15), so they clear every day; only
if the share is exhausted do they wait, and then count as unfinished workload.
"""

from __future__ import annotations

import numba
import numpy as np

from sim.model.demand import Orders, mean_minutes, role_spec
from sim.model.kernels.switches import in_new_system
from sim.model.ledger import WORKLOAD
from sim.model.workload import add_per_order
from sim.sampling.calendar import Calendar
from sim.scenario.loading import LoadedScenario
from sim.schedule.timeline import Timeline


def dual_items(
    tl: Timeline, cal: Calendar, o: Orders, legacy: np.ndarray, ready: np.ndarray,
    arrives: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Which orders pay the legacy-ordering cost and which results the cross-documentation
    cost: placed in (or arriving to) the legacy client inside the horizon while the unit
    documents in Millennium. ``arrives``: the result reaches the legacy inbox."""
    return _dual_masks(
        o.unit, o.time, ready, o.abnormal, legacy, arrives, tl.go_live, tl.rb_start, tl.rb_end,
        cal.horizon_minutes,
    )  # fmt: skip


@numba.njit(cache=True)
def _dual_masks(
    unit, time, ready, abnormal, legacy, arrives, go_live, rb_start, rb_end, horizon
):  # pragma: no cover - compiled
    """:func:`dual_items` in one pass over the orders (numpy took a dozen temporaries as long
    as the region's orders)."""
    n = len(unit)
    ordered = np.zeros(n, dtype=np.bool_)
    noted = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if not legacy[i]:
            continue
        u = unit[i]
        t = time[i]
        if 0 <= t < horizon and in_new_system(t, u, go_live, rb_start, rb_end):
            ordered[i] = True
        r = ready[i]
        if abnormal[i] and arrives[i] and 0 <= r < horizon:
            noted[i] = in_new_system(r, u, go_live, rb_start, rb_end)
    return ordered, noted


def add_dual_work(
    sc: LoadedScenario,
    cal: Calendar,
    tl: Timeline,
    o: Orders,
    legacy: np.ndarray,
    ready: np.ndarray,
    arrives: np.ndarray,
    workload: np.ndarray,
) -> None:
    """Add the dual work of each unit and day to ``workload`` (category, unit, day), in place."""
    row = workload[WORKLOAD.index("dual_system")]
    ordered, noted = dual_items(tl, cal, o, legacy, ready, arrives)
    for role, mask, times in (
        ("legacy_order_time", ordered, o.time),
        ("cross_documentation_time", noted, ready),
    ):
        per_unit = np.array([mean_minutes(role_spec(sc, u.kind, role)) for u in tl.units])
        units = o.unit[mask]
        add_per_order(row, cal, units, times[mask], per_unit[units])
