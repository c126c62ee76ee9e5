"""Beam search with code assistance: the most probable programs, for `mapo decode` and `ask`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mapo_cli.language.interpreter import State
from mapo_cli.learn.decoding import (
    Prepared,
    Scored,
    branch,
    encode_items,
    max_decode_steps,
    valid_mask,
    variable_slot,
)
from mapo_cli.learn.model import Programmer


@dataclass
class _Hypothesis:
    item: int
    state: State
    score: float


@torch.no_grad()
def beam_search(model: Programmer, items: Sequence[Prepared], beam_size: int = 5,
                max_steps: int | None = None) -> list[list[Scored]]:
    """Per item, up to `beam_size` finished programs, most probable first.

    Batched over items × beams. At each step every item keeps its
    `beam_size` best expansions among all valid ones; an expansion that ends
    the program is finished and leaves the beam. With a beam at least as
    large as the number of valid programs the search is exhaustive.
    """
    finished: list[list[Scored]] = [[] for _ in items]
    alive = [_Hypothesis(k, item.interpreter.start(), 0.0) for k, item in enumerate(items)
             if item.interpreter.valid_tokens(item.interpreter.start())]
    if not alive:
        return finished
    decoder = encode_items(model, [items[h.item] for h in alive])
    limit = max_steps or max(max_decode_steps(i.ctx.grammar, i.ctx.max_expressions) for i in items)
    for _ in range(limit):
        valid_sets = [items[h.item].interpreter.valid_tokens(h.state) for h in alive]
        width = decoder.width
        step = model.decode_step(decoder, valid_mask(valid_sets, width, model.device))
        scores = step.log_probs + torch.tensor([h.score for h in alive],
                                               device=model.device).unsqueeze(1)
        chosen = _best_expansions(alive, scores, beam_size)
        next_alive, slots, rows, tokens = [], [], [], []
        for parent, token, score in chosen:
            hypothesis = alive[parent]
            item = items[hypothesis.item]
            state = item.interpreter.step(hypothesis.state, token)
            if state.done:
                finished[hypothesis.item].append((state.tokens, score))
                continue
            next_alive.append(_Hypothesis(hypothesis.item, state, score))
            slots.append(variable_slot(item.ctx, hypothesis.state, token))
            rows.append(parent)
            tokens.append(token)
        if not next_alive:
            break
        decoder = branch(model, step, rows, tokens, slots)
        alive = next_alive
    return [sorted(found, key=lambda scored: -scored[1])[:beam_size] for found in finished]


def _best_expansions(alive: list[_Hypothesis], scores: Tensor,
                     beam_size: int) -> list[tuple[int, int, float]]:
    """Each item's `beam_size` best (parent row, token, score) over all its hypotheses' tokens."""
    groups: dict[int, list[int]] = {}
    for row, hypothesis in enumerate(alive):
        groups.setdefault(hypothesis.item, []).append(row)
    width = scores.shape[1]
    depth = max(len(rows) for rows in groups.values())
    padded = torch.cat([scores, torch.full((1, width), float("-inf"), device=scores.device)])
    dummy = len(alive)
    grid = torch.tensor([rows + [dummy] * (depth - len(rows)) for rows in groups.values()],
                        device=scores.device)
    flat = padded[grid].reshape(len(groups), depth * width)
    # A stable sort breaks exact ties by (hypothesis, token), whatever the batch's width.
    top_scores, top_index = flat.sort(dim=1, descending=True, stable=True)
    keep = min(beam_size, depth * width)
    top_scores, top_index = top_scores[:, :keep], top_index[:, :keep]
    chosen = []
    parents = grid.tolist()
    for g, (values, indices) in enumerate(zip(top_scores.tolist(), top_index.tolist())):
        for value, index in zip(values, indices):
            if value == float("-inf"):
                break
            chosen.append((parents[g][index // width], index % width, value))
    return chosen
