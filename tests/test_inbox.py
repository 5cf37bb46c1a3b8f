"""Signing sessions worked on paper: deterministic items, sign times derived by hand.

Each case sets up a signer pool directly (no scenario), runs one or two sessions and checks
the completion minute of every item against the order of work in sim/model/inbox.py's docstring.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.inbox import (
    CRITICAL,
    HOME_NEW,
    HOME_NEW_LEGACY_DUE,
    LEGACY,
    NEW,
    NORMAL,
    URGENT,
    WORKLOAD,
    ItemAttributes,
    Items,
    PoolConfig,
    SignerPool,
)


def make_pool(
    items: list[tuple],
    *,
    home_new: int = False,  # HOME_LEGACY (False), HOME_NEW (True) or HOME_NEW_LEGACY_DUE
    learn: float = 1.0,
    present: bool = True,
    switch: float = 5.0,
    overtime_cap: float = 0.0,
    workload_share: float = 0.5,
    refresh: bool = False,
    sessions=((0.0, 60.0),),
) -> tuple[SignerPool, Items]:
    """items: (ready, handling, urgency, inbox[, lookup]) for one signer of one unit."""
    n = len(items)
    it = Items(
        unit=np.zeros(n, dtype=np.int32),
        inbox=np.array([x[3] for x in items], dtype=np.int8),
        ready=np.array([x[0] for x in items], dtype=float),
    )
    attrs = ItemAttributes(
        signer=np.zeros(n, dtype=np.int32),
        urgency=np.array([x[2] for x in items], dtype=np.int8),
        handling=np.array([x[1] for x in items], dtype=float),
        lookup=np.array([x[4] if len(x) > 4 else 0.0 for x in items]),
        lookup_u=np.full(n, 0.5),
        is_chase=np.zeros(n, dtype=bool),
    )
    cfg = PoolConfig(
        signer_unit=np.array([0]),
        presence=np.array([[present] * 3]),
        sessions=np.array(sessions),
        switch_cost=switch,
        overtime_cap=overtime_cap,
        workload_share=workload_share,
        refresh=refresh,
    )

    def state(t):
        return (np.array([home_new]), np.array([learn]), np.array([0.0]), np.array([1.0]))

    return SignerPool(cfg, it, attrs, np.arange(n), state), it


def run(pool: SignerPool, it: Items, sessions=((0.0, 60.0),)) -> np.ndarray:
    for start, end in sessions:
        pool.session(start, end, day=0, week=0)
    return it.done


def test_critical_then_abnormal_then_oldest_normal_and_the_last_one_overruns():
    pool, it = make_pool(
        [(-10, 20, NORMAL, LEGACY), (-5, 15, URGENT, LEGACY), (-1, 10, CRITICAL, LEGACY),
         (-20, 30, NORMAL, LEGACY)]
    )  # fmt: skip
    done = run(pool, it)
    # critical 0-10, abnormal 10-25, oldest normal 25-55, the other starts at 55 < 60: 55-75.
    assert done.tolist() == [75, 25, 10, 55]
    assert pool.overtime_used[0] == 15  # the overrun past the nominal end


def test_items_not_started_before_the_end_wait_for_the_next_session():
    pool, it = make_pool([(0, 40, NORMAL, LEGACY), (0, 40, NORMAL, LEGACY)], sessions=((0, 30),))
    done = run(pool, it, sessions=((0, 30), (100, 130)))
    assert done.tolist() == [40, 140]


def test_dual_mode_puts_the_second_inbox_last_and_pays_the_switch():
    items = [(0, 10, URGENT, LEGACY), (0, 10, NORMAL, NEW)]
    pool, it = make_pool(items, home_new=True)
    # Home is Millennium: its normal result first (0-10), then switch (5) and the legacy
    # abnormal result: 10-25.
    assert run(pool, it).tolist() == [25, 10]
    pool, it = make_pool(items, home_new=False)
    # Home is legacy: the abnormal result first (0-10), then switch and the new one: 10-25.
    assert run(pool, it).tolist() == [10, 25]


def test_near_its_deadline_the_legacy_inbox_is_worked_as_home():
    items = [(0, 10, URGENT, LEGACY), (-5, 10, NORMAL, NEW), (-10, 10, NORMAL, LEGACY)]
    pool, it = make_pool(items, home_new=HOME_NEW_LEGACY_DUE)
    # The legacy abnormal result is worked with the home ones (group 1): switch 0-5, 5-15;
    # then normal results oldest first across both inboxes: the legacy one 15-25 (already
    # open, no second switch), the Millennium one 25-35.
    assert run(pool, it).tolist() == [15, 35, 25]
    pool, it = make_pool(items, home_new=HOME_NEW)
    # Without the deadline near: Millennium normal 0-10, switch 10-15, legacy abnormal 15-25,
    # legacy normal 25-35.
    assert run(pool, it).tolist() == [25, 10, 35]


def test_the_second_inbox_slips_when_no_time_is_left():
    items = [(0, 15, NORMAL, NEW), (0, 10, URGENT, LEGACY)]
    pool, it = make_pool(items, home_new=True, sessions=((0, 15),))
    done = run(pool, it, sessions=((0, 15),))
    assert done[0] == 15 and np.isnan(done[1])
    # Overtime does not rescue it: the signer never opened the second inbox this session.
    pool, it = make_pool(items, home_new=True, overtime_cap=60, sessions=((0, 15),))
    done = run(pool, it, sessions=((0, 15),))
    assert done[0] == 15 and np.isnan(done[1])
    assert pool.overtime_used[0] == 0


def test_overtime_covers_a_second_inbox_that_was_opened():
    items = [(0, 10, NORMAL, NEW), (0, 10, URGENT, LEGACY), (0, 10, URGENT, LEGACY)]
    pool, it = make_pool(items, home_new=True, overtime_cap=60, sessions=((0, 20),))
    done = run(pool, it, sessions=((0, 20),))
    # 0-10 home normal; switch + first legacy urgent 10-25 (started at 10 < 20); the second
    # legacy urgent starts at 25 >= 20, so only in overtime, which is allowed now: 25-35.
    assert done.tolist() == [10, 25, 35]
    assert pool.overtime_used[0] == 15


def test_overtime_is_only_for_urgent_results_and_stops_at_the_cap():
    items = [(0, 30, NORMAL, LEGACY), (0, 20, URGENT, LEGACY), (0, 20, URGENT, LEGACY)]
    pool, it = make_pool(items, overtime_cap=10, sessions=((0, 20),))
    done = run(pool, it, sessions=((0, 20),))
    # Urgent 0-20; the second urgent starts at 20 < 20 + 10 (cap): 20-40; the normal one
    # waits (overtime is not for normal results).
    assert done[1] == 20 and done[2] == 40 and np.isnan(done[0])


def test_workload_takes_at_most_its_share_of_the_session():
    pool, it = make_pool([(0, 10, NORMAL, LEGACY)], workload_share=0.5)
    migration = WORKLOAD.index("migration")
    work = np.zeros((len(WORKLOAD), 1))
    work[migration] = 100
    pool.add_daily(np.zeros(1), work)
    done = run(pool, it)
    assert done.tolist() == [40]  # 30 minutes of migration (half of 60), then the result
    assert pool.workload[migration, 0] == 70


def test_messages_come_between_urgent_and_normal_results():
    pool, it = make_pool([(0, 10, NORMAL, LEGACY), (0, 10, URGENT, LEGACY)])
    pool.add_daily(np.array([20.0]), np.zeros((len(WORKLOAD), 1)))
    assert run(pool, it).tolist() == [40, 10]
    assert pool.messages[0] == 0


def test_learning_curve_multiplies_handling_and_lookups_add_time():
    pool, it = make_pool([(0, 10, NORMAL, NEW, 7.0)], learn=2.0, home_new=True)
    pool.unit_state = lambda t: (np.array([True]), np.array([2.0]), np.array([1.0]), np.ones(1))
    assert run(pool, it).tolist() == [27]  # 10 x 2 + a 7-minute lookup (share 1 > u 0.5)


def test_absent_signer_signs_nothing():
    pool, it = make_pool([(0, 10, CRITICAL, LEGACY)], present=False, overtime_cap=60)
    assert np.isnan(run(pool, it)).all()
    assert pool.overtime_used[0] == 0


def test_an_overrun_delays_the_next_session():
    pool, it = make_pool([(0, 50, NORMAL, LEGACY), (0, 10, NORMAL, LEGACY)], sessions=((0, 30),))
    # First item 0-50 overruns a 30-minute session; the next session at 40 starts at 50.
    assert run(pool, it, sessions=((0, 30), (40, 70))).tolist() == [50, 60]


@pytest.mark.parametrize("refresh", [False, True])
def test_refresh_picks_up_arrivals_inside_an_open_session(refresh):
    pool, it = make_pool(
        [(0, 10, NORMAL, LEGACY), (30, 10, NORMAL, LEGACY)], refresh=refresh, sessions=((0, 100),)
    )
    done = run(pool, it, sessions=((0, 100), (200, 300)))
    assert done[0] == 10
    assert done[1] == (40 if refresh else 210)


def test_switch_is_paid_once_per_session():
    items = [(0, 10, URGENT, LEGACY), (0, 10, NORMAL, LEGACY), (0, 5, NORMAL, NEW)]
    pool, it = make_pool(items, home_new=True)
    # Home normal 0-5, switch 5, legacy urgent 10-20, legacy normal 20-30.
    assert run(pool, it).tolist() == [20, 30, 5]


@pytest.mark.parametrize(("site", "expected"), [(None, np.nan), (np.array([0, 0, 0]), 5.0)])
def test_a_unit_with_nobody_present_is_covered_by_its_site(site, expected):
    # Unit 0 has one signer, away; unit 1 two present signers. With a site, signer 1 (the
    # first present colleague of the site, by signer index 0 % 2) works the result from the
    # session's start: done at 5. Without, it waits.
    n = 1
    it = Items(unit=np.zeros(n, np.int32), inbox=np.zeros(n, np.int8), ready=np.zeros(n))
    attrs = ItemAttributes(
        signer=np.zeros(n, np.int32), urgency=np.full(n, URGENT, np.int8),
        handling=np.full(n, 5.0), lookup=np.zeros(n), lookup_u=np.full(n, 0.5),
        is_chase=np.zeros(n, bool),
    )  # fmt: skip
    cfg = PoolConfig(
        signer_unit=np.array([0, 1, 1]),
        presence=np.array([[False] * 2, [True] * 2, [True] * 2]),
        sessions=np.array([[0.0, 60.0]]),
        switch_cost=0.0,
        overtime_cap=0.0,
        workload_share=0.5,
        cover_after_days=0,
        signer_site=site,
    )

    def state(t):
        return tuple(np.array(x) for x in ([False, False], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0]))

    pool = SignerPool(cfg, it, attrs, np.arange(n), state)
    pool.session(0.0, 60.0, day=0, week=0)
    np.testing.assert_array_equal(it.done, [expected])
