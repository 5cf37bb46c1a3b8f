"""Checking the second inbox: when the abnormal results there are seen.

While a unit documents in one system and results still arrive in the other (coexistence, or
a rollback), each signer has a *second* inbox. By default it comes last in a session, after
the messages and the home inbox's normal results (:mod:`sim.model.inbox`): it is opened when
time is left. Signers may instead have been told to look there for abnormal results every
time they sign: in a share of sessions (``staffing.second_inbox_check_share``) a signer
opens the second inbox right after the home inbox's abnormal results, before the messages,
and works its abnormal results and chase tasks then (priority group 2); its normal results
still come last. Opening it costs the switching time as always.

How often signers do this is not measured anywhere we know of, so the share is an assumption
whose range, 0 (never: the second inbox only when time is left) to 1 (every session), is the
whole interval: it decides how much of the coexistence harm reaches abnormal results, and a
run with ``inputs.uncertainty`` or a sensitivity analysis shows how much.

Each signer's check is drawn per session from the unit's own stream
(``second_inbox/<unit>``): one uniform per signer and session, checked if below the share.
The draws depend on neither schedule nor policy, so every variant and the no-cutover twin
see the same signers check in the same sessions; share 0 draws nothing and share 1 needs no
draw.
"""

from __future__ import annotations

import numpy as np

from sim.sampling.streams import Streams
from sim.schedule.timeline import Unit


def second_inbox_checks(
    share: float, streams: Streams, units: list[Unit], n_sessions: int
) -> np.ndarray | None:
    """(sessions, signers) whether each signer of ``units`` (in order, a unit's signers
    together) checks the second inbox in each session; ``None`` when nobody ever does."""
    if share <= 0:
        return None
    signers = sum(u.signers for u in units)
    if share >= 1:
        return np.ones((n_sessions, signers), dtype=bool)
    return np.concatenate(
        [
            streams.rng(f"second_inbox/{u.id}").random((n_sessions, u.signers)) < share
            for u in units
        ],
        axis=1,
    )
