"""Where a training step's time goes: the actor's batch and the learner's update, in one process.

Times `--batches` actor batches (sampling, exploring, scoring memory buffers,
weighting) and as many learner updates on them, with a checkpoint's policy
(a trained policy finds and scores different programs than a random one).

Usage: python benchmarks/train_speed.py RUN_DIR [--batches 20] [--warm] [--profile actor|learner]
       [--device cpu|cuda|auto] [--memory-limit K] [--memory-order explored|grounded]
(RUN_DIR's config.toml names the data and the store; the latest checkpoint is used.)
--warm makes the batches once untimed first, so the actor's examples are prepared and
their code-assistance memos filled, as from a run's second epoch on. --device puts the
learner there (the actor stays on the CPU, as in `mapo train --device`). --memory-limit and
--memory-order replace the run's settings (the memory the actor scores).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import os
import pstats
import random
import time
import tomllib
from pathlib import Path

import torch

from mapo_cli.analysis.grounding import grounded_memory
from mapo_cli.core.lru import LRU
from mapo_cli.learn.actor import ITEM_CACHE, Actor
from mapo_cli.learn.checkpoint import load_checkpoint
from mapo_cli.learn.config import MEMORY_ORDERS, TrainConfig
from mapo_cli.learn.device import DEVICES, resolve_device
from mapo_cli.learn.learner import adam, update
from mapo_cli.learn.run_dir import latest_checkpoint
from mapo_cli.learn.training_data import load_training_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--warm", action="store_true",
                        help="time the batches a second time, with the examples prepared")
    parser.add_argument("--profile", choices=("actor", "learner"))
    parser.add_argument("--device", default="cpu", choices=DEVICES)
    parser.add_argument("--memory-limit", type=int)
    parser.add_argument("--memory-order", choices=MEMORY_ORDERS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = TrainConfig(**tomllib.loads((args.run / "config.toml").read_text()))
    config = dataclasses.replace(config, **{name: getattr(args, name) for name in
                                            ("memory_limit", "memory_order")
                                            if getattr(args, name) is not None})
    started = time.perf_counter()
    data = load_training_data(config)
    if config.memory_order == "grounded":
        data.memory = grounded_memory(data.memory, data.train, data.tables, data.grammar,
                                      data.store_settings.get("max_expressions"))
    checkpoint = load_checkpoint(latest_checkpoint(args.run) or args.run / "best.pt", data.grammar)
    print(f"loaded {len(data.train)} examples and their buffers in "
          f"{time.perf_counter() - started:.1f} s")
    model = checkpoint.model
    stale = type(model)(model.config, model.n_words, model.n_builtins)
    stale.load_state_dict(model.state_dict())
    device = resolve_device(args.device)
    model.to(device)
    actor = Actor(config, data.train, data.tables, data.grammar, checkpoint.vocabulary, stale,
                  data.memory, data.filters, data.store_settings, seed=0, exhausted=data.exhausted,
                  relaxed=data.relaxed)
    optimizer = adam(model, config.learning_rate)
    ids = [e["id"] for e in data.train]
    random.Random(0).shuffle(ids)
    batches = [ids[k * config.batch_examples:(k + 1) * config.batch_examples]
               for k in range(args.batches)]
    for example_ids in batches:  # buffers made live once, as in training's first epoch
        for example_id in example_ids:
            actor.buffer(example_id)
    # Cold interpreters, as an epoch of the learner's cache evicts them; or, warm, all kept,
    # as an actor keeps its share (ACTOR_ITEM_CACHE), and the batches made once untimed.
    actor.items = LRU(len(ids) if args.warm else ITEM_CACHE)
    if args.warm:
        for example_ids in batches:
            actor.make_batch(example_ids)
    profiler = cProfile.Profile()
    made, actor_seconds = [], 0.0
    for example_ids in batches:
        start = time.perf_counter()
        if args.profile == "actor":
            profiler.enable()
        made.append(actor.make_batch(example_ids))
        profiler.disable()
        actor_seconds += time.perf_counter() - start
    learner_seconds = 0.0
    for batch in made:
        start = time.perf_counter()
        if args.profile == "learner":
            profiler.enable()
        update(model, optimizer, batch.walked.__getitem__, batch.samples, len(batch.example_ids),
               config.entropy, config.grad_clip)
        if device.type == "cuda":
            torch.cuda.synchronize()
        profiler.disable()
        learner_seconds += time.perf_counter() - start
    samples = sum(len(b.samples) for b in made)
    scored = sum(len(data.memory.get(i, [])[: config.memory_limit]) for b in batches for i in b)
    n = len(made)
    print(f"{n} batches of {config.batch_examples} examples: {samples / n:.1f} samples and "
          f"{scored / n:.0f} buffer programs a batch")
    print(f"actor   {actor_seconds / n:.3f} s a batch")
    print(f"learner {learner_seconds / n:.3f} s a step (on {device})")
    print(f"one core for both: {samples / (actor_seconds + learner_seconds):.1f} samples/s")
    if args.profile:
        pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(30)


if __name__ == "__main__":
    main()
