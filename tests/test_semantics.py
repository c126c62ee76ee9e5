"""What each function computes on every input the paper allows, apart from search pruning.

The medals table (tests/tables.py): Brazil 5 gold, Peru 3, Chile 3, Peru B 1;
years 1995, 1997, 1995, 2001.
"""

from __future__ import annotations

import pytest
from tables import example, medals_table

from mapo_cli.analysis.execution import execute
from mapo_cli.core.errors import InvalidProgram
from mapo_cli.language.context import ProgramContext, date_holds
from mapo_cli.language.grammar import load_grammar
from mapo_cli.language.semantics import BUILTINS

ENTITIES = [
    {"type": "string", "value": "peru", "span": [0, 1]},
    {"type": "number", "value": 3, "span": [1, 2]},
    {"type": "number", "value": 9, "span": [2, 3]},
    {"type": "date", "value": "2005-01-xx", "span": [3, 4]},
]
EMPTY, ONE, MANY = 0b0000, 0b0010, 0b1111  # no rows, Peru alone, every row


def ctx() -> ProgramContext:
    ex = example("how many nations won more than 3 9 gold before 2005-01?", ENTITIES, ["0"])
    return ProgramContext(ex, medals_table(), load_grammar("wtq"))


def view(name: str) -> int:
    return next(i for i, v in enumerate(ctx().views) if v.token == name)


def call(semantics: str, op: str | None, *args):
    return BUILTINS[semantics].compute(ctx(), op, *args)


@pytest.mark.parametrize(("semantics", "op", "args", "expected"), [
    ("hop", None, (EMPTY, "r.nation-str"), ("cells", ())),
    ("hop", None, (ONE, "r.nation-str"), ("cells", ("Peru",))),
    ("hop", None, (MANY, "r.gold-num"), ("cells", ("5", "3", "3", "1"))),
    ("argbest", "max", (EMPTY, "r.gold-num"), ("rows", EMPTY)),
    ("argbest", "max", (ONE, "r.gold-num"), ("rows", ONE)),
    ("argbest", "min", (MANY, "r.gold-num"), ("rows", 0b1000)),
    ("argbest", "max", (0b0110, "r.gold-num"), ("rows", 0b0110)),  # ties are all kept
    ("compare", ">", (EMPTY, 3.0, "r.gold-num"), ("rows", EMPTY)),
    ("compare", ">", (ONE, 3.0, "r.gold-num"), ("rows", EMPTY)),
    ("compare", ">", (MANY, 0.0, "r.gold-num"), ("rows", MANY)),  # keeps every row
    ("compare", ">", (MANY, 9.0, "r.gold-num"), ("rows", EMPTY)),  # keeps none
    ("contains", "in", (MANY, "peru", "r.nation-str"), ("rows", 0b1010)),
    ("contains", "not_in", (MANY, "peru", "r.nation-str"), ("rows", 0b0101)),
    ("contains", "in", (EMPTY, "peru", "r.nation-str"), ("rows", EMPTY)),
    ("end_row", "first", (EMPTY,), ("rows", EMPTY)),
    ("end_row", "last", (ONE,), ("rows", ONE)),
    ("end_row", "last", (MANY,), ("rows", 0b1000)),
    ("adjacent_row", "previous", (0b0001,), ("rows", EMPTY)),  # above the first row: none
    ("adjacent_row", "next", (ONE,), ("rows", 0b0100)),
    ("count", None, (EMPTY,), ("number", 0.0)),
    ("count", None, (ONE,), ("number", 1.0)),
    ("count", None, (MANY,), ("number", 4.0)),
    ("aggregate", "sum", (EMPTY, "r.gold-num"), ("number", 0.0)),
    ("aggregate", "max", (EMPTY, "r.gold-num"), ("number", None)),  # no value: answers nothing
    ("aggregate", "average", (ONE, "r.gold-num"), ("number", 3.0)),
    ("aggregate", "min", (MANY, "r.gold-num"), ("number", 1.0)),
    ("mode", None, (EMPTY, "r.gold-num"), ("cells", ())),
    ("mode", None, (ONE, "r.nation-str"), ("cells", ("Peru",))),
    ("mode", None, (MANY, "r.gold-num"), ("cells", ("3",))),
    ("same_as", None, (0b0001, "r.year-num"), ("rows", 0b0100)),
    ("same_as", None, (ONE, "r.year-num"), ("rows", EMPTY)),
    ("diff", "absolute", (0b1000, 0b0001, "r.gold-num"), ("number", 4.0)),
    ("diff", "signed", (0b1000, 0b0001, "r.gold-num"), ("number", -4.0)),
    ("diff", "absolute", (ONE, ONE, "r.gold-num"), ("number", 0.0)),
])
def test_every_function_is_total_on_empty_single_and_many_rows(
        semantics: str, op: str | None, args: tuple, expected: tuple) -> None:
    args = tuple(view(a) if isinstance(a, str) and a.startswith("r.") else a for a in args)
    assert call(semantics, op, *args) == expected


@pytest.mark.parametrize(("value", "op", "target", "holds"), [
    ((2001, -1, -1), "<", (2005, 1, -1), True),  # 2001 is before January 2005, whatever its month
    ((2005, -1, -1), "<", (2005, 1, -1), False),  # 2005 may be January 2005
    ((2005, -1, -1), "=", (2005, 1, -1), True),  # compatible: every known part agrees
    ((2005, -1, -1), "<=", (2005, 1, -1), True),
    ((2005, 2, 3), ">", (2005, 1, -1), True),
    ((2005, 1, 3), ">", (2005, 1, -1), False),
    ((2005, 1, 3), ">=", (2005, 1, -1), True),
    ((2006, -1, -1), "!=", (2005, 1, -1), True),
    ((-1, 1, 3), "<", (2005, 1, -1), False),  # no year: no order
    ((-1, 1, 3), "=", (2005, 1, -1), True),
])
def test_partial_dates_compare_as_the_intervals_they_denote(value, op, target, holds) -> None:
    assert date_holds(op, value, target) is holds


def test_a_year_column_compares_with_a_partial_date_literal() -> None:
    table = medals_table()
    result = execute(ctx().example, table,
                     "(filter< all_rows 2005-01-xx r.year-date) (count v0)")
    assert result.answer == ["4"]  # every year in the table is before January 2005


def run(program: str):
    return execute(ctx().example, medals_table(), program)


def test_a_count_can_be_zero() -> None:
    result = run("(filter> all_rows 9 r.gold-num) (count v0)")
    assert result.answer == ["0"] and result.reward == 1.0
    assert result.notes == []  # search offers it: 9 comes from the question


@pytest.mark.parametrize(("program", "answer", "note"), [
    ("(filter> all_rows 0 r.gold-num) (count v0)", ["4"], "v0: the filter keeps every row"),
    ('(filter_in all_rows "peru" r.year-str) (count v0)', ["0"],
     "the string filter keeps no rows"),
    ('(filter_in all_rows "peru" r.nation-str) (first v0) (hop v1 r.nation-str)', ["Peru"],
     None),
    ("(filter= all_rows 9 r.gold-num) (mode v0 r.nation-str)", [], "mode needs a value"),
    ("(filter_in all_rows \"peru\" r.nation-str) (last v0) (mode v1 r.nation-str)", ["Peru B"],
     "v2: mode needs a value that occurs more than once"),
])
def test_exec_runs_pruned_programs_and_names_the_rule(program: str, answer: list[str],
                                                      note: str | None) -> None:
    result = run(program)
    assert result.answer == answer
    if note is None:
        assert not any("search never offers" in n for n in result.notes)
    else:
        assert any(note in n and "search never offers this call" in n for n in result.notes)


def test_exec_of_dead_code_answers_and_names_the_unused_variable() -> None:
    result = run("(count all_rows) (argmax all_rows r.gold-num) (hop v1 r.nation-str)")
    assert result.answer == ["Brazil"]
    assert result.notes == [("v0 is never used; the parser would write the live program "
                             "(argmax all_rows r.gold-num) (hop v0 r.nation-str)")]


@pytest.mark.parametrize(("program", "message"), [
    ("(filter> all_rows all_rows r.gold-num) (count v0)",
     "argument 2 of filter> must be a date or a number, got rows (all_rows)"),
    ("(hop all_rows 3)", "argument 2 of hop must be a column, got number (3)"),
    ("(argmax all_rows r.gold-num) (count v0) (previous v1)",
     "argument 1 of previous must be a row (a single row), got number (v1)"),
    ("(previous all_rows) (hop v0 r.nation-str)",
     "argument 1 of previous must be a row (a single row), got rows (all_rows)"),
    ("(filter> all_rows 9 r.gold-num) (previous v0) (hop v1 r.nation-str)",
     "argument 1 of previous must be a row (a single row), got no rows (v0)"),
])
def test_ill_typed_arguments_are_named_with_both_types(program: str, message: str) -> None:
    with pytest.raises(InvalidProgram) as error:
        run(program)
    assert str(error.value) == message
