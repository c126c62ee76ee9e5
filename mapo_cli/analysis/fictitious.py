"""Fictitious tables, and what programs answer on them: the test that `spurious` runs.

A fictitious table keeps the example's columns, shuffles its rows and swaps
free cells for other values of their column, while the cells that hold the
question's entities stay, so the question still makes sense there. The tables
are seeded per example, so a verdict can be reproduced.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from mapo_cli.core.dates import parse_date
from mapo_cli.core.text import contains, normalize_text
from mapo_cli.data.scoring import predicted_value
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import Grammar
from mapo_cli.language.interpreter import CLOSE_ID, Interpreter, State

Program = tuple[int, ...]
Json = dict[str, Any]
INVALID = "<invalid>"
REPLACE = 0.5  # chance that a cell not holding an entity takes another value of its column


# ---------------------------------------------------------------- fictitious tables


def _date_matches(cell: str | None, entity: str) -> bool:
    wanted, found = parse_date(entity), parse_date(cell) if cell else None
    if wanted is None or found is None:
        return False
    return all(w < 0 or w == f for w, f in zip(wanted, found))


def _holds(entity: Json, table: Json, r: int, c: int) -> bool:
    """Whether cell (r, c) holds the entity: contains its string, equals its number or date."""
    kind, value = entity.get("type"), entity.get("value")
    if kind == "string":
        return contains(normalize_text(table["rows"][r][c]), normalize_text(str(value)))
    numbers, dates = table["numbers"][c], table["dates"][c]
    if kind == "number":
        return numbers is not None and numbers[r] is not None and float(numbers[r]) == float(value)
    return kind == "date" and dates is not None and _date_matches(dates[r], str(value))


def entity_cells(table: Json, example: Json, kinds: tuple[str, ...] = ("string", "number", "date")
                 ) -> set[tuple[int, int]]:
    """(row, column) of every cell that holds one of the question's entities (of `kinds`)."""
    return {(r, c) for entity in example.get("entities", []) if entity.get("type") in kinds
            for r, row in enumerate(table["rows"]) for c in range(len(row))
            if _holds(entity, table, r, c)}


def fictitious_table(table: Json, anchored: set[tuple[int, int]], rng: random.Random,
                     replace: float = REPLACE) -> Json:
    """Rows shuffled; each free cell replaced (with chance `replace`) by a free cell of its column.

    A cell moves with its number and date, so every column keeps its views
    and types; only free cells (not holding an entity) are drawn from, so no
    other row comes to mention the question's entities.
    """
    rows, numbers, dates = table["rows"], table["numbers"], table["dates"]
    n_columns = len(table["columns"])

    def cell(r: int, c: int) -> tuple[str, Any, Any]:
        return (rows[r][c], None if numbers[c] is None else numbers[c][r],
                None if dates[c] is None else dates[c][r])

    free = [[cell(r, c) for r in range(len(rows)) if (r, c) not in anchored]
            for c in range(n_columns)]
    order = list(range(len(rows)))
    rng.shuffle(order)
    new_rows: list[list[str]] = []
    new_numbers = [None if col is None else [] for col in numbers]
    new_dates = [None if col is None else [] for col in dates]
    for r in order:
        new_row = []
        for c in range(n_columns):
            value = cell(r, c)
            if (r, c) not in anchored and free[c] and rng.random() < replace:
                value = rng.choice(free[c])
            new_row.append(value[0])
            if new_numbers[c] is not None:
                new_numbers[c].append(value[1])
            if new_dates[c] is not None:
                new_dates[c].append(value[2])
        new_rows.append(new_row)
    return {**table, "rows": new_rows, "numbers": new_numbers, "dates": new_dates}


def fictitious_tables(table: Json, example: Json, n: int, seed: int) -> list[Json]:
    """`n` fictitious tables for an example, the same for the same (seed, example id)."""
    rng = random.Random(f"{seed}:{example.get('id')}")
    anchored = entity_cells(table, example)
    return [fictitious_table(table, anchored, rng) for _ in range(n)]


# ---------------------------------------------------------------- behaviour on fictitious tables


def run_program(interpreter: Interpreter, tokens: Program) -> State | None:
    """Execute a program that is valid on the example's own table; None where it is not here.

    The same verdict as `Interpreter.run` (tested), without computing code
    assistance's offers at every step (that is most of its cost): on another
    table with the same columns and literals only two things can change,
    whether each call is still one search offers (pruning.py), and whether a
    `row` argument still holds exactly one row.
    """
    ctx = interpreter.ctx
    state = interpreter.start()
    for token in tokens:
        partial = state.partial
        if partial is not None and token != CLOSE_ID:
            position = len(partial) - 1
            signatures = interpreter.functions[partial[0]].signatures
            if all(sig[position] == "row" for sig in signatures):
                if token >= ctx.first_var + len(state.env):
                    return None
                value_type, value = (ctx.fixed[token - ctx.n_builtins] if token < ctx.first_var
                                     else state.env[token - ctx.first_var])
                if value_type != "rows" or value == 0 or value & (value - 1):
                    return None
        state = interpreter.step(state, token)
        partial = state.partial
        if partial is not None and len(partial) - 1 == interpreter.functions[partial[0]].arity \
                and interpreter.pruning_rule(state) is not None:
            return None
    return state if state.done else None


def answer_on(interpreter: Interpreter, tokens: Program) -> tuple[frozenset | str, list[str]]:
    """A program's answer on a table: (evaluator values to compare, strings to show).

    A program that cannot run there, or answers nothing, gives INVALID.
    """
    state = run_program(interpreter, tokens)
    answer = interpreter.answer(state) if state is not None else []
    if not answer:
        return INVALID, [INVALID]
    return frozenset(predicted_value(a) for a in answer), answer


def behaviours(example: Json, tables: list[Json], grammar: Grammar, max_expressions: int | None,
               programs: Sequence[Program], vocab: list[str]) -> list[tuple[tuple, list]]:
    """Per program: its answers on every table (compared) and as strings (shown).

    A table whose token vocabulary differs from `vocab` is skipped (token ids
    would mean other things there; fictitious_table never makes one).
    """
    per_table = []
    for table in tables:
        ctx = ProgramContext(example, table, grammar, max_expressions)
        if ctx.vocab != vocab:
            continue
        interpreter = Interpreter(ctx)
        per_table.append([answer_on(interpreter, p) for p in programs])
    return [(tuple(answers[k][0] for answers in per_table),
             [answers[k][1] for answers in per_table]) for k in range(len(programs))]

