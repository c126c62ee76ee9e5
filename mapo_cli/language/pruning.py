"""Which calls code assistance offers: the contract of the pruning rules, and what they share.

Each built-in's rule sits in its declaration (semantics.py, `prune=`), beside
what the built-in computes but apart from it: the semantics are total, and a
rule only says whether search *offers* a call. Every rule only removes
redundancy: a call it rejects computes a value that a shorter program, or one
with fewer rows to look at, computes too, or a value that answers nothing.
Search (exploration, the actors, beam search) never offers a rejected call;
`mapo exec` still executes it and prints the rule, so a user learns why the
parser would never write it.

One exception keeps answers reachable: a comparison that keeps *no* rows is
offered when its number or date comes from the question, because `count` of
it answers 0 ("how many players scored more than 50 points?").
"""

from __future__ import annotations

from typing import Any

from mapo_cli.language.context import ProgramContext
from mapo_cli.language.registry import Rule, always_offered

__all__ = ["Rule", "always_offered", "filter_rule", "over_several", "several"]


def several(mask: int) -> bool:
    """Whether a row set holds two rows or more."""
    return mask & (mask - 1) != 0


def over_several(name: str) -> str | None:
    return f"{name} over fewer than two rows is redundant"


def filter_rule(ctx: ProgramContext, op: str | None, args: tuple, result: Any,
                literal: bool) -> str | None:
    """A filter must choose among several rows and drop some of them."""
    if not several(args[0]):
        return over_several("a filter")
    if result == args[0]:
        return "the filter keeps every row"
    return None
