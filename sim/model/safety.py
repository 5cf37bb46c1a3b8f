"""A result's safety action: the first time someone acted on it, signed or not.

The earliest of its signing, the lab's phone call that reached someone for a critical result
(:mod:`sim.model.phone`), and a duty doctor's review over a long closure
(:mod:`sim.model.oncall`). Whether a result is late (``sim.metrics.tables.late_flags``) is
judged on this time; the result still needs signing, which the inbox model decides.

Computed once after the run, vectorized; the staff minutes of calls and reviews are booked
into the signer pools' ledgers (activities ``critical_calls`` and ``on_call``) so that the
unit-day table shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model import oncall, phone
from sim.model.ledger import ACTIVITIES
from sim.sampling.calendar import Calendar
from sim.scenario.loading import LoadedScenario
from sim.schedule.timeline import Timeline


@dataclass
class SafetyActions:
    """Per result: the call or review time that came before signing (nan: none), and
    whether the lab's first call reached nobody."""

    action: np.ndarray
    failed_call: np.ndarray


def safety_actions(
    sc: LoadedScenario,
    cal: Calendar,
    tl: Timeline,
    unit: np.ndarray,
    abnormal: np.ndarray,
    critical: np.ndarray,
    ready: np.ndarray,
    signed: np.ndarray,
    pools: dict,
) -> SafetyActions:
    """Calls and reviews of every result (stored unit after unit, as :class:`Orders` are);
    books their minutes into ``pools`` (by kind)."""
    s = sc.model
    horizon = cal.horizon_minutes
    kinds = list(dict.fromkeys(u.kind for u in tl.units))
    unit_kind = np.array([kinds.index(u.kind) for u in tl.units])
    cfg = s.policies.critical_calls
    if cfg is not None:
        windows = [phone.reachable_windows(cal, s.site_kinds[k]) for k in kinds]
        calls = phone.critical_calls(cfg, windows, unit_kind, unit, critical, ready, horizon)
        action, failed = calls.reached, calls.failed
        _book(pools, tl, cal, unit, calls.reached, cfg.talk_minutes, "critical_calls")
    else:
        action = np.full(len(ready), np.nan)
        failed = np.zeros(len(ready), dtype=bool)
    # Results are stored unit after unit: where each unit's run starts.
    bounds = np.searchsorted(unit, np.arange(len(tl.units) + 1))
    for k, kind_id in enumerate(kinds):
        kind = s.site_kinds[kind_id]
        rounds = oncall.review_times(cal, kind)
        if not rounds.size:
            continue
        runs = [np.arange(bounds[u], bounds[u + 1]) for u in np.flatnonzero(unit_kind == k)]
        mine = np.concatenate(runs) if runs else np.empty(0, dtype=np.int64)
        mine = mine[abnormal[mine]]
        first = np.fmin(signed[mine], action[mine])
        reviewed = oncall.reviews(rounds, ready[mine], first, horizon)
        action[mine] = np.fmin(action[mine], reviewed)
        _book(pools, tl, cal, unit[mine], reviewed, kind.on_call.review_minutes, "on_call")
    return SafetyActions(action, failed)


def _book(
    pools: dict, tl: Timeline, cal: Calendar, unit: np.ndarray, when: np.ndarray, minutes: float,
    activity: str,
) -> None:  # fmt: skip
    """Add ``minutes`` per finite ``when`` to the unit's ledger cell of that day."""
    done = np.isfinite(when)
    if not done.any() or minutes <= 0:
        return
    row = ACTIVITIES.index(activity)
    u, day = unit[done], cal.day_indices(when[done])
    for pool in pools.values():
        local = np.searchsorted(pool.units, u)
        mine = (local < len(pool.units)) & (pool.units[np.minimum(local, len(pool.units) - 1)] == u)
        np.add.at(pool.staff_minutes, (day[mine], row, local[mine]), minutes)
