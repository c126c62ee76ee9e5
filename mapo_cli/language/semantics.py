"""The built-in functions, each declared once: types, what it computes, its pruning rule, help.

`@BUILTINS.declare` (registry.py) registers a function as the built-in of its
name; grammar files select built-ins by that name and give them surface names,
an `op` and trigger words. What a built-in computes is total: it takes the
context, the grammar's `op` and its argument values and returns `(type,
value)`, also on empty row sets and single rows, so any well-typed program
executes (`mapo exec`). Whether a call is worth *offering* during search is
its pruning rule, declared with it but kept apart (pruning.py says what every
rule may do). Each rule sits just above the function it prunes.

Values: rows are int bitmasks, cells a tuple of answer strings, numbers
floats (None: a number with no value, as the maximum of no rows; it answers
nothing), dates (year, month, day) tuples; columns arrive as view indices.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mapo_cli.language.context import ProgramContext, bits, mask_of
from mapo_cli.language.pruning import filter_rule, over_several, several
from mapo_cli.language.registry import Registry, Value

BUILTINS = Registry()
"""Every built-in a grammar may select, by name (`semantics = "hop"` in a grammar file)."""


def _hop_rule(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
              literal: bool) -> str | None:
    return None if result else "hop gives no cells (every cell of those rows is blank)"


@BUILTINS.declare(signatures=[("rows", "column")], returns="cells", prune=_hop_rule,
                  help="the cells of the rows in the column, in row order, blank cells skipped")
def hop(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Value:
    display = ctx.views[view].display
    return ("cells", tuple(map(display.__getitem__, bits(rows & ctx.views[view].present))))


def _argbest_rule(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
                  literal: bool) -> str | None:
    if not several(args[0]):
        return over_several("a superlative")
    if result == args[0]:
        return "the superlative keeps every row (all tied, or no values)"
    return None


@BUILTINS.declare(signatures=[("rows", "num_column"), ("rows", "date_column")], returns="rows",
                  ops=("max", "min"), prune=_argbest_rule,
                  help="the rows with the largest (op max) or smallest (op min) value in the "
                       "column, all ties kept")
def argbest(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Value:
    v = ctx.views[view]
    order = v.order if op == "min" else reversed(v.order)
    best = None
    every = rows & v.present == v.present  # all rows with a value: no membership test
    # ... else a set of the rows for a large table (testing one bit of a large int is O(rows))
    member = set(bits(rows)) if not every and rows.bit_length() > 256 else None
    chosen = []
    for i in order:
        if every or ((i in member) if member is not None else rows >> i & 1):
            if best is None:
                best = v.values[i]
            elif v.values[i] != best:
                break
            chosen.append(i)
    return ("rows", mask_of(chosen))


def _compare_rule(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
                  literal: bool) -> str | None:
    if result == 0 and not literal:
        return "the comparison keeps no rows and its value does not come from the question"
    return filter_rule(ctx, op, args, result, literal)


@BUILTINS.declare(signatures=[("rows", "number", "num_column"), ("rows", "date", "date_column")],
                  returns="rows", ops=(">", ">=", "<", "<=", "=", "!="), prune=_compare_rule,
                  help="the rows whose value in the column stands in relation op to the number "
                       "or date (dates with unknown parts are intervals)")
def compare(ctx: ProgramContext, op: str | None, rows: int, target: Any, view: int) -> Value:
    if target is None:
        return ("rows", 0)
    return ("rows", rows & ctx.compare_mask(view, op, target))


def _contains_rule(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
                   literal: bool) -> str | None:
    if result == 0:  # linked strings occur in the table: elsewhere there is nothing to count
        return "the string filter keeps no rows"
    return filter_rule(ctx, op, args, result, literal)


@BUILTINS.declare(signatures=[("rows", "string", "str_column")], returns="rows",
                  ops=("in", "not_in"), prune=_contains_rule,
                  help="the rows whose cell in the column contains the string (op in), or does "
                       "not (op not_in)")
def contains(ctx: ProgramContext, op: str | None, rows: int, needle: str, view: int) -> Value:
    mask = ctx.contains_mask(view, needle)
    return ("rows", rows & mask if op == "in" else rows & ~mask)


def _end_row_rule(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
                  literal: bool) -> str | None:
    return None if several(args[0]) else over_several(f"{op}")


@BUILTINS.declare(signatures=[("rows",)], returns="row", ops=("first", "last"),
                  prune=_end_row_rule,
                  help="the first (op first) or last (op last) of the rows in table order")
def end_row(ctx: ProgramContext, op: str | None, rows: int) -> Value:
    if not rows:
        return ("rows", 0)
    if op == "first":
        return ("rows", rows & -rows)
    return ("rows", 1 << (rows.bit_length() - 1))


def _adjacent_row_rule(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
                       literal: bool) -> str | None:
    return None if result else f"there is no {op} row"


@BUILTINS.declare(signatures=[("row",)], returns="row", ops=("previous", "next"),
                  prune=_adjacent_row_rule,
                  help="the row above (op previous) or below (op next) the row, if there is one")
def adjacent_row(ctx: ProgramContext, op: str | None, row: int) -> Value:
    index = row.bit_length() - 1 + (-1 if op == "previous" else 1)
    if index < 0 or index >= ctx.n_rows:
        return ("rows", 0)
    return ("rows", 1 << index)


@BUILTINS.declare(signatures=[("rows",)], returns="number", help="the number of rows")
def count(ctx: ProgramContext, op: str | None, rows: int) -> Value:
    return ("number", float(rows.bit_count()))


def _aggregate_rule(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
                    literal: bool) -> str | None:
    rows, view = args
    if len(bits(rows & ctx.views[view].present)) < 2:
        return f"{op} of fewer than two values is redundant"
    return None


@BUILTINS.declare(signatures=[("rows", "num_column")], returns="number",
                  ops=("max", "min", "average", "sum"), prune=_aggregate_rule,
                  help="the max, min, average or sum (op) of the column's values in the rows "
                       "(the sum of none is 0)")
def aggregate(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Value:
    v = ctx.views[view]
    values = list(map(v.values.__getitem__, bits(rows & v.present)))
    if op == "sum":
        return ("number", float(sum(values)))
    if not values:
        return ("number", None)
    if op == "max":
        return ("number", max(values))
    if op == "min":
        return ("number", min(values))
    return ("number", sum(values) / len(values))


def _mode_rule(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
               literal: bool) -> str | None:
    rows, view = args
    v = ctx.views[view]
    counts = Counter(map(v.values.__getitem__, bits(rows & v.present)))
    if not counts or max(counts.values()) < 2:
        return "mode needs a value that occurs more than once"
    return None


@BUILTINS.declare(signatures=[("rows", "column")], returns="cells", prune=_mode_rule,
                  help="the most frequent value of the column in the rows (of ties, the one "
                       "first in the table)")
def mode(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Value:
    v = ctx.views[view]
    present = bits(rows & v.present)
    if not present:
        return ("cells", ())
    counts = Counter(map(v.values.__getitem__, present))
    top = max(counts.values())
    first = next(i for i in present if counts[v.values[i]] == top)
    return ("cells", (v.display[first],))


def _same_as_rule(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
                  literal: bool) -> str | None:
    return None if result else "no other row shares the value"


@BUILTINS.declare(signatures=[("row", "column")], returns="rows", prune=_same_as_rule,
                  help="the other rows whose value in the column equals the row's")
def same_as(ctx: ProgramContext, op: str | None, row: int, view: int) -> Value:
    v = ctx.views[view]
    value = v.values[row.bit_length() - 1]
    if value is None:
        return ("rows", 0)
    return ("rows", mask_of(i for i in bits(v.present & ~row) if v.values[i] == value))


def _diff_rule(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
               literal: bool) -> str | None:
    row0, row1, _view = args
    if row0 == row1:
        return "diff of a row with itself is 0"
    if result is None:
        return "one of the rows has no value in the column"
    if op != "signed" and row0 > row1:
        return "an absolute diff names the upper row first (the other order is the same)"
    return None


@BUILTINS.declare(signatures=[("row", "row", "num_column")], returns="number",
                  ops=("absolute", "signed"), default_op="absolute", prune=_diff_rule,
                  help="the first row's value in the column minus the second's, without its sign "
                       "(op absolute, as the original MAPO executor) or with it (op signed)")
def diff(ctx: ProgramContext, op: str | None, row0: int, row1: int, view: int) -> Value:
    values = ctx.views[view].values
    a = values[row0.bit_length() - 1]
    b = values[row1.bit_length() - 1]
    if a is None or b is None:
        return ("number", None)
    return ("number", a - b if op == "signed" else abs(a - b))
