"""A deliberately plain reference model of signing: one SimPy process per item.

It exists to check the fast model (:class:`sim.inbox.SignerPool`), not to be used. Each signer
is a ``simpy.PriorityResource`` of capacity one, held by a *gate* process outside the signer's
sessions. Every inbox item is its own process: it waits until it is in the inbox, then for
the next session that opens, and asks for the signer with the priority the item has in that
session (group, then age). At the session's end the gate asks for the signer with top
priority, so no new item starts after the end; the item being worked finishes (overrun), and
items still waiting withdraw and ask again at the next session. The switch to the second
inbox costs time once per signer and session.

Supported: sessions, absence, priority groups, home and second inbox with switching cost,
learning-curve factor and lookups at the session's start, overruns. Not supported (keep them
off in the scenario it is compared on): overtime, messages, scheduled workload, refresh,
legacy locks.
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.inbox import CRITICAL, URGENT
from sim.model import Replication


def reference_sign_times(rep: Replication) -> np.ndarray:
    """Completion minute of every item (nan if never signed), computed per item."""
    it = rep.items
    env = simpy.Environment()
    done = np.full(len(it.ready), np.nan)
    horizon = rep.calendar.horizon_minutes
    for pool in rep.pools.values():
        cfg = pool.cfg
        for s in range(pool.n):
            signer = _Signer(env, cfg, s, pool.unit_state, rep.calendar)
            mine = np.flatnonzero(pool.signer == s)
            for local in mine:
                # The pool's local index orders items by ready time: "oldest first".
                env.process(_item(env, signer, pool, int(local), done))
            env.process(signer.gate())
    env.run(until=horizon)
    return done


class _Signer:
    """A signer's resource, session events and per-session state."""

    def __init__(self, env, cfg, index, unit_state, cal):
        self.env = env
        self.resource = simpy.PriorityResource(env, capacity=1)
        self.unit = int(cfg.signer_unit[index])
        self.sessions = [
            (float(a), float(b))
            for a, b in cfg.sessions
            if a < cal.horizon_minutes and cfg.presence[index, cal.day_index(float(a))]
        ]
        self.switch_cost = cfg.switch_cost
        self.unit_state = unit_state
        self.opened = env.event()  # fires when the next session opens
        self.closed = env.event()  # fires when the current session ends
        self.session_start = -np.inf
        self.paid = False

    def state(self):
        home, learn, look, _ = self.unit_state(self.session_start)
        return bool(home[self.unit]), float(learn[self.unit]), float(look[self.unit])

    def close_at(self, start: float, end: float) -> float:
        """Training hours take the end of the session."""
        train = self.unit_state(start)[3][self.unit]
        return start + (end - start) * float(train)

    def gate(self):
        hold = self.resource.request(priority=(-1,))
        yield hold
        for start, end in self.sessions:
            yield self.env.timeout(start - self.env.now)
            if not hold.triggered:  # still finishing an item from the last session
                hold.cancel()
            self.session_start, self.paid = start, False
            opened, self.opened = self.opened, self.env.event()
            self.closed = self.env.event()
            opened.succeed()
            yield self.env.timeout(0)  # items ask before the gate lets go
            if hold.triggered:
                self.resource.release(hold)
            yield self.env.timeout(max(0.0, self.close_at(start, end) - self.env.now))
            hold = self.resource.request(priority=(-1,))
            self.closed.succeed()


def _item(env, signer: _Signer, pool, local: int, done: np.ndarray):
    ready = pool.ready[local]
    if not np.isfinite(ready):
        return
    yield env.timeout(max(0.0, ready - env.now))
    while True:
        yield signer.opened
        if ready > env.now:  # arrived after the session opened: wait for the next one
            continue
        home, learn, look_share = signer.state()
        second = bool(pool.inbox[local]) != home
        urgency = pool.urgency[local]
        group = 0 if urgency == CRITICAL else (1 if urgency == URGENT else 3) + 3 * second
        req = signer.resource.request(priority=(group, local))
        got = yield req | signer.closed
        if req not in got:
            req.cancel()
            continue
        duration = pool.handling[local] * learn
        if pool.lookup_u[local] < look_share and not pool.is_chase[local]:
            duration += pool.lookup[local]
        if second and not signer.paid:
            duration += signer.switch_cost
            signer.paid = True
        yield env.timeout(duration)
        done[pool.gid[local]] = env.now
        signer.resource.release(req)
        return
