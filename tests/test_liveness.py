"""Memory programs reduced to the expressions their answer depends on."""

from __future__ import annotations

from pathlib import Path

import pytest
from tables import example, medals_table

from mapo_cli.data.dataset import load_dataset
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import load_grammar
from mapo_cli.language.interpreter import Interpreter
from mapo_cli.language.liveness import without_dead_code
from mapo_cli.language.program import format_program, split_program, to_ids
from mapo_cli.store.store import Store

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
