"""Program languages as data: load a grammar file and derive the token vocabulary.

A grammar file (`grammars/<name>.toml`) selects built-ins from the registry
(semantics.py) and configures each: its surface name, `op`, overloads (the
declared ones when it gives none; it may narrow them) and trigger words. The
interpreter and its code assistance are derived from the grammar and the
declarations.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mapo_cli.core.errors import MapoError
from mapo_cli.core.ranges import RANGES
from mapo_cli.language.registry import COLUMN_TYPES, VALUE_TYPES, Builtin
from mapo_cli.language.semantics import BUILTINS

CLOSE = ")"
END = "<END>"


@dataclass(frozen=True)
class Function:
    """One function of a grammar: the built-in it selects (`semantics`), configured."""

    name: str
    semantics: str
    op: str | None
    signatures: tuple[tuple[str, ...], ...]
    returns: str
    triggers: tuple[str, ...]

    @property
    def arity(self) -> int:
        return len(self.signatures[0])

    @property
    def token(self) -> str:
        return "(" + self.name


@dataclass(frozen=True)
class Grammar:
    """A loaded grammar: functions in file order, which fixes the token order."""

    name: str
    max_expressions: int
    answer_types: frozenset[str]
    functions: tuple[Function, ...]
    content_hash: str
    source: str
    live_programs: bool = False  # every result but the last must be read (liveness.py)

    @property
    def builtin_tokens(self) -> tuple[str, ...]:
        """`)`, `<END>`, then one `(<function>` token per function, in file order."""
        return (CLOSE, END) + tuple(f.token for f in self.functions)


def grammars_dir() -> Path:
    """The bundled grammar files (`grammars/` in the source tree, packaged with mapo)."""
    packaged = Path(__file__).resolve().parents[1] / "grammars"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "grammars"


def bundled_grammars() -> list[str]:
    return sorted(p.stem for p in grammars_dir().glob("*.toml"))


def resolve_grammar(name_or_path: str) -> Path:
    """A bundled grammar name (`wtq`) or a path to a user's grammar file."""
    bundled = grammars_dir() / f"{name_or_path}.toml"
    if "/" not in name_or_path and not name_or_path.endswith(".toml") and bundled.is_file():
        return bundled
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.is_file():
        return path
    raise MapoError(
        f"unknown grammar {name_or_path!r}: use one of {', '.join(bundled_grammars())} "
        "or the path of a grammar .toml file"
    )


MAX_EXPRESSIONS = int(RANGES["max_expressions"].high)  # what decoding loops are sized for


@lru_cache(maxsize=16)
def load_grammar(name_or_path: str) -> Grammar:
    """Load and check a grammar; every problem is a MapoError naming the file."""
    path = resolve_grammar(name_or_path)
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise MapoError(f"{path}: not a valid grammar file ({error})") from None
    try:
        functions = tuple(_parse_function(f) for f in data["functions"])
        grammar = Grammar(
            name=str(data["name"]),
            max_expressions=int(data.get("max_expressions", 3)),
            answer_types=frozenset(data.get("answer_types", ["cells", "number", "date"])),
            functions=functions,
            content_hash=hashlib.sha256(raw).hexdigest()[:16],
            source=name_or_path,
            live_programs=bool(data.get("live_programs", False)),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise MapoError(f"{path}: not a valid grammar file ({error})") from None
    names = [f.name for f in functions]
    if len(set(names)) != len(names):
        raise MapoError(f"{path}: a function is declared twice")
    expressions, live = data.get("max_expressions", 3), data.get("live_programs", False)
    if not (isinstance(expressions, int) and not isinstance(expressions, bool)
            and 1 <= expressions <= MAX_EXPRESSIONS):
        raise MapoError(f"{path}: max_expressions must be an integer from 1 to "
                        f"{MAX_EXPRESSIONS}, got {expressions!r}")
    if not isinstance(live, bool):
        raise MapoError(f"{path}: live_programs must be true or false, got {live!r}")
    return grammar


def _parse_function(entry: dict) -> Function:
    name = entry["name"]
    semantics = entry["semantics"]
    if semantics not in BUILTINS:
        raise ValueError(f"function {name}: unknown semantics {semantics!r}; the built-ins are "
                         f"{', '.join(BUILTINS.names())}")
    builtin = BUILTINS[semantics]
    signatures = tuple(tuple(sig) for sig in entry.get("signatures", builtin.signatures))
    if not signatures or len({len(sig) for sig in signatures}) != 1:
        raise ValueError(f"function {name}: signatures must exist and share one arity")
    for sig in signatures:
        for arg_type in sig:
            if arg_type not in VALUE_TYPES | COLUMN_TYPES:
                raise ValueError(f"function {name}: unknown argument type {arg_type!r}")
        if not builtin.takes(sig):
            raise ValueError(f"function {name}: {semantics} does not take ({', '.join(sig)}); "
                             f"it takes {_overloads(builtin)}")
    returns = entry.get("returns", builtin.returns)
    if returns not in VALUE_TYPES:
        raise ValueError(f"function {name}: unknown return type {returns!r}")
    if returns != builtin.returns:
        raise ValueError(f"function {name}: {semantics} returns {builtin.returns}, not {returns}")
    return Function(
        name=name,
        semantics=semantics,
        op=_op(name, entry.get("op", builtin.default_op), builtin),
        signatures=signatures,
        returns=returns,
        triggers=tuple(entry.get("triggers", ())),
    )


def _op(name: str, op: str | None, builtin: Builtin) -> str | None:
    """The function's `op` (given, else the declared default): one its built-in takes."""
    if not builtin.ops and op is not None:
        raise ValueError(f"function {name}: {builtin.name} takes no op, got {op!r}")
    if builtin.ops and op not in builtin.ops:
        given = "it has none" if op is None else f"got {op!r}"
        raise ValueError(f"function {name}: {builtin.name} needs an op, one of "
                         f"{', '.join(builtin.ops)}; {given}")
    return op


def _overloads(builtin: Builtin) -> str:
    return " or ".join(f"({', '.join(sig)})" for sig in builtin.signatures)


def triggered_functions(grammar: Grammar, tokens: list[str]) -> frozenset[int]:
    """Indices of the functions whose trigger words occur in the question.

    A function without triggers is always allowed; `*est` matches a suffix and
    `max*` a prefix.
    """
    words = set(tokens)
    allowed = set()
    for index, function in enumerate(grammar.functions):
        if not function.triggers or any(_matches(t, words) for t in function.triggers):
            allowed.add(index)
    return frozenset(allowed)


def _matches(trigger: str, words: set[str]) -> bool:
    if trigger.startswith("*"):
        suffix = trigger[1:]
        return any(w.endswith(suffix) and len(w) > len(suffix) + 1 for w in words)
    if trigger.endswith("*"):
        prefix = trigger[:-1]
        return any(w.startswith(prefix) for w in words)
    return trigger in words
