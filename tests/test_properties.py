"""Property-based tests of the sorting kernel and the bounded YAML reader.

The kernel promises numpy's stable argsort for any float array with ``+inf`` (ties in input
order, infs last); hypothesis draws arrays with many ties, infs, negative and huge values, and
the compiled kernel and its plain-Python source must both give numpy's permutation. The reader
promises data equal to what was written, a mark for every key and item, and that its alias
accounting (:func:`sim.scenario.yamlio.check_limits`) counts exactly the nodes that expanding
the aliases makes, so a limit is crossed when, and only when, the data would be too large.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim.model.kernels.sorting import argsort_nearly_sorted, stable_argsort
from sim.scenario import yamlio
from sim.scenario.errors import ScenarioError
from sim.scenario.yamlio import check_limits, parse

floats = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, 2.5, np.inf]),  # many ties
    st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False),
    st.just(np.inf),
)
arrays = hnp.arrays(np.float64, st.integers(0, 3000), elements=floats)


@settings(max_examples=150, deadline=None)
@given(values=arrays)
def test_the_sorting_kernel_is_numpys_stable_argsort(values):
    expected = np.argsort(values, kind="stable")
    np.testing.assert_array_equal(argsort_nearly_sorted(values), expected)
    if len(values) <= 300:  # the plain-Python source of the kernel, where it is quick enough
        np.testing.assert_array_equal(stable_argsort.py_func(values), expected)


# ---------------------------------------------------------------------------- the reader

# Text without control or line-separator characters (PyYAML's emitter folds those), and keys
# other than "<<" (merge keys, which the reader refuses on purpose).
chars = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))
keys = st.text(chars, min_size=1, max_size=6).filter(lambda k: k != "<<")
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**9), 10**9), st.text(chars, max_size=10),
    st.floats(allow_nan=False),
)  # fmt: skip
data = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=40,
)


def _walk(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, (*path, i))


@settings(max_examples=200, deadline=None)
@given(value=st.dictionaries(keys, data, min_size=1, max_size=5))
def test_the_reader_returns_what_was_written_and_marks_every_path(value):
    text = yaml.safe_dump(value, allow_unicode=True)
    doc = parse(text, "p.yaml")
    assert doc.data == value
    for path in _walk(value):
        assert path in doc.marks and doc.marks[path].file == "p.yaml"


def _expanded_size(node) -> int:
    """Nodes of the data once aliases are expanded, counted on the composed graph."""
    if isinstance(node, yaml.MappingNode):
        return 1 + sum(_expanded_size(k) + _expanded_size(v) for k, v in node.value)
    if isinstance(node, yaml.SequenceNode):
        return 1 + sum(_expanded_size(v) for v in node.value)
    return 1


@st.composite
def aliased_documents(draw) -> str:
    """Documents whose items are scalars, new anchored lists, or aliases of earlier ones."""
    anchors: list[str] = []
    items = []
    for i in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["scalar", "list", "alias"] if anchors else ["scalar", "list"]))
        if kind == "scalar":
            items.append(str(draw(st.integers(0, 9))))
        elif kind == "list":
            parts = [f"*{draw(st.sampled_from(anchors))}" if anchors and draw(st.booleans())
                     else "1" for _ in range(draw(st.integers(0, 6)))]  # fmt: skip
            items.append(f"&a{i} [{', '.join(parts)}]")
            anchors.append(f"a{i}")
        else:
            items.append(f"*{draw(st.sampled_from(anchors))}")
    return "[" + ", ".join(items) + "]"


@settings(max_examples=300, deadline=None)
@given(text=aliased_documents(), limit=st.integers(1, 400))
def test_the_constructed_limit_is_crossed_exactly_when_the_expansion_is_larger(text, limit):
    size = _expanded_size(yaml.compose(text, Loader=yaml.SafeLoader))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(yamlio, "LIMITS", yamlio.Limits(constructed=limit))
        if size > limit:
            with pytest.raises(ScenarioError, match="limit constructed"):
                check_limits(text, "a.yaml")
        else:
            check_limits(text, "a.yaml")
