"""Verification against queueing theory: the signing queue reduced to M/M/1 per signer.

tests/data/queueing.yaml reduces a unit to Poisson arrivals (48 a day), exponential handling
(mean 20 minutes) and an always-open session with refresh. Each signer with personal inbox is
then an M/M/1 queue (Erlang C with one server): P(wait) = rho, Wq = rho / (mu - lambda),
W = Wq + 1/mu, and Little's law L = lambda W holds. Means over independent replications
give a t confidence interval that must contain the theoretical value.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sim.model.replication import run_replication
from sim.scenario.loading import load_scenario

SCENARIO = Path(__file__).parent / "data" / "queueing.yaml"
WARMUP_DAYS, COOLDOWN_DAYS, REPLICATIONS = 7, 5, 10


def erlang_c(c: int, lam: float, mu: float) -> tuple[float, float]:
    """Probability of waiting and mean wait in queue of M/M/c (Erlang C formula)."""
    a = lam / mu
    top = a**c / math.factorial(c) / (1 - a / c)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait, p_wait / (c * mu - lam)


def _by_item(rep, name: str) -> np.ndarray:
    """A pool attribute (handling, signer) laid out by item index."""
    out = np.zeros(len(rep.items.ready))
    for pool in rep.pools.values():
        out[pool.gid] = getattr(pool, name)
    return out


def _replicate(signers: int):
    sc = load_scenario(SCENARIO, overrides=[f"sites[q].signers={signers}"])
    waits, p_waits, sojourns, littles = [], [], [], []
    for r in range(REPLICATIONS):
        rep = run_replication(sc, replication=r)
        it, n = rep.items, rep.n_results
        ready, done, handling = rep.lab_ready, it.done[:n], _by_item(rep, "handling")[:n]
        lo = rep.calendar.day_start[WARMUP_DAYS]
        hi = rep.calendar.day_start[-1 - COOLDOWN_DAYS]
        window = (ready >= lo) & (ready < hi)
        assert np.isfinite(done[window]).all()
        wait = done[window] - handling[window] - ready[window]
        waits.append(wait.mean())
        p_waits.append((wait > 1e-9).mean())
        sojourns.append((done[window] - ready[window]).mean())
        # Little: time-average number in system over the window = integral / length.
        t0, t1 = lo, hi
        left = np.where(np.isnan(done), np.inf, done)
        inside = np.clip(np.minimum(left, t1) - np.maximum(ready, t0), 0, None)
        littles.append((inside.sum() / (t1 - t0), window.sum() / (t1 - t0)))
    return np.array(waits), np.array(p_waits), np.array(sojourns), littles


def _ci(x: np.ndarray, level: float = 0.99) -> tuple[float, float]:
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return x.mean() - half, x.mean() + half


@pytest.mark.parametrize("signers", [1, 2])
def test_signing_queue_matches_erlang_c_and_littles_law(signers):
    lam = 48 / 1440 / signers  # per signer: orders are split evenly over orderers
    mu = 1 / 20
    p_wait, wq = erlang_c(1, lam, mu)
    waits, p_waits, sojourns, littles = _replicate(signers)
    lo, hi = _ci(waits)
    assert lo <= wq <= hi, (wq, lo, hi)
    lo, hi = _ci(p_waits)
    assert lo <= p_wait <= hi, (p_wait, lo, hi)
    # Little's law per replication: L = lambda_hat * W_hat up to edge effects (a few %).
    for (L, lam_hat), w in zip(littles, sojourns, strict=True):
        assert abs(L - lam_hat * w) <= 0.05 * L


def test_always_open_session_is_exactly_the_lindley_recursion():
    """Per signer, sign times equal f_k = max(a_k, f_{k-1}) + h_k computed independently."""
    rep = run_replication(load_scenario(SCENARIO, overrides=["sites[q].signers=2"]), 3)
    it, n = rep.items, rep.n_results
    handling, owner = _by_item(rep, "handling"), _by_item(rep, "signer")
    for signer in (0, 1):
        mine = np.flatnonzero(owner[:n] == signer)
        mine = mine[np.argsort(rep.lab_ready[mine], kind="stable")]
        finish, expected = -np.inf, []
        for k in mine:
            finish = max(rep.lab_ready[k], finish) + handling[k]
            expected.append(finish)
        expected = np.array(expected)
        signed = it.done[mine]
        inside = expected < rep.calendar.horizon_minutes
        np.testing.assert_allclose(signed[inside], expected[inside], rtol=0, atol=1e-6)
