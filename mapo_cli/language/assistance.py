"""Code assistance: after a prefix, exactly the tokens from which a program can be completed.

A token is offered when some completion within the grammar's maximum number
of expressions exists in which every call is one pruning.py offers and,
where the grammar asks for live programs, every variable but the last is
read by a later expression. The lookahead is a search over completions,
memoised per example on (bound values, unread variables, expressions left),
cut early by a count (each expression reads at most `reads_per_call`
variables, so too many unread ones cannot all be consumed) and by a test per
value (`all_readable`: a variable that no offered call can read, such as
cells where no function takes cells, ends every continuation).
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import COLUMN_TYPES, Function, Grammar
from mapo_cli.language.semantics import BUILTINS

CLOSE_ID = 0
END_ID = 1
FIRST_FUNCTION_ID = 2

Value = tuple[str, Any]  # (type, value); rows-valued results have type "rows"
LITERAL_TYPES = frozenset({"number", "date", "string"})


def accepts(arg_type: str, value_type: str, value: Any) -> bool:
    """Whether an argument of `arg_type` takes this value (a `row` is one row, never none)."""
    if arg_type == value_type:
        return True
    if arg_type == "row":
        return value_type == "rows" and value != 0 and value & (value - 1) == 0
    if arg_type == "column":
        return value_type.endswith("_column")
    return False


class Assistant:
    """The offered tokens and the offered calls of one example, with their caches."""

    def __init__(self, ctx: ProgramContext, allowed: list[int], cache_limit: int) -> None:
        self.ctx = ctx
        self.functions: tuple[Function, ...] = ctx.grammar.functions
        self.semantics = [BUILTINS[f.semantics].compute for f in self.functions]
        self.rules = [BUILTINS[f.semantics].prune for f in self.functions]
        self.allowed = allowed
        self.live = ctx.grammar.live_programs
        self.max_expressions = ctx.max_expressions
        self.answer_types = ctx.grammar.answer_types
        self.finishable = _finishable_returns(ctx.grammar, self.max_expressions)
        self.reads_per_call = _reads_per_call(ctx.grammar)
        self.fixed_by_type = self._index_fixed()
        self.cache_limit = cache_limit
        self._valid: dict[Any, tuple[int, ...]] = {}
        self._calls: dict[Any, Value | None] = {}
        self._finish: dict[Any, bool] = {}
        self._partial: dict[Any, bool] = {}  # _finishes of open calls, shared by the levels
        self._slots: dict[tuple, bool] = {}
        self._readable: dict[Value, bool] = {}

    # --- what a prefix may be followed by -----------------------------------

    def valid_tokens(self, env: tuple[Value, ...], partial: tuple[int, ...] | None,
                     unread: int) -> tuple[int, ...]:
        key = (env, partial, unread)
        valid = self._valid.get(key)
        if valid is None:
            if len(self._valid) > self.cache_limit:
                self._valid.clear()
                self._finish.clear()
                self._partial.clear()
            valid = self._compute_valid(env, partial, unread if self.live else 0)
            self._valid[key] = valid
        return valid

    def _compute_valid(self, env: tuple[Value, ...], partial: tuple[int, ...] | None,
                       unread: int) -> tuple[int, ...]:
        left = self.max_expressions - len(env)
        if partial is None:
            readable = self.all_readable(env, unread)
            valid = [FIRST_FUNCTION_ID + i for i in self.allowed
                     if readable and self.function_finishes(env, unread, left, i)]
            if self._can_end(env, unread):
                valid.append(END_ID)
            return tuple(sorted(valid))
        index, args = partial[0], partial[1:]
        function = self.functions[index]
        if len(args) == function.arity:
            return (CLOSE_ID,)
        values = tuple(self.token_value(env, t) for t in args)
        first = self.ctx.first_var
        reads = sum(1 << (t - first) for t in args if t >= first)
        literal = self.literal_from_question(env, args)
        valid: set[int] = set()
        for sig in function.signatures:
            if not all(accepts(sig[k], *values[k]) for k in range(len(args))):
                continue
            payloads = tuple(v for _, v in values)
            for token, value in self.candidates(env, sig[len(args)]):
                bit, lit = self._read(token, sig[len(args)])
                if token not in valid and self._finishes(
                        env, unread, left, index, sig, payloads + (value,), reads | bit,
                        literal and lit):
                    valid.add(token)
        return tuple(sorted(valid))

    # --- the lookahead -----------------------------------------------------

    def _can_end(self, env: tuple[Value, ...], unread: int) -> bool:
        return bool(env) and env[-1][0] in self.answer_types \
            and unread & ~(1 << (len(env) - 1)) == 0

    def _can_finish(self, env: tuple[Value, ...], unread: int, left: int) -> bool:
        """Whether a complete program extends this expression boundary."""
        if self._can_end(env, unread):
            return True
        if left == 0 or unread.bit_count() > left * (self.reads_per_call - 1) + 1:
            return False
        if left == 1 and unread and not self._one_call_reads(env, unread):
            return False
        key = (env, unread, left)
        done = self._finish.get(key)
        if done is None:
            done = self.all_readable(env, unread) and any(
                self.function_finishes(env, unread, left, i) for i in self.allowed)
            self._remember(self._finish, key, done)
        return done

    def all_readable(self, env: tuple[Value, ...], unread: int) -> bool:
        """Whether some call search offers can read each unread variable.

        A variable no call can read (cells where no function takes cells, a
        number no comparison splits the table by) ends every continuation;
        without this test the lookahead proves so by trying all of them.
        """
        if not self.live:
            return True
        for i in range(unread.bit_length()):
            if unread >> i & 1:
                value = env[i]
                readable = self._readable.get(value)
                if readable is None:
                    readable = self._is_readable(value)
                    self._remember(self._readable, value, readable)
                if not readable:
                    return False
        return True

    def _is_readable(self, value: Value) -> bool:
        value_type, payload = value
        for index in self.allowed:
            for sig in self.functions[index].signatures:
                for slot, arg_type in enumerate(sig):
                    if accepts(arg_type, value_type, payload) and self._read_by(
                            index, sig, slot, payload):
                        return True
        return False

    def _read_by(self, index: int, sig: tuple[str, ...], slot: int, payload: Any) -> bool:
        """Whether the call reads `payload` at `slot` with some arguments beside it.

        Columns beside it are tried one by one. Rows beside a number, date or
        string are the table's rows: every rule rejecting a filter of all rows
        rejects it on each subset (filters intersect with a mask;
        tests/test_interpreter.py checks this). Anything else beside it is not
        decided here, so the value counts as readable.
        """
        literal = sig[slot] not in LITERAL_TYPES
        choices: list[list[Any]] = []
        for k, arg_type in enumerate(sig):
            if k == slot:
                choices.append([payload])
            elif arg_type in COLUMN_TYPES:
                choices.append([v for _, v in self.fixed_by_type.get(arg_type, ())])
            elif arg_type == "rows" and not literal:
                choices.append([self.ctx.all_rows])
            else:
                return True
        return any(self.call(index, args, literal) is not None
                   for args in itertools.product(*choices))

    def _one_call_reads(self, env: tuple[Value, ...], unread: int) -> bool:
        """Whether some answer-giving signature has a slot for every unread value (types only).

        The last expression must read every unread variable; most boundaries
        where it cannot fail here, before any call is enumerated.
        """
        kinds = tuple(sorted(_kind(*env[i]) for i in range(unread.bit_length())
                             if unread >> i & 1))
        found = self._slots.get(kinds)
        if found is None:
            found = any(_assignable(kinds, sig)
                        for i in self.allowed if self.functions[i].returns in self.answer_types
                        for sig in self.functions[i].signatures)
            self._slots[kinds] = found
        return found

    def function_finishes(self, env: tuple[Value, ...], unread: int, left: int,
                           index: int) -> bool:
        function = self.functions[index]
        return function.returns in self.finishable[left] and any(
            self._finishes(env, unread, left, index, sig, (), 0, True)
            for sig in function.signatures)

    def _finishes(self, env: tuple[Value, ...], unread: int, left: int, index: int,
                  sig: tuple[str, ...], values: tuple, reads: int, literal: bool) -> bool:
        """Whether the call `index(values, ...)` can be completed into a whole program."""
        k = len(values)
        if k == len(sig):
            result = self.call(index, values, literal)
            if result is None:
                return False
            after = (unread & ~reads) | (1 << len(env)) if self.live else 0
            return self._can_finish(env + (result,), after, left - 1)
        if self.live:
            still = (unread & ~reads).bit_count() - _value_slots(sig, k)
            if still > (left - 1) * (self.reads_per_call - 1):
                return False
        key = (env, unread, left, index, sig, values, reads, literal)
        done = self._partial.get(key)
        if done is None:
            done = False
            # the newest variables first: unread ones must be read, and success ends the search
            for token, value in reversed(self.candidates(env, sig[k])):
                bit, lit = self._read(token, sig[k])
                if self._finishes(env, unread, left, index, sig, values + (value,), reads | bit,
                                  literal and lit):
                    done = True
                    break
            self._remember(self._partial, key, done)
        return done

    def lookahead_size(self) -> int:
        """Entries of the lookahead's memos: the work behind the offers, not the offers."""
        return len(self._partial) + len(self._finish) + len(self._calls)

    def forget_lookahead(self, keep: int) -> None:
        """Drop the lookahead's memos once they hold more than `keep` entries.

        The offers already made stay (`valid_tokens` answers them at once); only
        a new prefix pays the lookahead again. An actor keeps hundreds of examples
        prepared, and on WikiSQL's wide tables a trained policy's samples leave
        tens of thousands of entries per example behind (gigabytes per actor).
        """
        if self.lookahead_size() > keep:
            self._partial.clear()
            self._finish.clear()
            self._calls.clear()

    def _remember(self, memo: dict[Any, bool], key: Any, done: bool) -> None:
        """The lookahead's memo tables are bounded on their own: one offer on a wide table
        can add millions of entries before the offer cache fills."""
        if len(memo) >= self.cache_limit:
            memo.clear()
        memo[key] = done

    def _read(self, token: int, arg_type: str) -> tuple[int, bool]:
        """(the variable bit the token reads, whether it keeps the literal from the question)."""
        first = self.ctx.first_var
        if token < first:
            return 0, True
        return 1 << (token - first), arg_type not in LITERAL_TYPES

    # --- calls and values --------------------------------------------------

    def call(self, index: int, values: tuple[Any, ...], literal: bool = True) -> Value | None:
        """The value of a call that search offers, or None where pruning rejects it."""
        key = (index, values, literal)
        try:
            return self._calls[key]
        except KeyError:
            pass
        if len(self._calls) > self.cache_limit:
            self._calls.clear()
        result, rule = self.evaluate(index, values, literal)
        self._calls[key] = None if rule is not None else result
        return self._calls[key]

    def evaluate(self, index: int, values: tuple[Any, ...],
                 literal: bool) -> tuple[Value, str | None]:
        """A call's value (semantics) and the pruning rule it breaks (None: search offers it)."""
        function = self.functions[index]
        result = self.semantics[index](self.ctx, function.op, *values)
        return result, self.rules[index](self.ctx, function.op, values, result[1], literal)

    def literal_from_question(self, env: tuple[Value, ...], args: tuple[int, ...]) -> bool:
        """Whether no number, date or string argument of a call is a computed variable."""
        first = self.ctx.first_var
        return not any(t >= first and self.token_value(env, t)[0] in LITERAL_TYPES for t in args)

    def candidates(self, env: tuple[Value, ...], arg_type: str) -> list[tuple[int, Any]]:
        """(token, value) of every fixed token and variable of the given argument type."""
        found = list(self.fixed_by_type.get(arg_type, ()))
        first = self.ctx.first_var
        for i, (value_type, value) in enumerate(env):
            if accepts(arg_type, value_type, value):
                found.append((first + i, value))
        return found

    def token_value(self, env: tuple[Value, ...], token: int) -> Value:
        ctx = self.ctx
        if token < ctx.first_var:
            return ctx.fixed[token - ctx.n_builtins]
        return env[token - ctx.first_var]

    def _index_fixed(self) -> dict[str, list[tuple[int, Any]]]:
        by_type: dict[str, list[tuple[int, Any]]] = {}
        arg_types = _argument_types(self.ctx.grammar)
        taking: dict[tuple[str, Any], list[str]] = {}  # value kind -> argument types taking it
        for offset, (value_type, value) in enumerate(self.ctx.fixed):
            kind = _kind(value_type, value)
            if kind not in taking:
                taking[kind] = [t for t in arg_types if accepts(t, value_type, value)]
            token = self.ctx.n_builtins + offset
            for arg_type in taking[kind]:
                by_type.setdefault(arg_type, []).append((token, value))
        return by_type


def _kind(value_type: str, value: Any) -> tuple[str, Any]:
    """What `accepts` looks at: the type, and for rows whether it is one row."""
    if value_type == "rows":
        return ("rows", value != 0 and value & (value - 1) == 0)
    return (value_type, None)


def _assignable(kinds: tuple[tuple[str, Any], ...], sig: tuple[str, ...]) -> bool:
    """Whether each value kind can take a distinct argument slot of the signature."""
    def fits(arg_type: str, kind: tuple[str, Any]) -> bool:
        value_type, single = kind
        return accepts(arg_type, value_type, 1 if single else 3)

    return any(all(fits(sig[p], k) for p, k in zip(slots, kinds, strict=True))
               for slots in itertools.permutations(range(len(sig)), len(kinds)))


@functools.lru_cache(maxsize=64)
def _value_slots(sig: tuple[str, ...], start: int) -> int:
    """Arguments from `start` on that a variable can fill (not columns)."""
    return sum(t not in COLUMN_TYPES for t in sig[start:])


@functools.lru_cache(maxsize=16)
def _argument_types(grammar: Grammar) -> frozenset[str]:
    return frozenset(t for f in grammar.functions for sig in f.signatures for t in sig)


@functools.lru_cache(maxsize=16)
def _reads_per_call(grammar: Grammar) -> int:
    """The most variables one call can read."""
    return max((_value_slots(sig, 0) for f in grammar.functions for sig in f.signatures),
               default=0)


@functools.lru_cache(maxsize=16)
def _finishable_returns(grammar: Grammar, max_expressions: int) -> list[frozenset[str]]:
    """Per number of expressions left, the return types a new expression may have.

    With one expression left it must produce an answer; with more, some
    function must take its value on the way to an answer (a cheap type-level
    cut before the lookahead).
    """
    functions, answer_types = grammar.functions, grammar.answer_types
    def feeds(arg_type: str, returned: str) -> bool:
        rowish = {"rows", "row"}
        return arg_type == returned or (arg_type in rowish and returned in rowish)

    levels = [frozenset(), frozenset(answer_types)]
    for _ in range(2, max_expressions + 1):
        usable = set(answer_types)
        for f in functions:
            for g in functions:
                if g.returns in levels[-1] and any(
                        feeds(a, f.returns) for sig in g.signatures for a in sig):
                    usable.add(f.returns)
        levels.append(frozenset(usable))
    return levels
