"""`--backend ray`: the actors are Ray actors, wherever the cluster has room.

Each actor gets its share of the training examples once, at its start, with
everything it needs (tables, buffers, filters, the pretrained encoder's
vectors), so it needs nothing from this machine's disk. Then only weights go
out, a versioned snapshot (`weights.py`) put into the object store once per
sync for every actor to read, and batches come back, each with the version
it was sampled with. Each actor has two batches queued, so it never waits for
the learner. An actor that dies (its process or its node lost) is replaced
by a new one built from its share as the learner last knew it: the buffers
and filters of every batch received, so what was delivered is neither lost
nor found again, and the learner stays the only writer of the store.
Not deterministic, like `runner_parallel.py`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from dataclasses import dataclass
from typing import Any

import torch

from mapo_cli.core.cluster import RayCluster
from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import tables_of
from mapo_cli.learn.actor import Actor, ActorBatch, Program
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.contextual_cache import PreloadedContexts, preload
from mapo_cli.learn.features import Vocabulary
from mapo_cli.learn.model import Programmer
from mapo_cli.learn.runner import ProgressFn, TrainingLoop, batches, run_loop
from mapo_cli.learn.training_data import TrainingData
from mapo_cli.learn.weights import WeightsSnapshot

QUEUED = 2  # batches asked of each actor ahead of time
REPLACEMENTS_PER_ACTOR = 5  # more lost actors than this stop the run: something is wrong
PATIENCE_SECONDS = 600.0  # without a batch: the actors cannot be placed, or all hang
PATIENCE_STOPPING = 30.0  # ... once a stop was asked for


@dataclass
class Share:
    """One actor's part of the training data, kept up to date with what its batches bring."""

    examples: list[dict]
    tables: dict[str, dict]
    memory: dict[str, list[Program]]
    filters: dict[str, bytes | None]
    exhausted: set[str]
    contexts: PreloadedContexts | None

    def absorb(self, batch: ActorBatch) -> None:
        """What the learner now knows of these examples (and a replacement must start from)."""
        for example_id, found in batch.new_programs.items():
            self.memory.setdefault(example_id, []).extend(program for program, _ in found)
        self.filters.update(batch.filters)
        self.exhausted.update(batch.exhausted)


class ActorHost:
    """What runs inside a Ray actor: an `Actor` over one share and its own batch order."""

    def __init__(self, config: TrainConfig, share: Share, data: dict[str, Any],
                 vocabulary: Vocabulary, weights: WeightsSnapshot, seed: int, rank: int) -> None:
        torch.set_num_threads(1)
        model = Programmer(data["model_config"], len(vocabulary), data["n_builtins"])
        self.actor = Actor(config, share.examples, share.tables, data["grammar"], vocabulary,
                           model, share.memory, share.filters, data["store_settings"],
                           seed=seed, exhausted=set(share.exhausted), relaxed=data["relaxed"],
                           rank=rank)
        self.actor.use_weights(weights)
        self.actor.contexts = share.contexts
        self.order = batches(share.examples, config.batch_examples, random.Random(seed))

    def batch(self, weights: WeightsSnapshot | None) -> ActorBatch:
        """The next batch, with these weights first if they are newer than the actor's."""
        if weights is not None:
            self.actor.use_weights(weights)
        return self.actor.make_batch(next(self.order))


def run_ray(loop: TrainingLoop, on_progress: ProgressFn | None, cluster: RayCluster) -> dict:
    """`--actors` Ray actors (default: the cluster's CPUs − 1, at least 1)."""
    actors = loop.config.actors or max(cluster.cpus - 1, 1)
    if actors > cluster.cpus:
        raise MapoError(f"--actors {actors}: the Ray cluster has {cluster.cpus} CPU(s), and "
                        "each actor needs one")
    pool = _ActorPool(cluster, dataclasses.replace(loop.config, actors=actors), loop)
    try:
        summary = run_loop(loop, on_progress, pool.next_batch, pool.publish)
    finally:
        pool.close()
    return {**summary, "actors_replaced": pool.replaced}


class _ActorPool:
    """The actors, the batches asked of them, and the weights they have."""

    def __init__(self, cluster: RayCluster, config: TrainConfig, loop: TrainingLoop) -> None:
        self.ray = cluster.ray
        self.config = config
        self.loop = loop
        self.vocabulary = loop.vocabulary
        self.host = self.ray.remote(num_cpus=1, max_restarts=0)(ActorHost)
        model, data = loop.learner.model, loop.data
        self.common = cluster.put({"model_config": model.config,
                                   "n_builtins": model.n_builtins,
                                   "grammar": data.grammar,
                                   "store_settings": data.store_settings,
                                   "relaxed": data.relaxed})
        self.shares = [_share(data, rank, config.actors, loop) for rank in range(config.actors)]
        self.version = loop.learner.step  # of the snapshot in `self.weights`
        self.weights = cluster.put(loop.learner.snapshot())
        self.handles: list[Any] = [None] * config.actors
        self.generation = [0] * config.actors
        self.sent = [self.version] * config.actors  # the weights each actor has
        self.calls: dict[Any, tuple[int, int]] = {}  # batch ref -> (rank, generation)
        self.replaced = 0
        for rank in range(config.actors):
            self._start(rank)

    def _start(self, rank: int) -> None:
        self.generation[rank] += 1
        seed = self.config.seed * 1000 + rank + self.version + 7919 * (self.generation[rank] - 1)
        self.handles[rank] = self.host.remote(self.config, self.shares[rank], self.common,
                                              self.vocabulary, self.weights, seed, rank)
        self.sent[rank] = self.version
        for _ in range(QUEUED):
            self._ask(rank)

    def _ask(self, rank: int) -> None:
        weights = self.weights if self.sent[rank] != self.version else None
        self.sent[rank] = self.version
        ref = self.handles[rank].batch.remote(weights)
        self.calls[ref] = (rank, self.generation[rank])

    def next_batch(self) -> ActorBatch:
        since = time.perf_counter()
        while True:
            ready, _ = self.ray.wait(list(self.calls), num_returns=1, timeout=1.0)
            if not ready:
                self._check_waiting(time.perf_counter() - since)
                continue
            rank, generation = self.calls.pop(ready[0])
            try:
                batch = self.ray.get(ready[0])
            except self.ray.exceptions.RayActorError:  # its process or node is gone
                if generation == self.generation[rank]:  # not yet replaced (two calls fail)
                    self._replace(rank)
                continue
            except self.ray.exceptions.RayTaskError as error:
                raise MapoError(f"actor {rank} failed: {_cause(error)}") from None
            self.shares[rank].absorb(batch)
            self._ask(rank)
            return batch

    def _check_waiting(self, seconds: float) -> None:
        """Actors that cannot be placed (no room in the cluster) never deliver: say so."""
        stopping = self.loop.stop.signal is not None
        if seconds > PATIENCE_SECONDS or (stopping and seconds > PATIENCE_STOPPING):
            raise MapoError(f"no Ray actor delivered a batch for {seconds:.0f} s (is there room "
                            f"for {self.config.actors} one-CPU actors in the cluster?); the "
                            "last checkpoint resumes with --resume")

    def _replace(self, rank: int) -> None:
        self.replaced += 1
        if self.replaced > REPLACEMENTS_PER_ACTOR * self.config.actors:
            raise MapoError(f"{self.replaced} Ray actors were lost (their processes or nodes "
                            "died); the last checkpoint resumes with --resume")
        with contextlib.suppress(Exception):  # gone already
            self.ray.kill(self.handles[rank], no_restart=True)
        self._start(rank)

    def publish(self) -> None:
        """The learner's weights into the object store, once for every actor."""
        snapshot = self.loop.learner.snapshot()
        self.weights = self.ray.put(snapshot)
        self.version = snapshot.version

    def close(self) -> None:
        for handle in self.handles:
            if handle is not None:  # it may be gone with its node
                with contextlib.suppress(Exception):
                    self.ray.kill(handle, no_restart=True)


def _share(data: TrainingData, rank: int, actors: int, loop: TrainingLoop) -> Share:
    """Every `actors`-th training example from `rank` on, and what goes with them."""
    examples = data.train[rank::actors]
    ids = [e["id"] for e in examples]
    tables = tables_of(examples, data.tables)
    contexts = preload(loop.contexts, examples, tables) if loop.contexts else None
    return Share(examples, tables, {i: list(data.memory.get(i, [])) for i in ids},
                 {i: data.filters.get(i) for i in ids}, {i for i in ids if i in data.exhausted},
                 contexts)


def _cause(error: Exception) -> str:
    cause = getattr(error, "cause", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[-1] if lines else ''}"

