"""Demand: lab orders per unit, day and hour, with everything drawn up front, vectorized.

Each unit's orders are drawn from its own named streams, for *potential* demand (no planned
reduction), with every per-order attribute (category, flags, orderer, handling times) drawn
for every potential order. The planned volume reduction around go-live then thins orders with
a pre-drawn uniform. So two variants that move a go-live share the very same orders on every
day the reduction does not touch, and the same handling time for the same order: common
random numbers by construction. Two inputs that few orders need are not drawn for every
order: lookup times only for the potential orders that could ever need a lookup (whose
lookup uniform is below the share at go-live, the same orders in every variant that keeps
that share), and chase times only for the orders that are chased, each from the order's own
uniform through the input's quantile function (:func:`chase_minutes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from sim.model.overlooked import put_aside_delays
from sim.sampling.calendar import Calendar
from sim.sampling.distributions import DistributionSpec
from sim.sampling.streams import Streams
from sim.scenario.loading import LoadedScenario
from sim.schedule.timeline import Timeline

MINUTES_PER = {"s": 1 / 60, "min": 1.0, "h": 60.0, "days": 1440.0}


def in_minutes(spec: DistributionSpec, values: np.ndarray) -> np.ndarray:
    """Convert samples of a duration distribution to minutes, by the spec's unit."""
    try:
        return values * MINUTES_PER[spec.unit]
    except KeyError:
        raise ValueError(f"unit {spec.unit!r} is not a duration (s, min, h, days)") from None


def mean_minutes(spec: DistributionSpec) -> float:
    return float(in_minutes(spec, np.array(spec.mean)))


@dataclass
class Orders:
    """All orders of a replication, one entry per order (struct of arrays), stored unit after
    unit (``unit`` never decreases): the model and the tables take a unit's orders as a slice."""

    unit: np.ndarray  # int32
    time: np.ndarray  # order time, minutes
    category: np.ndarray  # int8, index into test_categories
    abnormal: np.ndarray  # bool (critical results are abnormal too)
    critical: np.ndarray  # bool
    signer: np.ndarray  # int16, the orderer's index within the unit
    paper: np.ndarray  # bool: placed during cutover downtime
    potential_per_day: np.ndarray  # (units, days) potential demand before reduction
    placed_per_day: np.ndarray  # (units, days) orders actually placed

    def __len__(self) -> int:
        return len(self.time)


@dataclass
class OrderInputs:
    """Per order, the sampled inputs the model consumes while it is built (float32)."""

    turnaround: np.ndarray  # minutes of analysis after the lab starts the sample
    review: np.ndarray  # minutes to sign (plus acting on it when abnormal)
    chase_u: np.ndarray  # uniform giving the minutes of a chase task, if one arises
    lookup: np.ndarray  # minutes of a legacy lookup, if one is needed
    lookup_u: np.ndarray  # uniform deciding whether a lookup is needed
    match_u: np.ndarray  # uniform deciding manual matching (paper orders, lost LID)
    overlooked: np.ndarray  # minutes a result put aside at first read waits (0: not put aside)


def role_spec(sc: LoadedScenario, kind: str, role: str) -> DistributionSpec:
    """The distribution bound to an input role, with the site kind's override if any."""
    name = sc.model.site_kinds[kind].inputs.get(role, sc.model.inputs[role])
    return sc.library[name]


def generate_orders(
    sc: LoadedScenario, cal: Calendar, tl: Timeline, streams: Streams
) -> tuple[Orders, OrderInputs]:
    """Draw every unit's orders over the horizon.

    Two passes: the first draws each unit's daily counts and which potential orders the
    planned reduction thins out, so that the second can fill preallocated arrays, unit by
    unit, with the placed orders only. Potential orders are in day order, so the thinned ones
    lie in one range of them; each unit's columns are written by one compiled pass.
    """
    s = sc.model
    cats = s.test_categories
    cat_cum = np.cumsum([c.share for c in cats])
    abn_share = np.array([c.abnormal_share for c in cats])
    crit_share = np.array([c.critical_share for c in cats])
    n_days = cal.n_days
    red = s.policies.volume_reduction
    lookup_max = np.float64(s.policies.lookup_share_at_go_live)
    aside_share = float(s.staffing.overlooked_share)
    potential = np.zeros((len(tl.units), n_days), dtype=np.int32)
    placed = np.zeros_like(potential)
    # Per unit: the first potential order of the thinned days, and which of those are placed.
    thinned: list[tuple[int, np.ndarray]] = []
    for i, u in enumerate(tl.units):
        kind = s.site_kinds[u.kind]
        rate = u.orders_per_day * np.asarray(kind.weekday_profile)[cal.weekday]
        rate = np.where(cal.holiday_mask, rate * kind.holiday_factor, rate)
        potential[i] = streams.rng(f"orders/{u.id}").poisson(rate)
        first = np.concatenate(([0], np.cumsum(potential[i])))  # each day's first order
        u_keep = streams.rng(f"attributes/{u.id}").random(first[-1])
        go = tl.go_live[i]
        d0 = d1 = 0  # thinned days
        if np.isfinite(go) and go < cal.horizon_minutes and red.share > 0:
            go_day = cal.day_index(go)  # days within [go - before, go + after)
            d0 = min(max(math.ceil(go_day - red.days_before), 0), n_days)
            d1 = min(max(math.ceil(go_day + red.days_after), d0), n_days)
        keep = u_keep[first[d0] : first[d1]] >= red.share
        placed[i] = potential[i]
        days = np.repeat(np.arange(d1 - d0), potential[i, d0:d1])
        placed[i, d0:d1] = np.bincount(days[keep], minlength=d1 - d0)
        thinned.append((int(first[d0]), keep))
    total = int(placed.sum())
    f32 = np.float32
    cols = {
        "unit": np.empty(total, np.int32),
        "time": np.empty(total),
        "category": np.empty(total, np.int8),
        "abnormal": np.empty(total, bool),
        "critical": np.empty(total, bool),
        "signer": np.empty(total, np.int16),
        "paper": np.empty(total, bool),
        "turnaround": np.empty(total, f32),
        "review": np.empty(total, f32),
        "chase_u": np.empty(total, f32),
        "lookup": np.empty(total, f32),
        "lookup_u": np.empty(total, f32),
        "match_u": np.empty(total, f32),
        "overlooked": np.empty(total, f32),
    }
    out = OrderColumns(**cols)
    day_clock = DayClock(cal.day_start, cal.dst_shift)
    no_paper = (np.inf, np.inf)
    a = 0
    for i, u in enumerate(tl.units):
        n = int(potential[i].sum())
        kind = s.site_kinds[u.kind]
        h0, h1 = kind.order_hours
        u_minute = streams.rng(f"orders/{u.id}").random(n)
        u_attr = streams.rng(f"attributes/{u.id}").random((5, n))
        category, abnormal, critical = _classify(u_attr, cat_cum, abn_share, crit_share)
        hrng = streams.rng(f"handling/{u.id}")

        def draw(role: str, size: int, kind: str = u.kind, rng=hrng) -> np.ndarray:
            spec = role_spec(sc, kind, role)
            return in_minutes(spec, spec.sample(rng, size))

        review = draw("review_time", n)
        action = draw("abnormal_action_time", int(abnormal.sum()))
        chase_u = hrng.random(n)  # few watches become chase tasks: see chase_minutes
        # A lookup is needed while the stored (float32) uniform is below the share, which is
        # at most its value at go-live: lookup times are drawn for those orders alone.
        n_lookup = int((u_attr[4].astype(f32) < lookup_max).sum())  # compared in float64
        lookup = draw("lookup_time", n_lookup)
        u_match = streams.rng(f"matching/{u.id}").random(n)
        u_aside, aside = _NONE, _NONE
        if aside_share > 0:  # no stream is touched when nothing is put aside
            u_aside = streams.rng(f"overlooked/{u.id}").random(n)
            spec = role_spec(sc, u.kind, "overlooked_delay")
            aside = put_aside_delays(
                u_aside, aside_share, lambda q, spec=spec: in_minutes(spec, spec.quantile(q))
            )
        counts = np.bincount(category, minlength=len(cats))
        turnaround = []  # per category, in the order of its orders
        for c, cat in enumerate(cats):
            spec = sc.library[cat.turnaround]
            trng = streams.rng(f"turnaround/{u.id}/{cat.id}")
            turnaround.append(in_minutes(spec, spec.sample(trng, int(counts[c]))))
        go = tl.go_live[i]
        paper = no_paper
        if np.isfinite(go) and go < cal.horizon_minutes:
            paper = _downtime(s.policies, cal, cal.day_index(go)) or no_paper
        start, keep = thinned[i]
        draws = UnitDraws(
            per_day=potential[i],
            u_minute=u_minute,
            u_signer=u_attr[3],
            u_lookup=u_attr[4],
            category=category,
            abnormal=abnormal,
            critical=critical,
            review=review,
            action=action,
            chase_u=chase_u,
            lookup=lookup,
            u_match=u_match,
            u_aside=u_aside,
            aside=aside,
            turnaround=np.concatenate(turnaround),
            counts=counts,
        )
        rules = UnitRules(
            h0 * 60.0, h1 - h0, u.signers, lookup_max, aside_share, start, keep, *paper
        )
        a = _place_orders(out, a, i, draws, day_clock, rules)
    inputs = OrderInputs(**{k: cols.pop(k) for k in OrderInputs.__dataclass_fields__})
    return Orders(**cols, potential_per_day=potential, placed_per_day=placed), inputs


class OrderColumns(NamedTuple):
    """The placed orders' columns that :func:`_place_orders` writes: those of :class:`Orders`
    and then those of :class:`OrderInputs`, per order."""

    unit: np.ndarray
    time: np.ndarray
    category: np.ndarray
    abnormal: np.ndarray
    critical: np.ndarray
    signer: np.ndarray
    paper: np.ndarray
    turnaround: np.ndarray
    review: np.ndarray
    chase_u: np.ndarray
    lookup: np.ndarray
    lookup_u: np.ndarray
    match_u: np.ndarray
    overlooked: np.ndarray


class UnitDraws(NamedTuple):
    """What was drawn for one unit's *potential* orders (placed or thinned), in order."""

    per_day: np.ndarray  # potential orders per day
    u_minute: np.ndarray  # uniform: the minute within the ordering hours
    u_signer: np.ndarray  # uniform: which of the unit's signers orders
    u_lookup: np.ndarray  # uniform deciding a lookup (stored as float32)
    category: np.ndarray  # test category
    abnormal: np.ndarray
    critical: np.ndarray
    review: np.ndarray  # minutes to sign
    action: np.ndarray  # minutes of acting on it, one per abnormal order, in order
    chase_u: np.ndarray  # uniform giving the chase minutes, if chased
    lookup: np.ndarray  # lookup minutes, one per order that can need a lookup, in order
    u_match: np.ndarray  # uniform deciding manual matching
    u_aside: np.ndarray  # uniform deciding whether the result is put aside (empty: never)
    aside: np.ndarray  # minutes put aside, one per potential order put aside, in order
    turnaround: np.ndarray  # minutes of analysis, category after category
    counts: np.ndarray  # orders per category: where each category's turnarounds start


class DayClock(NamedTuple):
    """Per day of the calendar: its first minute and the daylight-saving shift after 03:00."""

    day_start: np.ndarray
    dst_shift: np.ndarray


class UnitRules(NamedTuple):
    """How one unit's potential orders become placed orders."""

    minute0: float  # first minute of the ordering hours in a day
    hours: float  # length of the ordering hours
    signers: int  # orderers in the unit
    lookup_max: float  # a lookup uniform at or above this never needs a lookup
    aside_share: float  # a result is put aside if its uniform is below this
    thin_from: int  # the first potential order of the thinned days ...
    keep: np.ndarray  # ... and, from it on, which are placed
    paper_from: float  # cutover downtime (orders on paper), start minute ...
    paper_to: float  # ... and end minute


_NONE = np.empty(0)  # no draws: nothing is put aside
_BELOW_ONE = np.nextafter(np.float32(1), np.float32(0))  # a float32 uniform stays below 1
_DST_FROM_MINUTE = 180.0  # a day's daylight-saving shift applies from 03:00, as in Calendar


def chase_minutes(
    sc: LoadedScenario, tl: Timeline, orders: Orders, inputs: OrderInputs, chase: np.ndarray
) -> np.ndarray:
    """Minutes of the chase tasks of the orders selected by ``chase``, in order: the
    ``chase_time`` input (of the order's site kind) at the order's own uniform. Only a few
    watches turn into chase tasks, so this beats drawing a time for every order, and an order
    gets the same time in every variant where it is chased."""
    idx = np.flatnonzero(chase)
    kinds = np.array([u.kind for u in tl.units])[orders.unit[idx]]
    out = np.empty(len(idx))
    for kind in np.unique(kinds):
        sel = kinds == kind
        spec = role_spec(sc, str(kind), "chase_time")
        out[sel] = in_minutes(spec, spec.quantile(inputs.chase_u[idx[sel]].astype(np.float64)))
    return out


def _downtime(pol, cal: Calendar, go_day: int) -> tuple[float, float] | None:
    """Start and end minute of the cutover downtime, when orders are placed on paper."""
    if pol.cutover_downtime_hours <= 0:
        return None
    h, m = map(int, pol.cutover_downtime_start.split(":"))
    start = cal.local_minutes(np.array([go_day]), np.array([h * 60 + m]))[0]
    return start, start + pol.cutover_downtime_hours * 60.0


@numba.njit(cache=True)
def _classify(u_attr, cat_cum, abn_share, crit_share):  # pragma: no cover - compiled
    """Test category (by cumulative share) and abnormal and critical flags of each potential
    order, from its uniforms (rows 0-2 of ``u_attr``)."""
    n = u_attr.shape[1]
    category = np.empty(n, dtype=np.int8)
    abnormal = np.empty(n, dtype=np.bool_)
    critical = np.empty(n, dtype=np.bool_)
    last = len(cat_cum) - 1
    for j in range(n):
        x = u_attr[0, j] * cat_cum[last]
        c = 0  # the number of cumulative shares <= x, at most the last category
        while c < last and cat_cum[c] <= x:
            c += 1
        category[j] = c
        critical[j] = u_attr[2, j] < crit_share[c]
        abnormal[j] = critical[j] or u_attr[1, j] < abn_share[c]
    return category, abnormal, critical


@numba.njit(cache=True)
def _place_orders(out, a, unit, draws, days, rules):  # pragma: no cover - compiled
    """Write the placed orders of unit ``unit`` (its :class:`UnitDraws`) into the columns
    ``out`` from row ``a`` on; return the row after the last. Potential order ``j`` is placed
    unless ``rules.keep[j - rules.thin_from]`` says otherwise. Each value is computed as the
    numpy expressions did, so that it is bit for bit the same: the order time as
    ``Calendar.local_minutes`` (``days``), the abnormal action added to the review time in
    float64, and so on. ``draws.lookup`` holds the lookup times of the potential orders whose
    (float32) lookup uniform is below ``rules.lookup_max``, in order; the others never need
    one and get 0."""
    per_day, category, abnormal, counts = (
        draws.per_day,
        draws.category,
        draws.abnormal,
        draws.counts,
    )
    start, keep, lookup_max, signers = rules.thin_from, rules.keep, rules.lookup_max, rules.signers
    next_turn = np.zeros(len(counts), dtype=np.int64)  # each category's next turnaround
    for c in range(1, len(counts)):
        next_turn[c] = next_turn[c - 1] + counts[c - 1]
    next_action = 0
    next_lookup = 0
    next_aside = 0
    j = 0
    for day in range(len(per_day)):
        for _ in range(per_day[day]):
            c = category[j]
            turn = draws.turnaround[next_turn[c]]
            next_turn[c] += 1
            minutes = draws.review[j]
            if abnormal[j]:
                minutes += draws.action[next_action]
                next_action += 1
            u_look = np.float32(draws.u_lookup[j])
            look = np.float32(0.0)
            if u_look < lookup_max:
                look = draws.lookup[next_lookup]
                next_lookup += 1
            put_aside = 0.0
            if rules.aside_share > 0.0 and draws.u_aside[j] < rules.aside_share:
                put_aside = draws.aside[next_aside]
                next_aside += 1
            if 0 <= j - start < len(keep) and not keep[j - start]:
                j += 1
                continue
            minute = rules.minute0 + draws.u_minute[j] * rules.hours * 60.0
            shift = days.dst_shift[day] if minute >= _DST_FROM_MINUTE else 0.0
            t = days.day_start[day] + minute - shift
            out.unit[a] = unit
            out.time[a] = t
            out.category[a] = c
            out.abnormal[a] = abnormal[j]
            out.critical[a] = draws.critical[j]
            out.signer[a] = min(np.int16(draws.u_signer[j] * signers), signers - 1)
            out.paper[a] = t >= rules.paper_from and t < rules.paper_to
            out.turnaround[a] = turn
            out.review[a] = minutes
            out.chase_u[a] = min(np.float32(draws.chase_u[j]), _BELOW_ONE)
            out.lookup[a] = look
            out.lookup_u[a] = u_look
            out.match_u[a] = draws.u_match[j]
            out.overlooked[a] = put_aside
            a += 1
            j += 1
    return a


def draw_for(
    sc: LoadedScenario, tl: Timeline, streams: Streams, orders: Orders, role: str, mask: np.ndarray
) -> np.ndarray:
    """Minutes of ``role`` for the orders selected by ``mask``, one stream per unit and role.

    For inputs that only a few orders need (paper orders, samples matched by hand): drawing
    them for every order would cost more than the rest of the demand.
    """
    out = np.zeros(int(mask.sum()))
    idx = np.flatnonzero(mask)
    units = orders.unit[idx]
    for i in np.unique(units):
        sel = units == i
        u = tl.units[i]
        spec = role_spec(sc, u.kind, role)
        out[sel] = in_minutes(spec, spec.sample(streams.rng(f"{role}/{u.id}"), int(sel.sum())))
    return out
