"""The question templates of each kind of table, read from `templates/<kind>.toml`.

A template is a question with slots: `{x}` an entity (a cell of the
`entity` column), `{n}` a number, `{g}` a group value, `{a}` and `{b}` two
entities. Where a template may ask for another column than the default,
it is written `[question, column]`. A kind's file holds:

- `entity`: the column whose cells name the rows;
- `lookup`: `[question, column]`, the column's value for an entity;
- `key_lookup`, `key_previous`, `key_next`: `[question, key, column]`, the
  column's value in the row (or the row before or after the row) whose
  number in column `key` is `{n}`;
- `previous`, `next`, `first`, `last`: `[question, column]`;
- `count_all`: questions answered by the number of rows;
- `[[measures]]`, one per number column: `column`, then templates named by
  the function they ask for (`argmax`, `argmin`, `sum`, `average`, `max`,
  `min`, `mode`, `difference`), `lookup` for an entity's value, and `ops`
  (`ops.">"` = `{count = [...], list = [...]}`) for the comparison filters,
  or a `predicate` from which `predicate_ops` writes them;
- `[groups.<column>]`, for a column whose values repeat: `lookup`, `count`,
  `mode`, `list`, `exclusion`, `same_as`, and `sum` (`[question, column]`);
- `[[dates]]`: `column`, `argmax`, `argmin`.

A measure or group may borrow its templates from `[shapes.<name>]` with
`shape = "<name>"`, filling the shape's `$words` from `with = {...}`; its
own keys override the shape's. `$words` left in a file are filled by the
table builder (the athlete's `$pronoun`, for one).
"""

from __future__ import annotations

import functools
import string
import tomllib
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
QUANTITIES = {
    ">": ["more than {n}"], "<": ["fewer than {n}", "less than {n}"],
    ">=": ["at least {n}", "{n} or more"], "<=": ["at most {n}", "{n} or fewer"],
    "=": ["exactly {n}"],
}
KEYS = {
    "file": {"entity", "lookup", "key_lookup", "key_previous", "key_next", "previous", "next",
             "first", "last", "count_all", "measures", "groups", "dates", "shapes"},
    "measures": {"column", "ops", "predicate", "argmax", "argmin", "sum", "average", "max",
                 "min", "mode", "difference", "lookup"},
    "groups": {"lookup", "count", "mode", "list", "exclusion", "same_as", "sum"},
    "dates": {"column", "argmax", "argmin"},
}


def predicate_ops(text: str, subject: str, openers: list[str], negated: str = "",
                  ops: str = "> < >= <= = !=") -> dict:
    """Comparison questions from a predicate with a quantity slot: "won {q} gold medals"."""
    out = {}
    for op, quantities in QUANTITIES.items():
        predicates = [text.replace("{q}", q) for q in quantities]
        out[op] = {"count": [f"how many {subject} {p}?" for p in predicates],
                   "list": [f"{o} {p}?" for p in predicates for o in openers]}
    out["!="] = {"count": [f"how many {subject} {negated}?"], "list": []}
    return {op: forms for op, forms in out.items() if op in ops.split()}


@functools.cache
def _read(kind: str) -> dict:
    with (TEMPLATES / f"{kind}.toml").open("rb") as handle:
        return tomllib.load(handle)


def _fill(value: object, words: dict[str, str]) -> object:
    """`$words` replaced throughout; a `$word` that `words` lacks is an error."""
    if isinstance(value, str):
        return string.Template(value).substitute(words)
    if isinstance(value, list):
        return [_fill(v, words) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, words) for k, v in value.items()}
    return value


def _entry(raw: dict, section: str, entry: dict, words: dict[str, str]) -> dict:
    """A measure, group or date entry with its shape applied and its ops written out."""
    own = {k: v for k, v in entry.items() if k not in ("shape", "with")}
    if "shape" in entry:
        own = {**raw["shapes"][entry["shape"]], **own}
    unknown = set(own) - KEYS[section]
    if unknown:
        raise ValueError(f"unknown keys in {section}: {sorted(unknown)}")
    out = _fill(own, {**words, **entry.get("with", {})})
    if "predicate" in out:
        out["ops"] = predicate_ops(**out.pop("predicate"))
    return out


def load(kind: str, **words: str) -> dict:
    """The templates for one table of `kind`, with `words` filled in."""
    raw = _read(kind)
    unknown = set(raw) - KEYS["file"]
    if unknown:
        raise ValueError(f"unknown keys in templates/{kind}.toml: {sorted(unknown)}")
    spec = _fill({k: v for k, v in raw.items()
                  if k not in ("measures", "groups", "dates", "shapes")}, words)
    spec["measures"] = [_entry(raw, "measures", m, words) for m in raw.get("measures", [])]
    spec["dates"] = [_entry(raw, "dates", d, words) for d in raw.get("dates", [])]
    spec["groups"] = {header: _entry(raw, "groups", g, words)
                      for header, g in raw.get("groups", {}).items()}
    return spec
