"""The "computer": executes programs token by token and offers the valid next tokens.

A program is a sequence of token ids in a ProgramContext's vocabulary.
`step` extends a state by one token without re-executing the prefix;
`valid_tokens` (assistance.py) returns the exact set of tokens after which
the program can still be completed, so a program built only from offered
tokens always executes and, where the grammar asks for it, uses every result.
Results are cached per example: exploration and decoding revisit the same
prefixes and the same calls.
"""

from __future__ import annotations

from collections.abc import Iterable

from mapo_cli.core.dates import format_date
from mapo_cli.core.errors import InvalidProgram
from mapo_cli.language.assistance import (
    CLOSE_ID,
    END_ID,
    FIRST_FUNCTION_ID,
    Assistant,
    Value,
)
from mapo_cli.language.context import ProgramContext, format_number
from mapo_cli.language.explain import explain
from mapo_cli.language.grammar import Function

__all__ = ["CLOSE_ID", "END_ID", "FIRST_FUNCTION_ID", "Interpreter", "State", "answer_strings"]


class State:
    """An immutable program prefix: its tokens, bound variables and open expression."""

    __slots__ = ("done", "env", "partial", "result", "tokens", "unread")

    def __init__(self, tokens: tuple[int, ...], env: tuple[Value, ...],
                 partial: tuple[int, ...] | None, result: Value | None, done: bool,
                 unread: int = 0) -> None:
        self.tokens = tokens
        self.env = env  # values of v0, v1, ...
        self.partial = partial  # (function index, argument tokens...) of the open expression
        self.result = result  # value of the open expression once all arguments are given
        self.done = done
        self.unread = unread  # bit i: v<i> is not read by any expression yet


class Interpreter:
    """Code assistance and execution for one example (one ProgramContext)."""

    def __init__(self, ctx: ProgramContext, allowed_functions: Iterable[int] | None = None,
                 cache_limit: int = 500_000) -> None:
        self.ctx = ctx
        self.grammar = ctx.grammar
        self.functions: tuple[Function, ...] = ctx.grammar.functions
        n = len(self.functions)
        self.allowed = sorted(range(n) if allowed_functions is None else set(allowed_functions))
        self.max_expressions = ctx.max_expressions
        self.answer_types = ctx.grammar.answer_types
        self.assistant = Assistant(ctx, self.allowed, cache_limit)

    def start(self) -> State:
        return State((), (), None, None, False)

    def valid_tokens(self, state: State) -> tuple[int, ...]:
        """Sorted ids of the tokens that keep the program completable."""
        if state.done:
            return ()
        return self.assistant.valid_tokens(state.env, state.partial, state.unread)

    def step(self, state: State, token: int) -> State:
        """Extend a prefix by one token (its type is not re-checked; see `checked_step`)."""
        tokens = state.tokens + (token,)
        partial = state.partial
        if partial is None:
            if token == END_ID:
                return State(tokens, state.env, None, None, True, state.unread)
            return State(tokens, state.env, (token - FIRST_FUNCTION_ID,), None, False,
                         state.unread)
        if token == CLOSE_ID:
            unread = state.unread | 1 << len(state.env)
            return State(tokens, state.env + (state.result,), None, None, False, unread)
        unread = state.unread
        first = self.ctx.first_var
        if token >= first:
            unread &= ~(1 << (token - first))
        partial = partial + (token,)
        result = None
        index = partial[0]
        function = self.functions[index]
        if len(partial) - 1 == function.arity:
            values = tuple(self.token_value(state.env, t)[1] for t in partial[1:])
            result = self.assistant.semantics[index](self.ctx, function.op, *values)
        return State(tokens, state.env, partial, result, False, unread)

    def explain(self, state: State, token: int) -> str:
        """Why code assistance does not offer `token` after `state`."""
        return explain(self, state, token)

    def checked_step(self, state: State, token: int) -> State:
        """Like `step`, but a token code assistance does not offer raises InvalidProgram."""
        if token not in self.valid_tokens(state):
            raise InvalidProgram(self.explain(state, token))
        return self.step(state, token)

    def run(self, tokens: Iterable[int]) -> State:
        """Execute a whole token sequence, checking every token against code assistance."""
        state = self.start()
        for token in tokens:
            state = self.checked_step(state, token)
        return state

    def answer(self, state: State) -> list[str]:
        """The answer strings of a finished program (the value of its last expression)."""
        if not state.env:
            return []
        return answer_strings(state.env[-1])

    def token_value(self, env: tuple[Value, ...], token: int) -> Value:
        return self.assistant.token_value(env, token)

    def pruning_rule(self, state: State) -> str | None:
        """The pruning rule the just-completed call of `state` breaks, if any."""
        partial = state.partial
        values = tuple(self.token_value(state.env, t)[1] for t in partial[1:])
        literal = self.assistant.literal_from_question(state.env, partial[1:])
        return self.assistant.evaluate(partial[0], values, literal)[1]


def answer_strings(value: Value) -> list[str]:
    """The answer strings of a program value, as the scorer and prediction files see them."""
    value_type, payload = value
    if value_type == "cells":
        return list(payload)
    if value_type == "number":
        return [] if payload is None else [format_number(payload)]
    if value_type == "date":
        return [format_date(payload)]
    return []
