"""The error of an experiment request that cannot be run as asked (exit code 2, usage).

Its own module, so that readers of a run folder (``compare``, ``report``) can raise it
without importing the model, SimPy and numba.
"""

from __future__ import annotations

from sim.scenario.errors import ExitCode


class ExperimentError(Exception):
    """A request that cannot be run as asked (exit code 2, usage)."""

    exit_code = ExitCode.USAGE
