"""Extensions: a registered workload stream, lock policy and site kind, used from scenarios."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim import extensions
from sim.metrics.tables import tabulate
from sim.model.ledger import WORKLOAD
from sim.model.replication import run_replication
from sim.scenario.loading import ScenarioError, load_scenario, with_changes

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"


def _medrec(patients: float, minutes: float, days: int = 3) -> list[str]:
    value = (
        f"[{{stream: medication_reconciliation, params: {{minutes_per_patient: {minutes}, "
        f"patients_per_unit: {{hospital_unit: {patients}}}, days_after_go_live: {days}}}}}]"
    )
    return [f"workload_streams={value}"]


def test_medication_reconciliation_books_exactly_the_hours_its_parameters_imply():
    """One ward (count 1) going live inside the horizon: 20 patients x 9 minutes = 3 hours,
    all of it booked (scheduled workload that does not fit a session carries over)."""
    sc = load_scenario(TINY)
    wards = sum(s.count for s in sc.model.sites if s.kind == "hospital_unit")
    with_medrec = with_changes(sc, _medrec(20, 9))
    days = tabulate(run_replication(with_medrec, 0, 1)).site_days
    assert days["extension_hours"].sum() == pytest.approx(wards * 20 * 9 / 60, rel=1e-9)
    ward_days = days[days["kind"] == "hospital_unit"]
    booked = ward_days.loc[ward_days["extension_hours"] > 0, "date"]
    go_live = with_medrec.site_dates["ward"].go_live
    assert booked.min().date() >= go_live  # no reconciliation before go-live


def test_the_stream_takes_time_from_signing():
    """100 hours of reconciliation on the ward: every minute is booked or still owed at the
    horizon, and, with the same random numbers, its results around go-live wait longer."""
    sc = with_changes(load_scenario(TINY), ["migration.info_sets=[]"])
    heavy = with_changes(sc, _medrec(400, 15, days=5))
    a, b = run_replication(sc, 0, 1), run_replication(heavy, 0, 1)
    booked = tabulate(b).site_days["extension_hours"].sum()
    left = sum(p.workload[WORKLOAD.index("extension")].sum() for p in b.pools.values()) / 60
    assert booked > 0 and booked + left == pytest.approx(400 * 15 / 60, rel=1e-9)
    ward = [i for i, u in enumerate(a.timeline.units) if u.kind == "hospital_unit"]
    go = a.timeline.go_live[ward[0]]
    mine = np.isin(a.orders.unit, ward) & (a.lab_ready >= go) & (a.lab_ready < go + 5 * 1440)
    wait_a = np.nanmean(a.items.done[: a.n_results][mine] - a.lab_ready[mine])
    wait_b = np.nanmean(b.items.done[: b.n_results][mine] - b.lab_ready[mine])
    assert wait_b > wait_a


@pytest.mark.parametrize(
    ("params", "builtin"),
    [("{drain_days: 0}", ["policies.lock.mode=reroute"]),
     ("{drain_days: 1000}", ["policies.lock.mode=drain", "policies.lock.drain_days=1000"])],
)  # fmt: skip
def test_drain_then_reroute_reduces_to_the_builtin_policies_at_its_extremes(params, builtin):
    """With no drain it is ``reroute``; with a drain longer than the horizon it is ``drain``."""
    sc = load_scenario(TINY)
    mine = with_changes(
        sc, ["policies.lock.mode=drain_then_reroute", f"policies.lock.params={params}"]
    )
    theirs = with_changes(sc, builtin)
    a, b = run_replication(mine, 0, 3), run_replication(theirs, 0, 3)
    np.testing.assert_array_equal(a.items.done, b.items.done)
    np.testing.assert_array_equal(a.rerouted, b.rerouted)


def test_drain_then_reroute_turns_orphans_into_rerouted_results():
    sc = with_changes(load_scenario(TINY), ["policies.lock.drain_days=3"])
    drain = tabulate(run_replication(sc, 0, 5)).locks
    ext = with_changes(
        sc, ["policies.lock.mode=drain_then_reroute", "policies.lock.params={drain_days: 3}"]
    )
    rerouted = tabulate(run_replication(ext, 0, 5)).locks
    assert drain["orphaned"].sum() > 0 and rerouted["orphaned"].sum() == 0
    assert rerouted["rerouted"].sum() == drain["orphaned"].sum()


def test_a_registered_site_kind_can_be_used_without_defining_it(monkeypatch):
    sc = load_scenario(TINY)
    ward = sc.model.site_kinds["hospital_unit"].model_dump(mode="json")
    monkeypatch.setattr(extensions, "SITE_KINDS", dict(extensions.SITE_KINDS))  # undone after
    extensions.register_site_kind("radiology_unit", {**ward, "setting": "inpatient"})
    changed = with_changes(sc, ["sites[ward].kind=radiology_unit"])
    assert "radiology_unit" in changed.model.site_kinds
    assert "radiology_unit" in changed.resolved_data()["site_kinds"]  # saved with each run
    monkeypatch.delitem(extensions.SITE_KINDS, "radiology_unit")
    with pytest.raises(ScenarioError) as caught:
        with_changes(sc, ["sites[ward].kind=radiology_unit"])
    (d,) = caught.value.diagnostics
    assert d.field == "sites[2].kind" and "unknown site kind 'radiology_unit'" in d.message


def test_registering_a_builtin_lock_name_is_refused():
    with pytest.raises(ValueError, match="built-in"):
        extensions.lock_policy("drain", extensions.Params, leftovers=lambda p: (0, 0))
