"""How well `mapo rerank`'s scorer ranks an ensemble's pools, fit on held-out folds of them.

Usage: python benchmarks/ensemble_reranker.py BEAMS.jsonl [--folds 5] [--seed 0]
       python benchmarks/ensemble_reranker.py BEAMS.jsonl --fit-on TRAIN_BEAMS.jsonl \
           [--sample 0.5 --seed 0]
(BEAMS.jsonl: `mapo decode RUN_1 RUN_2 ... DATA --beam 5 --programs BEAMS.jsonl`.)

The scorer is `mapo_cli.analysis.rerank`'s, fit on all folds of the file's
questions but one and applied to that fold: a figure fit on the file's own
answers, held out fold by fold, to compare with what `mapo rerank` (fit on
the training questions) reaches; *not* a `mapo decode` accuracy. With
--fit-on it is fit on other beams instead (the same runs decoding their
training questions), as `mapo rerank` fits it, without decoding again;
--sample fits on that share of them, drawn with --seed (how much the figure
depends on which training questions it saw).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from mapo_cli.analysis.decode import Decoded
from mapo_cli.analysis.rerank import Reranker, fit_reranker
from mapo_cli.language.grammar import load_grammar


def load_pools(path: Path) -> list[list[Decoded]]:
    """Each question's pool, as decode ranked it (by the members' mean probability)."""
    pools = []
    for line in path.read_text().splitlines():
        programs = json.loads(line)["programs"]
        if programs and "member_log_probabilities" not in programs[0]:
            sys.exit(f"{path}: not an ensemble's beams (no member_log_probabilities)")
        pools.append([Decoded(p["program"], p["log_probability"], p["answer"], p["reward"], (),
                              tuple(p["member_log_probabilities"])) for p in programs])
    return pools


def right(reranker: Reranker, pool: list[Decoded]) -> bool:
    return bool(pool) and reranker.rank(pool)[0].reward == 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("beams", type=Path)
    parser.add_argument("--grammar", default="wtq")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit-on", type=Path, help="fit on these beams (e.g. the same runs "
                        "decoding training questions) instead of the other folds")
    parser.add_argument("--sample", type=float, default=1.0,
                        help="with --fit-on: fit on this share of its questions")
    args = parser.parse_args()
    grammar = load_grammar(args.grammar)
    pools = load_pools(args.beams)
    members = [f"member {m + 1}" for m in range(len(next(p for p in pools if p)[0].members))]
    by_mean = sum(bool(pool) and pool[0].reward == 1.0 for pool in pools)
    print(f"mean probability: {100 * by_mean / len(pools):.2f} % ({by_mean:,} / {len(pools):,})")
    if args.fit_on is not None:
        fit_on = load_pools(args.fit_on)
        if args.sample < 1.0:
            fit_on = random.Random(args.seed).sample(fit_on, round(args.sample * len(fit_on)))
        reranker = fit_reranker(fit_on, grammar, members)
        correct = sum(right(reranker, pool) for pool in pools)
        print(f"reranker fit on {len(fit_on):,} questions of {args.fit_on}: "
              f"{100 * correct / len(pools):.2f} % ({correct:,} / {len(pools):,})")
        return
    order = list(range(len(pools)))
    random.Random(args.seed).shuffle(order)
    correct = 0
    for fold in range(args.folds):
        held = set(order[fold::args.folds])
        reranker = fit_reranker([pools[i] for i in order if i not in held], grammar, members)
        correct += sum(right(reranker, pools[i]) for i in held)
    print(f"{args.folds}-fold reranker: {100 * correct / len(pools):.2f} % "
          f"({correct:,} / {len(pools):,})")


if __name__ == "__main__":
    main()
