"""Reading and writing a store's per-example records, inside one LMDB transaction.

The records and their formats are listed in `mapo_cli.store.store`. A reader
sees one consistent snapshot; a writer commits everything or nothing. Every
value is sealed with a checksum (`values.seal`); one that fails it or does not
parse is reported as damage, naming the example and how to repair it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import lmdb

from mapo_cli.core.errors import MapoError
from mapo_cli.store.filters import filter_stats
from mapo_cli.store.values import (
    Json,
    Program,
    canonical_json,
    decode_memory,
    dedupe_programs,
    encode_memory,
    example_key,
    memory_arrays,
    seal,
    unseal,
)

if TYPE_CHECKING:
    from mapo_cli.store.store import Store

_MAX_KEY_BYTES = 511  # LMDB's compiled-in key limit
_HASH_PREFIX = b'{"hash":"'  # examples values start with the hash: checked without parsing
RECORDS = {"examples": "example", "memory": "memory", "filters": "filter", "status": "status"}
"""The per-example sub-databases and what `damaged` calls their records."""


def _id_key(example_id: str) -> bytes:
    """The LMDB key of an example id, or a MapoError saying why it cannot be one."""
    if not isinstance(example_id, str):
        raise MapoError(f"example id must be a string, not {example_id!r}")
    key = example_id.encode("utf-8")
    if not 0 < len(key) <= _MAX_KEY_BYTES:
        raise MapoError(f"example id {example_id!r} is empty or longer than {_MAX_KEY_BYTES} bytes")
    return key


def _id_of(key: bytes | memoryview) -> str:
    return bytes(key).decode("utf-8", "backslashreplace")  # a damaged key may not be UTF-8


class StoreReader:
    """Reads within one LMDB transaction: everything it returns is one consistent snapshot."""

    def __init__(self, store: Store, txn: lmdb.Transaction) -> None:
        self._store = store
        self._txn = txn
        self._dbs = store._dbs

    def _damaged(self, db: str, example_id: str, problem: str) -> MapoError:
        path = self._store.path
        return MapoError(
            f"store at {path} is damaged: the {RECORDS[db]} record of example {example_id!r} "
            f"{problem}; drop and explore it again with `mapo explore DATA --store {path} "
            f"--repair` (`mapo inspect store {path} --verify` lists every damaged value)"
        )

    def _unseal(self, db: str, key: bytes | memoryview, value: Any) -> Any:
        try:
            return unseal(key, value)
        except ValueError as err:
            raise self._damaged(db, _id_of(key), str(err)) from err

    def _get(self, db: str, example_id: str) -> Any:
        """The checked data of one record (a buffer valid in this transaction), or None."""
        key = _id_key(example_id)
        value = self._txn.get(key, db=self._dbs[db])
        return None if value is None else self._unseal(db, key, value)

    def read_memory(self, example_id: str) -> list[tuple[Program, float]]:
        data = self._get("memory", example_id)
        if data is None:
            return []
        try:
            return decode_memory(data)
        except ValueError as err:
            raise self._damaged("memory", example_id, f"does not parse ({err})") from err

    def read_filter(self, example_id: str) -> bytes | None:
        data = self._get("filters", example_id)
        return None if data is None else bytes(data)

    def read_status(self, example_id: str) -> Json | None:
        data = self._get("status", example_id)
        if data is None:
            return None
        try:
            return json.loads(bytes(data))
        except ValueError as err:
            raise self._damaged("status", example_id, f"does not parse ({err})") from err

    def read_example(self, example_id: str) -> tuple[Json, Json] | None:
        data = self._get("examples", example_id)
        if data is None:
            return None
        try:
            record = json.loads(bytes(data))
            return record["example"], record["table"]
        except (ValueError, KeyError, TypeError) as err:
            raise self._damaged("examples", example_id, f"does not parse ({err})") from err

    def example_hash(self, example_id: str) -> str | None:
        """The stored content hash (`example_key`) of an example, read without parsing it."""
        data = self._get("examples", example_id)
        if data is None:
            return None
        if bytes(data[: len(_HASH_PREFIX)]) != _HASH_PREFIX:
            raise self._damaged("examples", example_id, "has no hash")
        return bytes(data[len(_HASH_PREFIX) : len(_HASH_PREFIX) + 64]).decode("ascii", "replace")

    def damaged(self) -> list[tuple[str, str]]:
        """(example id, record) of every value that fails its checksum, sorted.

        Reads every value of the store (what `mapo inspect store --verify` reports).
        """
        return sorted(
            (_id_of(key), RECORDS[db]) for key, dbs in self._damaged_keys().items() for db in dbs
        )

    def _damaged_keys(self) -> dict[bytes, list[str]]:
        found: dict[bytes, list[str]] = {}
        for db in RECORDS:
            for key, value in self._txn.cursor(db=self._dbs[db]):
                try:
                    unseal(key, value)
                except ValueError:
                    found.setdefault(bytes(key), []).append(db)
        return found

    def ids(self) -> list[str]:
        cursor = self._txn.cursor(db=self._dbs["examples"])
        return [bytes(key).decode("utf-8") for key in cursor.iternext(keys=True, values=False)]

    def summary(self, ids: Iterable[str] | None = None) -> Json:
        """Totals over the whole store, or over `ids` (those of them that it holds).

        Keys: examples, covered (a reward-1 program in memory), coverage,
        programs (samples tried), memory_programs, dead_ends, exhausted, relaxed
        (explored past their trigger words, `--relax-triggers`),
        example_seconds (summed per-example work), filter_bits, filter_items,
        bits_per_prefix, false_positive_rate (measured by probing never-inserted
        keys, from status), store_bytes.
        """
        txn, dbs = self._txn, self._dbs
        if ids is None:
            examples = txn.stat(dbs["examples"])["entries"]
            keys = None
        else:
            keys = [k for k in map(_id_key, ids) if txn.get(k, db=dbs["examples"]) is not None]
            examples = len(keys)
        out: Json = {"examples": examples, "covered": 0, "memory_programs": 0}
        for key, value in self._values("memory", keys):
            try:
                rewards, _, _ = memory_arrays(value)
            except ValueError as err:
                raise self._damaged("memory", _id_of(key), f"does not parse ({err})") from err
            out["memory_programs"] += len(rewards)
            out["covered"] += any(r >= 1.0 for r in rewards)
        out.update(self._status_totals(keys))
        out["filter_bits"] = out["filter_items"] = 0
        for key, value in self._values("filters", keys):
            try:
                bits, items = filter_stats(value)
            except MapoError as err:
                raise self._damaged("filters", _id_of(key), f"does not parse ({err})") from err
            out["filter_bits"] += bits
            out["filter_items"] += items
        out["coverage"] = out["covered"] / examples if examples else 0.0
        items = out["filter_items"]
        out["bits_per_prefix"] = out["filter_bits"] / items if items else None
        probes = out.pop("fp_probes")
        out["false_positive_rate"] = out.pop("fp_hits") / probes if probes else None
        out["store_bytes"] = self._store.store_bytes()
        return out

    def _values(self, db: str, keys: list[bytes] | None) -> Iterator[tuple[Any, Any]]:
        """(key, checked data) of every record in `db`, or of those among `keys`."""
        if keys is None:
            for key, value in self._txn.cursor(db=self._dbs[db]):
                yield key, self._unseal(db, key, value)
            return
        for key in keys:
            value = self._txn.get(key, db=self._dbs[db])
            if value is not None:
                yield key, self._unseal(db, key, value)

    def _status_totals(self, keys: list[bytes] | None) -> Json:
        totals: Json = {
            "programs": 0,
            "dead_ends": 0,
            "exhausted": 0,
            "relaxed": 0,
            "example_seconds": 0.0,
            "fp_probes": 0,
            "fp_hits": 0,
        }
        for key, value in self._values("status", keys):
            try:
                status = json.loads(bytes(value))
                totals["programs"] += int(status.get("samples", 0))
                totals["dead_ends"] += int(status.get("dead_ends", 0))
                totals["exhausted"] += bool(status.get("exhausted", False))
                totals["relaxed"] += bool(status.get("relaxed", False))
                totals["example_seconds"] += float(status.get("seconds", 0.0))
                totals["fp_probes"] += int(status.get("fp_probes", 0))
                totals["fp_hits"] += int(status.get("fp_hits", 0))
            except (ValueError, TypeError, AttributeError) as err:
                raise self._damaged("status", _id_of(key), f"does not parse ({err})") from err
        return totals


class StoreWriter(StoreReader):
    """One write transaction: everything put through it commits together or not at all."""

    def _put(self, db: str, key: bytes, data: bytes) -> None:
        self._txn.put(key, seal(key, data), db=self._dbs[db])

    def drop_damaged(self) -> list[str]:
        """Delete every record of each example with a damaged value; returns their ids, sorted.

        What is left is whole, and a resumed exploration redoes those examples from nothing.
        """
        keys = self._damaged_keys()
        for key in keys:
            for db in RECORDS:
                self._txn.delete(key, db=self._dbs[db])
        return sorted(map(_id_of, keys))

    def _require_example(self, example_id: str) -> bytes:
        key = _id_key(example_id)
        if self._txn.get(key, db=self._dbs["examples"]) is None:
            raise MapoError(
                f"example {example_id!r} is not in the store at {self._store.path}; add it first"
            )
        return key

    def add_examples(self, pairs: Iterable[tuple[Json, Json]]) -> int:
        """Store (example, table) pairs not yet stored; returns how many were new.

        An id already stored with other content is an error (the whole
        transaction is then abandoned, so nothing stored changes).
        """
        added = 0
        for example, table in pairs:
            example_id = example.get("id") if isinstance(example, dict) else None
            key = _id_key(example_id)  # type: ignore[arg-type]
            digest = example_key(example, table)
            stored = self.example_hash(example_id)  # type: ignore[arg-type]
            if stored == digest:
                continue
            if stored is not None:
                raise MapoError(
                    f"example {example_id!r} is stored in {self._store.path} with "
                    "different content (question, answer or table changed); use "
                    "another store"
                )
            value = (
                f'{{"hash":"{digest}","example":{canonical_json(example)},'
                f'"table":{canonical_json(table)}}}'
            )
            self._put("examples", key, value.encode("utf-8"))
            added += 1
        return added

    def put_memory(
        self, example_id: str, programs: Sequence[Sequence[int]], rewards: Sequence[float]
    ) -> None:
        """Replace an example's memory buffer (repeated programs are kept once)."""
        key = self._require_example(example_id)
        try:
            data = encode_memory(*dedupe_programs(programs, rewards))
        except (OverflowError, TypeError, ValueError) as err:
            raise MapoError(
                f"cannot store the memory of example {example_id!r}: programs must "
                f"be lists of token ids in 0..65535 with one reward each ({err})"
            ) from err
        self._put("memory", key, data)

    def add_programs(
        self, example_id: str, programs: Sequence[Sequence[int]], rewards: Sequence[float]
    ) -> int:
        """Merge programs into the stored buffer, first-found first; returns how many were new."""
        if len(programs) != len(rewards):
            raise MapoError(
                f"example {example_id!r}: {len(programs)} programs but {len(rewards)} rewards"
            )
        old = self.read_memory(example_id)
        merged_programs = [p for p, _ in old] + list(programs)
        merged_rewards = [r for _, r in old] + list(rewards)
        merged_programs, merged_rewards = dedupe_programs(merged_programs, merged_rewards)
        self.put_memory(example_id, merged_programs, merged_rewards)
        return len(merged_programs) - len(old)

    def put_filter(self, example_id: str, data: bytes) -> None:
        """Store filter bytes from `mapo_cli.store.filters` (checked to parse, so summaries can)."""
        key = self._require_example(example_id)
        filter_stats(data)
        self._put("filters", key, data)

    def put_status(self, example_id: str, status: Json) -> None:
        """Replace an example's status (samples, dead_ends, exhausted, seconds, ...)."""
        key = self._require_example(example_id)
        try:
            data = canonical_json(status).encode("utf-8")
        except (TypeError, ValueError) as err:
            raise MapoError(f"status of example {example_id!r} is not JSON: {err}") from err
        self._put("status", key, data)
