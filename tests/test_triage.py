"""Checking the second inbox (sim/model/triage.py): the order of work by hand, the draws, and
its effect on a small scenario as a paired comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import sim
from sim.experiment.twin import no_cutover
from sim.model.inbox import HOME_NEW, LEGACY, NEW, NORMAL, URGENT, WORKLOAD
from sim.model.replication import build
from sim.model.triage import second_inbox_checks
from sim.sampling.streams import Streams
from tests.test_inbox import make_pool

TINY = Path(__file__).resolve().parent.parent / "scenarios" / "tiny.yaml"

# Home is Millennium. A legacy abnormal result and a legacy normal one, a Millennium normal
# one (10 minutes each), 30 minutes of messages, a 5-minute switch, a 120-minute session.
ITEMS = [(0, 10, URGENT, LEGACY), (0, 10, NORMAL, LEGACY), (0, 10, NORMAL, NEW)]


def _work(checks: np.ndarray | None) -> list[float]:
    pool, it = make_pool(ITEMS, home_new=HOME_NEW, sessions=((0.0, 120.0),))
    pool.add_daily(np.array([30.0]), np.zeros((len(WORKLOAD), 1)))
    pool.session(0.0, 120.0, day=0, week=0, checks=checks)
    return it.done.tolist()


def test_a_signer_who_checks_works_the_second_inbox_abnormal_results_before_the_messages():
    # switch 0-5 and the legacy abnormal result 5-15; messages 15-45; Millennium normal 45-55;
    # the legacy normal result still last, 55-65 (the inbox is open: no second switch)
    assert _work(np.array([True])) == [15, 65, 55]


def test_a_signer_who_does_not_check_leaves_the_second_inbox_for_when_time_is_left():
    # messages 0-30; Millennium normal 30-40; switch and legacy abnormal 40-55; legacy normal
    # 55-65. No checks at all is the same as nobody checking.
    assert _work(np.array([False])) == [55, 65, 40]
    assert _work(None) == [55, 65, 40]


def test_checks_are_drawn_per_signer_and_session_at_the_share():
    units = build(sim.load_scenario(TINY), 0).timeline.units
    streams = Streams(1, 0)
    assert second_inbox_checks(0.0, streams, units, 50) is None
    assert second_inbox_checks(1.0, streams, units, 50).all()
    checks = second_inbox_checks(0.3, streams, units, 2000)
    assert checks.shape == (2000, sum(u.signers for u in units))
    n = checks.size  # 99.9 % binomial interval around the share
    lo, hi = stats.binom.ppf([0.0005, 0.9995], n, 0.3) / n
    assert lo <= checks.mean() <= hi


def test_every_variant_and_the_twin_see_the_same_checks():
    scenarios = [
        sim.load_scenario(
            TINY,
            overrides=[
                "staffing.second_inbox_check_share=0.4",
                f"policies.coexistence_window_days={window}",
            ],
        )
        for window in (7, 28)
    ]
    scenarios.append(no_cutover(scenarios[0]))
    got = [{k: p.cfg.second_checks for k, p in build(sc, 3).pools.items()} for sc in scenarios]
    for other in got[1:]:
        for kind, checks in got[0].items():
            np.testing.assert_array_equal(checks, other[kind])


@pytest.mark.slow
def test_checking_every_session_protects_abnormal_results_when_messages_crowd_the_session():
    """With an hour of messages a day, the second inbox is rarely reached when left for last;
    checked every session, its abnormal results are signed before the messages. Paired over
    replications (common random numbers), 95 % t interval of the difference."""

    def late(share: float) -> np.ndarray:
        sc = sim.load_scenario(
            TINY,
            overrides=[
                "site_kinds.health_centre.message_minutes_per_day=60",
                f"staffing.second_inbox_check_share={share}",
            ],
        )
        return np.array([sim.run_one(sc, r).kpis["late_abnormal"] for r in range(5)])

    d = late(1.0) - late(0.0)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    assert d.mean() + half < 0, (d, half)
