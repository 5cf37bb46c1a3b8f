"""Face validity: the coexistence effect lands near the published hybrid-record effect.

Casalino 2009 found that practices with a partial ("hybrid") electronic record had about
twice the odds (OR 1.9-2.4) of failing to inform patients of abnormal results; Singh 2009
found OR 2.0 for alerts sent to two clinicians. With default parameters, the odds of an
abnormal result going late while a unit signs in two systems, against the same units'
single-system weeks, should land in that neighbourhood (roughly 1.5-3). Stage 1 of the
default scenario (to the end of July 2022) keeps the test short.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.metrics.tables import coexistence_odds_ratio
from sim.model.replication import run_replication
from sim.scenario.loading import load_scenario

FVM = Path(__file__).resolve().parent.parent / "scenarios" / "fvm-2020.yaml"


def test_coexistence_odds_ratio_is_near_the_hybrid_record_effect():
    sc = load_scenario(FVM, overrides=["horizon.end=2022-07-31"])
    counts = np.zeros(4)
    for r in range(2):
        x = coexistence_odds_ratio(run_replication(sc, r))
        counts += [x["late_dual"], x["on_time_dual"], x["late_single"], x["on_time_single"]]
    a, b, c, d = counts
    assert min(counts) > 100  # enough results on both sides to mean something
    log_or = np.log((a / b) / (c / d))
    half = 1.96 * np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    assert 1.5 <= np.exp(log_or) <= 3.0, np.exp(log_or)
    assert np.exp(log_or - half) >= 1.2 and np.exp(log_or + half) <= 3.5
