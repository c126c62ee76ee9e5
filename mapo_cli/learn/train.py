"""The MAPO training loop (Algorithm 2): actors sample, the learner updates, one process writes.

`train` sets a run up (data, run directory, vocabulary, resuming) and hands
it to a runner: `runner_serial.py` runs actor and learner in this process,
in turn (deterministic given the seed); `runner_parallel.py` runs actor
processes that push batches of weighted samples through a queue;
`runner_ray.py` runs Ray actors anywhere in a cluster. Either way
the learner (trainer.py, in this process) updates the model, evaluates on
dev, checkpoints, and writes newly found programs to the store.
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
from mapo_cli.learn.features import Vocabulary, build_vocabulary
from mapo_cli.learn.pretrained import WordVectors, load_vectors, vectors_root, with_known_words
from mapo_cli.learn.run_dir import CONFIG, latest_checkpoint, prepare_run_dir
from mapo_cli.learn.runner import ProgressFn, Runner
from mapo_cli.learn.runner_parallel import run_parallel
from mapo_cli.learn.runner_ray import run_ray
from mapo_cli.learn.runner_serial import run_serial
from mapo_cli.learn.trainer import Trainer
from mapo_cli.learn.training_data import TrainingData, load_training_data


def train(config: TrainConfig, run: Path, resume: bool = False, overwrite: bool = False,
          on_progress: ProgressFn | None = None,
          on_encoding: Callable[[int, int], None] | None = None,
          cluster: RayCluster | None = None) -> dict:
    """Train (or resume) a run; return the last metrics record plus the best accuracy.

    With a pretrained encoder, it first reads every train and dev example not
    in its cache (`on_encoding(done, total)`), so the actors only read the cache.
    `backend = "ray"` runs the actors on `cluster` (default: connect as the
    config says, for this run only).
    """
    config.check()
    require_encoder(config.encoder)
    vectors = load_vectors(vectors_root(config.embeddings)) if config.embeddings else None
    torch.set_num_threads(config.threads)
    data = load_training_data(config)  # bad data is an error before RUN is touched
    resuming = prepare_run_dir(run, resume, overwrite)
    checkpoint = latest_checkpoint(run) if resuming else None
    if resuming and checkpoint is None:
        raise MapoError(f"{run}: no checkpoint to resume from")
    if resuming:
        _check_same_model(run, config)
    vocabulary = _vocabulary(config, data, checkpoint, vectors)
    trainer = Trainer(config, run, data, vocabulary, vectors)
    if trainer.contexts is not None:
        trainer.contexts.fill(((e, data.tables[e["table"]]) for e in data.train + data.dev),
                              on_encoding)
    order_rng = random.Random(config.seed)
    if checkpoint is not None:
        order_rng.setstate(trainer.restore(checkpoint))
    write_text(run / CONFIG, config.to_toml())
    with contextlib.ExitStack() as stack:
        if config.backend == "ray" and cluster is None:  # before the stop request (Ray's handlers)
            cluster = stack.enter_context(RayCluster(config.ray_address, config.actors))
        with StopRequest() as trainer.stop:
            summary = runner_for(config, cluster)(config, trainer, data, vocabulary, order_rng,
                                                  on_progress)
    if trainer.stop.signal is not None:
        summary["stopped_by"] = signal.Signals(trainer.stop.signal).name
    return summary


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
