"""One replication of a cutover: the SimPy model that ties the mechanisms together.

What does not interact is drawn up front and vectorized: orders (:mod:`sim.model.demand`), lab
start and result times (:mod:`sim.model.labs`), watches that turn into chase tasks, which orders
were placed in which client (:mod:`sim.schedule.timeline`), and scheduled workload
(:mod:`sim.model.workload`). What interacts runs as SimPy processes on one clock:

* one process per site kind works each signing session for all its signers at once
  (:class:`sim.inbox.SignerPool`);
* one process per unit whose legacy client locks takes what is still in that client's inbox
  at the lock policy's deadline (:mod:`sim.model.locks`);
* one process runs the central reroute queue (:mod:`sim.model.reroute`).

:func:`run_replication` returns the per-item record; :mod:`sim.metrics.tables` turns it into tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numba
import numpy as np
import simpy

from sim import extensions
from sim.model.demand import (
    Orders,
    chase_minutes,
    draw_for,
    generate_orders,
    mean_minutes,
    role_spec,
)
from sim.model.inbox import (
    CRITICAL,
    LEGACY,
    NEW,
    NORMAL,
    URGENT,
    ItemAttributes,
    Items,
    PoolConfig,
    SignerPool,
)
from sim.model.labs import result_times
from sim.model.ledger import WORKLOAD
from sim.model.locks import close_legacy_inbox, leftover_fate, lock_fates
from sim.model.reroute import RerouteQueue
from sim.model.workload import daily_workload
from sim.sampling.calendar import Calendar
from sim.sampling.streams import Streams
from sim.scenario.loading import LoadedScenario
from sim.schedule.schedule import build_schedule
from sim.schedule.timeline import Timeline

FATE_OPEN, FATE_ORPHAN, FATE_REROUTE = extensions.OPEN, extensions.ORPHAN, extensions.REROUTE


@dataclass
class Replication:
    """Everything one replication produced, before it is turned into tables."""

    scenario: LoadedScenario
    replication: int
    root_seed: int
    calendar: Calendar
    timeline: Timeline
    orders: Orders
    lab_ready: np.ndarray  # per order: result ready in the lab
    legacy: np.ndarray  # per order: ordered in the legacy client
    items: Items  # results first (one per order, same index), then chase tasks
    n_results: int
    orphan_time: np.ndarray  # per order: when its result became unwatched (nan: never)
    rerouted: np.ndarray  # per order: went through the central queue
    pools: dict[str, SignerPool]
    streams: Streams
    reroute_minutes: float  # central-queue staff minutes
    workload_left_minutes: float = 0.0  # scheduled work still undone at the horizon's end


def _absence(cfg_share: float, spell_days: float, uniforms: np.ndarray) -> np.ndarray:
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


def build(sc: LoadedScenario, replication: int = 0, root_seed: int | None = None) -> Replication:
    """Draw everything that does not interact and set up the signer pools."""
    s = sc.model
    seed = s.seed if root_seed is None else root_seed
    cal = Calendar(s.horizon.start, s.horizon.end)
    tl = build_schedule(sc).timeline(cal)
    streams = Streams(seed, replication)
    pol = s.policies
    # Signers: pools by site kind, signers numbered within their pool.
    kinds = list(dict.fromkeys(u.kind for u in tl.units))
    pool_of_unit = np.array([kinds.index(u.kind) for u in tl.units])
    signers = np.array([u.signers for u in tl.units])
    signer_offset = np.zeros(len(tl.units), dtype=np.int64)
    for k in range(len(kinds)):
        members = np.flatnonzero(pool_of_unit == k)
        signer_offset[members] = np.r_[0, np.cumsum(signers[members])[:-1]]
    orders, ready, legacy, fate, items, attrs = _draw_items(sc, cal, tl, streams, signer_offset)
    # Results, then chase tasks, are each stored unit after unit: where each unit's run starts.
    n_res = len(orders)
    runs = np.arange(len(tl.units) + 1)
    bounds = (
        np.searchsorted(items.unit[:n_res], runs),
        n_res + np.searchsorted(items.unit[n_res:], runs),
    )
    state = _UnitState(sc, tl)
    # Only results rerouted at their arrival reach an inbox after being unready (ready inf).
    unready_injected = bool((fate == FATE_REROUTE).any())
    pools = {}
    for k, kind_id in enumerate(kinds):
        kind = s.site_kinds[kind_id]
        members = np.flatnonzero(pool_of_unit == k)
        signer_unit = np.repeat(members, signers[members])
        uniforms = np.concatenate(
            [
                streams.rng(f"absence/{tl.units[m].id}").random((signers[m], cal.n_days))
                for m in members
            ]
        )
        cfg = PoolConfig(
            signer_unit=signer_unit,
            presence=_absence(s.staffing.absence_share, s.staffing.absence_spell_days, uniforms),
            sessions=cal.session_windows(
                [(x.at, x.minutes) for x in kind.sessions], kind.session_days
            ),
            switch_cost=mean_minutes(role_spec(sc, kind_id, "switch_cost")),
            overtime_cap=pol.overtime_cap_hours_per_week * 60.0,
            workload_share=pol.max_workload_share,
            refresh=kind.refresh,
            cover_after_days=s.staffing.cover_after_days,
        )
        pools[kind_id] = SignerPool(
            cfg, items, attrs, _items_of_units(bounds, members), state, unready_injected
        )
    orphan_time = np.where(fate == FATE_ORPHAN, ready, np.nan)  # past the pools' memory peak
    return Replication(
        sc, replication, seed, cal, tl, orders, ready, legacy, items, len(orders), orphan_time,
        fate == FATE_REROUTE, pools, streams, 0.0,
    )  # fmt: skip


def _items_of_units(bounds: tuple[np.ndarray, ...], units: np.ndarray) -> np.ndarray:
    """Ascending indices of the items of ``units`` (ascending), from where each unit's run
    starts in each part (``bounds``): the same as scanning every item's unit, without a
    full-length pass per pool."""
    parts = [np.arange(b[u], b[u + 1], dtype=np.int32) for b in bounds for u in units]
    return np.concatenate(parts) if parts else np.empty(0, np.int32)


def _draw_items(
    sc: LoadedScenario, cal: Calendar, tl: Timeline, streams: Streams, signer_offset: np.ndarray
) -> tuple[Orders, np.ndarray, np.ndarray, np.ndarray, Items, ItemAttributes]:
    """Orders, when their results are ready, in which client they were placed, their fate
    under the lock policy, and the inbox items (results, then chase tasks) with what signing
    needs. The sampled inputs are released on return, before the pools copy the items."""
    s = sc.model
    pol = s.policies
    orders, inputs = generate_orders(sc, cal, tl, streams)
    ready, lid_lost = result_times(sc, cal, tl, orders, inputs)
    matched = lid_lost | (orders.paper & (inputs.match_u < pol.paper_matching_error_share))
    ready[matched] += draw_for(sc, tl, streams, orders, "manual_matching_delay", matched)
    n_res = len(orders)
    legacy, chase = np.empty(n_res, bool), np.empty(n_res, bool)
    after_lock = np.empty(n_res, bool)
    due_minutes = np.array([c.due_hours for c in s.test_categories]) * 60
    _watch_results(
        orders.unit, orders.time, orders.category, ready, due_minutes, tl.ros_switch, tl.rb_start,
        tl.rb_end, tl.lock, legacy, after_lock, chase,
    )  # fmt: skip
    fate = lock_fates(pol.lock, tl, orders.unit, ready, after_lock)
    n = n_res + int(np.count_nonzero(chase))
    items = Items(unit=np.empty(n, np.int32), inbox=np.empty(n, np.int8), ready=np.empty(n))
    f32 = np.float32
    attrs = ItemAttributes(
        signer=np.empty(n, np.int32),
        urgency=np.empty(n, np.int8),
        handling=np.empty(n, f32),
        lookup=np.empty(n, f32),
        lookup_u=np.empty(n, f32),
        is_chase=np.empty(n, bool),
    )
    _fill_items(
        orders.unit, orders.time, orders.category, orders.signer, orders.abnormal,
        orders.critical, inputs.review, chase_minutes(sc, tl, orders, inputs, chase),
        inputs.lookup, inputs.lookup_u, ready, legacy, fate, chase, due_minutes,
        signer_offset.astype(np.int32), items.unit, items.inbox, items.ready, attrs.signer,
        attrs.urgency, attrs.handling, attrs.lookup, attrs.lookup_u, attrs.is_chase,
    )  # fmt: skip
    return orders, ready, legacy, fate, items, attrs


@numba.njit(cache=True)
def _watch_results(
    unit, time, category, ready, due_minutes, ros_switch, rb_start, rb_end, lock, legacy,
    after_lock, chase,
):  # pragma: no cover - compiled  # fmt: skip
    """Per result: whether it was ordered in the legacy client (before the unit's order
    switch, or during a rollback); whether it arrives after that client locked (and before a
    rollback reopens it), where the lock policy decides its fate (:mod:`sim.model.locks`);
    and whether its watch turns into a chase task: not back by its due time, unless that is in
    a legacy client already locked (ROS data is not migrated)."""
    for j in range(len(time)):
        i = unit[j]
        t, r = time[j], ready[j]
        rolled_back = t >= rb_start[i] and t < rb_end[i]
        legacy[j] = not (t >= ros_switch[i] and not rolled_back)
        after_lock[j] = legacy[j] and r >= lock[i] and r < rb_start[i]
        due = t + due_minutes[category[j]]
        chase[j] = r > due and not (legacy[j] and due >= lock[i] and due < rb_start[i])


@numba.njit(cache=True)
def _fill_items(
    unit, time, category, signer, abnormal, critical, review, chase_time, lookup, lookup_u,
    ready, legacy, fate, chase, due_minutes, signer_offset, it_unit, it_inbox, it_ready,
    at_signer, at_urgency, at_handling, at_lookup, at_lookup_u, at_is_chase,
):  # pragma: no cover - compiled  # fmt: skip
    """Inbox items and their attributes: one result per order (same index), reaching no
    inbox by itself unless its fate is open, then a chase task per watch that turns into one,
    due in the client its order was placed in, in order (``chase_time``: their minutes)."""
    n_res = len(time)
    k = n_res
    for j in range(n_res):
        i = unit[j]
        inbox = LEGACY if legacy[j] else NEW
        pool_signer = signer_offset[i] + signer[j]
        it_unit[j] = i
        it_inbox[j] = inbox
        it_ready[j] = ready[j] if fate[j] == FATE_OPEN else np.inf
        at_signer[j] = pool_signer
        at_urgency[j] = CRITICAL if critical[j] else URGENT if abnormal[j] else NORMAL
        at_handling[j] = review[j]
        at_lookup[j] = lookup[j]
        at_lookup_u[j] = lookup_u[j]
        at_is_chase[j] = False
        if chase[j]:
            it_unit[k] = i
            it_inbox[k] = inbox
            it_ready[k] = time[j] + due_minutes[category[j]]
            at_signer[k] = pool_signer
            at_urgency[k] = URGENT
            at_handling[k] = chase_time[k - n_res]
            at_lookup[k] = 0.0
            at_lookup_u[k] = 1.0
            at_is_chase[k] = True
            k += 1


class _UnitState:
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


def _add_extension_workload(
    sc: LoadedScenario, cal: Calendar, tl: Timeline, workload: np.ndarray
) -> None:
    """Minutes of the scenario's registered workload streams (:mod:`sim.extensions`)."""
    ctx = extensions.WorkloadContext(sc, cal, tl)
    row = workload[WORKLOAD.index("extension")]
    for ref in sc.model.workload_streams:
        stream = extensions.WORKLOAD_STREAMS[ref.stream]
        minutes = np.asarray(stream.minutes(stream.params(**ref.params), ctx), dtype=float)
        if minutes.shape != row.shape or not (np.isfinite(minutes) & (minutes >= 0)).all():
            raise ValueError(
                f"workload stream {ref.stream!r} must return finite minutes >= 0 of shape "
                f"(units, days) = {row.shape}, not {minutes.shape}"
            )
        row += minutes


def simulate(rep: Replication) -> Replication:
    """Run the SimPy model over the horizon; fills in sign times, orphans and ledgers."""
    sc, cal, tl, it = rep.scenario, rep.calendar, rep.timeline, rep.items
    s = sc.model
    env = simpy.Environment()
    workload = daily_workload(sc, cal, tl)
    _add_extension_workload(sc, cal, tl, workload)
    _add_back_entry(rep, workload, rep.streams)
    pool_of_kind = rep.pools
    unit_pool = {i: pool_of_kind[u.kind] for i, u in enumerate(tl.units)}
    unit_kind = np.array([u.kind for u in tl.units])
    pol = s.policies.lock

    def pool_process(pool: SignerPool, kind_id: str):
        sessions = pool.cfg.sessions
        past = np.flatnonzero(sessions[:, 0] >= cal.horizon_minutes)
        sessions = sessions[: past[0] if past.size else len(sessions)]
        # What each session needs to know, for all sessions at once (a few numpy calls each
        # session was most of the cost of a run): its day, ISO week and the units' state, and
        # the messages and scheduled workload that each new day brings.
        days = cal.day_indices(sessions[:, 0])
        new_day = np.r_[True, days[1:] != days[:-1]]
        msgs = np.full(pool.n, s.site_kinds[kind_id].message_minutes_per_day)
        daily = _daily_workload(workload, pool.cfg.signer_unit, days[new_day])
        states = zip(*pool.unit_state.at(sessions[:, 0], pool.units), strict=True)
        for start, end, day, week, first, state in zip(
            *sessions.T.tolist(), days.tolist(), _iso_weeks(cal, days).tolist(), new_day.tolist(),
            states, strict=True,
        ):  # fmt: skip
            yield env.timeout(start - env.now)
            if first:
                pool.add_daily(msgs, next(daily))
            pool.session(start, end, day, week, state)

    queue = RerouteQueue(pol, it, pool_of_kind)
    leftovers = leftover_fate(pol)

    def book_leftovers(now: float, taken: np.ndarray) -> None:
        """At a deadline the legacy inbox's items leave it: orphans, or the central queue."""
        results = taken[taken < rep.n_results]
        if leftovers == FATE_REROUTE:
            it.closed[taken[taken >= rep.n_results]] = True  # their watches are gone
            rep.rerouted[results] = True
            queue.add(results)
        else:
            it.closed[taken] = True
            rep.orphan_time[results] = now

    for kind_id, pool in pool_of_kind.items():
        env.process(pool_process(pool, kind_id))
    for i in np.flatnonzero(tl.lock < cal.horizon_minutes):
        env.process(close_legacy_inbox(env, int(i), tl.closed[i], unit_pool[i], book_leftovers))
    if leftovers == FATE_REROUTE or rep.rerouted.any():  # the central queue has work
        late = np.flatnonzero(rep.rerouted)
        env.process(queue.process(env, cal, late, rep.lab_ready[late], unit_kind))
    env.run(until=cal.horizon_minutes)
    rep.reroute_minutes = queue.minutes
    rep.workload_left_minutes = float(sum(pool.workload.sum() for pool in pool_of_kind.values()))
    return rep


def _iso_weeks(cal: Calendar, days: np.ndarray) -> np.ndarray:
    return (days + cal.start.weekday()) // 7


def _daily_workload(
    workload: np.ndarray, signer_unit: np.ndarray, days: np.ndarray
) -> Iterator[np.ndarray]:
    """The workload minutes (category, signer) that each of ``days`` (the days a pool works,
    ascending) adds: a signer's share of its unit's minutes of the days since the last one.

    Spans of the same length are summed for all of them and all units in one call: a sum over
    the last axis, when it is contiguous, adds in the same order whatever the leading axes.
    """
    units, unit_of = np.unique(signer_unit, return_inverse=True)
    signers = np.bincount(unit_of)
    first = np.r_[0, days[:-1] + 1]
    length = days + 1 - first
    per_unit = np.empty((len(days), workload.shape[0], len(units)))
    own = workload[:, units]
    for n in np.unique(length):
        chosen = np.flatnonzero(length == n)
        span = first[chosen, None] + np.arange(n)
        minutes = np.ascontiguousarray(own[:, :, span])  # (category, unit, day, span)
        per_unit[chosen] = np.moveaxis(minutes.sum(axis=3) / signers[:, None], 2, 0)
    for minutes in per_unit:
        yield minutes[:, unit_of]


def _add_back_entry(rep: Replication, workload: np.ndarray, streams: Streams) -> None:
    """Paper orders from the cutover downtime are entered afterwards, on the go-live day."""
    o, cal = rep.orders, rep.calendar
    if not o.paper.any():
        return
    minutes = draw_for(rep.scenario, rep.timeline, streams, o, "back_entry_time", o.paper)
    day = cal.day_indices(o.time[o.paper])
    np.add.at(workload[WORKLOAD.index("back_entry")], (o.unit[o.paper], day), minutes)


def run_replication(
    sc: LoadedScenario, replication: int = 0, root_seed: int | None = None
) -> Replication:
    """Build and simulate one replication."""
    return simulate(build(sc, replication, root_seed))
