"""Overlooked results (``sim/model/overlooked.py``): the share put aside at first read, how long
they wait, and what happens to one in a legacy inbox that closes before it comes back.

``tiny.yaml`` (extends ``vgr.yaml``: share 0.10, delay exponential with mean 40 days): vc-early
and vc-late sign in two systems until the lab switch, the ward goes live with it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.experiment.twin import no_cutover
from sim.model.demand import generate_orders
from sim.model.overlooked import put_aside_delays, seen_at
from sim.model.replication import build, simulate
from sim.model.staff import legacy_due_from
from sim.model.units import vary_units
from sim.sampling.calendar import Calendar
from sim.sampling.streams import Streams
from sim.schedule.schedule import build_schedule

TINY = Path(__file__).resolve().parent.parent / "scenarios" / "tiny.yaml"
DAY = 1440.0


def _orders(sc, replication: int = 0):
    cal = Calendar(sc.model.horizon.start, sc.model.horizon.end)
    streams = Streams(sc.model.seed, replication)
    tl = vary_units(sc, build_schedule(sc).timeline(cal), streams)
    return generate_orders(sc, cal, tl, streams), streams


def test_delays_by_hand():
    """Share 0.1, exponential with mean 40 days: u = 0.02 is put aside at q = 0.2, 40 ln(1/0.8)
    = 8.926 days; u = 0.08 at q = 0.8, 40 ln 5 = 64.378 days; u = 0.1 and 0.5 are not."""
    minutes_at = lambda q: -40 * DAY * np.log1p(-q)  # noqa: E731 - the exponential quantile
    delays = put_aside_delays(np.array([0.02, 0.5, 0.08, 0.1]), 0.1, minutes_at)
    assert delays / DAY == pytest.approx([8.926, 64.378], abs=1e-3)


def test_a_put_aside_legacy_result_comes_back_at_the_latest_when_its_inbox_is_swept():
    # not put aside; back before an inbox that is never swept; back when it is swept (1000);
    # ready after the sweep started (it is worked as it arrives); not legacy: never capped
    assert seen_at(0.0, 0.0, False, np.inf) == 0
    assert seen_at(100.0, 50.0, True, np.inf) == 150
    assert seen_at(100.0, 5000.0, True, 1000.0) == 1000
    assert seen_at(5000.0, 10.0, True, 1000.0) == 5000
    assert seen_at(100.0, 5000.0, False, 1000.0) == 5100


def test_with_share_zero_nothing_is_drawn_and_every_result_is_seen_when_ready():
    sc = sim.load_scenario(TINY, overrides=["staffing.overlooked_share=0"])
    rep = build(sc, 0)
    assert not any(name.startswith("overlooked/") for name in rep.streams.names)
    n = rep.n_results
    open_ = np.isfinite(rep.items.ready[:n])
    assert np.array_equal(rep.items.ready[:n][open_], rep.lab_ready[open_])


@pytest.mark.parametrize("share", [0.1, 0.3])
def test_the_share_put_aside_and_their_delay_follow_the_inputs(share):
    """Binomial and exponential bounds at 4 standard errors, pooled over 3 replications."""
    sc = sim.load_scenario(TINY, overrides=[f"staffing.overlooked_share={share}"])
    delays = [_orders(sc, r)[0][1].overlooked for r in range(3)]
    n = sum(len(d) for d in delays)
    aside = np.concatenate([d[d > 0] for d in delays]).astype(float) / DAY
    assert abs(len(aside) / n - share) < 4 * math.sqrt(share * (1 - share) / n)
    assert abs(aside.mean() - 40.0) < 4 * 40.0 / math.sqrt(len(aside))


def test_the_same_orders_are_put_aside_for_the_same_time_in_a_variant_and_its_twin():
    """Orders are the same outside the days the planned volume reduction thins, and there
    each carries its own uniform, so matching orders wait alike."""
    sc = sim.load_scenario(TINY)
    (orders, inputs), _ = _orders(sc)
    (t_orders, t_inputs), _ = _orders(no_cutover(sc))

    def waits(orders, inputs) -> dict:
        keys = zip(orders.unit.tolist(), orders.time.tolist(), strict=True)
        return dict(zip(keys, inputs.overlooked.tolist(), strict=True))

    mine, twin = waits(orders, inputs), waits(t_orders, t_inputs)
    common = mine.keys() & twin.keys()
    assert len(common) > 0.7 * len(twin)
    assert all(mine[k] == twin[k] for k in common)
    assert sum(mine[k] > 0 for k in common) > 0


def test_a_put_aside_result_is_not_signed_before_it_comes_back_and_is_late_past_its_threshold():
    """The ward runs on the calendar clock: an abnormal, non-critical result of it put aside
    for longer than the 72 h threshold cannot be acted on in time."""
    sc = sim.load_scenario(TINY, overrides=["staffing.overlooked_share=0.3"])
    rep = simulate(build(sc, 0))
    n, it = rep.n_results, rep.items
    seen, done = it.ready[:n], it.done[:n]
    signed = ~np.isnan(done)
    assert (done[signed] >= seen[signed]).all()
    ward = [u.id for u in rep.timeline.units].index("ward")
    hours = sc.model.site_kinds["hospital_unit"].late_threshold_hours
    o = rep.orders
    long_aside = (
        (o.unit == ward) & o.abnormal & ~o.critical & (seen - rep.lab_ready > hours * 60)
    ) & np.isfinite(seen)
    assert long_aside.sum() > 0
    waited = np.where(np.isnan(done[long_aside]), np.inf, done[long_aside])
    assert (waited - rep.lab_ready[long_aside] > hours * 60).all()


def test_a_legacy_result_put_aside_past_the_sweep_is_signed_by_the_deadline_or_left_over():
    """Put aside in a legacy inbox beyond the day its signers start emptying it, a result comes
    back that day: it is signed before the inbox's deadline, or leaves with the leftovers
    (orphaned at the deadline or rerouted), never signed in the old client after it closed."""
    sc = sim.load_scenario(TINY, overrides=["staffing.overlooked_share=0.3"])
    rep = simulate(build(sc, 0))
    n, it, tl = rep.n_results, rep.items, rep.timeline
    unit = rep.orders.unit
    swept = legacy_due_from(tl, sc.model.policies.lock.priority_days)[unit]
    closed = tl.closed[unit]
    caught = rep.legacy & (rep.lab_ready < swept) & (it.ready[:n] == swept)
    assert caught.sum() > 0
    in_time = it.done[:n][caught] <= closed[caught]
    left = (rep.orphan_time[caught] == closed[caught]) | rep.rerouted[caught]
    assert (in_time | left).all()
    assert in_time.any()
