"""A schema-1 store (values without checksums) upgraded to schema 2 in place.

One write transaction seals every value that parses (`values.seal`), then
adds the fingerprint's checksum and the new version: a killed upgrade leaves the schema-1 store as it was. A value that
does not parse stays unsealed, so it fails its checksum like any damaged value
and `mapo explore --repair` explores its example again. The transaction may
hold up to twice the values' size (LMDB copies on write).
"""

from __future__ import annotations

import json
from typing import Any

import lmdb

from mapo_cli.core.errors import MapoError
from mapo_cli.store.filters import filter_from_bytes
from mapo_cli.store.values import checksum, decode_memory, example_key, seal


def _check_example(data: bytes) -> None:
    record = json.loads(data)
    if record["hash"] != example_key(record["example"], record["table"]):
        raise ValueError("its hash is not its content's")


def _check_status(data: bytes) -> None:
    if not isinstance(json.loads(data), dict):
        raise TypeError("not a JSON object")


_CHECKS = {
    "examples": _check_example,
    "memory": decode_memory,
    "filters": filter_from_bytes,
    "status": _check_status,
}


def upgrade_from_schema_1(txn: lmdb.Transaction, dbs: dict[str, Any]) -> None:
    """Seal the store's values that parse, and its meta data, in `txn` (a write transaction)."""
    for name, check in _CHECKS.items():
        db = dbs[name]
        for key in [bytes(k) for k in txn.cursor(db=db).iternext(values=False)]:
            data = bytes(txn.get(key, db=db))
            try:
                check(data)
            except (ValueError, KeyError, TypeError, MapoError):
                continue
            txn.put(key, seal(key, data), db=db)
    fingerprint = bytes(txn.get(b"fingerprint", db=dbs["meta"]))
    txn.put(b"fingerprint_crc32", checksum(b"fingerprint", fingerprint), db=dbs["meta"])
    txn.put(b"schema_version", b"2", db=dbs["meta"])
