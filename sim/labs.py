"""Labs: analytic capacity over time, the LIS switch, and when each result is ready.

A lab starts samples first come, first served at a capacity (samples per hour) that varies
over time: zero during the LIS switch downtime, then reduced by a productivity dip that
decays exponentially. With unit work per sample this is a single-server queue in "capacity
time" ``C(t) = integral of capacity``; the Lindley recursion for start times,
``S_k = max(C(A_k), S_{k-1} + 1)``, unrolls to a cumulative maximum,
``S_k = k + max_{j<=k} (C(A_j) - j)``, so a whole lab's year is one vectorized pass. The
result is ready when the analysis (the test category's turnaround) is done. Samples in flight
across the switch lose their lab ID when ``lid_continuity`` is off, and a share of them waits
for manual matching.
"""

from __future__ import annotations

import numpy as np

from sim.calendar import Calendar
from sim.demand import OrderInputs, Orders
from sim.scenario import LoadedScenario
from sim.sorting import argsort_nearly_sorted
from sim.systems import Timeline

_TINY = 1e-9  # capacity floor during downtime keeps C(t) strictly increasing


def capacity_curve(
    per_hour: float, switch: float, downtime_h: float, dip: float, tau_days: float, n_hours: int
) -> np.ndarray:
    """Capacity (samples/hour) of each simulated hour."""
    mid = (np.arange(n_hours) + 0.5) * 60.0
    cap = np.full(n_hours, per_hour)
    if np.isfinite(switch):
        end = switch + downtime_h * 60.0
        cap[(mid >= switch) & (mid < end)] = per_hour * _TINY
        after = mid >= end
        cap[after] *= 1.0 - dip * np.exp(-(mid[after] - end) / (tau_days * 1440.0))
    return np.maximum(cap, per_hour * _TINY)


def start_times(arrivals: np.ndarray, cap_per_hour: np.ndarray) -> np.ndarray:
    """FIFO start times of samples arriving at sorted ``arrivals`` (minutes)."""
    edges = np.arange(len(cap_per_hour) + 1) * 60.0
    cum = np.concatenate([[0.0], np.cumsum(cap_per_hour)])
    served = np.interp(arrivals, edges, cum)
    k = np.arange(len(arrivals), dtype=float)
    served -= k
    np.maximum.accumulate(served, out=served)
    served += k
    return np.interp(served, cum, edges, right=np.inf)


def result_times(
    sc: LoadedScenario, cal: Calendar, tl: Timeline, orders: Orders, inputs: OrderInputs
) -> tuple[np.ndarray, np.ndarray]:
    """Minute at which each order's result is ready in the lab (before any manual matching),
    and which samples lost their lab ID at a switch and wait to be matched by hand."""
    n_hours = int(np.ceil(cal.horizon_minutes / 60.0)) + 24 * 60  # room for the tail
    ready = np.empty(len(orders))
    manual = np.zeros(len(orders), dtype=bool)
    # Orders are stored unit after unit, so a lab's orders are its units' slices, in order:
    # the same indices as a scan of every order's lab, without a full-length pass per lab.
    bounds = np.searchsorted(orders.unit, np.arange(len(tl.units) + 1))
    for j, lab in enumerate(sc.model.labs):
        units = np.flatnonzero(tl.unit_lab == j)
        idx = np.concatenate(
            [np.arange(bounds[u], bounds[u + 1]) for u in units] or [np.empty(0, np.int64)]
        )
        if idx.size == 0:
            continue
        arrivals = orders.time[idx]
        order = argsort_nearly_sorted(arrivals)
        idx, arrivals = idx[order], arrivals[order]
        switch = tl.lab_switch[j]
        cap = capacity_curve(
            lab.capacity_per_hour,
            switch,
            lab.switch_downtime_hours,
            lab.productivity_dip,
            lab.dip_recovery_days,
            n_hours,
        )
        done = start_times(arrivals, cap)
        done += inputs.turnaround[idx]
        if not lab.lid_continuity and np.isfinite(switch):
            in_flight = (arrivals < switch) & (done >= switch)
            manual[idx] = in_flight & (inputs.match_u[idx] < lab.manual_matching_share)
        ready[idx] = done
    return ready, manual
