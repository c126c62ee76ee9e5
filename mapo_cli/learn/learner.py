"""The learner of Algorithm 2: the model, Adam and a weight average, and `learn(batch)`.

It only learns (Sample Factory's split): evaluation, metrics, checkpoints
and store writes are pieces of their own that the loop in `runner.py` calls,
and actors get the learner's weights as versioned snapshots (`weights.py`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from mapo_cli.learn.actor import ActorBatch
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.decoding import Prepared, Walked, log_probs
from mapo_cli.learn.device import resolve_device
from mapo_cli.learn.features import Vocabulary, build_vocabulary
from mapo_cli.learn.model import ModelConfig, Programmer
from mapo_cli.learn.pretrained import WordVectors, fixed_entries, freeze, initialise_embeddings
from mapo_cli.learn.training_data import TrainingData
from mapo_cli.learn.weights import WeightsSnapshot, snapshot

Program = tuple[int, ...]


class Learner:
    """Algorithm 2's learner: dθ ← Σ w·R(a)·∇log π(a) over a batch, then an Adam step."""

    def __init__(self, config: TrainConfig, model: Programmer) -> None:
        self.config = config
        self.model = model.to(resolve_device(config.device))  # before Adam sees the weights
        self.optimizer = adam(model, config.learning_rate)
        # Dev accuracy swings from one evaluation to the next; an average of recent weights
        # swings less, so the best checkpoint is less a matter of when it was taken.
        self.average = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(
            config.average_decay)) if config.average_decay else None)
        self.step = 0

    def learn(self, batch: ActorBatch) -> float:
        """One update from an actor's batch; returns its loss."""
        loss, _ = update(self.model, self.optimizer, batch.walked.__getitem__, batch.samples,
                         len(batch.example_ids), self.config.entropy, self.config.grad_clip)
        if self.average is not None:
            self.average.update_parameters(self.model)
        self.step += 1
        return loss

    @property
    def evaluated(self) -> Programmer:
        """The weights that dev accuracy is measured on, and that the best checkpoint keeps."""
        return self.average.module if self.average is not None else self.model

    def snapshot(self) -> WeightsSnapshot:
        """The weights the actors sample with next, versioned by this step."""
        return snapshot(self.model, self.step)


def initial_model(config: TrainConfig, data: TrainingData, vocabulary: Vocabulary,
                  vectors: WordVectors | None = None) -> Programmer:
    """The model a run starts from, seeded: random weights, word embeddings from `vectors`
    (with --freeze-embeddings fixed, but for the words seen min_count times in training)."""
    torch.manual_seed(config.seed)
    model_config = ModelConfig(embedding_size=config.embedding, hidden_size=config.hidden,
                               dropout=config.dropout, encoder=config.encoder,
                               used_tokens=config.used_tokens)
    model = Programmer(model_config, len(vocabulary), len(data.grammar.builtin_tokens))
    if vectors is None:
        return model
    found, known = vectors.lookup(vocabulary.words)
    weight = model.word_embedding.weight
    if config.freeze_embeddings:
        # Words seen min_count times in training (listed first) also learn.
        frequent = np.arange(len(vocabulary)) < len(
            build_vocabulary(data.train, data.tables, config.min_count))
        initialise_embeddings(weight, found, known, clear=found & ~frequent)
        freeze(weight, fixed_entries(found, frequent, weight.shape[1], known.shape[1]))
    else:
        initialise_embeddings(weight, found, known, clear=found)
    return model


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
        return torch.zeros((), requires_grad=True, device=model.device), 0.0
    logp, entropy = log_probs(model, items, programs, return_entropy=True)
    mean_entropy = entropy.mean()
    loss = policy_loss(logp, coefficients, n_examples) - entropy_weight * mean_entropy
    return loss, float(mean_entropy.detach())


def policy_loss(logp: torch.Tensor, coefficients: list[float], n_examples: int) -> torch.Tensor:
    """− Σ_i coefficient_i · log π(a_i) / examples: its gradient with respect to log π(a_i) is
    minus the weight · reward that Algorithm 2's learner gives ∇log π(a_i)."""
    coefficient = torch.tensor(coefficients, dtype=logp.dtype, device=logp.device)
    return -(coefficient * logp).sum() / max(n_examples, 1)


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
