"""Several trained runs decode together, as the paper's ensemble of five models did.

Every member beam-searches the file (`decode_file`); each example's programs
from all the beams are pooled, every pooled program is scored under every
member (a program outside a member's beam is scored by teacher forcing), and
the pool is ranked by the members' mean probability. A program's answer does
not depend on the member, so the prediction is the top pooled program's. An
ensemble of one ranks its member's beam as the beam is ranked: the same
predictions (ties keep the pooled order, which is the member's beam order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from mapo_cli.analysis.decode import (
    Decoded,
    DecodeReport,
    ExampleResult,
    data_grammar,
    decode_file,
    load_decoder,
)
from mapo_cli.core.cluster import RayCluster
from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import load_dataset
from mapo_cli.data.scoring import score_answers
from mapo_cli.learn.decoding import Prepared, Program, tree_log_probs
from mapo_cli.learn.run_dir import resolve_checkpoint

SCORE_BATCH = 32  # examples whose pooled programs one member scores together


def ensemble_file(models: list[Path], data: Path, beam_size: int = 5, workers: int = 0,
                  batch: int = 32, on_progress: Callable[[int, int], None] | None = None,
                  on_encoding: Callable[[int, int], None] | None = None,
                  cluster: RayCluster | None = None) -> DecodeReport:
    """Decode `data` with every model (on `cluster` if given), pool the beams, rank by the
    mean probability."""
    if not models:
        raise MapoError("an ensemble needs at least one run")
    examples, tables = load_dataset(data)
    if not examples:
        raise MapoError(f"{data}: no examples")
    grammar = data_grammar(examples, Path(data))
    total = len(examples) * len(models)

    def member_progress(index: int) -> Callable[[int, int], None] | None:
        if on_progress is None:
            return None
        return lambda done, _n: on_progress(index * len(examples) + done, total)

    reports = [decode_file(m, data, beam_size, workers, batch, member_progress(i), on_encoding,
                           cluster) for i, m in enumerate(models)]
    pools = [_pool([report.results[k] for report in reports]) for k in range(len(examples))]
    log_probs = [_member_log_probs(resolve_checkpoint(Path(m)), grammar, examples, tables,
                                   [r.results for r in reports][i], pools)
                 for i, m in enumerate(models)]
    results = []
    for k, example in enumerate(examples):
        ranked = by_mean_probability([member[k] for member in log_probs])
        beam = [Decoded(pools[k][j].program, math.log(mean) if mean > 0 else -math.inf,
                        pools[k][j].answer, pools[k][j].reward, pools[k][j].tokens,
                        tuple(member[k][j] for member in log_probs))
                for j, mean in ranked]
        errors = [r.results[k].error for r in reports if r.results[k].error]
        results.append(ExampleResult(example["id"], example["question"], beam,
                                     errors[0] if errors and not beam else None))
    scored = score_answers({r.id: r.prediction for r in results}, examples)
    report = DecodeReport(
        " + ".join(r.checkpoint for r in reports), str(data), beam_size, reports[0].workers,
        scored.accuracy, scored.correct, scored.total, sum(not r.beam for r in results),
        sum(r.seconds for r in reports), results, scored.per_example)
    report.members = [r.summary() for r in reports]
    return report


def _pool(results: list[ExampleResult]) -> list[Decoded]:
    """The distinct programs of one example's beams, in member order then beam order."""
    pooled: dict[tuple[int, ...], Decoded] = {}
    for result in results:
        for decoded in result.beam:
            pooled.setdefault(decoded.tokens, decoded)
    return list(pooled.values())


def _member_log_probs(checkpoint: Path, grammar, examples: list[dict], tables: dict[str, dict],
                      own: list[ExampleResult], pools: list[list[Decoded]]) -> list[list[float]]:
    """log π of every pooled program under one member: its own beam's value where it has one."""
    known = [{d.tokens: d.log_probability for d in result.beam} for result in own]
    values = [[known[k].get(d.tokens) for d in pool] for k, pool in enumerate(pools)]
    missing = [k for k, row in enumerate(values) if any(v is None for v in row)]
    if not missing:
        return values
    decoder = load_decoder(checkpoint, grammar)
    cp = decoder.checkpoint
    cp.model.eval()
    with torch.no_grad():
        for start in range(0, len(missing), SCORE_BATCH):
            chunk = missing[start:start + SCORE_BATCH]
            items = [decoder.prepare(examples[k], tables[examples[k]["table"]]) for k in chunk]
            filled = fill_missing(cp.model, items, [[d.tokens for d in pools[k]] for k in chunk],
                                  [values[k] for k in chunk])
            for k, row in zip(chunk, filled, strict=True):
                values[k] = row
    return values


def fill_missing(model: torch.nn.Module, items: Sequence[Prepared],
                 pools: Sequence[Sequence[Program]],
                 values: Sequence[Sequence[float | None]]) -> list[list[float]]:
    """One member's log π of every pooled program: `values` where known (its own beam),
    the others scored by teacher forcing, all of `items` in one batch."""
    missing = [[p for p, v in zip(pool, row, strict=True) if v is None]
               for pool, row in zip(pools, values, strict=True)]
    scores = (tree_log_probs(model, list(items), missing) if any(missing)
              else [[] for _ in missing])
    filled = []
    for row, scored in zip(values, scores, strict=True):
        fill = iter(scored)
        filled.append([next(fill) if v is None else v for v in row])
    return filled


def by_mean_probability(log_probs: Sequence[Sequence[float]]) -> list[tuple[int, float]]:
    """The pooled programs' indices with their mean probability over the members, best first.

    The sort is stable: ties keep the pool's order, so an ensemble of one keeps
    its member's beam order.
    """
    mean = [sum(math.exp(member[j]) for member in log_probs) / len(log_probs)
            for j in range(len(log_probs[0]))]
    return sorted(enumerate(mean), key=lambda pair: -pair[1])
