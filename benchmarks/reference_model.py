"""A deliberately plain reference model of signing: one SimPy process per item.

It exists to check the fast model (:class:`sim.inbox.SignerPool`), not to be used. Each signer
is a ``simpy.PriorityResource`` of capacity one, held by a *gate* process outside the signer's
sessions. Every inbox item is its own process: it waits until it is in the inbox, then for
the next session that opens, and asks the signer who works its inbox that day (its orderer,
or a colleague covering a long absence) with the priority the item has in that session
(group, then age). At the session's end the gate asks for the signer with top priority, so no
new item starts after the end; the item being worked finishes (overrun), and items still
waiting withdraw and ask again at the next session. Opening the second inbox costs time once
per signer and session.

Supported: sessions, absence and cover, priority groups, home and second inbox with switching
cost, learning-curve factor and lookups at the session's start, training, overruns. Not
supported (keep them off in the scenario it is compared on): overtime, messages, scheduled
workload, refresh, legacy locks.
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.model.inbox import CRITICAL, URGENT
from sim.model.replication import Replication


def reference_sign_times(rep: Replication) -> np.ndarray:
    """Completion minute of every item (nan if never signed), computed per item."""
    env = simpy.Environment()
    done = np.full(len(rep.items.ready), np.nan)
    cal = rep.calendar
    for pool in rep.pools.values():
        clock = _PoolClock(env, pool, cal)
        signers = [_Signer(env, clock, s) for s in range(pool.n)]
        clock.signers = signers
        env.process(clock.run())
        for signer in signers:
            env.process(signer.gate())
        for local in range(len(pool.gid)):
            # The pool's local index orders items by ready time: "oldest first".
            env.process(_item(env, clock, pool, local, done))
    # No session opens at or after the horizon's end, but one that opened before it is worked
    # as the fast model works it: the item in hand finishes, even past the end. A day of margin
    # is more than any overrun.
    env.run(until=cal.horizon_minutes + 1440.0)
    return done


def covering(
    presence: np.ndarray,
    units: np.ndarray,
    day: int,
    after: int | None,
    sites: np.ndarray | None = None,
) -> list[int]:
    """Who works each signer's inbox on ``day``, by a plain loop (see SignerPool._workers):
    a present colleague of the unit, else one of the site (``sites``), the
    ``s mod n``-th of the n present."""
    n = len(units)
    out = []
    for s in range(n):
        if presence[s, day]:
            out.append(s)
            continue
        streak = 0
        while streak <= day and not presence[s, day - streak]:
            streak += 1
        colleagues = [c for c in range(n) if units[c] == units[s]]
        i = colleagues.index(s)
        order = colleagues[i + 1 :] + colleagues[:i]
        found = [c for c in order if presence[c, day]]
        if not found and sites is not None:
            site = [c for c in range(n) if sites[c] == sites[s] and presence[c, day]]
            found = [site[s % len(site)]] if site else []
        out.append(found[0] if after is not None and streak > after and found else -1)
    return out


class _PoolClock:
    """Opens each session of a pool for everyone at once."""

    def __init__(self, env, pool, cal):
        self.env, self.pool, self.cal = env, pool, cal
        self.opened = env.event()
        self.start = -np.inf
        self.workers: list[int] = []
        self.signers: list[_Signer] = []

    def run(self):
        cfg = self.pool.cfg
        for start, end in cfg.sessions:
            if start >= self.cal.horizon_minutes:
                return
            yield self.env.timeout(start - self.env.now)
            day = self.cal.day_index(float(start))
            self.workers = covering(
                cfg.presence, cfg.signer_unit, day, cfg.cover_after_days, cfg.signer_site
            )
            self.start = float(start)
            for s, signer in enumerate(self.signers):
                signer.open(float(start), float(end), bool(cfg.presence[s, day]))
            opened, self.opened = self.opened, self.env.event()
            opened.succeed()

    def state(self, unit: int):
        home, learn, look, _ = self.pool.unit_state(self.start)
        return bool(home[unit]), float(learn[unit]), float(look[unit])


class _Signer:
    def __init__(self, env, clock: _PoolClock, index: int):
        self.env, self.clock, self.index = env, clock, index
        self.resource = simpy.PriorityResource(env, capacity=1)
        self.unit = int(clock.pool.cfg.signer_unit[index])
        self.closed = env.event()
        self.paid = False
        self._session: tuple[float, float] | None = None
        self._wake = env.event()

    def open(self, start: float, end: float, present: bool) -> None:
        self.paid = False
        self.closed = self.env.event()
        if present:
            self._session = (start, end)
            self._wake.succeed()
            self._wake = self.env.event()

    def gate(self):
        hold = self.resource.request(priority=(-1,))
        yield hold
        while True:
            yield self._wake
            start, end = self._session
            yield self.env.timeout(0)  # items ask before the gate lets go
            if hold.triggered:
                self.resource.release(hold)
            else:  # still finishing an item from the last session
                hold.cancel()
            train = self.clock.pool.unit_state(start)[3][self.unit]
            yield self.env.timeout(max(0.0, start + (end - start) * train - self.env.now))
            hold = self.resource.request(priority=(-1,))
            self.closed.succeed()


def _item(env, clock: _PoolClock, pool, local: int, done: np.ndarray):
    ready = pool.ready[local]
    if not np.isfinite(ready):
        return
    yield env.timeout(max(0.0, ready - env.now))
    owner = int(pool.signer[local])
    while True:
        yield clock.opened
        if ready > env.now:  # arrived after the session opened: wait for the next one
            continue
        w = clock.workers[owner]
        if w < 0:
            continue
        worker = clock.signers[w]
        home, learn, look_share = clock.state(worker.unit)
        second = bool(pool.inbox[local]) != home
        urgency = pool.urgency[local]
        group = 0 if urgency == CRITICAL else (1 if urgency == URGENT else 3) + 3 * second
        req = worker.resource.request(priority=(group, local))
        got = yield req | worker.closed
        if req not in got:
            req.cancel()
            continue
        duration = float(pool.handling[local]) * learn
        if pool.lookup_u[local] < look_share and not pool.is_chase[local]:
            duration += float(pool.lookup[local])
        if second and not worker.paid:
            duration += pool.cfg.switch_cost
            worker.paid = True
        yield env.timeout(duration)
        done[pool.gid[local]] = env.now
        worker.resource.release(req)
        return
