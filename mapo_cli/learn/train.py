"""The MAPO training loop (Algorithm 2): actors sample, the learner updates, one process writes.

`train` sets a run up (data, run directory, vocabulary, resuming), puts its
pieces together (`runner.TrainingLoop`) and hands them to a runner:
`runner_serial.py` runs actor and learner in this process, in turn
(deterministic given the seed); `runner_parallel.py` runs actor processes
that push batches of weighted samples through a queue; `runner_ray.py` runs
Ray actors anywhere in a cluster. Either way, in this process, the learner
(learner.py) updates the model, and the loop (runner.py) has the evaluator
(evaluation.py) measure dev accuracy, the metrics log (metrics.py) report,
the checkpoints (run_checkpoints.py) save, and the store updates
(store_updates.py) write newly found programs to the store.
"""

from __future__ import annotations

import contextlib
import functools
import random
import signal
from collections.abc import Callable
from pathlib import Path

import torch

from mapo_cli.core.atomic import write_text
from mapo_cli.core.cluster import RayCluster
from mapo_cli.core.errors import MapoError
from mapo_cli.core.stop import StopRequest
from mapo_cli.learn.checkpoint import load_checkpoint
from mapo_cli.learn.config import TrainConfig, changed_model_settings, merge, read_config_file
from mapo_cli.learn.contextual import require_encoder
from mapo_cli.learn.contextual_cache import context_cache
from mapo_cli.learn.evaluation import Evaluator
from mapo_cli.learn.features import Vocabulary, build_vocabulary
from mapo_cli.learn.learner import Learner, initial_model
from mapo_cli.learn.metrics import MetricsLog
from mapo_cli.learn.pretrained import WordVectors, load_vectors, vectors_root, with_known_words
from mapo_cli.learn.run_checkpoints import RunCheckpoints
from mapo_cli.learn.run_dir import CONFIG, latest_checkpoint, prepare_run_dir
from mapo_cli.learn.runner import ProgressFn, Runner, TrainingLoop
from mapo_cli.learn.runner_parallel import run_parallel
from mapo_cli.learn.runner_ray import run_ray
from mapo_cli.learn.runner_serial import run_serial
from mapo_cli.learn.store_updates import StoreUpdates
from mapo_cli.learn.training_data import TrainingData, load_training_data

MemoryFilter = Callable[[TrainingData], dict[str, list[tuple[int, ...]]]]
"""The memory buffers a run trains on, from what the store holds (`drop_spurious`,
`memory_order`)."""


def train(config: TrainConfig, run: Path, resume: bool = False, overwrite: bool = False,
          on_progress: ProgressFn | None = None,
          on_encoding: Callable[[int, int], None] | None = None,
          cluster: RayCluster | None = None, memory_filter: MemoryFilter | None = None) -> dict:
    """Train (or resume) a run; return the last metrics record plus the best accuracy.

    With a pretrained encoder, it first reads every train and dev example not
    in its cache (`on_encoding(done, total)`), so the actors only read the cache.
    `backend = "ray"` runs the actors on `cluster` (default: connect as the
    config says, for this run only). With `drop_spurious` or a `memory_order`
    other than the store's, `memory_filter` (the analysis layer's verdicts and
    groundings, which this layer cannot import) chooses and orders the buffers.
    """
    config.check()
    require_encoder(config.encoder)
    vectors = load_vectors(vectors_root(config.embeddings)) if config.embeddings else None
    torch.set_num_threads(config.threads)
    data = load_training_data(config)  # bad data is an error before RUN is touched
    if config.drop_spurious or config.memory_order != "explored":
        if memory_filter is None:
            raise MapoError("drop_spurious and memory_order need the analysis layer's "
                            "memory_filter (mapo_cli.commands.train passes one)")
        data.memory = memory_filter(data)
    resuming = prepare_run_dir(run, resume, overwrite)
    # A run killed before its first complete checkpoint resumes from the start.
    checkpoint = latest_checkpoint(run, to_resume=True) if resuming else None
    if resuming:
        _check_same_model(run, config)
    vocabulary = _vocabulary(config, data, checkpoint, vectors)
    loop = training_loop(config, run, data, vocabulary, vectors)
    if loop.contexts is not None:
        loop.contexts.fill(((e, data.tables[e["table"]]) for e in data.train + data.dev),
                           on_encoding)
    if checkpoint is not None:
        restored = loop.checkpoints.restore(loop.learner, checkpoint)
        loop.order_rng.setstate(restored.order_rng_state)
        loop.seconds_before = restored.seconds
        loop.metrics.drop_after(loop.learner.step)
    elif resuming:
        loop.metrics.drop_after(0)
    write_text(run / CONFIG, config.to_toml())
    with contextlib.ExitStack() as stack:
        if config.backend == "ray" and cluster is None:  # before the stop request (Ray's handlers)
            cluster = stack.enter_context(RayCluster(config.ray_address, config.actors))
        with StopRequest() as loop.stop:
            summary = runner_for(config, cluster)(loop, on_progress)
    if loop.stop.signal is not None:
        summary["stopped_by"] = signal.Signals(loop.stop.signal).name
    return summary


def training_loop(config: TrainConfig, run: Path, data: TrainingData, vocabulary: Vocabulary,
                  vectors: WordVectors | None = None) -> TrainingLoop:
    """A new run's pieces: the learner (its model seeded) and the loop's helpers."""
    learner = Learner(config, initial_model(config, data, vocabulary, vectors))
    contexts = context_cache(config.encoder)
    max_expressions = data.store_settings["max_expressions"]
    return TrainingLoop(
        config, data, vocabulary, learner,
        Evaluator(data.dev[: config.eval_examples or None], data.tables, data.grammar,
                  vocabulary, max_expressions, contexts),
        MetricsLog(run, len(data.train), {i for i, found in data.memory.items() if found}),
        RunCheckpoints(run, config, vocabulary, data.grammar, max_expressions),
        StoreUpdates(Path(config.store), data.store_settings, config.read_only_store),
        random.Random(config.seed), contexts)


def runner_for(config: TrainConfig, cluster: RayCluster | None = None) -> Runner:
    """Where the actors run: this process (`--serial`), actor processes, or Ray actors."""
    if config.backend == "ray":
        assert cluster is not None, "the ray backend needs a cluster"
        return functools.partial(run_ray, cluster=cluster)
    return run_serial if config.serial else run_parallel


def _check_same_model(run: Path, config: TrainConfig) -> None:
    """A resume that asks for another model shape or vocabulary is refused, not half-applied
    (the checkpoint's weights and words would win while config.toml said otherwise)."""
    changed = changed_model_settings(merge(read_config_file(run / CONFIG), {}), config)
    if changed:
        raise MapoError(f"{run} was trained with {'; '.join(changed)}: a resumed run keeps its "
                        "model settings; resume without changing them, or train a new --run")


def _vocabulary(config: TrainConfig, data: TrainingData, checkpoint: Path | None,
                vectors: WordVectors | None) -> Vocabulary:
    """A resumed run keeps its checkpoint's vocabulary (word ids must not move)."""
    if checkpoint:
        return load_checkpoint(checkpoint, data.grammar).vocabulary
    vocabulary = build_vocabulary(data.train, data.tables, config.min_count, config.match_plurals)
    if vectors is not None:
        every_word = build_vocabulary(data.train + data.dev, data.tables).words
        vocabulary = with_known_words(vocabulary, every_word, vectors)
    return vocabulary
