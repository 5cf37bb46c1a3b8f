"""The compiled stable argsort (sim/model/kernels/sorting.py) against its plain twin,
``np.argsort(kind="stable")``: a stable sort has exactly one result, so the permutations must
be equal, on random floats with many ties, on nearly sorted input, with ``+inf``, and empty.
Its bucket pass and insertion sort are held to plain-numpy twins of their own."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim.model.kernels.sorting import (
    _bucket_sort,
    _insertion_sort,
    argsort_in_cache,
    argsort_nearly_sorted,
    stable_argsort,
)

FAST = settings(max_examples=60, deadline=None)

# Finite floats of any size, or +inf (the kernels' domain: no -inf, no nan).
values_elements = st.floats(allow_nan=False, allow_infinity=False) | st.just(np.inf)
small_arrays = hnp.arrays(np.float64, st.integers(0, 200), elements=values_elements)


@st.composite
def large_arrays(draw) -> np.ndarray:
    """Thousands of values, as the model sorts them: few distinct values (ties), nearly sorted
    times with local jitter, a share of ``inf``; big enough for the coarse buckets and for a
    bucket that needs its own pass."""
    n = draw(st.integers(0, 20_000))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["ties", "nearly_sorted", "uniform", "clustered"]))
    if kind == "ties":
        x = rng.integers(0, draw(st.integers(1, 50)), n).astype(float)
    elif kind == "nearly_sorted":
        x = np.sort(rng.random(n)) * 1e6 + rng.normal(0.0, draw(st.sampled_from([0, 1, 100])), n)
    elif kind == "uniform":
        x = rng.random(n) * draw(st.sampled_from([1e-9, 1.0, 1e12]))
    else:  # most values in one coarse bucket
        x = np.where(rng.random(n) < 0.9, rng.random(n) * 1e-6, rng.random(n) * 1e6)
    x[rng.random(n) < draw(st.sampled_from([0.0, 0.05, 1.0]))] = np.inf
    return x


def stable_twin(values: np.ndarray) -> np.ndarray:
    return np.argsort(values, kind="stable")


@FAST
@given(small_arrays)
def test_stable_argsort_equals_numpy_stable_on_small_arrays(x):
    np.testing.assert_array_equal(argsort_nearly_sorted(x), stable_twin(x))
    np.testing.assert_array_equal(argsort_in_cache(x), stable_twin(x))


@settings(max_examples=40, deadline=None)
@given(large_arrays())
def test_stable_argsort_equals_numpy_stable_on_large_arrays(x):
    np.testing.assert_array_equal(stable_argsort(x), stable_twin(x))
    np.testing.assert_array_equal(argsort_in_cache(x), stable_twin(x))


def test_stable_argsort_keeps_ties_and_infs_in_input_order():
    x = np.array([2.0, np.inf, 1.0, 2.0, np.inf, 1.0, -0.5])
    np.testing.assert_array_equal(stable_argsort(x), [6, 2, 5, 0, 3, 1, 4])
    assert stable_argsort(np.empty(0)).shape == (0,)


def test_stable_argsort_of_values_spanning_more_than_the_largest_float():
    """The bucket width overflows: every finite value falls in one bucket, still sorted."""
    x = np.array([1.7e308, -1.7e308, 0.0, 1.7e308, -1.7e308, np.inf] * 40)
    np.testing.assert_array_equal(stable_argsort(x), stable_twin(x))
    np.testing.assert_array_equal(argsort_in_cache(x), stable_twin(x))


def test_argsort_nearly_sorted_takes_any_float_dtype_and_layout():
    x = np.array([[3, 1], [2, 1]], dtype=np.float32)[:, 0]  # strided float32
    np.testing.assert_array_equal(argsort_nearly_sorted(x), [1, 0])


def bucket_twin(values: np.ndarray, n_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """The bucket pass in numpy: equal intervals between the finite extremes (all in the
    first when they cannot be told apart), infs in an extra bucket after them; indices
    stably by bucket, and where each bucket starts."""
    finite = values < np.inf
    lo, hi = (values[finite].min(), values[finite].max()) if finite.any() else (0.0, 0.0)
    with np.errstate(over="ignore"):
        scale = (n_buckets - 1) / (hi - lo) if hi > lo else 0.0
    bucket = np.full(len(values), n_buckets)
    bucket[finite] = 0
    if scale > 0:
        scaled = (values[finite] - lo) * scale
        bucket[finite] = np.minimum(scaled.astype(np.int64), n_buckets - 1)
    start = np.concatenate(([0], np.cumsum(np.bincount(bucket, minlength=n_buckets + 1))))
    return np.argsort(bucket, kind="stable"), start


@FAST
@given(small_arrays, st.integers(1, 300))
def test_bucket_pass_matches_its_numpy_twin(x, n_buckets):
    order = np.empty(len(x), dtype=np.int64)
    start = _bucket_sort(x, n_buckets, order)
    twin_order, twin_start = bucket_twin(x, n_buckets)
    np.testing.assert_array_equal(order, twin_order)
    np.testing.assert_array_equal(start, twin_start)


@FAST
@given(small_arrays, st.data())
def test_insertion_sort_sorts_its_slice_stably_and_nothing_else(x, data):
    a = data.draw(st.integers(0, len(x)))
    z = data.draw(st.integers(a, len(x)))
    order = np.random.default_rng(len(x)).permutation(len(x))
    twin = order.copy()
    twin[a:z] = order[a:z][np.argsort(x[order[a:z]], kind="stable")]
    _insertion_sort(x, order, a, z)
    np.testing.assert_array_equal(order, twin)


def test_values_a_subnormal_apart_sort_as_numpy_does():
    """A span of subnormal floats overflows the bucket scale (1 / 2.2e-309 is inf); found by
    the property test of tests/test_properties.py."""
    values = np.full(128, 2.2250738585072014e-309)
    values[1] = 0.0
    values[5] = 1e-310
    values[7] = np.inf
    np.testing.assert_array_equal(argsort_nearly_sorted(values), np.argsort(values, kind="stable"))
