"""What an actor's prepared examples cost and save: memory per item, cold batch against warm.

Builds an actor from a run (its config's data and store, its latest
checkpoint), buffers made live first, then makes `--batches` batches of
`--batch-size` shuffled training examples `--passes` times: the first pass
prepares every item (cold), the next ones find them prepared (warm). After
each pass it prints the resident memory the items added, per item, the
lookahead memo entries an item kept, and the seconds a batch took.
`--keep` sets how many lookahead entries an item keeps after a batch
(the actor's LOOKAHEAD_KEEP; a huge number keeps them all).

Usage: python benchmarks/item_cache.py RUN_DIR [--batches 40] [--batch-size 25]
       [--passes 2] [--keep N]
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
from mapo_cli.learn.actor import LOOKAHEAD_KEEP, Actor
from mapo_cli.learn.checkpoint import load_checkpoint
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.run_dir import latest_checkpoint
from mapo_cli.learn.training_data import load_training_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--keep", type=int, default=LOOKAHEAD_KEEP)
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
    actor.lookahead_keep = args.keep
    ids = [e["id"] for e in data.train]
    random.Random(0).shuffle(ids)
    size = args.batch_size
    batches = [ids[k * size:(k + 1) * size] for k in range(args.batches)]
    for batch in batches:  # buffers made live once, as in training's first epoch
        for example_id in batch:
            actor.buffer(example_id)
    before = rss_mib()
    for number in range(1, args.passes + 1):
        start = time.perf_counter()
        for batch in batches:
            actor.make_batch(batch)
        seconds = (time.perf_counter() - start) / len(batches)
        items = len(actor.items)
        after = rss_mib()
        entries = sum(actor.item(i).interpreter.assistant.lookahead_size()
                      for batch in batches for i in batch) / items
        print(f"pass {number} ({'cold' if number == 1 else 'warm'}): {seconds:.3f} s a batch; "
              f"{items} items, {(after - before) / items:.3f} MiB each (resident {before:.0f} "
              f"-> {after:.0f} MiB), {entries:,.0f} lookahead entries each", flush=True)


if __name__ == "__main__":
    main()
