"""Locks and orphans: what becomes of legacy orders when their client turns read-only.

ROS data is not migrated (DESIGN section 1): when a unit's legacy order/result client locks,
the results of orders still outstanding in it have no watch in Millennium. A **lock policy**
decides their fate, per result that arrives after the lock (``OPEN``: it still reaches the
legacy inbox; ``ORPHAN``: nobody watches it; ``REROUTE``: the central queue routes it by hand,
:mod:`sim.model.reroute`), and when whatever is still unsigned in the legacy inbox leaves it.

The three built-in policies are registered in :mod:`sim.extensions` exactly like an
extension, so the model has one code path for all of them:

* ``drain``: the legacy inbox stays open for ``drain_days``; later results, and what is still
  in the inbox at the deadline, are orphans;
* ``lost``: at the lock itself;
* ``reroute``: late results and leftovers go to the central queue.

When the lock and its deadline happen is the schedule's business (:mod:`sim.schedule`, where a
rollback cancels a lock that has not happened yet); this module applies the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import numpy as np
import simpy
from pydantic import Field

from sim import extensions
from sim.extensions import OPEN, ORPHAN, REROUTE, LockContext, Params, lock_policy
from sim.scenario.schema import LockPolicy
from sim.schedule.timeline import Timeline

if TYPE_CHECKING:  # the policies register at every load (validate too): no compiled kernels
    from sim.model.inbox import SignerPool


class Drain(Params):
    drain_days: float = Field(28.0, ge=0, description="legacy inbox stays readable this long")


class NoParams(Params):
    pass


@lock_policy(
    "drain",
    Drain,
    leftovers=lambda p: (p.drain_days, ORPHAN),
    params_from=lambda lock: Drain(drain_days=lock.drain_days),
)
def drain(p: Drain, ctx: LockContext) -> np.ndarray:
    """The legacy inbox stays readable for ``drain_days``; what arrives later is orphaned."""
    late = ctx.ready >= ctx.lock + p.drain_days * 1440.0
    return np.where(late, np.int8(ORPHAN), np.int8(OPEN))


@lock_policy("lost", NoParams, leftovers=lambda p: (0.0, ORPHAN), params_from=lambda _: NoParams())
def lost(p: NoParams, ctx: LockContext) -> np.ndarray:
    """Everything outstanding at the lock is orphaned."""
    return np.full(len(ctx.ready), ORPHAN, dtype=np.int8)


@lock_policy(
    "reroute", NoParams, leftovers=lambda p: (0.0, REROUTE), params_from=lambda _: NoParams()
)
def reroute(p: NoParams, ctx: LockContext) -> np.ndarray:
    """Everything outstanding at the lock goes to the central reroute queue."""
    return np.full(len(ctx.ready), REROUTE, dtype=np.int8)


def lock_fates(
    lock: LockPolicy, tl: Timeline, unit: np.ndarray, ready: np.ndarray, after_lock: np.ndarray
) -> np.ndarray:
    """Per result: ``OPEN`` unless it arrives after its client's lock, where the policy
    decides (``after_lock``: a legacy order whose result is ready at or after the lock)."""
    policy = extensions.lock_policy_of(lock)
    fate = np.full(len(ready), OPEN, dtype=np.int8)
    late = np.flatnonzero(after_lock)
    if late.size:
        units = unit[late]
        ctx = LockContext(units, ready[late], tl.lock[units], tl)
        chosen = np.asarray(policy.fate(policy.params_of(lock), ctx))
        if chosen.shape != late.shape or not np.isin(chosen, (OPEN, ORPHAN, REROUTE)).all():
            raise ValueError(
                f"lock policy {lock.mode!r} must return one of OPEN, ORPHAN, REROUTE per result"
            )
        fate[late] = chosen
    return fate


def leftover_fate(lock: LockPolicy) -> int:
    """ORPHAN or REROUTE: what becomes of what is still in the legacy inbox at the deadline."""
    policy = extensions.lock_policy_of(lock)
    return policy.leftovers(policy.params_of(lock))[1]


def close_legacy_inbox(
    env: simpy.Environment,
    unit: int,
    closed_at: float,
    pool: SignerPool,
    on_taken: Callable[[float, np.ndarray], None],
) -> Generator:
    """SimPy process: at the unit's deadline (``Timeline.closed``) its legacy items leave the
    inbox unworked; ``on_taken(now, item_ids)`` books their fate."""
    yield env.timeout(max(0.0, closed_at - env.now))
    mine = pool.take(env.now, _legacy_of_unit(unit))
    on_taken(env.now, pool.gid[mine])


def _legacy_of_unit(unit: int):
    from sim.model.inbox import LEGACY  # only when a run closes an inbox (see the imports)

    return lambda pool, ids: (
        (pool.cfg.signer_unit[pool.signer[ids]] == unit) & (pool.inbox[ids] == LEGACY)
    )
