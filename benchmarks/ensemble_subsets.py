"""Which runs make the best ensemble (issue 40, lever 4: members that differ)?

Usage: python benchmarks/ensemble_subsets.py RUN [RUN ...] --dev DEV.jsonl [--train TRAIN.jsonl] \
           [--subset 0,1,2 --subset 3,4,5 ...]

Every run decodes TRAIN and DEV once (beam 5) and every program pooled from
all their beams is scored under every run, as `mapo decode RUN...` does for
the whole ensemble. From that one pass, each run alone and each --subset (run
indices, from 0; all the runs if none is given) is ranked two ways, as `mapo
decode` ranks it: by the members' mean probability, and with a reranker fit
on the subset's own TRAIN pools (`mapo rerank SUBSET... TRAIN`, then `mapo
decode SUBSET... DEV --reranker`; without --train, by the mean probability
alone). A subset's pool is the union of its
members' beams, in member order then beam order, with the scores computed in
the whole pass: teacher forcing in other batches can move a log probability
in its last bits, so a near-tie may rank otherwise than a separate decode.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from mapo_cli.analysis.decode import Decoded, DecodeReport, data_grammar, decode_file
from mapo_cli.analysis.ensemble import _members_log_probs, _pool, by_mean_probability
from mapo_cli.analysis.rerank import fit_reranker
from mapo_cli.data.dataset import load_dataset
from mapo_cli.learn.run_dir import resolve_checkpoint

Scored = tuple[list[DecodeReport], list[list[Decoded]], list[list[list[float]]]]


def decode_all(runs: Sequence[Path], data: Path, beam: int) -> Scored:
    """Every run's beams, the pool of all of them, and every pooled program's log π under
    every run."""
    examples, tables = load_dataset(data)
    grammar = data_grammar(examples, data)
    reports = [decode_file(run, data, beam) for run in runs]
    pools = [_pool([report.results[k] for report in reports]) for k in range(len(examples))]
    log_probs = _members_log_probs([resolve_checkpoint(run) for run in runs], grammar, examples,
                                   tables, [r.results for r in reports], pools, 0)
    return reports, pools, log_probs


def subset_pools(scored: Scored, members: Sequence[int]) -> list[list[Decoded]]:
    """Each question's pool of the `members`' beams, ranked by their mean probability, each
    program with its log π under each of them (what `mapo decode MEMBERS...` ranks)."""
    reports, pools, log_probs = scored
    ranked = []
    for k, everything in enumerate(pools):
        position = {d.tokens: j for j, d in enumerate(everything)}
        pool = _pool([reports[m].results[k] for m in members])
        values = [[log_probs[m][k][position[d.tokens]] for d in pool] for m in members]
        ranked.append([Decoded(pool[j].program, math.log(mean) if mean > 0 else -math.inf,
                               pool[j].answer, pool[j].reward, pool[j].tokens,
                               tuple(member[j] for member in values))
                       for j, mean in by_mean_probability(values)] if pool else [])
    return ranked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--train", type=Path, help="fit each subset's reranker on it")
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--subset", action="append", default=[],
                        help="run indices, comma-separated (repeatable)")
    args = parser.parse_args()
    dev = decode_all(args.runs, args.dev, args.beam)
    if args.train:
        examples, _ = load_dataset(args.train)
        grammar = data_grammar(examples, args.train)
        train = decode_all(args.runs, args.train, args.beam)
    subsets = [(m,) for m in range(len(args.runs))] + [
        tuple(int(i) for i in text.split(",")) for text in args.subset or
        [",".join(map(str, range(len(args.runs))))]]
    singles = {"beam": [], "reranked": []}
    for members in subsets:
        dev_pools = subset_pools(dev, members)
        total = len(dev_pools)
        top = sum(bool(p) and p[0].reward == 1.0 for p in dev_pools)
        right = sum(any(d.reward == 1.0 for d in p) for p in dev_pools)
        shown = f"mean probability {top} ({100 * top / total:.2f} %)"
        if len(members) == 1:
            singles["beam"].append(100 * top / total)
        if args.train:
            reranker = fit_reranker(subset_pools(train, members), grammar,
                                    [str(args.runs[m]) for m in members])
            reranked = sum(bool(p) and reranker.rank(p)[0].reward == 1.0 for p in dev_pools)
            shown += f", reranked {reranked} ({100 * reranked / total:.2f} %)"
            if len(members) == 1:
                singles["reranked"].append(100 * reranked / total)
        names = " + ".join(str(args.runs[m]) for m in members)
        print(f"{names}: {shown}, a right program in the pool {right} "
              f"({100 * right / total:.2f} %)", flush=True)
    for way, values in singles.items():
        if len(values) > 1:
            print(f"single runs, {way}: {statistics.mean(values):.2f} ± "
                  f"{statistics.stdev(values):.2f} %")


if __name__ == "__main__":
    main()
