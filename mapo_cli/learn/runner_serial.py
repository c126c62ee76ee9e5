"""`--serial`: actor and learner take turns in this process, so a seed fixes the whole run.

For debugging and tests: no processes, no queue, and the batch order is the
order RNG's alone, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import random

from mapo_cli.learn.actor import Actor, ActorBatch
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.features import Vocabulary
from mapo_cli.learn.model import Programmer
from mapo_cli.learn.runner import ProgressFn, batches, run_loop
from mapo_cli.learn.trainer import Trainer
from mapo_cli.learn.training_data import TrainingData


def run_serial(config: TrainConfig, trainer: Trainer, data: TrainingData, vocabulary: Vocabulary,
               order_rng: random.Random, on_progress: ProgressFn | None) -> dict:
    """One actor over all training examples, its stale policy refreshed every `sync_every` steps."""
    stale = Programmer(trainer.model.config, len(vocabulary), trainer.model.n_builtins)
    stale.load_state_dict(trainer.model.state_dict())
    actor = Actor(config, data.train, data.tables, data.grammar, vocabulary, stale, data.memory,
                  data.filters, data.store_settings, seed=config.seed + trainer.step,
                  exhausted=data.exhausted, relaxed=data.relaxed)
    order = batches(data.train, config.batch_examples, order_rng)
    for _ in range(trainer.step):  # a resumed run continues the same batch order
        next(order)

    def next_batch() -> ActorBatch:
        return actor.make_batch(next(order))

    def publish() -> None:
        stale.load_state_dict(trainer.model.state_dict())
        actor.policy_version = trainer.step

    return run_loop(config, trainer, order_rng, on_progress, next_batch, publish)
