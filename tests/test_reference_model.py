"""The fast signing model equals a plain one-process-per-item SimPy model, result by result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.reference_model import reference_sign_times
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


@pytest.mark.slow  # the per-item reference takes minutes on this scenario
def test_fast_model_covers_by_the_site_as_the_reference_does():
    # Ten units per site, one signer each in the ward's units: absences leave units with
    # nobody present, whose inboxes the site covers.
    overrides = [f"sites[{s}].count=10" for s in ("vc-early", "vc-late", "ward")]
    sc = load_scenario(SCENARIO, overrides=[*overrides, "sites[ward].signers=1"])
    rep = build(sc, replication=0)
    expected = reference_sign_times(rep)
    simulate(rep)
    got = rep.items.done
    assert np.isnan(got).sum() == np.isnan(expected).sum()
    both = ~np.isnan(expected)
    np.testing.assert_allclose(got[both], expected[both], rtol=0, atol=1e-6)
