"""Explored-prefix filters for systematic exploration (the paper's B^e, Algorithm 1).

Here is what exploration needs from a filter, whichever kind: making one, and
reading one back from a store. A false positive prunes a whole unexplored
subtree, so the error rate is a setting (it is part of a store's fingerprint)
and `ExactSet` gives none.

Serialised filters are plain bytes (a one-byte kind, a fixed header, the
bits): reading one from a shared store never runs code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from mapo_cli.core.errors import MapoError
from mapo_cli.store.bloom import KIND_BLOOM, BloomFilter, bloom_stats
from mapo_cli.store.exact import KIND_EXACT, ExactSet, exact_stats
from mapo_cli.store.scalable import KIND_SCALABLE, ScalableBloomFilter, scalable_stats


class PrefixFilter(Protocol):
    """What exploration needs from a filter; all three kinds (bloom, scalable, exact) provide it."""

    count: int

    def add(self, key: bytes) -> bool: ...

    def __contains__(self, key: bytes) -> bool: ...

    @property
    def bits(self) -> int: ...

    @property
    def bits_per_item(self) -> float: ...

    def to_bytes(self) -> bytes: ...


FILTER_MODES = ("bloom", "exact")


def make_filter(mode: str, capacity: int, error_rate: float) -> ScalableBloomFilter | ExactSet:
    """A fresh explored-prefix filter: `bloom` (scalable, grows past capacity) or `exact`."""
    if mode == "bloom":
        return ScalableBloomFilter(capacity, error_rate)
    if mode == "exact":
        return ExactSet(capacity, error_rate)  # sizing is irrelevant: kept for the record
    raise MapoError(f"unknown filter mode {mode!r}: expected one of {', '.join(FILTER_MODES)}")


# kind byte -> (rebuild the filter, its (bits, items) from the headers alone)
_KINDS: dict[bytes, tuple[Callable[..., Any], Callable[..., tuple[int, int]]]] = {
    KIND_BLOOM: (BloomFilter.from_bytes, bloom_stats),
    KIND_SCALABLE: (ScalableBloomFilter.from_bytes, scalable_stats),
    KIND_EXACT: (ExactSet.from_bytes, exact_stats),
}


def _kind_of(data: bytes | memoryview) -> tuple[Callable[..., Any], Callable[..., tuple[int, int]]]:
    kind = bytes(data[:1])
    if kind not in _KINDS:
        raise MapoError(f"filter data is corrupt: unknown kind byte {kind!r}")
    return _KINDS[kind]


def filter_from_bytes(data: bytes | memoryview) -> BloomFilter | ScalableBloomFilter | ExactSet:
    """Rebuild any filter from `to_bytes()` output, dispatching on its first byte."""
    from_bytes, _ = _kind_of(data)
    return from_bytes(data)


def filter_stats(data: bytes | memoryview) -> tuple[int, int]:
    """(allocated bits, items) of serialised filter data, reading headers only.

    Lets a store summary report bits per prefix without rebuilding filters.
    """
    _, stats = _kind_of(data)
    return stats(data)
