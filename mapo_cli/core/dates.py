"""The date notation of prepared data, programs and answers: `YYYY-MM-DD`, with `xx` for an
unknown part (docs/formats.md). One reader and one writer for every layer."""

from __future__ import annotations

Date = tuple[int, int, int]  # year, month, day; -1 where unknown

_MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December"]
_MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def parse_date(text: str) -> Date | None:
    """`1995-01-26`, `1995-xx-xx`, `xx-01-26` (a run of x, `xxxx` too, is unknown); None
    when it is not the notation or nothing is known. Ranges: see `date_problem`."""
    parts = text.strip().lower().split("-")
    if len(parts) != 3:
        return None
    try:
        values = tuple(-1 if set(p) <= {"x"} else int(p) for p in parts)
    except ValueError:
        return None
    if values == (-1, -1, -1):
        return None
    return values  # type: ignore[return-value]


def format_date(date: Date) -> str:
    """The notation of a date: `1995-01-26`, `xx-01-26`."""
    year, month, day = date
    return "-".join(["xx" if year < 0 else f"{year:04d}", "xx" if month < 0 else f"{month:02d}",
                     "xx" if day < 0 else f"{day:02d}"])


def date_string(year: int | None, month: int | None, day: int | None) -> str | None:
    """The notation of what a parser found (None: unknown), or None when nothing is known or
    a part is out of range: a bad parse never becomes a date a program compares against."""
    if year is None and month is None and day is None:
        return None
    if month is not None and not 1 <= month <= 12:
        return None
    if day is not None and not 1 <= day <= 31:
        return None
    if year is not None and not 0 <= year <= 9999:
        return None
    return format_date((-1 if year is None else year, -1 if month is None else month,
                        -1 if day is None else day))


def date_problem(date: Date) -> str | None:
    """Why no day can be this date (`month 13 is not 1 to 12`), or None when one can.

    Unknown parts (-1) may be anything: `xx-02-29` is possible, `2005-02-29` is not.
    """
    year, month, day = date
    if year > 9999:
        return f"year {year} has more than four digits"
    if month >= 0 and not 1 <= month <= 12:
        return f"month {month} is not 1 to 12"
    if day < 0:
        return None
    last = 31 if month < 0 else _MONTH_DAYS[month - 1]
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if month == 2 and year >= 0 and not leap:
        last = 28
    if 1 <= day <= last:
        return None
    if month < 0:
        return f"day {day} is not 1 to 31"
    where = _MONTH_NAMES[month - 1] + (f" {year}" if month == 2 and year >= 0 else "")
    return f"day {day} is not 1 to {last} ({where} has {last} days)"
