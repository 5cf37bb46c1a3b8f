"""Parameter uncertainty: a library whose parameters are drawn from their documented ranges.

Every library distribution may carry ``range: {parameter: [low, high]}``, the span of values
the evidence supports (``distributions/README.md``). With parameter uncertainty on, each
replication runs on its own copy of the library, every ranged parameter drawn once for the
whole replication, so that the spread over replications carries what we do not know as well
as the dice.

**The distribution of a parameter** is triangular on its range with the mode at the library's
value: the documented value is the most plausible one, the range's ends the least, and the
draw never leaves the range. A range that is a point (low == high) gives that value.
Parameters are drawn independently; every corner of a spec's range box is a valid spec and
every family constraint is linear, so any drawn point is a valid spec
(:mod:`sim.sampling.distributions`).

**Streams.** Each distribution's parameters come from the stream
``uncertainty/<distribution name>`` of ``(root seed, replication)``, never of a variant, so
every variant of a replication (and its no-cutover twin) runs on the same drawn library:
common random numbers for parameters too.

**Reuse.** :func:`ranged` lists a spec's ranges and :func:`at_quantiles` places a spec at given
quantiles of its parameters' distributions; a sensitivity analysis over the same ranges
(Morris, Sobol) can call :func:`at_quantiles` with its own unit-cube points, or
:func:`at_point` with parameter values, to get valid specs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from sim.sampling.distributions import DistributionSpec
from sim.sampling.streams import make_rng

__all__ = ["STREAM_PREFIX", "at_point", "at_quantiles", "draw_library", "ranged"]

STREAM_PREFIX = "uncertainty/"


def ranged(spec: DistributionSpec) -> dict[str, tuple[float, float, float]]:
    """The spec's ranged parameters: name -> (low, value, high)."""
    params = spec.parameters()
    return {name: (lo, params[name], hi) for name, (lo, hi) in (spec.range or {}).items()}


def _triangular_quantile(u: float, low: float, mode: float, high: float) -> float:
    """Inverse CDF of the triangular distribution on [low, high] with the given mode."""
    if high <= low:
        return low
    split = (mode - low) / (high - low)
    if u < split:
        value = low + math.sqrt(u * (high - low) * (mode - low))
    else:
        value = high - math.sqrt((1.0 - u) * (high - low) * (high - mode))
    return min(max(value, low), high)  # rounding never leaves the range


def at_quantiles(spec: DistributionSpec, u: Mapping[str, float]) -> DistributionSpec:
    """The spec with each parameter named in ``u`` set to that quantile (in [0, 1]) of its
    triangular distribution on its range; parameters not named keep their value."""
    box = ranged(spec)
    unknown = set(u) - set(box)
    if unknown:
        raise KeyError(f"no range for parameter(s) {', '.join(sorted(unknown))}")
    values = {name: _triangular_quantile(float(q), *box[name]) for name, q in u.items()}
    return at_point(spec, values)


def at_point(spec: DistributionSpec, values: Mapping[str, float]) -> DistributionSpec:
    """The spec with some ranged parameters set to given values inside their ranges."""
    if not values:
        return spec
    return spec.with_params(values)


def draw_library(
    library: Mapping[str, DistributionSpec], root_seed: int, replication: int
) -> dict[str, DistributionSpec]:
    """The library with every ranged parameter drawn for one replication (see module doc).

    Distributions without a range are returned as they are (the same objects).
    """
    out: dict[str, DistributionSpec] = {}
    for name, spec in library.items():
        box = ranged(spec)
        if not box:
            out[name] = spec
            continue
        rng = make_rng(root_seed, replication, STREAM_PREFIX + name)
        uniforms = rng.random(len(box))  # one per parameter, in the range's order
        out[name] = at_quantiles(spec, dict(zip(box, uniforms.tolist(), strict=True)))
    return out
