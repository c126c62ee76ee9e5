"""What each built-in function computes: total on every well-typed input.

Every function takes the context, the grammar's `op` and its argument values
and returns `(type, value)`, also on empty row sets and single rows, so any
well-typed program executes (`mapo exec`). Which calls are worth *offering*
during search is a separate question, answered in `pruning.py`.

Values: rows are int bitmasks, cells a tuple of answer strings, numbers
floats (None: a number with no value, as the maximum of no rows; it answers
nothing), dates (year, month, day) tuples; columns arrive as view indices.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from mapo_cli.language.context import ProgramContext, bits

Value = tuple[str, Any]

SEMANTICS_VERSION = 2
"""Bumped whenever what a program computes or what search offers changes (store fingerprint).

1: calls that were not worth offering had no value. 2: total semantics, pruning
apart, counts of empty comparisons, partial dates as intervals, absolute diff.
"""


def hop(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Value:
    """The cells of `rows` in the column, in row order; blank cells are skipped."""
    display = ctx.views[view].display
    return ("cells", tuple(display[i] for i in bits(rows & ctx.views[view].present)))


def argbest(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Value:
    """All rows with the largest (op "max") or smallest value: ties are all kept."""
    v = ctx.views[view]
    order = v.order if op == "min" else v.order[::-1]
    best = None
    result = 0
    for i in order:
        if rows >> i & 1:
            if best is None:
                best = v.values[i]
            elif v.values[i] != best:
                break
            result |= 1 << i
    return ("rows", result)


def compare(ctx: ProgramContext, op: str | None, rows: int, target: Any, view: int) -> Value:
    """Rows whose value stands in relation `op` to the target (dates: see context.py)."""
    if target is None:
        return ("rows", 0)
    return ("rows", rows & ctx.compare_mask(view, op, target))


def contains(ctx: ProgramContext, op: str | None, rows: int, needle: str, view: int) -> Value:
    mask = ctx.contains_mask(view, needle)
    return ("rows", rows & mask if op == "in" else rows & ~mask)


def end_row(ctx: ProgramContext, op: str | None, rows: int) -> Value:
    """The first or last row of the set in table order; no rows give no row."""
    if not rows:
        return ("rows", 0)
    if op == "first":
        return ("rows", rows & -rows)
    return ("rows", 1 << (rows.bit_length() - 1))


def adjacent_row(ctx: ProgramContext, op: str | None, row: int) -> Value:
    """The row above or below; off the table, no row."""
    index = row.bit_length() - 1 + (-1 if op == "previous" else 1)
    if index < 0 or index >= ctx.n_rows:
        return ("rows", 0)
    return ("rows", 1 << index)


def count(ctx: ProgramContext, op: str | None, rows: int) -> Value:
    return ("number", float(rows.bit_count()))


def aggregate(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Value:
    """max, min, average or sum of the column's values; the sum of nothing is 0."""
    v = ctx.views[view]
    values = [v.values[i] for i in bits(rows & v.present)]
    if op == "sum":
        return ("number", float(sum(values)))
    if not values:
        return ("number", None)
    if op == "max":
        return ("number", max(values))
    if op == "min":
        return ("number", min(values))
    return ("number", sum(values) / len(values))


def mode(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Value:
    """The most frequent value; ties go to the one that comes first in the table."""
    v = ctx.views[view]
    present = bits(rows & v.present)
    if not present:
        return ("cells", ())
    counts = Counter(v.values[i] for i in present)
    top = max(counts.values())
    first = next(i for i in present if counts[v.values[i]] == top)
    return ("cells", (v.display[first],))


def same_as(ctx: ProgramContext, op: str | None, row: int, view: int) -> Value:
    """The other rows whose value in the column equals this row's."""
    v = ctx.views[view]
    value = v.values[row.bit_length() - 1]
    if value is None:
        return ("rows", 0)
    result = 0
    for i in bits(v.present & ~row):
        if v.values[i] == value:
            result |= 1 << i
    return ("rows", result)


def diff(ctx: ProgramContext, op: str | None, row0: int, row1: int, view: int) -> Value:
    """The first row's value minus the second's; op "absolute" (the default) drops the sign."""
    values = ctx.views[view].values
    a = values[row0.bit_length() - 1]
    b = values[row1.bit_length() - 1]
    if a is None or b is None:
        return ("number", None)
    return ("number", a - b if op == "signed" else abs(a - b))


SEMANTICS: dict[str, Callable[..., Value]] = {
    "hop": hop,
    "argbest": argbest,
    "compare": compare,
    "contains": contains,
    "end_row": end_row,
    "adjacent_row": adjacent_row,
    "count": count,
    "aggregate": aggregate,
    "mode": mode,
    "same_as": same_as,
    "diff": diff,
}
