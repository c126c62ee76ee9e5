"""Does the reranker gain from what of the question a program uses (issue 40, lever 2 at
decode time)?

Usage: python benchmarks/rerank_grounding.py RUN [RUN ...] --train TRAIN.jsonl --dev DEV.jsonl

The runs decode TRAIN and DEV as an ensemble (one run: its own beam), as `mapo
rerank` and `mapo decode --reranker` do. Then `mapo rerank`'s scorer is fit on
the TRAIN pools with its own features, and again with each set of grounding
features appended (`analysis/grounding.py`, the steps of `inspect spurious`'s
rule: the question's mentions the program uses and leaves out, the columns it
uses that the question mentions and does not, the expressions its answer
depends on, whether it uses every mention, whether its answer is words of the
question); each line is its DEV accuracy, the top program of every pool as
ranked by that scorer.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from mapo_cli.analysis.decode import Decoded, data_grammar
from mapo_cli.analysis.ensemble import ensemble_file
from mapo_cli.analysis.grounding import groundings, literal_mentions
from mapo_cli.analysis.rerank import fit_weights, padded_features
from mapo_cli.core.text import normalize_text
from mapo_cli.data.dataset import load_dataset
from mapo_cli.language.context import ProgramContext

GROUNDING = ("entities used", "mentions unused", "mentioned columns", "unmentioned columns",
             "live expressions", "every mention used", "answer in the question")
TRIALS = ((), (0, 1), (2, 3), (4,), (6,), (0, 1, 2, 3), (0, 1, 2, 3, 4, 5, 6))


def grounding_rows(data: Path, ids: Sequence[str], pools: Sequence[Sequence[Decoded]]
                   ) -> list[list[list[float]]]:
    """GROUNDING's values for every program of every pool."""
    examples, tables = load_dataset(data)
    grammar = data_grammar(examples, data)
    by_id = {example["id"]: example for example in examples}
    rows = []
    for example_id, pool in zip(ids, pools, strict=True):
        example = by_id[example_id]
        table = tables[example["table"]]
        ctx = ProgramContext(example, table, grammar)
        mentions = len(set(literal_mentions(example, ctx)))
        question = f" {normalize_text(example['question'])} "
        rows.append([])
        for decoded, g in zip(pool, groundings(example, table, ctx, [d.tokens for d in pool]),
                              strict=True):
            echoed = bool(decoded.answer) and all(
                f" {normalize_text(a)} " in question for a in decoded.answer)
            unused = mentions - g.entities
            rows[-1].append([g.entities, unused, g.mentioned_columns, g.unmentioned_columns,
                             g.expressions, float(unused == 0), float(echoed)])
    return rows


def tensors(pools: Sequence[Sequence[Decoded]], extra: list[list[list[float]]],
            functions: tuple[str, ...], chosen: tuple[int, ...]
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`mapo rerank`'s padded features of the non-empty pools with the `chosen` grounding
    values appended, and its masks."""
    kept = [q for q, pool in enumerate(pools) if pool]
    features, valid, right = padded_features([pools[q] for q in kept], functions)
    more = torch.zeros(*valid.shape, len(chosen), dtype=torch.float64)
    for row, q in enumerate(kept):
        more[row, :len(pools[q])] = torch.tensor([[values[i] for i in chosen]
                                                  for values in extra[q]], dtype=torch.float64)
    return torch.cat([features, more], dim=2), valid, right


def correct(model: tuple[torch.Tensor, ...], features: torch.Tensor, valid: torch.Tensor,
            right: torch.Tensor) -> int:
    """Questions whose top program, as the fitted scorer ranks their pool, is right."""
    mean, spread, weights = model
    scores = ((features - mean) / spread @ weights).masked_fill(~valid, -math.inf)
    top = scores.argmax(1)
    return int(right[torch.arange(len(top)), top].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--beam", type=int, default=5)
    args = parser.parse_args()
    decoded = {}
    for name, data in (("train", args.train), ("dev", args.dev)):
        report = ensemble_file(args.runs, data, args.beam)
        pools = [result.beam for result in report.results]
        decoded[name] = pools, grounding_rows(data, [r.id for r in report.results], pools)
    examples, _ = load_dataset(args.train)
    functions = tuple(f.name for f in data_grammar(examples, args.train).functions)
    dev_pools = decoded["dev"][0]
    top = sum(bool(pool) and pool[0].reward == 1.0 for pool in dev_pools)
    print(f"by the mean probability: {top} of {len(dev_pools)} "
          f"({100 * top / len(dev_pools):.2f} %)")
    for chosen in TRIALS:
        features, valid, right = tensors(*decoded["train"], functions, chosen)
        useful = right.any(1)  # as fit_reranker fits on the pools with a right program
        model = fit_weights(features[useful], valid[useful], right[useful])
        hits = correct(model, *tensors(*decoded["dev"], functions, chosen))
        named = ", ".join(GROUNDING[i] for i in chosen) or "mapo rerank's features alone"
        print(f"{named}: {hits} ({100 * hits / len(dev_pools):.2f} %)", flush=True)


if __name__ == "__main__":
    main()
