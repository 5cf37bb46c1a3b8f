"""Parameter uncertainty: draws inside the ranges, shared by variants, and what it does to a CI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sim.metrics.tables import tabulate
from sim.model.replication import run_replication
from sim.sampling.distributions import parse_spec
from sim.sampling.uncertainty import at_quantiles, draw_library, ranged
from sim.scenario.drawn import for_replication, with_library
from sim.scenario.errors import ScenarioError
from sim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
ON = "inputs.uncertainty=true"
SHORT = "horizon.end=2022-03-13"  # five weeks: enough for absence to move the backlog


def _range(spec, new: dict[str, tuple[float, float]]):
    """The spec with other ranges (validated like the library's)."""
    return type(spec).model_validate({**spec.model_dump(by_alias=True), "range": new})


def test_every_drawn_parameter_stays_inside_its_range():
    library = load_scenario(TINY).library
    boxes = {name: ranged(spec) for name, spec in library.items() if spec.range}
    assert boxes, "the library has ranges to draw from"
    for r in range(200):
        drawn = draw_library(library, root_seed=7, replication=r)
        for name, box in boxes.items():
            params = drawn[name].parameters()
            for p, (lo, _, hi) in box.items():
                assert lo <= params[p] <= hi, (name, p, params[p])


def test_draws_follow_a_triangular_law_with_its_mode_at_the_library_value():
    """Mean of many draws against the triangular mean (low+mode+high)/3, within 4 standard
    errors from the triangular variance (a test that fails if the law is another one)."""
    spec = parse_spec(
        {"family": "fixed", "value": 2.0, "unit": "ratio", "source": "assumption: test",
         "range": {"value": [1.0, 6.0]}}
    )  # fmt: skip
    n = 4000
    values = np.array([draw_library({"x": spec}, 11, r)["x"].value for r in range(n)], dtype=float)
    a, c, b = 1.0, 2.0, 6.0
    mean = (a + b + c) / 3
    sd = math.sqrt((a * a + b * b + c * c - a * b - a * c - b * c) / 18)
    assert abs(values.mean() - mean) < 4 * sd / math.sqrt(n)
    assert values.min() >= a and values.max() <= b
    # the mode sits at the library value: the share below it is (c-a)/(b-a) = 0.2
    share = (values < c).mean()
    assert abs(share - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n)


def test_quantiles_hit_the_range_ends_and_a_point_range_gives_its_value():
    spec = load_scenario(TINY).library["result_review_time"]
    (name, (lo, value, hi)), *_ = ranged(spec).items()
    assert at_quantiles(spec, {name: 0.0}).parameters()[name] == pytest.approx(lo)
    assert at_quantiles(spec, {name: 1.0}).parameters()[name] == pytest.approx(hi)
    point = _range(spec, {name: (value, value)})
    assert at_quantiles(point, {name: 0.37}).parameters()[name] == value
    with pytest.raises(KeyError, match="no range"):
        at_quantiles(spec, {"nonsense": 0.5})


def test_variants_share_the_draws_and_sourced_numbers_follow_them():
    a = for_replication(load_scenario(TINY, "window-2w", [ON]), 3, 99)
    b = for_replication(load_scenario(TINY, "window-4w", [ON]), 3, 99)
    assert a.library == b.library
    other = for_replication(load_scenario(TINY, "window-2w", [ON]), 4, 99)
    assert other.library != a.library, "another replication draws other parameters"
    # a scenario number that names a distribution runs on the drawn mean
    assert a.sources["staffing.absence_share"] == "staff_absence_share"
    assert a.model.staffing.absence_share == a.library["staff_absence_share"].mean
    assert a.model.staffing.absence_share != load_scenario(TINY).model.staffing.absence_share
    off = load_scenario(TINY)
    assert for_replication(off, 3, 99) is off


def test_a_drawn_mean_that_breaks_a_field_bound_is_a_located_error():
    sc = load_scenario(TINY)
    spec = sc.library["staff_absence_share"]
    data = {**spec.model_dump(by_alias=True, exclude_none=True), "value": 1.5}
    data.pop("range")
    bad = {**sc.library, "staff_absence_share": type(spec).model_validate(data)}
    with pytest.raises(ScenarioError, match=r"staffing\.absence_share"):
        with_library(sc, bad)


def test_the_switch_is_a_boolean_and_only_the_switch_is():
    with pytest.raises(ScenarioError, match=r"inputs\.uncertainty must be true or false"):
        load_scenario(TINY, overrides=["inputs.uncertainty=maybe"])
    with pytest.raises(ScenarioError, match=r"inputs\.review_time must be a distribution name"):
        load_scenario(TINY, overrides=["inputs.review_time=true"])


def _kpi(sc, name: str, reps: int) -> np.ndarray:
    return np.array([tabulate(run_replication(sc, r, 5)).kpis[name] for r in range(reps)])


def _with_ranges(sc, ranges: dict[str, dict[str, tuple[float, float]]]):
    """``sc`` (uncertainty on) with some ranges replaced and every other range a point."""
    library = {}
    for name, spec in sc.library.items():
        if name in ranges:
            library[name] = _range(spec, ranges[name])
        elif spec.range:
            params = spec.parameters()
            library[name] = _range(spec, {p: (params[p], params[p]) for p in spec.range})
        else:
            library[name] = spec
    return with_library(sc, library)


def test_point_ranges_give_exactly_the_run_without_uncertainty():
    off = load_scenario(TINY, overrides=[SHORT])
    on = _with_ranges(load_scenario(TINY, overrides=[SHORT, ON]), {})
    a = tabulate(run_replication(off, 0, 5))
    b = tabulate(run_replication(on, 0, 5))
    assert a.kpis == b.kpis
    assert a.site_days.equals(b.site_days)


@pytest.mark.slow
def test_a_wider_range_widens_the_kpi_interval():
    """Same replications (same dice) twice: absence share fixed at its value, then drawn from
    a wide range. The spread over replications must grow beyond what the dice give: a
    one-sided F test of the variance ratio at the 1 % level."""
    base = load_scenario(TINY, overrides=[SHORT, ON])
    value = base.library["staff_absence_share"].parameters()["value"]
    n = 10
    point = _kpi(
        _with_ranges(base, {"staff_absence_share": {"value": (value, value)}}), "backlog_peak", n
    )
    wide = _kpi(
        _with_ranges(base, {"staff_absence_share": {"value": (0.0, 0.9)}}), "backlog_peak", n
    )
    ratio = wide.var(ddof=1) / max(point.var(ddof=1), 1e-9)
    assert ratio > stats.f.ppf(0.99, n - 1, n - 1), (point, wide)
