"""How long `mapo ask` takes: one question from process start, and each further one on stdin.

Usage: python benchmarks/ask_latency.py [RUN] [--questions 20] [--repeats 3]
           [--rows 50] [--columns 5] [--empty-cache]

Writes a table of made-up city data (--rows rows; columns past the first five
are made-up metrics, numbers and words) to a temporary CSV, then times (best
of --repeats) `mapo ask [RUN] TABLE QUESTION` as a fresh process (no RUN: the
bundled model), and `mapo ask [RUN] TABLE` with --questions questions on
stdin; the time per further question is the difference divided by the extra
questions. --empty-cache gives every process an empty encoder cache.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = ["which city has the largest population?", "how many cities are in norway?",
             "what is the population of city 17?", "which country has the most cities?",
             "what city comes after city 3?", "how many cities were founded before 1500?"]


def write_table(path: Path, rows: int = 50, columns: int = 5) -> None:
    rng = random.Random(0)
    countries = ["Norway", "Chile", "Peru", "Kenya", "Japan", "Spain", "Canada"]
    words = ["alpha", "beta", "gamma delta", ""]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["City", "Country", "Population", "Founded", "Area (km2)",
                         *(f"Metric {j}" for j in range(columns - 5))])
        for i in range(rows):
            writer.writerow([f"City {i + 1}", rng.choice(countries), rng.randrange(10**4, 10**7),
                             rng.randrange(800, 2000), round(rng.uniform(10, 3000), 1),
                             *(rng.randrange(1000) if j % 3 else rng.choice(words)
                               for j in range(columns - 5))])


def timed(command: list[str], stdin: str | None = None, empty_cache: bool = False) -> float:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "MAPO_CACHE": cache} if empty_cache else None
        start = time.perf_counter()
        subprocess.run(command, input=stdin, text=True, check=True, stdout=subprocess.DEVNULL,
                       env=env)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default=None)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--columns", type=int, default=5)
    parser.add_argument("--empty-cache", action="store_true")
    args = parser.parse_args()
    mapo = str(Path(sys.executable).with_name("mapo"))
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "cities.csv"
        write_table(table, args.rows, args.columns)
        base = [mapo, "ask", *([args.run] if args.run else []), str(table),
                "--max-rows", str(max(args.rows, 1))]
        one = min(timed([*base, QUESTIONS[0]], empty_cache=args.empty_cache)
                  for _ in range(args.repeats))
        lines = "\n".join(QUESTIONS[k % len(QUESTIONS)] for k in range(args.questions)) + "\n"
        many = min(timed(base, lines, args.empty_cache) for _ in range(args.repeats))
    per_question = (many - one) / max(1, args.questions - 1)
    print(f"{args.rows} rows x {args.columns} columns"
          f"{', empty encoder cache' if args.empty_cache else ''}: one question from process "
          f"start: {one:.2f} s; {args.questions} on stdin: {many:.2f} s, "
          f"{per_question * 1000:.0f} ms per further question")


if __name__ == "__main__":
    main()
