"""The classic bloom filter, and what all filter kinds share: hash seed, sizing, format version.

Exploration asks "is this prefix fully explored?" hundreds of millions of
times, so `add` and `in` are kept to one murmur3 call and a short loop
(`ScalableBloomFilter` repeats that loop inline rather than call in here).
"""

from __future__ import annotations

import math
import struct

from mmh3 import hash128

from mapo_cli.core.errors import MapoError

SEED = 0x4D41504F  # "MAPO": fixed, so the same keys always give the same bytes
_LN2_SQUARED = math.log(2) ** 2

KIND_BLOOM = b"B"
FORMAT_VERSION = 1  # of every filter kind's bytes

# kind, version, k, seed, m (bits), capacity, count, error_rate
_BLOOM_HEADER = struct.Struct("<cBHIQQQd")


def check_sizing(capacity: int, error_rate: float) -> None:
    """Reject a capacity or error rate that no filter can be sized for."""
    if capacity < 1:
        raise MapoError(f"filter capacity must be at least 1, not {capacity}")
    if not 0.0 < error_rate < 1.0:
        raise MapoError(f"filter error rate must be between 0 and 1 (exclusive), not {error_rate}")


def optimal_bits_and_hashes(capacity: int, error_rate: float) -> tuple[int, int]:
    """The standard sizing: m = -n ln p / (ln 2)^2 bits and k = (m / n) ln 2 hashes.

    m is rounded up to a multiple of 64 so that a lightly filled filter could
    later be folded in half (positions are taken mod m) without a format change.
    """
    check_sizing(capacity, error_rate)
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


def bloom_stats(data: bytes | memoryview) -> tuple[int, int]:
    """(allocated bits, items) of serialised BloomFilter data, from its header alone."""
    _, m, _, count, _ = _read_bloom_header(data, 0)
    return m, count
