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
  (:meth:`UnitState.ordering_excess`, paid per order by :mod:`sim.model.orderentry`).
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

import numpy as np

from sim.model.inbox import HOME_LEGACY, HOME_NEW, HOME_NEW_LEGACY_DUE
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
        excess = np.zeros(len(t))
        on = self._tl.client_new(units, t)
        t_on, u_on = t[on], units[on]
        at_ros = self._clock.at(self._tl.ros_switch[None, :], self._all)[0]  # per unit
        since = self._clock.at(t_on[None, :], u_on)[0] - at_ros[u_on]
        excess[on] = (self._ros_initial - 1.0) * np.exp(-since / self._tau[u_on])
        return excess


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

    def at(self, t: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Clock readings of ``units`` (columns) at times ``t`` (rows, or per column);
        ``inf`` stays ``inf`` (a switch that never comes)."""
        t = np.broadcast_to(t, np.broadcast_shapes(np.shape(t), (1, len(units))))
        finite = np.isfinite(t)
        day = np.clip(np.searchsorted(self._starts, np.where(finite, t, 0.0), side="right") - 1,
                      0, len(self._starts) - 1)  # fmt: skip
        cols = np.broadcast_to(units, t.shape)
        reading = self._at_start[cols, day] + self._rate[cols, day] * (t - self._starts[day])
        return np.where(finite, reading, t)
