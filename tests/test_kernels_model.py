"""The compiled kernels of demand (sim/model/demand.py), labs (sim/model/labs.py) and switches
(sim/model/kernels/switches.py) against plain-numpy twins, on random inputs drawn by hypothesis.

Each twin states the kernel's result as numpy expressions over whole arrays (``searchsorted``
for a category, ``np.interp`` and ``np.maximum.accumulate`` for the lab queue, a stable
``argsort`` for arrival order), the way the model computed them before the loops were
compiled; kernel and twin must agree to the bit.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.demand import (
    _BELOW_ONE,
    DayClock,
    OrderColumns,
    UnitDraws,
    UnitRules,
    _classify,
    _place_orders,
)
from sim.model.labs import LidLoss, _arrival_order, _interp_sorted, _serve

FAST = settings(max_examples=60, deadline=None)
seeds = st.integers(0, 2**32 - 1)


# ------------------------------------------------------------------------------- demand
def classify_twin(u_attr, cat_cum, abn_share, crit_share):
    last = len(cat_cum) - 1
    category = np.minimum(np.searchsorted(cat_cum, u_attr[0] * cat_cum[last], side="right"), last)
    critical = u_attr[2] < crit_share[category]
    abnormal = critical | (u_attr[1] < abn_share[category])
    return category.astype(np.int8), abnormal, critical


@FAST
@given(seeds, st.integers(0, 300), st.integers(1, 6))
def test_classify_matches_its_twin(seed, n, n_cats):
    rng = np.random.default_rng(seed)
    shares = rng.choice([0.0, 0.1, 0.25, 0.5], n_cats)  # ties and empty categories
    shares[-1] += 0.05
    u_attr = rng.random((5, n))
    u_attr[0, : n // 4] = (np.cumsum(shares) / shares.sum())[rng.integers(0, n_cats, n // 4)]
    args = (u_attr, np.cumsum(shares), rng.random(n_cats), rng.random(n_cats) * 0.2)
    for got, want in zip(_classify(*args), classify_twin(*args), strict=True):
        np.testing.assert_array_equal(got, want, strict=True)


def place_orders_twin(unit, draws, days, rules) -> dict[str, np.ndarray]:
    """The placed orders' columns of one unit, from its potential orders, in numpy."""
    n = len(draws.category)
    day = np.repeat(np.arange(len(draws.per_day)), draws.per_day)
    cat = draws.category.astype(np.int64)
    # The k-th order of category c takes that category's k-th turnaround.
    rank = np.empty(n, dtype=np.int64)
    for c in range(len(draws.counts)):
        rank[cat == c] = np.arange((cat == c).sum())
    first_turn = np.concatenate(([0], np.cumsum(draws.counts)[:-1]))
    turn = draws.turnaround[first_turn[cat] + rank]
    minutes = draws.review.copy()
    minutes[draws.abnormal] += draws.action[: draws.abnormal.sum()]
    u_look = draws.u_lookup.astype(np.float32)
    needs = u_look < rules.lookup_max
    look = np.zeros(n, dtype=np.float32)
    look[needs] = draws.lookup[: needs.sum()]
    aside = np.zeros(n, dtype=np.float32)
    if rules.aside_share > 0:
        put = draws.u_aside < rules.aside_share
        aside[put] = draws.aside[: put.sum()]
    placed = np.ones(n, dtype=bool)
    thinned = np.arange(rules.thin_from, rules.thin_from + len(rules.keep))
    placed[thinned[thinned < n]] = rules.keep[: max(0, n - rules.thin_from)]
    minute = rules.minute0 + draws.u_minute * rules.hours * 60.0
    t = days.day_start[day] + minute - np.where(minute >= 180.0, days.dst_shift[day], 0.0)
    signer = np.minimum((draws.u_signer * rules.signers).astype(np.int16), rules.signers - 1)
    cols = {
        "unit": np.full(n, unit),
        "time": t,
        "category": cat,
        "abnormal": draws.abnormal,
        "critical": draws.critical,
        "signer": signer,
        "paper": (t >= rules.paper_from) & (t < rules.paper_to),
        "turnaround": turn,
        "review": minutes,
        "chase_u": np.minimum(draws.chase_u.astype(np.float32), _BELOW_ONE),
        "lookup": look,
        "lookup_u": u_look,
        "match_u": draws.u_match,
        "overlooked": aside,
    }
    return {name: col[placed] for name, col in cols.items()}


@FAST
@given(seeds, st.integers(0, 6), st.integers(1, 4), st.booleans())
def test_place_orders_matches_its_twin(seed, n_days, n_cats, downtime):
    rng = np.random.default_rng(seed)
    per_day = rng.integers(0, 6, n_days)
    n = int(per_day.sum())
    category = rng.integers(0, n_cats, n).astype(np.int8)
    abnormal = rng.random(n) < 0.4
    u_lookup = rng.random(n)
    lookup_max = np.float64(rng.choice([0.0, 0.3, 1.0]))
    counts = np.bincount(category, minlength=n_cats)
    aside_share = float(rng.choice([0.0, 0.1, 1.0]))
    u_aside = rng.random(n) if aside_share > 0 else np.empty(0)
    draws = UnitDraws(
        per_day=per_day,
        u_minute=rng.random(n),
        u_signer=rng.random(n),
        u_lookup=u_lookup,
        category=category,
        abnormal=abnormal,
        critical=abnormal & (rng.random(n) < 0.3),
        review=rng.exponential(3.0, n),
        action=rng.exponential(2.0, int(abnormal.sum())),
        chase_u=np.r_[rng.random(n - min(n, 1)), [np.nextafter(1.0, 0.0)] * min(n, 1)],
        lookup=rng.exponential(4.0, int((u_lookup.astype(np.float32) < lookup_max).sum())),
        u_match=rng.random(n).astype(np.float32),
        u_aside=u_aside,
        aside=rng.exponential(1e4, int((u_aside < aside_share).sum())),
        turnaround=rng.exponential(60.0, n),
        counts=counts,
    )
    day_start = np.arange(n_days + 1) * 1440.0 - rng.choice([0.0, 60.0], n_days + 1)
    days = DayClock(day_start, rng.choice([0.0, 60.0, -60.0], n_days))
    thin_from = int(rng.integers(0, n + 1))
    keep = rng.random(int(rng.integers(0, n - thin_from + 1))) < 0.5
    paper = (480.0, 720.0) if downtime else (np.inf, np.inf)
    rules = UnitRules(
        7 * 60.0,
        int(rng.integers(1, 16)),
        int(rng.integers(1, 9)),
        lookup_max,
        aside_share,
        thin_from,
        keep,
        *paper,
    )
    total = n - int((~keep).sum())
    out = OrderColumns(
        np.empty(total + 2, np.int32),
        np.empty(total + 2),
        np.empty(total + 2, np.int8),
        np.empty(total + 2, bool),
        np.empty(total + 2, bool),
        np.empty(total + 2, np.int16),
        np.empty(total + 2, bool),
        *(np.empty(total + 2, np.float32) for _ in range(7)),
    )
    end = _place_orders(out, 2, 5, draws, days, rules)
    assert end == 2 + total
    want = place_orders_twin(5, draws, days, rules)
    for name in OrderColumns._fields:
        col = getattr(out, name)[2:]
        np.testing.assert_array_equal(col, want[name].astype(col.dtype), err_msg=name)


# --------------------------------------------------------------------------------- labs
ascending = st.lists(
    st.floats(-1e4, 1e6, allow_nan=False) | st.just(np.inf), min_size=0, max_size=80
).map(lambda v: np.sort(np.array(v, dtype=float)))


@FAST
@given(ascending, seeds, st.sampled_from([0.0, np.inf]))
def test_interp_sorted_matches_np_interp(x, seed, right):
    rng = np.random.default_rng(seed)
    xp = np.cumsum(rng.choice([1e-9, 0.5, 60.0], int(rng.integers(2, 30))))
    fp = np.cumsum(rng.choice([0.0, 1e-9, 3.0], len(xp)))  # flat stretches too
    out = np.empty(len(x))
    _interp_sorted(x, xp, fp, right, out)
    np.testing.assert_array_equal(out, np.interp(x, xp, fp, right=right))


def serve_twin(idx, arrivals, edges, cum, turnaround, lid, ready, manual) -> None:
    """The Lindley recursion as the module docstring unrolls it, in numpy."""
    k = np.arange(len(arrivals))
    in_capacity_time = np.interp(arrivals, edges, cum, right=cum[-1])
    started = np.interp(np.maximum.accumulate(in_capacity_time - k) + k, cum, edges, right=np.inf)
    done = started + turnaround[idx]
    ready[idx] = done
    if lid.lose_ids:
        in_flight = (arrivals < lid.switch) & (done >= lid.switch)
        manual[idx] = in_flight & (lid.match_u[idx] < lid.share)


@FAST
@given(seeds, st.integers(0, 200), st.booleans())
def test_serve_matches_its_twin(seed, n, lose_ids):
    rng = np.random.default_rng(seed)
    n_hours = 48
    edges = np.arange(n_hours + 1) * 60.0
    capacity = rng.choice([1e-9, 2.0, 20.0], n_hours)  # downtime, busy, idle hours
    cum = np.concatenate([[0.0], np.cumsum(capacity)])
    arrivals = np.sort(rng.choice(rng.random(max(n, 1)) * 2000.0, n))  # ties
    idx = rng.permutation(n + 3)[:n]
    lid = LidLoss(
        float(rng.choice([600.0, np.inf])),
        lose_ids,
        np.float32(0.4),
        rng.random(n + 3).astype(np.float32),
    )
    turnaround = rng.exponential(30.0, n + 3).astype(np.float32)
    ready, manual = np.full(n + 3, -1.0), np.zeros(n + 3, dtype=bool)
    twin_ready, twin_manual = ready.copy(), manual.copy()
    _serve(idx, arrivals, edges, cum, turnaround, lid, ready, manual)
    serve_twin(idx, arrivals, edges, cum, turnaround, lid, twin_ready, twin_manual)
    np.testing.assert_array_equal(ready, twin_ready)
    np.testing.assert_array_equal(manual, twin_manual)


def arrival_order_twin(time, first, units, n_days):
    """Day after day, the units' orders of that day in stored order, stably by time; in order
    when each day's first arrival is after the previous (non-empty) day's last."""
    ids, in_order, last = [], True, -np.inf
    for d in range(n_days):
        day = np.concatenate(
            [np.arange(first[u * n_days + d], first[u * n_days + d + 1]) for u in units]
            + [np.empty(0, dtype=np.int64)]
        )
        if not day.size:
            continue
        day = day[np.argsort(time[day], kind="stable")]
        in_order &= bool(time[day[0]] > last) or not ids
        last = time[day[-1]]
        ids.append(day)
    idx = np.concatenate(ids) if ids else np.empty(0, dtype=np.int64)
    return idx, time[idx], in_order


@FAST
@given(seeds, st.integers(1, 4), st.integers(1, 5), st.booleans())
def test_arrival_order_matches_its_twin(seed, n_units, n_days, overlap):
    rng = np.random.default_rng(seed)
    per_day = rng.integers(0, 5, n_units * n_days)
    first = np.concatenate(([0], np.cumsum(per_day)))
    day = np.tile(np.arange(n_days), n_units).repeat(per_day)
    spread = 1600.0 if overlap else 1440.0
    time = day * 1440.0 + rng.choice(rng.random(4) * spread, len(day))  # ties
    units = np.sort(rng.choice(n_units, int(rng.integers(0, n_units + 1)), replace=False))
    idx, arrivals, in_order = _arrival_order(time, first, units, n_days)
    twin_idx, twin_arrivals, twin_in_order = arrival_order_twin(time, first, units, n_days)
    assert in_order == twin_in_order
    if in_order:
        np.testing.assert_array_equal(idx, twin_idx)
        np.testing.assert_array_equal(arrivals, twin_arrivals)


# ----------------------------------------------------------------------------- switches
@FAST
@given(seeds, st.integers(1, 6), st.integers(0, 200))
def test_in_new_system_answers_as_the_timeline_does(seed, n_units, n):
    """The compiled predicate against ``Timeline.home_new`` and ``client_new``, with switches
    that never come (inf), rollbacks and times on the switch and rollback bounds."""
    from sim.model.kernels.switches import in_new_system
    from sim.schedule.timeline import Timeline

    rng = np.random.default_rng(seed)
    go = np.where(rng.random(n_units) < 0.2, np.inf, rng.integers(0, 100, n_units) * 10.0)
    ros = go + rng.integers(0, 5, n_units) * 10.0
    rb_start = np.where(rng.random(n_units) < 0.5, np.inf, go + 10.0)
    rb_end = rb_start + rng.integers(0, 4, n_units) * 10.0
    tl = Timeline([], go, ros, go, go, rb_start, rb_end, [], np.empty(0), np.zeros(n_units, int))
    units = rng.integers(0, n_units, n)
    t = rng.integers(-2, 120, n) * 10.0  # on the 10-minute grid of every bound
    for switch, answer in ((go, tl.home_new), (ros, tl.client_new)):
        got = [in_new_system(x, u, switch, rb_start, rb_end) for x, u in zip(t, units, strict=True)]
        np.testing.assert_array_equal(np.array(got, dtype=bool), answer(units, t))
