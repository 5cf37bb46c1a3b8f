"""Overlooked results: the heavy tail of time to acknowledge that no queue produces.

Queueing alone signs almost every result within days: signers work their inbox in every
session and are about half busy. Real inboxes have a tail that is not a queue: a result is
read, put aside ("I'll deal with it after the clinic") and not taken up again for weeks.
Singh 2010 found 10.2 % of abnormal lab alerts unacknowledged after two weeks in a
single-system record, and 6.8 % without timely follow-up at 30 days
(``shared/evidence.md`` sections 2 and 4).

The model carries that tail as two inputs: ``staffing.overlooked_share``, the share of results
put aside at first read (library ``result_overlooked_share``, 0.10, range 0.05-0.20), and the
input role ``overlooked_delay``, how long such a result waits before its signer takes it up
again (library ``result_overlooked_delay``, exponential, mean 40 days: the decay from 10.2 %
at 14 days to 6.8 % at 30 days). Each potential order carries one uniform from its unit's
stream ``overlooked/<unit>``: it is put aside if the uniform ``u`` is below the share, and
then waits the delay's quantile at ``u / share``. The same order is put aside for the same
time in every variant and in the no-cutover twin, so the tail is background by construction,
and the cutover's excess is what it does to results that are *not* put aside, plus what
happens to put-aside results where the cutover changes their fate:

* a put-aside result reaches its signer's attention at ``ready + delay`` (the first read is not
  timed: it is part of the session that puts it aside);
* a put-aside result in a legacy inbox comes back at the latest when its signers start
  emptying that inbox ahead of its deadline (``policies.lock.priority_days`` before
  ``Timeline.closed``, :func:`sim.model.staff.legacy_due_from`): the inbox is swept, and what
  lay forgotten in it is worked with the home inbox's priority; what the signers cannot finish
  by the deadline leaves with the inbox's other leftovers (orphaned or rerouted,
  :mod:`sim.model.locks`).

Lateness is still counted from the lab's ready time (:mod:`sim.metrics.lateness`), so a
put-aside abnormal result is late when its delay outlasts the threshold; a critical one is
phoned first (:mod:`sim.model.safety`), which is what the call is for.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np


def put_aside_delays(
    u: np.ndarray, share: float, minutes_at: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Delays, in minutes and in order, of a unit's potential orders that are put aside
    (uniform ``u`` below ``share``): the delay input's quantile ``minutes_at`` at ``u / share``.
    A larger share puts aside the same orders and more, each for no shorter a time."""
    return minutes_at(u[u < share] / share)


@numba.njit(cache=True)
def seen_at(ready: float, delay: float, legacy: bool, swept: float) -> float:
    """When a result reaches its signer's attention: its lab ready time plus its delay (0
    unless put aside), but a legacy result no later than the minute its unit starts emptying
    the legacy inbox (``swept``), or its ready time if that is later."""
    back = ready + delay
    if legacy and back > swept:
        return max(ready, swept)
    return back
