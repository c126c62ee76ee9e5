"""What `--backend ray` costs on one machine: explore and train with Ray against local processes.

On the first N examples of a prepared training file: explore with each
backend (same seed; the two stores are compared), then train from the local
store with each backend for the same time (bench-train's model settings,
two actors), and report programs/s, samples/s, their ratios (ray / local),
Ray's start-up time and the memory its processes add. Run it on a quiet
machine: it measures the sharing otherwise.

Usage: python benchmarks/ray_backend.py TRAIN.jsonl DEV.jsonl OUT_DIR
       [--examples 1500] [--samples 1000] [--train-seconds 240] [--eval-examples 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Self

from memory import rss_mib

from mapo_cli.core.cluster import RayCluster
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.train import train
from mapo_cli.search.driver import explore_data
from mapo_cli.search.explore import ExploreSettings
from mapo_cli.store.store import Store


def subset(source: Path, out: Path, n: int) -> Path:
    """The first n examples of `source`, beside a copy of its tables file."""
    out.mkdir(parents=True, exist_ok=True)
    lines = source.read_text(encoding="utf-8").splitlines()[:n]
    path = out / source.name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copy(source.parent / "tables.jsonl", out / "tables.jsonl")
    return path


def contents(store: Path) -> dict:
    with Store.open_readonly(store) as opened:
        return {i: (opened.read_memory(i), opened.read_filter(i),
                    {k: v for k, v in (opened.read_status(i) or {}).items() if k != "seconds"})
                for i in opened.ids()}


class RayMemory:
    """The largest total resident memory of Ray's own processes seen while it runs (MiB)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            self.peak = max(self.peak, ray_rss_mib())


def ray_rss_mib() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            if b"ray" not in command:
                continue
            total += rss_mib(entry / "status")
        except OSError:
            continue
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train")
    parser.add_argument("dev")
    parser.add_argument("out")
    parser.add_argument("--examples", type=int, default=1500)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--train-seconds", type=float, default=240)
    parser.add_argument("--eval-examples", type=int, default=200)
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    data = subset(Path(args.train), out / "data", args.examples)
    dev = Path(args.dev)
    results: dict = {"examples": args.examples, "samples_per_example": args.samples,
                     "cpus": os.cpu_count()}
    explore = {"workers": 2, "samples_per_example": args.samples, "seed": 0}

    local = explore_data(data, out / "store-local", ExploreSettings(), **explore)
    results["explore_local_programs_per_second"] = local["programs_per_second"]
    driver_before = rss_mib()
    with RayCluster() as cluster, RayMemory() as memory:
        results["ray_start_seconds"] = round(cluster.start_seconds, 2)
        results["driver_added_mib"] = round(rss_mib() - driver_before, 1)  # import, init
        time.sleep(2)
        results["ray_idle_mib"] = round(ray_rss_mib(), 1)  # its own processes, before any work
        on_ray = explore_data(data, out / "store-ray", ExploreSettings(), cluster=cluster,
                              **explore)
        results["explore_ray_programs_per_second"] = on_ray["programs_per_second"]
        results["stores_equal"] = contents(out / "store-local") == contents(out / "store-ray")
        print(json.dumps(results), flush=True)

        def config(backend: str) -> TrainConfig:
            return TrainConfig(train=str(data), dev=str(dev), store=str(out / "store-local"),
                               read_only_store=True, embeddings="glove-6b-50d",
                               freeze_embeddings=True, min_count=10, dropout=0.3,
                               average_decay=0.999, seed=1, steps=10**6,
                               seconds=args.train_seconds, eval_every=10**6,
                               eval_examples=args.eval_examples, actors=2, backend=backend)

        trained = train(config("ray"), out / "run-ray", cluster=cluster)
        results["train_ray_samples_per_second"] = trained["samples_per_second"]
        results["train_ray_steps"] = trained["steps"]
        results["ray_processes_peak_mib"] = round(memory.peak, 1)
    trained = train(config("local"), out / "run-local")
    results["train_local_samples_per_second"] = trained["samples_per_second"]
    results["train_local_steps"] = trained["steps"]
    results["explore_ratio"] = round(results["explore_ray_programs_per_second"]
                                     / results["explore_local_programs_per_second"], 3)
    results["train_ratio"] = round(results["train_ray_samples_per_second"]
                                   / results["train_local_samples_per_second"], 3)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
