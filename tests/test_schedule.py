"""The one schedule: events applied once, and every reader (model, table, checks) agrees.

Hand-checkable cases first (a pause, a lock event, a rollback before and after a lock's
deadline), then a property test that draws random event sets on ``tiny.yaml`` and checks that
``cutover timeline --csv`` and the model's minute arrays give the same dates, and that the
dates obey the event rules.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.sampling.calendar import Calendar
from sim.scenario.errors import ScenarioError
from sim.schedule.schedule import build_schedule

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios/tiny.yaml"
D = dt.date


@pytest.fixture(scope="module")
def tiny():
    return sim.load_scenario(TINY)


def _with_events(sc, events: list[dict]) -> sim.LoadedScenario:
    data = sc.model.model_dump(mode="json", exclude_none=True, exclude={"extends"})
    data["events"] = events
    return sim.from_model(sim.Scenario.model_validate(data), sc)


def test_pause_moves_a_go_live_inside_it_to_the_day_after(tiny):
    # vc-early goes live 28 days before the lab's switch on 2022-04-05, on 2022-03-08.
    paused = _with_events(
        tiny,
        [{"type": "pause", "date": "2022-03-01", "until": "2022-03-20", "sites": ["vc-early"]}],
    )
    site = build_schedule(paused).sites["vc-early"]
    assert site.planned_go_live == D(2022, 3, 8)
    assert site.go_live == D(2022, 3, 21)
    # Documented in Millennium from 03-21, ordering in the legacy client until 04-05.
    assert site.coexistence_days(paused.model.horizon.end) == 15


def test_pause_without_end_means_never(tiny):
    paused = _with_events(tiny, [{"type": "pause", "date": "2022-03-01", "areas": ["south"]}])
    schedule = build_schedule(paused)
    assert schedule.labs["lab"] is None
    assert all(s.go_live is None and s.ros_switch is None for s in schedule.sites.values())
    assert all(s.client_lock is None for s in schedule.sites.values())


def test_region_wide_lock_event_sets_the_lock_that_the_model_uses(tiny):
    locked = _with_events(tiny, [{"type": "legacy_lock", "date": "2022-05-01", "system": "asynja"}])
    schedule = build_schedule(locked)
    assert schedule.sites["vc-early"].client_lock == D(2022, 5, 1)
    cal = Calendar(locked.model.horizon.start, locked.model.horizon.end)
    tl = schedule.timeline(cal)
    early = [u.group for u in tl.units].index("vc-early")
    assert tl.lock[early] == cal.to_minutes(D(2022, 5, 1))
    table = _csv_of(locked)
    assert table.set_index("site").loc["vc-early", "client_locked"] == "2022-05-01"


def test_rollback_before_the_drain_deadline_cancels_the_lock(tiny):
    # The ward orders in Millennium from 2022-04-05; its Melior client locks then, and the
    # drain deadline (28 days) is 2022-05-03. A rollback on 2022-04-20 comes before it.
    rolled = _with_events(tiny, [{"type": "rollback", "date": "2022-04-20", "areas": ["south"]}])
    ward = build_schedule(rolled).sites["ward"]
    assert ward.client_lock is None and ward.client_closed is None
    # A rollback after the deadline leaves the lock that has happened.
    late = _with_events(tiny, [{"type": "rollback", "date": "2022-05-10", "areas": ["south"]}])
    assert build_schedule(late).sites["ward"].client_lock == D(2022, 4, 5)


def test_a_cancelled_lock_returns_only_when_the_scenario_says_when(tiny):
    rolled = _with_events(
        tiny,
        [
            {"type": "rollback", "date": "2022-04-20", "until": "2022-05-02", "areas": ["south"]},
            {"type": "legacy_lock", "date": "2022-05-16", "system": "melior", "sites": ["ward"]},
        ],
    )
    assert build_schedule(rolled).sites["ward"].client_lock == D(2022, 5, 16)


@pytest.mark.slow
def test_rollback_in_2024_orphans_nothing_ordered_after_it():
    """DESIGN 1: the south went live on 2024-11-12 and was rolled back on 2024-11-15."""
    with_rb = sim.load_scenario(ROOT / "scenarios/as-happened-2024.yaml")
    without = sim.load_scenario(ROOT / "scenarios/as-happened-2024.yaml", "no-rollback")
    rep = sim.run_replication(with_rb, 0, 11)
    cal = rep.calendar
    orphan = ~np.isnan(rep.orphan_time)
    after = rep.orders.time >= cal.to_minutes(D(2024, 11, 15))
    assert not (orphan & after).any()
    base = sim.run_replication(without, 0, 11)
    assert orphan.sum() <= (~np.isnan(base.orphan_time)).sum()


def _csv_of(sc: sim.LoadedScenario) -> pd.DataFrame:
    """``cutover timeline --csv`` of a scenario made in Python (written to a file first)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        data = sc.resolved_data()
        data["distribution_library"] = str((ROOT / "distributions").resolve())
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        done = CliRunner().invoke(app, ["timeline", str(path), "--csv"])
    assert done.exit_code == 0, done.output
    return pd.read_csv(io.StringIO(done.stdout), dtype=str, keep_default_na=False)


SITES = ["vc-early", "vc-late", "ward"]
DAYS = [D(2022, 2, 14) + dt.timedelta(days=i) for i in range(0, 100)]


@st.composite
def event_sets(draw):
    events = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["pause", "rollback", "legacy_lock"]))
        start = draw(st.sampled_from(DAYS))
        ev = {"type": kind, "date": start.isoformat()}
        if kind != "legacy_lock" and draw(st.booleans()):
            ev["until"] = (start + dt.timedelta(days=draw(st.integers(0, 30)))).isoformat()
        if kind == "legacy_lock":
            ev["system"] = draw(st.sampled_from(["asynja", "melior"]))
        target = draw(st.sampled_from(["site", "area", "all"]))
        if target == "site":
            ev["sites"] = [draw(st.sampled_from(SITES))]
        elif target == "area" or kind != "legacy_lock":
            ev["areas"] = ["south"]
        events.append(ev)
    return events


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=event_sets())
def test_timeline_table_and_model_agree_date_for_date(tiny, events):
    try:
        sc = _with_events(tiny, events)
    except ScenarioError:
        assume(False)  # an illegal schedule (e.g. overlapping pause and rollback) is refused
    cal = Calendar(sc.model.horizon.start, sc.model.horizon.end)
    tl = build_schedule(sc).timeline(cal)
    table = _csv_of(sc).set_index("site")

    def as_date(minutes: float) -> str:
        return "" if not np.isfinite(minutes) else cal.date_of(minutes).isoformat()

    lab_switch = as_date(tl.lab_switch[0])
    for i, unit in enumerate(tl.units):
        row = table.loc[unit.group]
        assert row["ehr_go_live"] == as_date(tl.go_live[i]), unit.group
        assert row["ros_switch"] == as_date(tl.ros_switch[i]), unit.group
        assert row["client_locked"] == as_date(tl.lock[i]), unit.group
        assert row["lab_lis_switch"] == lab_switch
    # The rules themselves: no switch inside a pause of its site; no lock inside a rollback
    # unless an explicit lock event dates it on or after the rollback's start.
    schedule = build_schedule(sc)
    for site in sc.model.sites:
        s = schedule.sites[site.id]
        for ev in sc.model.events:
            hits = site.id in ev.sites or site.area in ev.areas
            if ev.type == "pause" and hits:
                for day in (s.go_live, s.ros_switch):
                    inside = (
                        day is not None and ev.date <= day and (ev.until is None or day <= ev.until)
                    )
                    assert not inside
        if s.rollback is not None and s.client_lock is not None and s.client_lock >= s.rollback:
            assert any(
                ev.type == "legacy_lock" and ev.date == s.client_lock for ev in sc.model.events
            )
