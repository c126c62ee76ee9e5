"""A batch of encoded examples as padded tensors: the model's input.

Token slots follow ProgramContext's order (built-ins, `all_rows`, the column
views, the literals, `v0...`), so a slot index here is the token id the
interpreter offers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mapo_cli.learn.features import PAD_ID, Features


@dataclass
class Batch:
    """Tensors for B distinct examples (built by `make_batch`)."""

    words: Tensor  # (B, L) word ids, PAD after each question
    in_table: Tensor  # (B, L) float
    lengths: Tensor  # (B,) question lengths (at least 1)
    column_words: Tensor  # (C, W) word ids of every column view in the batch
    column_counts: Tensor  # (C,) float
    column_kinds: Tensor  # (C,)
    column_rows: Tensor  # (C,) which example
    column_slots: Tensor  # (C,) token id in that example's vocabulary
    entity_spans: Tensor  # (N, 2) [start, end) in the question
    entity_types: Tensor  # (N,)
    entity_rows: Tensor  # (N,)
    entity_slots: Tensor  # (N,)
    vocab_sizes: Tensor  # (B,)
    first_variable: Tensor  # (B,) token id of v0
    n_builtins: int
    context: Tensor | None = None  # (B, L, D) pretrained encoder outputs per question token
    column_context: Tensor | None = None  # (C, D) ... per column view

    def to(self, device: torch.device) -> Batch:
        """The same batch on `device` (itself where it is there already)."""
        if self.words.device == device:
            return self
        return dataclasses.replace(self, **{
            f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), Tensor)})


def make_batch(features: Sequence[Features], vocab_sizes: Sequence[int], n_builtins: int) -> Batch:
    """Pad a list of encoded examples into one Batch (slots in the module's order)."""
    length = max(1, *(len(f.word_ids) for f in features))
    words = torch.full((len(features), length), PAD_ID, dtype=torch.long)
    in_table = torch.zeros(len(features), length)
    col_words, col_counts, col_kinds, col_rows, col_slots = [], [], [], [], []
    spans, ent_types, ent_rows, ent_slots, first_variable = [], [], [], [], []
    for row, f in enumerate(features):
        n = len(f.word_ids)
        words[row, :n] = torch.tensor(f.word_ids, dtype=torch.long)
        in_table[row, :n] = torch.tensor(f.in_table, dtype=torch.float)
        first_column = n_builtins + 1
        for k, ids in enumerate(f.column_word_ids):
            col_words.append(ids)
            col_counts.append(f.column_counts[k])
            col_kinds.append(f.column_kinds[k])
            col_rows.append(row)
            col_slots.append(first_column + k)
        first_literal = first_column + len(f.column_word_ids)
        for k, span in enumerate(f.entity_spans):
            spans.append(span)
            ent_types.append(f.entity_types[k])
            ent_rows.append(row)
            ent_slots.append(first_literal + k)
        first_variable.append(first_literal + len(f.entity_spans))
    width = max((len(ids) for ids in col_words), default=1)
    column_words = torch.full((len(col_words), width), PAD_ID, dtype=torch.long)
    for k, ids in enumerate(col_words):
        column_words[k, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return Batch(
        words=words,
        in_table=in_table,
        lengths=torch.tensor([max(1, len(f.word_ids)) for f in features], dtype=torch.long),
        column_words=column_words,
        column_counts=torch.tensor(col_counts, dtype=torch.float),
        column_kinds=torch.tensor(col_kinds, dtype=torch.long),
        column_rows=torch.tensor(col_rows, dtype=torch.long),
        column_slots=torch.tensor(col_slots, dtype=torch.long),
        entity_spans=torch.tensor(spans, dtype=torch.long).reshape(-1, 2),
        entity_types=torch.tensor(ent_types, dtype=torch.long),
        entity_rows=torch.tensor(ent_rows, dtype=torch.long),
        entity_slots=torch.tensor(ent_slots, dtype=torch.long),
        vocab_sizes=torch.tensor(list(vocab_sizes), dtype=torch.long),
        first_variable=torch.tensor(first_variable, dtype=torch.long),
        n_builtins=n_builtins,
        **_contexts(features, length),
    )


def _contexts(features: Sequence[Features], length: int) -> dict[str, Tensor]:
    """The pretrained encoder's vectors, padded like the words (nothing if the model reads none)."""
    if features[0].context is None:
        return {}
    width = features[0].context.shape[1]
    context = torch.zeros(len(features), length, width)
    for row, f in enumerate(features):
        context[row, : len(f.context)] = torch.from_numpy(f.context.astype(np.float32))
    columns = [f.column_context for f in features if len(f.column_context)]
    column_context = (torch.from_numpy(np.concatenate(columns).astype(np.float32)) if columns
                      else torch.zeros(0, width))
    return {"context": context, "column_context": column_context}
