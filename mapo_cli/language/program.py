"""The program notation users read and type, and its mapping to token ids.

    (filter_in all_rows "peru" r.nation-str) (previous v0) (hop v1 r.nation-str)

Literals: strings in double quotes, numbers bare, dates `YYYY-MM-DD` with `xx`.
"""

from __future__ import annotations

import re

from mapo_cli.core.dates import date_problem, format_date, parse_date
from mapo_cli.core.errors import InvalidProgram
from mapo_cli.core.text import normalize_text, quote_string, unquote_string
from mapo_cli.language.assistance import CLOSE_ID, END_ID
from mapo_cli.language.context import ProgramContext, format_number

_LEXEME = re.compile(r'\s*(?:(\()\s*([^\s()"]+)|(\))|("(?:[^"\\]|\\.)*")|([^\s()"]+))')
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def split_program(text: str) -> list[str]:
    """Notation → token strings: `(hop`, `v0`, `r.player-str`, `)`, ..., ending with `<END>`."""
    tokens: list[str] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _LEXEME.match(text, position)
        if not match or match.end() == position:
            raise InvalidProgram(f"cannot read the program at character {position + 1}: "
                                 f"{text[position:position + 20]!r}")
        function, close, string, bare = match.group(2), match.group(3), match.group(4), match.group(5)
        if function:
            tokens.append("(" + function)
        elif close:
            tokens.append(")")
        elif string:
            tokens.append(string)
        else:
            tokens.append(bare)
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    if not tokens:
        raise InvalidProgram("the program is empty")
    if tokens[-1] != "<END>":
        tokens.append("<END>")
    return tokens


def literal_entity(token: str) -> dict | None:
    """An entity dict for a literal token (`"peru"`, `2`, `1995-xx-xx`), else None."""
    if token.startswith('"') and token.endswith('"') and len(token) >= 2:
        return {"type": "string", "value": normalize_text(unquote_string(token))}
    if _NUMBER.match(token):
        return {"type": "number", "value": float(token)}
    if parse_date(token) is not None and token.count("-") == 2:
        return {"type": "date", "value": token}
    return None


def check_typed_literal(entity: dict, token: str) -> None:
    """Refuse a literal the user typed that no value can be: a date like `2005-13-45`.

    Only typed literals: the question's own dates are what the data says they are.
    """
    date = parse_date(token) if entity["type"] == "date" else None
    problem = date_problem(date) if date is not None else None
    if problem is not None:
        raise InvalidProgram(f"{token} is not a date: {problem}")


def canonical_literal(token: str) -> str:
    """How a literal token is spelled in a context's vocabulary."""
    entity = literal_entity(token)
    if entity is None:
        return token
    if entity["type"] == "string":
        return quote_string(entity["value"])
    if entity["type"] == "number":
        return format_number(entity["value"])
    return format_date(parse_date(token))  # `xxxx-02-29` is `xx-02-29`


def unlinked_literals(tokens: list[str], ctx_vocab: set[str]) -> list[dict]:
    """Literals in a program that entity linking did not find in the question.

    They are the user's own, so an impossible one is an invalid program (`check_typed_literal`).
    """
    extra = []
    for token in tokens:
        entity = literal_entity(token)
        if entity is not None and canonical_literal(token) not in ctx_vocab:
            check_typed_literal(entity, token)
            extra.append(entity)
    return extra


def to_ids(tokens: list[str], ctx: ProgramContext) -> list[int]:
    """Token strings → ids in this context's vocabulary; an unknown name is an error."""
    ids = []
    for token in tokens:
        canonical = canonical_literal(token)
        if canonical not in ctx.token_id:
            raise InvalidProgram(_unknown_token_message(token, ctx))
        ids.append(ctx.token_id[canonical])
    return ids


def _unknown_token_message(token: str, ctx: ProgramContext) -> str:
    if token.startswith("("):
        names = " ".join(f.name for f in ctx.grammar.functions)
        return f"unknown function {token[1:]!r}; the {ctx.grammar.name} grammar has: {names}"
    if token.startswith("r."):
        columns = " ".join(v.token for v in ctx.views)
        return f"unknown column {token!r}; this table has: {columns}"
    if re.fullmatch(r"v\d+", token):
        return f"{token} is beyond the maximum of {ctx.max_expressions} expressions"
    if any(f.name == token for f in ctx.grammar.functions):
        return f"unknown token {token!r}: a function call starts with '(', as in ({token} ...)"
    return f"unknown token {token!r}"


def format_program(ids: list[int] | tuple[int, ...], vocab: list[str]) -> str:
    """Token ids → the notation, without the end token."""
    parts: list[str] = []
    for token in ids:
        if token == END_ID:
            break
        if token == CLOSE_ID:
            parts[-1] += ")"
        else:
            parts.append(vocab[token])
    return " ".join(parts)
