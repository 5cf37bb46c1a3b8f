"""The whole model: conservation, common random numbers and the direction of effects.

Direction checks compare two variants over the same replications (common random numbers)
and require the 95% t confidence interval of the paired difference to exclude zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sim.metrics.tables import late_flags, tabulate
from sim.model.demand import chase_minutes, generate_orders, in_minutes, role_spec
from sim.model.labs import capacity_curve, result_times
from sim.model.ledger import ACTIVITIES
from sim.model.replication import run_replication
from sim.sampling.calendar import Calendar
from sim.sampling.streams import Streams
from sim.scenario.loading import load_scenario
from sim.schedule.schedule import build_schedule

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
AS_HAPPENED = ROOT / "scenarios" / "as-happened-2024.yaml"
REPS = 8


def _conserve(rep) -> None:
    n = rep.n_results
    signed = ~np.isnan(rep.items.done[:n])
    orphan = ~np.isnan(rep.orphan_time)
    assert not (signed & orphan).any(), "a result both signed and orphaned"
    pending = ~signed & ~orphan
    assert signed.sum() + orphan.sum() + pending.sum() == len(rep.orders) == n
    # Nothing is signed before it is ready or orphaned before it is ready.
    assert (rep.items.done[:n][signed] >= rep.lab_ready[signed]).all()
    assert (rep.orphan_time[orphan] >= rep.lab_ready[orphan]).all()
    tables = tabulate(rep)
    days = tables.site_days
    assert days["orders"].sum() == n
    # The last end-of-day backlog (a running sum of daily arrivals and departures) equals a
    # direct count of results ready by the horizon and neither signed nor orphaned by then.
    end = rep.calendar.horizon_minutes
    open_now = (rep.lab_ready < end) & ~(rep.items.done[:n] < end) & ~(rep.orphan_time < end)
    enters = ~(rep.orphan_time == rep.lab_ready)
    last = days[days["date"] == days["date"].max()]["backlog"].sum()
    assert last == (open_now & enters).sum()
    # Staff minutes booked item by item add up to the time each signer's clock advanced; the
    # lab's calls and on-call reviews are booked outside the sessions (sim/model/safety.py).
    off_session = [ACTIVITIES.index(a) for a in ("critical_calls", "on_call")]
    in_session = np.setdiff1d(np.arange(len(ACTIVITIES)), off_session)
    for pool in rep.pools.values():
        logged = pool.staff_minutes[:, in_session].sum()
        assert logged == pytest.approx(pool.worked.sum(), rel=1e-9, abs=1e-6)
    # ... and the unit-day table carries exactly that time, split by activity, plus calls and
    # reviews.
    clock_hours = sum(pool.worked.sum() for pool in rep.pools.values()) / 60.0
    calls = days[["critical_calls_hours", "on_call_hours"]].to_numpy().sum()
    assert days["worked_hours"].sum() == pytest.approx(clock_hours + calls, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize(
    ("path", "overrides"),
    [
        (TINY, []),
        (TINY, ["policies.lock.mode=reroute", "policies.lock.reroute_capacity_per_day=3"]),
        (TINY, ["policies.lock.mode=lost"]),
        (TINY, ["policies.lock.mode=drain", "policies.lock.drain_days=2"]),
        (AS_HAPPENED, ["horizon.end=2024-12-15"]),
    ],
)
def test_every_order_is_signed_pending_or_orphaned(path, overrides):
    _conserve(run_replication(load_scenario(path, overrides=overrides), replication=2))


def test_lock_policies_decide_the_fate_of_late_legacy_results():
    base = ["policies.lock.drain_days=0"]
    lost = run_replication(load_scenario(TINY, overrides=["policies.lock.mode=lost"]), 0)
    routed = run_replication(load_scenario(TINY, overrides=["policies.lock.mode=reroute"]), 0)
    drained = run_replication(load_scenario(TINY, overrides=base), 0)
    assert (~np.isnan(lost.orphan_time)).sum() > 0
    assert (~np.isnan(routed.orphan_time)).sum() == 0 and routed.rerouted.any()
    # Rerouted results end up in the Millennium inbox, and those of the health centres are
    # signed there. (The ward goes live with its lab's switch and carries both learning steps
    # at once: its backlog does not clear by the horizon's end, rerouted results included.)
    n = routed.n_results
    assert (routed.items.inbox[:n][routed.rerouted] == 1).all()
    ward = [u.id for u in routed.timeline.units].index("ward")
    centres = routed.rerouted & (routed.orders.unit != ward)
    assert centres.any() and np.isfinite(routed.items.done[:n][centres]).mean() > 0.9
    # A drain deadline of zero days orphans as much as losing them at the lock does.
    assert (~np.isnan(drained.orphan_time)).sum() == (~np.isnan(lost.orphan_time)).sum()


def _orders(variant: str, replication: int):
    sc = load_scenario(TINY, variant)
    cal = Calendar(sc.model.horizon.start, sc.model.horizon.end)
    return generate_orders(
        sc, cal, build_schedule(sc).timeline(cal), Streams(sc.model.seed, replication)
    )


def test_variants_share_demand_and_handling_times():
    (two, two_in), (four, four_in) = _orders("window-2w", 4), _orders("window-4w", 4)
    np.testing.assert_array_equal(two.potential_per_day, four.potential_per_day)
    # Orders placed away from both go-live windows are the same orders with the same times.
    cutoff = 14 * 1440.0
    e2, e4 = two.time < cutoff, four.time < cutoff
    assert e2.sum() > 100
    for name in ("time", "unit", "category", "abnormal", "signer"):
        assert np.array_equal(getattr(two, name)[e2], getattr(four, name)[e4]), name
    for name in ("review", "turnaround", "chase_u", "lookup"):
        assert np.array_equal(getattr(two_in, name)[e2], getattr(four_in, name)[e4]), name


def test_lookup_times_exist_exactly_where_a_lookup_can_be_needed():
    """A lookup is needed while an order's lookup uniform is below the share, which is at most
    the share at go-live: those orders, and only those, get a lookup time, and those times
    follow the ``lookup_time`` input (mean within 4 standard errors)."""
    sc = load_scenario(TINY)
    orders, inputs = _orders(None, 3)
    can_need = inputs.lookup_u.astype(float) < sc.model.policies.lookup_share_at_go_live
    assert 0.1 < can_need.mean() < 0.5
    assert (inputs.lookup[can_need] > 0).all() and (inputs.lookup[~can_need] == 0).all()
    kind = sc.model.sites[0].kind
    cal = Calendar(sc.model.horizon.start, sc.model.horizon.end)
    of_kind = np.array([u.kind == kind for u in build_schedule(sc).timeline(cal).units])[
        orders.unit
    ]
    spec = role_spec(sc, kind, "lookup_time")
    mean, sd = in_minutes(spec, np.array(spec.mean)), in_minutes(spec, np.sqrt(spec.variance))
    times = inputs.lookup[can_need & of_kind].astype(float)
    assert abs(times.mean() - mean) < 4 * sd / np.sqrt(len(times))


def test_chase_times_follow_the_input_at_each_orders_own_uniform():
    """Chase minutes are computed for the chased orders alone, from each order's uniform: the
    same order gets the same minutes whichever others are chased, and they follow the
    ``chase_time`` input (mean within 4 standard errors)."""
    sc = load_scenario(TINY)
    orders, inputs = _orders(None, 5)
    tl = build_schedule(sc).timeline(Calendar(sc.model.horizon.start, sc.model.horizon.end))
    every = chase_minutes(sc, tl, orders, inputs, np.ones(len(orders), bool))
    some = np.zeros(len(orders), bool)
    some[::7] = True
    np.testing.assert_array_equal(chase_minutes(sc, tl, orders, inputs, some), every[::7])
    kind = sc.model.sites[0].kind
    of_kind = np.array([u.kind == kind for u in tl.units])[orders.unit]
    spec = role_spec(sc, kind, "chase_time")
    mean, sd = in_minutes(spec, np.array(spec.mean)), in_minutes(spec, np.sqrt(spec.variance))
    assert abs(every[of_kind].mean() - mean) < 4 * sd / np.sqrt(of_kind.sum())


@pytest.mark.parametrize("hours", ["[8, 17]", "[6, 30]"])
def test_lab_serves_samples_first_come_first_served(hours):
    """Ready times equal a plain stable sort and queue of each lab's samples, also when a
    day's orders spill into the next (then the labs cannot sort one day at a time)."""
    sc = load_scenario(TINY, overrides=[f"site_kinds.health_centre.order_hours={hours}"])
    cal = Calendar(sc.model.horizon.start, sc.model.horizon.end)
    tl = build_schedule(sc).timeline(cal)
    orders, inputs = generate_orders(sc, cal, tl, Streams(sc.model.seed, 1))
    n_hours = int(np.ceil(cal.horizon_minutes / 60.0)) + 24 * 60
    edges = np.arange(n_hours + 1) * 60.0
    expected = np.empty(len(orders))
    for j, lab in enumerate(sc.model.labs):
        idx = np.flatnonzero(tl.unit_lab[orders.unit] == j)
        idx = idx[np.argsort(orders.time[idx], kind="stable")]
        cap = capacity_curve(
            lab.capacity_per_hour, tl.lab_switch[j], lab.switch_downtime_hours,
            lab.productivity_dip, lab.dip_recovery_days, n_hours,
        )  # fmt: skip
        cum = np.concatenate([[0.0], np.cumsum(cap)])
        k = np.arange(len(idx), dtype=float)
        served = np.maximum.accumulate(np.interp(orders.time[idx], edges, cum) - k) + k
        expected[idx] = np.interp(served, cum, edges, right=np.inf) + inputs.turnaround[idx]
    ready, _ = result_times(sc, cal, tl, orders, inputs)
    np.testing.assert_array_equal(ready, expected)


def _paired(kpi: str, a: list[str], b: list[str], path=TINY) -> np.ndarray:
    sa, sb = load_scenario(path, overrides=a), load_scenario(path, overrides=b)
    diffs = []
    for r in range(REPS):
        ka = tabulate(run_replication(sa, r)).kpis
        kb = tabulate(run_replication(sb, r)).kpis
        diffs.append(kb[kpi] - ka[kpi])
    return np.array(diffs)


def _ci(d: np.ndarray) -> tuple[float, float]:
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean() - half, d.mean() + half


def test_more_signers_lower_late_abnormal_results():
    # Short sessions and no overtime make signing capacity the constraint, also for abnormal
    # results; one more signer per unit relieves it. (With ample capacity, late results come
    # from session timing and absences, which staffing does not change.)
    tight = [
        "site_kinds.health_centre.sessions=[{at: '08:00', minutes: 8}]",
        "policies.overtime_cap_hours_per_week=0",
    ]
    more = [*tight, "staffing.extra_signers={health_centre: 1, hospital_unit: 1}"]
    d = _paired("late_abnormal", tight, more)
    assert _ci(d)[1] < 0, d


def test_dual_system_hours_grow_with_the_window():
    d = _paired(
        "dual_system_hours",
        ["policies.coexistence_window_days=14"],
        ["policies.coexistence_window_days=28"],
    )
    assert _ci(d)[0] > 0, d


def test_no_dual_period_means_exactly_zero_dual_system_hours():
    # Everyone goes live with the lab; late legacy results are rerouted, never drained.
    sc = load_scenario(
        TINY, overrides=["policies.coexistence_window_days=0", "policies.lock.mode=reroute"]
    )
    for r in range(3):
        rep = run_replication(sc, r)
        assert tabulate(rep).kpis["dual_system_hours"] == 0.0


def test_faster_learning_lowers_the_backlog_at_the_legacy_lock():
    slow, fast = (
        ["staffing.learning_curve.time_constant_days=60"],
        ["staffing.learning_curve.time_constant_days=5"],
    )
    sa, sb = load_scenario(TINY, overrides=slow), load_scenario(TINY, overrides=fast)
    diffs = []
    for r in range(REPS):
        la = tabulate(run_replication(sa, r)).locks
        lb = tabulate(run_replication(sb, r)).locks
        diffs.append(lb["unsigned_at_lock"].sum() - la["unsigned_at_lock"].sum())
    assert _ci(np.array(diffs))[1] < 0, diffs


def test_late_flags_follow_the_threshold_definition():
    sc = load_scenario(TINY)
    rep = run_replication(sc, 0)
    late, _ = late_flags(rep)
    n, o, cal = rep.n_results, rep.orders, rep.calendar
    # Acted on: signed, or phoned / reviewed on call before that.
    acted = np.fmin(rep.items.done[:n], rep.action_time)
    # Thresholds straight from the scenario: tiny's units are two health centres and a ward.
    kinds = sc.model.site_kinds
    hours = {0: kinds["health_centre"], 1: kinds["health_centre"], 2: kinds["hospital_unit"]}
    limit = np.array(
        [
            (hours[u].critical_threshold_hours if c else hours[u].late_threshold_hours) * 60
            for u, c in zip(o.unit, o.critical, strict=True)
        ]
    )
    ok = o.abnormal & ~np.isnan(acted) & np.isnan(rep.orphan_time)
    assert ok.sum() > 1000
    # Health centres count abnormal (not critical) results on working days only: the overlap
    # of [ready, acted) with each working day, day by day.
    working = np.asarray(cal.working_day_mask)
    start = np.asarray(cal.day_start)

    def waited(i: int) -> float:
        a, b = rep.lab_ready[i], acted[i]
        if hours[o.unit[i]].late_clock == "calendar" or o.critical[i]:
            return b - a
        d0, d1 = cal.day_index(float(a)), cal.day_index(float(min(b, start[-1] - 1)))
        return sum(
            max(0.0, min(b, start[d + 1]) - max(a, start[d]))
            for d in range(d0, d1 + 1)
            if working[d]
        )

    idx = np.flatnonzero(ok)
    expected = np.array([waited(i) > limit[i] for i in idx])
    assert (late[idx] == expected).all()
    assert late[ok].any() and not late[ok].all()
