"""How much of `Programmer._grouped`'s arithmetic is padding, in an actor's real batches?

Usage: python benchmarks/grouped_padding.py RUN_DIR [--batches 8] [--train T --dev D --store S]
(RUN_DIR's config.toml names the data and the store unless given; best.pt is the policy.)

`_grouped` multiplies every decoder row by its example's vectors as one
batched product, each example's rows side by side in a copy of its vectors,
padded to the widest copy (`model._Groups`). This wraps it, runs `--batches`
actor batches (sampling, exploring, scoring the memory buffers), and prints
the products of the padded layout against those the rows need.
"""

from __future__ import annotations

import argparse
import random
import tomllib
from pathlib import Path

import torch

from mapo_cli.learn import model as model_module
from mapo_cli.learn.actor import Actor
from mapo_cli.learn.checkpoint import load_checkpoint
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.training_data import load_training_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--batches", type=int, default=8)
    for name in ("train", "dev", "store"):
        parser.add_argument(f"--{name}", help=f"instead of the run's {name}")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = tomllib.loads((args.run / "config.toml").read_text())
    config = TrainConfig(**{**settings, **{name: getattr(args, name) for name in
                                          ("train", "dev", "store") if getattr(args, name)}})
    data = load_training_data(config)
    checkpoint = load_checkpoint(args.run / "best.pt", data.grammar)
    actor = Actor(config, data.train, data.tables, data.grammar, checkpoint.vocabulary,
                  checkpoint.model, data.memory, data.filters, data.store_settings, seed=0,
                  exhausted=data.exhausted, relaxed=data.relaxed)
    shapes = []  # (copies, vector rows, copy width, decoder rows) of every call
    grouped = model_module.Programmer._grouped

    def counted(groups, per_example, vectors):
        shapes.append((groups.copies, per_example.shape[1], groups.width, len(vectors)))
        return grouped(groups, per_example, vectors)

    model_module.Programmer._grouped = staticmethod(counted)
    ids = [example["id"] for example in data.train]
    random.Random(0).shuffle(ids)
    for b in range(args.batches):
        actor.make_batch(ids[b * config.batch_examples:(b + 1) * config.batch_examples])
    padded = sum(b * x * g for b, x, g, _ in shapes)
    needed = sum(n * x for _, x, _, n in shapes)
    print(f"{len(shapes)} calls: {padded:,} padded products of a vector pair against "
          f"{needed:,} needed ({padded / needed:.1f} times)")


if __name__ == "__main__":
    main()
