"""Beam-search decoding of a whole data file with a trained checkpoint (`mapo decode`).

The paper's inference (section 5.1): beam search of size 5 with code
assistance; the answer is the top program's. Workers compute, this process
collects (as in exploration): each worker process loads the checkpoint itself
with one torch thread and decodes chunks of examples with the batched
`beam_search.beam_search`; accuracy is then computed here with the official
scorer over every example of the file, each answer as the cell `--out` writes
for it, so an example without a valid program is simply wrong, and the figure
equals `mapo score` (and evaluator.py) on the written predictions.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mapo_cli.core.cluster import RayCluster
from mapo_cli.core.errors import MapoError
from mapo_cli.core.processes import as_they_finish, end_with_parent, in_worker_pool
from mapo_cli.core.ranges import check_options
from mapo_cli.core.stop import StopRequest
from mapo_cli.data.dataset import load_dataset, tables_of
from mapo_cli.data.scoring import TargetScorer, score_answers
from mapo_cli.language.grammar import Grammar, load_grammar
from mapo_cli.language.interpreter import END_ID
from mapo_cli.language.program import format_program
from mapo_cli.learn.beam_search import beam_search
from mapo_cli.learn.checkpoint import Checkpoint, load_checkpoint
from mapo_cli.learn.contextual_cache import (
    ContextCache,
    PreloadedContexts,
    context_cache,
    preload,
)
from mapo_cli.learn.decoding import Prepared, prepare
from mapo_cli.learn.device import resolve_device
from mapo_cli.learn.run_dir import resolve_checkpoint


@dataclass
class Decoded:
    """One program of an example's beam: notation, probability under the model, answer, reward."""

    program: str
    log_probability: float
    answer: list[str]
    reward: float
    tokens: tuple[int, ...] = ()  # the program's token ids (the notation does not always parse back)
    members: tuple[float, ...] = ()  # in an ensemble, log π under each member, in run order

    @property
    def probability(self) -> float:
        return math.exp(self.log_probability)


@dataclass
class ExampleResult:
    """An example's beam, most probable first; the prediction is the top program's answer."""

    id: str
    question: str
    beam: list[Decoded] = field(default_factory=list)
    error: str | None = None  # why this example could not be decoded (it then counts as wrong)

    @property
    def prediction(self) -> list[str]:
        return self.beam[0].answer if self.beam else []

    def to_json(self, correct: bool) -> dict[str, Any]:
        """The `--programs` record: the beam with probabilities, answers and rewards."""
        return {
            "id": self.id,
            "question": self.question,
            "prediction": self.prediction,
            "correct": correct,
            "error": self.error,
            "programs": [_program_json(d) for d in self.beam],
        }


def _program_json(decoded: Decoded) -> dict[str, Any]:
    """One beam program as `--programs` writes it; an ensemble's also give every member's
    log π, so other ways of combining the members can be tried without decoding again."""
    record = {k: v for k, v in asdict(decoded).items() if k not in ("tokens", "members")}
    record["probability"] = decoded.probability
    if decoded.members:
        record["member_log_probabilities"] = list(decoded.members)
    return record


@dataclass
class DecodeReport:
    """Accuracy over all examples of the data file, and every example's beam (in file order)."""

    checkpoint: str
    data: str
    beam_size: int
    workers: int
    accuracy: float
    correct: int
    total: int
    no_program: int
    seconds: float
    results: list[ExampleResult]
    per_example: dict[str, bool]
    members: list[dict[str, Any]] = field(default_factory=list)  # an ensemble's runs, alone
    reranker: str | None = None  # the file that ranked an ensemble's pool, if any

    @property
    def examples_per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0

    @property
    def predictions(self) -> dict[str, list[str]]:
        return {r.id: r.prediction for r in self.results}

    def summary(self) -> dict[str, Any]:
        """What `--json` prints."""
        return {
            "checkpoint": self.checkpoint, "data": self.data, "beam": self.beam_size,
            "workers": self.workers, "accuracy": self.accuracy, "correct": self.correct,
            "total": self.total, "no_program": self.no_program,
            "errors": sum(r.error is not None for r in self.results),
            "seconds": round(self.seconds, 3),
            "examples_per_second": round(self.examples_per_second, 2),
            **({"members": self.members} if self.members else {}),
            **({"reranker": self.reranker} if self.reranker else {}),
        }


class Decoder:
    """A loaded checkpoint that turns examples into beams (one per worker process)."""

    def __init__(self, checkpoint: Checkpoint, max_expressions: int | None) -> None:
        self.checkpoint = checkpoint
        self.max_expressions = max_expressions
        self.contexts: ContextCache | PreloadedContexts | None = context_cache(
            checkpoint.model.config.encoder)

    def prepare(self, example: dict, table: dict) -> Prepared:
        cp = self.checkpoint
        return prepare(example, table, cp.grammar, cp.vocabulary, self.max_expressions,
                       contexts=self.contexts)

    def decode(self, examples: list[dict], tables: dict[str, dict],
               beam_size: int) -> list[ExampleResult]:
        """Beam-search a chunk of examples in one batch; a failing example fails alone."""
        try:
            return self._decode(examples, tables, beam_size)
        except Exception as error:  # noqa: BLE001 - find the culprit one by one, keep the others
            if len(examples) == 1:
                return [_failed(examples[0], error)]
        results = []
        for example in examples:
            try:
                results += self._decode([example], tables, beam_size)
            except Exception as error:  # noqa: BLE001 - reported with the example, counts as wrong
                results.append(_failed(example, error))
        return results

    def _decode(self, examples: list[dict], tables: dict[str, dict],
                beam_size: int) -> list[ExampleResult]:
        items = [self.prepare(e, tables[e["table"]]) for e in examples]
        beams = beam_search(self.checkpoint.model, items, beam_size)
        results = []
        for example, item, beam in zip(examples, items, beams):
            scorer = TargetScorer.for_example(example)
            decoded = []
            for tokens, log_probability in beam:
                if not tokens or tokens[-1] != END_ID:
                    continue
                answer = item.interpreter.answer(item.interpreter.run(tokens))
                decoded.append(Decoded(format_program(tokens, item.ctx.vocab), log_probability,
                                       answer, scorer.reward(answer), tuple(tokens)))
            results.append(ExampleResult(example["id"], example["question"], decoded))
        return results


def _failed(example: dict, error: Exception) -> ExampleResult:
    return ExampleResult(example["id"], example.get("question", ""),
                         error=f"{type(error).__name__}: {error}")


def load_decoder(checkpoint_path: Path, grammar: Grammar | None = None,
                 device: str = "cpu") -> Decoder:
    """Load a checkpoint for data of `grammar` (default: the one it was trained with)
    onto `device` (`learn/device.py`); MapoError if they do not belong together."""
    checkpoint = load_checkpoint(checkpoint_path, grammar)
    checkpoint.model.to(resolve_device(device))
    max_expressions = checkpoint.extra.get("max_expressions")
    return Decoder(checkpoint, int(max_expressions) if max_expressions else None)


def workers_for(device: str, workers: int, cluster: RayCluster | None) -> int:
    """The worker processes to decode with: as asked on the CPU, this process alone on a
    GPU; a GPU with Ray tasks is a MapoError (they decode on their CPUs)."""
    if resolve_device(device).type == "cpu":
        return workers
    if cluster is not None:
        raise MapoError(f"--device {device} decodes on this machine's GPU: it does not "
                        "combine with --backend ray, whose tasks decode on their CPUs")
    return 1


def data_grammar(examples: list[dict], data: Path) -> Grammar:
    """The one grammar the examples of a data file were prepared for."""
    grammars = {e["grammar"] for e in examples}
    if len(grammars) != 1:
        raise MapoError(f"{data}: examples use several grammars: {sorted(grammars)}")
    return load_grammar(grammars.pop())


def decode_file(checkpoint: Path, data: Path, beam_size: int = 5, workers: int = 0,
                batch: int = 32, on_progress: Callable[[int, int], None] | None = None,
                on_encoding: Callable[[int, int], None] | None = None,
                cluster: RayCluster | None = None, device: str = "cpu") -> DecodeReport:
    """Decode every example of `data` with a run's best checkpoint (or a checkpoint file).

    `workers` processes (0: all cores), or with `cluster` that many Ray tasks
    at once (0: one per CPU), each decode chunks of `batch` examples;
    `on_progress(done, total)` is called as chunks finish. A checkpoint with a
    pretrained encoder first has it read every example not in its cache
    (`on_encoding(done, total)`), here, so that workers only read the cache
    (Ray tasks get their chunk's vectors with it). Ctrl-C or SIGTERM ends the
    workers and raises `Stopped`. On a `device` other than the CPU, the chunks are
    decoded in this process, one after another (one process feeds the GPU).
    """
    check_options(beam=beam_size, batch=batch, workers=workers)
    workers = workers_for(device, workers, cluster)
    path = resolve_checkpoint(Path(checkpoint))
    examples, tables = load_dataset(data)
    if not examples:
        raise MapoError(f"{data}: no examples")
    grammar = data_grammar(examples, Path(data))
    decoder = load_decoder(path, grammar, device)  # fail fast here, not in every worker
    if decoder.contexts is not None:
        decoder.contexts.fill(((e, tables[e["table"]]) for e in examples), on_encoding)
    chunks = [examples[i:i + batch] for i in range(0, len(examples), batch)]
    workers = min(workers or (cluster.cpus if cluster else os.cpu_count() or 1), len(chunks))
    start = time.perf_counter()
    by_id: dict[str, ExampleResult] = {}
    done = 0
    with StopRequest() as stop:
        run = (_run_chunks(chunks, tables, decoder, path, grammar, beam_size, workers, stop)
               if cluster is None else
               _run_chunks_on_ray(chunks, tables, decoder, beam_size, workers, stop, cluster))
        for chunk_results in run:
            for result in chunk_results:
                by_id[result.id] = result
            done += len(chunk_results)
            if on_progress:
                on_progress(done, len(examples))
        stop.check(done, len(examples), "examples")
    seconds = time.perf_counter() - start
    results = [by_id[e["id"]] for e in examples]
    report = score_answers({r.id: r.prediction for r in results}, examples)
    return DecodeReport(str(path), str(data), beam_size, workers, report.accuracy, report.correct,
                        report.total, sum(not r.beam for r in results), seconds, results,
                        report.per_example)


# ---------------------------------------------------------------- worker processes

_decoder: Decoder | None = None  # the checkpoint a worker process loaded for itself


def _init_worker(parent: int, checkpoint: str, grammar_source: str) -> None:
    global _decoder
    end_with_parent(parent)
    torch.set_num_threads(1)
    _decoder = load_decoder(Path(checkpoint), load_grammar(grammar_source))


def _decode_chunk(examples: list[dict], tables: dict[str, dict],
                  beam_size: int) -> list[ExampleResult]:
    assert _decoder is not None, "worker not initialised"
    return _decoder.decode(examples, tables, beam_size)


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Work done here rather than in a worker runs, like a worker, on one torch thread:
    batched steps are too small to gain from more. The count is restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _run_chunks(chunks: list[list[dict]], tables: dict[str, dict], decoder: Decoder,
                path: Path, grammar: Grammar, beam_size: int, workers: int,
                stop: StopRequest) -> Iterator[list[ExampleResult]]:
    """Each chunk's results as they finish, in this process (1 worker) or in a process pool;
    none more once `stop` has a signal."""
    if workers <= 1:
        with one_torch_thread():
            for chunk in chunks:
                if stop.signal is not None:
                    return
                yield decoder.decode(chunk, tables_of(chunk, tables), beam_size)
        return
    yield from in_worker_pool(
        chunks, lambda chunk: (_decode_chunk, chunk, tables_of(chunk, tables), beam_size),
        workers, stop, died="a decoding worker process died (out of memory?); try fewer "
        "--workers or a smaller --batch", initializer=_init_worker,
        initargs=(str(path), grammar.source))


def _run_chunks_on_ray(chunks: list[list[dict]], tables: dict[str, dict], decoder: Decoder,
                       beam_size: int, workers: int, stop: StopRequest,
                       cluster: RayCluster) -> Iterator[list[ExampleResult]]:
    """As `_run_chunks`, with Ray tasks: the model goes into the object store once, each
    task carries its chunk, its tables and (with a pretrained encoder) its vectors."""
    contexts = decoder.contexts
    portable = copy.copy(decoder)
    portable.contexts = None  # each task gets its chunk's vectors, not the driver's cache
    shipped = cluster.put(portable)

    def submit(chunk: list[dict]) -> Future:
        needed = tables_of(chunk, tables)
        vectors = preload(contexts, chunk, needed) if contexts is not None else None
        return cluster.submit(_decode_on_ray, shipped, chunk, needed, beam_size, vectors)

    yield from as_they_finish(chunks, submit, workers, stop, drop=cluster.cancel,
                              lost=cluster.ray.exceptions.RayError,
                              died="a decoding task failed on every retry (its workers or "
                              "nodes died)")


def _decode_on_ray(decoder: Decoder, examples: list[dict], tables: dict[str, dict],
                   beam_size: int, contexts: PreloadedContexts | None) -> list[ExampleResult]:
    """A Ray task: one chunk, with the decoder Ray has handed it (a copy of its own)."""
    torch.set_num_threads(1)
    decoder.contexts = contexts
    return decoder.decode(examples, tables, beam_size)
