"""Run one program in the notation on one example: what `mapo exec` and tests use."""

from __future__ import annotations

from dataclasses import dataclass, field

from mapo_cli.data.scoring import TargetScorer
from mapo_cli.language.assistance import CLOSE_ID, END_ID
from mapo_cli.language.context import ProgramContext, bits, literal_value
from mapo_cli.language.explain import execute_checked
from mapo_cli.language.grammar import load_grammar
from mapo_cli.language.interpreter import Interpreter, answer_strings
from mapo_cli.language.program import format_program, split_program, to_ids, unlinked_literals


@dataclass
class ExecResult:
    answer: list[str]
    reward: float
    trace: list[tuple[str, str]] = field(default_factory=list)  # (variable, description)
    notes: list[str] = field(default_factory=list)


def execute(example: dict, table: dict, program: str) -> ExecResult:
    """Execute any well-typed program; InvalidProgram names the ill-typed token.

    Notes say where the parser would not have written it (pruning, dead code).
    """
    grammar = load_grammar(example["grammar"])
    tokens = split_program(program)
    base = ProgramContext(example, table, grammar)
    extra = unlinked_literals(tokens, set(base.vocab))
    ctx = ProgramContext(example, table, grammar, extra_literals=extra) if extra else base
    notes = [f"literal {literal_value(e)[2]} was not found in the question by entity linking"
             for e in extra]
    interpreter = Interpreter(ctx)
    state, search_notes = execute_checked(interpreter, to_ids(tokens, ctx))
    notes += search_notes
    answer = interpreter.answer(state)
    trace = trace_of(state.env)
    reward = TargetScorer.for_example(example).reward(answer)
    return ExecResult(answer, reward, trace, notes)


def trace_of(env: tuple) -> list[tuple[str, str]]:
    """What `--trace` shows: each bound variable and its value."""
    return [(f"v{i}", describe(value)) for i, value in enumerate(env)]


def steps_of(program: tuple[int, ...], interpreter: Interpreter, env: tuple,
             columns: list[str]) -> list[dict]:
    """Each expression of a run program, with what it touched in the table: for a page
    that highlights it (`mapo serve`) and `mapo ask --json`.

    `rows`: the rows it returns, or for an expression that returns no rows the rows it
    read; `columns`: the table's columns (by index) it names. The answer's cells are
    the last step's rows in its columns.
    """
    ctx = interpreter.ctx
    column_of = {name: c for c, name in enumerate(columns)}
    steps, expression = [], []
    for token in program:
        if token == END_ID:
            break
        expression.append(token)
        if token != CLOSE_ID:
            continue
        i = len(steps)
        rows, named = [], []
        for argument in expression[1:-1]:
            kind, value = interpreter.token_value(env, argument)
            if kind == "rows":
                rows.append(value)
            elif kind.endswith("_column"):
                named.append(column_of[ctx.views[value].name])
        kind, value = env[i]
        touched = value if kind == "rows" else _union(rows)
        steps.append({"name": f"v{i}", "expression": format_program(expression, ctx.vocab),
                      "type": kind, "value": describe(env[i]), "rows": bits(touched),
                      "columns": sorted(set(named))})
        expression = []
    return steps


def _union(masks: list[int]) -> int:
    union = 0
    for mask in masks:
        union |= mask
    return union


def describe(value: tuple) -> str:
    """A variable's value for `--trace`: rows by index, answers by their strings."""
    value_type, payload = value
    if value_type == "rows":
        rows = bits(payload)
        label = "row" if len(rows) == 1 else "rows"
        return f"{label} {', '.join(str(r) for r in rows)}"
    return f"{value_type} {answer_strings(value)}"
