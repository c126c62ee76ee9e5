"""Answers as the official WikiTableQuestions evaluator reads them: strings, numbers, dates.

`normalize`, the three value types, `to_value` and `to_value_list` follow
evaluator.py of the WTQ 1.0.2 release, including its quirks (a number within
1e-6 of an integer becomes `int(amount)`, which truncates). A prediction is
read as that evaluator reads a prediction file: `to_value(text)` — an
int/float, a `YYYY-MM-DD` date with `xx` for unknown parts, or else a string.

The release scores targets with precomputed CoreNLP/SEMPRE values
(`targetCanon`), which we do not ship; `target_value` recomputes them the way
SEMPRE's target canonicaliser made them: a strict US-format number ("51,130"),
a `YYYY-MM-DD` date, a whole-string date as CoreNLP's SUTime reads it
("January 26, 1995", "26 January 1995", "March 1995", "Sept 11"), or
"<number> <unit>" ("17 years" is 17). It never uses CoreNLP's NUMBER or
ORDINAL tags (that step is switched off in SEMPRE), so "3rd", "two" and "5%"
stay strings, as in the released tagged data.

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
        """`YYYY-MM-DD` with `xx` (or `xxxx` for the year) for unknown parts, else None."""
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


# ---------------------------------------------------------------- target canon (CoreNLP-like)

# Java's NumberFormat (US) read with the whole string consumed: lenient grouping commas.
_JAVA_NUMBER = re.compile(r"-?(?:[0-9]+(?:,+[0-9]+)*)?(?:\.[0-9]*)?")
# SEMPRE's parseDate: SUTime's own format, X for unknown digits.
_SUTIME_DATE = re.compile(r"([0-9X]{4})(?:-([0-9X]{2}))?(?:-([0-9X]{2}))?")

_MONTHS = {name: number for number, names in enumerate((
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
    ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
    ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
    ("december", "dec")), start=1) for name in names}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>[0-9]{4})"
_WEEKDAY = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,? )?"
# Whole-string dates that CoreNLP tags DATE with a value SEMPRE keeps.
_CORENLP_DATES = [re.compile(_WEEKDAY + pattern, re.IGNORECASE) for pattern in (
    rf"{_MONTH} {_DAY},? {_YEAR}",            # January 26, 1995
    rf"{_DAY} (?:of )?{_MONTH},? {_YEAR}",    # 26 January 1995
    rf"{_MONTH},? {_YEAR}",                   # March 1995
    rf"{_MONTH} {_DAY}",                      # Sept 11
    rf"{_DAY} (?:of )?{_MONTH}",              # 11 September
    _MONTH,                                   # October
    r"(?P<month>[0-9]{1,2})/(?P<day>[0-9]{1,2})/" + _YEAR,  # 1/26/1995
)]


def _java_number(text: str) -> float | None:
    if not any(c.isdigit() for c in text) or not _JAVA_NUMBER.fullmatch(text):
        return None
    return float(text.replace(",", ""))


def _iso(year: int, month: int, day: int) -> str:
    return "-".join(("xxxx" if year == -1 else f"{year:04d}",
                     "xx" if month == -1 else f"{month:02d}",
                     "xx" if day == -1 else f"{day:02d}"))


def _date(text: str) -> str | None:
    match = _SUTIME_DATE.fullmatch(text.upper())
    if match:
        parts = [-1 if not part or "X" in part else int(part) for part in match.groups()]
        return None if parts == [-1, -1, -1] else _iso(*parts)
    for pattern in _CORENLP_DATES:
        match = pattern.fullmatch(text)
        if match:
            fields = match.groupdict()
            month = fields["month"]
            month_number = int(month) if month.isdigit() else _MONTHS[month.lower()]
            day = int(fields.get("day") or -1)
            if not 1 <= month_number <= 12 or not (day == -1 or 1 <= day <= 31):
                return None
            return _iso(int(fields.get("year") or -1), month_number, day)
    return None


def target_value(text: str) -> str | None:
    """The `targetCanon` of a target string: a number or date in canonical form, or None.

    Order as SEMPRE's target canonicaliser: strict number, date, "<number> <unit>".
    """
    text = _SPACES.sub(" ", text).strip()
    number = _java_number(text)
    if number is not None:
        return repr(number)
    date = _date(text)
    if date is not None:
        return date
    tokens = text.split(" ")
    if len(tokens) == 2:
        number = _java_number(tokens[0])
        if number is not None:
            return repr(number)
    return None

