"""The LMDB environment under a store directory: opening it safely, and its errors in our words.

Opening is where stores go wrong (a stray directory, a second writer, a
damaged or foreign file, a newer schema, a full map), so every such case is
checked here and becomes a one-line MapoError that names the store path,
before `Store` hands out a single transaction.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb

from mapo_cli.core.errors import MapoError
from mapo_cli.store.files import (
    WRITER_LOCK,
    lock_writer,
    release_writer,
    reserve_lock_file,
    verify_by_reading,
    writer_active,
)
from mapo_cli.store.values import Json, canonical_json, checksum, retired_note

# 2: values sealed with checksums (`upgrade.py` turns a schema-1 store into a schema-2 one).
# Meta values stay plain, so that any mapo reads the version (an older one says to upgrade);
# the fingerprint's checksum is beside it.
SCHEMA_VERSION = 2
DEFAULT_MAP_SIZE = 8 << 30
DB_NAMES = ("meta", "examples", "memory", "filters", "status")
_OUR_FILES = {WRITER_LOCK, "lock.mdb"}  # all a store killed while being created may leave
_MAX_DBS = 8
_META_KEYS = (b"schema_version", b"fingerprint", b"fingerprint_crc32")


# --- errors ----------------------------------------------------------------


def translate_error(path: Path, err: Exception) -> MapoError:
    """A one-line MapoError for an LMDB or OS error, always naming the store path."""
    code = getattr(err, "errno", None)
    if isinstance(err, lmdb.MapFullError):
        return MapoError(
            f"store at {path} is full (its map size is reached): reopen it with a larger map size"
        )
    if isinstance(err, lmdb.DiskError) or code == errno.ENOSPC or _disk_full(path, err):
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


def _disk_full(path: Path, err: Exception) -> bool:
    """LMDB reports a write cut short by a full disk as an I/O error (EIO)."""
    if "Input/output error" not in str(err) and getattr(err, "errno", None) != errno.EIO:
        return False
    try:
        return shutil.disk_usage(path).free < 4 * 2**20
    except OSError:
        return False


@contextmanager
def store_errors(path: Path) -> Iterator[None]:
    """Turn LMDB and OS errors raised in the block into `translate_error`'s MapoError."""
    try:
        yield
    except (lmdb.Error, OSError) as err:
        raise translate_error(path, err) from err


def fingerprint_difference(stored: Json, wanted: Json) -> str:
    """Which program-space settings differ, in words a user can act on."""

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
        elif key == "semantics" and stored[key] != wanted[key]:
            parts.append(
                f"store was explored with another program language (semantics "
                f"{show(stored[key])}, but this mapo's built-in functions are version "
                f"{show(wanted[key])}: they compute or prune differently"
                f"{retired_note(stored[key])})"
            )
        elif stored[key] != wanted[key]:
            parts.append(
                f"store was explored with {key}={show(stored[key])}, this run asks "
                f"for {show(wanted[key])}"
            )
    return "; ".join(parts)


# --- opening ---------------------------------------------------------------


def open_readonly_env(path: Path, verify: bool) -> lmdb.Environment:
    """The environment of an existing store, for reading (see `Store.open_readonly`)."""
    data = path / "data.mdb"
    if not path.is_dir():
        raise MapoError(f"no store at {path}")
    if not data.is_file() or data.stat().st_size == 0:
        raise MapoError(f"{path} is not a store (no data.mdb)")
    if verify and not writer_active(path):
        problems = verify_by_reading(path)
        if problems and not writer_active(path):
            raise MapoError(f"store at {path} is damaged ({problems[0]}); restore it from a copy")
    with store_errors(path):
        return lmdb.open(
            str(path), readonly=True, map_size=DEFAULT_MAP_SIZE, max_dbs=_MAX_DBS, lock=True
        )


def open_writable_env(path: Path, map_size: int, verify: bool) -> tuple[lmdb.Environment, int]:
    """The environment at `path` (created if new or empty) and the writer lock held on it.

    The caller owns the lock from here on: `release_writer` it when closing.
    """
    data = path / "data.mdb"
    if path.exists() and not path.is_dir():
        raise MapoError(f"{path} is not a directory, so it cannot hold a store")
    if path.is_dir() and not data.exists() and set(os.listdir(path)) - _OUR_FILES:
        raise MapoError(f"{path} is not a store (no data.mdb) and is not empty")
    with store_errors(path):
        path.mkdir(parents=True, exist_ok=True)
        lock_fd = lock_writer(path)
    try:
        if verify and data.is_file() and data.stat().st_size > 0:
            problems = verify_by_reading(path)
            if problems:
                raise MapoError(
                    f"store at {path} is damaged ({problems[0]}); restore it from a copy"
                )
        with store_errors(path):
            reserve_lock_file(path)
            env = lmdb.open(
                str(path), map_size=map_size, max_dbs=_MAX_DBS, sync=True, metasync=True
            )
            env.reader_check()  # forget reader slots of killed processes
    except BaseException:
        release_writer(lock_fd)
        raise
    return env, lock_fd


def initialise_if_empty(env: lmdb.Environment, path: Path, fingerprint: Json) -> None:
    """Give a new environment every sub-database and the meta record, in one transaction."""
    with store_errors(path):
        if env.stat()["entries"] != 0:
            return
        with env.begin(write=True) as txn:
            dbs = {name: env.open_db(name.encode(), txn=txn) for name in DB_NAMES}
            txn.put(b"schema_version", str(SCHEMA_VERSION).encode(), db=dbs["meta"])
            data = canonical_json(fingerprint).encode()
            txn.put(b"fingerprint", data, db=dbs["meta"])
            txn.put(b"fingerprint_crc32", checksum(b"fingerprint", data), db=dbs["meta"])


def begin(env: lmdb.Environment, write: bool = False) -> lmdb.Transaction:
    """A transaction whose values are buffers (valid only while it lives)."""
    try:
        return env.begin(write=write, buffers=True)
    except lmdb.MapResizedError:
        env.set_mapsize(0)  # the writer grew the map: adopt its size
        return env.begin(write=write, buffers=True)


def attach(
    env: lmdb.Environment, path: Path, upgrade: bool = False
) -> tuple[dict[str, Any], Json]:
    """The sub-databases and the meta data; anything missing means not a store.

    A store of an older schema is an error unless `upgrade` (the caller then upgrades it).
    """
    dbs: dict[str, Any] = {}
    with store_errors(path):
        try:
            for name in DB_NAMES:
                dbs[name] = env.open_db(name.encode(), create=False)
        except lmdb.NotFoundError:
            raise MapoError(
                f"{path} is not a store (an LMDB environment without mapo's meta data)"
            ) from None
        with begin(env) as txn:
            values = [txn.get(key, db=dbs["meta"]) for key in _META_KEYS]
            # copies: buffers die with their transaction
            version, fingerprint, crc = (None if v is None else bytes(v) for v in values)
    if version is None or fingerprint is None:
        raise MapoError(f"{path} is not a store (its meta data is missing)")
    try:
        schema = int(version)
        if schema > SCHEMA_VERSION:
            raise MapoError(
                f"store at {path} has schema version {schema}; this mapo reads up to "
                f"{SCHEMA_VERSION}: upgrade mapo"
            )
        if schema < SCHEMA_VERSION and not upgrade:
            raise MapoError(
                f"store at {path} has schema version {schema} (values without checksums): "
                f"upgrade it in place with `mapo explore DATA --store {path} --repair` (the "
                "data and options it was explored with), or explore again into a new store"
            )
        if schema > 1 and crc != checksum(b"fingerprint", fingerprint):
            raise ValueError("the fingerprint fails its checksum")
        meta = {"schema_version": schema, "fingerprint": json.loads(fingerprint)}
    except ValueError as err:
        raise MapoError(f"store at {path} is damaged (meta data: {err})") from err
    return dbs, meta


def copy_env(env: lmdb.Environment, dst: Path) -> None:
    """A compacted copy of `env` at `dst` (a new or empty directory); no half copy is left."""
    dst = Path(dst)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise MapoError(f"cannot copy the store to {dst}: it exists and is not empty")
    with store_errors(dst):
        dst.mkdir(parents=True, exist_ok=True)
        try:
            env.copy(str(dst), compact=True)
        except BaseException:
            (dst / "data.mdb").unlink(missing_ok=True)
            raise
