"""Distribution specs: sampling matches theory, bad specs fail clearly, the library loads."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import ValidationError
from scipy import stats

from sim.sampling.distributions import (
    DISTRIBUTION_ADAPTER,
    FAMILIES,
    Z90,
    EmpiricalSpec,
    LognormalSpec,
    PertSpec,
    Sampler,
    parse_spec,
)

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = sorted((ROOT / "distributions").glob("*.yaml"))
N = 200_000
META = {"unit": "s", "source": "assumption: test fixture"}


def spec(**kwargs: Any) -> Any:
    return parse_spec({**META, **kwargs})


# Each case: a spec and the same distribution built independently with scipy.stats.
CASES: dict[str, tuple[dict[str, Any], Any]] = {
    "exponential": ({"family": "exponential", "mean": 3.0}, stats.expon(scale=3.0)),
    "lognormal": (
        {"family": "lognormal", "median": 45.0, "p90": 130.0},
        stats.lognorm(s=math.log(130 / 45) / stats.norm.ppf(0.9), scale=45.0),
    ),
    "gamma": ({"family": "gamma", "mean": 10.0, "cv": 0.5}, stats.gamma(a=4.0, scale=2.5)),
    "triangular": (
        {"family": "triangular", "low": 1.0, "mode": 2.0, "high": 6.0},
        stats.triang(c=0.2, loc=1.0, scale=5.0),
    ),
    "triangular-mode-at-low": (
        {"family": "triangular", "low": 0.0, "mode": 0.0, "high": 1.0},
        stats.triang(c=0.0, loc=0.0, scale=1.0),
    ),
    "pert": (
        {"family": "pert", "low": 2.0, "mode": 3.0, "high": 10.0},
        stats.beta(a=1 + 4 * 1 / 8, b=1 + 4 * 7 / 8, loc=2.0, scale=8.0),
    ),
    "pert-lambda": (
        {"family": "pert", "low": 0.0, "mode": 0.8, "high": 1.0, "lambda": 10.0},
        stats.beta(a=9.0, b=3.0, loc=0.0, scale=1.0),
    ),
    "uniform": ({"family": "uniform", "low": 2.0, "high": 5.0}, stats.uniform(loc=2, scale=3)),
    "normal": ({"family": "normal", "mu": 10.0, "sigma": 2.0}, stats.norm(10.0, 2.0)),
    "normal-truncated": (
        {"family": "normal", "mu": 10.0, "sigma": 2.0, "low": 9.0},
        stats.truncnorm(a=-0.5, b=np.inf, loc=10.0, scale=2.0),
    ),
    "normal-far-tail": (
        {"family": "normal", "mu": 0.0, "sigma": 1.0, "low": 6.0},
        stats.truncnorm(a=6.0, b=np.inf, loc=0.0, scale=1.0),
    ),
}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20201104)


def test_z90_is_normal_quantile() -> None:
    assert float(stats.norm.ppf(0.9)) == pytest.approx(Z90, rel=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_moments_match_theory(case: str, rng: np.random.Generator) -> None:
    data, ref = CASES[case]
    s = spec(**data)
    ref_mean, ref_var, ref_kurt = (float(x) for x in ref.stats(moments="mvk"))
    # The spec's own formulas agree with scipy.
    assert s.mean == pytest.approx(ref_mean, rel=1e-9)
    assert s.variance == pytest.approx(ref_var, rel=1e-6)

    x = s.sample(rng, N)
    assert x.shape == (N,)
    assert x.dtype == np.float64
    sd = math.sqrt(ref_var)
    # Sample mean within 5 standard errors.
    assert abs(x.mean() - ref_mean) < 5 * sd / math.sqrt(N)
    # Sample variance within 5 standard errors: Var(s^2) ~ sigma^4 (excess kurtosis + 2) / n.
    se_var = ref_var * math.sqrt((ref_kurt + 2) / N)
    assert abs(x.var(ddof=1) - ref_var) < 5 * se_var


@pytest.mark.parametrize("case", list(CASES))
def test_quantile_is_the_inverse_distribution_function(case: str) -> None:
    data, ref = CASES[case]
    u = np.linspace(0.001, 0.999, 999)
    np.testing.assert_allclose(spec(**data).quantile(u), ref.ppf(u), rtol=1e-7, atol=1e-9)


def test_empirical_and_fixed_quantiles() -> None:
    # Values 3, 1, 2 with probabilities 1/4, 1/2, 1/4: below 1/2 it is 1, then 2, from 3/4 on 3.
    s = spec(family="empirical", values=[3.0, 1.0, 2.0], weights=[1.0, 2.0, 1.0])
    u = np.array([0.0, 0.49, 0.5, 0.74, 0.75, 0.999])
    np.testing.assert_array_equal(s.quantile(u), [1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
    np.testing.assert_array_equal(spec(family="fixed", value=4.0).quantile(u), np.full(6, 4.0))


def test_fixed(rng: np.random.Generator) -> None:
    s = spec(family="fixed", value=2.5)
    state = rng.bit_generator.state
    x = s.sample(rng, (3, 4))
    assert x.shape == (3, 4)
    assert np.all(x == 2.5)
    assert (s.mean, s.variance) == (2.5, 0.0)
    assert rng.bit_generator.state == state  # draws no random numbers


def test_lognormal_quantiles(rng: np.random.Generator) -> None:
    s = spec(family="lognormal", median=45.0, p90=130.0)
    assert isinstance(s, LognormalSpec)
    assert s.mu == pytest.approx(math.log(45))
    assert s.sigma == pytest.approx(math.log(130 / 45) / stats.norm.ppf(0.9))
    ref = stats.lognorm(s=s.sigma, scale=45.0)
    x = s.sample(rng, N)
    for p, target in ((0.5, 45.0), (0.9, 130.0)):
        # Standard error of a sample quantile: sqrt(p (1-p) / n) / f(x_p).
        se = math.sqrt(p * (1 - p) / N) / ref.pdf(target)
        assert abs(np.quantile(x, p) - target) < 5 * se


@pytest.mark.parametrize(
    ("data", "low", "high"),
    [
        ({"family": "triangular", "low": 1.0, "mode": 2.0, "high": 6.0}, 1.0, 6.0),
        ({"family": "pert", "low": 2.0, "mode": 9.5, "high": 10.0}, 2.0, 10.0),
        ({"family": "uniform", "low": -1.0, "high": 1.0}, -1.0, 1.0),
        ({"family": "normal", "mu": 0.0, "sigma": 1.0, "low": 3.0}, 3.0, np.inf),
        ({"family": "exponential", "mean": 1.0}, 0.0, np.inf),
        ({"family": "lognormal", "median": 1.0, "p90": 5.0}, 0.0, np.inf),
        ({"family": "gamma", "mean": 1.0, "cv": 2.0}, 0.0, np.inf),
    ],
    ids=["triangular", "pert", "uniform", "normal-truncated", "exponential", "lognormal", "gamma"],
)
def test_bounds_respected(
    data: dict[str, Any], low: float, high: float, rng: np.random.Generator
) -> None:
    x = spec(**data).sample(rng, 50_000)
    assert x.min() >= low
    assert x.max() <= high


@pytest.mark.parametrize(
    ("values", "weights"),
    [([1.0, 2.0, 5.0, 10.0], [1.0, 2.0, 3.0, 4.0]), ([3.0, 1.0, 7.0], None)],
    ids=["weighted", "unweighted"],
)
def test_empirical_frequencies(
    values: list[float], weights: list[float] | None, rng: np.random.Generator
) -> None:
    s = spec(family="empirical", values=values, weights=weights)
    assert isinstance(s, EmpiricalSpec)
    p = np.asarray(weights) / sum(weights) if weights else np.full(len(values), 1 / len(values))
    assert s.mean == pytest.approx(float(np.dot(p, values)))
    assert s.variance == pytest.approx(float(np.dot(p, (np.asarray(values) - s.mean) ** 2)))
    x = s.sample(rng, N)
    counts = np.array([(x == v).sum() for v in values])
    assert counts.sum() == N
    assert stats.chisquare(counts, N * p).pvalue > 1e-6


def test_empirical_repeated_values(rng: np.random.Generator) -> None:
    s = spec(family="empirical", values=[1, 1, 2])
    x = s.sample(rng, 30_000)
    assert stats.chisquare([(x == 1).sum(), (x == 2).sum()], [20_000, 10_000]).pvalue > 1e-6
    assert s.mean == pytest.approx(4 / 3)


def test_sampling_is_reproducible_and_shaped() -> None:
    for name, (data, _) in CASES.items():
        s = spec(**data)
        a = s.sample(np.random.default_rng(1), (2, 3))
        b = s.sample(np.random.default_rng(1), (2, 3))
        assert a.shape == (2, 3), name
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_is_a_sampler(family: str) -> None:
    examples = {
        "fixed": {"value": 1.0},
        "exponential": {"mean": 1.0},
        "lognormal": {"median": 1.0, "p90": 2.0},
        "gamma": {"mean": 1.0, "cv": 1.0},
        "triangular": {"low": 0.0, "mode": 1.0, "high": 2.0},
        "pert": {"low": 0.0, "mode": 1.0, "high": 2.0},
        "uniform": {"low": 0.0, "high": 1.0},
        "empirical": {"values": [1.0]},
        "normal": {"mu": 0.0, "sigma": 1.0},
    }
    s = spec(family=family, **examples[family])
    assert isinstance(s, FAMILIES[family])
    assert isinstance(s, Sampler)
    assert math.isfinite(s.mean)
    # A dump round-trips through the adapter.
    assert DISTRIBUTION_ADAPTER.validate_python(s.model_dump(by_alias=True)) == s


# -- bad input ----------------------------------------------------------------------------

BAD: list[tuple[dict[str, Any], str]] = [
    ({"family": "lognormal", "median": 45, "p90": 30}, "p90 (30) must exceed median (45)"),
    ({"family": "lognormal", "median": 0, "p90": 30}, "greater than 0"),
    ({"family": "triangular", "low": 5, "mode": 1, "high": 3}, "triangular needs low <= mode"),
    ({"family": "triangular", "low": 2, "mode": 2, "high": 2}, "triangular needs low < high"),
    ({"family": "pert", "low": 0, "mode": 4, "high": 3}, "pert needs low <= mode <= high"),
    ({"family": "pert", "low": 0, "mode": 1, "high": 3, "lambda": 0}, "greater than 0"),
    ({"family": "uniform", "low": 3, "high": 3}, "uniform needs low < high"),
    ({"family": "exponential", "mean": -1}, "greater than 0"),
    ({"family": "exponential", "mean": float("nan")}, "finite number"),
    ({"family": "gamma", "mean": 1, "cv": 0}, "greater than 0"),
    ({"family": "empirical", "values": []}, "at least 1 item"),
    ({"family": "empirical", "values": [1, 2], "weights": [1]}, "weights has 1 entries"),
    ({"family": "empirical", "values": [1, 2], "weights": [1, -1]}, "non-negative"),
    ({"family": "empirical", "values": [1, 2], "weights": [0, 0]}, "positive sum"),
    ({"family": "normal", "mu": 0, "sigma": 0}, "greater than 0"),
    ({"family": "normal", "mu": 0, "sigma": 1, "low": 31}, "more than 30 sigma"),
    ({"family": "weibull", "shape": 2}, "does not match any of the expected tags"),
    ({"median": 1, "p90": 2}, "Unable to extract tag using discriminator 'family'"),
    ({"family": "fixed", "value": 1, "mean": 1}, "Extra inputs are not permitted"),
    ({"family": "fixed", "value": 1, "unit": ""}, "at least 1 character"),
    ({"family": "fixed", "value": 1, "source": "see the paper"}, "source must cite a URL"),
    ({"family": "fixed", "value": 1, "source": "assumption"}, "source must cite a URL"),
    (
        {"family": "fixed", "value": 1, "range": {"mean": [0, 2]}},
        "range names unknown parameter 'mean'",
    ),
    ({"family": "fixed", "value": 1, "range": {"value": [2, 0]}}, "low (2) above high (0)"),
    ({"family": "fixed", "value": 1, "range": {"value": [2, 3]}}, "value (1) lies outside"),
    (
        {"family": "lognormal", "median": 45, "p90": 60, "range": {"median": [40, 70]}},
        "range corner (median=70) gives an invalid spec: p90 (60) must exceed median (70)",
    ),
    (
        {"family": "exponential", "mean": 1, "range": {"mean": [0, 2]}},
        "range corner (mean=0)",
    ),
    (
        {"family": "normal", "mu": 0, "sigma": 1, "range": {"low": [0, 1]}},
        "unknown parameter 'low'",
    ),
    ({"family": "empirical", "values": [1], "range": {"values": [0, 1]}}, "unknown parameter"),
]


@pytest.mark.parametrize(("data", "fragment"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_invalid_specs_raise(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_spec({**META, **data})
    assert fragment in str(info.value)


def test_missing_metadata_named() -> None:
    with pytest.raises(ValidationError) as info:
        parse_spec({"family": "fixed", "value": 1})
    fields = {err["loc"][-1] for err in info.value.errors()}
    assert fields == {"unit", "source"}


def test_cross_field_error_points_at_later_field() -> None:
    with pytest.raises(ValidationError) as info:
        parse_spec({**META, "family": "lognormal", "median": 45, "p90": 30})
    assert info.value.errors()[0]["loc"] == ("lognormal", "p90")


def test_specs_are_frozen() -> None:
    s = spec(family="fixed", value=1.0)
    with pytest.raises(ValidationError):
        s.value = 2.0  # type: ignore[misc]


# -- ranges, parameters, scaling ------------------------------------------------------------


def test_valid_ranges_and_parameters() -> None:
    s = spec(
        family="pert",
        low=1,
        mode=2,
        high=5,
        **{"lambda": 6},
        range={"mode": [1.5, 4], "lambda": [2, 8], "high": [4.5, 9]},
    )
    assert isinstance(s, PertSpec)
    assert s.parameters() == {"low": 1.0, "mode": 2.0, "high": 5.0, "lambda": 6.0}
    assert s.range == {"mode": (1.5, 4.0), "lambda": (2.0, 8.0), "high": (4.5, 9.0)}
    moved = s.with_params({"mode": 4, "lambda": 2, "high": 4.5})
    assert moved.parameters()["mode"] == 4.0
    with pytest.raises(ValidationError, match="outside its range"):
        s.with_params({"mode": 4.5})


def test_scaled(rng: np.random.Generator) -> None:
    s = spec(family="lognormal", median=45, p90=130, range={"median": [30, 90]}, note="n")
    double = s.scaled(2)
    assert (double.median, double.p90) == (90.0, 260.0)
    assert double.range == {"median": (60.0, 180.0)}
    assert (double.unit, double.source, double.note) == (s.unit, s.source, s.note)
    assert double.mean == pytest.approx(2 * s.mean)
    np.testing.assert_allclose(
        double.sample(np.random.default_rng(3), 100), 2 * s.sample(np.random.default_rng(3), 100)
    )
    g = spec(family="gamma", mean=4, cv=0.5, range={"mean": [2, 8], "cv": [0.2, 1]}).scaled(0.5)
    assert (g.mean, g.cv, g.range) == (2.0, 0.5, {"mean": (1.0, 4.0), "cv": (0.2, 1.0)})
    e = spec(family="empirical", values=[1, 2], weights=[1, 3]).scaled(3)
    assert e.values == (3.0, 6.0)
    assert e.mean == pytest.approx(3 * 1.75)
    n = spec(family="normal", mu=1, sigma=2, low=0).scaled(2)
    assert (n.mu, n.sigma, n.low) == (2.0, 4.0, 0.0)
    for bad in (0, -1, float("inf")):
        with pytest.raises(ValueError, match="positive and finite"):
            s.scaled(bad)


# -- the library ----------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys instead of keeping the last one."""


def _construct_unique(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise AssertionError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique,  # type: ignore[arg-type]
)


def _library() -> list[tuple[str, str, Any]]:
    entries = []
    for path in LIBRARY:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict), f"{path.name}: top level must be a mapping"
        yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
        entries += [(path.name, name, body) for name, body in data.items()]
    return entries


def test_library_files_exist() -> None:
    assert {p.name for p in LIBRARY} >= {
        "demand.yaml",
        "results.yaml",
        "handling.yaml",
        "staff.yaml",
        "migration.yaml",
    }


def test_library_entries_parse_and_are_documented() -> None:
    entries = _library()
    assert len(entries) >= 20
    names = [name for _, name, _ in entries]
    assert len(names) == len(set(names)), "distribution names must be unique across files"
    rng = np.random.default_rng(0)
    for file, name, body in entries:
        where = f"{file}:{name}"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), f"{where}: name not snake_case"
        s = DISTRIBUTION_ADAPTER.validate_python(body)
        assert s.source.strip(), where
        assert s.unit.strip(), where
        assert math.isfinite(s.mean), where
        assert np.all(np.isfinite(s.sample(rng, 1000))), where


def _used_names(sc) -> set[str]:
    s = sc.model
    names = set(s.input_roles.values()) | set(sc.sources.values())
    names |= {c.turnaround for c in s.test_categories}
    names |= {site.orders_per_day for site in s.sites if isinstance(site.orders_per_day, str)}
    for kind in s.site_kinds.values():
        names |= set(kind.inputs.values())
    return names


def test_every_library_distribution_is_used_by_a_scenario():
    from sim.scenario.loading import load_scenario

    used: set[str] = set()
    library: set[str] = set()
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        sc = load_scenario(path)
        used |= _used_names(sc)
        library |= set(sc.library)
        for variant in sc.model.variants:  # a declared variant may name one the base does not
            used |= _used_names(load_scenario(path, variant))
    assert sorted(library - used) == [], "use them in a mechanism or move them to reference/"


def test_reference_figures_are_valid_specs_and_not_loaded():
    from sim.scenario.loading import load_scenario

    loaded = set(load_scenario(ROOT / "scenarios/tiny.yaml").library)
    for path in sorted((ROOT / "distributions/reference").glob("*.yaml")):
        for name, data in yaml.safe_load(path.read_text()).items():
            parse_spec(data)
            assert name not in loaded, name
