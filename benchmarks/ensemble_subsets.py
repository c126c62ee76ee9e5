"""Which runs make the best ensemble (issue 40, lever 4: members that differ)?

Usage: python benchmarks/ensemble_subsets.py RUN [RUN ...] --train TRAIN.jsonl --dev DEV.jsonl \
           [--subset 0,1,2 --subset 3,4,5 ...]

Every run decodes TRAIN and DEV once (beam 5) and every program pooled from
all their beams is scored under every run, as `mapo decode RUN...` does for
the whole ensemble. From that one pass, each run alone and each --subset (run
indices, from 0; all the runs if none is given) is ranked two ways, as `mapo
decode` ranks it: by the members' mean probability, and with a reranker fit
on the subset's own TRAIN pools (`mapo rerank SUBSET... TRAIN`, then `mapo
decode SUBSET... DEV --reranker`). A subset's pool is the union of its
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
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--subset", action="append", default=[],
                        help="run indices, comma-separated (repeatable)")
    args = parser.parse_args()
    examples, _ = load_dataset(args.train)
    grammar = data_grammar(examples, args.train)
    train, dev = (decode_all(args.runs, data, args.beam) for data in (args.train, args.dev))
    subsets = [(m,) for m in range(len(args.runs))] + [
        tuple(int(i) for i in text.split(",")) for text in args.subset or
        [",".join(map(str, range(len(args.runs))))]]
    singles = {"beam": [], "reranked": []}
    for members in subsets:
        train_pools, dev_pools = subset_pools(train, members), subset_pools(dev, members)
        reranker = fit_reranker(train_pools, grammar, [str(args.runs[m]) for m in members])
        top = sum(bool(p) and p[0].reward == 1.0 for p in dev_pools)
        reranked = sum(bool(p) and reranker.rank(p)[0].reward == 1.0 for p in dev_pools)
        right = sum(any(d.reward == 1.0 for d in p) for p in dev_pools)
        total = len(dev_pools)
        names = " + ".join(str(args.runs[m]) for m in members)
        print(f"{names}: mean probability {top} ({100 * top / total:.2f} %), reranked "
              f"{reranked} ({100 * reranked / total:.2f} %), a right program in the pool "
              f"{right} ({100 * right / total:.2f} %)", flush=True)
        if len(members) == 1:
            singles["beam"].append(100 * top / total)
            singles["reranked"].append(100 * reranked / total)
    if len(singles["beam"]) > 1:
        for way, values in singles.items():
            print(f"single runs, {way}: {statistics.mean(values):.2f} ± "
                  f"{statistics.stdev(values):.2f} %")


if __name__ == "__main__":
    main()
