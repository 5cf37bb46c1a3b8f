"""Independent random streams, keyed by name.

Every source of randomness in the model (demand at a site, handling times, turnaround, ...)
draws from its own stream, and a stream is identified by *what it is for*, never by the
order in which it was created. The generator for a stream is derived from three numbers:

``(root_seed, replication, stream_key(name))``  ->  ``SeedSequence``  ->  PCG64 ``Generator``

Why it is done this way:

* **Common random numbers across variants.** Two variants of a scenario (say a 2-week and a
  4-week coexistence window) run replication *r* with the same root seed, so the stream named
  ``"demand/vc_kinna"`` yields the very same orders in both. Paired differences then measure
  the effect of the variant, not sampling noise.
* **Adding a stream never shifts the others.** A stream's numbers depend only on its own name,
  so adding a new workload stream, or drawing more or fewer numbers from one stream, leaves
  every other stream's sequence unchanged. (Within one stream, the *order* of draws still
  matters: give each input its own stream name, e.g. the distribution's name plus the site.)
* **Results do not depend on worker count.** Replication *r* builds its streams from
  ``(root_seed, r, name)`` alone, wherever and in whatever order it runs: one process, many
  processes or a Dask cluster give identical numbers.

Details of the derivation (they are part of the reproducibility contract, so change them only
together with a manifest version bump):

* ``stream_key(name)`` is the BLAKE2b hash of the UTF-8 name with an 8-byte digest, read as an
  unsigned little-endian integer. Python's built-in ``hash()`` is salted per process
  (``PYTHONHASHSEED``) and must never be used for this.
* The seed entropy is six unsigned 32-bit words, each 64-bit quantity split low word first:
  ``[seed_lo, seed_hi, rep_lo, rep_hi, key_lo, key_hi]``. Fixed-width words keep the encoding
  unambiguous (NumPy would otherwise expand a large integer into a variable number of words).
  ``root_seed`` and ``replication`` must therefore be integers in ``[0, 2**64)``.
* The bit generator is NumPy's default, PCG64, via :func:`numpy.random.default_rng`.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["MAX_SEED", "Streams", "make_rng", "stream_key"]

MAX_SEED = 2**64 - 1
"""Largest accepted root seed or replication number."""

_MASK32 = 0xFFFF_FFFF


def stream_key(name: str) -> int:
    """Stable unsigned 64-bit key of a stream name.

    BLAKE2b over the UTF-8 bytes of ``name`` with ``digest_size=8``, interpreted as a
    little-endian unsigned integer. The same name gives the same key in every process, on
    every platform and Python version.
    """
    if not isinstance(name, str):
        raise TypeError(f"stream name must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError("stream name must be a non-empty string")
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _check_index(value: object, what: str) -> int:
    """Return ``value`` as an int in ``[0, 2**64)`` or raise a clear ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    number = int(value)
    if number < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {number}")
    if number > MAX_SEED:
        raise ValueError(f"{what} must be below 2**64, got {number}")
    return number


def _words(value: int) -> list[int]:
    """Split an unsigned 64-bit integer into two 32-bit words, low word first."""
    return [value & _MASK32, value >> 32]


def make_rng(root_seed: int, replication: int, name: str) -> np.random.Generator:
    """A fresh PCG64 generator for stream ``name`` of replication ``replication``.

    Built from ``np.random.SeedSequence([seed_lo, seed_hi, rep_lo, rep_hi, key_lo, key_hi])``
    where ``key = stream_key(name)``; see the module docstring.
    """
    seed = _check_index(root_seed, "root_seed")
    rep = _check_index(replication, "replication")
    entropy = _words(seed) + _words(rep) + _words(stream_key(name))
    return np.random.default_rng(np.random.SeedSequence(entropy))


class Streams:
    """The named random streams of one replication.

    ``rng(name)`` returns the stream's generator, created on first use and cached, so repeated
    calls continue one sequence. ``fresh(name)`` returns a new generator positioned at the
    start of the stream, without touching the cached one.

    >>> s = Streams(root_seed=20201104, replication=0)
    >>> demand = s.rng("demand/vc")          # same object on every call
    >>> first = demand.random(3)
    >>> bool((s.fresh("demand/vc").random(3) == first).all())
    True
    """

    __slots__ = ("_cache", "_replication", "_root_seed")

    def __init__(self, root_seed: int, replication: int) -> None:
        self._root_seed = _check_index(root_seed, "root_seed")
        self._replication = _check_index(replication, "replication")
        self._cache: dict[str, np.random.Generator] = {}

    @property
    def root_seed(self) -> int:
        return self._root_seed

    @property
    def replication(self) -> int:
        return self._replication

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the streams used so far through :meth:`rng`, in first-use order."""
        return tuple(self._cache)

    def rng(self, name: str) -> np.random.Generator:
        """The cached generator of stream ``name`` (created on first use)."""
        generator = self._cache.get(name)
        if generator is None:
            generator = make_rng(self._root_seed, self._replication, name)
            self._cache[name] = generator
        return generator

    def fresh(self, name: str) -> np.random.Generator:
        """A new generator at the start of stream ``name``; the cached one is unaffected."""
        return make_rng(self._root_seed, self._replication, name)

    def __repr__(self) -> str:
        return (
            f"Streams(root_seed={self._root_seed}, replication={self._replication}, "
            f"streams={len(self._cache)})"
        )
