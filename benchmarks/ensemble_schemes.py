"""Ways of combining an ensemble's members, compared on the same pooled beams.

Usage: python benchmarks/ensemble_schemes.py BEAMS.jsonl
(BEAMS.jsonl is what `mapo decode RUN_1 RUN_2 ... DATA --beam 5 --programs BEAMS.jsonl`
wrote: every pooled program with its log probability under each member.)

A program counts as correct when its reward is 1, as decode scores it; the
first line, the paper's scheme, reproduces decode's own accuracy. `oracle` is
the share of questions with a correct program anywhere in the pool: what no
way of ranking this pool can pass.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

Program = dict  # one entry of a record's "programs"


def mean_probability(programs: list[Program]) -> Program:
    return max(programs, key=lambda p: sum(math.exp(v) for v in p["member_log_probabilities"]))


def mean_log_probability(programs: list[Program]) -> Program:
    return max(programs, key=lambda p: sum(p["member_log_probabilities"]))


def answer_mass(programs: list[Program]) -> Program:
    """The answer with the most mean probability summed over the programs that give it."""
    mass: dict[tuple, float] = defaultdict(float)
    for p in programs:
        mass[tuple(p["answer"])] += sum(math.exp(v) for v in p["member_log_probabilities"])
    best = max(mass, key=mass.__getitem__)
    return next(p for p in programs if tuple(p["answer"]) == best)


def majority_vote(programs: list[Program]) -> Program:
    """Each member votes for the answer of its own most probable pooled program; ties go to
    the mean probability."""
    members = len(programs[0]["member_log_probabilities"])
    tops = [max(programs, key=lambda p, m=m: p["member_log_probabilities"][m])
            for m in range(members)]
    votes = Counter(tuple(p["answer"]) for p in tops)
    ranked = sorted(programs, key=lambda p: (-votes[tuple(p["answer"])],
                                             -sum(math.exp(v) for v in
                                                  p["member_log_probabilities"])))
    return ranked[0]


SCHEMES: dict[str, Callable[[list[Program]], Program]] = {
    "mean probability (the paper's)": mean_probability,
    "mean log probability": mean_log_probability,
    "probability summed per answer": answer_mass,
    "majority vote of the members' top answers": majority_vote,
}


def compare(records: list[dict]) -> dict[str, int]:
    """Correct questions under every scheme, and the oracle, over all records."""
    counts = {name: 0 for name in SCHEMES} | {"oracle": 0}
    for record in records:
        programs = record["programs"]
        if not programs:
            continue
        for name, choose in SCHEMES.items():
            counts[name] += choose(programs)["reward"] == 1.0
        counts["oracle"] += any(p["reward"] == 1.0 for p in programs)
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    lines = Path(sys.argv[1]).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    if records and records[0]["programs"] and \
            "member_log_probabilities" not in records[0]["programs"][0]:
        sys.exit(f"{sys.argv[1]}: not an ensemble's beams (no member_log_probabilities)")
    for name, correct in compare(records).items():
        print(f"{name:45s} {100 * correct / len(records):6.2f} % ({correct:,} / {len(records):,})")
