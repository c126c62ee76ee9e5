"""What a store's values look like: checksums, content hashes, fingerprints, packed memory."""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

Program = tuple[int, ...]
Json = dict[str, Any]


_CHECKSUM = struct.Struct("<I")


def checksum(key: bytes, data: bytes | memoryview) -> bytes:
    """The crc32 of key and data, 4 bytes: the key is in it so that a value moved to another
    key fails too."""
    return _CHECKSUM.pack(zlib.crc32(data, zlib.crc32(key)))


def seal(key: bytes, data: bytes) -> bytes:
    """`data` after its `checksum`, as the store keeps its values: LMDB checksums nothing."""
    return checksum(key, data) + data


def unseal(key: bytes, value: bytes | memoryview) -> bytes | memoryview:
    """The data of a sealed value (a view of it, not a copy); ValueError if its checksum fails."""
    if len(value) < _CHECKSUM.size:
        raise ValueError("shorter than its checksum")
    data = value[_CHECKSUM.size :]
    if value[: _CHECKSUM.size] != checksum(key, data):
        raise ValueError("fails its checksum")
    return data


def canonical_json(value: Any) -> str:
    """One spelling per value (sorted keys, no spaces): the basis of hashes and fingerprints."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def example_key(example: Json, table: Json) -> str:
    """Content hash of a prepared example and its table: the same id must mean the same data."""
    return hashlib.sha256(canonical_json([example, table]).encode("utf-8")).hexdigest()


RETIRED_SEMANTICS: dict[int, str] = {
    2: "under semantics 2 a cell's 3–2 read 32; prepare the data again (mapo prepare) first",
}
"""What a store of a retired semantics version needs besides a new exploration."""


def retired_note(semantics: Any) -> str:
    """`; ` and what a store of this semantics version needs besides exploring anew, or ""."""
    note = RETIRED_SEMANTICS.get(semantics) if isinstance(semantics, int) else None
    return f"; {note}" if note else ""


def make_fingerprint(
    *,
    grammar: str,
    grammar_hash: str,
    max_expressions: int,
    triggers: bool,
    relax_triggers: bool = False,
    filter_mode: str,
    error_rate: float,
    live_programs: bool,
    semantics: int | str,
) -> Json:
    """The settings that change the program space: a store explored under others is useless.

    `live_programs` is the grammar's liveness rule and `semantics` the version
    of its built-ins' semantics and pruning (derived from their code: 2, or a
    digest; language/version.py), so a store from before either changed is
    refused by name. `relax_triggers` is a key only when set, so the stores
    explored before it existed keep their fingerprint.
    """
    fingerprint = {
        "grammar": grammar,
        "grammar_hash": grammar_hash,
        "live_programs": live_programs,
        "semantics": semantics,
        "max_expressions": max_expressions,
        "triggers": triggers,
        "filter_mode": filter_mode,
        "error_rate": error_rate,
    }
    if relax_triggers:
        fingerprint["relax_triggers"] = True
    return fingerprint


_MEMORY_VERSION = 1
_MEMORY_HEADER = struct.Struct("<BI")  # version, number of programs
_BIG_ENDIAN = sys.byteorder == "big"


def encode_memory(programs: Sequence[Sequence[int]], rewards: Sequence[float]) -> bytes:
    """Pack programs and rewards, little-endian: header, float32 rewards, uint16 lengths,
    uint16 tokens. Raises OverflowError/TypeError/ValueError on ids outside 0..65535."""
    if len(programs) != len(rewards):
        raise ValueError(f"{len(programs)} programs but {len(rewards)} rewards")
    parts = [
        array("f", rewards),
        array("H", [len(p) for p in programs]),
        array("H", [t for p in programs for t in p]),
    ]
    if _BIG_ENDIAN:  # pragma: no cover
        for part in parts:
            part.byteswap()
    header = _MEMORY_HEADER.pack(_MEMORY_VERSION, len(programs))
    return header + b"".join(part.tobytes() for part in parts)


def memory_arrays(data: bytes | memoryview) -> tuple[array, array, int]:
    """Rewards and lengths of packed memory, and where the tokens start; ValueError if bad."""
    if len(data) < _MEMORY_HEADER.size:
        raise ValueError("shorter than its header")
    version, n = _MEMORY_HEADER.unpack_from(data, 0)
    if version != _MEMORY_VERSION:
        raise ValueError(f"unknown memory format {version}")
    start = _MEMORY_HEADER.size
    if len(data) < start + 6 * n:
        raise ValueError("truncated")
    rewards = array("f")
    rewards.frombytes(data[start : start + 4 * n])
    lengths = array("H")
    lengths.frombytes(data[start + 4 * n : start + 6 * n])
    if _BIG_ENDIAN:  # pragma: no cover
        rewards.byteswap()
        lengths.byteswap()
    return rewards, lengths, start + 6 * n


def decode_memory(data: bytes | memoryview) -> list[tuple[Program, float]]:
    """Inverse of `encode_memory`; ValueError if the bytes are not a memory buffer."""
    rewards, lengths, start = memory_arrays(data)
    if len(data) != start + 2 * sum(lengths):
        raise ValueError("wrong length")
    tokens = array("H")
    tokens.frombytes(data[start:])
    if _BIG_ENDIAN:  # pragma: no cover
        tokens.byteswap()
    flat = tokens.tolist()
    out: list[tuple[Program, float]] = []
    offset = 0
    for length, reward in zip(lengths, rewards, strict=True):
        out.append((tuple(flat[offset : offset + length]), reward))
        offset += length
    return out


def dedupe_programs(programs: Iterable[Sequence[int]], rewards: Iterable[float]) -> tuple[list, list]:
    """Distinct programs, first occurrence wins (its reward too): a stable order."""
    seen: set[Program] = set()
    out_programs: list[Program] = []
    out_rewards: list[float] = []
    for program, reward in zip(programs, rewards, strict=True):
        key = tuple(program)
        if key not in seen:
            seen.add(key)
            out_programs.append(key)
            out_rewards.append(reward)
    return out_programs, out_rewards
