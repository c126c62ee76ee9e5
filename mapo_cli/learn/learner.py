"""The learner of Algorithm 2: one gradient step on a batch of weighted samples."""

from __future__ import annotations

from collections.abc import Callable

import torch

from mapo_cli.learn.decoding import Prepared, Walked, log_probs
from mapo_cli.learn.model import Programmer

Program = tuple[int, ...]


def adam(model: torch.nn.Module, learning_rate: float) -> torch.optim.Adam:
    """Adam, fused: one kernel for all the weights instead of a loop over tensors (the
    loop was about a tenth of a learner step). Every parameter is in its one group, as
    in the checkpoints of earlier runs; frozen ones have no gradient and are skipped."""
    return torch.optim.Adam(model.parameters(), lr=learning_rate, fused=True)


def loss_of(model: Programmer, items: list[Prepared | Walked], programs: list[Program],
            coefficients: list[float], n_examples: int, entropy_weight: float) -> tuple[torch.Tensor, float]:
    """− Σ weight·reward·log π(a) / examples − entropy_weight · entropy  (and the entropy).

    `coefficients` are weight · reward from objectives.training_samples, so the
    gradient of this loss is minus Algorithm 2's dθ.
    """
    if not programs:
        return torch.zeros((), requires_grad=True), 0.0
    logp, entropy = log_probs(model, items, programs, return_entropy=True)
    coefficient = torch.tensor(coefficients, dtype=logp.dtype)
    mean_entropy = entropy.mean()
    loss = -(coefficient * logp).sum() / max(n_examples, 1) - entropy_weight * mean_entropy
    return loss, float(mean_entropy.detach())


def update(model: Programmer, optimizer: torch.optim.Optimizer, item_of: Callable[[str], Prepared | Walked],
           samples: list[tuple[str, Program, float, float]], n_examples: int,
           entropy_weight: float, grad_clip: float) -> tuple[float, float]:
    """One Adam step with gradient-norm clipping; returns (loss, entropy)."""
    model.train()
    kept = samples  # a zero weight·reward still adds its entropy term
    items = [item_of(example_id) for example_id, _, _, _ in kept]
    loss, entropy = loss_of(model, items, [s[1] for s in kept], [s[2] * s[3] for s in kept],
                            n_examples, entropy_weight)
    optimizer.zero_grad()
    if loss.requires_grad and kept:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
    return float(loss.detach()), entropy
