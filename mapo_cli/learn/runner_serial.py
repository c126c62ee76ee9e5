"""`--serial`: actor and learner take turns in this process, so a seed fixes the whole run.

For debugging and tests: no processes, no queue, and the batch order is the
order RNG's alone, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

from mapo_cli.learn.actor import Actor, ActorBatch
from mapo_cli.learn.model import Programmer
from mapo_cli.learn.runner import ProgressFn, TrainingLoop, batches, run_loop


def run_serial(loop: TrainingLoop, on_progress: ProgressFn | None) -> dict:
    """One actor over all training examples, its stale policy refreshed every `sync_every` steps."""
    config, data, learner = loop.config, loop.data, loop.learner
    stale = Programmer(learner.model.config, learner.model.n_words, learner.model.n_builtins)
    actor = Actor(config, data.train, data.tables, data.grammar, loop.vocabulary, stale,
                  data.memory, data.filters, data.store_settings, seed=config.seed + learner.step,
                  exhausted=data.exhausted, relaxed=data.relaxed)
    actor.use_weights(learner.snapshot())
    order = batches(data.train, config.batch_examples, loop.order_rng)
    for _ in range(learner.step):  # a resumed run continues the same batch order
        next(order)

    def next_batch() -> ActorBatch:
        return actor.make_batch(next(order))

    def publish() -> None:
        actor.use_weights(learner.snapshot())

    return run_loop(loop, on_progress, next_batch, publish)
