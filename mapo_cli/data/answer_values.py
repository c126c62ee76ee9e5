"""Answers as the official WikiTableQuestions evaluator reads them: strings, numbers, dates.

`normalize`, the three value types, `to_value` and `to_value_list` follow
evaluator.py of the WTQ 1.0.2 release, including its quirks (a number within
1e-6 of an integer becomes `int(amount)`, which truncates). A prediction is
read as that evaluator reads a prediction file: `to_value(cell)` on the cell
as it stands (no TSV unescaping) — an int/float, a `YYYY-MM-DD` date with
`xx` for unknown parts, or else a string. A target is
`to_value(original, canonical)`: the canonical value (the release's
`targetCanon`, or `target_canon.target_value`) is parsed first.

Kept apart from `scoring` (comparison, rewards, prediction files) so that the
evaluator's reading quirks live in one place.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable

# ---------------------------------------------------------------- normalize

_QUOTES = re.compile(r"[‘’´`]")
_DOUBLE_QUOTES = re.compile(r"[“”]")
_DASHES = re.compile(r"[‐‑‒–—−]")
_CITATIONS = re.compile(r"((?<!^)\[[^\]]*\]|\[[0-9]+\]|[•♦†‡*#+])*$")
_PARENTHESES = re.compile(r"(?<!^)( \([^)]*\))*$")
_OUTER_QUOTES = re.compile(r'^"([^"]*)"$')
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """The evaluator's string normal form (diacritics, quotes, dashes, citations, case)."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text)
                   if unicodedata.category(c) != "Mn")
    text = _QUOTES.sub("'", text)
    text = _DOUBLE_QUOTES.sub('"', text)
    text = _DASHES.sub("-", text)
    while True:  # trailing citations, "(details)" and outer quotes, until nothing changes
        old = text
        text = _CITATIONS.sub("", text.strip())
        text = _PARENTHESES.sub("", text.strip())
        text = _OUTER_QUOTES.sub(r"\1", text.strip())
        if text == old:
            break
    text = text.removesuffix(".")
    return _SPACES.sub(" ", text).lower().strip()


# ---------------------------------------------------------------- values


class Value:
    """A string, number or date answer item; `normalized` is its normalised text."""

    __slots__ = ("_hash", "normalized")
    normalized: str

    def match(self, other: Value) -> bool:
        raise NotImplementedError


class StringValue(Value):
    __slots__ = ()

    def __init__(self, content: str) -> None:
        self.normalized = normalize(content)
        self._hash = hash(self.normalized)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StringValue) and self.normalized == other.normalized

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"S[{self.normalized!r}]"

    def match(self, other: Value) -> bool:
        return self.normalized == other.normalized


class NumberValue(Value):
    __slots__ = ("amount",)
    amount: int | float

    def __init__(self, amount: float, original_string: str | None = None) -> None:
        # As evaluator.py: int() truncates, so 2.9999999 becomes 2.
        self.amount = int(amount) if abs(amount - round(amount)) < 1e-6 else float(amount)
        self.normalized = normalize(original_string) if original_string else str(self.amount)
        self._hash = hash(self.amount)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NumberValue) and self.amount == other.amount

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"N({self.amount})[{self.normalized!r}]"

    def match(self, other: Value) -> bool:
        if self.normalized == other.normalized:
            return True
        return isinstance(other, NumberValue) and abs(self.amount - other.amount) < 1e-6

    @staticmethod
    def parse(text: str) -> int | float | None:
        """An int, else a finite float, else None (Python 2 did not read `1_000`)."""
        if "_" in text:
            return None
        try:
            return int(text)
        except ValueError:
            pass
        try:
            amount = float(text)
        except ValueError:
            return None
        return None if math.isnan(amount) or math.isinf(amount) else amount


class DateValue(Value):
    __slots__ = ("ymd",)
    ymd: tuple[int, int, int]

    def __init__(self, year: int, month: int, day: int, original_string: str | None = None
                 ) -> None:
        if not (month == -1 or 1 <= month <= 12) or not (day == -1 or 1 <= day <= 31):
            raise ValueError(f"not a date: {year}-{month}-{day}")
        if year == month == day == -1:
            raise ValueError("a date needs a year, a month or a day")
        self.ymd = (year, month, day)
        if original_string:
            self.normalized = normalize(original_string)
        else:
            self.normalized = "-".join("xx" if part == -1 else str(part) for part in self.ymd)
        self._hash = hash(self.ymd)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DateValue) and self.ymd == other.ymd

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"D{self.ymd}[{self.normalized!r}]"

    def match(self, other: Value) -> bool:
        if self.normalized == other.normalized:
            return True
        return isinstance(other, DateValue) and self.ymd == other.ymd

    @staticmethod
    def parse(text: str) -> tuple[int, int, int] | None:
        """`YYYY-MM-DD` with `xx` (or `xxxx` for the year) for unknown parts, else None.

        evaluator.py's own reading, kept apart from the notation's (core/dates.py) on
        purpose: its spellings and ranges decide the official verdicts, to the letter.
        """
        parts = text.lower().split("-")
        if len(parts) != 3:
            return None
        try:
            year = -1 if parts[0] in ("xx", "xxxx") else int(parts[0])
            month = -1 if parts[1] == "xx" else int(parts[1])
            day = -1 if parts[2] == "xx" else int(parts[2])
        except ValueError:
            return None
        if year == month == day == -1:
            return None
        if not (month == -1 or 1 <= month <= 12) or not (day == -1 or 1 <= day <= 31):
            return None
        return (year, month, day)


def to_value(original: str | Value, corenlp_value: str | None = None) -> Value:
    """The Value of an answer string; `corenlp_value` (a target's canon) is parsed if given."""
    if isinstance(original, Value):
        return original
    text = corenlp_value or original
    amount = NumberValue.parse(text)
    if amount is not None:
        return NumberValue(amount, original)
    ymd = DateValue.parse(text)
    if ymd is not None:
        if ymd[1] == ymd[2] == -1:  # a year alone is a number
            return NumberValue(ymd[0], original)
        return DateValue(*ymd, original)
    return StringValue(original)


def to_value_list(originals: Iterable[str], corenlp_values: Iterable[str | None] | None = None
                  ) -> list[Value]:
    """Values of a list answer, duplicates removed (answers are sets)."""
    originals = list(originals)
    if corenlp_values is None:
        return list({to_value(x) for x in originals})
    canons = list(corenlp_values)
    if len(canons) != len(originals):
        raise ValueError("one CoreNLP value per answer string")
    return list({to_value(x, y) for x, y in zip(originals, canons)})


def tsv_unescape(text: str) -> str:
    r"""evaluator.py's `tsv_unescape`: `\n`, then `\p`, then `\\`, replaced in turn."""
    return text.replace("\\n", "\n").replace("\\p", "|").replace("\\\\", "\\")


def tsv_unescape_list(text: str) -> list[str]:
    """evaluator.py's `tsv_unescape_list`: how it reads `targetValue` and `targetCanon`."""
    return [tsv_unescape(item) for item in text.split("|")]
