"""What the neural programmer reads: a word vocabulary and one example's features.

The vocabulary is built from training examples in a fixed order (count
descending, then alphabetical, after the four special words), so a
checkpoint's word ids mean the same thing on every machine and every run.
Encoding an example gives plain lists (no torch here): the model batches them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mapo_cli.core.atomic import write_text
from mapo_cli.core.errors import MapoError
from mapo_cli.core.json_fields import field_problem, shown
from mapo_cli.core.text import normalize_text, singular
from mapo_cli.data.questions import cell_index
from mapo_cli.language.context import ProgramContext, literal_value

if TYPE_CHECKING:
    from mapo_cli.learn.contextual import ContextVectors

PAD, UNK, NUM, DATE = "<PAD>", "<UNK>", "<NUM>", "<DATE>"
SPECIALS = (PAD, UNK, NUM, DATE)
PAD_ID, UNK_ID, NUM_ID, DATE_ID = range(4)
VIEW_KINDS = ("str", "num", "date")
ENTITY_TYPES = ("string", "number", "date")


class Vocabulary:
    """Question and column-name words ↔ ids; unknown words map to `<UNK>`.

    It also says how question words are matched to column-name words for the
    column feature (`match_plurals`), so that a checkpoint is read the way it was
    trained; vocabularies saved before the option match exactly.
    """

    def __init__(self, words: Iterable[str], min_count: int = 1,
                 match_plurals: bool = False) -> None:
        self.words: tuple[str, ...] = tuple(words)
        if self.words[: len(SPECIALS)] != SPECIALS:
            raise MapoError(f"a word vocabulary must start with {', '.join(SPECIALS)}")
        self.min_count = min_count
        self.match_plurals = match_plurals
        self._ids = {word: i for i, word in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Vocabulary) and self.words == other.words
                and self.match_plurals == other.match_plurals)

    def id(self, word: str) -> int:
        return self._ids.get(word, UNK_ID)

    def match_form(self, word: str) -> str:
        """The form in which a word is compared between question and column name."""
        return singular(word) if self.match_plurals else word

    def to_json(self) -> dict:
        return {"words": list(self.words), "min_count": self.min_count,
                "match_plurals": self.match_plurals}

    @classmethod
    def from_json(cls, data: object, where: str = "vocabulary") -> Vocabulary:
        """MapoError naming `where` for anything `to_json` would not have written: word ids
        must mean what they meant in training."""
        problem = field_problem(data, {"words": "a list", "min_count": "an integer",
                                       "match_plurals": "true or false"},
                                optional=("min_count", "match_plurals"))
        if problem is None and isinstance(data, dict):
            problem = _words_problem(data["words"])
        if problem or not isinstance(data, dict):
            raise MapoError(f"{where}: not a word vocabulary ({problem})")
        return cls(data["words"], data.get("min_count", 1), data.get("match_plurals", False))

    def save(self, path: Path | str) -> None:
        write_text(path, json.dumps(self.to_json(), ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: Path | str) -> Vocabulary:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise MapoError(f"{path}: cannot read the word vocabulary ({error})") from None
        return cls.from_json(data, str(path))


def _words_problem(words: list) -> str | None:
    odd = [w for w in words if not isinstance(w, str)]
    if odd:
        return f"a word that is not a string: {shown(odd[0])}"
    if tuple(words[: len(SPECIALS)]) != SPECIALS:
        return f"the words must start with {', '.join(SPECIALS)}"
    if len(set(words)) != len(words):
        return "a word is listed twice"
    return None


def question_words(example: Mapping) -> list[str]:
    """The question tokens with number and date entities anonymised (dates win on years)."""
    words = list(example["tokens"])
    for entity in example.get("entities", []):
        span = entity.get("span")
        if span is None or entity["type"] not in ("number", "date"):
            continue
        for i in range(max(0, span[0]), min(len(words), span[1])):
            if entity["type"] == "date" or words[i] != DATE:
                words[i] = DATE if entity["type"] == "date" else NUM
    return words


def column_words(name: str) -> list[str]:
    """The words of a column's program name (`points_scored` → points, scored)."""
    return [w for w in name.split("_") if w]


def build_vocabulary(examples: Iterable[Mapping], tables: Mapping[str, Mapping] | None = None,
                     min_count: int = 1, match_plurals: bool = False) -> Vocabulary:
    """Words of the training questions (and of the column names of their tables, when given).

    Each table's column words count once however many questions use it.
    """
    counts: Counter[str] = Counter()
    used_tables = set()
    for example in examples:
        counts.update(question_words(example))
        used_tables.add(example.get("table"))
    for table_id in sorted(t for t in used_tables if tables and t in tables):
        for name in tables[table_id]["columns"]:
            counts.update(column_words(name))
    for special in SPECIALS:
        counts.pop(special, None)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return Vocabulary(SPECIALS + tuple(kept), min_count, match_plurals)


@dataclass(frozen=True)
class Features:
    """One example as the model reads it; column and entity lists follow the context's token order."""

    word_ids: list[int]  # per question token
    in_table: list[int]  # 1 when the token's normalised form occurs in some cell
    entity_spans: list[tuple[int, int]]  # per literal of the ProgramContext; (0, 0) if unknown
    entity_types: list[int]  # index into ENTITY_TYPES
    column_word_ids: list[list[int]]  # per column view
    column_counts: list[int]  # per column view: how many of its words occur in the question
    column_kinds: list[int]  # per column view: index into VIEW_KINDS
    context: np.ndarray | None = None  # (tokens, width) pretrained encoder outputs, or None
    column_context: np.ndarray | None = None  # (column views, width): each view its column's


def encode_example(example: Mapping, table: Mapping, ctx: ProgramContext,
                   vocabulary: Vocabulary, context: ContextVectors | None = None) -> Features:
    """The model's inputs for one example (whose context `ctx` was built from it and `table`).

    `context`: the pretrained encoder's vectors for it (`contextual.py`), if the model reads them.
    """
    words = question_words(example)
    cells = cell_index(table)
    in_table = [int(cells.contains(normalize_text(token))) for token in example["tokens"]]
    spans, types = _literal_spans(example, ctx)
    question_set = {vocabulary.match_form(w)
                    for token in example["tokens"] for w in normalize_text(token).split()}
    names = [column_words(view.name) for view in ctx.views]
    return Features(
        word_ids=[vocabulary.id(w) for w in words],
        in_table=in_table,
        entity_spans=spans,
        entity_types=types,
        column_word_ids=[[vocabulary.id(w) for w in name] or [UNK_ID] for name in names],
        column_counts=[sum(vocabulary.match_form(w) in question_set for w in name)
                       for name in names],
        column_kinds=[VIEW_KINDS.index(view.kind) for view in ctx.views],
        context=None if context is None else context.tokens,
        column_context=None if context is None else _per_view(context, table, ctx),
    )


def _per_view(context: ContextVectors, table: Mapping, ctx: ProgramContext) -> np.ndarray:
    """The str, num and date views of a column share the column's vector."""
    column_of = {name: c for c, name in enumerate(table["columns"])}
    return context.columns[[column_of[view.name] for view in ctx.views]].reshape(
        len(ctx.views), context.columns.shape[1])


def _literal_spans(example: Mapping, ctx: ProgramContext) -> tuple[list[tuple[int, int]], list[int]]:
    """Question spans of the context's literals, found the way ProgramContext dedups them.

    Literals that came from elsewhere (`mapo exec` extras) have no span: (0, 0).
    """
    span_of: dict[tuple, tuple[int, int]] = {}
    for entity in example.get("entities", []):
        try:
            kind, value, _ = literal_value(entity)
        except (ValueError, KeyError):
            continue
        span = entity.get("span") or (0, 0)
        span_of.setdefault((kind, value), (int(span[0]), int(span[1])))
    spans = [span_of.get((kind, value), (0, 0)) for kind, value, _ in ctx.literals]
    types = [ENTITY_TYPES.index(kind) for kind, _, _ in ctx.literals]
    return spans, types
