"""Programs per second of the search itself, in one process (no store, no pool).

Usage: python benchmarks/explore_speed.py DATA.jsonl [--examples 30] [--samples 10000]
"""

from __future__ import annotations

import argparse
import time

from mapo_cli.data.dataset import load_dataset
from mapo_cli.search.explore import ExploreSettings, explore_chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--examples", type=int, default=30)
    parser.add_argument("--samples", type=int, default=10000)
    args = parser.parse_args()
    examples, tables = load_dataset(args.data)
    settings = ExploreSettings()
    start = time.perf_counter()
    samples = covered = exhausted = 0
    for example in examples[: args.examples]:
        result = explore_chunk(example, tables[example["table"]], settings, None, 0, args.samples,
                               seed=0, capacity=int(1.3 * args.samples))
        samples += result.samples
        covered += any(r >= 1.0 for r in result.rewards)
        exhausted += result.exhausted
    seconds = time.perf_counter() - start
    print(f"{args.examples} examples, {samples} programs in {seconds:.1f} s: "
          f"{samples / seconds:,.0f} programs/s; covered {covered}, exhausted {exhausted}")


if __name__ == "__main__":
    main()
