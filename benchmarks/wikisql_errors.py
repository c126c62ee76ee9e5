"""Which column a decoded WikiSQL answer comes from, against the gold sql's `sel` column.

The error BENCHMARKS.md names for WikiSQL dev: the top program filters on the
right column and then hops to that same column, answering with the question's
own entity (the gold sql never selects a condition column). Counts, per beams
file, the top programs that answer from the gold column, from a column they
filtered on, or from another one. Usage:
    python benchmarks/wikisql_errors.py out/wikisql/dev.jsonl RUN/dev-beams.jsonl [RUN2/...]
(the prepared data, `tables.jsonl` beside it; the beams of `mapo decode --programs`).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

COLUMN = re.compile(r"r\.(\S+?)-(?:str|num)\b")
EXPRESSION = re.compile(r"\(([^()]*)\)")


def answer_source(program: str, gold_column: str) -> str:
    """`gold column`, `a filtered column` (a hop to a column it filtered on), `other column`,
    or `no column` (count): where the last expression takes its answer from."""
    expressions = EXPRESSION.findall(program)
    if not expressions:
        return "no program"
    *earlier, last = expressions
    columns = COLUMN.findall(last)
    if not columns:
        return "no column"
    if columns[-1] == gold_column:
        return "gold column"
    filtered = {c for e in earlier if e.startswith("filter") for c in COLUMN.findall(e)}
    return "a filtered column" if columns[-1] in filtered else "other column"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def main(data: str, beams_files: list[str]) -> None:
    tables = {t["id"]: t for t in _lines(Path(data).parent / "tables.jsonl")}
    examples = {e["id"]: e for e in _lines(Path(data))}
    for path in beams_files:
        counts: Counter[tuple[bool, str]] = Counter()
        for record in _lines(Path(path)):
            example = examples[record["id"]]
            gold = tables[example["table"]]["columns"][example["sql"]["sel"]]
            top = record["programs"][0]["program"] if record["programs"] else ""
            counts[record["correct"], answer_source(top, gold)] += 1
        total = sum(counts.values())
        print(f"{path}: {total} questions")
        for correct in (True, False):
            row = ", ".join(f"{source} {n}" for (right, source), n in sorted(counts.items())
                            if right == correct)
            print(f"  {'right' if correct else 'wrong'} ({sum(n for (r, _), n in counts.items() if r == correct)}): {row}")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
