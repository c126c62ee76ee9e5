"""How often the gold answer column of a WikiSQL question shares a word with the question.

An upper bound on what the column feature (`learn/features.py`) can tell the model,
with exact words and with `--match-plurals` (`core/text.singular`). Usage:
    python benchmarks/column_overlap.py out/wikisql/train.jsonl out/wikisql/dev.jsonl
(the prepared data; `tables.jsonl` beside it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mapo_cli.core.text import normalize_text, singular


def shares_a_word(example: dict, table: dict, form) -> bool:
    question = {form(w) for token in example["tokens"] for w in normalize_text(token).split()}
    return any(form(w) in question for w in table["columns"][example["sql"]["sel"]].split("_"))


def main(paths: list[str]) -> None:
    for path in map(Path, paths):
        tables = {t["id"]: t for t in map(json.loads, (path.parent / "tables.jsonl").open())}
        examples = [json.loads(line) for line in path.open()]
        exact, plural = (sum(shares_a_word(e, tables[e["table"]], form) for e in examples)
                         for form in (lambda w: w, singular))
        print(f"{path}: {len(examples)} questions; the answer column shares a word with the "
              f"question in {exact} (exact), {plural} (--match-plurals)")


if __name__ == "__main__":
    main(sys.argv[1:])
