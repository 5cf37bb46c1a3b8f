"""The ordinary days, by hand: on-call over closures, the lab's calls, the working-day clock,
drawn unit volumes.

Dates are from the Swedish calendar of 2022: Easter is Friday 15 to Monday 18 April (a 4-day
closure for a health centre), National Day Monday 6 June (with its weekend, a 3-day closure),
Ascension Thursday 26 May (one day: the Friday is a working day).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sim.metrics.lateness import WorkingClock
from sim.metrics.tables import late_flags, tabulate
from sim.model import oncall, phone
from sim.model.demand import mean_minutes
from sim.model.ledger import WORKLOAD
from sim.model.replication import run_replication
from sim.model.units import vary_units
from sim.model.workload import daily_workload, plan_backwards
from sim.sampling.calendar import Calendar
from sim.sampling.streams import Streams
from sim.scenario.loading import load_scenario, with_changes
from sim.scenario.schema import OnCall, SiteKind
from sim.schedule.schedule import build_schedule

ROOT = Path(__file__).resolve().parent.parent

CAL = Calendar(dt.date(2022, 4, 11), dt.date(2022, 6, 12))  # Monday 11 April ...


DUTY = OnCall()


def _kind(on_call: OnCall | None = DUTY, **kw) -> SiteKind:
    return SiteKind(
        setting="primary",
        sessions=[{"at": "08:00", "minutes": 30}],
        late_threshold_hours=72,
        on_call=on_call,
        **kw,
    )


def _at(day: dt.date, hh: int, mm: int = 0) -> float:
    return CAL.to_minutes(dt.datetime(day.year, day.month, day.day, hh, mm))


def _days(mask: np.ndarray) -> list[dt.date]:
    return [CAL.days[i] for i in np.flatnonzero(mask)]


def test_duty_days_are_the_long_holiday_closures():
    easter = [dt.date(2022, 4, d) for d in (15, 16, 17, 18)]
    national = [dt.date(2022, 6, d) for d in (4, 5, 6)]
    assert _days(oncall.duty_days(CAL, _kind())) == easter + national
    # A closure must be at least min_closed_days long: 4 keeps only Easter.
    assert _days(oncall.duty_days(CAL, _kind(OnCall(min_closed_days=4)))) == easter
    # No arrangement, or a kind that works every day: no duty.
    assert not oncall.duty_days(CAL, _kind(None)).any()
    assert not oncall.duty_days(CAL, _kind(session_days="all")).any()


def test_review_rounds_and_which_results_they_reach():
    rounds = oncall.review_times(CAL, _kind(OnCall(review_at=["10:00", "16:00"])))
    assert len(rounds) == 7 * 2
    assert rounds[0] == _at(dt.date(2022, 4, 15), 10)
    assert rounds[1] == _at(dt.date(2022, 4, 15), 16)
    horizon = CAL.horizon_minutes
    thursday = _at(dt.date(2022, 4, 14), 15)
    ready = np.array([thursday, thursday, _at(dt.date(2022, 4, 15), 11), np.inf, thursday])
    acted = np.array(
        [np.nan, _at(dt.date(2022, 4, 14), 16), np.nan, np.nan, _at(dt.date(2022, 4, 15), 10)]
    )
    got = oncall.reviews(rounds, ready, acted, horizon)
    # Unsigned Thursday result: Friday 10:00. Signed Thursday 16:00: no review. Ready Friday
    # 11:00: the 16:00 round. Never ready: none. Acted on at 10:00 sharp: not reviewed again.
    np.testing.assert_array_equal(got, [rounds[0], np.nan, rounds[1], np.nan, np.nan])


def test_calls_reach_the_open_unit_or_its_duty_doctor_else_fail_and_retry():
    kind = _kind()
    windows = phone.reachable_windows(CAL, kind)
    wed = dt.date(2022, 4, 13)
    calls = np.array(
        [
            _at(wed, 10),  # open
            _at(wed, 17, 30),  # closed: next opening Thursday 08:00
            _at(dt.date(2022, 4, 16), 3),  # Easter Saturday: the duty doctor answers
            _at(dt.date(2022, 4, 23), 12),  # ordinary Saturday: Monday 08:00
            np.nan,  # no call
        ]
    )
    got = phone.place_calls(windows, calls, CAL.horizon_minutes)
    np.testing.assert_array_equal(
        got.reached,
        [calls[0], _at(dt.date(2022, 4, 14), 8), calls[2], _at(dt.date(2022, 4, 25), 8), np.nan],
    )
    np.testing.assert_array_equal(got.failed, [False, True, False, True, False])
    # Without on-call, Easter Saturday's call fails and waits for Tuesday 08:00.
    bare = phone.place_calls(phone.reachable_windows(CAL, _kind(None)), calls[2:3], 1e9)
    assert bare.failed[0] and bare.reached[0] == _at(dt.date(2022, 4, 19), 8)
    # An out-of-hours doctor takes every call the unit cannot.
    after = _kind(OnCall(phone_after_hours=True))
    reached = phone.place_calls(phone.reachable_windows(CAL, after), calls, CAL.horizon_minutes)
    np.testing.assert_array_equal(reached.reached, calls)
    assert not reached.failed.any()
    # A kind open around the clock is one window: every call is reached at once.
    always = _kind(None, session_days="all", order_hours=(0, 24))
    w = phone.reachable_windows(CAL, always)
    assert w.shape == (1, 2) and w[0, 0] == 0.0 and w[0, 1] == CAL.horizon_minutes


def test_working_day_clock_stops_over_closures():
    clock = WorkingClock(CAL)
    thursday = _at(dt.date(2022, 4, 14), 13, 30)
    tuesday = _at(dt.date(2022, 4, 19), 8)
    # Thursday 13:30 -> midnight is 10.5 h, then Friday..Monday stop, then 8 h on Tuesday.
    waited = clock.forward(np.array([tuesday]))[0] - clock.forward(np.array([thursday]))[0]
    assert waited == pytest.approx(18.5 * 60)
    assert (tuesday - thursday) / 60 == pytest.approx(114.5)  # what the calendar says
    # 72 working hours after Thursday 13:30: Thursday's rest, Tuesday, Wednesday, and
    # Thursday 21 April until 13:30.
    w = clock.forward(np.array([thursday]))[0] + 72 * 60
    assert clock.back(np.array([w]))[0] == _at(dt.date(2022, 4, 21), 13, 30)
    # A time in a closure counts as the closure's start; past the horizon: its end, and back
    # to infinity.
    assert (
        clock.forward(np.array([_at(dt.date(2022, 4, 16), 12)]))[0]
        == clock.forward(np.array([_at(dt.date(2022, 4, 15), 0)]))[0]
    )
    end = clock.forward(np.array([np.inf]))[0]
    assert clock.back(np.array([end + 1.0]))[0] == np.inf


# ---------------------------------------------------------------- whole runs, paired CIs

CLOSURE = Path(__file__).parent / "data" / "closure.yaml"
REPS = 20
NO_ON_CALL = ["site_kinds.health_centre.on_call=null"]
# Tight: one signer whose 15-minute session barely covers the abnormal results (10 orders a
# day, 3 abnormal at about 4.5 minutes each, before normal results and messages), no overtime,
# and a one-working-day threshold: the pile a closure leaves cannot be cleared in time.
TIGHT = [
    "sites[vc].signers=1",
    "site_kinds.health_centre.sessions=[{at: '08:00', minutes: 15}]",
    "policies.overtime_cap_hours_per_week=0",
    "site_kinds.health_centre.late_threshold_hours=24",
]
# Results that reach the inbox from the last open day before a closure to the first after it.
WINDOWS = [("2022-04-14", "2022-04-20"), ("2022-06-03", "2022-06-08")]


def _closure_late(overrides: list[str]) -> np.ndarray:
    """Per replication: late abnormal, not critical, results that reached the inbox around
    the two closures (critical results wait for no closure: the lab phones them)."""
    sc = load_scenario(CLOSURE, overrides=overrides)
    cal = Calendar(sc.model.horizon.start, sc.model.horizon.end)
    bounds = [(cal.to_minutes(dt.date.fromisoformat(a)), cal.to_minutes(dt.date.fromisoformat(b)))
              for a, b in WINDOWS]  # fmt: skip
    out = []
    for r in range(REPS):
        rep = run_replication(sc, r)
        late, _ = late_flags(rep)
        t = rep.lab_ready
        near = np.zeros(len(t), dtype=bool)
        for a, b in bounds:
            near |= (t >= a) & (t < b)
        out.append(int((late & near & ~rep.orders.critical).sum()))
    return np.array(out, dtype=float)


def _ci(d: np.ndarray) -> tuple[float, float]:
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean() - half, d.mean() + half


def test_closures_with_spare_capacity_make_no_result_late_with_or_without_on_call():
    # Three working days are counted on the working-day clock, so a closure stops it; every
    # session has time to spare, so nothing waits past the threshold either way.
    assert not _closure_late([]).any()
    assert not _closure_late(NO_ON_CALL).any()


def test_closures_with_tight_capacity_make_results_late_unless_on_call_reviews_them():
    off = _closure_late(TIGHT + NO_ON_CALL)
    on = _closure_late(TIGHT)
    assert _ci(off)[0] > 0, off
    assert _ci(off - on)[0] > 0, (off, on)


def test_a_result_acted_on_by_phone_or_on_call_is_not_late_but_still_signed():
    sc = load_scenario(CLOSURE, overrides=TIGHT)
    rep = run_replication(sc, 0)
    late, _ = late_flags(rep)
    o, acted = rep.orders, rep.action_time
    crit = o.critical & np.isfinite(acted)
    threshold = sc.model.site_kinds["health_centre"].critical_threshold_hours * 60
    in_time = crit & (acted - rep.lab_ready <= threshold)
    assert in_time.any() and not late[in_time].any()
    # Calls and reviews do not sign: the inbox still has the result, signed or not.
    signed = rep.items.done[: rep.n_results]
    assert (np.isnan(signed[in_time]) | (signed[in_time] > acted[in_time])).all()
    # Minutes booked: one talk per call that reached someone, one review per result reviewed.
    k = tabulate(rep).site_days
    calls = int(np.isfinite(acted[o.critical]).sum())
    assert k["critical_calls_hours"].sum() > 0 and calls > 0
    assert tabulate(rep).kpis["failed_critical_calls"] == rep.failed_call.sum()


def test_unit_volumes_are_drawn_per_replication_and_shared_by_variants():
    named = [
        "sites[vc-early].orders_per_day=lab_requests_per_vc_workday",
        "sites[vc-early].count=2",
    ]
    sc = load_scenario(ROOT / "scenarios" / "tiny.yaml", overrides=named)
    cal = Calendar(sc.model.horizon.start, sc.model.horizon.end)
    tl = build_schedule(sc).timeline(cal)
    spec = sc.library["lab_requests_per_vc_workday"]
    draws = np.array([[u.orders_per_day for u in vary_units(sc, tl, Streams(7, r)).units]
                      for r in range(400)])  # fmt: skip
    # The two named units draw, the others keep their numbers; the mean of 400 draws lies
    # within 4 standard errors of the distribution's mean, and the two units differ.
    assert (draws[:, 2:] == [u.orders_per_day for u in tl.units[2:]]).all()
    assert abs(draws[:, 0].mean() - spec.mean) < 4 * np.sqrt(spec.variance / len(draws))
    assert (draws[:, 0] != draws[:, 1]).all()
    # Same root seed and replication: same units in any variant (streams keyed by unit).
    other = with_changes(sc, ["policies.coexistence_window_days=14"])
    a = vary_units(sc, tl, Streams(7, 0)).units
    b = vary_units(other, build_schedule(other).timeline(cal), Streams(7, 0)).units
    assert a == b
    # Signers follow the volume, in whole signers, at least one.
    assert a[0].signers == max(1, round(5 * a[0].orders_per_day / spec.mean))


def _absent_late(rep) -> tuple[int, int]:
    """Late abnormal hospital results that reached the inbox on a day their signer was absent
    while a colleague of the unit was present, and all late abnormal hospital results that
    reached it on a day someone of the unit was present."""
    o, tl = rep.orders, rep.timeline
    pool = rep.pools["hospital_unit"]
    late, _ = late_flags(rep)
    first = dict(
        zip(
            pool.units,
            np.r_[0, np.cumsum([tl.units[u].signers for u in pool.units])[:-1]],
            strict=True,
        )
    )
    idx = np.flatnonzero(
        late & np.isin(o.unit, pool.units) & np.isnan(rep.orphan_time)
        & (rep.lab_ready < rep.calendar.horizon_minutes)
    )  # fmt: skip
    absent = someone = 0
    for j in idx:
        f, n = first[o.unit[j]], tl.units[o.unit[j]].signers
        day = rep.calendar.day_index(float(rep.lab_ready[j]))
        present = pool.cfg.presence[f : f + n, day]
        if present.any():
            someone += 1
            absent += not present[o.signer[j]]
    return absent, someone


def test_cover_from_the_first_day_makes_absence_no_reason_to_be_late():
    # Covered from day one, a result's lateness no longer depends on whether its own signer
    # is away (unless the whole unit is): among late results the share with an absent signer
    # is then about the absence share itself (0.08). Without a kind's own rule, staffing's
    # 2 days return: results of the first two days of an absence wait, and most late
    # hospital results have an absent signer.
    tiny = ROOT / "scenarios" / "tiny.yaml"
    on = load_scenario(tiny)
    off = load_scenario(tiny, overrides=["site_kinds.hospital_unit.cover_after_days=null"])
    share = on.model.staffing.absence_share
    assert on.model.site_kinds["hospital_unit"].cover_after_days == 0
    runs_on = [_absent_late(run_replication(on, r)) for r in range(12)]
    runs_off = [_absent_late(run_replication(off, r)) for r in range(12)]
    a_on, n_on = map(sum, zip(*runs_on, strict=True))
    assert a_on <= stats.binom.ppf(0.99, n_on, 2 * share), (a_on, n_on)
    frac = lambda runs: np.array([a / n if n else 0.0 for a, n in runs])  # noqa: E731
    assert _ci(frac(runs_off) - frac(runs_on))[0] > 0


def test_migration_is_planned_backwards_and_what_does_not_fit_spills_over():
    out = np.zeros(10)
    days = np.array([2, 3, 4, 5])
    # 100 minutes, 30 a day at most: days 5, 4, 3 take 30 each, day 2 the last 10.
    assert plan_backwards(100.0, days, np.full(4, 30.0), out) == 0.0
    np.testing.assert_array_equal(out[2:6], [10, 30, 30, 30])
    # 150 minutes into 4 x 30: 30 spill over.
    out[:] = 0
    assert plan_backwards(150.0, days, np.full(4, 30.0), out) == 30.0
    assert out.sum() == 120.0


def test_spillover_kpi_is_the_migration_that_does_not_fit_before_go_live():
    # tiny's health centres: 5 signers x 60 session minutes x 0.25 workload share x 0.92
    # present x 0.9 (training) = 62.1 minutes a working day at most, over the 21 days before
    # go-live (15 working days), less 6 validation hours over the last week's working days.
    sc = load_scenario(ROOT / "scenarios" / "tiny.yaml")
    cal = Calendar(sc.model.horizon.start, sc.model.horizon.end)
    tl = build_schedule(sc).timeline(cal)
    workload, spill = daily_workload(sc, cal, tl)
    mig = WORKLOAD.index("migration")
    per_row = mean_minutes(sc.library[sc.model.inputs["manual_migration_time"]])
    m = sc.model.migration
    rows = sum(
        x.rows_per_site for x in m.info_sets
        if not x.machine_migrated or x.rows_per_site < m.breakpoint_rows
    )  # fmt: skip
    total = 0.0
    for i, u in enumerate(tl.units):
        g = cal.day_index(tl.go_live[i])
        before = workload[mig, i, max(0, g - 21) : g].sum()
        total += rows * per_row - before
        if u.kind == "health_centre":
            cap = 5 * 60 * 0.25 * (1 - 0.08) * (1 - 16 / 160)
            assert workload[mig, i, max(0, g - 21) : g].max() <= cap + 1e-9
    assert spill == pytest.approx(total)
    assert tabulate(run_replication(sc, 0)).kpis["migration_spillover_hours"] == pytest.approx(
        spill / 60
    )
