"""The one-time cost of the pretrained encoder: fill its cache for some data files, timed.

Usage: python benchmarks/encode_cost.py DATA.jsonl... [--encoder minilm]
(the cache is `$MAPO_CACHE`; point it at an empty directory to time everything).
Prints the examples computed, the wall time, the rate and the cache's size.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mapo_cli.data.dataset import load_dataset
from mapo_cli.learn.contextual_cache import ContextCache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+", type=Path)
    parser.add_argument("--encoder", default="minilm")
    args = parser.parse_args()
    pairs = []
    for path in args.data:
        examples, tables = load_dataset(path)
        pairs += [(e, tables[e["table"]]) for e in examples]
    cache = ContextCache(args.encoder)
    start = time.perf_counter()
    computed = cache.fill(pairs)
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in cache.directory.rglob("*.npz"))
    print(f"{computed:,} of {len(pairs):,} examples computed in {seconds:.1f} s "
          f"({computed / max(seconds, 1e-9):.1f} examples/s, load included); "
          f"cache {cache.directory}: {size / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
