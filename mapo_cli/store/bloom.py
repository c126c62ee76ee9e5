"""Explored-prefix filters for systematic exploration (the paper's B^e, Algorithm 1).

Exploration asks "is this prefix fully explored?" hundreds of millions of
times, so `add` and `in` are kept to one murmur3 call and a short loop. A
false positive prunes a whole unexplored subtree, so the error rate is a
setting (it is part of a store's fingerprint) and `ExactSet` gives none.

Serialised filters are plain bytes (a one-byte kind, a fixed header, the
bits): reading one from a shared store never runs code.
"""

from __future__ import annotations

import math
import struct
from typing import Protocol

from mmh3 import hash128

from mapo_cli.core.errors import MapoError

SEED = 0x4D41504F  # "MAPO": fixed, so the same keys always give the same bytes
_LN2_SQUARED = math.log(2) ** 2

KIND_BLOOM = b"B"
KIND_SCALABLE = b"S"
KIND_EXACT = b"E"
FORMAT_VERSION = 1

# kind, version, k, seed, m (bits), capacity, count, error_rate
_BLOOM_HEADER = struct.Struct("<cBHIQQQd")
# kind, version, number of filters, error_rate, growth, ratio, initial capacity
_SCALABLE_HEADER = struct.Struct("<cBIdddQ")
# kind, version, capacity, error_rate, number of keys
_EXACT_HEADER = struct.Struct("<cBQdQ")
_LENGTH = struct.Struct("<Q")
_KEY_LENGTH = struct.Struct("<I")


class PrefixFilter(Protocol):
    """What exploration needs from a filter; all three classes here provide it."""

    count: int

    def add(self, key: bytes) -> bool: ...

    def __contains__(self, key: bytes) -> bool: ...

    @property
    def bits(self) -> int: ...

    @property
    def bits_per_item(self) -> float: ...

    def to_bytes(self) -> bytes: ...


def _check_sizing(capacity: int, error_rate: float) -> None:
    if capacity < 1:
        raise MapoError(f"filter capacity must be at least 1, not {capacity}")
    if not 0.0 < error_rate < 1.0:
        raise MapoError(f"filter error rate must be between 0 and 1 (exclusive), not {error_rate}")


def optimal_bits_and_hashes(capacity: int, error_rate: float) -> tuple[int, int]:
    """The standard sizing: m = -n ln p / (ln 2)^2 bits and k = (m / n) ln 2 hashes.

    m is rounded up to a multiple of 64 so that a lightly filled filter could
    later be folded in half (positions are taken mod m) without a format change.
    """
    _check_sizing(capacity, error_rate)
    m = math.ceil(-capacity * math.log(error_rate) / _LN2_SQUARED)
    m = max(64, (m + 63) // 64 * 64)
    k = max(1, round(m / capacity * math.log(2)))
    return m, k


class BloomFilter:
    """A classic bloom filter: m bits in a bytearray, k positions by double hashing.

    Positions are (h + i * h2) mod m for i < k (Kirsch & Mitzenmacher 2006),
    with h the 128-bit murmur3 hash of the key and h2 its top 64 bits.
    """

    __slots__ = ("_bits", "_k", "_krange", "_m", "capacity", "count", "error_rate")

    def __init__(self, capacity: int, error_rate: float) -> None:
        self.capacity = capacity
        self.error_rate = error_rate
        self.count = 0
        self._m, self._k = optimal_bits_and_hashes(capacity, error_rate)
        self._krange = range(self._k)
        self._bits = bytearray(self._m // 8)

    @property
    def bits(self) -> int:
        """Allocated bits (m)."""
        return self._m

    @property
    def hashes(self) -> int:
        """Number of bit positions per key (k)."""
        return self._k

    @property
    def bits_per_item(self) -> float:
        """Allocated bits per inserted key (infinite while empty)."""
        return self._m / self.count if self.count else math.inf

    @property
    def is_full(self) -> bool:
        return self.count >= self.capacity

    def __len__(self) -> int:
        return self.count

    def add(self, key: bytes) -> bool:
        """Insert key; True if it was not (apparently) there before."""
        h = hash128(key, SEED)
        m = self._m
        bits = self._bits
        # (h + i*h2) mod m, stepped with small ints: cheaper than 128-bit arithmetic.
        pos = h % m
        step = (h >> 64) % m
        new = False
        for _ in self._krange:
            byte = bits[pos >> 3]
            mask = 1 << (pos & 7)
            if not byte & mask:
                bits[pos >> 3] = byte | mask
                new = True
            pos += step
            if pos >= m:
                pos -= m
        if new:
            self.count += 1
        return new

    def __contains__(self, key: bytes) -> bool:
        h = hash128(key, SEED)
        m = self._m
        bits = self._bits
        pos = h % m
        step = (h >> 64) % m
        for _ in self._krange:
            if not bits[pos >> 3] & (1 << (pos & 7)):
                return False
            pos += step
            if pos >= m:
                pos -= m
        return True

    def fill_ratio(self) -> float:
        """Fraction of bits set: the false-positive rate is about fill_ratio ** k."""
        return int.from_bytes(self._bits, "little").bit_count() / self._m

    def estimated_error_rate(self) -> float:
        """The false-positive rate implied by the bits actually set."""
        return self.fill_ratio() ** self._k

    def to_bytes(self) -> bytes:
        header = _BLOOM_HEADER.pack(
            KIND_BLOOM,
            FORMAT_VERSION,
            self._k,
            SEED,
            self._m,
            self.capacity,
            self.count,
            self.error_rate,
        )
        return header + self._bits

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> BloomFilter:
        k, m, capacity, count, error_rate = _read_bloom_header(data, 0)
        filt = cls.__new__(cls)
        filt.capacity = capacity
        filt.error_rate = error_rate
        filt.count = count
        filt._m = m
        filt._k = k
        filt._krange = range(k)
        end = _BLOOM_HEADER.size + m // 8
        if len(data) != end:
            raise MapoError(f"bloom filter data is corrupt: {len(data)} bytes, expected {end}")
        filt._bits = bytearray(data[_BLOOM_HEADER.size : end])
        return filt


def _read_bloom_header(data: bytes | memoryview, offset: int) -> tuple[int, int, int, int, float]:
    """Parse and sanity-check one BloomFilter header at offset."""
    if len(data) - offset < _BLOOM_HEADER.size:
        raise MapoError("bloom filter data is corrupt: shorter than its header")
    kind, version, k, seed, m, capacity, count, error_rate = _BLOOM_HEADER.unpack_from(data, offset)
    if kind != KIND_BLOOM:
        raise MapoError(f"bloom filter data is corrupt: kind byte {kind!r}")
    if version > FORMAT_VERSION:
        raise MapoError(f"bloom filter format {version} is newer than this mapo reads")
    if seed != SEED or k < 1 or m < 64 or m % 8 or capacity < 1 or not 0 < error_rate < 1:
        raise MapoError("bloom filter data is corrupt: impossible header values")
    return k, m, capacity, count, error_rate


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
        _check_sizing(capacity, error_rate)
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
        _check_sizing(capacity, error_rate)
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


class ExactSet:
    """The filter interface over a Python set: no false positives, for tests and small data.

    `bits` is 8 x the total key bytes (the information kept, not Python's
    overhead, which is several times larger).
    """

    __slots__ = ("_key_bytes", "_keys", "capacity", "count", "error_rate")

    def __init__(self, capacity: int = 1, error_rate: float = 0.0) -> None:
        self.capacity = capacity
        self.error_rate = error_rate
        self.count = 0
        self._keys: set[bytes] = set()
        self._key_bytes = 0

    @property
    def bits(self) -> int:
        return 8 * self._key_bytes

    @property
    def bits_per_item(self) -> float:
        return self.bits / self.count if self.count else math.inf

    def __len__(self) -> int:
        return self.count

    def add(self, key: bytes) -> bool:
        keys = self._keys
        if key in keys:
            return False
        keys.add(key)
        self.count += 1
        self._key_bytes += len(key)
        return True

    def __contains__(self, key: bytes) -> bool:
        return key in self._keys

    def estimated_error_rate(self) -> float:
        return 0.0

    def to_bytes(self) -> bytes:
        """Keys in sorted order, so equal sets give equal bytes (deterministic stores)."""
        parts = [
            _EXACT_HEADER.pack(
                KIND_EXACT, FORMAT_VERSION, self.capacity, self.error_rate, len(self._keys)
            )
        ]
        for key in sorted(self._keys):
            parts.append(_KEY_LENGTH.pack(len(key)))
            parts.append(key)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> ExactSet:
        view = memoryview(data)
        if len(view) < _EXACT_HEADER.size:
            raise MapoError("exact filter data is corrupt: shorter than its header")
        kind, version, capacity, error_rate, n_keys = _EXACT_HEADER.unpack_from(view, 0)
        if kind != KIND_EXACT:
            raise MapoError(f"exact filter data is corrupt: kind byte {kind!r}")
        if version > FORMAT_VERSION:
            raise MapoError(f"exact filter format {version} is newer than this mapo reads")
        filt = cls(capacity, error_rate)
        offset = _EXACT_HEADER.size
        for _ in range(n_keys):
            if len(view) - offset < _KEY_LENGTH.size:
                raise MapoError("exact filter data is corrupt: truncated")
            (length,) = _KEY_LENGTH.unpack_from(view, offset)
            offset += _KEY_LENGTH.size
            if len(view) - offset < length:
                raise MapoError("exact filter data is corrupt: truncated")
            filt.add(bytes(view[offset : offset + length]))
            offset += length
        if offset != len(view) or filt.count != n_keys:
            raise MapoError("exact filter data is corrupt: trailing or repeated keys")
        return filt


FILTER_MODES = ("bloom", "exact")


def make_filter(mode: str, capacity: int, error_rate: float) -> ScalableBloomFilter | ExactSet:
    """A fresh explored-prefix filter: `bloom` (scalable, grows past capacity) or `exact`."""
    if mode == "bloom":
        return ScalableBloomFilter(capacity, error_rate)
    if mode == "exact":
        return ExactSet(capacity, error_rate)  # sizing is irrelevant: kept for the record
    raise MapoError(f"unknown filter mode {mode!r}: expected one of {', '.join(FILTER_MODES)}")


def filter_from_bytes(data: bytes | memoryview) -> BloomFilter | ScalableBloomFilter | ExactSet:
    """Rebuild any filter from `to_bytes()` output, dispatching on its first byte."""
    kind = bytes(data[:1])
    if kind == KIND_SCALABLE:
        return ScalableBloomFilter.from_bytes(data)
    if kind == KIND_BLOOM:
        return BloomFilter.from_bytes(data)
    if kind == KIND_EXACT:
        return ExactSet.from_bytes(data)
    raise MapoError(f"filter data is corrupt: unknown kind byte {kind!r}")


def filter_stats(data: bytes | memoryview) -> tuple[int, int]:
    """(allocated bits, items) of serialised filter data, reading headers only.

    Lets a store summary report bits per prefix without rebuilding filters.
    """
    kind = bytes(data[:1])
    if kind == KIND_BLOOM:
        _, m, _, count, _ = _read_bloom_header(data, 0)
        return m, count
    if kind == KIND_SCALABLE:
        _, chunks = _scalable_chunks(data)
        bits = items = 0
        for chunk in chunks:
            _, m, _, count, _ = _read_bloom_header(chunk, 0)
            bits += m
            items += count
        return bits, items
    if kind == KIND_EXACT:
        if len(data) < _EXACT_HEADER.size:
            raise MapoError("exact filter data is corrupt: shorter than its header")
        n_keys = _EXACT_HEADER.unpack_from(data, 0)[4]
        key_bytes = len(data) - _EXACT_HEADER.size - n_keys * _KEY_LENGTH.size
        if key_bytes < 0:
            raise MapoError("exact filter data is corrupt: truncated")
        return 8 * key_bytes, n_keys
    raise MapoError(f"filter data is corrupt: unknown kind byte {kind!r}")
