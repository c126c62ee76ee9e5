"""Generate mapo's bundled demo dataset (WikiTableQuestions release layout).

Stand-alone and standard-library only; seeded and deterministic:

    python datasets/demo/generate.py            # writes datasets/demo/
    python datasets/demo/generate.py --out DIR --seed 0

Writes, under the output directory:

- `csv/200-csv/<k>.csv`: small Wikipedia-like tables (medal tables, election
  results, discographies, skyscrapers, race results, league tables, episode
  lists, athletes' competition records), WikiTableQuestions CSV dialect;
- `tagged/200-tagged/<k>.tagged`: the matching CoreNLP-style cell annotation
  (`number` and `date` filled where a cell is a number, a date or a year);
- `data/training.tsv`, `data/random-split-1-train.tsv`,
  `data/random-split-1-dev.tsv`: templated questions with the answers the
  generator computed (an 80/20 split by table);
- `programs.tsv`: a reference program for every question, in DESIGN.md's
  notation, at most 3 expressions, whose answer is the question's target.

Every answer is computed by running the reference program with a small
interpreter (generator/interpreter.py, the semantics of grammars/wtq.toml),
and a question is kept only when its answer is unique and unambiguous:
superlatives without ties, entity strings that occur in exactly one column
and match exactly the intended rows, numbers written as digits in the
question, and so on.

This file is the entry point; the pieces are in `generator/`: the table
builders in `tables.py` (cell values from `words.toml`), the question
phrasings in `templates/<kind>.toml`, the checks in `questions.py`.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

# generator/ beside this file: on sys.path already, except under python -P or -I
sys.path.insert(0, str(Path(__file__).resolve().parent))
from generator import questions, release, tables

TABLES_PER_KIND = 5


def build(seed: int) -> tuple[list[tables.Table], list[dict]]:
    """Five tables of each kind in a seeded order, 11 to 15 questions on each."""
    rng = random.Random(seed)
    makers = [kind for kind in tables.KINDS for _ in range(TABLES_PER_KIND)]
    rng.shuffle(makers)
    made, asked = [], []
    for k, maker in enumerate(makers):
        table = maker(rng)
        table.id = f"csv/200-csv/{k}.csv"
        made.append(table)
        chosen = questions.choose(questions.propose(table, rng), rng, rng.randint(11, 15))
        for q in chosen:
            q["table"] = table.id
        asked.extend(chosen)
    rng.shuffle(asked)
    for n, q in enumerate(asked):
        q["id"] = f"nt-{n}"
    return made, asked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output directory (default: the directory of this script)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    options = parser.parse_args()
    made, asked = build(options.seed)
    summary = release.write(options.out, made, asked, [kind.__name__ for kind in tables.KINDS],
                            options.seed)
    print(f"{summary['tables']} tables, {summary['questions']} questions "
          f"({summary['train']} train / {summary['dev']} dev) in {options.out}")
    for kind, count in sorted(summary["types"].items()):
        print(f"  {kind:<14} {count}")


if __name__ == "__main__":
    main()
