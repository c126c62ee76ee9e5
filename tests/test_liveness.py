"""Memory programs reduced to the expressions their answer depends on."""

from __future__ import annotations

import json
from pathlib import Path

import lmdb
import pytest
from tables import example, medals_table
from test_decode import train_tiny_run

from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import load_dataset
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import load_grammar
from mapo_cli.language.interpreter import Interpreter
from mapo_cli.language.liveness import without_dead_code
from mapo_cli.language.program import format_program, split_program, to_ids
from mapo_cli.learn.checkpoint import load_checkpoint
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.training_data import load_training_data
from mapo_cli.search.driver import explore_data
from mapo_cli.search.explore import ExploreSettings
from mapo_cli.store.store import Store, copy_store
from mapo_cli.store.values import checksum

ENTITIES = [{"type": "string", "value": "peru", "span": [4, 5]}]


def context() -> ProgramContext:
    ex = example("which nation is before peru?", ENTITIES, ["Brazil"])
    return ProgramContext(ex, medals_table(), load_grammar("wtq"), 4)


def live(program: str) -> str:
    ctx = context()
    ids = tuple(to_ids(split_program(program), ctx))
    return format_program(without_dead_code(ids, ctx.first_var), ctx.vocab)


@pytest.mark.parametrize(("program", "expected"), [
    ("(argmax all_rows r.gold-num) (count all_rows) (hop v0 r.nation-str)",
     "(argmax all_rows r.gold-num) (hop v0 r.nation-str)"),
    # v0 only feeds v1, and v1 is never read: both go
    ('(filter_in all_rows "peru" r.nation-str) (first v0) (count all_rows)', "(count all_rows)"),
    ("(first all_rows) (argmax all_rows r.gold-num) (last all_rows) (diff v0 v2 r.gold-num)",
     "(first all_rows) (last all_rows) (diff v0 v1 r.gold-num)"),
    ("(argmax all_rows r.gold-num) (next v0) (hop v1 r.nation-str)",
     "(argmax all_rows r.gold-num) (next v0) (hop v1 r.nation-str)"),
])
def test_dead_expressions_are_dropped_and_variables_renumbered(program: str, expected: str) -> None:
    assert live(program) == expected


def test_explored_memory_holds_only_live_programs(prepared_demo: Path, demo_store: Path) -> None:
    """Exploration under the liveness rule writes no dead code: nothing is left to reduce."""
    examples, tables = load_dataset(prepared_demo / "random-split-1-train.jsonl")
    grammar = load_grammar("wtq")
    programs = 0
    with Store.open_readonly(demo_store) as store:
        max_expressions = store.fingerprint["max_expressions"]
        for ex in examples:
            interpreter = Interpreter(ProgramContext(ex, tables[ex["table"]], grammar,
                                                     max_expressions))
            for program, _ in store.read_memory(ex["id"]):
                assert without_dead_code(program, interpreter.ctx.first_var) == program
                assert interpreter.run(program).done
                programs += 1
    assert programs > 1000


def test_a_store_explored_before_the_rule_is_refused(prepared_demo: Path, tmp_path: Path) -> None:
    settings = ExploreSettings()
    before = {k: v for k, v in settings.fingerprint().items()
              if k not in ("live_programs", "semantics")}
    old = tmp_path / "old-store"
    Store.create_or_open(old, before).close()
    data = prepared_demo / "random-split-1-train.jsonl"
    with pytest.raises(MapoError) as refused:
        explore_data(data, old, settings, workers=1, samples_per_example=1)
    message = str(refused.value)
    assert "store was explored without live_programs" in message
    assert "explore into a new store (mapo explore DATA --store NEW_DIR)" in message
    assert "\n" not in message


def test_training_refuses_a_store_with_dead_code(prepared_demo: Path, demo_store: Path,
                                                 tmp_path: Path) -> None:
    store = tmp_path / "store"
    copy_store(demo_store, store)
    with Store.create_or_open(store, ExploreSettings().fingerprint()) as opened:
        fingerprint = {**opened.fingerprint, "live_programs": False}
    environment = lmdb.open(str(store), max_dbs=8, subdir=True)
    with environment.begin(write=True) as txn:  # as a store from before the rule records it
        meta = environment.open_db(b"meta", txn=txn)
        data = json.dumps(fingerprint, sort_keys=True).encode()
        txn.put(b"fingerprint", data, db=meta)
        txn.put(b"fingerprint_crc32", checksum(b"fingerprint", data), db=meta)
    environment.close()
    config = TrainConfig(train=str(prepared_demo / "random-split-1-train.jsonl"),
                         dev=str(prepared_demo / "random-split-1-dev.jsonl"), store=str(store))
    with pytest.raises(MapoError, match="holds programs with dead code .* re-explore with mapo "
                                        "explore"):
        load_training_data(config)


def test_decode_refuses_a_checkpoint_trained_under_the_other_rule(
        prepared_demo: Path, demo_store: Path, tmp_path: Path) -> None:
    run = train_tiny_run(tmp_path, prepared_demo, demo_store)
    sidecar = run / "best.json"
    meta = json.loads(sidecar.read_text())
    meta["grammar"]["live_programs"] = False
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(MapoError, match="trained without the liveness rule, but grammar 'wtq' "
                                        "asks for live programs"):
        load_checkpoint(run / "best.pt", load_grammar("wtq"))
