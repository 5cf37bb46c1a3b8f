"""Learning to order labs in Millennium: the second learning step, paid per order.

Ordering labs is new at a unit's lab-ordering (ROS) switch even when the unit has documented
in Millennium for weeks. The published figure is for order entry: about a minute per order,
twice as long in the first week (``shared/evidence.md`` section 4). So this step makes each
lab order placed in Millennium cost its order-entry time (input role ``order_entry_time``,
the mean of its distribution, per site kind) times the excess of the multiplier,
``(ros_initial_multiplier - 1) x exp(-s / tau)``, where ``s`` is the time on the unit's
learning clock since its ROS switch (:func:`sim.model.staff.orders_in_millennium`). The
order entry itself is paid in either system and is not counted; only the learning excess is.

The minutes are scheduled workload of the day the order is placed, in the ``order_entry``
category (served right after dual work: an order is entered during the visit, it does not
wait), so they crowd out signing in the very sessions where the go-live's own curve slows it.
The shorter the window, the more the two steps overlap.
"""

from __future__ import annotations

import numpy as np

from sim.model.demand import Orders, mean_minutes, role_spec
from sim.model.ledger import WORKLOAD
from sim.model.staff import UnitState, orders_in_millennium
from sim.model.workload import add_per_order
from sim.sampling.calendar import Calendar
from sim.scenario.loading import LoadedScenario
from sim.schedule.timeline import Timeline


def ordering_excess_minutes(
    sc: LoadedScenario, cal: Calendar, tl: Timeline, o: Orders, legacy: np.ndarray,
    state: UnitState,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per order placed in Millennium inside the horizon: its index and its learning excess in
    minutes (orders with no excess left out)."""
    base = np.array([mean_minutes(role_spec(sc, u.kind, "order_entry_time")) for u in tl.units])
    window = (0.0, cal.horizon_minutes)
    return orders_in_millennium(o.time, o.unit, legacy, window, state.ordering_curve(base))


def add_order_entry_learning(
    sc: LoadedScenario,
    cal: Calendar,
    tl: Timeline,
    o: Orders,
    legacy: np.ndarray,
    state: UnitState,
    workload: np.ndarray,
) -> None:
    """Add each unit's and day's order-entry learning minutes to ``workload`` (category, unit,
    day), in place."""
    idx, minutes = ordering_excess_minutes(sc, cal, tl, o, legacy, state)
    row = workload[WORKLOAD.index("order_entry")]
    add_per_order(row, cal, o.unit[idx], o.time[idx], minutes)
