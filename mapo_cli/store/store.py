"""The exploration store: one LMDB environment per directory (DESIGN.md, "Store (LMDB)").

Sub-databases, all keyed by example id (UTF-8):

- `meta`: `schema_version` and the `fingerprint` of the program space;
- `examples`: JSON `{"hash", "example", "table"}` (the store is self-contained);
- `memory`: the memory buffer, packed numbers (`store_values.encode_memory`);
- `filters`: the explored-prefix filter bytes (`mapo_cli.store.bloom`);
- `status`: JSON `{"samples", "dead_ends", "exhausted", "seconds", ...}`.

Only one process writes a store (DESIGN.md's one architectural rule); a
`writer.lock` file makes a second writer a clear error instead of a silent
interleaving. Readers in other processes may work meanwhile and always see
a committed snapshot (LMDB MVCC). Commits are synced (`sync=True`,
`metasync=True`), so a killed writer loses at most its open transaction.
Nothing here unpickles: a store from someone else never runs code.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import lmdb

from mapo_cli.core.errors import MapoError
from mapo_cli.store.bloom import filter_stats
from mapo_cli.store.files import (
    WRITER_LOCK,
    lock_writer,
    release_writer,
    verify_by_reading,
    writer_active,
)
from mapo_cli.store.values import (
    canonical_json,
    decode_memory,
    dedupe_programs,
    encode_memory,
    example_key,
    memory_arrays,
)

SCHEMA_VERSION = 1
DEFAULT_MAP_SIZE = 8 << 30
DB_NAMES = ("meta", "examples", "memory", "filters", "status")
_OUR_FILES = {WRITER_LOCK, "lock.mdb"}  # all a store killed while being created may leave
_MAX_DBS = 8
_MAX_KEY_BYTES = 511  # LMDB's compiled-in key limit
_HASH_PREFIX = b'{"hash":"'  # examples values start with the hash: checked without parsing

Program = tuple[int, ...]
Json = dict[str, Any]


# --- errors ----------------------------------------------------------------


def _translate(path: Path, err: Exception) -> MapoError:
    """A one-line MapoError for an LMDB or OS error, always naming the store path."""
    code = getattr(err, "errno", None)
    if isinstance(err, lmdb.MapFullError):
        return MapoError(
            f"store at {path} is full (its map size is reached): reopen it with a larger map size"
        )
    if isinstance(err, lmdb.DiskError) or code == errno.ENOSPC:
        return MapoError(f"no space left on the disk holding the store at {path}")
    if isinstance(err, lmdb.ReadonlyError) or code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return MapoError(f"store location {path} is read-only or not accessible ({err})")
    damaged = (
        lmdb.CorruptedError,
        lmdb.PageNotFoundError,
        lmdb.InvalidError,
        lmdb.PanicError,
        lmdb.BadChecksumError,
        lmdb.VersionMismatchError,
    )
    if isinstance(err, damaged):
        return MapoError(f"store at {path} is damaged ({err}); restore it from a copy")
    if "already open in this process" in str(err):
        return MapoError(f"store at {path} is already open in this process: use that Store")
    detail = err.strerror if isinstance(err, OSError) and err.strerror else err
    return MapoError(f"store at {path}: {detail}")


@contextmanager
def _store_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except (lmdb.Error, OSError) as err:
        raise _translate(path, err) from err


def _id_key(example_id: str) -> bytes:
    if not isinstance(example_id, str):
        raise MapoError(f"example id must be a string, not {example_id!r}")
    key = example_id.encode("utf-8")
    if not 0 < len(key) <= _MAX_KEY_BYTES:
        raise MapoError(f"example id {example_id!r} is empty or longer than {_MAX_KEY_BYTES} bytes")
    return key


def _fingerprint_difference(stored: Json, wanted: Json) -> str:
    def show(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    parts = []
    for key in sorted(set(stored) | set(wanted)):
        if key not in wanted:
            parts.append(f"store was explored with {key}={show(stored[key])}, this run sets none")
        elif key not in stored:
            parts.append(
                f"store was explored without {key}, this run asks for {key}={show(wanted[key])}"
            )
        elif stored[key] != wanted[key]:
            parts.append(
                f"store was explored with {key}={show(stored[key])}, this run asks "
                f"for {show(wanted[key])}"
            )
    return "; ".join(parts)


# --- readers and writers ---------------------------------------------------


class StoreReader:
    """Reads within one LMDB transaction: everything it returns is one consistent snapshot."""

    def __init__(self, store: Store, txn: lmdb.Transaction) -> None:
        self._store = store
        self._txn = txn
        self._dbs = store._dbs

    def _damaged(self, what: str, example_id: str, err: Exception) -> MapoError:
        return MapoError(
            f"store at {self._store.path} is damaged: {what} of example "
            f"{example_id!r} does not parse ({err})"
        )

    def read_memory(self, example_id: str) -> list[tuple[Program, float]]:
        data = self._txn.get(_id_key(example_id), db=self._dbs["memory"])
        if data is None:
            return []
        try:
            return decode_memory(data)
        except ValueError as err:
            raise self._damaged("the memory buffer", example_id, err) from err

    def read_filter(self, example_id: str) -> bytes | None:
        data = self._txn.get(_id_key(example_id), db=self._dbs["filters"])
        return None if data is None else bytes(data)

    def read_status(self, example_id: str) -> Json | None:
        data = self._txn.get(_id_key(example_id), db=self._dbs["status"])
        if data is None:
            return None
        try:
            return json.loads(bytes(data))
        except ValueError as err:
            raise self._damaged("the status", example_id, err) from err

    def read_example(self, example_id: str) -> tuple[Json, Json] | None:
        data = self._txn.get(_id_key(example_id), db=self._dbs["examples"])
        if data is None:
            return None
        try:
            record = json.loads(bytes(data))
            return record["example"], record["table"]
        except (ValueError, KeyError, TypeError) as err:
            raise self._damaged("the example record", example_id, err) from err

    def example_hash(self, example_id: str) -> str | None:
        """The stored content hash (`example_key`) of an example, read without parsing it."""
        data = self._txn.get(_id_key(example_id), db=self._dbs["examples"])
        if data is None:
            return None
        if bytes(data[: len(_HASH_PREFIX)]) != _HASH_PREFIX:
            raise self._damaged("the example record", example_id, ValueError("no hash"))
        return bytes(data[len(_HASH_PREFIX) : len(_HASH_PREFIX) + 64]).decode("ascii", "replace")

    def ids(self) -> list[str]:
        cursor = self._txn.cursor(db=self._dbs["examples"])
        return [bytes(key).decode("utf-8") for key in cursor.iternext(keys=True, values=False)]

    def summary(self, ids: Iterable[str] | None = None) -> Json:
        """Totals over the whole store, or over `ids` (those of them that it holds).

        Keys: examples, covered (a reward-1 program in memory), coverage,
        programs (samples tried), memory_programs, dead_ends, exhausted,
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
                raise self._damaged("the memory buffer", bytes(key).decode(), err) from err
            out["memory_programs"] += len(rewards)
            out["covered"] += any(r >= 1.0 for r in rewards)
        out.update(self._status_totals(keys))
        out["filter_bits"] = out["filter_items"] = 0
        for key, value in self._values("filters", keys):
            try:
                bits, items = filter_stats(value)
            except MapoError as err:
                raise self._damaged("the filter", bytes(key).decode(), err) from err
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
        """(key, value) of every record in `db`, or of those among `keys`."""
        if keys is None:
            yield from self._txn.cursor(db=self._dbs[db])
            return
        for key in keys:
            value = self._txn.get(key, db=self._dbs[db])
            if value is not None:
                yield key, value

    def _status_totals(self, keys: list[bytes] | None) -> Json:
        totals: Json = {"programs": 0, "dead_ends": 0, "exhausted": 0, "example_seconds": 0.0,
                        "fp_probes": 0, "fp_hits": 0}
        for key, value in self._values("status", keys):
            try:
                status = json.loads(bytes(value))
                totals["programs"] += int(status.get("samples", 0))
                totals["dead_ends"] += int(status.get("dead_ends", 0))
                totals["exhausted"] += bool(status.get("exhausted", False))
                totals["example_seconds"] += float(status.get("seconds", 0.0))
                totals["fp_probes"] += int(status.get("fp_probes", 0))
                totals["fp_hits"] += int(status.get("fp_hits", 0))
            except (ValueError, TypeError, AttributeError) as err:
                raise self._damaged("the status", bytes(key).decode(), err) from err
        return totals


class StoreWriter(StoreReader):
    """One write transaction: everything put through it commits together or not at all."""

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
            self._txn.put(key, value.encode("utf-8"), db=self._dbs["examples"])
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
        self._txn.put(key, data, db=self._dbs["memory"])

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
        """Store filter bytes from `mapo_cli.store.bloom` (checked to parse, so summaries can)."""
        key = self._require_example(example_id)
        filter_stats(data)
        self._txn.put(key, data, db=self._dbs["filters"])

    def put_status(self, example_id: str, status: Json) -> None:
        """Replace an example's status (samples, dead_ends, exhausted, seconds, ...)."""
        key = self._require_example(example_id)
        try:
            data = canonical_json(status).encode("utf-8")
        except (TypeError, ValueError) as err:
            raise MapoError(f"status of example {example_id!r} is not JSON: {err}") from err
        self._txn.put(key, data, db=self._dbs["status"])


# --- the store -------------------------------------------------------------


class Store:
    """An open store directory. Open it once per process (LMDB's rule) and close it."""

    def __init__(
        self, path: Path, env: lmdb.Environment, readonly: bool, lock_fd: int | None
    ) -> None:
        self.path = path
        self.readonly = readonly
        self._env = env
        self._lock_fd = lock_fd
        self._dbs: dict[str, Any] = {}
        self._meta: Json = {}
        self._writing = False

    # opening ------------------------------------------------------------

    @classmethod
    def create_or_open(
        cls,
        path: Path,
        fingerprint: Json,
        readonly: bool = False,
        map_size: int = DEFAULT_MAP_SIZE,
        verify: bool = True,
    ) -> Store:
        """Open the store at `path` for this fingerprint, creating it if `path` is new or empty.

        `verify` reads the whole file first, in a child process, so
        that a damaged store is a MapoError rather than a crash inside LMDB.
        """
        path = Path(path)
        wanted = json.loads(canonical_json(fingerprint))
        if readonly:
            store = cls.open_readonly(path, verify=verify)
        else:
            store = cls._open_writable(path, wanted, map_size, verify)
        if store.fingerprint != wanted:
            store.close()
            raise MapoError(
                f"store at {path} does not match this run: "
                + _fingerprint_difference(store.fingerprint, wanted)
            )
        return store

    @classmethod
    def open_readonly(cls, path: Path, verify: bool = True) -> Store:
        """Open an existing store for reading; safe while another process writes it.

        Verification is skipped while a writer holds the store (a file that is
        being written is not at rest); that writer verified it when it opened.
        """
        path = Path(path)
        data = path / "data.mdb"
        if not path.is_dir():
            raise MapoError(f"no store at {path}")
        if not data.is_file() or data.stat().st_size == 0:
            raise MapoError(f"{path} is not a store (no data.mdb)")
        if verify and not writer_active(path):
            problems = verify_by_reading(path)
            if problems and not writer_active(path):
                raise MapoError(
                    f"store at {path} is damaged ({problems[0]}); restore it from a copy"
                )
        with _store_errors(path):
            env = lmdb.open(
                str(path), readonly=True, map_size=DEFAULT_MAP_SIZE, max_dbs=_MAX_DBS, lock=True
            )
        store = cls(path, env, readonly=True, lock_fd=None)
        store._attach()
        return store

    @classmethod
    def _open_writable(cls, path: Path, fingerprint: Json, map_size: int, verify: bool) -> Store:
        data = path / "data.mdb"
        if path.exists() and not path.is_dir():
            raise MapoError(f"{path} is not a directory, so it cannot hold a store")
        if path.is_dir() and not data.exists() and set(os.listdir(path)) - _OUR_FILES:
            raise MapoError(f"{path} is not a store (no data.mdb) and is not empty")
        with _store_errors(path):
            path.mkdir(parents=True, exist_ok=True)
            lock_fd = lock_writer(path)
        try:
            if verify and data.is_file() and data.stat().st_size > 0:
                problems = verify_by_reading(path)
                if problems:
                    raise MapoError(
                        f"store at {path} is damaged ({problems[0]}); restore it from a copy"
                    )
            with _store_errors(path):
                env = lmdb.open(
                    str(path), map_size=map_size, max_dbs=_MAX_DBS, sync=True, metasync=True
                )
                env.reader_check()  # forget reader slots of killed processes
            store = cls(path, env, readonly=False, lock_fd=lock_fd)
        except BaseException:
            release_writer(lock_fd)
            raise
        try:
            with _store_errors(path):
                if env.stat()["entries"] == 0:
                    store._initialise(fingerprint)
            store._attach()
        except BaseException:
            store.close()
            raise
        return store

    def _initialise(self, fingerprint: Json) -> None:
        """Create every sub-database and the meta record in one transaction."""
        with self._env.begin(write=True) as txn:
            dbs = {name: self._env.open_db(name.encode(), txn=txn) for name in DB_NAMES}
            txn.put(b"schema_version", str(SCHEMA_VERSION).encode(), db=dbs["meta"])
            txn.put(b"fingerprint", canonical_json(fingerprint).encode(), db=dbs["meta"])

    def _attach(self) -> None:
        """Open the sub-databases and read meta; anything missing means not a store."""
        path = self.path
        try:
            with _store_errors(path):
                try:
                    for name in DB_NAMES:
                        self._dbs[name] = self._env.open_db(name.encode(), create=False)
                except lmdb.NotFoundError:
                    raise MapoError(
                        f"{path} is not a store (an LMDB environment without mapo's meta data)"
                    ) from None
                with self._begin() as txn:
                    version = txn.get(b"schema_version", db=self._dbs["meta"])
                    fingerprint = txn.get(b"fingerprint", db=self._dbs["meta"])
                    # copies: buffers die with their transaction
                    version = None if version is None else bytes(version)
                    fingerprint = None if fingerprint is None else bytes(fingerprint)
            if version is None or fingerprint is None:
                raise MapoError(f"{path} is not a store (its meta data is missing)")
            try:
                self._meta = {
                    "schema_version": int(version),
                    "fingerprint": json.loads(fingerprint),
                }
            except ValueError as err:
                raise MapoError(f"store at {path} is damaged (meta data: {err})") from err
            if self._meta["schema_version"] > SCHEMA_VERSION:
                raise MapoError(
                    f"store at {path} has schema version "
                    f"{self._meta['schema_version']}; this mapo reads up to "
                    f"{SCHEMA_VERSION}: upgrade mapo"
                )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._env.close()
        if self._lock_fd is not None:
            release_writer(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.readonly else "writable"
        return f"Store({str(self.path)!r}, {mode})"

    # facts --------------------------------------------------------------

    @property
    def fingerprint(self) -> Json:
        return dict(self._meta["fingerprint"])

    @property
    def schema_version(self) -> int:
        return self._meta["schema_version"]

    def store_bytes(self) -> int:
        """Size of data.mdb on disk (LMDB never shrinks it; `copy_store` compacts)."""
        return (self.path / "data.mdb").stat().st_size

    # transactions -------------------------------------------------------

    def _begin(self, write: bool = False) -> lmdb.Transaction:
        try:
            return self._env.begin(write=write, buffers=True)
        except lmdb.MapResizedError:
            self._env.set_mapsize(0)  # the writer grew the map: adopt its size
            return self._env.begin(write=write, buffers=True)

    @contextmanager
    def reader(self) -> Iterator[StoreReader]:
        """A read snapshot: `with store.reader() as r: r.read_memory(...); r.summary()`."""
        with _store_errors(self.path):
            txn = self._begin()
        try:
            yield StoreReader(self, txn)
        except lmdb.Error as err:
            raise _translate(self.path, err) from err
        finally:
            txn.abort()

    @contextmanager
    def writer(self) -> Iterator[StoreWriter]:
        """One write transaction, committed when the block ends, abandoned if it raises."""
        if self.readonly:
            raise MapoError(f"store at {self.path} is open read-only")
        if self._writing:  # a second write transaction in this thread would deadlock
            raise MapoError(f"store at {self.path} already has a write transaction open")
        with _store_errors(self.path):
            txn = self._begin(write=True)
        self._writing = True
        try:
            yield StoreWriter(self, txn)
        except lmdb.Error as err:
            txn.abort()
            raise _translate(self.path, err) from err
        except BaseException:
            txn.abort()
            raise
        else:
            with _store_errors(self.path):
                txn.commit()
        finally:
            self._writing = False

    # one-call conveniences (each its own transaction) -------------------

    def read_memory(self, example_id: str) -> list[tuple[Program, float]]:
        with self.reader() as r:
            return r.read_memory(example_id)

    def read_filter(self, example_id: str) -> bytes | None:
        with self.reader() as r:
            return r.read_filter(example_id)

    def read_status(self, example_id: str) -> Json | None:
        with self.reader() as r:
            return r.read_status(example_id)

    def read_example(self, example_id: str) -> tuple[Json, Json] | None:
        with self.reader() as r:
            return r.read_example(example_id)

    def ids(self) -> list[str]:
        with self.reader() as r:
            return r.ids()

    def summary(self, ids: Iterable[str] | None = None) -> Json:
        """Coverage, programs, filter bits... from one consistent snapshot."""
        with self.reader() as r:
            return r.summary(ids)

    def add_examples(self, pairs: Iterable[tuple[Json, Json]]) -> int:
        with self.writer() as w:
            return w.add_examples(pairs)

    def copy_to(self, dst: Path) -> None:
        """A compacted copy at `dst` (a new or empty directory), e.g. one per comparison run."""
        dst = Path(dst)
        if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
            raise MapoError(f"cannot copy the store to {dst}: it exists and is not empty")
        with _store_errors(dst):
            dst.mkdir(parents=True, exist_ok=True)
            try:
                self._env.copy(str(dst), compact=True)
            except BaseException:
                (dst / "data.mdb").unlink(missing_ok=True)
                raise


def copy_store(src: Path, dst: Path) -> None:
    """Copy the store at `src` to `dst`, compacted; safe while another process writes `src`."""
    with Store.open_readonly(src) as store:
        store.copy_to(dst)
