"""What of the question a program's answer depends on: steps 1-4 of the rule in `spurious`.

A program that ignores "peru" cannot be about peru; counting the entities and
columns used by the expressions the answer depends on (not dead code) is what
lets us rank behaviour classes without annotations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mapo_cli.core.text import normalize_text
from mapo_cli.language.context import ProgramContext, literal_value, table_columns
from mapo_cli.language.grammar import Grammar
from mapo_cli.language.interpreter import CLOSE_ID, END_ID
from mapo_cli.learn.features import column_words

Program = tuple[int, ...]
Json = dict[str, Any]


@dataclass(frozen=True)
class Grounding:
    """What of the question a program's answer depends on, and how much of it there is (rule
    steps 1-4)."""

    entities: int
    mentioned_columns: int
    unmentioned_columns: int
    expressions: int = 0  # that the answer depends on

    def key(self) -> tuple[int, int, int, int]:
        """Better grounded first: more entities, then fewer expressions, then more mentioned
        columns, then fewer unmentioned ones (the rule in `spurious`)."""
        return (self.entities, -self.expressions, self.mentioned_columns,
                -self.unmentioned_columns)


def live_expressions(tokens: Program, first_var: int) -> list[list[int]]:
    """The argument tokens of the expressions that the last one depends on (a backward slice)."""
    expressions: list[list[int]] = []
    inside = False
    for token in tokens:
        if not inside:
            if token == END_ID:
                break
            expressions.append([])  # `token` is the function of a new expression
            inside = True
        elif token == CLOSE_ID:
            inside = False
        else:
            expressions[-1].append(token)
    live: set[int] = set()
    stack = [len(expressions) - 1] if expressions else []
    while stack:
        index = stack.pop()
        if index not in live:
            live.add(index)
            stack += [t - first_var for t in expressions[index] if t >= first_var]
    return [expressions[i] for i in sorted(live)]


def mentioned_columns(example: Json, table: Json) -> set[str]:
    """Columns the question mentions: by a word of their name, or by a string entity that is a
    whole cell of theirs ("canada" mentions the nation column; "river" does not mention a
    column of municipalities because one is called "Big River")."""
    words = {w for token in example.get("tokens", []) for w in normalize_text(token).split()}
    named = {name for name in table["columns"] if any(w in words for w in column_words(name))}
    strings = {normalize_text(str(e["value"])) for e in example.get("entities", [])
               if e.get("type") == "string"}
    return named | {name for name, cells in zip(table["columns"], table_columns(table))
                    if strings and any(normalize_text(cell) in strings for cell in cells)}


def literal_mentions(example: Json, ctx: ProgramContext) -> list[Any]:
    """Per literal of the context, the question mention it comes from (the run of tokens its
    span overlaps with others in, else itself).

    A year is often both a number and a date entity of one span, and "#5" both the string
    "# 5" and the number 5 inside it: one mention each.
    """
    span_of: dict[tuple[str, Any], Any] = {}
    for entity in example.get("entities", []):
        try:
            kind, value, _ = literal_value(entity)
        except (ValueError, KeyError):
            continue
        span = entity.get("span")
        span_of.setdefault((kind, value), tuple(span) if span else None)
    merged = _merged_spans([span for span in span_of.values() if span is not None])
    return [merged.get(span_of.get((kind, value))) or (kind, value)
            for kind, value, _ in ctx.literals]


def _merged_spans(spans: list[tuple[int, int]]) -> dict[tuple[int, int], tuple[int, int]]:
    """Each span's run of overlapping spans, as the run's (start, end)."""
    runs: list[list[tuple[int, int]]] = []
    for span in sorted(set(spans)):
        if runs and span[0] < max(end for _, end in runs[-1]):
            runs[-1].append(span)
        else:
            runs.append([span])
    return {span: (run[0][0], max(end for _, end in run)) for run in runs for span in run}


def grounding(tokens: Program, ctx: ProgramContext, mentioned_names: set[str],
              mentions: list[Any]) -> Grounding:
    """Entities and columns used by the expressions that the program's answer depends on."""
    first_column = ctx.n_builtins + 1  # after the built-ins and all_rows
    first_literal = first_column + len(ctx.views)
    entities, mentioned, unmentioned = set(), set(), set()
    live = live_expressions(tokens, ctx.first_var)
    for arguments in live:
        for token in arguments:
            if first_column <= token < first_literal:
                name = ctx.views[token - first_column].name
                (mentioned if name in mentioned_names else unmentioned).add(name)
            elif first_literal <= token < ctx.first_var:
                entities.add(mentions[token - first_literal])
    return Grounding(len(entities), len(mentioned), len(unmentioned), len(live))


def groundings(example: Json, table: Json, ctx: ProgramContext,
               programs: Sequence[Program]) -> list[Grounding]:
    """Each program's `Grounding` in the example (whose context `ctx` is, on `table`)."""
    named, mentions = mentioned_columns(example, table), literal_mentions(example, ctx)
    return [grounding(p, ctx, named, mentions) for p in programs]


Choice = Callable[[Json, Json, list[Program]], list[Program]]
"""What a run keeps of an example's buffer, in which order: (example, table, programs)."""


def chosen_memory(memory: Mapping[str, list[Program]], examples: Sequence[Json],
                  tables: Mapping[str, Json], choose: Choice,
                  progress: Callable[[int, int], None] | None = None
                  ) -> dict[str, list[Program]]:
    """Every example's buffer as `choose` makes it (a buffer of one program stays as it is),
    calling `progress(done, total)` per example."""
    kept: dict[str, list[Program]] = {}
    for done, example in enumerate(examples, start=1):
        programs = list(memory.get(example["id"], []))
        if len(programs) > 1:
            programs = choose(example, tables[example["table"]], programs)
        kept[example["id"]] = programs
        if progress is not None:
            progress(done, len(examples))
    return kept


def grounded_memory(memory: Mapping[str, list[Program]], examples: Sequence[Json],
                    tables: Mapping[str, Json], grammar: Grammar,
                    max_expressions: int | None = None,
                    progress: Callable[[int, int], None] | None = None
                    ) -> dict[str, list[Program]]:
    """Each example's memory, best grounded programs first (`Grounding.key`; ties keep the
    store's order), so that `mapo train --memory-order grounded --memory-limit K` scores
    the K programs that use most of the question. `progress(done, total)` per example."""

    def best_first(example: Json, table: Json, programs: list[Program]) -> list[Program]:
        ctx = ProgramContext(example, table, grammar, max_expressions)
        keys = [g.key() for g in groundings(example, table, ctx, programs)]
        return [programs[k] for k in sorted(range(len(programs)), key=keys.__getitem__,
                                            reverse=True)]

    return chosen_memory(memory, examples, tables, best_first, progress)
