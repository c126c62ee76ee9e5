"""A cell's number and date: our own small parsers (for plain CSV tables, and WTQ tables
without a tagged copy) and the fields of WTQ's CoreNLP-tagged copy, in our spelling.

Dates are written as `core.dates` spells them (`YYYY-MM-DD`, `xx` for an unknown part).
"""

from __future__ import annotations

import math
import re

from mapo_cli.core.dates import date_string

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}

_MONTH = r"(?P<{}>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_ORD = r"(?:st|nd|rd|th)?"
_DATE = re.compile(
    "|".join(
        [
            r"(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})(?!\d)",
            _MONTH.format("am") + rf"\s+(?P<ad>\d{{1,2}}){_ORD},?\s+(?P<ay>\d{{4}})(?!\d)",
            rf"(?P<bd>\d{{1,2}}){_ORD}\s+(?:of\s+)?"
            + _MONTH.format("bm")
            + r",?\s+(?P<by>\d{4})(?!\d)",
            _MONTH.format("cm") + r",?\s+(?P<cy>\d{4})(?!\d)",
            _MONTH.format("dm") + rf"\s+(?P<dd>\d{{1,2}}){_ORD}(?![\d:])",
            rf"(?P<ed>\d{{1,2}}){_ORD}\s+(?:of\s+)?" + _MONTH.format("em") + r"(?![a-z])",
            r"(?P<fy>1\d{3}|20\d{2})(?![\d,.]\d)",
        ]
    ),
    re.IGNORECASE,
)
_WORD_EDGE = re.compile(r"[a-z0-9]", re.IGNORECASE)
_DIGIT = re.compile(r"\d")

_NUMBER = re.compile(
    r"(?:(?<=\s)|^)(?P<sign>[-−–])?\$?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)"
    r"|(?<![\d.,])\$?(?P<num2>\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)"
)
_SCALE = re.compile(r"\s*(?P<scale>thousand|million|billion)\b", re.IGNORECASE)
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9}

_TAGGED_DATE = re.compile(r"(\d{1,4}|x+)-(\d{1,2}|x+)-(\d{1,2}|x+)", re.IGNORECASE)


def _date_from_match(match: re.Match[str]) -> str | None:
    """Turn one `_DATE` match into a date string, whichever alternative matched."""
    g = match.groupdict()
    if g["iy"]:
        return date_string(int(g["iy"]), int(g["im"]), int(g["id"]))
    for prefix in "abcdef":
        month = g.get(f"{prefix}m")
        if month:
            year = g.get(f"{prefix}y")
            day = g.get(f"{prefix}d")
            return date_string(
                int(year) if year else None, MONTHS[month.lower()], int(day) if day else None
            )
    return date_string(int(g["fy"]), None, None)


def find_dates(text: str) -> list[tuple[int, int, str]]:
    """Every date written in `text`: (start, end, value) character spans, left to right.

    Full dates win over their parts ("January 26, 1995" is one date, not a
    month and a year). A bare year counts only from 1000 to 2099.
    """
    found = []
    for match in _DATE.finditer(text):
        start, end = match.span()
        if start > 0 and _WORD_EDGE.match(text[start - 1]):
            continue  # inside a word or number, e.g. "A1995"
        if end < len(text) and _WORD_EDGE.match(text[end]):
            continue  # "1990s" is a decade, not a year
        value = _date_from_match(match)
        if value is not None:
            found.append((start, end, value))
    return found


def parse_date(cell: str) -> str | None:
    """A cell's date: the first date in it, where a bare year must open the cell.

    ("1976 (UK)" is 1976; "Apartment 1303" is not a date.)
    """
    text = cell.strip()
    if _DIGIT.search(text) is None:
        return None  # every way of writing a date has a digit
    for start, _end, value in find_dates(text):
        if value.endswith("-xx-xx") and start > 0:
            continue
        return value
    return None


def parse_number(cell: str) -> float | None:
    """A cell's number, like CoreNLP's `number` field: the first number in it.

    "51,130" is 51130, "12%" is 12, "$1.2 million" is 1200000, "1st" is 1,
    "2-1" is 2 (a minus sign counts only at the start of a word).
    """
    match = _NUMBER.search(cell)
    if match is None:
        return None
    digits = (match.group("num") or match.group("num2")).replace(",", "")
    value = float(digits)
    if match.group("sign"):
        value = -value
    scale = _SCALE.match(cell, match.end())
    if scale:
        value *= _SCALES[scale.group("scale").lower()]
    return value if math.isfinite(value) else None


def tagged_number(field: str) -> float | None:
    """The tagged file's `number` field as a float (None when empty or not finite)."""
    if not field:
        return None
    try:
        value = float(field)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def tagged_date(field: str) -> str | None:
    """The tagged file's `date` field (`1995-xx-xx`, `xxxx-01-26`) in our spelling."""
    match = _TAGGED_DATE.fullmatch(field.strip())
    if match is None:
        return None
    parts = [None if part[0] in "xX" else int(part) for part in match.groups()]
    return date_string(*parts)
