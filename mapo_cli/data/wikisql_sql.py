"""WikiSQL's gold `sql` executed as the official engine runs it, for weak supervision.

The official engine (salesforce/WikiSQL `lib/dbengine.py`, tables made by
`lib/table.py`) runs `SELECT agg(col<sel>) FROM t WHERE col<c> op :value AND ...`
on sqlite, where every text cell was lowercased on insert and `real` columns
have REAL affinity. The same query runs here in Python with sqlite's rules:

- text columns: the value (lowercased; a number becomes its text) and the
  lowercased cell compare as strings: `=` is case-insensitive equality,
  `<` / `>` are code-point order.
- real columns: the value is read as a number as dbengine.py reads it
  (grouping commas allowed, else the first number in it). A cell that is a
  number, or a string sqlite stores as one ("12", " 3.5 "), compares as a
  number. Any other cell ("n/a", "1,234") stays TEXT, which sqlite orders
  after every number: it equals no number, is greater than all, less than none.
- COUNT counts matching rows (0 when none); MAX / MIN use sqlite's order
  (numbers before text); SUM / AVG read TEXT as its leading number (0 when
  none); MAX / MIN / SUM / AVG of no rows are an empty answer (sqlite's NULL).

Two deliberate differences: each condition keeps its own value (dbengine.py
binds one `:col<i>` per column, so `col2 > 5 AND col2 < 9` would use 9 twice),
and a selected text cell is returned as the table writes it, not lowercased
(the scorer compares case-insensitively). Numbers are written by
`number_text` (3.0 is "3").
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from mapo_cli.core.errors import MapoError

AGG_OPS = ("", "MAX", "MIN", "COUNT", "SUM", "AVG")
COND_OPS = ("=", ">", "<", "OP")
TYPES = ("text", "real")

SqlValue = float | str
"""A cell or condition value as sqlite holds it: REAL, or (lowercased) TEXT."""
Condition = tuple[int, str, Any]

# sqlite's test for text that a REAL column stores as a number (sqlite3AtoF, whole string)
_SQLITE_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
# the number sqlite reads from the start of any text (SUM, AVG): "12abc" is 12, "n/a" is 0
_LEADING_NUMBER = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
# dbengine.py's fallback for a condition value that babel cannot parse
_FIRST_NUMBER = re.compile(r"[-+]?\d*\.\d+|\d+")


# ----------------------------------------------------------------- values


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_text(value: float) -> str:
    """A number as an answer string: integral values without ".0" (3.0 is "3"), else repr."""
    value = float(value)
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def cell_text(cell: str | float) -> str:
    """A raw WikiSQL cell (a string, or a JSON number in `real` columns) as table text."""
    return cell if isinstance(cell, str) else number_text(cell)


def real_cell_number(cell: str | float) -> float | None:
    """The number a REAL column stores for this cell, or None where sqlite keeps TEXT."""
    if _is_number(cell):
        return float(cell)
    if isinstance(cell, str) and _SQLITE_NUMBER.fullmatch(cell):
        number = float(cell)
        return number if math.isfinite(number) else None
    return None


def condition_number(value: str | float) -> float | None:
    """A condition value on a real column as dbengine.py reads it, or None if it has no number.

    babel's `parse_decimal` (en_US: grouping commas dropped), else the first
    number in the text ("2000–01" is 2000).
    """
    if _is_number(value):
        return float(value)
    text = str(value).lower()
    try:
        number = float(Decimal(text.replace(",", "")))
    except (InvalidOperation, ValueError):  # ValueError: "sNaN"
        number = math.nan
    if math.isfinite(number):
        return number
    found = _FIRST_NUMBER.findall(text)
    return float(found[0]) if found else None


def _sql_value(cell: str | float, real: bool) -> SqlValue:
    number = real_cell_number(cell) if real else None
    return number if number is not None else cell_text(cell).lower()


def _order(value: SqlValue) -> tuple[int, float, str]:
    """sqlite's order of values: every number before every text, text by code point."""
    return (0, value, "") if isinstance(value, float) else (1, 0.0, value)


def _leading_number(value: SqlValue) -> float:
    if isinstance(value, float):
        return value
    match = _LEADING_NUMBER.match(value)
    return float(match[1]) if match else 0.0


# ----------------------------------------------------------------- checks


def check_table(table: Any) -> None:
    """Refuse a table the engine cannot run on: `header`, `types` (text/real), square `rows`."""
    if not isinstance(table, dict):
        raise MapoError("a table must be a JSON object")
    header, types, rows = table.get("header"), table.get("types"), table.get("rows")
    if not isinstance(header, list) or not all(isinstance(h, str) for h in header):
        raise MapoError("table 'header' must be a list of strings")
    if not isinstance(types, list) or len(types) != len(header):
        raise MapoError(f"table 'types' must be a list of {len(header)} types (one per column)")
    if any(t not in TYPES for t in types):
        raise MapoError(f"table 'types' must be 'text' or 'real', found {types}")
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise MapoError("table 'rows' must be a list of rows")
    for index, row in enumerate(rows):
        if len(row) != len(header):
            raise MapoError(f"row {index} has {len(row)} cells, the header has {len(header)}")
        if not all(isinstance(c, str) or _is_number(c) for c in row):
            raise MapoError(f"row {index}: cells must be strings or numbers")


def _checked_index(value: Any, name: str, limit: int, meaning: str) -> int:
    """An integer index below `limit`, or a MapoError naming what it should have been."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < limit:
        raise MapoError(f"sql: {name} is {value!r}, expected {meaning}")
    return value


def check_sql(sql: Any, width: int) -> tuple[int, str, list[Condition]]:
    """The select column, aggregate and conditions of a `sql` dict, checked against a table width."""
    if not isinstance(sql, dict) or any(k not in sql for k in ("sel", "agg", "conds")):
        raise MapoError("sql: expected an object with 'sel', 'agg' and 'conds'")
    columns = f"a column 0 to {width - 1} (the table has {width} columns)"
    sel = _checked_index(sql["sel"], "'sel'", width, columns)
    aggs = ", ".join(f"{i} {a or 'none'}" for i, a in enumerate(AGG_OPS))
    agg = AGG_OPS[_checked_index(sql["agg"], "'agg'", len(AGG_OPS), aggs)]
    if not isinstance(sql["conds"], list):
        raise MapoError("sql: 'conds' must be a list of [column, op, value]")
    conditions: list[Condition] = []
    for number, cond in enumerate(sql["conds"]):
        if not isinstance(cond, list) or len(cond) != 3:
            raise MapoError(f"sql: condition {number} must be [column, op, value], got {cond!r}")
        column = _checked_index(cond[0], f"condition {number}'s column", width, columns)
        ops = "0 =, 1 >, 2 <"  # 3, 'OP', is the official list's placeholder, not an operator
        op = COND_OPS[_checked_index(cond[1], f"condition {number}'s op", 3, ops)]
        if not isinstance(cond[2], str) and not _is_number(cond[2]):
            raise MapoError(f"sql: condition {number}'s value must be a string or a number")
        conditions.append((column, op, cond[2]))
    return sel, agg, conditions


# ----------------------------------------------------------------- execution


def _condition_value(table: dict[str, Any], column: int, value: Any) -> SqlValue:
    """The value as sqlite compares it with the column (dbengine.py's conversion)."""
    if table["types"][column] == "real":
        number = condition_number(value)
        if number is None:
            raise MapoError(f"sql: condition value {value!r} on real column {column} has no number")
        return number
    return cell_text(value).lower()


def _matches(values: list[SqlValue], op: str, value: SqlValue) -> list[bool]:
    key = _order(value)
    if op == "=":
        return [_order(v) == key for v in values]
    if op == ">":
        return [_order(v) > key for v in values]
    return [_order(v) < key for v in values]


def _shown(cell: str | float, value: SqlValue) -> str:
    """A selected cell as the answer: sqlite's number for REAL, else the table's own text."""
    return number_text(value) if isinstance(value, float) else cell_text(cell)


def execute_sql(table: dict[str, Any], sql: Any) -> list[str]:
    """The answer of a WikiSQL `sql` on a checked table (`check_table`), as answer strings.

    Raises MapoError for a malformed `sql` or a condition value with no number
    on a real column.
    """
    sel, agg, conditions = check_sql(sql, len(table["header"]))
    rows = table["rows"]
    keep = [True] * len(rows)
    for column, op, raw in conditions:
        value = _condition_value(table, column, raw)
        real = table["types"][column] == "real"
        found = _matches([_sql_value(row[column], real) for row in rows], op, value)
        keep = [k and f for k, f in zip(keep, found)]
    real = table["types"][sel] == "real"
    cells = [row[sel] for row, k in zip(rows, keep) if k]
    values = [_sql_value(cell, real) for cell in cells]
    if agg == "":
        return [_shown(cell, value) for cell, value in zip(cells, values)]
    if agg == "COUNT":
        return [str(len(values))]
    if not values:
        return []
    if agg in ("MAX", "MIN"):
        pick = max if agg == "MAX" else min
        at = pick(range(len(values)), key=lambda i: _order(values[i]))  # ties: the first row
        return [_shown(cells[at], values[at])]
    total = math.fsum(_leading_number(value) for value in values)
    return [number_text(total if agg == "SUM" else total / len(values))]
