"""The semantics version of a grammar: derived from its built-ins' code; a new meaning is named.

A store's fingerprint records it (search/explore.py): explored programs,
their rewards and the explored prefixes are only worth reusing under the same
program language. The grammar file has its own content hash; the version
covers the rest: each selected built-in's declaration (types, ops; not its
help) and the code of its function and pruning rule with all the mapo code
they reach by name (helpers, `ProgramContext`: how a table becomes typed
views, masks, the token order), plus `ROOTS`, the type rule and how a value
answers. Code counts as a syntax tree: docstrings, comments and layout do
not, every statement does (a reworded pruning message too). A memoised
function counts as its own code. Code reached only as a module's attribute
(`text.contains`) or through a library is not seen.

A change of meaning gets a name by hand. `NAMED[3]` holds, per built-in,
the digest of the code that 3 means: a grammar whose built-ins all still
reach exactly that code is version 3, so its stores stay readable and new
ones keep recording 3; once the code of one of them changes, the version is
the digest of the new code, and a store of 3 (or of 2, before the cells'
text folding changed) is refused by name (store/environment.py; what a
store of a retired version needs besides, `store/values.RETIRED_SEMANTICS`).
tests/test_language_registry.py fails when a built-in of `NAMED[3]` changes
and says what to do: a refactor that keeps the meaning updates its digest
here; a change of meaning names a new version, or leaves the digest.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
import sys
import textwrap
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from mapo_cli.core.errors import MapoError
from mapo_cli.language.assistance import accepts
from mapo_cli.language.grammar import Grammar
from mapo_cli.language.interpreter import answer_strings
from mapo_cli.language.registry import Builtin
from mapo_cli.language.semantics import BUILTINS

Version = int | str
ROOTS = (accepts, answer_strings)
"""Code every grammar's programs depend on besides their built-ins'."""

NAMED: dict[int, dict[str, str]] = {
    # 3, named by hand: a cell's text and a question's are folded to ASCII with their dashes,
    # quotes and unaccented letters spelled ("3–2" is "3 - 2", no longer "32"), so filter_in
    # and the string comparisons match other cells than 2 did (issue 40, lever 5).
    # 2 was the last version bumped by hand before the version was derived (total semantics,
    # pruning apart); its digests were renewed by every refactor that kept its meaning.
    3: {
        "hop": "353883db0d95cfce",
        "argbest": "4bd873b6f012d3da",
        "compare": "6d5773081d459a56",
        "contains": "0e158570a4699114",
        "end_row": "c894a9c573f518e0",
        "adjacent_row": "aecc37c89f0fc362",
        "count": "96924428003d99eb",
        "aggregate": "e2bef5cde75f70c8",
        "mode": "3c7285be351e2c84",
        "same_as": "7a1ba411455d4656",
        "diff": "ee6698bf340b4840",
    },
}
"""Versions named by hand: per built-in, the digest of the code the version means."""


def semantics_version(grammar: Grammar) -> Version:
    """The name of the code behind the grammar's built-ins: a `NAMED` one, else its digest."""
    digests = {s: builtin_digest(BUILTINS[s]) for s in {f.semantics for f in grammar.functions}}
    for name, meant in NAMED.items():
        if all(meant.get(semantics) == digest for semantics, digest in digests.items()):
            return name
    return _digest(repr(sorted(digests.items())))


def registry_digests() -> dict[str, str]:
    """`builtin_digest` of every declared built-in, by name (what `NAMED[3]` pins)."""
    return {builtin.name: builtin_digest(builtin) for builtin in BUILTINS}


def builtin_digest(builtin: Builtin) -> str:
    """One digest of a built-in's declaration and all the code it reaches."""
    return _digest(repr(sorted(builtin_parts(builtin).items())))


@lru_cache(maxsize=64)
def builtin_parts(builtin: Builtin) -> Mapping[str, str]:
    """The declaration's digest and that of all code its function and rule reach, by name."""
    declared = (builtin.signatures, builtin.returns, builtin.ops, builtin.default_op)
    found = {f"builtin {builtin.name}": _digest(repr(declared))}
    for code in (builtin.compute, builtin.prune, *ROOTS):
        _reach(code, found)
    return MappingProxyType(found)


def _reach(code: Any, found: dict[str, str]) -> None:
    """Add `code` (a function or class) and, by name, the mapo code and constants it uses."""
    key = f"{code.__module__}.{code.__qualname__}"
    if key in found:
        return
    tree = _syntax(code)
    found[key] = _digest(_canonical(tree))  # code_digest, with the tree kept for its names
    namespace = vars(sys.modules[code.__module__])
    for name in sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}):
        value = namespace.get(name)
        if callable(value) and hasattr(value, "__wrapped__"):  # a memoised function's own code
            value = inspect.unwrap(value)
        if (inspect.isfunction(value) or inspect.isclass(value)) \
                and value.__module__.startswith("mapo_cli."):
            _reach(value, found)
        elif (constant := _constant(value)) is not None:
            found[f"{code.__module__}.{name}"] = _digest(constant)


def code_digest(code: Any) -> str:
    """The digest of one function's or class's code, as a syntax tree (see `_syntax`)."""
    return _digest(_canonical(_syntax(code)))


def _syntax(code: Any) -> ast.AST:
    """The code's syntax tree without docstrings and without the decorators of functions
    (a built-in's declaration counts as data, its help not at all)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(code)))
    except (OSError, TypeError) as error:
        raise MapoError(f"cannot read the source of {code.__module__}.{code.__qualname__}, "
                        f"from which the semantics version is derived ({error})") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.decorator_list = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                and node.body and isinstance(node.body[0], ast.Expr) \
                and isinstance(node.body[0].value, ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:]
    return tree


def _canonical(node: Any) -> str:
    """A syntax tree as text, the same on every Python that parses it alike: fields that
    are None or empty are left out (newer Pythons add such fields, as `type_params`)."""
    if isinstance(node, ast.AST):
        fields = [f"{name}={_canonical(value)}" for name in node._fields
                  if (value := getattr(node, name, None)) is not None and value != []]
        return f"{type(node).__name__}({','.join(fields)})"
    if isinstance(node, list):
        return "[" + ",".join(_canonical(item) for item in node) + "]"
    return repr(node)


def _constant(value: Any) -> str | None:
    """A module-level constant's canonical text (sets sorted), or None if not plain data."""
    if isinstance(value, bool | int | float | str | bytes):
        return repr(value)
    if isinstance(value, re.Pattern):
        return repr(("re", value.pattern, value.flags))
    if isinstance(value, tuple | list | set | frozenset | dict):
        items = value.items() if isinstance(value, dict) else value
        texts = [_constant(item) for item in items]
        if any(text is None for text in texts):
            return None
        ordered = sorted(texts) if isinstance(value, set | frozenset | dict) else texts
        return f"{type(value).__name__}[{','.join(ordered)}]"  # type: ignore[arg-type]
    return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
