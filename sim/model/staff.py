"""Staff: who is at work, how fast they are, and how that changes around a go-live.

* **Absence**: each signer is present or absent day by day, a two-state Markov chain whose
  stationary share absent is ``staffing.absence_share`` and whose spells last
  ``absence_spell_days`` on average (drawn from the signer's own stream).
* **Training**: in the ``training_weeks`` before its go-live a unit's session time shrinks by
  the share that ``training_hours`` take of a 40-hour week.
* **Learning curve**: after go-live, handling times are multiplied by a factor that starts at
  ``learning_curve.initial_multiplier`` and decays back to 1 with the time constant (per site
  kind if given), shortened by super users (``super_users_per_10_staff`` x
  ``super_user_speedup``, at most to a tenth).
* **Read-only lookups**: a share of tasks after go-live needs history from the locked legacy
  system (``lookup_share_at_go_live``, halving every ``lookup_half_life_days``).

:class:`UnitState` gives these factors for every unit at any time; the signer pools take
them for all their session starts at once.
"""

from __future__ import annotations

import numpy as np

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


class UnitState:
    """Per-unit home system, learning factor, lookup share and training factor at a time.

    ``state(t)`` gives them for every unit at one time (what a signer pool asks by default);
    ``state.at(times, units)`` for many times at once, one row per time, with the very same
    elementwise operations: the run takes them for all its session starts before it begins.
    """

    def __init__(self, sc: LoadedScenario, tl: Timeline):
        st, pol = sc.model.staffing, sc.model.policies
        self._tl = tl
        curve = st.learning_curve
        self._initial = curve.initial_multiplier
        kinds = sc.model.site_kinds
        days = np.array(
            [
                kinds[u.kind].learning_time_constant_days or curve.time_constant_days
                for u in tl.units
            ],
            dtype=float,
        )
        self._tau = (
            days * 1440.0 * max(0.1, 1.0 - st.super_user_speedup * st.super_users_per_10_staff)
        )
        self._train_weeks = st.training_weeks
        self._train_factor = max(0.0, 1.0 - st.training_hours / (st.training_weeks * 40.0))
        self._look_share = pol.lookup_share_at_go_live
        self._half_life = pol.lookup_half_life_days * 1440.0
        self._all = np.arange(len(tl.units))
        self._last: tuple[float, tuple[np.ndarray, ...]] | None = None

    def __call__(self, t: float) -> tuple[np.ndarray, ...]:
        if self._last is None or self._last[0] != t:  # pools opening at the same minute
            self._last = t, tuple(x[0] for x in self.at(np.array([t]), self._all))
        return self._last[1]

    def at(self, t: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, ...]:
        """(home, learn, look, train) of ``units`` (columns) at times ``t`` (rows)."""
        t = t[:, None]
        go = self._tl.go_live[units]
        home = self._tl.home_new(units, t)
        since = np.where(home, t - go, np.inf)
        learn = 1.0 + (self._initial - 1.0) * np.exp(-since / self._tau[units])
        look = np.where(home, self._look_share * 0.5 ** (since / self._half_life), 0.0)
        train_from = go - self._train_weeks * 7 * 1440.0
        train = np.where((t >= train_from) & (t < go), self._train_factor, 1.0)
        return home, learn, look, train
