"""The seam between the learner and where its batches come from (Algorithm 2's outer loop).

A runner places the actors (this process for `--serial`, actor processes
otherwise; another backend is one more `runner_*.py`) and gives `run_loop`
two functions: the next batch, and how the learner's weights reach the
actors (a versioned snapshot, `weights.py`). The loop itself is the same for
every runner: the learner learns from each batch; on schedule the loop has
the evaluator measure dev accuracy, the metrics log write a record, the
store updates go to the store and the checkpoints save the learner. All of
it in this process, the store's only writer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from mapo_cli.core.stop import StopRequest
from mapo_cli.learn.actor import ActorBatch
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.contextual_cache import ContextCache
from mapo_cli.learn.evaluation import Evaluator
from mapo_cli.learn.features import Vocabulary
from mapo_cli.learn.learner import Learner
from mapo_cli.learn.metrics import MetricsLog
from mapo_cli.learn.run_checkpoints import RunCheckpoints
from mapo_cli.learn.store_updates import StoreUpdates
from mapo_cli.learn.training_data import TrainingData


@dataclass
class Progress:
    """What the live display shows after every learner step."""

    step: int
    steps: int
    seconds: float  # training time of the whole run
    elapsed: float  # time of this process (what --seconds limits)
    samples_per_second: float
    dev_accuracy: float | None
    best_accuracy: float | None
    loss: float
    actor: int = 0  # the actor whose batch this step learned from
    weights_version: int = 0  # ... and the version of the weights it sampled with


ProgressFn = Callable[[Progress], None]


@dataclass
class TrainingLoop:
    """A run's pieces: the learner, and what evaluates, reports, saves and writes the store."""

    config: TrainConfig
    data: TrainingData
    vocabulary: Vocabulary
    learner: Learner
    evaluator: Evaluator
    metrics: MetricsLog
    checkpoints: RunCheckpoints
    store: StoreUpdates
    order_rng: random.Random  # the batch order (saved with each checkpoint)
    contexts: ContextCache | None = None  # the pretrained encoder's, if the model reads one
    seconds_before: float = 0.0  # training time before this process (a resumed run)
    stop: StopRequest = field(default_factory=StopRequest)  # a signal asks for a clean stop


# A runner trains until the run is over and returns the summary of `run_loop`.
Runner = Callable[[TrainingLoop, ProgressFn | None], dict]


def batches(train: list[dict], size: int, rng: random.Random) -> Iterator[list[str]]:
    """Endless epochs of shuffled example ids, `size` at a time."""
    ids = [e["id"] for e in train]
    while True:
        order = ids[:]
        rng.shuffle(order)
        for start in range(0, len(order), size):
            yield order[start:start + size]


def run_loop(loop: TrainingLoop, on_progress: ProgressFn | None,
             next_batch: Callable[[], ActorBatch], publish: Callable[[], None]) -> dict:
    """Learn from `next_batch()` until done; `publish()` the weights every `sync_every` steps.

    Returns the last metrics record plus the best dev accuracy and the step reached.
    """
    start = time.perf_counter()
    last_save = [start]
    record: dict = {}
    finished = _finished(loop, start)
    while not finished:
        batch = next_batch()
        loss = loop.learner.learn(batch)
        loop.metrics.add(batch, loss)
        loop.store.add(batch)
        if loop.learner.step % loop.config.sync_every == 0:
            publish()
        logged, finished = _after_step(loop, batch, start, last_save, on_progress)
        record = logged or record
    return {**record, "best_dev_accuracy": loop.checkpoints.best, "steps": loop.learner.step}


def _finished(loop: TrainingLoop, start: float) -> bool:
    if loop.learner.step >= loop.config.steps or loop.stop.signal is not None:
        return True
    return bool(loop.config.seconds) and time.perf_counter() - start >= loop.config.seconds


def _after_step(loop: TrainingLoop, batch: ActorBatch, start: float, last_save: list[float],
                on_progress: ProgressFn | None) -> tuple[dict | None, bool]:
    """Evaluate, log and checkpoint when due (always at the end); report progress.

    Returns the metrics record (if one was written) and whether training is over.
    """
    config, learner = loop.config, loop.learner
    elapsed = time.perf_counter() - start
    record = None
    finished = _finished(loop, start)
    stopping = loop.stop.signal is not None  # asked to stop: save now, evaluate later
    due_eval = (learner.step % config.eval_every == 0 or finished) and not stopping
    due_save = stopping or time.perf_counter() - last_save[0] >= config.save_every_seconds
    if due_eval or due_save:
        accuracy = loop.evaluator.accuracy(learner.evaluated) if due_eval else None
        seconds = loop.seconds_before + elapsed
        record = loop.metrics.record(learner.step, seconds, elapsed, accuracy)
        loop.store.write()
        loop.checkpoints.save(learner, seconds, accuracy, loop.order_rng.getstate())
        last_save[0] = time.perf_counter()
    if on_progress:
        on_progress(Progress(learner.step, config.steps, loop.seconds_before + elapsed, elapsed,
                             loop.metrics.samples / max(elapsed, 1e-9),
                             record["dev_accuracy"] if record else None, loop.checkpoints.best,
                             loop.metrics.last_loss, batch.actor, batch.weights_version))
    return record, finished
