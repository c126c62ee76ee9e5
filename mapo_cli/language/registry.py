"""The registry of built-in functions: each one declared once, as a decorated typed function.

A declaration (`@BUILTINS.declare(...)` in semantics.py, after allennlp-semparse's
`@predicate`) gives a built-in's argument and result types (one tuple per
overload), the `op` values it takes, the function that computes it, its
pruning rule and a one-line help. Grammar files select and configure
built-ins by their name (`semantics = "aggregate"`); the grammar's checks,
the interpreter's dispatch, pruning, `mapo exec`'s messages and the semantics
version of a store (version.py) are derived from the declarations, so adding a
built-in is one declaration plus its tests.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

VALUE_TYPES = frozenset({"rows", "row", "cells", "number", "date", "string"})
COLUMN_TYPES = frozenset({"column", "str_column", "num_column", "date_column"})

Value = tuple[str, Any]
Compute = Callable[..., Value]
"""(ctx, op, *argument values) -> (type, value); total on every well-typed input."""
Rule = Callable[..., str | None]
"""(ctx, op, args, result, literal_from_question) -> the rule the call breaks, or None."""


def always_offered(ctx: Any, op: str | None, args: tuple, result: Any,
                   literal: bool) -> str | None:
    """The pruning rule of a built-in whose every call is worth offering."""
    return None


def narrows(given: str, declared: str) -> bool:
    """Whether an argument type a grammar gives fits the declared one (`row` in `rows`,
    `str_column` in `column`): a grammar may offer less than a built-in takes."""
    return given == declared or (declared == "rows" and given == "row") or (
        declared == "column" and given in COLUMN_TYPES)


@dataclass(frozen=True)
class Builtin:
    """One declared built-in: what grammars may select by `name`."""

    name: str
    compute: Compute
    signatures: tuple[tuple[str, ...], ...]  # argument types, one tuple per overload
    returns: str
    prune: Rule
    help: str
    ops: tuple[str, ...] = ()  # the `op` values it takes (none: it takes no op)
    default_op: str | None = None  # the op of a grammar function that gives none

    @property
    def arity(self) -> int:
        return len(self.signatures[0])

    def takes(self, signature: Sequence[str]) -> bool:
        """Whether a grammar's overload is one of the declared ones, or narrower."""
        return any(len(signature) == len(declared)
                   and all(narrows(g, d) for g, d in zip(signature, declared, strict=True))
                   for declared in self.signatures)


class Registry:
    """The declared built-ins by name, in declaration order."""

    def __init__(self) -> None:
        self._builtins: dict[str, Builtin] = {}

    def declare(self, *, signatures: Sequence[Sequence[str]], returns: str, help: str,
                prune: Rule = always_offered, ops: Sequence[str] = (),
                default_op: str | None = None) -> Callable[[Compute], Compute]:
        """Register the decorated function as the built-in of its name; it stays callable.

        A declaration that contradicts itself (an unknown type, overloads of
        different arities, a function taking another number of arguments) is
        a TypeError when the module is imported: a bug, not a user's error.
        """
        def register(compute: Compute) -> Compute:
            builtin = Builtin(compute.__name__, compute, tuple(tuple(s) for s in signatures),
                              returns, prune, help, tuple(ops), default_op)
            problem = _declaration_problem(builtin, self._builtins)
            if problem:
                raise TypeError(f"built-in {builtin.name}: {problem}")
            self._builtins[builtin.name] = builtin
            return compute

        return register

    def __getitem__(self, name: str) -> Builtin:
        return self._builtins[name]

    def __contains__(self, name: object) -> bool:
        return name in self._builtins

    def __iter__(self) -> Iterator[Builtin]:
        return iter(tuple(self._builtins.values()))

    def __len__(self) -> int:
        return len(self._builtins)

    def names(self) -> list[str]:
        return list(self._builtins)


def _declaration_problem(builtin: Builtin, declared: dict[str, Builtin]) -> str | None:
    if builtin.name in declared:
        return "declared twice"
    if not builtin.signatures or len({len(s) for s in builtin.signatures}) != 1:
        return "signatures must exist and share one arity"
    unknown = {t for s in builtin.signatures for t in s} - VALUE_TYPES - COLUMN_TYPES
    if unknown or builtin.returns not in VALUE_TYPES:
        return f"unknown type {min(unknown or {builtin.returns})!r}"
    parameters = len(inspect.signature(builtin.compute).parameters)
    if parameters != builtin.arity + 2:
        return (f"takes {parameters - 2} argument(s) after (ctx, op) but its signatures "
                f"have {builtin.arity}")
    if builtin.default_op is not None and builtin.default_op not in builtin.ops:
        return f"default op {builtin.default_op!r} is not one of its ops"
    if not builtin.help or "\n" in builtin.help:
        return "needs a one-line help"
    return None
