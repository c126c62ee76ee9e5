"""Damaged values are found, named and repaired (every store value carries a crc32).

LMDB checks the structure of its pages, never the bytes of a value: these tests
damage values where they lie in data.mdb and see the store say so by example.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import lmdb
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_explore_cli import dev_subset
from typer.testing import CliRunner

from mapo_cli.core.errors import MapoError
from mapo_cli.main import app
from mapo_cli.store.filters import make_filter
from mapo_cli.store.store import Store, copy_store
from mapo_cli.store.values import make_fingerprint, seal, unseal

FINGERPRINT = make_fingerprint(grammar="wtq", grammar_hash="abc123", max_expressions=3,
                               triggers=True, filter_mode="bloom", error_rate=0.01,
                               live_programs=True, semantics=2)
PAGE = 4096
runner = CliRunner()


def stored_value(store: Path, db: str, example_id: str) -> bytes:
    """The bytes of one value as they lie in data.mdb (checksum and all)."""
    with lmdb.open(str(store), readonly=True, lock=False, max_dbs=8) as env, env.begin() as txn:
        return txn.get(example_id.encode(), db=env.open_db(db.encode(), txn=txn, create=False))


def where(store: Path, value: bytes) -> int:
    """The offset of `value` in data.mdb, which must hold it once (a compacted store does)."""
    data = (store / "data.mdb").read_bytes()
    assert data.count(value) == 1
    return data.index(value)


def flip_bytes(store: Path, db: str, example_id: str, length: int = 8) -> None:
    """Invert `length` bytes in the middle of one stored value, in the file."""
    value = stored_value(store, db, example_id)
    at = where(store, value) + len(value) // 2 - length // 2
    with open(store / "data.mdb", "r+b") as fh:
        fh.seek(at)
        old = fh.read(length)
        fh.seek(at)
        fh.write(bytes(b ^ 0xFF for b in old))


def small_store(path: Path, n: int = 4, filter_capacity: int = 100) -> Path:
    """A compacted store of `n` examples, each with memory, filter and status."""
    with Store.create_or_open(path / "written", FINGERPRINT) as store:
        store.add_examples([({"id": f"nt-{i}", "question": f"q{i}", "table": f"t{i}"},
                             {"id": f"t{i}", "rows": [[str(i)]]}) for i in range(n)])
        with store.writer() as w:
            for i in range(n):
                explored = make_filter("bloom", filter_capacity, 0.01)
                explored.add(f"prefix {i}".encode())
                w.put_memory(f"nt-{i}", [[i, 1, 2], [i, 3]], [1.0, 0.0])
                w.put_filter(f"nt-{i}", explored.to_bytes())
                w.put_status(f"nt-{i}", {"samples": 10 + i, "exhausted": False})
    copy_store(path / "written", path / "store")
    return path / "store"


# --- the seal --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), at=st.integers(0), burst=st.binary(min_size=1, max_size=4))
def test_a_seal_catches_any_changed_byte_and_any_burst_in_its_data(data, at, burst) -> None:
    """crc32 catches every burst of up to 32 bits; the key is in the sum too."""
    assume(any(burst))
    sealed = seal(b"nt-1", data)
    assert unseal(b"nt-1", sealed) == data
    with pytest.raises(ValueError, match="checksum"):
        unseal(b"nt-2", sealed)
    one = bytearray(sealed)
    one[at % len(one)] ^= burst[0] or 1
    with pytest.raises(ValueError, match="checksum"):
        unseal(b"nt-1", bytes(one))
    assume(len(data) >= len(burst))
    several = bytearray(sealed)
    start = 4 + at % (len(data) - len(burst) + 1)
    several[start : start + len(burst)] = bytes(
        a ^ b for a, b in zip(several[start : start + len(burst)], burst))
    with pytest.raises(ValueError, match="checksum"):
        unseal(b"nt-1", bytes(several))


# --- the store finds and names damage --------------------------------------------------


@pytest.mark.parametrize("db, record", [("memory", "memory"), ("filters", "filter"),
                                        ("status", "status"), ("examples", "example")])
def test_a_damaged_value_is_named_by_example_and_record(tmp_path: Path, db, record) -> None:
    store_dir = small_store(tmp_path)
    flip_bytes(store_dir, db, "nt-2")
    with Store.open_readonly(store_dir) as store:
        assert store.damaged() == [("nt-2", record)]
        read = {"memory": store.read_memory, "filters": store.read_filter,
                "status": store.read_status, "examples": store.read_example}[db]
        with pytest.raises(MapoError) as raised:
            read("nt-2")
        message = str(raised.value)
        assert f"store at {store_dir} is damaged: the {record} record of example 'nt-2'" in message
        assert f"mapo explore DATA --store {store_dir} --repair" in message
        assert read("nt-1")  # the other examples read as ever
        if db != "examples":  # the summary reads all the other records
            with pytest.raises(MapoError, match="'nt-2'"):
                store.summary()


def test_a_page_of_random_bytes_inside_a_filter_is_found(tmp_path: Path) -> None:
    """The case LMDB cannot see: whole pages of a large filter overwritten (overflow pages)."""
    store_dir = small_store(tmp_path, filter_capacity=13064)  # 10,000 samples' filter: 18 KB
    value = stored_value(store_dir, "filters", "nt-1")
    start = -(-where(store_dir, value) // PAGE) * PAGE + PAGE  # two whole pages inside it
    assert start + 2 * PAGE <= where(store_dir, value) + len(value)
    with open(store_dir / "data.mdb", "r+b") as fh:
        fh.seek(start)
        fh.write(random.Random(0).randbytes(2 * PAGE))
    with Store.open_readonly(store_dir) as store:  # LMDB's pages are still sound
        with pytest.raises(MapoError, match="filter record of example 'nt-1' fails its checksum"):
            store.read_filter("nt-1")
        assert store.damaged() == [("nt-1", "filter")]


def test_a_value_moved_under_another_key_is_damage(tmp_path: Path) -> None:
    store_dir = small_store(tmp_path)
    with lmdb.open(str(store_dir), max_dbs=8) as env, env.begin(write=True) as txn:
        memory = env.open_db(b"memory", txn=txn)
        txn.put(b"nt-3", txn.get(b"nt-0", db=memory), db=memory)
    with Store.open_readonly(store_dir) as store:
        assert store.damaged() == [("nt-3", "memory")]


def test_dropping_damaged_examples_keeps_the_rest(tmp_path: Path) -> None:
    store_dir = small_store(tmp_path)
    flip_bytes(store_dir, "filters", "nt-1")
    flip_bytes(store_dir, "status", "nt-3")
    with Store.create_or_open(store_dir, FINGERPRINT) as store:
        assert store.drop_damaged() == ["nt-1", "nt-3"]
        assert store.damaged() == []
        assert store.ids() == ["nt-0", "nt-2"]
        assert store.read_memory("nt-1") == [] and store.read_status("nt-1") is None
        assert store.read_memory("nt-2") == [((2, 1, 2), 1.0), ((2, 3), 0.0)]


def test_the_fingerprint_is_checked_and_stays_readable_by_an_older_mapo(tmp_path: Path) -> None:
    store_dir = small_store(tmp_path)
    with lmdb.open(str(store_dir), max_dbs=8) as env, env.begin(write=True) as txn:
        meta = env.open_db(b"meta", txn=txn)
        # plain, so that a mapo of schema 1 reads the version and says to upgrade itself
        assert txn.get(b"schema_version", db=meta) == b"2"
        fingerprint = json.loads(txn.get(b"fingerprint", db=meta))
        txn.put(b"fingerprint", json.dumps({**fingerprint, "max_expressions": 7}).encode(),
                db=meta)  # damage that still parses
    with pytest.raises(MapoError, match="damaged .*the fingerprint fails its checksum"):
        Store.open_readonly(store_dir)


# --- schema 1: values without checksums -------------------------------------------------


def as_schema_1(store: Path) -> Path:
    """Rewrite a store as mapo wrote stores before checksums: values as they are, version 1."""
    with lmdb.open(str(store), max_dbs=8) as env, env.begin(write=True) as txn:
        for name in (b"examples", b"memory", b"filters", b"status"):
            db = env.open_db(name, txn=txn, create=False)
            for key, value in list(txn.cursor(db=db)):
                txn.put(key, bytes(unseal(key, value)), db=db)
        meta = env.open_db(b"meta", txn=txn, create=False)
        txn.delete(b"fingerprint_crc32", db=meta)
        txn.put(b"schema_version", b"1", db=meta)
    return store


def test_a_schema_1_store_says_how_to_upgrade(tmp_path: Path) -> None:
    store_dir = as_schema_1(small_store(tmp_path))
    for open_it in (Store.open_readonly, lambda p: Store.create_or_open(p, FINGERPRINT)):
        with pytest.raises(MapoError, match=re.escape(
                f"store at {store_dir} has schema version 1 (values without checksums): upgrade "
                f"it in place with `mapo explore DATA --store {store_dir} --repair`")):
            open_it(store_dir)


def test_upgrading_a_schema_1_store_seals_the_values_that_parse(tmp_path: Path) -> None:
    store_dir = as_schema_1(small_store(tmp_path))
    with lmdb.open(str(store_dir), max_dbs=8) as env, env.begin(write=True) as txn:
        txn.put(b"nt-2", b"\x01garbage", db=env.open_db(b"memory", txn=txn))
    with Store.create_or_open(store_dir, FINGERPRINT, upgrade=True) as store:
        assert store.schema_version == 2
        assert store.damaged() == [("nt-2", "memory")]
        assert store.read_memory("nt-1") == [((1, 1, 2), 1.0), ((1, 3), 0.0)]
        assert store.read_status("nt-3") == {"samples": 13, "exhausted": False}
    with Store.open_readonly(store_dir) as store:
        assert store.schema_version == 2 and store.fingerprint == FINGERPRINT


# --- as users see it: inspect --verify, explore --repair -----------------------------------


EXPLORE = ["--workers", "1", "--samples-per-example", "200"]


@pytest.fixture(scope="module")
def explored(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path) -> tuple[Path, Path]:
    """Eight demo questions explored once: (data file, store)."""
    tmp = tmp_path_factory.mktemp("checksums")
    data = dev_subset(tmp, prepared_demo, 8)
    result = runner.invoke(app, ["explore", str(data), "--store", str(tmp / "store"), *EXPLORE])
    assert result.exit_code == 0, result.output
    return data, tmp / "store"


def records(store_dir: Path) -> dict[str, tuple]:
    """Each example's memory and filter: what exploration found."""
    with Store.open_readonly(store_dir) as store, store.reader() as reader:
        return {i: (reader.read_memory(i), reader.read_filter(i)) for i in reader.ids()}


def test_verify_names_a_damaged_example_and_explore_repair_restores_it(
        explored: tuple[Path, Path], tmp_path: Path) -> None:
    data, fresh = explored
    store_dir = tmp_path / "store"
    copy_store(fresh, store_dir)
    victim = next(i for i, (memory, explored_prefixes) in records(fresh).items()
                  if memory and explored_prefixes)
    flip_bytes(store_dir, "filters", victim)

    verify = runner.invoke(app, ["inspect", "store", str(store_dir), "--verify"])
    assert verify.exit_code == 1
    assert victim in verify.stdout and "filter" in verify.stdout
    assert f"mapo explore DATA --store {store_dir} --repair" in verify.output
    as_json = runner.invoke(app, ["inspect", "store", str(store_dir), "--verify", "--json"])
    assert json.loads(as_json.stdout)["damaged"] == [{"id": victim, "record": "filter"}]
    for command in (["inspect", "store", str(store_dir)],
                    ["explore", str(data), "--store", str(store_dir), *EXPLORE]):
        refused = runner.invoke(app, command)
        assert refused.exit_code == 1
        assert f"example {victim!r}" in refused.output and "--repair" in refused.output

    repaired = runner.invoke(app, ["explore", str(data), "--store", str(store_dir), *EXPLORE,
                                   "--repair", "--json"])
    assert repaired.exit_code == 0, repaired.output
    assert json.loads(repaired.stdout)["repaired"] == [victim]
    clean = runner.invoke(app, ["inspect", "store", str(store_dir), "--verify"])
    assert clean.exit_code == 0 and "intact" in clean.stdout
    assert records(store_dir) == records(fresh)  # as a fresh exploration left them


def test_explore_repair_upgrades_a_schema_1_store_in_place(
        explored: tuple[Path, Path], tmp_path: Path) -> None:
    data, fresh = explored
    store_dir = tmp_path / "store"
    copy_store(fresh, store_dir)
    as_schema_1(store_dir)
    old = runner.invoke(app, ["inspect", "store", str(store_dir)])
    assert old.exit_code == 1 and "schema version 1 (values without checksums)" in old.output
    upgraded = runner.invoke(app, ["explore", str(data), "--store", str(store_dir), *EXPLORE,
                                   "--repair"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "damaged examples explored again: none" in upgraded.stdout
    assert runner.invoke(app, ["inspect", "store", str(store_dir), "--verify"]).exit_code == 0
    assert records(store_dir) == records(fresh)


def test_explore_repair_drops_damaged_examples_its_data_does_not_hold(
        explored: tuple[Path, Path], tmp_path: Path) -> None:
    data, fresh = explored
    store_dir = tmp_path / "store"
    copy_store(fresh, store_dir)
    lines = data.read_text().splitlines()
    victim = json.loads(lines[-1])["id"]
    flip_bytes(store_dir, "status", victim)
    fewer = tmp_path / "data" / "fewer.jsonl"
    fewer.parent.mkdir()
    (fewer.parent / "tables.jsonl").write_text(data.with_name("tables.jsonl").read_text())
    fewer.write_text("\n".join(lines[:-1]) + "\n")
    result = runner.invoke(app, ["explore", str(fewer), "--store", str(store_dir), *EXPLORE,
                                 "--repair", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["repaired"] == [] and summary["dropped"] == [victim]
    with Store.open_readonly(store_dir) as store:
        assert store.damaged() == [] and victim not in store.ids()
