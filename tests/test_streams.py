"""Named random streams: reproducible, independent of creation order and of each other."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.sampling.streams import MAX_SEED, Streams, make_rng, stream_key

ROOT = Path(__file__).resolve().parents[1]


def _blake(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def test_same_key_same_numbers() -> None:
    a = make_rng(20201104, 3, "demand/vc").random(20)
    b = make_rng(20201104, 3, "demand/vc").random(20)
    np.testing.assert_array_equal(a, b)
    c = Streams(20201104, 3).rng("demand/vc").random(20)
    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    ("other_seed", "other_rep", "other_name"),
    [(1, 0, "handling"), (0, 1, "demand"), (2**40, 0, "demand"), (0, 0, "demand ")],
    ids=["name", "replication", "seed", "name-whitespace"],
)
def test_different_key_different_numbers(other_seed: int, other_rep: int, other_name: str) -> None:
    base = make_rng(0, 0, "demand").random(8)
    other = make_rng(other_seed, other_rep, other_name).random(8)
    assert not np.any(base == other)


def test_high_words_matter() -> None:
    # Seeds and replications that differ only above bit 32 must still differ.
    a = make_rng(1, 0, "x").random(4)
    b = make_rng(1 + 2**32, 0, "x").random(4)
    c = make_rng(1, 2**32, "x").random(4)
    assert not np.any(a == b)
    assert not np.any(a == c)


def test_adding_streams_leaves_others_unchanged() -> None:
    alone = Streams(7, 3)
    expected = alone.rng("turnaround").random(50)

    busy = Streams(7, 3)
    busy.rng("demand").random(1000)
    busy.rng("new_workload_stream").standard_normal(37)
    busy.rng("review_time").lognormal(size=5)
    np.testing.assert_array_equal(busy.rng("turnaround").random(50), expected)


def test_creation_order_is_irrelevant() -> None:
    names = ["demand", "review", "turnaround", "chase"]
    first = Streams(11, 2)
    drawn_forward = {n: first.rng(n).random(10) for n in names}
    second = Streams(11, 2)
    drawn_backward = {n: second.rng(n).random(10) for n in reversed(names)}
    for n in names:
        np.testing.assert_array_equal(drawn_forward[n], drawn_backward[n])

    # Interleaved draws give each stream the same sequence as drawing it alone.
    third = Streams(11, 2)
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for _ in range(5):
        for n in names:
            parts[n].append(third.rng(n).random(2))
    for n in names:
        np.testing.assert_array_equal(np.concatenate(parts[n]), drawn_forward[n])


def test_rng_is_cached_and_continues() -> None:
    s = Streams(5, 0)
    g = s.rng("demand")
    assert s.rng("demand") is g
    head = g.random(5)
    tail = s.rng("demand").random(5)
    np.testing.assert_array_equal(np.concatenate([head, tail]), s.fresh("demand").random(10))
    assert s.names == ("demand",)


def test_fresh_starts_over_and_leaves_cache_alone() -> None:
    s = Streams(5, 0)
    cached = s.rng("demand")
    cached.random(3)
    fresh = s.fresh("demand")
    assert fresh is not cached
    np.testing.assert_array_equal(fresh.random(4), make_rng(5, 0, "demand").random(4))
    np.testing.assert_array_equal(cached.random(2), make_rng(5, 0, "demand").random(5)[3:])
    assert s.fresh("other") is not s.fresh("other")
    assert s.names == ("demand",)


def test_numpy_integers_accepted() -> None:
    a = Streams(np.int64(9), np.uint32(4)).rng("x").random(3)
    b = Streams(9, 4).rng("x").random(3)
    np.testing.assert_array_equal(a, b)
    assert Streams(MAX_SEED, MAX_SEED).rng("x").random() >= 0.0


def test_pickled_streams_continue_identically() -> None:
    s = Streams(3, 1)
    s.rng("a").random(7)
    clone = pickle.loads(pickle.dumps(s))
    assert (clone.root_seed, clone.replication) == (3, 1)
    np.testing.assert_array_equal(clone.rng("a").random(5), s.rng("a").random(5))


@pytest.mark.parametrize("name", ["demand", "review_time/site:VC Kinna", "å", "x" * 500])
def test_stream_key_is_blake2b_little_endian(name: str) -> None:
    key = stream_key(name)
    assert key == _blake(name)
    assert 0 <= key < 2**64


def test_stream_key_and_numbers_stable_across_processes() -> None:
    names = ["demand", "review_time", "turnaround/su_lab"]
    code = (
        "import json, sys\n"
        "from sim.sampling.streams import make_rng, stream_key\n"
        "names = json.loads(sys.argv[1])\n"
        "print(json.dumps({n: [stream_key(n), make_rng(42, 7, n).random(3).tolist()]"
        " for n in names}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(names)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    other = json.loads(out.stdout)
    for n in names:
        key, draws = other[n]
        assert key == _blake(n) == stream_key(n)
        assert draws == make_rng(42, 7, n).random(3).tolist()


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None, 2**64, np.float64(2.0)])
def test_invalid_seed_raises(bad: object) -> None:
    with pytest.raises(ValueError, match="root_seed"):
        Streams(bad, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="replication"):
        Streams(0, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="root_seed"):
        make_rng(bad, 0, "x")  # type: ignore[arg-type]


def test_invalid_name_raises() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        stream_key("")
    with pytest.raises(TypeError, match="str"):
        stream_key(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Streams(0, 0).rng(b"demand")  # type: ignore[arg-type]
