"""Demand: lab orders per unit, day and hour, with everything drawn up front, vectorized.

Each unit's orders are drawn from its own named streams, for *potential* demand (no planned
reduction), with every per-order attribute (category, flags, orderer, handling times) drawn
for every potential order. The planned volume reduction around go-live then thins orders with
a pre-drawn uniform. So two variants that move a go-live share the very same orders on every
day the reduction does not touch, and the same handling time for the same order: common
random numbers by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.calendar import Calendar
from sim.distributions import DistributionSpec
from sim.scenario import LoadedScenario
from sim.streams import Streams
from sim.systems import Timeline

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
    chase: np.ndarray  # minutes of a chase task, if one arises
    lookup: np.ndarray  # minutes of a legacy lookup, if one is needed
    lookup_u: np.ndarray  # uniform deciding whether a lookup is needed
    match_u: np.ndarray  # uniform deciding manual matching (paper orders, lost LID)


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
    unit, with the placed orders only.
    """
    s = sc.model
    cats = s.test_categories
    cat_cum = np.cumsum([c.share for c in cats])
    abn_share = np.array([c.abnormal_share for c in cats])
    crit_share = np.array([c.critical_share for c in cats])
    n_days = cal.n_days
    day_idx = np.arange(n_days)
    red = s.policies.volume_reduction
    potential = np.zeros((len(tl.units), n_days), dtype=np.int32)
    placed = np.zeros_like(potential)
    kept: list[np.ndarray | None] = []  # per unit: which potential orders are placed (None: all)
    for i, u in enumerate(tl.units):
        kind = s.site_kinds[u.kind]
        rate = u.orders_per_day * np.asarray(kind.weekday_profile)[cal.weekday]
        rate = np.where(cal.holiday_mask, rate * kind.holiday_factor, rate)
        potential[i] = streams.rng(f"orders/{u.id}").poisson(rate)
        days = np.repeat(day_idx, potential[i])
        u_keep = streams.rng(f"attributes/{u.id}").random(len(days))
        go = tl.go_live[i]
        keep = None
        if np.isfinite(go) and go < cal.horizon_minutes and red.share > 0:
            go_day = cal.day_index(go)  # planned volume reduction thins potential orders
            window = (days >= go_day - red.days_before) & (days < go_day + red.days_after)
            keep = ~window | (u_keep >= red.share)
        kept.append(keep)
        placed[i] = potential[i] if keep is None else np.bincount(days[keep], minlength=n_days)
    total = int(placed.sum())
    f32 = np.float32
    cols = {
        "unit": np.empty(total, np.int32),
        "time": np.empty(total),
        "category": np.empty(total, np.int8),
        "abnormal": np.empty(total, bool),
        "critical": np.empty(total, bool),
        "signer": np.empty(total, np.int16),
        "turnaround": np.empty(total, f32),
        "review": np.empty(total, f32),
        "chase": np.empty(total, f32),
        "lookup": np.empty(total, f32),
        "lookup_u": np.empty(total, f32),
        "match_u": np.empty(total, f32),
        "paper": np.zeros(total, bool),
    }
    a = 0
    for i, u in enumerate(tl.units):
        n = int(potential[i].sum())
        b = a + int(placed[i].sum())
        keep = kept[i]

        def put(name: str, values: np.ndarray, sl=slice(a, b), keep=keep) -> None:
            cols[name][sl] = values if keep is None else values[keep]

        kind = s.site_kinds[u.kind]
        days = np.repeat(day_idx, potential[i])
        h0, h1 = kind.order_hours
        minute = h0 * 60.0 + streams.rng(f"orders/{u.id}").random(n) * (h1 - h0) * 60.0
        t = cal.local_minutes(days, minute)
        u_cat, u_abn, u_crit, u_signer, u_lookup = streams.rng(f"attributes/{u.id}").random((5, n))
        category = np.minimum(
            np.searchsorted(cat_cum, u_cat * cat_cum[-1], side="right"), len(cats) - 1
        )
        critical = u_crit < crit_share[category]
        abnormal = critical | (u_abn < abn_share[category])
        hrng = streams.rng(f"handling/{u.id}")

        def draw(role: str, size: int, kind: str = u.kind, rng=hrng) -> np.ndarray:
            spec = role_spec(sc, kind, role)
            return in_minutes(spec, spec.sample(rng, size))

        review = draw("review_time", n)
        review[abnormal] += draw("abnormal_action_time", int(abnormal.sum()))
        cols["unit"][a:b] = i
        put("time", t)
        put("category", category)
        put("abnormal", abnormal)
        put("critical", critical)
        put("signer", np.minimum((u_signer * u.signers).astype(np.int16), u.signers - 1))
        put("review", review)
        put("chase", draw("chase_time", n))
        put("lookup", draw("lookup_time", n))
        put("lookup_u", u_lookup)
        put("match_u", streams.rng(f"matching/{u.id}").random(n))
        turnaround = np.empty(n, f32)
        for c, cat in enumerate(cats):
            mask = category == c
            spec = sc.library[cat.turnaround]
            trng = streams.rng(f"turnaround/{u.id}/{cat.id}")
            turnaround[mask] = in_minutes(spec, spec.sample(trng, int(mask.sum())))
        put("turnaround", turnaround)
        go = tl.go_live[i]
        if np.isfinite(go) and go < cal.horizon_minutes:
            put("paper", _in_downtime(s.policies, cal, cal.day_index(go), t))
        a = b
    inputs = OrderInputs(**{k: cols.pop(k) for k in OrderInputs.__dataclass_fields__})
    return Orders(**cols, potential_per_day=potential, placed_per_day=placed), inputs


def _in_downtime(pol, cal: Calendar, go_day: int, t: np.ndarray) -> np.ndarray:
    """Orders placed while the systems are down for the cutover (on paper)."""
    if pol.cutover_downtime_hours <= 0:
        return np.zeros(len(t), dtype=bool)
    h, m = map(int, pol.cutover_downtime_start.split(":"))
    start = cal.local_minutes(np.array([go_day]), np.array([h * 60 + m]))[0]
    return (t >= start) & (t < start + pol.cutover_downtime_hours * 60.0)


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
