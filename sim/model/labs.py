"""Labs: analytic capacity over time, the LIS switch, and when each result is ready.

A lab starts samples first come, first served at a capacity (samples per hour) that varies
over time: zero during the LIS switch downtime, then reduced by a productivity dip that
decays exponentially. With unit work per sample this is a single-server queue in "capacity
time" ``C(t) = integral of capacity``; the Lindley recursion for start times,
``S_k = max(C(A_k), S_{k-1} + 1)``, unrolls to a cumulative maximum,
``S_k = k + max_{j<=k} (C(A_j) - j)``, so a whole lab's year is one pass in arrival order. The
result is ready when the analysis (the test category's turnaround) is done. Samples in flight
across the switch lose their lab ID when ``lid_continuity`` is off, and a share of them waits
for manual matching.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from sim.model.demand import OrderInputs, Orders
from sim.model.kernels.sorting import argsort_in_cache, argsort_nearly_sorted
from sim.sampling.calendar import Calendar
from sim.scenario.loading import LoadedScenario
from sim.schedule.timeline import Timeline

_TINY = 1e-9  # capacity floor during downtime keeps C(t) strictly increasing


class LidLoss(NamedTuple):
    """Which samples of a lab wait for manual matching: in flight across its LIS switch when
    it loses lab IDs, and the share of them (by each order's uniform) matched by hand."""

    switch: float  # the switch minute (inf: none in the horizon)
    lose_ids: bool  # lab IDs are lost at the switch
    share: np.float32  # share of the samples in flight that wait
    match_u: np.ndarray  # per order, the uniform compared with ``share``


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


def result_times(
    sc: LoadedScenario, cal: Calendar, tl: Timeline, orders: Orders, inputs: OrderInputs
) -> tuple[np.ndarray, np.ndarray]:
    """Minute at which each order's result is ready in the lab (before any manual matching),
    and which samples lost their lab ID at a switch and wait to be matched by hand."""
    n_hours = int(np.ceil(cal.horizon_minutes / 60.0)) + 24 * 60  # room for the tail
    edges = np.arange(n_hours + 1) * 60.0
    ready = np.empty(len(orders))
    manual = np.zeros(len(orders), dtype=bool)
    # Orders are stored unit after unit and, within a unit, day after day: where each unit's
    # day starts (unit u, day d at u * n_days + d).
    first = np.concatenate(([0], np.cumsum(orders.placed_per_day)))
    for j, lab in enumerate(sc.model.labs):
        units = np.flatnonzero(tl.unit_lab == j)
        idx, arrivals, in_order = _arrival_order(orders.time, first, units, cal.n_days)
        if not in_order:  # some day's orders arrive before the previous day's are all in
            idx = np.concatenate(
                [np.arange(first[u * cal.n_days], first[(u + 1) * cal.n_days]) for u in units]
            )
            order = argsort_nearly_sorted(orders.time[idx])
            idx, arrivals = idx[order], orders.time[idx[order]]
        if idx.size == 0:
            continue
        switch = tl.lab_switch[j]
        cap = capacity_curve(
            lab.capacity_per_hour,
            switch,
            lab.switch_downtime_hours,
            lab.productivity_dip,
            lab.dip_recovery_days,
            n_hours,
        )
        lid = LidLoss(
            switch=switch,
            lose_ids=not lab.lid_continuity and np.isfinite(switch),
            share=np.float32(lab.manual_matching_share),
            match_u=inputs.match_u,
        )
        cum = np.concatenate([[0.0], np.cumsum(cap)])
        _serve(idx, arrivals, edges, cum, inputs.turnaround, lid, ready, manual)
    return ready, manual


@numba.njit(cache=True)
def _arrival_order(time, first, units, n_days):  # pragma: no cover - compiled
    """A lab's orders (of ``units``) in the order they arrive, stably, and their arrival times.

    One day at a time: that day's orders of all the units, in their stored order, sorted in
    cache. This is their place in the whole sort only if each day's orders all arrive after
    the previous day's, which the third value says (orders are placed within their day)."""
    n = 0
    for u in units:
        n += first[(u + 1) * n_days] - first[u * n_days]
    idx = np.empty(n, dtype=np.int64)
    arrivals = np.empty(n)
    a = 0
    for d in range(n_days):
        m = 0
        for u in units:
            m += first[u * n_days + d + 1] - first[u * n_days + d]
        if m == 0:
            continue
        ids = np.empty(m, dtype=np.int64)
        values = np.empty(m)
        k = 0
        for u in units:
            for i in range(first[u * n_days + d], first[u * n_days + d + 1]):
                ids[k] = i
                values[k] = time[i]
                k += 1
        order = argsort_in_cache(values)
        if a > 0 and values[order[0]] <= arrivals[a - 1]:
            return idx, arrivals, False
        for k in order:
            idx[a] = ids[k]
            arrivals[a] = values[k]
            a += 1
    return idx, arrivals, True


@numba.njit(cache=True)
def _serve(idx, arrivals, edges, cum, turnaround, lid, ready, manual):  # pragma: no cover
    """When each sample of one lab (orders ``idx``), arriving at sorted ``arrivals``, is
    ready: started first come, first served in capacity time (``cum`` at hour ``edges``), as
    ``S_k = k + max_{j<=k} (C(A_j) - j)`` (see the module docstring), then analysed for its
    ``turnaround``; written to ``ready`` and, when the lab loses IDs at its switch (``lid``,
    :class:`LidLoss`), ``manual`` for samples in flight then that wait to be matched by hand.
    Step for step as ``np.interp`` and ``np.maximum.accumulate`` would."""
    served = np.empty(len(arrivals))
    _interp_sorted(arrivals, edges, cum, cum[-1], served)
    lowest = -np.inf
    for k in range(len(served)):
        s = served[k] - k
        if not (lowest >= s or np.isnan(lowest)):
            lowest = s
        served[k] = lowest + k
    _interp_sorted(served, cum, edges, np.inf, served)  # start times
    for k in range(len(idx)):
        i = idx[k]
        done = served[k] + turnaround[i]
        ready[i] = done
        if lid.lose_ids:
            in_flight = arrivals[k] < lid.switch and done >= lid.switch
            manual[i] = in_flight and lid.match_u[i] < lid.share


@numba.njit(cache=True)
def _interp_sorted(x, xp, fp, right, out):  # pragma: no cover - compiled
    """``out[:] = np.interp(x, xp, fp, right=right)`` for ascending ``x`` (``out`` may be
    ``x``): numpy's arithmetic, with a search that moves on from the last hit."""
    n = len(xp)
    slopes = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])
    j = 0
    for k in range(len(x)):
        v = x[k]
        if v < xp[0]:
            y = fp[0]
        elif v > xp[n - 1]:
            y = right
        elif v == v:
            while j + 1 < n and xp[j + 1] <= v:
                j += 1
            if j == n - 1 or xp[j] == v:
                y = fp[j]
            else:  # if nan in one direction, try the other
                y = slopes[j] * (v - xp[j]) + fp[j]
                if y != y:
                    y = slopes[j] * (v - xp[j + 1]) + fp[j + 1]
                    if y != y and fp[j] == fp[j + 1]:
                        y = fp[j]
        else:
            y = v
        out[k] = y
