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
from mapo_cli.analysis.grounding import grounding, literal_mentions, mentioned_columns
from mapo_cli.analysis.rerank import L2, feature_names, pool_features
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
        named, mentions = mentioned_columns(example, table), literal_mentions(example, ctx)
        question = f" {normalize_text(example['question'])} "
        rows.append([])
        for decoded in pool:
            g = grounding(decoded.tokens, ctx, named, mentions)
            echoed = bool(decoded.answer) and all(
                f" {normalize_text(a)} " in question for a in decoded.answer)
            unused = len(set(mentions)) - g.entities
            rows[-1].append([g.entities, unused, g.mentioned_columns, g.unmentioned_columns,
                             g.expressions, float(unused == 0), float(echoed)])
    return rows


def tensors(pools: Sequence[Sequence[Decoded]], extra: list[list[list[float]]],
            functions: tuple[str, ...], chosen: tuple[int, ...]
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[questions, widest pool, features] with the masks of real and of right programs."""
    width = max(len(pool) for pool in pools)
    base = len(feature_names(functions))
    features = torch.zeros(len(pools), width, base + len(chosen), dtype=torch.float64)
    valid = torch.zeros(len(pools), width, dtype=torch.bool)
    right = torch.zeros(len(pools), width, dtype=torch.bool)
    for q, pool in enumerate(pools):
        if not pool:
            continue
        rows = [row + [more[i] for i in chosen]
                for row, more in zip(pool_features(pool, functions), extra[q], strict=True)]
        features[q, :len(pool)] = torch.tensor(rows, dtype=torch.float64)
        valid[q, :len(pool)] = True
        right[q, :len(pool)] = torch.tensor([d.reward == 1.0 for d in pool])
    return features, valid, right


def fit(features: torch.Tensor, valid: torch.Tensor, right: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`fit_reranker`'s fit (standardised features, listwise loss, L2) on these columns."""
    useful = right.any(1)
    features, valid, right = features[useful], valid[useful], right[useful]
    rows = features[valid]
    mean, spread = rows.mean(0), rows.std(0, unbiased=False) + 1e-6
    standard = (features - mean) / spread
    weights = torch.zeros(len(mean), dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights], max_iter=200)

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        scores = standard @ weights
        value = (torch.logsumexp(scores.masked_fill(~valid, -math.inf), 1)
                 - torch.logsumexp(scores.masked_fill(~right, -math.inf), 1)).mean()
        value = value + L2 * (weights * weights).sum()
        value.backward()
        return value

    optimiser.step(loss)
    return mean, spread, weights.detach()


def correct(model: tuple[torch.Tensor, ...], features: torch.Tensor, valid: torch.Tensor,
            right: torch.Tensor) -> int:
    mean, spread, weights = model
    scores = ((features - mean) / spread @ weights).masked_fill(~valid, -math.inf)
    top = scores.argmax(1)
    return int((right[torch.arange(len(top)), top] & valid.any(1)).sum())


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
        model = fit(*tensors(*decoded["train"], functions, chosen))
        right = correct(model, *tensors(*decoded["dev"], functions, chosen))
        named = ", ".join(GROUNDING[i] for i in chosen) or "mapo rerank's features alone"
        print(f"{named}: {right} ({100 * right / len(dev_pools):.2f} %)", flush=True)


if __name__ == "__main__":
    main()
