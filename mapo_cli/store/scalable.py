"""A bloom filter that grows: exploration cannot know in advance how many prefixes it will see.

For speed it reads its BloomFilters' bits directly (`_m`, `_bits`, `_krange`):
one murmur3 hash serves the whole chain. Its bytes are a header and the
chain's BloomFilter bytes, each behind its length.
"""

from __future__ import annotations

import math
import struct

from mmh3 import hash128

from mapo_cli.core.errors import MapoError
from mapo_cli.store.bloom import (
    FORMAT_VERSION,
    SEED,
    BloomFilter,
    bloom_stats,
    check_sizing,
)

KIND_SCALABLE = b"S"

# kind, version, number of filters, error_rate, growth, ratio, initial capacity
_SCALABLE_HEADER = struct.Struct("<cBIdddQ")
_LENGTH = struct.Struct("<Q")


class ScalableBloomFilter:
    """A chain of BloomFilters that grows as needed (Almeida et al. 2007).

    When the newest filter holds `capacity` keys a new one is appended with
    capacity x growth and error x ratio. The first filter gets error_rate x
    (1 - ratio), so the compound false-positive rate, at most the sum of the
    chain's rates, stays below error_rate however far the chain grows.
    """

    __slots__ = ("_filters", "_older", "count", "error_rate", "growth", "initial_capacity", "ratio")

    def __init__(
        self, capacity: int, error_rate: float, growth: float = 2.0, ratio: float = 0.5
    ) -> None:
        check_sizing(capacity, error_rate)
        if growth < 1.0 or not 0.0 < ratio < 1.0:
            raise MapoError(
                f"scalable filter needs growth >= 1 and 0 < ratio < 1, not "
                f"growth={growth}, ratio={ratio}"
            )
        self.error_rate = error_rate
        self.growth = growth
        self.ratio = ratio
        self.initial_capacity = capacity
        self.count = 0
        self._filters: list[BloomFilter] = [BloomFilter(capacity, error_rate * (1.0 - ratio))]
        self._older: tuple[BloomFilter, ...] = ()  # all but the newest: read-only

    @property
    def filters(self) -> tuple[BloomFilter, ...]:
        return tuple(self._filters)

    @property
    def bits(self) -> int:
        return sum(f._m for f in self._filters)

    @property
    def bits_per_item(self) -> float:
        return self.bits / self.count if self.count else math.inf

    def __len__(self) -> int:
        return self.count

    def _grow(self) -> BloomFilter:
        last = self._filters[-1]
        capacity = max(last.capacity + 1, math.ceil(last.capacity * self.growth))
        newest = BloomFilter(capacity, last.error_rate * self.ratio)
        self._filters.append(newest)
        self._older = tuple(self._filters[:-1])
        return newest

    def add(self, key: bytes) -> bool:
        """Insert key; True if no filter in the chain (apparently) held it."""
        h = hash128(key, SEED)
        h2 = h >> 64
        newest = self._filters[-1]
        full = newest.count >= newest.capacity
        # Filters that only get read (all but the newest, unless it is full); one
        # hash serves the whole chain.
        for filt in self._filters if full else self._older:
            m = filt._m
            bits = filt._bits
            pos = h % m
            step = h2 % m
            for _ in filt._krange:
                if not bits[pos >> 3] & (1 << (pos & 7)):
                    break
                pos += step
                if pos >= m:
                    pos -= m
            else:
                return False
        if full:
            newest = self._grow()
        m = newest._m
        bits = newest._bits
        pos = h % m
        step = h2 % m
        new = False
        for _ in newest._krange:
            byte = bits[pos >> 3]
            mask = 1 << (pos & 7)
            if not byte & mask:
                bits[pos >> 3] = byte | mask
                new = True
            pos += step
            if pos >= m:
                pos -= m
        if new:
            newest.count += 1
            self.count += 1
        return new

    def __contains__(self, key: bytes) -> bool:
        h = hash128(key, SEED)
        h2 = h >> 64
        # Newest first: it is the largest, so a present key is most likely there.
        for filt in reversed(self._filters):
            m = filt._m
            bits = filt._bits
            pos = h % m
            step = h2 % m
            for _ in filt._krange:
                if not bits[pos >> 3] & (1 << (pos & 7)):
                    break
                pos += step
                if pos >= m:
                    pos -= m
            else:
                return True
        return False

    def estimated_error_rate(self) -> float:
        """Compound false-positive rate implied by the bits actually set (union bound)."""
        return min(1.0, sum(f.estimated_error_rate() for f in self._filters))

    def to_bytes(self) -> bytes:
        parts = [
            _SCALABLE_HEADER.pack(
                KIND_SCALABLE,
                FORMAT_VERSION,
                len(self._filters),
                self.error_rate,
                self.growth,
                self.ratio,
                self.initial_capacity,
            )
        ]
        for filt in self._filters:
            data = filt.to_bytes()
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> ScalableBloomFilter:
        header, chunks = _scalable_chunks(data)
        _, _, _, error_rate, growth, ratio, capacity = header
        check_sizing(capacity, error_rate)
        filt = cls.__new__(cls)  # skips allocating a first filter that would be replaced
        filt.error_rate = error_rate
        filt.growth = growth
        filt.ratio = ratio
        filt.initial_capacity = capacity
        filt._filters = [BloomFilter.from_bytes(chunk) for chunk in chunks]
        filt._older = tuple(filt._filters[:-1])
        filt.count = sum(f.count for f in filt._filters)
        return filt


def _scalable_chunks(data: bytes | memoryview) -> tuple[tuple, list[memoryview]]:
    """Split a serialised ScalableBloomFilter into its header and per-filter slices."""
    view = memoryview(data)
    if len(view) < _SCALABLE_HEADER.size:
        raise MapoError("scalable filter data is corrupt: shorter than its header")
    header = _SCALABLE_HEADER.unpack_from(view, 0)
    kind, version, n_filters = header[:3]
    if kind != KIND_SCALABLE:
        raise MapoError(f"scalable filter data is corrupt: kind byte {kind!r}")
    if version > FORMAT_VERSION:
        raise MapoError(f"scalable filter format {version} is newer than this mapo reads")
    if n_filters < 1:
        raise MapoError("scalable filter data is corrupt: no filters")
    chunks = []
    offset = _SCALABLE_HEADER.size
    for _ in range(n_filters):
        if len(view) - offset < _LENGTH.size:
            raise MapoError("scalable filter data is corrupt: truncated")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += _LENGTH.size
        if len(view) - offset < length:
            raise MapoError("scalable filter data is corrupt: truncated")
        chunks.append(view[offset : offset + length])
        offset += length
    if offset != len(view):
        raise MapoError("scalable filter data is corrupt: trailing bytes")
    return header, chunks


def scalable_stats(data: bytes | memoryview) -> tuple[int, int]:
    """(allocated bits, items) of serialised ScalableBloomFilter data, from headers alone."""
    _, chunks = _scalable_chunks(data)
    bits = items = 0
    for chunk in chunks:
        m, count = bloom_stats(chunk)
        bits += m
        items += count
    return bits, items
