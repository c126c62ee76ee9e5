"""The LMDB store (mapo_cli/store/store.py): what explore, train and inspect rely on."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lmdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapo_cli.core.errors import MapoError
from mapo_cli.store.bloom import BloomFilter
from mapo_cli.store.exact import ExactSet
from mapo_cli.store.files import verify_by_reading
from mapo_cli.store.filters import make_filter
from mapo_cli.store.store import Store, copy_store
from mapo_cli.store.values import decode_memory, encode_memory, example_key, make_fingerprint

REPO = Path(__file__).resolve().parents[1]
FINGERPRINT = make_fingerprint(
    grammar="wtq",
    grammar_hash="abc123",
    max_expressions=3,
    triggers=True,
    filter_mode="bloom",
    error_rate=0.01,
    live_programs=True,
    semantics=2,
)


def table(i: int) -> dict:
    return {
        "id": f"csv/{i}.csv",
        "headers": ["Nation", "Gold"],
        "columns": ["nation", "gold"],
        "rows": [["Peru", str(i)], ["Chile", "2"]],
        "numbers": [None, [float(i), 2.0]],
        "dates": [None, None],
    }


def example(i: int, answer: str = "Peru") -> dict:
    return {
        "id": f"nt-{i}",
        "question": f"which nation has {i} gold?",
        "tokens": ["which"],
        "entities": [],
        "answer": [answer],
        "table": f"csv/{i}.csv",
        "grammar": "wtq",
    }


def pairs(n: int) -> list[tuple[dict, dict]]:
    return [(example(i), table(i)) for i in range(n)]


@pytest.fixture
def store(tmp_path: Path):
    with Store.create_or_open(tmp_path / "store", FINGERPRINT) as opened:
        opened.add_examples(pairs(5))
        yield opened


def run_python(code: str, *args: str, **popen) -> subprocess.Popen:
    """Another process using the package (readers and writers in tests)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, **popen)


# --- round trips ----------------------------------------------------------------

programs_strategy = st.lists(
    st.tuples(
        st.lists(st.integers(0, 65535), max_size=12),
        st.floats(0, 1, width=32),
    ),
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(found=programs_strategy)
def test_memory_encoding_round_trips(found: list[tuple[list[int], float]]) -> None:
    data = encode_memory([p for p, _ in found], [r for _, r in found])
    assert decode_memory(data) == [(tuple(p), r) for p, r in found]


def test_memory_encoding_is_compact() -> None:
    """Two bytes a token, six a program, five a buffer (the original kept text)."""
    data = encode_memory([[1, 2, 3], [4, 5]], [1.0, 0.0])
    assert len(data) == 5 + 2 * 6 + 2 * 5


def test_memory_filter_and_status_round_trip(store: Store) -> None:
    filt = make_filter("bloom", 100, 0.01)
    filt.add(b"\x01\x00")
    with store.writer() as w:
        w.put_memory("nt-1", [[1, 2, 3], [65535]], [1.0, 0.5])
        w.put_filter("nt-1", filt.to_bytes())
        w.put_status("nt-1", {"samples": 7, "dead_ends": 1, "exhausted": False, "seconds": 0.25})
    assert store.read_memory("nt-1") == [((1, 2, 3), 1.0), ((65535,), 0.5)]
    assert store.read_filter("nt-1") == filt.to_bytes()
    assert store.read_status("nt-1") == {
        "samples": 7,
        "dead_ends": 1,
        "exhausted": False,
        "seconds": 0.25,
    }
    assert store.read_example("nt-1") == (example(1), table(1))
    assert store.read_memory("nt-2") == []
    assert store.read_filter("nt-2") is None
    assert store.read_status("nt-2") is None
    assert store.read_example("nt-99") is None
    assert store.ids() == [f"nt-{i}" for i in range(5)]


def test_add_programs_merges_first_found_first(store: Store) -> None:
    with store.writer() as w:
        assert w.add_programs("nt-0", [[3], [1, 2]], [1.0, 0.5]) == 2
    with store.writer() as w:
        assert w.add_programs("nt-0", [[1, 2], [9], [9], [3]], [0.7, 1.0, 1.0, 0.0]) == 1
    assert store.read_memory("nt-0") == [((3,), 1.0), ((1, 2), 0.5), ((9,), 1.0)]


def test_everything_survives_reopening(tmp_path: Path) -> None:
    with Store.create_or_open(tmp_path / "s", FINGERPRINT) as s:
        s.add_examples(pairs(2))
        with s.writer() as w:
            w.add_programs("nt-1", [[5, 6]], [1.0])
    with Store.open_readonly(tmp_path / "s") as s:
        assert s.fingerprint == FINGERPRINT
        assert s.schema_version == 2
        assert s.read_memory("nt-1") == [((5, 6), 1.0)]


def test_a_failed_batch_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.writer() as w:
        w.add_programs("nt-0", [[1]], [1.0])
        raise RuntimeError("worker result was bad")
    assert store.read_memory("nt-0") == []


@pytest.mark.parametrize(
    "programs, rewards", [([[70000]], [1.0]), ([[-1]], [1.0]), ([[1]], [1.0, 0.0])]
)
def test_programs_that_cannot_be_encoded_are_a_clear_error(store: Store, programs, rewards):
    with pytest.raises(MapoError, match="nt-0"), store.writer() as w:
        w.put_memory("nt-0", programs, rewards)


def test_writing_for_an_unknown_example_is_an_error(store: Store) -> None:
    with pytest.raises(MapoError, match="'nt-77' is not in the store"), store.writer() as w:
        w.put_status("nt-77", {"samples": 1})


def test_summary_is_computed_from_the_records(store: Store) -> None:
    exact = ExactSet()
    exact.add(b"ab")
    bloom = BloomFilter(1000, 0.01)
    with store.writer() as w:
        w.put_memory("nt-0", [[1], [2]], [1.0, 0.0])
        w.put_memory("nt-1", [[1]], [0.5])
        w.put_status("nt-0", {"samples": 10, "dead_ends": 2, "exhausted": True, "seconds": 1.5})
        w.put_status("nt-1", {"samples": 5, "dead_ends": 0, "exhausted": False, "seconds": 0.5})
        w.put_filter("nt-0", exact.to_bytes())
        w.put_filter("nt-1", bloom.to_bytes())
    summary = store.summary()
    assert summary["examples"] == 5
    assert summary["covered"] == 1
    assert summary["coverage"] == pytest.approx(0.2)
    assert summary["programs"] == 15
    assert summary["memory_programs"] == 3
    assert summary["dead_ends"] == 2
    assert summary["exhausted"] == 1
    assert summary["example_seconds"] == pytest.approx(2.0)
    assert summary["filter_bits"] == 16 + bloom.bits
    assert summary["filter_items"] == 1
    assert summary["store_bytes"] == (store.path / "data.mdb").stat().st_size
    assert store.summary(["nt-1", "nt-3"])["programs"] == 5
    assert store.summary(["nt-1", "nt-3"])["examples"] == 2


# --- examples and content hashes ---------------------------------------------------


def test_example_key_is_stable_and_content_sensitive() -> None:
    shuffled = dict(reversed(list(example(1).items())))
    assert example_key(shuffled, table(1)) == example_key(example(1), table(1))
    assert example_key(example(1, answer="Chile"), table(1)) != example_key(example(1), table(1))
    assert example_key(example(1), table(2)) != example_key(example(1), table(1))


def test_a_store_serves_any_subset_of_its_examples(store: Store) -> None:
    subset = [pairs(5)[i] for i in (1, 3)]
    assert store.add_examples(subset) == 0  # already there, same content
    assert store.read_example("nt-3") == subset[1]
    assert store.add_examples(pairs(7)) == 2


def test_an_id_stored_with_other_content_is_an_error_and_changes_nothing(store: Store) -> None:
    batch = [(example(10), table(10)), (example(2, answer="Chile"), table(2))]
    with pytest.raises(MapoError, match="'nt-2' is stored .* with different content"):
        store.add_examples(batch)
    assert store.read_example("nt-2") == (example(2), table(2))
    assert store.read_example("nt-10") is None  # the batch is all or nothing


# --- opening: fingerprints, not-a-store, damage ---------------------------------------


def test_a_different_fingerprint_says_what_differs(tmp_path: Path) -> None:
    Store.create_or_open(tmp_path / "s", FINGERPRINT).close()
    other = {**FINGERPRINT, "max_expressions": 4}
    with pytest.raises(MapoError, match="explored with max_expressions=3, this run asks for 4"):
        Store.create_or_open(tmp_path / "s", other)
    with pytest.raises(MapoError, match="max_expressions=3"):
        Store.create_or_open(tmp_path / "s", other, readonly=True)
    with pytest.raises(MapoError, match="triggers=true, this run asks for false"):
        Store.create_or_open(tmp_path / "s", {**FINGERPRINT, "triggers": False})


def test_a_new_or_empty_directory_becomes_a_store(tmp_path: Path) -> None:
    Store.create_or_open(tmp_path / "deep" / "new", FINGERPRINT).close()
    (tmp_path / "empty").mkdir()
    Store.create_or_open(tmp_path / "empty", FINGERPRINT).close()
    assert (tmp_path / "empty" / "data.mdb").is_file()


def test_a_directory_that_is_not_a_store_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("hi")
    with pytest.raises(MapoError, match="not a store"):
        Store.create_or_open(tmp_path / "notes", FINGERPRINT)
    with pytest.raises(MapoError, match="not a store"):
        Store.open_readonly(tmp_path / "notes")
    with pytest.raises(MapoError, match="no store at"):
        Store.open_readonly(tmp_path / "missing")
    env = lmdb.open(str(tmp_path / "other"), map_size=1 << 20)  # LMDB, but not ours
    with env.begin(write=True) as txn:
        txn.put(b"key", b"value")
    env.close()
    for open_it in (Store.open_readonly, lambda p: Store.create_or_open(p, FINGERPRINT)):
        with pytest.raises(MapoError, match="not a store"):
            open_it(tmp_path / "other")


def test_a_store_from_a_future_schema_is_an_error(tmp_path: Path) -> None:
    Store.create_or_open(tmp_path / "s", FINGERPRINT).close()
    with lmdb.open(str(tmp_path / "s"), max_dbs=8) as env:
        meta = env.open_db(b"meta")
        with env.begin(write=True) as txn:
            txn.put(b"schema_version", b"3", db=meta)
    with pytest.raises(MapoError, match="schema version 3.*upgrade mapo"):
        Store.create_or_open(tmp_path / "s", FINGERPRINT)
    with pytest.raises(MapoError, match="schema version 3"):
        Store.open_readonly(tmp_path / "s")


def damaged_copy(store_dir: Path, dst: Path, damage) -> Path:
    shutil.copytree(store_dir, dst)
    damage(dst / "data.mdb")
    return dst


def overwrite(offset: int, length: int):
    def damage(data_file: Path) -> None:
        assert offset + length <= data_file.stat().st_size
        with open(data_file, "r+b") as fh:
            fh.seek(offset)
            fh.write(random.Random(offset).randbytes(length))

    return damage


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: os.truncate(f, f.stat().st_size // 2),
        lambda f: os.truncate(f, 100),
        lambda f: os.truncate(f, 8192),
        overwrite(0, 8192),  # both meta pages
        overwrite(4 * 4096, 4096),  # a tree page
        overwrite(20 * 4096, 4096),
    ],
    ids=["half", "100-bytes", "meta-only", "meta-pages", "page-4", "page-20"],
)
def test_a_damaged_store_is_a_clear_error_never_a_crash(tmp_path: Path, damage) -> None:
    with Store.create_or_open(tmp_path / "s", FINGERPRINT) as s:
        s.add_examples(pairs(200))
        with s.writer() as w:
            for i in range(200):
                w.put_memory(f"nt-{i}", [[i, 1, 2]], [1.0])
    bad = damaged_copy(tmp_path / "s", tmp_path / "bad", damage)
    # In a child process: a crash inside LMDB would kill it, not pass silently.
    code = (
        "import json, sys; from pathlib import Path; from mapo_cli.store.store import Store\n"
        "from mapo_cli.core.errors import MapoError\n"
        "fingerprint = json.loads(sys.argv[2])\n"
        "for opener in (Store.open_readonly, lambda p: Store.create_or_open(p, fingerprint)):\n"
        "    try:\n"
        "        opener(Path(sys.argv[1])).summary()\n"
        "        print('opened')\n"
        "    except MapoError as e:\n"
        "        print('MapoError', e)\n"
    )
    fingerprint = json.dumps(FINGERPRINT)
    proc = run_python(code, str(bad), fingerprint, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.startswith("MapoError") for line in lines), out
    assert str(bad) in lines[0]
    assert "damaged" in out or "not a store" in out


def test_a_damaged_record_names_its_example(store: Store) -> None:
    with store.writer() as w:
        w.put_memory("nt-1", [[1]], [1.0])
        w._txn.put(b"nt-2", b"\x01garbage", db=w._dbs["memory"])  # what bit rot could leave
    with pytest.raises(MapoError, match="memory record of example 'nt-2' fails its checksum"):
        store.read_memory("nt-2")
    with pytest.raises(MapoError, match="'nt-2'"):
        store.summary()


# --- locations: read-only, not a directory, full -------------------------------------


def test_a_location_that_cannot_hold_a_store_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(MapoError, match=str(tmp_path / "file")):
        Store.create_or_open(tmp_path / "file", FINGERPRINT)
    with pytest.raises(MapoError, match=str(tmp_path / "file" / "store")):
        Store.create_or_open(tmp_path / "file" / "store", FINGERPRINT)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")
def test_a_read_only_location_is_an_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(MapoError, match=str(locked)):
            Store.create_or_open(locked / "store", FINGERPRINT)
    finally:
        locked.chmod(0o755)


def test_a_store_on_a_read_only_file_system_is_an_error(store: Store, monkeypatch) -> None:
    path = store.path
    store.close()
    real_open = os.open

    def read_only_open(file, flags, *args, **kwargs):
        if flags & (os.O_RDWR | os.O_WRONLY | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    with pytest.raises(MapoError, match=f"store location {path} is read-only"):
        Store.create_or_open(path, FINGERPRINT)


def test_a_full_store_is_an_error_and_keeps_what_was_committed(tmp_path: Path) -> None:
    blob = BloomFilter(200_000, 0.01).to_bytes()  # about 240 KB
    with Store.create_or_open(tmp_path / "s", FINGERPRINT, map_size=1 << 20) as s:
        s.add_examples(pairs(10))
        with s.writer() as w:
            w.put_filter("nt-0", blob)
        with pytest.raises(MapoError, match="full"):
            for i in range(1, 10):
                with s.writer() as w:
                    w.put_filter(f"nt-{i}", blob)
    with Store.create_or_open(tmp_path / "s", FINGERPRINT) as s:  # a larger map: it goes on
        assert s.read_filter("nt-0") == blob
        with s.writer() as w:
            w.put_filter("nt-9", blob)


# --- one writer, many readers ---------------------------------------------------------


def test_only_one_writer_at_a_time(store: Store) -> None:
    with pytest.raises(MapoError, match="being written by process"):
        Store.create_or_open(store.path, FINGERPRINT)
    with pytest.raises(MapoError, match="already open in this process"):
        Store.open_readonly(store.path)  # LMDB's rule; other processes may read
    assert store.read_example("nt-0") is not None


def test_a_second_write_transaction_in_one_thread_is_an_error(store: Store) -> None:
    with store.writer() as w, pytest.raises(MapoError, match="already has a write"):
        w.put_status("nt-0", {"samples": 1})
        with store.writer():
            pass
    assert store.read_status("nt-0") == {"samples": 1}


def test_a_forked_worker_does_not_keep_the_writer_lock(tmp_path: Path) -> None:
    """Worker pools fork: the lock must go when the writer closes, not when workers exit."""
    store = Store.create_or_open(tmp_path / "s", FINGERPRINT)
    ready, started = os.pipe()
    pid = os.fork()
    if pid == 0:  # the "worker": outlives the writer's close
        os.write(started, b"!")  # fork hooks have run by now
        time.sleep(30)
        os._exit(0)
    try:
        assert os.read(ready, 1) == b"!"
        store.close()
        Store.create_or_open(tmp_path / "s", FINGERPRINT).close()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(ready)
        os.close(started)


READER = r"""
import json, sys
from pathlib import Path
from mapo_cli.store.store import Store
total = int(sys.argv[2])
store = Store.open_readonly(Path(sys.argv[1]))
print("ready", flush=True)
reads = violations = 0
seen = set()
while True:
    summary = store.summary()
    reads += 1
    seen.add(summary["programs"])
    violations += summary["programs"] != summary["memory_programs"]
    if summary["programs"] >= total:
        break
print(json.dumps({"reads": reads, "violations": violations, "snapshots": len(seen)}))
"""


def test_a_reader_in_another_process_sees_consistent_snapshots(store: Store) -> None:
    """Each batch adds a program to one example and counts it in another's status."""
    batches = 200
    with store.writer() as w:
        for i in range(5):
            w.put_status(f"nt-{i}", {"samples": 0})
    reader = run_python(READER, str(store.path), str(batches), stdout=subprocess.PIPE)
    assert reader.stdout.readline().strip() == "ready"
    for n in range(batches):
        with store.writer() as w:
            w.add_programs(f"nt-{n % 5}", [[n, 7]], [1.0])
            counted = f"nt-{(n + 1) % 5}"
            w.put_status(counted, {"samples": w.read_status(counted)["samples"] + 1})
    out, _ = reader.communicate(timeout=60)
    result = json.loads(out)
    assert result["violations"] == 0
    assert result["snapshots"] > 1, result  # it did read while we wrote
    assert store.summary()["memory_programs"] == batches


WRITER = r"""
import sys
from pathlib import Path
from mapo_cli.store.bloom import BloomFilter
from mapo_cli.store.store import Store
store = Store.create_or_open(Path(sys.argv[1]), {"grammar": "crash-test"})
store.add_examples([({"id": "log"}, {}), ({"id": "counter"}, {})])
blob = BloomFilter(100_000, 0.01).to_bytes()  # makes each transaction take a while
n = (store.read_status("counter") or {}).get("samples", 0)
while True:
    with store.writer() as w:
        w.add_programs("log", [[n % 65536, n // 65536]], [1.0])
        w.put_filter("log", blob)
        w.put_status("counter", {"samples": n + 1})
    print(n, flush=True)
    n += 1
"""


def test_a_killed_writer_loses_no_committed_batch(tmp_path: Path) -> None:
    path = tmp_path / "s"
    rng = random.Random(3)
    printed: list[int] = []
    for _ in range(5):
        child = run_python(WRITER, str(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = child.stdout.readline()
        assert first, child.stderr.read()
        time.sleep(rng.uniform(0.0, 0.2))
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
        text = first + rest
        printed += [int(line) for line in text.split("\n")[:-1]]  # complete lines only
    assert verify_by_reading(path) == []  # every page reads back
    with Store.create_or_open(path, {"grammar": "crash-test"}) as store:
        committed = store.read_status("counter")["samples"]
        memory = store.read_memory("log")
    assert [p for p, _ in memory] == [(n % 65536, n // 65536) for n in range(committed)]
    assert set(printed) <= set(range(committed))
    assert committed - max(printed) <= 5  # at most one unprinted commit per kill
    assert len(printed) == len(set(printed))  # every run resumed after the last commit


# --- copies ----------------------------------------------------------------------------


def test_copies_are_compact_and_independent(store: Store, tmp_path: Path) -> None:
    with store.writer() as w:
        for i in range(5):
            w.put_filter(f"nt-{i}", BloomFilter(10_000, 0.01).to_bytes())
            w.put_memory(f"nt-{i}", [[i]], [1.0])
    with store.writer() as w:
        for i in range(5):
            w.put_filter(f"nt-{i}", ExactSet().to_bytes())  # frees the big filters' pages
    copy_store_dir = tmp_path / "copy"
    store.copy_to(copy_store_dir)
    with store.writer() as w:
        w.put_memory("nt-0", [[42]], [1.0])
    with Store.open_readonly(copy_store_dir) as copy:
        assert copy.read_memory("nt-0") == [((0,), 1.0)]
        assert copy.fingerprint == FINGERPRINT
        assert copy.store_bytes() < store.store_bytes()
    with pytest.raises(MapoError, match="not empty"):
        store.copy_to(copy_store_dir)


def test_copy_store_copies_a_closed_store(tmp_path: Path) -> None:
    with Store.create_or_open(tmp_path / "s", FINGERPRINT) as s:
        s.add_examples(pairs(3))
    copy_store(tmp_path / "s", tmp_path / "runs" / "a" / "store")
    with Store.create_or_open(tmp_path / "runs" / "a" / "store", FINGERPRINT) as copy:
        assert copy.ids() == ["nt-0", "nt-1", "nt-2"]
