"""The "computer": executes programs token by token and offers the valid next tokens.

A program is a sequence of token ids in a ProgramContext's vocabulary.
`step` extends a state by one token without re-executing the prefix;
`valid_tokens` returns the exact set of tokens after which the program can
still be completed (syntax, types and table semantics), so a program built
only from offered tokens always executes. Results are cached per example:
exploration and decoding revisit the same prefixes and the same calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mapo_cli.core.errors import InvalidProgram
from mapo_cli.language.context import ProgramContext, format_date, format_number
from mapo_cli.language.grammar import Function
from mapo_cli.language.semantics import SEMANTICS

CLOSE_ID = 0
END_ID = 1
FIRST_FUNCTION_ID = 2

Value = tuple[str, Any]  # (type, value); rows-valued results have type "rows"


class State:
    """An immutable program prefix: its tokens, bound variables and open expression."""

    __slots__ = ("done", "env", "partial", "result", "tokens")

    def __init__(self, tokens: tuple[int, ...], env: tuple[Value, ...],
                 partial: tuple[int, ...] | None, result: Value | None, done: bool) -> None:
        self.tokens = tokens
        self.env = env  # values of v0, v1, ...
        self.partial = partial  # (function index, argument tokens...) of the open expression
        self.result = result  # value of the open expression once all arguments are given
        self.done = done


def _accepts(arg_type: str, value_type: str, value: Any) -> bool:
    if arg_type == value_type:
        return True
    if arg_type == "row":
        return value_type == "rows" and value & (value - 1) == 0
    if arg_type == "column":
        return value_type.endswith("_column")
    return False


class Interpreter:
    """Code assistance and execution for one example (one ProgramContext)."""

    def __init__(self, ctx: ProgramContext, allowed_functions: Iterable[int] | None = None,
                 cache_limit: int = 500_000) -> None:
        self.ctx = ctx
        self.grammar = ctx.grammar
        self.functions: tuple[Function, ...] = ctx.grammar.functions
        self.semantics = [SEMANTICS[f.semantics] for f in self.functions]
        n = len(self.functions)
        self.allowed = sorted(range(n) if allowed_functions is None else set(allowed_functions))
        self.max_expressions = ctx.max_expressions
        self.answer_types = ctx.grammar.answer_types
        self._finishable = self._finishable_returns()
        self._fixed_by_type = self._index_fixed()
        self._valid: dict[Any, tuple[int, ...]] = {}
        self._eval: dict[Any, Value | None] = {}
        self.cache_limit = cache_limit

    # --- public API -------------------------------------------------------

    def start(self) -> State:
        return State((), (), None, None, False)

    def valid_tokens(self, state: State) -> tuple[int, ...]:
        """Sorted ids of the tokens that keep the program completable."""
        if state.done:
            return ()
        key = (state.env, state.partial)
        valid = self._valid.get(key)
        if valid is None:
            if len(self._valid) > self.cache_limit:
                self._valid.clear()
            valid = self._compute_valid(state)
            self._valid[key] = valid
        return valid

    def step(self, state: State, token: int) -> State:
        """Extend a prefix by one token that `valid_tokens` offered (not re-checked)."""
        tokens = state.tokens + (token,)
        partial = state.partial
        if partial is None:
            if token == END_ID:
                return State(tokens, state.env, None, None, True)
            return State(tokens, state.env, (token - FIRST_FUNCTION_ID,), None, False)
        if token == CLOSE_ID:
            return State(tokens, state.env + (state.result,), None, None, False)
        partial = partial + (token,)
        result = None
        function = self.functions[partial[0]]
        if len(partial) - 1 == function.arity:
            result = self._evaluate(state.env, partial[0], partial[1:])
        return State(tokens, state.env, partial, result, False)

    def checked_step(self, state: State, token: int) -> State:
        """Like `step`, but an invalid token raises InvalidProgram with the reason."""
        if token not in self.valid_tokens(state):
            raise InvalidProgram(self.explain(state, token))
        return self.step(state, token)

    def run(self, tokens: Iterable[int]) -> State:
        """Execute a whole token sequence, checking every token."""
        state = self.start()
        for token in tokens:
            state = self.checked_step(state, token)
        return state

    def answer(self, state: State) -> list[str]:
        """The answer strings of a finished program (the value of its last expression)."""
        if not state.env:
            return []
        return answer_strings(state.env[-1])

    # --- code assistance --------------------------------------------------

    def _compute_valid(self, state: State) -> tuple[int, ...]:
        partial = state.partial
        env = state.env
        if partial is None:
            left = self.max_expressions - len(env)
            valid = [FIRST_FUNCTION_ID + i for i in self.allowed
                     if self.functions[i].returns in self._finishable[left]
                     and self._function_completable(env, i)]
            if env and env[-1][0] in self.answer_types:
                valid.append(END_ID)
            return tuple(sorted(valid))
        function = self.functions[partial[0]]
        args = partial[1:]
        if len(args) == function.arity:
            return (CLOSE_ID,)
        values = [self._token_value(env, t) for t in args]
        valid = set()
        for sig in function.signatures:
            if not all(_accepts(sig[k], *values[k]) for k in range(len(args))):
                continue
            for token, value in self._candidates(env, sig[len(args)]):
                if token not in valid and self._completable(
                        env, partial[0], sig, [v for _, v in values] + [value]):
                    valid.add(token)
        return tuple(sorted(valid))

    def _function_completable(self, env: tuple[Value, ...], index: int) -> bool:
        return any(self._completable(env, index, sig, [])
                   for sig in self.functions[index].signatures)

    def _completable(self, env: tuple[Value, ...], index: int, sig: tuple[str, ...],
                     values: list[Any]) -> bool:
        if len(values) == len(sig):
            return self._call(index, tuple(values)) is not None
        return any(self._completable(env, index, sig, values + [value])
                   for _, value in self._candidates(env, sig[len(values)]))

    def _candidates(self, env: tuple[Value, ...], arg_type: str) -> list[tuple[int, Any]]:
        """(token, value) of every variable of the given argument type."""
        found = list(self._fixed_by_type.get(arg_type, ()))
        first = self.ctx.first_var
        for i, (value_type, value) in enumerate(env):
            if _accepts(arg_type, value_type, value):
                found.append((first + i, value))
        return found

    def _evaluate(self, env: tuple[Value, ...], index: int, args: tuple[int, ...]) -> Value | None:
        return self._call(index, tuple(self._token_value(env, t)[1] for t in args))

    def _call(self, index: int, values: tuple[Any, ...]) -> Value | None:
        key = (index, values)
        try:
            return self._eval[key]
        except KeyError:
            pass
        if len(self._eval) > self.cache_limit:
            self._eval.clear()
        result = self.semantics[index](self.ctx, self.functions[index].op, *values)
        self._eval[key] = result
        return result

    def _token_value(self, env: tuple[Value, ...], token: int) -> Value:
        ctx = self.ctx
        if token < ctx.first_var:
            return ctx.fixed[token - ctx.n_builtins]
        return env[token - ctx.first_var]

    def _index_fixed(self) -> dict[str, list[tuple[int, Any]]]:
        by_type: dict[str, list[tuple[int, Any]]] = {}
        arg_types = {t for f in self.functions for sig in f.signatures for t in sig}
        for offset, (value_type, value) in enumerate(self.ctx.fixed):
            token = self.ctx.n_builtins + offset
            for arg_type in arg_types:
                if _accepts(arg_type, value_type, value):
                    by_type.setdefault(arg_type, []).append((token, value))
        return by_type

    def _finishable_returns(self) -> list[frozenset[str]]:
        """Per number of expressions left, the return types a new expression may have.

        With one expression left it must produce an answer; with more, some
        function must take its value on the way to an answer.
        """
        def feeds(arg_type: str, returned: str) -> bool:
            rowish = {"rows", "row"}
            return arg_type == returned or (arg_type in rowish and returned in rowish)

        levels = [frozenset(), frozenset(self.answer_types)]
        for _ in range(2, self.max_expressions + 1):
            usable = set(self.answer_types)
            for f in self.functions:
                for g in self.functions:
                    if g.returns in levels[-1] and any(
                            feeds(a, f.returns) for sig in g.signatures for a in sig):
                        usable.add(f.returns)
            levels.append(frozenset(usable))
        return levels

    # --- explanations -----------------------------------------------------

    def explain(self, state: State, token: int) -> str:
        """Why `token` is not valid after `state`, in words a user can act on."""
        name = self.ctx.vocab[token] if 0 <= token < len(self.ctx.vocab) else str(token)
        if state.done:
            return f"{name!r} comes after the end of the program"
        partial = state.partial
        if partial is None:
            return self._explain_at_boundary(state, token, name)
        function = self.functions[partial[0]]
        args = partial[1:]
        if len(args) == function.arity:
            return f"({function.name} ...) takes {function.arity} argument(s); expected ')' not {name!r}"
        if token < self.ctx.n_builtins:
            return f"expected argument {len(args) + 1} of ({function.name} ...), got {name!r}"
        if token >= self.ctx.first_var + len(state.env):
            return f"{name} is not defined yet (only {len(state.env)} expression(s) before it)"
        value_type, value = self._token_value(state.env, token)
        expected = sorted({sig[len(args)] for sig in function.signatures})
        if not any(_accepts(t, value_type, value) for t in expected):
            shown = "row (a single row)" if value_type == "rows" and "row" in expected else value_type
            return (f"argument {len(args) + 1} of ({function.name} ...) must be "
                    f"{' or '.join(expected)}, but {name} is {shown}")
        return (f"({function.name} ... {name}) gives no useful result on this table "
                "(e.g. an empty or unchanged row set, a missing value, or a single row where "
                "several are needed)")

    def _explain_at_boundary(self, state: State, token: int, name: str) -> str:
        env = state.env
        if token == END_ID:
            if not env:
                return "a program needs at least one expression before it ends"
            return (f"the program cannot end on a {env[-1][0]} value: add an expression "
                    "that produces an answer, e.g. (hop ...) or (count ...)")
        if token == CLOSE_ID or token >= self.ctx.n_builtins:
            return f"expected a function such as (hop or the end of the program, got {name!r}"
        index = token - FIRST_FUNCTION_ID
        function = self.functions[index]
        left = self.max_expressions - len(env)
        if left <= 0:
            return f"the program already has the maximum of {self.max_expressions} expressions"
        if index not in self.allowed:
            return f"({function.name} is turned off for this question (no trigger word)"
        if function.returns not in self._finishable[left]:
            return (f"({function.name} ...) returns {function.returns}, but only {left} "
                    "expression(s) are left to turn it into an answer")
        return f"({function.name} ...) has no valid arguments on this table at this point"


def answer_strings(value: Value) -> list[str]:
    """The answer strings of a program value, as the scorer and prediction files see them."""
    value_type, payload = value
    if value_type == "cells":
        return list(payload)
    if value_type == "number":
        return [format_number(payload)]
    if value_type == "date":
        return [format_date(payload)]
    return []
