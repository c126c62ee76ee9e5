"""Text normalisation shared by entity linking, filters and column naming.

One definition, so that a string found in the question at prepare time is
exactly a string that `filter_in` finds in a cell at run time.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_TOKEN = re.compile(r"[a-z0-9]+|[^a-z0-9\s]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_ESCAPED = re.compile(r"\\(.)")


# What NFKD leaves non-ASCII but a question typed in ASCII spells otherwise: the dashes of
# scores and ranges ("3–2", "1990–95"), curly quotes, primes, and letters with no accent to
# strip. Dropping them (as plain NFKD folding does) joins "3–2" into "32".
_SPELLED = {
    **dict.fromkeys("‐‑‒–—―−⁻", "-"),
    **dict.fromkeys("‘’‚‛′`", "'"),
    **dict.fromkeys("“”„‟″«»", '"'),
    "×": "x", "⁄": "/", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o",
    "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th",
    "Þ": "Th", "ı": "i",
}


@lru_cache(maxsize=1 << 12)
def _fold_char(char: str) -> str:
    """One non-ASCII character of NFKD's output: its ASCII spelling, a space between words for
    any other mark or space, nothing for a letter of another script or an invisible character."""
    if char in _SPELLED:
        return _SPELLED[char]
    category = unicodedata.category(char)
    if category[0] in "PSZ":
        return " "
    return ""


def ascii_fold(text: str) -> str:
    """NFKD-decompose; spell what is left outside ASCII with ASCII where it has a spelling.

    A dash stays a dash and a degree sign or bullet separates words, so that a
    cell's "3–2" and a question's "3-2" fold alike; letters of other scripts
    and combining accents are dropped.
    """
    if text.isascii():
        return text
    return "".join(char if char.isascii() else _fold_char(char)
                   for char in unicodedata.normalize("NFKD", text))


def text_tokens(text: str) -> list[str]:
    """Lowercased ASCII tokens: runs of letters/digits, or single punctuation marks."""
    return _TOKEN.findall(ascii_fold(text).lower())


@lru_cache(maxsize=1 << 17)
def normalize_text(text: str) -> str:
    """The canonical form used for string entities and cell matching.

    Memoised: a table's cells are normalised by entity linking, the program
    context, the features and the encoder's snapshot alike, and a table of
    10,000 rows has hundreds of thousands of them.
    """
    return " ".join(text_tokens(text))


def contains(cell_normalized: str, needle_normalized: str) -> bool:
    """Whether the needle's tokens occur as a contiguous run of the cell's tokens."""
    if not needle_normalized:
        return False
    return f" {needle_normalized} " in f" {cell_normalized} "


def singular(word: str) -> str:
    """A light English singular (`weapons` → weapon, `countries` → country, `losses` → loss).

    For matching question words to column-name words, both sides alike: a
    question asks for "the weapons" of a column named "weapon". Words of
    three letters or fewer stay.
    """
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    return word.removesuffix("s")


def quote_string(text: str) -> str:
    """A string literal as programs spell it: in double quotes, `"` and `\\` escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote_string(literal: str) -> str:
    """The text of a quoted string literal (the inverse of `quote_string`)."""
    return _ESCAPED.sub(r"\1", literal[1:-1])


def column_names(headers: list[str]) -> list[str]:
    """Program names for table headers (docs/formats.md, `columns`).

    ASCII fold, lowercase, runs of non-alphanumerics become `_`, trimmed; an
    empty name becomes `column_<k>` (1-based) and repeats get `_2`, `_3`, ...
    """
    names: list[str] = []
    seen: dict[str, int] = {}
    for k, header in enumerate(headers, start=1):
        name = _NON_ALNUM.sub("_", ascii_fold(header).lower()).strip("_") or f"column_{k}"
        base = name
        count = seen.get(base, 0) + 1
        seen[base] = count
        if count > 1:
            name = f"{base}_{count}"
            while name in seen:
                count += 1
                name = f"{base}_{count}"
            seen[base] = count
        seen.setdefault(name, 1)
        names.append(name)
    return names
