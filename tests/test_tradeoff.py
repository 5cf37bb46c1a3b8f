"""The window trade-off on a reduced scenario (``tiny.yaml``), as paired comparisons.

A variant's excess over a shared no-cutover twin differs from another's exactly as their totals
do (the twin is the same run for both), so paired differences of totals over replications with
common random numbers are the comparison; the 95 % interval of the mean difference is from the
t distribution. ``tight`` is an area that can field no go-live support at all, ``ample`` one
that gives every unit its planned 1 super user per 10 signers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import sim

TINY = Path(__file__).resolve().parent.parent / "scenarios" / "tiny.yaml"
REPLICATIONS = 5
TIGHT, AMPLE = "areas[south].support_per_day=0", "areas[south].support_per_day=null"


def _late_abnormal(window: int, support: str) -> np.ndarray:
    sc = sim.load_scenario(TINY, overrides=[f"policies.coexistence_window_days={window}", support])
    return np.array([sim.run_one(sc, r).kpis["late_abnormal"] for r in range(REPLICATIONS)])


def _interval(d: np.ndarray) -> tuple[float, float]:
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean() - half, d.mean() + half


@pytest.mark.slow
def test_with_ample_support_a_shorter_window_gives_fewer_late_abnormal_results():
    lo, hi = _interval(_late_abnormal(7, AMPLE) - _late_abnormal(28, AMPLE))
    assert hi < 0, (lo, hi)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="not produced: even with no go-live support (and the learning multipliers and time "
    "constant at the top of their ranges) the 7-day window gives fewer late abnormal results "
    "than the 28-day one in tiny (mean difference -12, 95% CI -22 to -2); the second inbox's cost "
    "during a long window outweighs the overlap of the learning curves (issue 14, report)",
)
def test_with_tight_support_a_7_day_window_gives_more_late_abnormal_results():
    lo, hi = _interval(_late_abnormal(7, TIGHT) - _late_abnormal(28, TIGHT))
    assert lo > 0, (lo, hi)
