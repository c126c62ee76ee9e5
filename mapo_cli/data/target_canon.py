"""Target strings as canonical values, for a release without CoreNLP's `targetCanon`.

The official evaluator compares predictions with the release's precomputed
target values (`targetCanon` in `tagged/data/*.tagged`); `mapo prepare wtq`
copies those when the release has them. Otherwise `target_value` makes them
as SEMPRE's target canonicaliser with CoreNLP's number and date normalisation
reads the common forms (it is an approximation: no CoreNLP runs), in this
order, the first that applies winning:

1. a strict US-format number: `51,130` → 51130, `.15` → 0.15;
2. a date, the whole string: `1995-01-26`, `January 26, 1995`,
   `26 January 1995`, `March 1995`, `Sept 11`, `1/26/1995`;
3. one number in a short phrase of at most three words
   (`_phrase_number`): a unit written after it, with or without a space
   (`7km`, `7 km`, `17 years`), a currency sign before it (`$50`, `£750`),
   thousands written with spaces (`858 209`), a scale word after it
   (`11.63 million` → 11630000, `$1.2 billion`), words around it
   (`Season 7`, `Ep. 8`);
4. `<number> <anything>`, two words (SEMPRE's number-with-unit rule).

Everything else stays a string: ordinals (`3rd`), number
words (`two`), percentages written without a space (`5%`), and strings with
more than one number (ranges `2000-2005`, scores `2-1`, times `2:03`,
`37 miles (60 km)`).
"""

from __future__ import annotations

import re
from decimal import Decimal

_SPACES = re.compile(r"\s+")

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

# Units read after a number written against it ("7km", "64GB"), case as written. Not
# "s" ("1960s" is a decade) nor ordinal suffixes ("3rd"): those stay strings.
_UNITS = frozenset((
    "km", "m", "cm", "mm", "mi", "ft", "yd", "in", "kg", "g", "mg", "lb", "lbs", "oz", "t",
    "l", "L", "ml", "mL", "ha", "mph", "kmh", "kph", "km/h", "m/s", "hp", "bhp", "PS", "W",
    "kW", "MW", "kV", "V", "Hz", "kHz", "MHz", "GHz", "min", "h", "hr", "hrs", "ms", "sec",
    "kB", "KB", "MB", "GB", "TB", "km²", "m²"))
_SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000,
           "trillion": 1_000_000_000_000}
_NUMBER_WORD = re.compile(
    r"(?:[A-Z]{0,3}\$|[£€¥₹])?"                    # currency: $50, US$50, £750
    r"(?P<number>[-−]?(?:[0-9]+(?:,[0-9]+)*(?:\.[0-9]+)?|\.[0-9]+))"
    r"(?P<unit>[^\W\d_]+(?:/[^\W\d_]+)?²?)?")      # glued unit: 7km, 100m, 29g
# Thousands written with spaces ("858 209"), joined before the words are read.
_SPACED_THOUSANDS = re.compile(r"(?<![\d.,])[0-9]{1,3}(?: [0-9]{3})+(?![0-9]|,[0-9])")
_PHRASE_WORDS = 3


def _java_number(text: str) -> float | None:
    if not any(c.isdigit() for c in text) or not _JAVA_NUMBER.fullmatch(text):
        return None
    return float(text.replace(",", ""))


def _iso(year: int, month: int, day: int) -> str:
    """CoreNLP's spelling of targetCanon (`xxxx-09-11`), which the release's files use and this
    canonicaliser must reproduce byte for byte; mapo's own notation is core/dates.py's."""
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


def _phrase_number(text: str) -> float | None:
    """The one number of a phrase of at most three words (rule 3 of the module docstring)."""
    words = _SPACED_THOUSANDS.sub(lambda m: m[0].replace(" ", ""), text).split(" ")
    if len(words) > _PHRASE_WORDS:
        return None
    found: list[tuple[int, Decimal]] = []
    for index, word in enumerate(words):
        if not any(c.isdigit() for c in word):
            continue
        match = _NUMBER_WORD.fullmatch(word)
        if match is None or (match["unit"] and match["unit"] not in _UNITS):
            return None  # 3rd, 5%, 2-1, 2:03, V6, 1960s: not a number CoreNLP reads
        found.append((index, Decimal(match["number"].replace(",", "").replace("−", "-"))))
    if len(found) != 1:
        return None
    index, amount = found[0]
    if index + 1 < len(words):
        amount *= _SCALES.get(words[index + 1].lower(), 1)
    return float(amount)


def target_value(text: str) -> str | None:
    """The canonical value of a target string (a number or a `YYYY-MM-DD` date), or None.

    Numbers are written as Python floats (`"7.0"`), dates with `xx` for unknown
    parts; `to_value(text, target_value(text))` is then the evaluator's Value.
    """
    text = _SPACES.sub(" ", text).strip()
    number = _java_number(text)
    if number is not None:
        return repr(number)
    date = _date(text)
    if date is not None:
        return date
    number = _phrase_number(text)
    if number is not None:
        return repr(number)
    tokens = text.split(" ")
    if len(tokens) == 2:
        number = _java_number(tokens[0])
        if number is not None:
            return repr(number)
    return None
