"""Face validity, calendar-matched: the coexistence effect against a no-cutover twin, and the
placebo that the effect must pass.

The comparison is of the same units in the same calendar weeks (each unit's would-be
coexistence window) in a run and in its no-cutover twin, with the same random numbers
(:mod:`sim.metrics.validity`), so Easter and every other calendar effect is on both sides.
The placebo (same units and dates, lab ordering switched at go-live: no dual period) must give
an odds ratio near 1; the real coexistence odds ratio, with every input at its sourced value,
is then *compared* with the published 1.9-2.4 (Casalino 2009) in the README, not pinned to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sim
from sim.experiment.twin import no_cutover
from sim.metrics.tables import late_flags
from sim.metrics.validity import (
    matched_counts,
    odds_ratio,
    placebo_timeline,
    window_counts,
    windows,
)
from sim.model.replication import run_replication
from sim.sampling.calendar import Calendar
from sim.schedule.schedule import build_schedule

ROOT = Path(__file__).resolve().parent.parent
TINY, FVM = ROOT / "scenarios" / "tiny.yaml", ROOT / "scenarios" / "fvm-2020.yaml"


def test_odds_ratio_and_wald_interval_by_hand():
    ratio, lo, hi = odds_ratio(np.array([20.0, 80.0, 10.0, 90.0]))
    assert ratio == pytest.approx((20 / 80) / (10 / 90))
    half = 1.96 * np.sqrt(1 / 20 + 1 / 80 + 1 / 10 + 1 / 90)
    assert (lo, hi) == pytest.approx((ratio * np.exp(-half), ratio * np.exp(half)))
    with pytest.raises(ValueError, match="empty cell"):
        odds_ratio(np.array([0.0, 5.0, 1.0, 1.0]))


def _timeline(sc):
    return build_schedule(sc).timeline(Calendar(sc.model.horizon.start, sc.model.horizon.end))


def test_the_twin_has_no_switch_and_the_placebo_no_dual_period():
    sc = sim.load_scenario(TINY)
    twin = _timeline(no_cutover(sc))
    end = Calendar(sc.model.horizon.start, sc.model.horizon.end).horizon_minutes
    assert (twin.go_live >= end).all() and (twin.ros_switch >= end).all()
    assert (twin.lab_switch >= end).all()
    tl = _timeline(sc)
    placebo = placebo_timeline(tl)
    assert (placebo.ros_switch == tl.go_live).all() and (placebo.go_live == tl.go_live).all()
    start, end = windows(tl)
    ids = [u.id for u in tl.units]
    # the health centres have a window (28 and 14 days), the ward none
    assert (end - start)[ids.index("vc-early")] == pytest.approx(
        tl.ros_switch[ids.index("vc-early")] - tl.go_live[ids.index("vc-early")]
    )
    assert (end - start)[ids.index("ward")] == 0


def test_window_counts_are_the_abnormal_results_ready_inside_each_window():
    sc = sim.load_scenario(TINY)
    tl = _timeline(sc)
    rep = run_replication(sc, 0)
    start, end = windows(tl)
    late, _ = late_flags(rep)
    o, ready = rep.orders, rep.lab_ready
    by_hand = [0, 0]
    for i in np.flatnonzero(o.abnormal):
        if start[o.unit[i]] <= ready[i] < end[o.unit[i]]:
            by_hand[0 if late[i] else 1] += 1
    assert window_counts(rep, start, end).tolist() == by_hand
    counts = matched_counts(rep, run_replication(no_cutover(sc), 0), tl)
    assert counts[:2].tolist() == by_hand and counts[2:].sum() > 0


@pytest.fixture(scope="module")
def stage1_twin():
    """Stage 1 of the default scenario and its no-cutover twin's runs (2 replications), shared
    by the placebo tests: the twin does not depend on what the placebo changes."""
    sc = sim.load_scenario(FVM, overrides=["horizon.end=2022-07-31"])
    return sc, _timeline(sc), [run_replication(no_cutover(sc), r) for r in range(2)]


def _placebo_counts(sc, tl, twins) -> np.ndarray:
    placebo = placebo_timeline(tl)
    return sum(
        matched_counts(run_replication(sc, r, timeline=placebo), twin, tl)
        for r, twin in enumerate(twins)
    )


@pytest.mark.slow
def test_placebo_without_a_dual_period_leaves_the_odds_unchanged(stage1_twin):
    """Acceptance: the placebo's odds ratio against the calendar-matched twin, pooled over 2
    replications of stage 1, lies in [0.8, 1.25]."""
    counts = _placebo_counts(*stage1_twin)
    assert min(counts) > 100  # enough results on both sides to mean something
    ratio, lo, hi = odds_ratio(counts)
    assert 0.8 <= ratio <= 1.25, (ratio, lo, hi)


@pytest.mark.slow
def test_calendar_matching_removes_the_calendar(stage1_twin):
    """With the go-live's own effects switched off (flat learning curves, no lookups, no
    scheduled workload), what is left between a placebo and its twin in the window weeks is
    the calendar (Easter included), which matching puts on both sides, and the results of
    orders still outstanding in the legacy client at go-live: no detectable effect. The old
    comparison with the units' own other weeks gave 1.97 here (issue 14)."""
    sc, tl, twins = stage1_twin
    flat = sim.with_changes(
        sc,
        [
            "staffing.learning_curve.initial_multiplier=1.0",
            "staffing.learning_curve.ros_initial_multiplier=1.0",
            "policies.lookup_share_at_go_live=0",
            "policies.max_workload_share=0",
        ],
    )
    counts = _placebo_counts(flat, tl, twins)
    assert min(counts) >= 30  # the Wald interval's usual minimum per cell
    ratio, lo, hi = odds_ratio(counts)
    assert lo < 1.0 < hi and hi < 2.5, (ratio, lo, hi)
