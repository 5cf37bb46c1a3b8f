"""The fast signing model equals a plain one-process-per-item SimPy model, result by result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.reference_model import reference_sign_times
from sim.model.inbox import SignerPool
from sim.model.replication import build, simulate
from sim.scenario.loading import load_scenario

SCENARIO = Path(__file__).parent / "data" / "reference.yaml"


@pytest.mark.parametrize("variant_window", [14, 28])
def test_fast_model_gives_identical_sign_times(variant_window):
    sc = load_scenario(SCENARIO, overrides=[f"policies.coexistence_window_days={variant_window}"])
    rep = build(sc, replication=1)
    expected = reference_sign_times(rep)  # reads the same inputs before the run
    simulate(rep)
    got = rep.items.done
    assert np.isnan(got).sum() == np.isnan(expected).sum()
    both = ~np.isnan(expected)
    np.testing.assert_allclose(got[both], expected[both], rtol=0, atol=1e-6)
    # The comparison covers both inboxes and the coexistence period.
    assert (rep.items.inbox == 0).any() and (rep.items.inbox == 1).any()
    assert rep.pools["health_centre"].staff_minutes.any()  # work was done and booked


@pytest.mark.slow  # the per-item reference takes a minute on this scenario
def test_fast_model_covers_by_the_site_as_the_reference_does(monkeypatch):
    # Four units per site, one signer each in the ward's units, eight weeks: absences leave
    # units with nobody present, whose inboxes the site covers (the spy checks it happened).
    overrides = [f"sites[{s}].count=4" for s in ("vc-early", "vc-late", "ward")]
    overrides += ["sites[ward].signers=1", "horizon.end=2022-04-03"]
    sc = load_scenario(SCENARIO, overrides=overrides)
    covered: list[int] = []
    real = SignerPool._site_cover

    def spy(self, day, after):
        before = self.worker.copy()
        real(self, day, after)
        covered.append(int((self.worker != before).sum()))

    monkeypatch.setattr(SignerPool, "_site_cover", spy)
    rep = build(sc, replication=0)
    expected = reference_sign_times(rep)
    simulate(rep)
    got = rep.items.done
    assert np.isnan(got).sum() == np.isnan(expected).sum()
    both = ~np.isnan(expected)
    np.testing.assert_allclose(got[both], expected[both], rtol=0, atol=1e-6)
    assert sum(covered) > 0, "no unit was left without its signers: the test tests nothing"


def test_an_item_started_before_the_horizon_ends_is_finished_in_both_models():
    """A session opened before the horizon's end is worked to its end in both models: the item
    in hand finishes past the end (replication 0 with ten units per site has one such item,
    which the reference once dropped)."""
    overrides = [f"sites[{s}].count=10" for s in ("vc-early", "vc-late", "ward")]
    rep = build(load_scenario(SCENARIO, overrides=overrides), replication=0)
    expected = reference_sign_times(rep)
    simulate(rep)
    got = rep.items.done
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    both = ~np.isnan(expected)
    np.testing.assert_allclose(got[both], expected[both], rtol=0, atol=1e-6)
    assert (got[both] > rep.calendar.horizon_minutes).any()  # the case this test is about
