"""Staff: who is at work, how fast they are, and how that changes around a go-live.

* **Absence**: each signer is present or absent day by day, a two-state Markov chain whose
  stationary share absent is ``staffing.absence_share`` and whose spells last
  ``absence_spell_days`` on average (drawn from the signer's own stream).
* **Training**: in the ``training_weeks`` before its go-live a unit's session time shrinks by
  the share that ``training_hours`` take of a 40-hour week.
* **Learning curves**: after go-live, handling times are multiplied by a factor that starts at
  ``learning_curve.initial_multiplier`` and decays back to 1 with the time constant (per site
  kind if given). Ordering labs in Millennium is new even for a unit that has documented in it
  for weeks: from its lab-ordering (ROS) switch, each order's entry time carries an excess
  that starts at ``ros_initial_multiplier - 1`` and decays with the same time constant
  (:func:`orders_in_millennium`, paid per order by :mod:`sim.model.orderentry`).
* **Go-live support**: both curves (and the lookups) run on a unit's own clock, which runs
  faster on the days it gets help from the area's support pool (:mod:`sim.model.support`):
  ``1 / (1 - super_user_speedup x supporters received per 10 signers)`` times real time (at
  most ten times), so a unit that gets its planned ratio of 1 per 10 learns as fast as one
  whose time constant is 30 % shorter, and one that gets nothing as the bare time constant.
* **The legacy inbox's deadline**: signers know when their legacy inbox closes (the lock
  policy's deadline, after which what is left is orphaned or rerouted). From
  ``policies.lock.priority_days`` before it they work it as their home inbox (same priority
  groups, oldest first across both), so what is orphaned is what could not be signed in
  time, not what sat below the home inbox.
* **Read-only lookups**: a share of tasks after go-live needs history from the locked legacy
  system (``lookup_share_at_go_live``, halving every ``lookup_half_life_days`` of the unit's
  clock).

:class:`UnitState` gives these factors for every unit at any time; the signer pools take
them for all their session starts at once.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from sim.model.inbox import HOME_LEGACY, HOME_NEW, HOME_NEW_LEGACY_DUE
from sim.model.kernels.switches import in_new_system
from sim.model.support import Support
from sim.sampling.calendar import Calendar
from sim.scenario.loading import LoadedScenario
from sim.schedule.timeline import Timeline


def absence(cfg_share: float, spell_days: float, uniforms: np.ndarray) -> np.ndarray:
    """Present/absent per signer and day from a two-state Markov chain of spells."""
    n, days = uniforms.shape
    if cfg_share <= 0:
        return np.ones((n, days), dtype=bool)
    p_end = min(1.0, 1.0 / spell_days)
    p_start = min(1.0, cfg_share / (1.0 - cfg_share) * p_end)
    present = np.empty((n, days), dtype=bool)
    present[:, 0] = uniforms[:, 0] >= cfg_share
    for d in range(1, days):
        u = uniforms[:, d]
        present[:, d] = np.where(present[:, d - 1], u >= p_start, u < p_end)
    return present


def legacy_due_from(tl: Timeline, priority_days: float) -> np.ndarray:
    """Per unit, the minute from which its signers work the legacy inbox as their home inbox
    (``priority_days`` before its deadline, ``Timeline.closed``) until the deadline."""
    return tl.closed - priority_days * 1440.0


class UnitState:
    """Per-unit home system, learning factor, lookup share and training factor at a time.

    ``state(t)`` gives them for every unit at one time (what a signer pool asks by default);
    ``state.at(times, units)`` for many times at once, one row per time, with the very same
    elementwise operations: the run takes them for all its session starts before it begins.
    """

    def __init__(self, sc: LoadedScenario, tl: Timeline, cal: Calendar, support: Support):
        st, pol = sc.model.staffing, sc.model.policies
        self._tl = tl
        curve = st.learning_curve
        self._initial = curve.initial_multiplier
        self._ros_initial = curve.ros_initial_multiplier
        kinds = sc.model.site_kinds
        self._tau = 1440.0 * np.array(
            [
                kinds[u.kind].learning_time_constant_days or curve.time_constant_days
                for u in tl.units
            ],
            dtype=float,
        )
        self._clock = UnitClock(cal, support_rate(st.super_user_speedup, support))
        self._train_weeks = st.training_weeks
        self._train_factor = max(0.0, 1.0 - st.training_hours / (st.training_weeks * 40.0))
        self._promote_from = legacy_due_from(tl, pol.lock.priority_days)
        self._look_share = pol.lookup_share_at_go_live
        self._half_life = pol.lookup_half_life_days * 1440.0
        self._all = np.arange(len(tl.units))
        self._last: tuple[float, tuple[np.ndarray, ...]] | None = None

    def __call__(self, t: float) -> tuple[np.ndarray, ...]:
        if self._last is None or self._last[0] != t:  # pools opening at the same minute
            self._last = t, tuple(x[0] for x in self.at(np.array([t]), self._all))
        return self._last[1]

    def at(self, t: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, ...]:
        """(home, learn, look, train) of ``units`` (columns) at times ``t`` (rows). ``home``
        is :data:`sim.model.inbox.HOME_LEGACY`, ``HOME_NEW`` or ``HOME_NEW_LEGACY_DUE`` (home
        in Millennium, the legacy inbox worked alike as its deadline nears)."""
        t = t[:, None]
        go = self._tl.go_live[units]
        home = self._tl.home_new(units, t)
        due = home & (t >= self._promote_from[units]) & (t < self._tl.closed[units])
        code = np.where(due, HOME_NEW_LEGACY_DUE, np.where(home, HOME_NEW, HOME_LEGACY))
        code = code.astype(np.int8)
        now = self._clock.at(t, units)
        since_go = np.where(home, now - self._clock.at(go[None, :], units), np.inf)
        learn = 1.0 + (self._initial - 1.0) * np.exp(-since_go / self._tau[units])
        look = np.where(home, self._look_share * 0.5 ** (since_go / self._half_life), 0.0)
        train_from = go - self._train_weeks * 7 * 1440.0
        train = np.where((t >= train_from) & (t < go), self._train_factor, 1.0)
        return code, learn, look, train

    def ordering_excess(self, t: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Per order (``t[i]`` at ``units[i]``): the excess of the order-entry multiplier over
        1, ``(ros_initial - 1) exp(-s / tau)`` with ``s`` the unit's learning-clock time since
        its ROS switch; 0 where the unit does not order labs in Millennium at ``t``."""
        t = np.asarray(t, dtype=float)
        ones = np.ones(len(self._tl.units))
        idx, excess = orders_in_millennium(
            t, units, np.zeros(len(t), bool), (-np.inf, np.inf), self.ordering_curve(ones)
        )
        out = np.zeros(len(t))
        out[idx] = excess
        return out

    def ordering_curve(self, per_unit: np.ndarray) -> OrderingCurve:
        """What :func:`orders_in_millennium` needs to price an order's learning excess, in
        units of ``per_unit`` (per unit: the minutes of one order's entry, say)."""
        tl = self._tl
        at_switch = self._clock.at(tl.ros_switch[None, :], self._all)[0]
        return OrderingCurve(
            tl.ros_switch, tl.rb_start, tl.rb_end, self._clock.arrays, at_switch,
            self._tau, self._ros_initial - 1.0, np.asarray(per_unit, dtype=float),
        )  # fmt: skip


class ClockArrays(NamedTuple):
    """A :class:`UnitClock` as arrays, for compiled code: day starts, each unit's reading at
    them and its rate through each day."""

    starts: np.ndarray
    at_start: np.ndarray
    rate: np.ndarray


class OrderingCurve(NamedTuple):
    """Per unit, when it orders labs in Millennium and how its order-entry excess decays."""

    ros_switch: np.ndarray  # orders in Millennium from then on ...
    rb_start: np.ndarray  # ... except in a rollback interval
    rb_end: np.ndarray
    clock: ClockArrays
    at_switch: np.ndarray  # learning-clock reading at the ROS switch
    tau: np.ndarray  # time constant, minutes
    excess0: float  # ros_initial_multiplier - 1
    per_unit: np.ndarray  # what one unit of excess is worth


@numba.njit(cache=True)
def orders_in_millennium(t, units, skip, window, curve):  # pragma: no cover - compiled
    """The orders (``t[i]`` at ``units[i]``, not ``skip``-ped, ``window[0] <= t < window[1]``)
    placed while the unit orders labs in Millennium (as :meth:`Timeline.client_new`), and the
    learning excess of each, ``per_unit x excess0 x exp(-s / tau)`` with ``s`` the unit's
    clock since its ROS switch; those worth 0 are left out. One pass over millions of orders,
    without the temporaries of the numpy expression (each a fresh page-faulted array)."""
    idx = np.empty(len(t), dtype=np.int64)
    out = np.empty(len(t))
    k = 0
    for i in range(len(t)):
        u = units[i]
        x = t[i]
        if skip[i] or not (window[0] <= x < window[1]):
            continue
        if not in_new_system(x, u, curve.ros_switch, curve.rb_start, curve.rb_end):
            continue
        since = clock_reading(x, u, curve.clock) - curve.at_switch[u]
        value = curve.per_unit[u] * (curve.excess0 * np.exp(-since / curve.tau[u]))
        if value > 0:
            idx[k] = i
            out[k] = value
            k += 1
    return idx[:k], out[:k]


def support_rate(speedup: float, support: Support) -> np.ndarray:
    """(units, days) how fast each unit's learning clock runs against real time: the help it
    got that day removes ``speedup`` of the time constant per supporter per 10 signers (at
    most nine tenths of it)."""
    return 1.0 / np.maximum(0.1, 1.0 - speedup * support.received_per_10)


class UnitClock:
    """Each unit's learning clock: real minutes weighted by the day's rate, so that the time
    a curve has run from a switch is ``at(t) - at(switch)``."""

    def __init__(self, cal: Calendar, rate: np.ndarray):
        self._starts = np.asarray(cal.day_start[:-1], dtype=float)
        self._rate = rate
        lengths = np.diff(cal.day_start)
        # Clock reading at each day's start; before the horizon it runs at the first day's
        # rate, after it at the last day's.
        self._at_start = np.concatenate(
            [np.zeros((len(rate), 1)), np.cumsum(rate * lengths, axis=1)[:, :-1]], axis=1
        )

    @property
    def arrays(self) -> ClockArrays:
        return ClockArrays(self._starts, self._at_start, self._rate)

    def at(self, t: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Clock readings of ``units`` (columns) at times ``t`` (rows, or per column);
        ``inf`` stays ``inf`` (a switch that never comes)."""
        shape = np.broadcast_shapes(np.shape(t), (1, len(units)))
        times = np.broadcast_to(np.asarray(t, dtype=float), shape).ravel()
        cols = np.broadcast_to(units, shape).ravel()
        return _readings(times, cols, self.arrays).reshape(shape)


@numba.njit(cache=True)
def clock_reading(t, unit, clock):  # pragma: no cover - compiled
    """The reading of ``unit``'s clock at ``t``: its reading at the start of the day of ``t``
    (the first day before the horizon, the last after it) plus the day's rate times the
    minutes since; a non-finite ``t`` is returned as it is."""
    if not np.isfinite(t):
        return t
    starts = clock.starts
    day = min(max(np.searchsorted(starts, t, side="right") - 1, 0), len(starts) - 1)
    return clock.at_start[unit, day] + clock.rate[unit, day] * (t - starts[day])


@numba.njit(cache=True)
def _readings(t, units, clock):  # pragma: no cover - compiled
    out = np.empty(len(t))
    for i in range(len(t)):
        out[i] = clock_reading(t[i], units[i], clock)
    return out
