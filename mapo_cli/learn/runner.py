"""The seam between the learner and where its batches come from (Algorithm 2's outer loop).

A runner places the actors (this process for `--serial`, actor processes
otherwise; another backend is one more `runner_*.py`) and gives `run_loop`
two functions: the next batch, and how the learner's weights reach the
actors. The loop itself, with its schedule of evaluations, logs and
checkpoints, is the same for every runner.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mapo_cli.learn.actor import ActorBatch
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.features import Vocabulary
from mapo_cli.learn.trainer import Trainer
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


ProgressFn = Callable[[Progress], None]
# A runner trains `trainer` until the run is over and returns the summary of `run_loop`.
Runner = Callable[[TrainConfig, Trainer, TrainingData, Vocabulary, random.Random,
                   ProgressFn | None], dict]


def batches(train: list[dict], size: int, rng: random.Random) -> Iterator[list[str]]:
    """Endless epochs of shuffled example ids, `size` at a time."""
    ids = [e["id"] for e in train]
    while True:
        order = ids[:]
        rng.shuffle(order)
        for start in range(0, len(order), size):
            yield order[start:start + size]


def run_loop(config: TrainConfig, trainer: Trainer, order_rng: random.Random,
             on_progress: ProgressFn | None, next_batch: Callable[[], ActorBatch],
             publish: Callable[[], None]) -> dict:
    """Learn from `next_batch()` until done; `publish()` the weights every `sync_every` steps.

    Returns the last metrics record plus the best dev accuracy and the step reached.
    """
    start = time.perf_counter()
    last_save = [start]
    record: dict = {}
    finished = _finished(config, trainer, start)
    while not finished:
        trainer.learn(next_batch())
        if trainer.step % config.sync_every == 0:
            publish()
        logged, finished = _after_step(config, trainer, start, last_save, order_rng, on_progress)
        record = logged or record
    return {**record, "best_dev_accuracy": trainer.best, "steps": trainer.step}


def _finished(config: TrainConfig, trainer: Trainer, start: float) -> bool:
    if trainer.step >= config.steps or trainer.stop.signal is not None:
        return True
    return bool(config.seconds) and time.perf_counter() - start >= config.seconds


def _after_step(config: TrainConfig, trainer: Trainer, start: float, last_save: list[float],
                order_rng: random.Random, on_progress: ProgressFn | None,
                ) -> tuple[dict | None, bool]:
    """Evaluate, log and checkpoint when due (always at the end); report progress.

    Returns the metrics record (if one was written) and whether training is over.
    """
    elapsed = time.perf_counter() - start
    trainer.steps_this_process += 1
    record = None
    finished = _finished(config, trainer, start)
    stopping = trainer.stop.signal is not None  # asked to stop: save now, evaluate later
    due_eval = (trainer.step % config.eval_every == 0 or finished) and not stopping
    due_save = stopping or time.perf_counter() - last_save[0] >= config.save_every_seconds
    if due_eval or due_save:
        accuracy = trainer.evaluate() if due_eval else None
        record = trainer.log(elapsed, accuracy)
        trainer.flush_store()
        trainer.save(elapsed, accuracy, order_rng.getstate())
        last_save[0] = time.perf_counter()
    if on_progress:
        on_progress(Progress(trainer.step, config.steps, trainer.seconds + elapsed, elapsed,
                             trainer.samples / max(elapsed, 1e-9),
                             record["dev_accuracy"] if record else None, trainer.best,
                             trainer.losses[-1] if trainer.losses else 0.0))
    return record, finished
