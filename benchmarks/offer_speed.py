"""Seconds code assistance spends on offers along random walks, cold caches (whole grammar).

Walks random valid programs from scratch for the first N examples of a
data file, as sampling with an untrained policy does, and reports the time
spent in `valid_tokens`. To compare two versions of `assistance.py`, run it
on each (e.g. from a `git worktree` of the older commit).

Usage: python benchmarks/offer_speed.py DATA.jsonl [--examples 60] [--walks 10]
"""

from __future__ import annotations

import argparse
import random
import time

from mapo_cli.data.dataset import load_dataset
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import load_grammar
from mapo_cli.language.interpreter import Interpreter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--examples", type=int, default=60)
    parser.add_argument("--walks", type=int, default=10)
    args = parser.parse_args()
    examples, tables = load_dataset(args.data)
    rng = random.Random(1)
    offers, seconds = 0, 0.0
    for example in examples[:args.examples]:
        grammar = load_grammar(example["grammar"])
        interpreter = Interpreter(ProgramContext(example, tables[example["table"]], grammar))
        for _ in range(args.walks):
            state = interpreter.start()
            while not state.done:
                start = time.perf_counter()
                valid = interpreter.valid_tokens(state)
                seconds += time.perf_counter() - start
                offers += 1
                state = interpreter.step(state, rng.choice(valid))
    print(f"{offers:,} offers in {seconds:.2f} s ({seconds / offers * 1e3:.2f} ms per offer)")


if __name__ == "__main__":
    main()
