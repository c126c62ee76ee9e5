"""How much a learned reranker could gain over an ensemble's mean probability.

Usage: python benchmarks/ensemble_reranker.py BEAMS.jsonl [--folds 5] [--seed 0]
       python benchmarks/ensemble_reranker.py BEAMS.jsonl --fit-on TRAIN_BEAMS.jsonl
(BEAMS.jsonl: `mapo decode RUN_1 RUN_2 ... DATA --beam 5 --programs BEAMS.jsonl`.)

A linear scorer over a few features of each pooled program (the members'
probabilities, the answer's summed probability and votes, the program's
shape) is fit with a listwise loss (the log of the probability mass on the
programs with the right answer) on all folds of the questions but one, and
picks one program for each question of that fold. The figure is therefore fit
on the file's own answers, held out fold by fold: an estimate of what a
reranker trained on questions like these could reach, *not* a dev accuracy
of `mapo decode`. With --fit-on it is fit on other beams instead (the same
runs decoding their training questions), and no answer of BEAMS is seen.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

import torch

SHAPES = ("count", "argmax", "argmin", "hop", "diff", "filter_", "filter", "first", "last",
          "previous", "next", "same_as", "mode", "max", "min", "sum", "average")  # WTQ's functions


def features(programs: list[dict]) -> list[list[float]]:
    """One row per pooled program."""
    members = len(programs[0]["member_log_probabilities"])
    tops = [max(range(len(programs)), key=lambda j, m=m: programs[j]["member_log_probabilities"][m])
            for m in range(members)]
    mass: dict[tuple, float] = {}
    votes: dict[tuple, int] = {}
    for p in programs:
        answer = tuple(p["answer"])
        mass[answer] = mass.get(answer, 0.0) + p["probability"]
    for j in tops:
        answer = tuple(programs[j]["answer"])
        votes[answer] = votes.get(answer, 0) + 1
    rows = []
    for j, p in enumerate(programs):
        log_probs, answer, program = p["member_log_probabilities"], tuple(p["answer"]), p["program"]
        numeric = bool(answer) and all(_is_number(a) for a in answer)
        rows.append([math.log(max(p["probability"], 1e-12)), sum(log_probs) / members,
                     min(log_probs), max(log_probs), math.log(max(mass[answer], 1e-12)),
                     votes.get(answer, 0) / members, tops.count(j) / members,
                     program.count("("), float(numeric), float(len(answer) > 1),
                     float(not answer)] +
                    [float(f"({shape}" in program) for shape in SHAPES])
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def fit(pools: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, ...]:
    """Weights (and the standardisation) maximising the mass on right answers."""
    useful = [(x, y) for x, y in pools if y.any()]
    stacked = torch.cat([x for x, _ in useful])
    mean, spread = stacked.mean(0), stacked.std(0) + 1e-6
    weights = torch.zeros(stacked.shape[1], requires_grad=True)
    optimiser = torch.optim.LBFGS([weights], max_iter=200)

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        total = sum(torch.logsumexp(s, 0) - torch.logsumexp(s[y], 0)
                    for s, y in (((x - mean) / spread @ weights, y) for x, y in useful))
        value = total / len(useful) + 1e-3 * (weights * weights).sum()
        value.backward()
        return value

    optimiser.step(loss)
    return weights.detach(), mean, spread


def load_pools(path: Path) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], int]:
    """Each decoded question's features and right answers, and the number of questions."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    if any(r["programs"] and "member_log_probabilities" not in r["programs"][0]
           for r in records):
        sys.exit(f"{path}: not an ensemble's beams (no member_log_probabilities)")
    return [(torch.tensor(features(r["programs"]), dtype=torch.float32),
             torch.tensor([p["reward"] == 1.0 for p in r["programs"]]))
            for r in records if r["programs"]], len(records)


def picks_right(model: tuple[torch.Tensor, ...], pool: tuple[torch.Tensor, torch.Tensor]) -> bool:
    weights, mean, spread = model
    x, y = pool
    return bool(y[int(((x - mean) / spread @ weights).argmax())])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("beams", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit-on", type=Path, help="fit on these beams (e.g. the same runs "
                        "decoding training questions) instead of the other folds")
    args = parser.parse_args()
    pools, total = load_pools(args.beams)
    if args.fit_on is not None:
        model = fit(load_pools(args.fit_on)[0])
        correct = sum(picks_right(model, pool) for pool in pools)
        print(f"reranker fit on {args.fit_on}: {100 * correct / total:.2f} % "
              f"({correct:,} / {total:,})")
        return
    order = list(range(len(pools)))
    random.Random(args.seed).shuffle(order)
    correct = 0
    for fold in range(args.folds):
        held = set(order[fold::args.folds])
        model = fit([pools[i] for i in order if i not in held])
        correct += sum(picks_right(model, pools[i]) for i in held)
    print(f"{args.folds}-fold reranker: {100 * correct / total:.2f} % ({correct:,} / {total:,})")


if __name__ == "__main__":
    main()
