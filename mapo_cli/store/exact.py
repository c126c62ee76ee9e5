"""An exact set behind the filter interface: no false positives, for tests and small data.

Its bytes are a header and the keys in sorted order, each behind its length.
"""

from __future__ import annotations

import math
import struct

from mapo_cli.core.errors import MapoError
from mapo_cli.store.bloom import FORMAT_VERSION

KIND_EXACT = b"E"

# kind, version, capacity, error_rate, number of keys
_EXACT_HEADER = struct.Struct("<cBQdQ")
_KEY_LENGTH = struct.Struct("<I")


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


def exact_stats(data: bytes | memoryview) -> tuple[int, int]:
    """(bits, items) of serialised ExactSet data, from its header and length alone."""
    if len(data) < _EXACT_HEADER.size:
        raise MapoError("exact filter data is corrupt: shorter than its header")
    n_keys = _EXACT_HEADER.unpack_from(data, 0)[4]
    key_bytes = len(data) - _EXACT_HEADER.size - n_keys * _KEY_LENGTH.size
    if key_bytes < 0:
        raise MapoError("exact filter data is corrupt: truncated")
    return 8 * key_bytes, n_keys
