"""How long `mapo ask` takes: one question from process start, and each further one on stdin.

Usage: python benchmarks/ask_latency.py RUN [--questions 20] [--repeats 3]

Writes a 50-row table of made-up city data to a temporary CSV, then times
(best of --repeats) `mapo ask RUN TABLE QUESTION` as a fresh process, and
`mapo ask RUN TABLE` with --questions questions on stdin; the time per
further question is the difference divided by the extra questions.
"""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = ["which city has the largest population?", "how many cities are in norway?",
             "what is the population of city 17?", "which country has the most cities?",
             "what city comes after city 3?", "how many cities were founded before 1500?"]


def write_table(path: Path) -> None:
    rng = random.Random(0)
    countries = ["Norway", "Chile", "Peru", "Kenya", "Japan", "Spain", "Canada"]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["City", "Country", "Population", "Founded", "Area (km2)"])
        for i in range(50):
            writer.writerow([f"City {i + 1}", rng.choice(countries), rng.randrange(10**4, 10**7),
                             rng.randrange(800, 2000), round(rng.uniform(10, 3000), 1)])


def timed(command: list[str], stdin: str | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, input=stdin, text=True, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    mapo = str(Path(sys.executable).with_name("mapo"))
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "cities.csv"
        write_table(table)
        base = [mapo, "ask", str(args.run), str(table)]
        one = min(timed([*base, QUESTIONS[0]]) for _ in range(args.repeats))
        lines = "\n".join(QUESTIONS[k % len(QUESTIONS)] for k in range(args.questions)) + "\n"
        many = min(timed(base, lines) for _ in range(args.repeats))
    per_question = (many - one) / max(1, args.questions - 1)
    print(f"one question from process start: {one:.2f} s; {args.questions} on stdin: "
          f"{many:.2f} s, {per_question * 1000:.0f} ms per further question")


if __name__ == "__main__":
    main()
