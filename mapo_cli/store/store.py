"""The exploration store: one LMDB environment per directory (docs/contract.md, "The store").

Sub-databases, all keyed by example id (UTF-8):

- `meta`: `schema_version` and the `fingerprint` of the program space;
- `examples`: JSON `{"hash", "example", "table"}` (the store is self-contained);
- `memory`: the memory buffer, packed numbers (`store_values.encode_memory`);
- `filters`: the explored-prefix filter bytes (`mapo_cli.store.filters`);
- `status`: JSON `{"samples", "dead_ends", "exhausted", "seconds", ...}`.

Every value is sealed with a crc32 (`values.seal`; `meta` keeps the fingerprint's
beside it) and checked on every read: LMDB checks its pages, never values' bytes.

Only one process writes a store (docs/contract.md, "The one-writer rule"); a
`writer.lock` file makes a second writer a clear error instead of a silent
interleaving. Readers in other processes may work meanwhile and always see
a committed snapshot (LMDB MVCC). Commits are synced (`sync=True`,
`metasync=True`), so a killed writer loses at most its open transaction.
Nothing here unpickles: a store from someone else never runs code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import lmdb

from mapo_cli.core.errors import MapoError
from mapo_cli.store.environment import (
    DEFAULT_MAP_SIZE,
    SCHEMA_VERSION,
    attach,
    begin,
    copy_env,
    fingerprint_difference,
    initialise_if_empty,
    open_readonly_env,
    open_writable_env,
    store_errors,
    translate_error,
)
from mapo_cli.store.files import release_writer
from mapo_cli.store.records import StoreReader, StoreWriter
from mapo_cli.store.upgrade import upgrade_from_schema_1
from mapo_cli.store.values import Json, Program, canonical_json


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
        upgrade: bool = False,
    ) -> Store:
        """Open the store at `path` for this fingerprint, creating it if `path` is new or empty.

        `verify` reads the whole file first, in a child process, so
        that a damaged store is a MapoError rather than a crash inside LMDB.
        `upgrade` turns a store of an older schema into the current one
        (writable only); without it such a store is a MapoError saying how.
        """
        path = Path(path)
        wanted = json.loads(canonical_json(fingerprint))
        if readonly:
            store = cls.open_readonly(path, verify=verify)
        else:
            store = cls._open_writable(path, wanted, map_size, verify, upgrade)
        if store.fingerprint != wanted:
            store.close()
            raise MapoError(
                f"store at {path} does not match this run: "
                + fingerprint_difference(store.fingerprint, wanted)
                + "; explore into a new store (mapo explore DATA --store NEW_DIR)"
            )
        if store.schema_version < SCHEMA_VERSION:  # only with `upgrade`
            store._upgrade()
        return store

    @classmethod
    def open_readonly(cls, path: Path, verify: bool = True) -> Store:
        """Open an existing store for reading; safe while another process writes it.

        Verification is skipped while a writer holds the store (a file that is
        being written is not at rest); that writer verified it when it opened.
        """
        path = Path(path)
        env = open_readonly_env(path, verify)
        store = cls(path, env, readonly=True, lock_fd=None)
        store._attach()
        return store

    @classmethod
    def _open_writable(
        cls, path: Path, fingerprint: Json, map_size: int, verify: bool, upgrade: bool
    ) -> Store:
        env, lock_fd = open_writable_env(path, map_size, verify)
        store = cls(path, env, readonly=False, lock_fd=lock_fd)
        try:
            initialise_if_empty(env, path, fingerprint)
            store._attach(upgrade)
        except BaseException:
            store.close()
            raise
        return store

    def _attach(self, upgrade: bool = False) -> None:
        """Open the sub-databases and read meta; anything missing means not a store."""
        try:
            self._dbs, self._meta = attach(self._env, self.path, upgrade)
        except BaseException:
            self.close()
            raise

    def _upgrade(self) -> None:
        try:
            with store_errors(self.path), begin(self._env, write=True) as txn:
                upgrade_from_schema_1(txn, self._dbs)
        except BaseException:
            self.close()
            raise
        self._meta["schema_version"] = SCHEMA_VERSION

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

    @contextmanager
    def reader(self) -> Iterator[StoreReader]:
        """A read snapshot: `with store.reader() as r: r.read_memory(...); r.summary()`."""
        with store_errors(self.path):
            txn = begin(self._env)
        try:
            yield StoreReader(self, txn)
        except lmdb.Error as err:
            raise translate_error(self.path, err) from err
        finally:
            txn.abort()

    @contextmanager
    def writer(self) -> Iterator[StoreWriter]:
        """One write transaction, committed when the block ends, abandoned if it raises."""
        if self.readonly:
            raise MapoError(f"store at {self.path} is open read-only")
        if self._writing:  # a second write transaction in this thread would deadlock
            raise MapoError(f"store at {self.path} already has a write transaction open")
        with store_errors(self.path):
            txn = begin(self._env, write=True)
        self._writing = True
        try:
            yield StoreWriter(self, txn)
        except lmdb.Error as err:
            txn.abort()
            raise translate_error(self.path, err) from err
        except BaseException:
            txn.abort()
            raise
        else:
            with store_errors(self.path):
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

    def damaged(self) -> list[tuple[str, str]]:
        """(example id, record) of every damaged value: `StoreReader.damaged`."""
        with self.reader() as r:
            return r.damaged()

    def drop_damaged(self) -> list[str]:
        """Delete the records of every example with a damaged value: `StoreWriter.drop_damaged`."""
        with self.writer() as w:
            return w.drop_damaged()

    def summary(self, ids: Iterable[str] | None = None) -> Json:
        """Coverage, programs, filter bits... from one consistent snapshot."""
        with self.reader() as r:
            return r.summary(ids)

    def add_examples(self, pairs: Iterable[tuple[Json, Json]]) -> int:
        with self.writer() as w:
            return w.add_examples(pairs)

    def copy_to(self, dst: Path) -> None:
        """A compacted copy at `dst` (a new or empty directory), e.g. one per comparison run."""
        copy_env(self._env, dst)


def copy_store(src: Path, dst: Path) -> None:
    """Copy the store at `src` to `dst`, compacted; safe while another process writes `src`."""
    with Store.open_readonly(src) as store:
        store.copy_to(dst)
