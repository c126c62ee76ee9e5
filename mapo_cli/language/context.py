"""Everything one example's programs need, precomputed once per example.

Row sets are Python int bitmasks (bit i = row i), so filters are `&` on
masks; typed column views hold parsed values and sorted orders; the masks a
filter needs for a given literal are computed once and cached.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mapo_cli.core.dates import Date, format_date, parse_date
from mapo_cli.core.lru import by_identity
from mapo_cli.core.text import contains, normalize_text, quote_string

if TYPE_CHECKING:  # grammar.py loads the built-ins, which compute on a ProgramContext
    from mapo_cli.language.grammar import Grammar

def format_number(value: float) -> str:
    """Numbers as answers: integers without a decimal point, others shortest-exact."""
    if math.isfinite(value) and abs(value - round(value)) < 1e-9 and abs(value) < 1e15:
        return str(round(value))
    return repr(float(f"{value:.12g}"))


def bits(mask: int) -> list[int]:
    """Row indices of a row-set mask, ascending (numpy's bit unpacking for large tables)."""
    if mask.bit_length() > 256:
        raw = np.frombuffer(mask.to_bytes((mask.bit_length() + 7) // 8, "little"), np.uint8)
        return np.flatnonzero(np.unpackbits(raw, bitorder="little")).tolist()
    rows = []
    while mask:
        low = mask & -mask
        rows.append(low.bit_length() - 1)
        mask ^= low
    return rows


def mask_of(rows: Iterable[int]) -> int:
    """The row-set mask of row indices (numpy's bit packing for many rows: setting bits one
    by one in a large int costs the int's length each time)."""
    rows = list(rows)
    if len(rows) < 64:
        mask = 0
        for i in rows:
            mask |= 1 << i
        return mask
    flags = np.zeros(max(rows) + 1, dtype=bool)
    flags[rows] = True
    return int.from_bytes(np.packbits(flags, bitorder="little").tobytes(), "little")


@dataclass
class View:
    """One typed view of a column: `r.<name>-<kind>`."""

    name: str
    kind: str  # "str", "num" or "date"
    values: list[Any]  # per row: str (normalised), float, Date, or None
    display: list[str | None]  # per row: the answer string
    present: int = 0  # mask of rows with a value
    order: list[int] = field(default_factory=list)  # rows with a value, ascending by value

    @property
    def token(self) -> str:
        return f"r.{self.name}-{self.kind}"

    @property
    def column_type(self) -> str:
        return f"{self.kind}_column"

    @functools.cached_property
    def numbers(self) -> np.ndarray:
        """The values as floats, NaN where a row has no number: a long column is compared
        in numpy, once converted for every comparison with it."""
        return np.array([math.nan if v is None or isinstance(v, tuple) else v
                         for v in self.values], dtype=float)


@by_identity(4)
def build_views(table: dict) -> list[View]:
    """The str, num and date views of every column, in column order (read-only: each
    question about the table shares them)."""
    views = []
    for c, (name, column) in enumerate(zip(table["columns"], table_columns(table), strict=True)):
        raw = list(map(str.strip, column))
        views.append(View(name, "str", _each_distinct(lambda x: normalize_text(x) or None, raw),
                          [x or None for x in raw]))
        numbers = table["numbers"][c]
        if numbers is not None:
            values = [None if v is None else float(v) for v in numbers]
            views.append(View(name, "num", values, _each_distinct(format_number, values)))
        dates = table["dates"][c]
        if dates is not None:
            values = _each_distinct(parse_date, dates)
            views.append(View(name, "date", values, _each_distinct(format_date, values)))
    for view in views:
        present = [i for i, v in enumerate(view.values) if v is not None]
        view.present = mask_of(present)
        if view.kind != "str":
            view.order = _ascending(present, view.values)
    return views


def table_columns(table: dict) -> list[list[str]]:
    """The table's cells column by column, as they are ("" where a row is short): a table
    is transposed at once when its rows are whole."""
    rows, width = table["rows"], len(table["columns"])
    if all(len(row) == width for row in rows):
        return [list(column) for column in zip(*rows)] or [[] for _ in range(width)]
    return [[row[c] if c < len(row) else "" for row in rows] for c in range(width)]


def _ascending(rows: list[int], values: list[Any]) -> list[int]:
    """`rows` by value, then by row: a stable sort of numbers in numpy, else each distinct
    value sorted once (long columns repeat theirs), equal values in row order."""
    if len(rows) > 64 and isinstance(values[rows[0]], float):
        numbers = np.array([values[i] for i in rows])
        if not np.isnan(numbers).any():
            return np.asarray(rows)[np.argsort(numbers, kind="stable")].tolist()
    groups: dict[Any, list[int]] = {}
    for i in rows:
        groups.setdefault(values[i], []).append(i)
    return [i for value in sorted(groups) for i in groups[value]]


def _each_distinct(function: Any, values: list[Any]) -> list[Any]:
    """`function` of every value but None, computed once per distinct value (long columns
    repeat theirs)."""
    done = {value: function(value) for value in set(values) if value is not None}
    return [None if value is None else done[value] for value in values]


def literal_value(entity: dict) -> tuple[str, Any, str]:
    """(type, value, token) of a question entity; the token is how programs write it."""
    kind, value = entity["type"], entity["value"]
    if kind == "string":
        norm = normalize_text(str(value))
        return "string", norm, quote_string(norm)
    if kind == "number":
        number = float(value)
        return "number", number, format_number(number)
    if kind == "date":
        date = parse_date(str(value))
        if date is None:
            raise ValueError(f"bad date entity {value!r}")
        return "date", date, format_date(date)
    raise ValueError(f"unknown entity type {kind!r}")


class ProgramContext:
    """One example's table, literals and token vocabulary.

    Token ids: the grammar's built-ins first, then `all_rows`, the column
    views in column order, the question's entities in question order, and
    `v0 ... v<max-1>`. This order is fixed by the data, so stored programs and
    checkpoints stay valid across runs.
    """

    def __init__(self, example: dict, table: dict, grammar: Grammar,
                 max_expressions: int | None = None, extra_literals: list[dict] = ()) -> None:
        self.example = example
        self.grammar = grammar
        self.max_expressions = max_expressions or grammar.max_expressions
        self.n_rows = len(table["rows"])
        self.all_rows = (1 << self.n_rows) - 1
        self.views = build_views(table)
        literals = []
        seen = set()
        for entity in list(example.get("entities", [])) + list(extra_literals):
            kind, value, token = literal_value(entity)
            if (kind, value) not in seen and (kind != "string" or value):
                seen.add((kind, value))
                literals.append((kind, value, token))
        self.literals = literals
        builtins = grammar.builtin_tokens
        self.n_builtins = len(builtins)
        # Fixed variables: (type, value) per token after the built-ins.
        self.fixed: list[tuple[str, Any]] = [("rows", self.all_rows)]
        self.fixed += [(v.column_type, i) for i, v in enumerate(self.views)]
        self.fixed += [(kind, value) for kind, value, _ in literals]
        self.first_var = self.n_builtins + len(self.fixed)
        self.vocab: list[str] = list(builtins) + ["all_rows"] + [v.token for v in self.views]
        self.vocab += [token for _, _, token in literals]
        self.vocab += [f"v{i}" for i in range(self.max_expressions)]
        self.token_id = {token: i for i, token in enumerate(self.vocab)}
        self._contains: dict[tuple[int, str], int] = {}
        self._compare: dict[tuple[int, str, Any], int] = {}

    def contains_mask(self, view_index: int, needle: str) -> int:
        """Rows whose cell in this str view contains the normalised string."""
        key = (view_index, needle)
        mask = self._contains.get(key)
        if mask is None:
            values = self.views[view_index].values
            mask = mask_of(i for i, cell in enumerate(values)
                           if cell is not None and contains(cell, needle))
            self._contains[key] = mask
        return mask

    def compare_mask(self, view_index: int, op: str, target: Any) -> int:
        """Rows whose value in this num/date view stands in relation `op` to target."""
        key = (view_index, op, target)
        mask = self._compare.get(key)
        if mask is None:
            mask = _compare_mask(self.views[view_index], op, target)
            self._compare[key] = mask
        return mask


def _interval(date: Date) -> tuple[Date, Date] | None:
    """The first and last day a date with unknown parts may be; None without a year."""
    year, month, day = date
    if year < 0:
        return None
    return ((year, month if month >= 0 else 1, day if day >= 0 else 1),
            (year, month if month >= 0 else 12, day if day >= 0 else 31))


def _compatible(a: Date, b: Date) -> bool:
    return all(x == y or x < 0 or y < 0 for x, y in zip(a, b, strict=True))


def date_holds(op: str, value: Date, target: Date) -> bool:
    """`value op target` for dates with unknown parts: each is the interval it denotes.

    `=` holds when the two are compatible (every part both know agrees), as
    the official evaluator and SEMPRE's date values match; `<` when the whole
    of `value` is before the whole of `target`; `<=` when either holds.
    """
    if op in ("=", "!="):
        return _compatible(value, target) == (op == "=")
    a, b = _interval(value), _interval(target)
    if a is None or b is None:
        return False
    if op in ("<", "<="):
        return a[1] < b[0] or (op == "<=" and _compatible(value, target))
    return a[0] > b[1] or (op == ">=" and _compatible(value, target))


_OPERATORS = {">": "gt", ">=": "ge", "<": "lt", "<=": "le", "=": "eq", "!=": "ne"}
"""A comparison's function in `operator`, by name: plain data, so that the semantics
version (version.py) sees it."""


def _holds(op: str, a: Any, b: Any) -> Any:
    """`a op b`, for two numbers or for a numpy array of them and a number."""
    return getattr(operator, _OPERATORS[op])(a, b)


def _compare_mask(view: View, op: str, target: Any) -> int:
    dates = isinstance(target, tuple)
    if not dates and len(view.values) > 256:  # a long column of numbers: compared in numpy
        flags = _holds(op, view.numbers, target) & ~np.isnan(view.numbers)
        return int.from_bytes(np.packbits(flags, bitorder="little").tobytes(), "little")
    return mask_of(i for i, value in enumerate(view.values)
                   if value is not None and isinstance(value, tuple) == dates
                   and (date_holds(op, value, target) if dates else _holds(op, value, target)))
