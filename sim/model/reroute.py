"""The central reroute queue: late legacy results routed by hand, a daily capacity at a time.

Under a lock policy that reroutes (``reroute``, or an extension such as
``drain_then_reroute``), results that reach a locked legacy client, and what is left in its
inbox at the deadline, join one central queue. Each working day at 08:00 the queue routes up
to ``reroute_capacity_per_day`` of them, oldest first, ``reroute_minutes_per_result`` each,
into the orderer's Millennium inbox, where they are signed like any other result.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

from sim.model.inbox import NEW, Items, SignerPool
from sim.sampling.calendar import Calendar
from sim.scenario.schema import LockPolicy


class RerouteQueue:
    """The queue and its staff minutes; :meth:`process` is its SimPy process."""

    def __init__(self, policy: LockPolicy, items: Items, pools: dict[str, SignerPool]):
        self.per_result = policy.reroute_minutes_per_result
        self.capacity = int(policy.reroute_capacity_per_day)
        self.items = items
        self.pools = pools
        self.minutes = 0.0
        self._arrivals: list[np.ndarray] = []

    def add(self, results: np.ndarray) -> None:
        """Results taken from a legacy inbox at a deadline join the queue now."""
        self._arrivals.append(results)

    def process(
        self,
        env: simpy.Environment,
        cal: Calendar,
        late: np.ndarray,
        late_ready: np.ndarray,
        unit_kind: np.ndarray,
    ) -> Generator:
        """Route ``late`` results (rerouted at arrival, ready at ``late_ready``) and whatever
        :meth:`add` brings, day by day."""
        it = self.items
        local_index = np.empty(len(it.ready), dtype=np.int64)
        for pool in self.pools.values():
            local_index[pool.gid] = np.arange(len(pool.gid))
        order = np.argsort(late_ready, kind="stable")
        late, arrivals = late[order], late_ready[order]
        nxt = 0
        backlog: list[np.ndarray] = []
        for day in np.flatnonzero(cal.working_day_mask):
            t = cal.local_minutes(np.array([day]), np.array([8 * 60]))[0]
            yield env.timeout(max(0.0, t - env.now))
            stop = np.searchsorted(arrivals, t, side="right")
            backlog.append(late[nxt:stop])
            nxt = stop
            while self._arrivals:
                backlog.append(self._arrivals.pop(0))
            queue = np.concatenate(backlog) if backlog else np.empty(0, dtype=np.int64)
            now, queue = queue[: self.capacity], queue[self.capacity :]
            backlog = [queue]
            if now.size:
                routed = t + self.per_result * np.arange(1, now.size + 1)
                it.ready[now] = routed
                it.inbox[now] = NEW
                self.minutes += self.per_result * now.size
                for kind_id, pool in self.pools.items():
                    mine = unit_kind[it.unit[now]] == kind_id
                    pool.inject(local_index[now[mine]], routed[mine], NEW)
