"""One replication of a cutover: the SimPy model that ties the mechanisms together.

Each mechanism lives in its own module (``docs/model.md`` lists them); this one only assembles
them. What does not interact is drawn up front and vectorized: orders
(:mod:`sim.model.demand`), lab start and result times (:mod:`sim.model.labs`), which client
each order went to and which watches turn into chase tasks (:mod:`sim.model.watches`), the
lock policy's verdict on late legacy results (:mod:`sim.model.locks`), absence
(:mod:`sim.model.staff`) and scheduled workload (:mod:`sim.model.workload`). What interacts
runs as SimPy processes on one clock:

* one process per site kind works each signing session for all its signers at once
  (:class:`sim.model.inbox.SignerPool`);
* one process per unit whose legacy client locks takes what is still in that client's inbox
  at the lock policy's deadline (:mod:`sim.model.locks`);
* one process runs the central reroute queue (:mod:`sim.model.reroute`).

:func:`run_replication` returns the per-item record; :mod:`sim.metrics.tables` turns it into
tables.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from sim.model.dualwork import add_dual_work
from sim.model.inbox import (
    ItemAttributes,
    Items,
    PoolConfig,
    SignerPool,
)
from sim.model.labs import result_times
from sim.model.locks import close_legacy_inbox, leftover_fate, lock_fates
from sim.model.orderentry import add_order_entry_learning
from sim.model.reroute import RerouteQueue
from sim.model.safety import safety_actions
from sim.model.staff import UnitState, absence, legacy_due_from
from sim.model.support import Support, allocate
from sim.model.triage import second_inbox_checks
from sim.model.units import vary_units
from sim.model.watches import ItemColumns, OrderItems, OrderTimes, UnitSwitches, fill_items, watch
from sim.model.workload import (
    add_back_entry,
    add_extension_workload,
    daily_workload,
    signer_workload,
)
from sim.sampling.calendar import Calendar
from sim.sampling.streams import Streams
from sim.scenario.drawn import for_replication
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
    support: Support  # go-live support asked for and given, per unit and day
    unit_state: UnitState  # learning clocks and factors, shared by the signer pools
    workload_left_minutes: float = 0.0  # scheduled work still undone at the horizon's end
    spillover_minutes: float = 0.0  # manual migration that did not fit before go-live
    # per result: a phone call or on-call review before signing (nan: none); first call failed
    action_time: np.ndarray | None = None
    failed_call: np.ndarray | None = None


def build(
    sc: LoadedScenario,
    replication: int = 0,
    root_seed: int | None = None,
    timeline: Timeline | None = None,
) -> Replication:
    """Draw everything that does not interact and set up the signer pools. ``timeline``
    replaces the scenario's for counterfactuals no plan may have (the face-validity placebo
    orders labs in Millennium before its lab switches LIS)."""
    s = sc.model
    seed = s.seed if root_seed is None else root_seed
    sc = for_replication(sc, replication, seed)  # parameter uncertainty, if switched on
    s = sc.model
    cal = Calendar(s.horizon.start, s.horizon.end)
    planned = build_schedule(sc).timeline(cal) if timeline is None else timeline
    streams = Streams(seed, replication)
    tl = vary_units(sc, planned, streams)
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
    support = allocate(sc, cal, tl)
    state = UnitState(sc, tl, cal, support)
    pools = {}
    groups = list(dict.fromkeys(u.group for u in tl.units))
    site_of_unit = np.array([groups.index(u.group) for u in tl.units])
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
        sessions = cal.session_windows(
            [(x.at, x.minutes) for x in kind.sessions], kind.session_days
        )
        cfg = PoolConfig(
            signer_unit=signer_unit,
            presence=absence(s.staffing.absence_share, s.staffing.absence_spell_days, uniforms),
            sessions=sessions,
            switch_cost=mean_minutes(role_spec(sc, kind_id, "switch_cost")),
            overtime_cap=pol.overtime_cap_hours_per_week * 60.0,
            workload_share=pol.max_workload_share,
            refresh=kind.refresh,
            cover_after_days=_cover_after(sc, kind_id),
            signer_site=site_of_unit[signer_unit],
            second_checks=second_inbox_checks(
                float(s.staffing.second_inbox_check_share), streams,
                [tl.units[m] for m in members], len(sessions),
            ),
        )  # fmt: skip
        pools[kind_id] = SignerPool(cfg, items, attrs, _items_of_units(bounds, members), state)
    orphan_time = np.where(fate == FATE_ORPHAN, ready, np.nan)  # past the pools' memory peak
    return Replication(
        sc, replication, seed, cal, tl, orders, ready, legacy, items, len(orders), orphan_time,
        fate == FATE_REROUTE, pools, streams, 0.0, support, state,
    )  # fmt: skip


def _cover_after(sc: LoadedScenario, kind_id: str) -> int | None:
    """Days of absence after which a colleague covers, for one site kind."""
    own = sc.model.site_kinds[kind_id].cover_after_days
    return sc.model.staffing.cover_after_days if own is None else own


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
    due_minutes = np.array([c.due_hours for c in s.test_categories]) * 60
    times = OrderTimes(orders.unit, orders.time, ready, orders.category)
    watched = watch(
        times, due_minutes, UnitSwitches(tl.ros_switch, tl.rb_start, tl.rb_end, tl.lock)
    )
    fate = lock_fates(pol.lock, tl, orders.unit, ready, watched.after_lock)
    n = len(orders) + int(np.count_nonzero(watched.chase))
    f32 = np.float32
    cols = ItemColumns(
        unit=np.empty(n, np.int32),
        inbox=np.empty(n, np.int8),
        ready=np.empty(n),
        signer=np.empty(n, np.int32),
        urgency=np.empty(n, np.int8),
        handling=np.empty(n, f32),
        lookup=np.empty(n, f32),
        lookup_u=np.empty(n, f32),
        is_chase=np.empty(n, bool),
    )
    results = OrderItems(
        orders.signer, orders.abnormal, orders.critical, inputs.review,
        chase_minutes(sc, tl, orders, inputs, watched.chase), inputs.lookup, inputs.lookup_u,
        fate, inputs.overlooked,
    )  # fmt: skip
    swept = legacy_due_from(tl, pol.lock.priority_days)  # the legacy inbox is emptied from then
    fill_items(times, results, watched, due_minutes, signer_offset.astype(np.int32), swept, cols)
    items = Items(unit=cols.unit, inbox=cols.inbox, ready=cols.ready)
    attrs = ItemAttributes(
        cols.signer, cols.urgency, cols.handling, cols.lookup, cols.lookup_u, cols.is_chase
    )
    legacy = watched.legacy
    return orders, ready, legacy, fate, items, attrs


def simulate(rep: Replication) -> Replication:
    """Run the SimPy model over the horizon; fills in sign times, orphans and ledgers."""
    sc, cal, tl, it = rep.scenario, rep.calendar, rep.timeline, rep.items
    s = sc.model
    env = simpy.Environment()
    workload, rep.spillover_minutes = daily_workload(sc, cal, tl)
    add_extension_workload(sc, cal, tl, workload)
    add_back_entry(sc, cal, tl, rep.orders, workload, rep.streams)
    in_inbox = np.isnan(rep.orphan_time) & ~rep.rerouted  # not orphaned or rerouted on arrival
    add_dual_work(sc, cal, tl, rep.orders, rep.legacy, rep.lab_ready, in_inbox, workload)
    add_order_entry_learning(sc, cal, tl, rep.orders, rep.legacy, rep.unit_state, workload)
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
        daily = signer_workload(workload, pool.cfg.signer_unit, days[new_day])
        states = zip(*pool.unit_state.at(sessions[:, 0], pool.units), strict=True)
        checks = pool.cfg.second_checks
        for k, (start, end, day, week, first, state) in enumerate(zip(
            *sessions.T.tolist(), days.tolist(), _iso_weeks(cal, days).tolist(), new_day.tolist(),
            states, strict=True,
        )):  # fmt: skip
            yield env.timeout(start - env.now)
            if first:
                pool.add_daily(msgs, next(daily))
            pool.session(start, end, day, week, state, None if checks is None else checks[k])

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
    n, o = rep.n_results, rep.orders
    actions = safety_actions(
        sc, cal, tl, o.unit, o.abnormal, o.critical, rep.lab_ready, it.done[:n], pool_of_kind
    )
    rep.action_time, rep.failed_call = actions.action, actions.failed_call
    return rep


def _iso_weeks(cal: Calendar, days: np.ndarray) -> np.ndarray:
    return (days + cal.start.weekday()) // 7


def run_replication(
    sc: LoadedScenario,
    replication: int = 0,
    root_seed: int | None = None,
    timeline: Timeline | None = None,
) -> Replication:
    """Build and simulate one replication (on ``timeline`` if given, see :func:`build`)."""
    return simulate(build(sc, replication, root_seed, timeline))
