"""A lock policy added as an extension: drain for a while, then reroute instead of losing.

The built-in ``drain`` policy orphans legacy results that arrive after the drain deadline.
``drain_then_reroute`` keeps the legacy inbox readable for ``drain_days`` and then sends
whatever still arrives, and whatever is still unsigned in it at the deadline, to the central
reroute queue: orphans become manual routing work.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sim.extensions import OPEN, REROUTE, LockContext, Params, lock_policy


class DrainThenReroute(Params):
    drain_days: float = Field(14.0, ge=0, description="legacy inbox stays readable this long")


def _leftovers(p: DrainThenReroute) -> tuple[float, int]:
    """What is still unsigned in the legacy inbox at the deadline is rerouted, not lost."""
    return p.drain_days, REROUTE


@lock_policy("drain_then_reroute", DrainThenReroute, leftovers=_leftovers)
def drain_then_reroute(p: DrainThenReroute, ctx: LockContext) -> np.ndarray:
    """Late legacy results stay in the legacy inbox until the deadline, then are rerouted."""
    late = ctx.ready >= ctx.lock + p.drain_days * 1440.0
    return np.where(late, np.int8(REROUTE), np.int8(OPEN))
