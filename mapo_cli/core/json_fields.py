"""Checks for the JSON mapo reads back from its own files (sidecars, rerankers, metrics, beams).

Such a file may have been edited by hand or damaged. Its reader checks each
field's JSON type here and raises a MapoError naming the file (and line), so
that a wrong value is one line of error, not a traceback or a silently wrong
result further on (`bool("no")` is True, `int(8.5)` is 8).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping
from typing import Any


def is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """An int or a float, not a bool (NaN and infinities included: see `is_finite`)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_finite(value: object) -> bool:
    return is_number(value) and math.isfinite(value)  # type: ignore[arg-type]


KINDS: dict[str, Callable[[object], bool]] = {
    "an integer": is_integer,
    "a number": is_number,
    "a finite number": is_finite,
    "a string": lambda value: isinstance(value, str),
    "true or false": lambda value: isinstance(value, bool),
    "a list": lambda value: isinstance(value, list),
    "an object": lambda value: isinstance(value, dict),
}
"""The kinds a field may be expected to have; "KIND or null" also allows null."""


def is_kind(value: object, kind: str) -> bool:
    """Whether `value` is of `kind` (a key of KINDS, maybe followed by " or null")."""
    if kind.endswith(" or null") and value is None:
        return True
    return KINDS[kind.removesuffix(" or null")](value)


def field_problem(record: object, expected: Mapping[str, str],
                  optional: Collection[str] = ()) -> str | None:
    """What is wrong with `record` (a short phrase), or None: it must be an object whose
    fields have the `expected` kinds; those in `optional` may be missing. Other fields
    are not checked (a newer mapo may add some)."""
    if not isinstance(record, dict):
        return f"expected an object, not {shown(record)}"
    for key, kind in expected.items():
        if key not in record:
            if key in optional:
                continue
            return f"missing {key!r}"
        if not is_kind(record[key], kind):
            return f"{key!r} should be {kind}, not {shown(record[key])}"
    return None


def shown(value: Any) -> str:
    """A value as JSON, cut short: what a message shows of a wrong field."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."
