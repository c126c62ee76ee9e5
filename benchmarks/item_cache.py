"""What an actor's prepared examples cost and save: memory per item, cold batch against warm.

Builds an actor from a run (its config's data and store, its latest
checkpoint), buffers made live first, then makes `--batches` batches of 25
shuffled training examples twice: the first pass prepares every item (cold),
the second finds them prepared (warm). Prints the resident memory the items
added, per item, and the seconds a batch of each pass.

Usage: python benchmarks/item_cache.py RUN_DIR [--batches 40]
"""

from __future__ import annotations

import argparse
import random
import time
import tomllib
from pathlib import Path

import torch
from memory import rss_mib

from mapo_cli.core.lru import LRU
from mapo_cli.learn.actor import Actor
from mapo_cli.learn.checkpoint import load_checkpoint
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.run_dir import latest_checkpoint
from mapo_cli.learn.training_data import load_training_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = TrainConfig(**tomllib.loads((args.run / "config.toml").read_text()))
    data = load_training_data(config)
    checkpoint = load_checkpoint(latest_checkpoint(args.run) or args.run / "best.pt",
                                 data.grammar)
    actor = Actor(config, data.train, data.tables, data.grammar, checkpoint.vocabulary,
                  checkpoint.model, data.memory, data.filters, data.store_settings, seed=0,
                  exhausted=data.exhausted, relaxed=data.relaxed)
    actor.items = LRU(10**6)  # nothing evicted: the second pass finds every item prepared
    ids = [e["id"] for e in data.train]
    random.Random(0).shuffle(ids)
    batches = [ids[k * 25:(k + 1) * 25] for k in range(args.batches)]
    for batch in batches:  # buffers made live once, as in training's first epoch
        for example_id in batch:
            actor.buffer(example_id)
    before = rss_mib()
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        for batch in batches:
            actor.make_batch(batch)
        seconds.append((time.perf_counter() - start) / len(batches))
        if len(seconds) == 1:
            after = rss_mib()
    items = len(actor.items)
    print(f"{items} items: {(after - before) / items:.3f} MiB each "
          f"(resident {before:.0f} -> {after:.0f} MiB); "
          f"cold {seconds[0]:.3f} s a batch, warm {seconds[1]:.3f} s a batch")


if __name__ == "__main__":
    main()
