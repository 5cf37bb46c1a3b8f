"""Input-distribution specs that are also their own vectorized samplers.

A distribution in ``distributions/*.yaml`` is a mapping with a ``family`` key, the family's
parameters and some metadata::

    result_review_time:
      family: lognormal
      median: 45
      p90: 130
      unit: s
      source: https://...
      range: {median: [30, 90]}

Each family is a frozen pydantic v2 model (unknown keys are errors). The models are joined
in :data:`DistributionSpec`, a union discriminated on ``family``; validate plain data with
:func:`parse_spec` or :data:`DISTRIBUTION_ADAPTER` (a :class:`pydantic.TypeAdapter`).

**A spec is its own sampler.** Every model implements the :class:`Sampler` protocol directly:
``spec.sample(rng, size)`` returns a float64 array drawn with the given NumPy generator in one
vectorized call, and ``spec.mean`` is the theoretical mean (``spec.variance`` the theoretical
variance). There is no separate sampler object to build or keep in sync; derived constants
(lognormal mu and sigma, gamma shape and scale, PERT beta shapes) are cheap properties.

Families and their parameters:

=============  ==========================================  ================================
family         parameters                                  notes
=============  ==========================================  ================================
fixed          value                                       draws no random numbers
exponential    mean                                        mean > 0
lognormal      median, p90                                 p90 > median > 0;
                                                           mu = ln(median),
                                                           sigma = ln(p90/median) / z0.9
gamma          mean, cv                                    shape = 1/cv², scale = mean·cv²
triangular     low, mode, high                             low <= mode <= high, low < high
pert           low, mode, high, lambda (default 4)         scaled beta with
                                                           a = 1 + λ(mode-low)/(high-low),
                                                           b = 1 + λ(high-mode)/(high-low)
uniform        low, high                                   low < high
empirical      values, weights (optional)                  draws values with probability
                                                           weight / sum(weights)
normal         mu, sigma, low (optional)                   truncated below at ``low`` if set
=============  ==========================================  ================================

Metadata on every spec: ``unit`` (required, e.g. ``s``, ``min``, ``h``, ``days``, ``share``),
``source`` (required: a citation containing a URL, or ``assumption: <reason>``), ``range``
(optional plausible range of named scalar parameters, for sensitivity analysis) and ``note``.

**Ranges.** ``range: {median: [30, 90]}`` says the median is uncertain within [30, 90]. Each
named parameter must exist on the spec, the range must be ordered and contain the current
value, and *every corner* of the box of ranges must itself be a valid spec. All family
constraints are linear inequalities, so a valid box means any point inside it is valid too:
a sensitivity analysis can set parameters anywhere in their ranges (:meth:`with_params`)
without ever producing an invalid spec.

**Scaling.** ``spec.scaled(f)`` returns the distribution of ``f·X`` (f > 0): location and
scale parameters are multiplied, shape parameters (gamma cv, PERT lambda) kept, and ranges of
the scaled parameters scaled with them. It is meant for multipliers such as a learning curve.

Cross-field errors are attached to the later field (``p90`` for a lognormal, ``high`` for a
triangular, ...) so that a loader can point at the right line.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Protocol, Self, runtime_checkable

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from scipy.special import betaincinv, gammaincinv, log_ndtr, ndtr, ndtri

__all__ = [
    "DISTRIBUTION_ADAPTER",
    "FAMILIES",
    "Z90",
    "DistributionSpec",
    "EmpiricalSpec",
    "ExponentialSpec",
    "FixedSpec",
    "GammaSpec",
    "LognormalSpec",
    "NormalSpec",
    "PertSpec",
    "Sampler",
    "Size",
    "TriangularSpec",
    "UniformSpec",
    "parse_spec",
]

Size = int | tuple[int, ...]

Z90: float = float(ndtri(0.9))
"""Standard normal 0.9 quantile (== scipy.stats.norm.ppf(0.9) ≈ 1.2816)."""

_MAX_TRUNCATION_Z = 30.0
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@runtime_checkable
class Sampler(Protocol):
    """Anything that draws vectorized samples and knows its theoretical mean.

    ``quantile(u)`` is the inverse distribution function: values for given uniforms, for
    inputs that only a few items need, so that they are computed for those items alone from
    one uniform per item (the same item gets the same value in every variant). Written with
    ``scipy.special`` (importing ``scipy.stats`` would add half a second to every command).
    """

    @property
    def mean(self) -> float: ...

    def sample(self, rng: np.random.Generator, size: Size) -> np.ndarray: ...

    def quantile(self, u: np.ndarray) -> np.ndarray: ...


def _g(x: float) -> str:
    """Short number formatting for messages: 30.0 -> '30'."""
    return f"{x:g}"


_ASSUMPTION = re.compile(r"assumption\s*[:\-–—(]?\s*\S.{2,}", re.IGNORECASE | re.DOTALL)


class _SpecBase(BaseModel):
    """Metadata shared by every family, plus the parameter/range machinery."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        str_strip_whitespace=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    unit: str = Field(min_length=1, description="unit of the sampled values, e.g. s, min, h")
    source: str = Field(description="citation with a URL, or 'assumption: <reason>'")
    range: dict[str, tuple[float, float]] | None = Field(
        None, description="plausible [low, high] of named scalar parameters"
    )
    note: str = ""

    #: External names of the scalar numeric parameters (the keys ``range`` may use).
    scalar_params: ClassVar[tuple[str, ...]] = ()
    #: External names of the parameters multiplied by :meth:`scaled`.
    scale_params: ClassVar[tuple[str, ...]] = ()

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if "http://" in value or "https://" in value or _ASSUMPTION.fullmatch(value):
            return value
        raise ValueError(
            "source must cite a URL (http:// or https://) or read 'assumption: <reason>', "
            f"got {value!r}"
        )

    # -- parameters ---------------------------------------------------------------------

    @classmethod
    def _field_name(cls, external: str) -> str:
        for name, info in cls.model_fields.items():
            if (info.alias or name) == external:
                return name
        raise KeyError(external)

    def parameters(self) -> dict[str, float]:
        """Current values of the scalar parameters, by external (YAML) name.

        Optional parameters that are unset (a normal without ``low``) are left out.
        """
        out: dict[str, float] = {}
        for external in self.scalar_params:
            value = getattr(self, self._field_name(external))
            if value is not None:
                out[external] = float(value)
        return out

    def _data(self, *, with_range: bool = True) -> dict[str, Any]:
        data = self.model_dump(by_alias=True, exclude_none=True)
        if not with_range:
            data.pop("range", None)
        return data

    def with_params(self, updates: Mapping[str, Any]) -> Self:
        """A validated copy with some parameters replaced (external names, e.g. ``lambda``).

        The copy keeps the ranges, so a value outside its range is an error.
        """
        return type(self).model_validate({**self._data(), **dict(updates)})

    def scaled(self, factor: float) -> Self:
        """The distribution of ``factor * X``; ``factor`` must be positive and finite."""
        f = float(factor)
        if not (math.isfinite(f) and f > 0):
            raise ValueError(f"scale factor must be positive and finite, got {factor!r}")
        data = self._data()
        for name in self.scale_params:
            value = data.get(name)
            if value is None:
                continue
            data[name] = tuple(v * f for v in value) if isinstance(value, tuple) else value * f
        if "range" in data:
            data["range"] = {
                k: (lo * f, hi * f) if k in self.scale_params else (lo, hi)
                for k, (lo, hi) in data["range"].items()
            }
        return type(self).model_validate(data)

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        if not self.range:
            return self
        params = self.parameters()
        for name, (lo, hi) in self.range.items():
            if name not in params:
                known = ", ".join(params) or "none"
                raise ValueError(
                    f"range names unknown parameter '{name}' "
                    f"(scalar parameters of this spec: {known})"
                )
            if lo > hi:
                raise ValueError(f"range of '{name}' has low ({_g(lo)}) above high ({_g(hi)})")
            if not lo <= params[name] <= hi:
                raise ValueError(
                    f"{name} ({_g(params[name])}) lies outside its range [{_g(lo)}, {_g(hi)}]"
                )
        # Constraints are linear inequalities: if every corner of the box is valid, so is
        # every point inside it.
        names = list(self.range)
        base = self._data(with_range=False)
        for corner in itertools.product(*(self.range[n] for n in names)):
            point = dict(zip(names, corner, strict=True))
            try:
                type(self).model_validate({**base, **point})
            except ValidationError as exc:
                reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
                shown = ", ".join(f"{k}={_g(v)}" for k, v in point.items())
                raise ValueError(
                    f"range corner ({shown}) gives an invalid spec: {reason}"
                ) from None
        return self


# -- families ---------------------------------------------------------------------------


class FixedSpec(_SpecBase):
    """A constant. Draws no random numbers."""

    family: Literal["fixed"] = "fixed"
    value: float

    scalar_params: ClassVar[tuple[str, ...]] = ("value",)
    scale_params: ClassVar[tuple[str, ...]] = ("value",)

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    def sample(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return np.full(size, self.value, dtype=np.float64)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return np.full(np.shape(u), self.value, dtype=np.float64)


class ExponentialSpec(_SpecBase):
    """Exponential with the given mean."""

    family: Literal["exponential"] = "exponential"
    mean: float = Field(gt=0)

    scalar_params: ClassVar[tuple[str, ...]] = ("mean",)
    scale_params: ClassVar[tuple[str, ...]] = ("mean",)

    @property
    def variance(self) -> float:
        return self.mean**2

    def sample(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return rng.exponential(self.mean, size)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return -self.mean * np.log1p(-np.asarray(u, dtype=np.float64))


class LognormalSpec(_SpecBase):
    """Lognormal given by its median and 90th percentile."""

    family: Literal["lognormal"] = "lognormal"
    median: float = Field(gt=0)
    p90: float

    scalar_params: ClassVar[tuple[str, ...]] = ("median", "p90")
    scale_params: ClassVar[tuple[str, ...]] = ("median", "p90")

    @field_validator("p90")
    @classmethod
    def _p90_above_median(cls, p90: float, info: ValidationInfo) -> float:
        median = info.data.get("median")
        if median is not None and not p90 > median:
            raise ValueError(f"p90 ({_g(p90)}) must exceed median ({_g(median)})")
        return p90

    @property
    def mu(self) -> float:
        """Mean of ln X."""
        return math.log(self.median)

    @property
    def sigma(self) -> float:
        """Standard deviation of ln X."""
        return math.log(self.p90 / self.median) / Z90

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    @property
    def variance(self) -> float:
        s2 = self.sigma**2
        return math.expm1(s2) * math.exp(2 * self.mu + s2)

    def sample(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, size)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return np.exp(self.mu + self.sigma * ndtri(u))


class GammaSpec(_SpecBase):
    """Gamma given by its mean and coefficient of variation (sd / mean)."""

    family: Literal["gamma"] = "gamma"
    mean: float = Field(gt=0)
    cv: float = Field(gt=0)

    scalar_params: ClassVar[tuple[str, ...]] = ("mean", "cv")
    scale_params: ClassVar[tuple[str, ...]] = ("mean",)

    @property
    def shape(self) -> float:
        return 1.0 / self.cv**2

    @property
    def scale(self) -> float:
        return self.mean * self.cv**2

    @property
    def variance(self) -> float:
        return (self.mean * self.cv) ** 2

    def sample(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return rng.gamma(self.shape, self.scale, size)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return self.scale * gammaincinv(self.shape, u)


def _check_low_mode_high(family: str, high: float, info: ValidationInfo) -> float:
    low, mode = info.data.get("low"), info.data.get("mode")
    if low is None or mode is None:
        return high
    if not low <= mode <= high:
        raise ValueError(
            f"{family} needs low <= mode <= high (got {_g(low)}, {_g(mode)}, {_g(high)})"
        )
    if not low < high:
        raise ValueError(f"{family} needs low < high (got {_g(low)}, {_g(high)})")
    return high


class TriangularSpec(_SpecBase):
    """Triangular on [low, high] with the given mode."""

    family: Literal["triangular"] = "triangular"
    low: float
    mode: float
    high: float

    scalar_params: ClassVar[tuple[str, ...]] = ("low", "mode", "high")
    scale_params: ClassVar[tuple[str, ...]] = ("low", "mode", "high")

    @field_validator("high")
    @classmethod
    def _ordered(cls, high: float, info: ValidationInfo) -> float:
        return _check_low_mode_high("triangular", high, info)

    @property
    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3

    @property
    def variance(self) -> float:
        a, c, b = self.low, self.mode, self.high
        return (a * a + b * b + c * c - a * b - a * c - b * c) / 18

    def sample(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return rng.triangular(self.low, self.mode, self.high, size)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        a, c, b = self.low, self.mode, self.high
        left = a + np.sqrt(u * (b - a) * (c - a))
        right = b - np.sqrt((1.0 - u) * (b - a) * (b - c))
        return np.where(u < (c - a) / (b - a), left, right)


class PertSpec(_SpecBase):
    """(Modified) PERT: a beta distribution scaled to [low, high] with the given mode."""

    family: Literal["pert"] = "pert"
    low: float
    mode: float
    high: float
    lam: float = Field(4.0, alias="lambda", gt=0, description="peakedness; 4 is classic PERT")

    scalar_params: ClassVar[tuple[str, ...]] = ("low", "mode", "high", "lambda")
    scale_params: ClassVar[tuple[str, ...]] = ("low", "mode", "high")

    @field_validator("high")
    @classmethod
    def _ordered(cls, high: float, info: ValidationInfo) -> float:
        return _check_low_mode_high("pert", high, info)

    @property
    def alpha(self) -> float:
        return 1 + self.lam * (self.mode - self.low) / (self.high - self.low)

    @property
    def beta(self) -> float:
        return 1 + self.lam * (self.high - self.mode) / (self.high - self.low)

    @property
    def mean(self) -> float:
        return (self.low + self.lam * self.mode + self.high) / (self.lam + 2)

    @property
    def variance(self) -> float:
        m = self.mean
        return (m - self.low) * (self.high - m) / (self.lam + 3)

    def sample(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return self.low + (self.high - self.low) * rng.beta(self.alpha, self.beta, size)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return self.low + (self.high - self.low) * betaincinv(self.alpha, self.beta, u)


class UniformSpec(_SpecBase):
    """Continuous uniform on [low, high)."""

    family: Literal["uniform"] = "uniform"
    low: float
    high: float

    scalar_params: ClassVar[tuple[str, ...]] = ("low", "high")
    scale_params: ClassVar[tuple[str, ...]] = ("low", "high")

    @field_validator("high")
    @classmethod
    def _ordered(cls, high: float, info: ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and not low < high:
            raise ValueError(f"uniform needs low < high (got {_g(low)}, {_g(high)})")
        return high

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    def sample(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        return self.low + (self.high - self.low) * np.asarray(u, dtype=np.float64)


class EmpiricalSpec(_SpecBase):
    """A discrete distribution over listed values (repeats allowed), optionally weighted."""

    family: Literal["empirical"] = "empirical"
    values: tuple[float, ...] = Field(min_length=1)
    weights: tuple[float, ...] | None = None

    scale_params: ClassVar[tuple[str, ...]] = ("values",)

    @field_validator("weights")
    @classmethod
    def _check_weights(
        cls, weights: tuple[float, ...] | None, info: ValidationInfo
    ) -> tuple[float, ...] | None:
        if weights is None:
            return None
        values = info.data.get("values")
        if values is not None and len(weights) != len(values):
            raise ValueError(f"weights has {len(weights)} entries but values has {len(values)}")
        if any(w < 0 for w in weights):
            raise ValueError("weights must be non-negative")
        if not sum(weights) > 0:
            raise ValueError("weights must have a positive sum")
        return weights

    @property
    def probabilities(self) -> np.ndarray:
        """Probability of each listed value (weights normalised to sum 1)."""
        if self.weights is None:
            return np.full(len(self.values), 1.0 / len(self.values))
        w = np.asarray(self.weights, dtype=np.float64)
        return w / w.sum()

    @property
    def mean(self) -> float:
        return float(np.dot(self.probabilities, self.values))

    @property
    def variance(self) -> float:
        v = np.asarray(self.values, dtype=np.float64)
        return float(np.dot(self.probabilities, (v - self.mean) ** 2))

    def sample(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        values = np.asarray(self.values, dtype=np.float64)
        p = None if self.weights is None else self.probabilities
        return rng.choice(values, size=size, p=p)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        order = np.argsort(self.values, kind="stable")
        values = np.asarray(self.values, dtype=np.float64)[order]
        cum = np.cumsum(self.probabilities[order])
        return values[np.minimum(np.searchsorted(cum, u, side="right"), len(values) - 1)]


class NormalSpec(_SpecBase):
    """Normal(mu, sigma), optionally truncated below at ``low``.

    ``mu`` and ``sigma`` are the parameters of the *untruncated* normal; :attr:`mean` is the
    mean after truncation. Truncated draws use the inverse CDF, one uniform per draw.
    """

    family: Literal["normal"] = "normal"
    mu: float
    sigma: float = Field(gt=0)
    low: float | None = None

    scalar_params: ClassVar[tuple[str, ...]] = ("mu", "sigma", "low")
    scale_params: ClassVar[tuple[str, ...]] = ("mu", "sigma", "low")

    @field_validator("low")
    @classmethod
    def _check_low(cls, low: float | None, info: ValidationInfo) -> float | None:
        mu, sigma = info.data.get("mu"), info.data.get("sigma")
        if low is None or mu is None or sigma is None:
            return low
        if (low - mu) / sigma > _MAX_TRUNCATION_Z:
            raise ValueError(
                f"low ({_g(low)}) lies more than {_g(_MAX_TRUNCATION_Z)} sigma above mu "
                f"({_g(mu)}); use another family"
            )
        return low

    def _hazard(self) -> tuple[float, float]:
        """(a, lambda): standardised bound and inverse Mills ratio phi(a) / (1 - Phi(a))."""
        assert self.low is not None
        a = (self.low - self.mu) / self.sigma
        log_phi = -0.5 * a * a - _LOG_SQRT_2PI
        return a, math.exp(log_phi - float(log_ndtr(-a)))

    @property
    def mean(self) -> float:
        if self.low is None:
            return self.mu
        _, lam = self._hazard()
        return self.mu + self.sigma * lam

    @property
    def variance(self) -> float:
        if self.low is None:
            return self.sigma**2
        a, lam = self._hazard()
        return self.sigma**2 * (1 + a * lam - lam * lam)

    def sample(self, rng: np.random.Generator, size: Size) -> np.ndarray:
        if self.low is None:
            return rng.normal(self.mu, self.sigma, size)
        tail = float(ndtr(-(self.low - self.mu) / self.sigma))  # P(Z > a)
        v = tail * (1.0 - rng.random(size))  # uniform on (0, tail]
        return np.maximum(self.mu - self.sigma * ndtri(v), self.low)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        if self.low is None:
            return self.mu + self.sigma * ndtri(u)
        tail = float(ndtr(-(self.low - self.mu) / self.sigma))
        return np.maximum(self.mu - self.sigma * ndtri(tail * (1.0 - np.asarray(u))), self.low)


# -- the union --------------------------------------------------------------------------

DistributionSpec = Annotated[
    FixedSpec
    | ExponentialSpec
    | LognormalSpec
    | GammaSpec
    | TriangularSpec
    | PertSpec
    | UniformSpec
    | EmpiricalSpec
    | NormalSpec,
    Field(discriminator="family"),
]
"""Any distribution spec; the ``family`` key selects the model."""

DISTRIBUTION_ADAPTER: TypeAdapter[DistributionSpec] = TypeAdapter(
    DistributionSpec, config=ConfigDict(title="distribution")
)
"""Validates plain data (e.g. one YAML entry) into a :data:`DistributionSpec`."""

FAMILIES: dict[str, type[_SpecBase]] = {
    cls.model_fields["family"].default: cls
    for cls in (
        FixedSpec,
        ExponentialSpec,
        LognormalSpec,
        GammaSpec,
        TriangularSpec,
        PertSpec,
        UniformSpec,
        EmpiricalSpec,
        NormalSpec,
    )
}
"""Family name -> spec model."""


def parse_spec(data: Mapping[str, Any]) -> DistributionSpec:
    """Validate one distribution entry; raises :class:`pydantic.ValidationError`."""
    return DISTRIBUTION_ADAPTER.validate_python(data)
