"""Which system a unit is in at a time, for compiled loops over millions of orders.

:class:`sim.schedule.timeline.Timeline` answers "does this unit document (or order labs) in
Millennium at ``t``?" with numpy expressions, each a fresh array as long as its question.
Asked of every order of a region, those temporaries (and their page faults) cost more than
the arithmetic, so loops that visit each order once ask this compiled twin instead.
``tests/test_kernels_model.py`` holds it to the timeline's answers.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True)
def in_new_system(t, unit, switch, rb_start, rb_end):  # pragma: no cover - compiled
    """True where ``unit`` is in Millennium at ``t`` for the switch ``switch`` (per unit:
    ``Timeline.go_live`` for documenting, as ``Timeline.home_new``; ``ros_switch`` for ordering
    labs, as ``Timeline.client_new``): from the switch on, except in a rollback interval."""
    return t >= switch[unit] and not (rb_start[unit] <= t < rb_end[unit])
