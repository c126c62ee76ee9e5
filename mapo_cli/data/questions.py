"""Questions as prepared data: tokens and the entities programs may use as literals.

Without CoreNLP: a small tokenizer, number and date recognisers, and entity
linking by string match against the table's cells. String entities use the
same `normalize_text` / `contains` as `filter_in`, so every string the
question offers is one that a filter can find at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mapo_cli.core.lru import by_identity
from mapo_cli.core.text import normalize_text
from mapo_cli.data.cell_values import find_dates
from mapo_cli.data.tables import Table

Entity = dict[str, Any]

_TOKEN = re.compile(
    r"\d+(?:,\d{3})*(?:\.\d+)?(?:st|nd|rd|th|s)?(?![^\W_])"  # 51,130  3.5  1st  1990s
    r"|[^\W_]+?(?=n't(?![^\W_]))"  # "did" of "didn't"
    r"|n't(?![^\W_])"
    r"|'(?:s|re|ve|ll|d|m)(?![^\W_])"  # clitics: "piotr's" -> piotr 's
    r"|[^\W_]+"
    r"|\S"
)
_PLAIN_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_ORDINAL_NUMBER = re.compile(r"(\d+)(?:st|nd|rd|th)")

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "dozen": 12,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17,
    "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30, "fortieth": 40,
    "fiftieth": 50, "hundredth": 100,
}  # fmt: skip

_STOPWORD_TEXT = """
    a an the and or but nor not no of in on at to for from by with without about as into
    onto upon over under than then that this these those there here it its is are was
    were be been being am do does did done doing have has had having will would shall should
    can could may might must 's n't 're 've 'll 'd 'm
    what which who whom whose when where why how many much more most less least
    i me my we our you your he him his she her they them their
    if so also just only other another each any all some same such very too
    up down out off again once both either neither
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

MAX_SPAN = 12
"""Longest question span (in tokens) tried as a string entity."""


@dataclass(frozen=True)
class Token:
    """One question token and where it sits in the lowercased question."""

    text: str
    start: int
    end: int


def _lower(question: str) -> str:
    """The question as tokens and spans see it: lowercased, curly apostrophes made straight.

    Same length as the question, so character offsets carry over.
    """
    return question.lower().replace("\u2019", "'").replace("\u2018", "'")


def tokenize(question: str) -> list[Token]:
    """Lowercased tokens: words, numbers ("51,130", "1st"), clitics ("'s", "n't"), punctuation."""
    text = _lower(question)
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


# ----------------------------------------------------------------- numbers and dates


def _word_number(tokens: list[Token], i: int) -> tuple[float, int] | None:
    """A number written in words starting at token i: (value, end token), or None.

    "five", "twenty-five", "twenty five", "two hundred", "a dozen", "third".
    """
    word = tokens[i].text
    if word in ORDINALS:
        return float(ORDINALS[word]), i + 1
    if word == "a" and i + 1 < len(tokens) and tokens[i + 1].text in ("dozen", "hundred"):
        return float(UNITS.get(tokens[i + 1].text, 100)), i + 2
    if word in TENS:
        value, end = TENS[word], i + 1
        j = end + 1 if end < len(tokens) and tokens[end].text == "-" else end
        if j < len(tokens) and tokens[j].text in UNITS and UNITS[tokens[j].text] < 10:
            value, end = value + UNITS[tokens[j].text], j + 1
    elif word in UNITS:
        value, end = UNITS[word], i + 1
    elif word in SCALES:
        return float(SCALES[word]), i + 1
    else:
        return None
    if end < len(tokens) and tokens[end].text in SCALES:
        value, end = value * SCALES[tokens[end].text], end + 1
    return float(value), end


def _digit_number(token: str) -> float | None:
    """A number written in digits: "51,130", "3.5", "1st"."""
    if _PLAIN_NUMBER.fullmatch(token):
        return float(token.replace(",", ""))
    match = _ORDINAL_NUMBER.fullmatch(token)
    return float(match[1]) if match else None


def _token_span(tokens: list[Token], start: int, end: int) -> tuple[int, int] | None:
    """The tokens that exactly cover the character span [start, end), or None."""
    first = next((i for i, t in enumerate(tokens) if t.start == start), None)
    last = next((i for i, t in enumerate(tokens) if t.end == end), None)
    if first is None or last is None or last < first:
        return None
    return first, last + 1


def date_entities(question: str, tokens: list[Token]) -> list[Entity]:
    """Dates written over several tokens ("january 26, 1995", "march 1995", "may 5").

    A bare year is not taken here: `number_entities` makes it both a number
    and a date.
    """
    entities = []
    for start, end, value in find_dates(_lower(question)):
        span = _token_span(tokens, start, end)
        if span is None or span[1] - span[0] < 2:
            continue
        entities.append({"type": "date", "value": value, "span": list(span)})
    return entities


def number_entities(tokens: list[Token], taken: set[int]) -> list[Entity]:
    """Numbers in digits or words; a year (1000-2100) is also a date `YYYY-xx-xx`.

    Tokens in `taken` (inside a multi-token date) are not numbers of their own.
    """
    entities: list[Entity] = []
    i = 0
    while i < len(tokens):
        if i in taken:
            i += 1
            continue
        value = _digit_number(tokens[i].text)
        end = i + 1
        if value is None:
            found = _word_number(tokens, i)
            if found is None:
                i += 1
                continue
            value, end = found
        entities.append({"type": "number", "value": value, "span": [i, end]})
        if re.fullmatch(r"\d{4}", tokens[i].text) and 1000 <= value <= 2100:
            year = f"{int(value):04d}-xx-xx"
            entities.append({"type": "date", "value": year, "span": [i, end]})
        i = end
    return entities


# ----------------------------------------------------------------- string entities


class CellIndex:
    """The normalised cells of one table, for fast `contains` checks on many spans.

    Every distinct normalised cell is wrapped in spaces and the cells are
    joined by newlines, so one substring search answers "does some cell
    contain this?" (a needle has no newline, so it never spans two cells).
    """

    def __init__(self, table: Table) -> None:
        cells = {normalize_text(cell) for row in table["rows"] for cell in row}
        cells.discard("")
        self.joined = "\n".join(f" {cell} " for cell in sorted(cells))
        self.vocabulary = {token for cell in cells for token in cell.split(" ")}

    def has_tokens(self, normalized: str) -> bool:
        """A cheap necessary condition: every token of the needle occurs in some cell."""
        return bool(normalized) and all(t in self.vocabulary for t in normalized.split(" "))

    def contains(self, normalized: str) -> bool:
        """Whether some cell contains the needle (text.contains, over all cells at once)."""
        return bool(normalized) and f" {normalized} " in self.joined


@by_identity(4)
def cell_index(table: Table) -> CellIndex:
    """The table's `CellIndex`, built once for every question about it (entity linking and
    the features both need it)."""
    return CellIndex(table)


def _is_content(tokens: list[Token]) -> bool:
    """A span worth linking has at least one token that is not a stopword or punctuation."""
    return any(t.text not in STOPWORDS and any(ch.isalnum() for ch in t.text) for t in tokens)


def string_entities(question: str, tokens: list[Token], index: CellIndex) -> list[Entity]:
    """Question spans that some cell contains: longest first, left to right, no overlaps."""
    text = _lower(question)
    normalized = [normalize_text(t.text) for t in tokens]
    entities = []
    i = 0
    while i < len(tokens):
        reach = i
        while reach < len(tokens) and reach - i < MAX_SPAN and index.has_tokens(normalized[reach]):
            reach += 1
        for end in range(reach, i, -1):
            span = tokens[i:end]
            value = normalize_text(text[span[0].start : span[-1].end])
            if _is_content(span) and index.contains(value):
                entities.append({"type": "string", "value": value, "span": [i, end]})
                i = end - 1
                break
        i += 1
    return entities


# ----------------------------------------------------------------- together


_TYPE_ORDER = {"number": 0, "date": 1, "string": 2}


def find_entities(question: str, tokens: list[Token], index: CellIndex) -> list[Entity]:
    """All entities in question order, without duplicate (type, value)."""
    dates = date_entities(question, tokens)
    taken = {i for entity in dates for i in range(*entity["span"])}
    found = dates + number_entities(tokens, taken) + string_entities(question, tokens, index)
    found.sort(key=lambda e: (e["span"][0], e["span"][1], _TYPE_ORDER[e["type"]]))
    seen: set[tuple[str, Any]] = set()
    entities = []
    for entity in found:
        key = (entity["type"], entity["value"])
        if key not in seen:
            seen.add(key)
            entities.append(entity)
    return entities


def analyse_question(question: str, index: CellIndex) -> tuple[list[str], list[Entity]]:
    """The question's tokens and entities, as they go into a prepared example."""
    tokens = tokenize(question)
    return [t.text for t in tokens], find_entities(question, tokens, index)
