"""Runs a reference program on a generated table (the semantics of grammars/wtq.toml).

A program is 1 to 3 expressions in DESIGN.md's notation; `vK` names the
value of expression K. Stricter than mapo's interpreter where an answer
could be ambiguous: filters must keep some rows and drop some, row functions
take exactly one row, superlatives keep all the best rows, aggregates need
two or more values, modes must be unique. Values are pairs: `("rows", [row, ...])`, `("cells", [text, ...])`,
`("number", x)`, `("string", s)`, `("column", (c, view))`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from .table import Table
from .text import contains, format_number, normalize_text

Value = tuple[str, object]
_PROGRAM_TOKEN = re.compile(r'\(|\)|"[^"]*"|[^\s()]+')
_COLUMN = re.compile(r"r\.(.+)-(str|num|date)")
COMPARISONS = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__,
               "=": float.__eq__, "!=": float.__ne__}
AGGREGATES = {"max": max, "min": min, "sum": sum, "average": lambda x: sum(x) / len(x)}


class Invalid(Exception):
    """The program does not run, or its answer would be ambiguous."""


def parse_program(program: str) -> list[list[str]]:
    tokens = _PROGRAM_TOKEN.findall(program)
    expressions, i = [], 0
    while i < len(tokens):
        if tokens[i] != "(":
            raise Invalid(f"expected '(' at {tokens[i]!r}")
        j = tokens.index(")", i)
        expressions.append(tokens[i + 1: j])
        i = j + 1
    if not 1 <= len(expressions) <= 3:
        raise Invalid("a program has 1 to 3 expressions")
    return expressions


def argument(table: Table, env: list[Value], token: str) -> Value:
    if token == "all_rows":
        return ("rows", list(range(table.n)))
    if re.fullmatch(r"v\d", token):
        return env[int(token[1:])]
    if token.startswith('"'):
        return ("string", token[1:-1])
    match = _COLUMN.fullmatch(token)
    if match:
        return ("column", (table.names.index(match.group(1)), match.group(2)))
    return ("number", float(token))


def column_values(table: Table, rows: list[int], column: tuple[int, str]) -> list:
    """The column's view (`str`, `num`, `date`) in the given rows; None where a cell has none."""
    c, kind = column
    if kind == "num":
        if not table.full_num(c) and sum(v is not None for v in table.numbers[c]) * 2 < table.n:
            raise Invalid("no num view")
        return [table.numbers[c][i] for i in rows]
    if kind == "date":
        return [table.dates[c][i] for i in rows]
    return [table.norm[i][c] or None for i in rows]


def one_row(value: Value) -> int:
    if value[0] != "rows" or len(value[1]) != 1:
        raise Invalid("expected exactly one row")
    return value[1][0]


def subset(rows: list[int], kept: list[int]) -> Value:
    if len(rows) < 2 or not kept or len(kept) == len(rows):
        raise Invalid("a filter must keep some rows and drop some")
    return ("rows", kept)


def hop(table: Table, fn: str, args: list[Value]) -> Value:
    (_, rows), (_, (c, kind)) = args
    if kind == "str":
        return ("cells", [table.rows[i][c].strip() for i in rows if table.norm[i][c]])
    values = [v for v in column_values(table, rows, (c, kind)) if v is not None]
    return ("cells", [format_number(v) for v in values] if kind == "num" else values)


def superlative(table: Table, fn: str, args: list[Value]) -> Value:
    (_, rows), (_, column) = args
    vals = column_values(table, rows, column)
    present = [v for v in vals if v is not None]
    if len(rows) < 2 or not present:
        raise Invalid("superlative over fewer than two rows")
    best = max(present) if fn == "argmax" else min(present)
    return subset(rows, [i for i, v in zip(rows, vals) if v == best])


def compare(table: Table, fn: str, args: list[Value]) -> Value:
    (_, rows), (_, target), (_, column) = args
    test = COMPARISONS[fn[len("filter"):]]
    vals = column_values(table, rows, column)
    return subset(rows, [i for i, v in zip(rows, vals) if v is not None and test(v, target)])


def filter_in(table: Table, fn: str, args: list[Value]) -> Value:
    (_, rows), (_, needle), (_, column) = args
    vals = column_values(table, rows, column)
    hit = [i for i, v in zip(rows, vals) if v is not None and contains(v, normalize_text(needle))]
    return subset(rows, hit if fn == "filter_in" else [i for i in rows if i not in hit])


def first_last(table: Table, fn: str, args: list[Value]) -> Value:
    (_, rows), = args
    if len(rows) < 2:
        raise Invalid("first/last over one row")
    return ("rows", [min(rows) if fn == "first" else max(rows)])


def neighbour(table: Table, fn: str, args: list[Value]) -> Value:
    i = one_row(args[0]) + (-1 if fn == "previous" else 1)
    if not 0 <= i < table.n:
        raise Invalid("no such row")
    return ("rows", [i])


def count(table: Table, fn: str, args: list[Value]) -> Value:
    return ("number", float(len(args[0][1])))


def aggregate(table: Table, fn: str, args: list[Value]) -> Value:
    (_, rows), (_, column) = args
    vals = [v for v in column_values(table, rows, column) if v is not None]
    if len(vals) < 2:
        raise Invalid("aggregate over fewer than two values")
    return ("number", AGGREGATES[fn](vals))


def mode(table: Table, fn: str, args: list[Value]) -> Value:
    (_, rows), (_, column) = args
    vals = column_values(table, rows, column)
    ranked = Counter(v for v in vals if v is not None).most_common()
    if not ranked or ranked[0][1] < 2 or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        raise Invalid("no unique mode")
    best = ranked[0][0]
    c, kind = column
    display = table.rows[rows[vals.index(best)]][c] if kind == "str" else (
        format_number(best) if kind == "num" else best)
    return ("cells", [display])


def same_as(table: Table, fn: str, args: list[Value]) -> Value:
    i = one_row(args[0])
    vals = column_values(table, list(range(table.n)), args[1][1])
    same = [j for j in range(table.n) if j != i and vals[i] is not None and vals[j] == vals[i]]
    if not same:
        raise Invalid("same_as found nothing")
    return ("rows", same)


def diff(table: Table, fn: str, args: list[Value]) -> Value:
    a, b = one_row(args[0]), one_row(args[1])
    vals = column_values(table, list(range(table.n)), args[2][1])
    if a == b or vals[a] is None or vals[b] is None:
        raise Invalid("diff needs two different rows with values")
    return ("number", abs(vals[a] - vals[b]))  # absolute, as grammars/wtq.toml says


FUNCTIONS: dict[str, Callable[[Table, str, list[Value]], Value]] = {
    "hop": hop, "argmax": superlative, "argmin": superlative,
    **{f"filter{op}": compare for op in COMPARISONS},
    "filter_in": filter_in, "filter!in": filter_in, "first": first_last, "last": first_last,
    "previous": neighbour, "next": neighbour, "count": count,
    **{name: aggregate for name in AGGREGATES},
    "mode": mode, "same_as": same_as, "diff": diff,
}


def execute(table: Table, program: str) -> tuple[Value, list[Value]]:
    """Run a program; returns the answer value and every expression's value."""
    env: list[Value] = []
    for fn, *raw in parse_program(program):
        args = [argument(table, env, token) for token in raw]
        if fn not in FUNCTIONS:
            raise Invalid(f"unknown function {fn}")
        env.append(FUNCTIONS[fn](table, fn, args))
    answer = env[-1]
    if answer[0] == "rows":
        raise Invalid("a program cannot end on rows")
    return answer, env


def answer_strings(value: Value) -> list[str]:
    kind, v = value
    if kind == "number":
        return [format_number(v)]
    return list(v)
