"""Actor processes: each samples with a stale policy copy while this process learns.

The learner's weights go to the actors every `sync_every` steps through one
shared-memory copy, written and read with its version under a lock
(`weights.SharedWeights`); batches come back through a bounded queue, each
with the version it was sampled with. Not deterministic: which actor's batch
comes first varies.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import random
import signal
from collections.abc import Sequence
from multiprocessing.process import BaseProcess

import torch
import torch.multiprocessing as mp

from mapo_cli.core.errors import MapoError
from mapo_cli.core.processes import end_with_parent
from mapo_cli.learn.actor import Actor, ActorBatch
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.features import Vocabulary
from mapo_cli.learn.model import Programmer
from mapo_cli.learn.runner import ProgressFn, TrainingLoop, batches, run_loop
from mapo_cli.learn.training_data import TrainingData
from mapo_cli.learn.weights import SharedWeights


def run_parallel(loop: TrainingLoop, on_progress: ProgressFn | None) -> dict:
    """`--actors` processes (default cores − 1), each with its share of the training examples."""
    actors = loop.config.actors or max((os.cpu_count() or 2) - 1, 1)
    config = dataclasses.replace(loop.config, actors=actors)
    context = mp.get_context("spawn")
    shared = SharedWeights(loop.learner.model, loop.learner.step, context)
    out = context.Queue(maxsize=2 * actors)
    stop = context.Event()
    processes = [context.Process(target=_actor_main, daemon=True,
                                 args=(rank, config, loop.data, loop.vocabulary, shared, out,
                                       stop, os.getpid()))
                 for rank in range(actors)]
    for process in processes:
        process.start()

    def next_batch() -> ActorBatch:
        while True:
            check_actors(processes)  # also when the other actors keep the queue full
            try:
                return out.get(timeout=1.0)
            except queue.Empty:
                continue

    def publish() -> None:
        shared.publish(loop.learner.model, loop.learner.step,
                       waiting=lambda: check_actors(processes))

    try:
        return run_loop(loop, on_progress, next_batch, publish)
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()


def check_actors(processes: Sequence[BaseProcess]) -> None:
    """An actor that died takes its share of the examples with it: stop, do not train on the rest."""
    for rank, process in enumerate(processes):
        code = process.exitcode
        if code is not None:
            how = (" (killed: the machine may be out of memory)" if code == -signal.SIGKILL
                   else f" (exit code {code}; see the messages above)")
            raise MapoError(f"actor {rank} of {len(processes)} died{how}; the run keeps its last "
                            "checkpoint: continue it with --resume, with fewer --actors if "
                            "memory is short")


def _actor_main(rank: int, config: TrainConfig, data: TrainingData, vocabulary: Vocabulary,
                shared: SharedWeights, out: mp.Queue, stop, learner: int) -> None:
    """An actor process: sample batches with a stale copy of the shared policy, forever.

    It stops when the learner sets `stop`, and dies with the learner when that
    is killed (`end_with_parent`). Ctrl-C is the learner's to handle.
    """
    end_with_parent(learner)
    torch.set_num_threads(1)
    first = shared.newer_than(None)
    assert first is not None
    model = Programmer(shared.model.config, len(vocabulary), shared.model.n_builtins)
    mine = data.train[rank::max(config.actors, 1)]
    actor = Actor(config, mine, data.tables, data.grammar, vocabulary, model, data.memory,
                  data.filters, data.store_settings,
                  seed=config.seed * 1000 + rank + first.version, exhausted=data.exhausted,
                  relaxed=data.relaxed, rank=rank)
    actor.use_weights(first)
    order = batches(mine, config.batch_examples, random.Random(config.seed * 1000 + rank))
    while not stop.is_set() and os.getppid() == learner:
        newer = shared.newer_than(actor.weights_version)
        if newer is not None:
            actor.use_weights(newer)
        batch = actor.make_batch(next(order))
        while not stop.is_set() and os.getppid() == learner:
            try:
                out.put(batch, timeout=0.5)
                break
            except queue.Full:
                continue
