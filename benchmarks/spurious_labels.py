"""How good are `mapo inspect spurious`'s verdicts? Precision and recall of "likely correct"
against programs labelled by hand as right for the right reason.

Usage:
    mapo inspect spurious out/wtq-store --limit 150 --out /tmp/spurious.jsonl
    python benchmarks/spurious_labels.py benchmarks/data/spurious_labels.jsonl /tmp/spurious.jsonl

The labels (one JSON object a line: `id`, `right_reason`: the programs of the
example's memory that answer for the right reason, in notation; empty when
none does; `held_out`: labelled without seeing the verdicts) name programs, not classes, so they stay valid whatever the
fictitious tables group together. For every labelled example with several
behaviour classes in the analysis:

- precision: the share of likely-correct classes that hold a right-reason program;
- recall: the share of examples with a right-reason program whose likely-correct
  classes include one of its classes;
- no right-reason program: the share of examples whose memory has none at all
  (every verdict on them is wrong).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("analysis", type=Path, help="`mapo inspect spurious --out` output")
    parser.add_argument("--show", action="store_true", help="list the wrong verdicts")
    parser.add_argument("--held-out", action="store_true",
                        help="only the labels marked held_out (made without seeing verdicts, "
                             "after the rule was tuned on the others)")
    args = parser.parse_args()
    labels = {row["id"]: row for row in read_jsonl(args.labels)
              if row.get("held_out", False) or not args.held_out}
    likely = right_likely = with_right = found = without = examples = 0
    skipped: list[str] = []
    for row in read_jsonl(args.analysis):
        label = labels.get(row["id"])
        if label is None or row["n_classes"] < 2:
            continue
        class_of = {p["program"]: p["class"] for p in row["programs"]}
        missing = [p for p in label["right_reason"] if p not in class_of]
        if missing:  # a store explored under other semantics or settings: skip, say how many
            skipped.append(row["id"])
            continue
        examples += 1
        right = {class_of[p] for p in label["right_reason"]}
        chosen = {c["class"] for c in row["classes"] if c["likely_correct"]}
        likely += len(chosen)
        right_likely += len(chosen & right)
        with_right += bool(right)
        found += bool(chosen & right)
        without += not right
        if args.show and not chosen <= right:
            print(f"{row['id']}: likely correct {sorted(chosen)}, right reason {sorted(right)}")
    if not examples:
        raise SystemExit("no labelled example with several classes in the analysis")
    print(f"{examples} labelled examples with several behaviour classes")
    if skipped:
        print(f"skipped {len(skipped)} whose labelled programs are not in this store's memory: "
              f"{', '.join(skipped)}")
    print(f"precision of 'likely correct': {right_likely}/{likely} = {right_likely / likely:.1%}")
    print(f"recall: {found}/{with_right} = {found / max(with_right, 1):.1%}")
    print(f"no right-reason program in memory: {without}/{examples} = {without / examples:.1%}")


if __name__ == "__main__":
    main()
