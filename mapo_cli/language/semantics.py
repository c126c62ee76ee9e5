"""What each built-in function computes, and when its result is worth having.

Every function takes the context, the grammar's `op` and its argument values
and returns `(type, value)`, or None when the result is not sensible on this
table (an empty or unchanged row set, a superlative over one row, ...). Code
assistance offers exactly the arguments for which this is not None, so a
program built from offered tokens never fails.

Values: rows are int bitmasks, cells a tuple of answer strings, numbers
floats, dates (year, month, day) tuples; columns arrive as view indices.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from mapo_cli.language.context import ProgramContext, bits

Result = tuple[str, Any] | None


def _several(mask: int) -> bool:
    return mask & (mask - 1) != 0


def _proper_subset(rows: int, result: int) -> Result:
    """Filters must keep some rows and drop some: otherwise the program is redundant."""
    if result == 0 or result == rows:
        return None
    return ("rows", result)


def hop(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Result:
    display = ctx.views[view].display
    cells = tuple(display[i] for i in bits(rows & ctx.views[view].present))
    return ("cells", cells) if cells else None


def argbest(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Result:
    if not _several(rows):
        return None
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
    return _proper_subset(rows, result)


def compare(ctx: ProgramContext, op: str | None, rows: int, target: Any, view: int) -> Result:
    if not _several(rows):
        return None
    return _proper_subset(rows, rows & ctx.compare_mask(view, op, target))


def contains(ctx: ProgramContext, op: str | None, rows: int, needle: str, view: int) -> Result:
    if not _several(rows):
        return None
    mask = ctx.contains_mask(view, needle)
    return _proper_subset(rows, rows & mask if op == "in" else rows & ~mask)


def end_row(ctx: ProgramContext, op: str | None, rows: int) -> Result:
    if not _several(rows):
        return None
    if op == "first":
        return ("rows", rows & -rows)
    return ("rows", 1 << (rows.bit_length() - 1))


def adjacent_row(ctx: ProgramContext, op: str | None, row: int) -> Result:
    index = row.bit_length() - 1
    index += -1 if op == "previous" else 1
    if index < 0 or index >= ctx.n_rows:
        return None
    return ("rows", 1 << index)


def count(ctx: ProgramContext, op: str | None, rows: int) -> Result:
    return ("number", float(rows.bit_count()))


def aggregate(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Result:
    v = ctx.views[view]
    values = [v.values[i] for i in bits(rows & v.present)]
    if len(values) < 2:
        return None
    if op == "max":
        return ("number", max(values))
    if op == "min":
        return ("number", min(values))
    total = sum(values)
    return ("number", total / len(values) if op == "average" else total)


def mode(ctx: ProgramContext, op: str | None, rows: int, view: int) -> Result:
    v = ctx.views[view]
    present = bits(rows & v.present)
    if len(present) < 2:
        return None
    counts = Counter(v.values[i] for i in present)
    top = max(counts.values())
    if top < 2:
        return None
    for i in present:  # ties go to the value that comes first in the table
        if counts[v.values[i]] == top:
            return ("cells", (v.display[i],))
    return None  # pragma: no cover


def same_as(ctx: ProgramContext, op: str | None, row: int, view: int) -> Result:
    v = ctx.views[view]
    index = row.bit_length() - 1
    value = v.values[index]
    if value is None:
        return None
    result = 0
    for i in bits(v.present & ~row):
        if v.values[i] == value:
            result |= 1 << i
    return ("rows", result) if result else None


def diff(ctx: ProgramContext, op: str | None, row0: int, row1: int, view: int) -> Result:
    if row0 == row1:
        return None
    values = ctx.views[view].values
    a = values[row0.bit_length() - 1]
    b = values[row1.bit_length() - 1]
    if a is None or b is None:
        return None
    return ("number", a - b)


SEMANTICS: dict[str, Callable[..., Result]] = {
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
