"""Several trained runs decode together, as the paper's ensemble of five models did.

Every member beam-searches the file (`decode_file`); each example's programs
from all the beams are pooled, every pooled program is scored under every
member (a program outside a member's beam is scored by teacher forcing, in
worker processes that each load the members once), and the pool is ranked
by the members' mean probability, or by a fitted reranker (`rerank.py`). A
program's answer does not depend on the member, so the prediction is the top
pooled program's. An ensemble of one ranks its member's beam as the beam is
ranked: the same predictions (ties keep the pooled order, which is the
member's beam order).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from mapo_cli.analysis.decode import (
    Decoded,
    Decoder,
    DecodeReport,
    ExampleResult,
    data_grammar,
    decode_file,
    load_decoder,
    one_torch_thread,
    workers_for,
)
from mapo_cli.core.cluster import RayCluster
from mapo_cli.core.errors import MapoError
from mapo_cli.core.processes import in_worker_pool
from mapo_cli.core.stop import StopRequest
from mapo_cli.data.dataset import load_dataset, tables_of
from mapo_cli.data.scoring import score_answers
from mapo_cli.language.grammar import Grammar, load_grammar
from mapo_cli.learn.decoding import Prepared, Program, tree_log_probs
from mapo_cli.learn.run_dir import resolve_checkpoint

if TYPE_CHECKING:
    from mapo_cli.analysis.rerank import Reranker

SCORE_BATCH = 32  # examples whose pooled programs one member scores together
Task = tuple[int, list[int]]  # a member and the examples whose pooled programs it scores


def ensemble_file(models: list[Path], data: Path, beam_size: int = 5, workers: int = 0,
                  batch: int = 32, on_progress: Callable[[int, int], None] | None = None,
                  on_encoding: Callable[[int, int], None] | None = None,
                  cluster: RayCluster | None = None,
                  reranker: Reranker | None = None, device: str = "cpu") -> DecodeReport:
    """Decode `data` with every model (on `cluster` if given), pool the beams, rank by the
    mean probability or with `reranker`. The pooled programs are scored in `workers` local
    processes, or with a cluster or on a GPU (`device`) in this one."""
    if not models:
        raise MapoError("an ensemble needs at least one run")
    examples, tables = load_dataset(data)
    if not examples:
        raise MapoError(f"{data}: no examples")
    grammar = data_grammar(examples, Path(data))
    if reranker is not None:
        reranker.check_fits(grammar, len(models))
    total = len(examples) * len(models)

    def member_progress(index: int) -> Callable[[int, int], None] | None:
        if on_progress is None:
            return None
        return lambda done, _n: on_progress(index * len(examples) + done, total)

    reports = [decode_file(m, data, beam_size, workers, batch, member_progress(i), on_encoding,
                           cluster, device) for i, m in enumerate(models)]
    pools = [_pool([report.results[k] for report in reports]) for k in range(len(examples))]
    log_probs = _members_log_probs([resolve_checkpoint(Path(m)) for m in models], grammar,
                                   examples, tables, [r.results for r in reports], pools,
                                   workers_for(device, workers, None) if cluster is None
                                   else 1, device)
    results = []
    for k, example in enumerate(examples):
        ranked = by_mean_probability([member[k] for member in log_probs])
        beam = [Decoded(pools[k][j].program, math.log(mean) if mean > 0 else -math.inf,
                        pools[k][j].answer, pools[k][j].reward, pools[k][j].tokens,
                        tuple(member[k][j] for member in log_probs))
                for j, mean in ranked]
        if reranker is not None:
            beam = reranker.rank(beam)
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


def _members_log_probs(checkpoints: list[Path], grammar: Grammar, examples: list[dict],
                       tables: dict[str, dict], own: list[list[ExampleResult]],
                       pools: list[list[Decoded]], workers: int,
                       device: str = "cpu") -> list[list[list[float]]]:
    """log π of every pooled program under every member: its own beam's value where it has
    one, the others by teacher forcing, in chunks of SCORE_BATCH examples spread over
    `workers` processes (in this one for a single worker)."""
    values = []
    tasks = []  # (member, example indices) of the programs a member must still score
    for m, results in enumerate(own):
        known = [{d.tokens: d.log_probability for d in result.beam} for result in results]
        values.append([[known[k].get(d.tokens) for d in pool] for k, pool in enumerate(pools)])
        missing = [k for k, row in enumerate(values[m]) if any(v is None for v in row)]
        tasks += [(m, missing[i:i + SCORE_BATCH]) for i in range(0, len(missing), SCORE_BATCH)]

    def work(task: Task) -> tuple:
        m, chunk = task
        return (str(checkpoints[m]), grammar.source, [examples[k] for k in chunk],
                tables_of([examples[k] for k in chunk], tables),
                [[d.tokens for d in pools[k]] for k in chunk], [values[m][k] for k in chunk],
                device)

    for (m, chunk), filled in _run_scoring(tasks, work, workers):
        for k, row in zip(chunk, filled, strict=True):
            values[m][k] = row
    return values


def _run_scoring(tasks: list[Task], work: Callable[[Task], tuple], workers: int
                 ) -> Iterator[tuple[Task, list[list[float]]]]:
    """Each task with its scores, as they finish; Ctrl-C or SIGTERM raises `Stopped`."""
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    done = 0
    with StopRequest() as stop:
        if workers <= 1:
            try:
                with one_torch_thread():
                    for task in tasks:
                        if stop.signal is not None:
                            break
                        yield _score_task(task, *work(task))
                        done += 1
            finally:
                _scorers.clear()  # the members' models are not kept in this process
        else:
            for result in in_worker_pool(
                    tasks, lambda task: (_score_task, task, *work(task)), workers, stop,
                    died="a scoring worker process died (out of memory?); try fewer --workers"):
                yield result
                done += 1
        stop.check(done, len(tasks), "scoring chunks")


_scorers: dict[str, Decoder] = {}  # the members a process has loaded, by checkpoint path


def _score_task(task: Task, checkpoint: str, grammar_source: str, examples: list[dict],
                tables: dict[str, dict], pools: list[list[Program]],
                values: list[list[float | None]],
                device: str = "cpu") -> tuple[Task, list[list[float]]]:
    """One member's log π of the pooled programs of a chunk of examples (in a worker, or
    here, on one torch thread), loading the member once per process."""
    torch.set_num_threads(1)  # in a worker; here `one_torch_thread` has set it already
    if checkpoint not in _scorers:
        _scorers[checkpoint] = load_decoder(Path(checkpoint), load_grammar(grammar_source),
                                            device)
    decoder = _scorers[checkpoint]
    model = decoder.checkpoint.model
    model.eval()
    with torch.no_grad():
        items = [decoder.prepare(e, tables[e["table"]]) for e in examples]
        return task, fill_missing(model, items, pools, values)


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
