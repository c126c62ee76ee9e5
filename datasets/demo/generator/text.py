"""Text normalisation and number formatting, as mapo does them.

Mirrors `mapo_cli/core/text.py` and mapo's number formatting so that the
generator needs nothing but the standard library (and so that a string it
checks is one that mapo's entity linking and `filter_in` find).
"""

from __future__ import annotations

import math
import re
import unicodedata

_TOKEN = re.compile(r"[a-z0-9]+|[^a-z0-9\s]")
NON_ALNUM = re.compile(r"[^a-z0-9]+")


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def normalize_text(text: str) -> str:
    return " ".join(_TOKEN.findall(ascii_fold(text).lower()))


def contains(cell_norm: str, needle_norm: str) -> bool:
    return bool(needle_norm) and f" {needle_norm} " in f" {cell_norm} "


def column_names(headers: list[str]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for k, header in enumerate(headers, start=1):
        name = NON_ALNUM.sub("_", ascii_fold(header).lower()).strip("_") or f"column_{k}"
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


def format_number(value: float) -> str:
    """Numbers as answers: integers without a decimal point, others shortest-exact."""
    if math.isfinite(value) and abs(value - round(value)) < 1e-9 and abs(value) < 1e15:
        return str(round(value))
    return repr(float(f"{value:.12g}"))
