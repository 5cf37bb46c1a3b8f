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
    """All orders of a replication, one entry per order (struct of arrays)."""

    unit: np.ndarray  # int32
    time: np.ndarray  # order time, minutes
    category: np.ndarray  # int8, index into test_categories
    abnormal: np.ndarray  # bool (critical results are abnormal too)
    critical: np.ndarray  # bool
    signer: np.ndarray  # int16, the orderer's index within the unit
    turnaround: np.ndarray  # minutes of analysis after the lab starts the sample
    review: np.ndarray  # minutes to sign (plus acting on it when abnormal)
    chase: np.ndarray  # minutes of a chase task, if one arises
    lookup: np.ndarray  # minutes of a legacy lookup, if one is needed
    lookup_u: np.ndarray  # uniform deciding whether a lookup is needed
    match_u: np.ndarray  # uniform deciding manual matching (paper orders, lost LID)
    match_delay: np.ndarray  # minutes a manual match takes
    back_entry: np.ndarray  # minutes to enter a paper order afterwards
    paper: np.ndarray  # bool: placed during cutover downtime
    potential_per_day: np.ndarray  # (units, days) potential demand before reduction
    placed_per_day: np.ndarray  # (units, days) orders actually placed

    def __len__(self) -> int:
        return len(self.time)


def role_spec(sc: LoadedScenario, kind: str, role: str) -> DistributionSpec:
    """The distribution bound to an input role, with the site kind's override if any."""
    name = sc.model.site_kinds[kind].inputs.get(role, sc.model.inputs[role])
    return sc.library[name]


def generate_orders(sc: LoadedScenario, cal: Calendar, tl: Timeline, streams: Streams) -> Orders:
    """Draw every unit's orders over the horizon."""
    s = sc.model
    cats = s.test_categories
    cat_cum = np.cumsum([c.share for c in cats])
    abn_share = np.array([c.abnormal_share for c in cats])
    crit_share = np.array([c.critical_share for c in cats])
    red = s.policies.volume_reduction
    down_hours = s.policies.cutover_downtime_hours
    h, m = map(int, s.policies.cutover_downtime_start.split(":"))
    down_offset = h * 60 + m
    n_days = cal.n_days
    day_idx = np.arange(n_days)
    per_order = [k for k in Orders.__dataclass_fields__ if not k.endswith("_per_day")]
    parts: dict[str, list[np.ndarray]] = {k: [] for k in per_order}
    potential = np.zeros((len(tl.units), n_days), dtype=np.int32)
    placed = np.zeros((len(tl.units), n_days), dtype=np.int32)
    for i, u in enumerate(tl.units):
        kind = s.site_kinds[u.kind]
        rate = u.orders_per_day * np.asarray(kind.weekday_profile)[cal.weekday]
        rate = np.where(cal.holiday_mask, rate * kind.holiday_factor, rate)
        rng = streams.rng(f"orders/{u.id}")
        counts = rng.poisson(rate)
        n = int(counts.sum())
        days = np.repeat(day_idx, counts)
        h0, h1 = kind.order_hours
        minute = h0 * 60.0 + rng.random(n) * (h1 - h0) * 60.0
        t = cal.local_minutes(days, minute)
        uni = streams.rng(f"attributes/{u.id}").random((6, n))
        u_keep, u_cat, u_abn, u_crit, u_signer, u_lookup = uni
        match_u = streams.rng(f"matching/{u.id}").random(n)
        category = np.searchsorted(cat_cum, u_cat * cat_cum[-1], side="right").astype(np.int8)
        category = np.minimum(category, len(cats) - 1)
        critical = u_crit < crit_share[category]
        abnormal = critical | (u_abn < abn_share[category])
        hrng = streams.rng(f"handling/{u.id}")

        def draw(role: str, kind: str = u.kind, rng=hrng, size: int = n) -> np.ndarray:
            spec = role_spec(sc, kind, role)
            return in_minutes(spec, spec.sample(rng, size))

        review = draw("review_time") + np.where(abnormal, draw("abnormal_action_time"), 0.0)
        chase, lookup = draw("chase_time"), draw("lookup_time")
        back_entry, match_delay = draw("back_entry_time"), draw("manual_matching_delay")
        turnaround = np.empty(n)
        for c, cat in enumerate(cats):
            mask = category == c
            spec = sc.library[cat.turnaround]
            trng = streams.rng(f"turnaround/{u.id}/{cat.id}")
            turnaround[mask] = in_minutes(spec, spec.sample(trng, int(mask.sum())))
        # Planned volume reduction around go-live thins potential orders.
        go = tl.go_live[i]
        keep = np.ones(n, dtype=bool)
        if np.isfinite(go) and red.share > 0:
            go_day = cal.day_index(min(go, cal.horizon_minutes - 1))
            in_window = (days >= go_day - red.days_before) & (days < go_day + red.days_after)
            keep = ~in_window | (u_keep >= red.share)
        paper = np.zeros(n, dtype=bool)
        if np.isfinite(go) and down_hours > 0 and go < cal.horizon_minutes:
            down_start = cal.local_minutes(np.array([cal.day_index(go)]), np.array([down_offset]))[
                0
            ]
            paper = (t >= down_start) & (t < down_start + down_hours * 60.0)
        potential[i] = counts
        placed[i] = np.bincount(days[keep], minlength=n_days)
        signer = np.minimum((u_signer * u.signers).astype(np.int16), u.signers - 1)
        cols = {
            "unit": np.full(n, i, dtype=np.int32),
            "time": t,
            "category": category,
            "abnormal": abnormal,
            "critical": critical,
            "signer": signer,
            "turnaround": turnaround,
            "review": review,
            "chase": chase,
            "lookup": lookup,
            "lookup_u": u_lookup,
            "match_u": match_u,
            "match_delay": match_delay,
            "back_entry": back_entry,
            "paper": paper,
        }
        for k, v in cols.items():
            parts[k].append(v[keep])
    data = {k: np.concatenate(v) for k, v in parts.items() if v}
    return Orders(**data, potential_per_day=potential, placed_per_day=placed)
