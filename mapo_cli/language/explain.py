"""Words a user can act on: why a token is ill-typed, or why search would not write it.

Two questions, kept apart as semantics and pruning are: `type_error` says
why a token makes the program ill-typed (at the argument, with the type
expected and the type given); `explain` also says why code assistance does
not offer a well-typed token (a pruning rule, an unused result, a trigger).
`execute_checked` runs any well-typed program, as `mapo exec` does, and
notes every place where the parser would not have written it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mapo_cli.core.errors import InvalidProgram
from mapo_cli.language.assistance import CLOSE_ID, END_ID, FIRST_FUNCTION_ID, accepts
from mapo_cli.language.liveness import unused_variables, without_dead_code
from mapo_cli.language.program import format_program
from mapo_cli.language.semantics import BUILTINS

if TYPE_CHECKING:
    from mapo_cli.language.grammar import Function
    from mapo_cli.language.interpreter import Interpreter, State


def usage(function: Function) -> str:
    """How a grammar function is called and what it gives, from its built-in's declaration:
    `(count rows) gives number: the number of rows`."""
    calls = " or ".join(f"({function.name} {' '.join(sig)})" for sig in function.signatures)
    op = "" if function.op is None else f" (op {function.op})"
    return f"{calls} gives {function.returns}{op}: {BUILTINS[function.semantics].help}"


def _a(type_name: str) -> str:
    """A type as the messages say it: "a number", "rows", "a row (a single row)"."""
    if type_name in ("rows", "cells"):
        return type_name
    if type_name == "row":
        return "a row (a single row)"
    return ("an " if type_name[0] in "aeiou" else "a ") + type_name


def _shown(value_type: str, value: Any) -> str:
    """A value's type as the messages say it; a rows value tells whether it is one row."""
    if value_type == "rows" and value & (value - 1) == 0:
        return "no rows" if value == 0 else "rows (a single row)"
    return value_type


def type_error(interp: Interpreter, state: State, token: int) -> str | None:
    """Why `token` after `state` makes the program ill-typed; None if it is well-typed."""
    ctx = interp.ctx
    name = ctx.vocab[token] if 0 <= token < len(ctx.vocab) else str(token)
    if state.done:
        return f"{name!r} comes after the end of the program"
    if state.partial is None:
        return _boundary_type_error(interp, state, token, name)
    function = interp.functions[state.partial[0]]
    args = state.partial[1:]
    if len(args) == function.arity:
        if token == CLOSE_ID:
            return None
        return (f"({function.name} ...) takes {function.arity} argument(s); expected ')' not "
                f"{name!r}. Usage: {usage(function)}")
    if token < ctx.n_builtins:
        return (f"expected argument {len(args) + 1} of {function.name}, got {name!r}. "
                f"Usage: {usage(function)}")
    if token >= ctx.first_var + len(state.env):
        return f"{name} is not defined yet (only {len(state.env)} expression(s) before it)"
    values = [interp.token_value(state.env, t) for t in args]
    value_type, value = interp.token_value(state.env, token)
    signatures = [sig for sig in function.signatures
                  if all(accepts(sig[k], *values[k]) for k in range(len(args)))]
    expected = sorted({sig[len(args)] for sig in signatures})
    if any(accepts(t, value_type, value) for t in expected):
        return None
    return (f"argument {len(args) + 1} of {function.name} must be "
            f"{' or '.join(_a(t) for t in expected)}, got {_shown(value_type, value)} "
            f"({name})")


def _boundary_type_error(interp: Interpreter, state: State, token: int, name: str) -> str | None:
    env = state.env
    if token == END_ID:
        if not env:
            return "a program needs at least one expression before it ends"
        if env[-1][0] not in interp.answer_types:
            return (f"the program cannot end on a {env[-1][0]} value: add an expression "
                    "that produces an answer, e.g. (hop ...) or (count ...)")
        return None
    if token == CLOSE_ID or token >= interp.ctx.n_builtins:
        return f"expected a function such as (hop or the end of the program, got {name!r}"
    if len(env) >= interp.max_expressions:
        return f"the program already has the maximum of {interp.max_expressions} expressions"
    return None


def explain(interp: Interpreter, state: State, token: int) -> str:
    """Why code assistance does not offer `token` after `state`."""
    error = type_error(interp, state, token)
    if error is not None:
        return error
    if state.partial is None:
        if token == END_ID:
            unused = unused_variables(state.unread, len(state.env))
            return f"the program cannot end while {', '.join(unused)} is never used"
        function = interp.functions[token - FIRST_FUNCTION_ID]
        if token - FIRST_FUNCTION_ID not in interp.allowed:
            return f"({function.name} is turned off for this question (no trigger word)"
        left = interp.max_expressions - len(state.env)
        if function.returns not in interp.assistant.finishable[left]:
            return (f"({function.name} ...) returns {function.returns}, but only {left} "
                    "expression(s) are left to turn it into an answer")
        index = token - FIRST_FUNCTION_ID
        unused = unused_variables(state.unread, len(state.env) + 1)
        if unused and interp.assistant.function_finishes(state.env, 0, left, index):
            return (f"({function.name} ...) cannot lead to a complete program that uses "
                    f"{', '.join(unused)}")
        return (f"({function.name} ...) has no valid arguments here that lead to a complete "
                "program")
    rules = _completion_rules(interp, interp.step(state, token))
    function = interp.functions[state.partial[0]]
    name = interp.ctx.vocab[token]
    if rules and None not in rules:
        return f"({function.name} ... {name}) is pruned from search: {min(rules)}"
    return (f"({function.name} ... {name}) cannot lead to a complete program on this table "
            "(none of its results can be used by what is left)")


def _completion_rules(interp: Interpreter, state: State) -> set[str | None]:
    """The pruning verdicts of every way to complete the open call (None: offered)."""
    function = interp.functions[state.partial[0]]
    if len(state.partial) - 1 == function.arity:
        return {interp.pruning_rule(state)}
    position = len(state.partial) - 1
    rules: set[str | None] = set()
    for arg_type in {sig[position] for sig in function.signatures}:
        for token, _value in interp.assistant.candidates(state.env, arg_type):
            if type_error(interp, state, token) is None:
                rules |= _completion_rules(interp, interp.step(state, token))
    return rules


def execute_checked(interp: Interpreter, tokens: Iterable[int]) -> tuple[State, list[str]]:
    """Run a well-typed program; InvalidProgram names the first ill-typed token.

    Notes say where code assistance would not have offered the program: a
    call a pruning rule rejects, a trigger word missing, a result never used.
    """
    state = interp.start()
    notes: list[str] = []
    for token in tokens:
        error = type_error(interp, state, token)
        if error is not None:
            raise InvalidProgram(error)
        if state.partial is None and token >= FIRST_FUNCTION_ID \
                and token - FIRST_FUNCTION_ID not in interp.allowed:
            notes.append(f"({interp.functions[token - FIRST_FUNCTION_ID].name} is turned off "
                         "for this question (no trigger word)")
        state = interp.step(state, token)
        partial = state.partial
        if partial is not None and len(partial) - 1 == interp.functions[partial[0]].arity:
            rule = interp.pruning_rule(state)
            if rule is not None:
                notes.append(f"v{len(state.env)}: {rule}; search never offers this call")
    if not state.done:
        raise InvalidProgram("the program is incomplete: it must end after an expression "
                             "that produces an answer")
    if interp.grammar.live_programs:
        unused = unused_variables(state.unread, len(state.env))
        if unused:
            live = without_dead_code(state.tokens, interp.ctx.first_var)
            notes.append(f"{', '.join(unused)} is never used; the parser would write "
                         f"the live program {format_program(live, interp.ctx.vocab)}")
    return state, notes

