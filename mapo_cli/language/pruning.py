"""Which calls code assistance offers: search pruning, kept apart from semantics.

Every rule only removes redundancy: a call it rejects computes a value that a
shorter program, or one with fewer rows to look at, computes too, or a value
that answers nothing. Search (exploration, the actors, beam search) never
offers a rejected call; `mapo exec` still executes it (semantics.py is total)
and prints the rule, so a user learns why the parser would never write it.

One exception keeps answers reachable: a comparison that keeps *no* rows is
offered when its number or date comes from the question, because `count` of
it answers 0 ("how many players scored more than 50 points?").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from mapo_cli.language.context import ProgramContext, bits

Rule = Callable[..., str | None]
"""(ctx, op, args, result, literal_from_question) -> the broken rule, or None."""


def _several(mask: int) -> bool:
    return mask & (mask - 1) != 0


def _over_several(name: str) -> str | None:
    return f"{name} over fewer than two rows is redundant"


def _hop(ctx: ProgramContext, op: str | None, args: tuple, result: Any, literal: bool) -> str | None:
    return None if result else "hop gives no cells (every cell of those rows is blank)"


def _argbest(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
             literal: bool) -> str | None:
    if not _several(args[0]):
        return _over_several("a superlative")
    if result == args[0]:
        return "the superlative keeps every row (all tied, or no values)"
    return None


def _filter(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
            literal: bool) -> str | None:
    if not _several(args[0]):
        return _over_several("a filter")
    if result == args[0]:
        return "the filter keeps every row"
    return None


def _compare(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
             literal: bool) -> str | None:
    if result == 0 and not literal:
        return "the comparison keeps no rows and its value does not come from the question"
    return _filter(ctx, op, args, result, literal)


def _contains(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
              literal: bool) -> str | None:
    if result == 0:  # linked strings occur in the table: elsewhere there is nothing to count
        return "the string filter keeps no rows"
    return _filter(ctx, op, args, result, literal)


def _end_row(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
             literal: bool) -> str | None:
    return None if _several(args[0]) else _over_several(f"{op}")


def _adjacent_row(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
                  literal: bool) -> str | None:
    return None if result else f"there is no {op} row"


def _aggregate(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
               literal: bool) -> str | None:
    rows, view = args
    if len(bits(rows & ctx.views[view].present)) < 2:
        return f"{op} of fewer than two values is redundant"
    return None


def _mode(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
          literal: bool) -> str | None:
    rows, view = args
    v = ctx.views[view]
    counts = Counter(v.values[i] for i in bits(rows & v.present))
    if not counts or max(counts.values()) < 2:
        return "mode needs a value that occurs more than once"
    return None


def _same_as(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
             literal: bool) -> str | None:
    return None if result else "no other row shares the value"


def _diff(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
          literal: bool) -> str | None:
    row0, row1, _view = args
    if row0 == row1:
        return "diff of a row with itself is 0"
    if result is None:
        return "one of the rows has no value in the column"
    if op != "signed" and row0 > row1:
        return "an absolute diff names the upper row first (the other order is the same)"
    return None


def _always(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
            literal: bool) -> str | None:
    return None


RULES: dict[str, Rule] = {
    "hop": _hop,
    "argbest": _argbest,
    "compare": _compare,
    "contains": _contains,
    "end_row": _end_row,
    "adjacent_row": _adjacent_row,
    "count": _always,
    "aggregate": _aggregate,
    "mode": _mode,
    "same_as": _same_as,
    "diff": _diff,
}
