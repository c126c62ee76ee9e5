"""Parallel exploration of a whole data file into a store.

Workers run `explore_chunk` (pure); this process is the store's only writer.
Each example is explored in chunks of samples; a chunk's random seed is a
function of (seed, example id, samples done), so a run that is stopped and
resumed builds the same store as one that runs through. Ctrl-C or SIGTERM
commits the chunks done and drops the running ones (`stopped_by`). With
`backend="ray"` the chunks are Ray tasks (core/cluster.py): each carries its
example, table and filter, and one that Ray runs again after a lost worker
gives the same result, so the store is the local backend's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from mapo_cli.core.cluster import RayCluster
from mapo_cli.core.errors import MapoError
from mapo_cli.core.processes import stop_pool, worker_pool
from mapo_cli.core.ranges import check_range
from mapo_cli.core.stop import StopRequest
from mapo_cli.data.dataset import load_dataset
from mapo_cli.search.explore import (
    ChunkResult,
    ExploreSettings,
    explore_chunk,
    new_filter,
    wants_relaxing,
)
from mapo_cli.store.store import Store


@dataclass
class Progress:
    """What the progress display shows; updated after every committed chunk."""

    total: int
    done: int = 0
    covered: int = 0
    samples: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass
class _Task:
    example: dict
    table: dict
    filter_bytes: bytes | None
    samples_done: int
    capacity: int
    relaxed: bool = False


def _run_task(task: _Task, settings: ExploreSettings, chunk: int, seed: int) -> ChunkResult:
    """Worker entry point: never raises, so one bad example cannot take others down."""
    try:
        return explore_chunk(task.example, task.table, settings, task.filter_bytes,
                             task.samples_done, chunk, seed, capacity=task.capacity,
                             relaxed=task.relaxed)
    except Exception as error:  # noqa: BLE001 - reported per example, exploration goes on
        return ChunkResult(task.example["id"], error=f"{type(error).__name__}: {error}")


def explore_data(data_path: Path, store_path: Path, settings: ExploreSettings, *,
                 workers: int, samples_per_example: int, seconds: float | None = None,
                 seed: int = 0, chunk: int = 1000, commit_every: float = 2.0,
                 on_progress: Callable[[Progress], None] | None = None,
                 task_runner: Callable[..., ChunkResult] = _run_task,
                 repair: bool = False, cluster: RayCluster | None = None) -> dict:
    """Explore every example of a data file until K samples or exhaustion; return a summary.

    `workers` chunks run at once (0: a chunk per core, or per CPU of `cluster`,
    where they run as Ray tasks if given). `repair` first upgrades an older store
    and drops every example with a damaged value, so that they are explored
    again (summary `repaired`; `dropped`: not in the data).
    """
    check_range("workers", workers)
    check_range("samples_per_example", samples_per_example)
    examples, tables = load_dataset(data_path)
    grammars = {example["grammar"] for example in examples}
    if len(grammars) > 1:
        raise MapoError(f"{data_path}: examples use several grammars: {sorted(grammars)}")
    store = Store.create_or_open(store_path, settings.fingerprint(), upgrade=repair)
    try:
        workers = workers or (cluster.cpus if cluster else os.cpu_count() or 1)
        with StopRequest() as stop:
            dropped = store.drop_damaged() if repair else []
            store.add_examples([(example, tables[example["table"]]) for example in examples])
            summary = _explore(store, examples, tables, settings, workers, samples_per_example,
                               seconds, seed, chunk, commit_every, on_progress, task_runner, stop,
                               cluster)
        if repair:
            ids = {example["id"] for example in examples}
            summary["repaired"] = [i for i in dropped if i in ids]
            summary["dropped"] = [i for i in dropped if i not in ids]
        return summary
    finally:
        store.close()


def _explore(store: Store, examples: list[dict], tables: dict, settings: ExploreSettings,
             workers: int, target: int, seconds: float | None, seed: int, chunk: int,
             commit_every: float, on_progress, task_runner, stop: StopRequest,
             cluster: RayCluster | None) -> dict:
    """Keep up to two chunks per worker in flight until every example is done, time is up,
    or a signal asks to stop."""
    start = time.perf_counter()
    deadline = None if seconds is None else start + seconds
    ledger = _Ledger(store, len(examples), target, settings)
    pending = ledger.plan(examples, tables)

    def out_of_time() -> bool:
        return deadline is not None and time.perf_counter() >= deadline

    # Its own loop, not core.processes.as_they_finish: a chunk's example may go back to the
    # queue for its next chunk. The pool is the one every command uses (worker_pool).
    executor = (cluster if cluster is not None else worker_pool(workers) if workers > 1
                else None)
    in_flight: dict[Future, _Task] = {}
    try:
        while (pending or in_flight) and stop.signal is None:
            while pending and not out_of_time() and len(in_flight) < 2 * workers:
                task = pending.pop()
                size = min(chunk, target - task.samples_done)
                in_flight[_submit(executor, task_runner, task, settings, size, seed)] = task
            if not in_flight:
                break
            finished, _ = wait(list(in_flight), timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                task = in_flight.pop(future)
                if ledger.record(task, _result(future, task)) and not out_of_time():
                    pending.append(task)
            if ledger.results and time.perf_counter() - ledger.last_commit >= commit_every:
                ledger.commit()
            ledger.progress.covered = len(ledger.covered)
            ledger.progress.seconds = time.perf_counter() - start
            if on_progress:
                on_progress(ledger.progress)
    finally:
        if ledger.results:
            ledger.commit()
        if isinstance(executor, RayCluster):
            executor.cancel(in_flight)
        elif executor is not None and in_flight:
            stop_pool(executor)  # stopped (or failed): the running chunks are dropped
        elif executor is not None:
            executor.shutdown(wait=True)
    return ledger.summary(time.perf_counter() - start, stop.name)


def _result(future: Future, task: _Task) -> ChunkResult:
    """A chunk's result; a chunk whose worker died (for Ray: on every retry) fails its example."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise MapoError("an exploration worker process died (out of memory?): try fewer "
                        "--workers; the chunks done are stored, the same command resumes") from None
    except Exception as error:  # noqa: BLE001 - the example is reported, the others go on
        message = str(error).strip().splitlines()
        return ChunkResult(task.example["id"], error=f"{type(error).__name__}: "
                           f"{message[0] if message else 'its worker died'}")


def _submit(executor: ProcessPoolExecutor | RayCluster | None,
            task_runner: Callable[..., ChunkResult],
            task: _Task, settings: ExploreSettings, size: int, seed: int) -> Future:
    """Run a chunk in a worker, or (one worker: no pool) here, at once."""
    if executor is None:
        future: Future = Future()
        future.set_result(task_runner(task, settings, size, seed))
        return future
    return executor.submit(task_runner, task, settings, size, seed)


class _Ledger:
    """What this process knows of every example, and the results the store has yet to get.

    Statuses, coverage and progress are updated as chunks come back; `commit`
    writes the results so far in one transaction.
    """

    def __init__(self, store: Store, total: int, target: int, settings: ExploreSettings) -> None:
        self.store = store
        self.target = target
        self.settings = settings
        self.capacity = int(1.3 * target) + 64
        self.progress = Progress(total=total)
        self.statuses: dict[str, dict] = {}
        self.covered: set[str] = set()
        self.results: list[ChunkResult] = []
        self.last_commit = time.perf_counter()
        self.store_seconds = 0.0

    def _enough(self, status: dict) -> bool:
        return status["exhausted"] or status["samples"] >= self.target

    def plan(self, examples: list[dict], tables: dict) -> list[_Task]:
        """A task per example that wants more samples; pop() takes them in file order."""
        pending: list[_Task] = []
        for example in examples:
            status = self.store.read_status(example["id"]) or new_status()
            self.statuses[example["id"]] = status
            if status["covered"]:
                self.covered.add(example["id"])
            task = _Task(example, tables[example["table"]], self.store.read_filter(example["id"]),
                         status["samples"], self.capacity, status.get("relaxed", False))
            if wants_relaxing(self.settings, status):  # e.g. found exhausted by training
                self._relax(task, status)
            if self._enough(status):
                self.progress.done += 1
                continue
            pending.append(task)
        pending.reverse()
        return pending

    def _relax(self, task: _Task, status: dict) -> None:
        """Explore the example again with every function, from an empty filter: the marks of
        the narrower space say nothing of the wider one. Written with the next chunk."""
        status["relaxed"], status["exhausted"] = True, False
        task.relaxed, task.filter_bytes = True, None

    def record(self, task: _Task, result: ChunkResult) -> bool:
        """Fold a chunk's result into its example (and `task`); whether it wants more samples."""
        status = update_status(self.statuses[task.example["id"]], result)
        self.results.append(result)
        self.progress.samples += result.samples
        if status["covered"]:
            self.covered.add(task.example["id"])
        task.samples_done = status["samples"]
        task.filter_bytes = result.filter_bytes or task.filter_bytes
        if not result.error and wants_relaxing(self.settings, status):
            self._relax(task, status)
            result.filter_bytes = task.filter_bytes = new_filter(self.settings, self.capacity).to_bytes()
        if result.error:
            self.progress.errors.append(f"{task.example['id']}: {result.error}")
        if result.error or self._enough(status):
            self.progress.done += 1
            return False
        return True

    def commit(self) -> None:
        t0 = time.perf_counter()
        with self.store.writer() as writer:
            for result in self.results:
                if result.programs:
                    writer.add_programs(result.example_id, result.programs, result.rewards)
                if result.filter_bytes:
                    writer.put_filter(result.example_id, result.filter_bytes)
                writer.put_status(result.example_id, self.statuses[result.example_id])
        self.results.clear()
        self.last_commit = time.perf_counter()
        self.store_seconds += self.last_commit - t0

    def summary(self, elapsed: float, stopped_by: str | None) -> dict:
        """The store's summary plus this run's figures (`stopped_by` a signal's name, or None)."""
        summary = self.store.summary()
        summary.update(
            examples_done=self.progress.done,
            stopped_by=stopped_by,
            seconds=round(elapsed, 3),
            run_programs=self.progress.samples,
            programs_per_second=round(self.progress.samples / elapsed, 1) if elapsed else 0.0,
            store_seconds=round(self.store_seconds, 3),
            finished=self.progress.done == self.progress.total,
            errors=self.progress.errors,
        )
        return summary


def new_status() -> dict:
    """The status of an example nobody has explored yet."""
    return {"samples": 0, "dead_ends": 0, "exhausted": False, "covered": False, "memory": 0,
            "seconds": 0.0, "fp_probes": 0, "fp_hits": 0, "error": None, "relaxed": False}


def update_status(status: dict, result: ChunkResult) -> dict:
    """Fold one chunk's result into the example's status (in place)."""
    status["samples"] += result.samples
    status["dead_ends"] += result.dead_ends
    status["exhausted"] = status["exhausted"] or result.exhausted
    status["memory"] += len(result.programs)
    status["covered"] = status["covered"] or any(r >= 1.0 for r in result.rewards)
    status["seconds"] = round(status["seconds"] + result.seconds, 4)
    status["error"] = result.error
    status["fp_probes"] += result.fp_probes
    status["fp_hits"] += result.fp_hits
    return status
