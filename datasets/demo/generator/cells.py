"""Cell values: the number or date a cell holds, and how cells are written.

`cell_number` and `cell_date` give the tagged files' `number` and `date`
fields and the interpreter's `num` and `date` views of a column.
"""

from __future__ import annotations

import datetime
import re

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
_FOOTNOTE = re.compile(r"\[[^\]]*\]")
_PAREN = re.compile(r"\s*\([^)]*\)\s*$")
_NUM = re.compile(r"[+]?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")
_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
_UNIT = re.compile(r"(\d+(?:\.\d+)?) ?(m|km)")
_FULL_DATE = re.compile(r"(" + "|".join(MONTHS) + r") (\d{1,2}), (\d{4})")
ORDINAL_SUFFIX = {1: "st", 2: "nd", 3: "rd"}


def core_text(cell: str) -> str:
    """A cell without footnote marks and a trailing parenthesis: "Peru (PER)[1]" -> "Peru"."""
    text = _FOOTNOTE.sub("", cell).strip()
    return _PAREN.sub("", text).strip()


def cell_number(cell: str) -> float | None:
    """The cell's number as the tagged `number` field gives it (None: not a number)."""
    text = core_text(cell)
    for pattern in (_NUM, _ORDINAL, _PERCENT, _UNIT):
        match = pattern.fullmatch(text)
        if match:
            return float(match.group(1).replace(",", "") + (
                match.group(2) if pattern is _NUM and match.group(2) else ""))
    return None


def cell_date(cell: str) -> str | None:
    """The cell's date (`YYYY-MM-DD`, `xx` for unknown parts) or None."""
    text = core_text(cell)
    match = _FULL_DATE.fullmatch(text)
    if match:
        month = MONTHS.index(match.group(1)) + 1
        return f"{int(match.group(3)):04d}-{month:02d}-{int(match.group(2)):02d}"
    if re.fullmatch(r"\d{4}", text) and 1800 <= int(text) <= 2030:
        return f"{text}-xx-xx"
    return None


def date_text(day: datetime.date) -> str:
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def with_commas(n: int) -> str:
    return f"{n:,}"


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else ORDINAL_SUFFIX.get(n % 10, 'th')}"
