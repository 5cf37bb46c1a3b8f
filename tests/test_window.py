"""The window's costs, each checked by hand: the shared go-live support pool, the learning
clock it drives, the second learning step at the ROS switch, and dual work per item.

``tiny.yaml``: vc-early goes live one window before the lab switch (2022-04-05), vc-late half
a window before, the ward with the lab; health centres have 5 signers, the ward 3.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.metrics.tables import tabulate
from sim.model.demand import mean_minutes
from sim.model.dualwork import dual_items
from sim.model.ledger import ACTIVITIES, WORKLOAD
from sim.model.orderentry import add_order_entry_learning
from sim.model.replication import build, simulate
from sim.model.staff import UnitClock, UnitState
from sim.model.support import Support, allocate, support_periods
from sim.sampling.calendar import Calendar
from sim.schedule.schedule import build_schedule

TINY = Path(__file__).resolve().parent.parent / "scenarios" / "tiny.yaml"


def _setup(*overrides: str):
    sc = sim.load_scenario(TINY, overrides=list(overrides))
    cal = Calendar(sc.model.horizon.start, sc.model.horizon.end)
    return sc, cal, build_schedule(sc).timeline(cal)


def _day(cal: Calendar, y: int, m: int, d: int) -> int:
    return cal.day_index(dt.date(y, m, d))


def test_support_is_asked_for_in_the_go_live_and_ros_weeks():
    _, cal, tl = _setup("policies.coexistence_window_days=28", "staffing.support_days=21")
    period = support_periods(tl, cal, 21)
    ids = [u.id for u in tl.units]
    early = period[ids.index("vc-early")]
    # go-live 2022-03-08 for 21 days (to 03-28), then the ROS switch 2022-04-05 for 21 days
    assert early.sum() == 42
    assert early[_day(cal, 2022, 3, 8)] and early[_day(cal, 2022, 3, 28)]
    assert not early[_day(cal, 2022, 3, 29)] and not early[_day(cal, 2022, 4, 4)]
    assert early[_day(cal, 2022, 4, 5)] and not early[_day(cal, 2022, 4, 26)]
    # the ward goes live with its ROS switch: one period, not two
    assert period[ids.index("ward")].sum() == 21


def test_an_area_short_of_support_shares_it_in_proportion_to_demand():
    sc, cal, tl = _setup(
        "policies.coexistence_window_days=28",
        "staffing.super_users_per_10_staff=1.0",
        "areas[south].support_per_day=0.5",
    )
    s = allocate(sc, cal, tl)
    ids = [u.id for u in tl.units]
    early, late, ward = (ids.index(x) for x in ("vc-early", "vc-late", "ward"))
    # 2022-04-05: every unit asks (vc-early and vc-late switch ROS, the ward goes live):
    # 5, 5 and 3 signers at 1 per 10 ask for 0.5 + 0.5 + 0.3 = 1.3 supporters; 0.5 are there.
    d = _day(cal, 2022, 4, 5)
    assert s.demand[[early, late, ward], d] == pytest.approx([0.5, 0.5, 0.3])
    assert s.share_met[:, d] == pytest.approx(0.5 / 1.3)
    assert s.unmet[:, d].sum() == pytest.approx(0.8)
    assert s.received_per_10[ward, d] == pytest.approx(0.5 / 1.3)
    # 2022-03-10: only vc-early asks (0.5), and gets all of it
    d = _day(cal, 2022, 3, 10)
    assert s.unmet[:, d].sum() == 0 and s.received_per_10[early, d] == 1.0
    assert s.received_per_10[ward, d] == 0.0  # not asking: no help


def test_without_a_limit_every_unit_gets_its_planned_ratio():
    sc, cal, tl = _setup("staffing.super_users_per_10_staff=1.5")
    s = allocate(sc, cal, tl)
    assert (s.share_met == 1).all() and s.unmet.sum() == 0
    assert set(np.unique(s.received_per_10)) == {0.0, 1.5}


def test_the_learning_clock_runs_faster_on_helped_days():
    cal = Calendar(dt.date(2022, 3, 1), dt.date(2022, 3, 31))  # DST on 03-27: a 23-hour day
    rate = np.ones((1, cal.n_days))
    rate[0, 2] = 2.0
    clock = UnitClock(cal, rate)
    units = np.array([0])
    starts = cal.day_start
    t = np.array([[starts[2] + 60.0], [starts[3]], [starts[30] - 10.0]])
    # a whole day at twice the rate counts as two days
    assert clock.at(t, units)[:, 0] == pytest.approx(
        [starts[2] + 120.0, starts[3] + 1440.0, starts[30] - 10.0 + 1440.0]
    )
    assert clock.at(np.array([[np.inf]]), units)[0, 0] == np.inf


def _state(*overrides: str):
    sc, cal, tl = _setup(*overrides)
    support = allocate(sc, cal, tl)
    return sc, tl, UnitState(sc, tl, cal, support)


def test_a_second_learning_step_starts_at_the_ros_switch():
    sc, tl, state = _state(
        "staffing.super_users_per_10_staff=0",  # no help: the clock is real time
        "policies.coexistence_window_days=28",
        "staffing.learning_curve.initial_multiplier=2.0",
        "staffing.learning_curve.ros_initial_multiplier=3.0",
        "staffing.learning_curve.time_constant_days=21",
    )
    early = np.array([[u.id for u in tl.units].index("vc-early")])
    go, ros = tl.go_live[early[0]], tl.ros_switch[early[0]]
    t = np.array([go + 7 * 1440.0, ros + 3 * 1440.0])
    _, learn, look, _ = state.at(t, early)
    # signing follows the go-live curve alone; the second step is on order entry
    assert learn[0, 0] == pytest.approx(1 + np.exp(-7 / 21))
    days_live = (ros - go) / 1440.0 + 3
    assert learn[1, 0] == pytest.approx(1 + np.exp(-days_live / 21))
    excess = state.ordering_excess(t, np.repeat(early, 2))
    assert excess == pytest.approx([0.0, 2 * np.exp(-3 / 21)])
    pol = sc.model.policies
    assert look[0, 0] == pytest.approx(
        pol.lookup_share_at_go_live * 0.5 ** (7 / pol.lookup_half_life_days)
    )


def test_order_entry_learning_is_orders_times_entry_time_times_the_excess():
    """For vc-early, each day's ``order_entry`` workload is the sum over its lab orders placed
    in Millennium that day of 1 min (60 s entry time) x 2 exp(-days since ROS / 21)."""
    sc = sim.load_scenario(
        TINY,
        overrides=[
            "staffing.super_users_per_10_staff=0",  # the clock is real time
            "policies.coexistence_window_days=28",
            "staffing.learning_curve.ros_initial_multiplier=3.0",
            "staffing.learning_curve.time_constant_days=21",
        ],
    )
    rep = build(sc, 0)
    cal, tl, o = rep.calendar, rep.timeline, rep.orders
    assert mean_minutes(sc.library[sc.model.inputs["order_entry_time"]]) == pytest.approx(1.0)
    workload = np.zeros((len(WORKLOAD), len(tl.units), cal.n_days))
    add_order_entry_learning(sc, cal, tl, o, rep.legacy, rep.unit_state, workload)
    u = [x.id for x in tl.units].index("vc-early")
    ros = tl.ros_switch[u]
    by_hand = np.zeros(cal.n_days)
    for i in np.flatnonzero((o.unit == u) & ~rep.legacy):
        if ros <= o.time[i] < cal.horizon_minutes:
            by_hand[cal.day_index(o.time[i])] += 2 * np.exp(-(o.time[i] - ros) / (21 * 1440))
    assert by_hand.sum() > 10  # the unit ordered in Millennium after its switch
    assert workload[WORKLOAD.index("order_entry"), u] == pytest.approx(by_hand)
    # before its ROS switch a unit orders in its legacy client: no order-entry learning
    assert workload[WORKLOAD.index("order_entry"), u, : cal.day_index(ros)].sum() == 0


def test_the_shorter_the_window_the_more_the_curves_overlap():
    peak = {}
    for w in (7, 28):
        _, tl, state = _state(
            "staffing.super_users_per_10_staff=0", f"policies.coexistence_window_days={w}"
        )
        early = np.array([[u.id for u in tl.units].index("vc-early")])
        peak[w] = state.at(np.array([tl.ros_switch[early[0]]]), early)[1][0, 0]
    assert peak[7] > peak[28]


def test_help_shortens_the_curve_by_the_speedup():
    # vc-early at 1 per 10 all through its first 21 days: the clock runs 1 / (1 - 0.3) fast
    _, tl, state = _state(
        "staffing.super_users_per_10_staff=1.0",
        "staffing.super_user_speedup=0.3",
        "policies.coexistence_window_days=28",
        "staffing.learning_curve.initial_multiplier=2.0",
        "staffing.learning_curve.time_constant_days=21",
    )
    early = np.array([[u.id for u in tl.units].index("vc-early")])
    go = tl.go_live[early[0]]
    learn = state.at(np.array([go + 7 * 1440.0]), early)[1][0, 0]
    assert learn == pytest.approx(1 + np.exp(-7 / 0.7 / 21))


def test_dual_work_is_orders_times_per_order_plus_abnormal_times_cross_documentation():
    """For one health centre: the dual-system hours it books are its legacy orders during
    coexistence x the per-order cost, plus its abnormal legacy results x the
    cross-documentation cost, plus a whole number of logins (one per session in which a
    signer opened the second inbox)."""
    sc = sim.load_scenario(TINY, overrides=["staffing.absence_share=0"])
    rep = simulate(build(sc, 0))
    tl, o = rep.timeline, rep.orders
    u = [x.id for x in tl.units].index("vc-early")
    # counted by hand from the orders: placed in the legacy client between go-live and the
    # ROS switch; abnormal, back between go-live and the horizon's end, reaching the inbox
    mine = o.unit == u
    go, ros, end = tl.go_live[u], tl.ros_switch[u], rep.calendar.horizon_minutes
    n_orders = int((mine & rep.legacy & (o.time >= go) & (o.time < ros)).sum())
    arrives = np.isnan(rep.orphan_time) & ~rep.rerouted  # before the run: fates on arrival
    ready = rep.lab_ready
    n_abnormal = int(
        (mine & rep.legacy & o.abnormal & arrives & (ready >= go) & (ready < end)).sum()
    )
    ordered, noted = dual_items(tl, rep.calendar, o, rep.legacy, ready, arrives)
    assert (int(ordered[mine].sum()), int(noted[mine].sum())) == (n_orders, n_abnormal)
    assert n_orders > 100 and n_abnormal > 30
    per_order = mean_minutes(sc.library["legacy_order_switch_time"])
    per_abnormal = mean_minutes(sc.library["abnormal_cross_documentation_time"])
    login = mean_minutes(sc.library["inbox_switch_cost"])
    assert (per_order, per_abnormal, login) == pytest.approx((0.5, 1.0, 1.0))
    pool = rep.pools["health_centre"]
    booked = pool.staff_minutes[:, ACTIVITIES.index("dual_system"), list(pool.units).index(u)]
    logins = (booked.sum() - n_orders * per_order - n_abnormal * per_abnormal) / login
    assert logins == pytest.approx(round(logins), abs=1e-6)
    days_live = int(np.ceil((end - go) / 1440.0))
    assert 0 < round(logins) <= 5 * 2 * days_live  # 5 signers, 2 sessions a working day


def test_support_unmet_is_a_column_and_a_kpi():
    sc = sim.load_scenario(TINY, overrides=["areas[south].support_per_day=0.5"])
    rep = simulate(build(sc, 0))
    t = tabulate(rep)
    assert isinstance(rep.support, Support)
    assert t.site_days["support_unmet"].sum() == pytest.approx(rep.support.unmet.sum())
    assert t.kpis["support_unmet_days"] == pytest.approx(rep.support.unmet.sum())
    assert t.kpis["support_unmet_days"] > 0
