"""The MAPO training loop (Algorithm 2): actors sample, the learner updates, one process writes.

`--serial` runs actor and learner in this process, in turn (deterministic
given the seed). Otherwise actor processes hold a stale policy copy, refresh
it from shared memory every `sync_every` learner steps, and push batches of
weighted samples through a queue; the learner (this process) updates the
model, evaluates on dev, checkpoints, and writes newly found programs to the
store.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import queue
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import torch
import torch.multiprocessing as mp
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from mapo_cli.core.errors import MapoError
from mapo_cli.core.lru import LRU
from mapo_cli.data.dataset import load_dataset
from mapo_cli.data.scoring import TargetScorer
from mapo_cli.language.grammar import Grammar, load_grammar
from mapo_cli.learn.actor import ITEM_CACHE, Actor, ActorBatch
from mapo_cli.learn.checkpoint import (
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    save_training_state,
)
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.decoding import Prepared, prepare, sample
from mapo_cli.learn.features import Vocabulary, build_vocabulary
from mapo_cli.learn.learner import update
from mapo_cli.learn.model import ModelConfig, Programmer
from mapo_cli.learn.pretrained import (
    WordVectors,
    fixed_entries,
    freeze,
    initialise_embeddings,
    load_vectors,
    vectors_root,
    with_known_words,
)
from mapo_cli.learn.run_dir import (
    BEST,
    CONFIG,
    append_metrics,
    checkpoint_path,
    latest_checkpoint,
    prepare_run_dir,
    prune_checkpoints,
    state_path,
    truncate_metrics,
)
from mapo_cli.store.store import Store
from mapo_cli.store.values import example_key

Program = tuple[int, ...]


@dataclass
class Progress:
    """What the live display shows after every learner step."""

    step: int
    steps: int
    seconds: float  # training time of the whole run
    elapsed: float  # time of this process (what --seconds limits)
    samples_per_second: float
    dev_accuracy: float | None
    best_accuracy: float | None
    loss: float


@dataclass
class TrainingData:
    train: list[dict]
    dev: list[dict]
    tables: dict[str, dict]
    grammar: Grammar
    store_settings: dict
    memory: dict[str, list[Program]]
    filters: dict[str, bytes | None]
    exhausted: set[str]


def load_training_data(config: TrainConfig) -> TrainingData:
    """Examples, tables, and the store's buffers and filters for the training examples."""
    train, train_tables = load_dataset(config.train)
    dev, dev_tables = load_dataset(config.dev)
    grammars = {e["grammar"] for e in train + dev}
    if len(grammars) != 1:
        raise MapoError(f"train and dev data use different grammars: {sorted(grammars)}")
    grammar = load_grammar(grammars.pop())
    with Store.open_readonly(Path(config.store)) as store:
        settings = dict(store.fingerprint)
        if settings.get("grammar_hash") != grammar.content_hash:
            raise MapoError(f"store {config.store} was explored with grammar "
                            f"{settings.get('grammar')!r} of another version than the data's")
        memory, filters, exhausted = {}, {}, set()
        for example in train:
            stored = store.read_example(example["id"])
            if stored is None:
                raise MapoError(f"store {config.store} was made for other data: it has no example "
                                f"{example['id']!r} (explore {config.train} into it first)")
            if example_key(*stored) != example_key(example, train_tables[example["table"]]):
                raise MapoError(f"store {config.store}: example {example['id']!r} differs from "
                                f"the one in {config.train}")
            if config.explore:
                memory[example["id"]] = [p for p, r in store.read_memory(example["id"]) if r > 0]
                filters[example["id"]] = store.read_filter(example["id"])
                if (store.read_status(example["id"]) or {}).get("exhausted"):
                    exhausted.add(example["id"])
    return TrainingData(train, dev, {**dev_tables, **train_tables}, grammar, settings, memory,
                        filters, exhausted)


class Trainer:
    """The learner's side: model, optimizer, dev evaluation, checkpoints, metrics, store writes."""

    def __init__(self, config: TrainConfig, run: Path, data: TrainingData,
                 vocabulary: Vocabulary, vectors: WordVectors | None = None) -> None:
        self.config = config
        self.run = run
        self.data = data
        self.vocabulary = vocabulary
        torch.manual_seed(config.seed)
        model_config = ModelConfig(embedding_size=config.embedding, hidden_size=config.hidden,
                                   dropout=config.dropout)
        self.model = Programmer(model_config, len(vocabulary), len(data.grammar.builtin_tokens))
        if vectors is not None:
            found, known = vectors.lookup(vocabulary.words)
            weight = self.model.word_embedding.weight
            if config.freeze_embeddings:
                # Words seen min_count times in training (listed first) also learn.
                frequent = np.arange(len(vocabulary)) < len(
                    build_vocabulary(data.train, data.tables, config.min_count))
                initialise_embeddings(weight, found, known, clear=found & ~frequent)
                freeze(weight, fixed_entries(found, frequent, weight.shape[1], known.shape[1]))
            else:
                initialise_embeddings(weight, found, known, clear=found)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        # Dev accuracy swings from one evaluation to the next; an average of recent weights
        # swings less, so the best checkpoint is less a matter of when it was taken.
        self.average = (AveragedModel(self.model,
                                      multi_avg_fn=get_ema_multi_avg_fn(config.average_decay))
                        if config.average_decay else None)
        self.items: LRU[str, Prepared] = LRU(ITEM_CACHE)
        self.dev_items: dict[str, Prepared] = {}
        self.dev_ids = {e["id"] for e in data.dev[: config.eval_examples or None]}
        self.examples = {e["id"]: e for e in data.train + data.dev}
        self.step = 0
        self.seconds = 0.0  # training time before this process (resumed runs)
        self.samples = 0  # samples learned from in this process
        self.steps_this_process = 0
        self.best: float | None = None
        self.covered = {i for i, programs in data.memory.items() if programs}
        self.pending_programs: dict[str, list[tuple[Program, float]]] = {}
        self.pending_filters: dict[str, bytes] = {}  # the latest bytes of each extended filter
        self.window: list[ActorBatch] = []
        self.losses: list[float] = []
        self.writer = None  # TensorBoard, opened at the first log
        self.stop = StopRequest()  # set while training: a signal asks for a clean stop

    def item(self, example_id: str) -> Prepared:
        """Dev examples stay prepared (evaluated again and again); training ones are LRU."""
        if example_id in self.dev_items:
            return self.dev_items[example_id]
        if example_id in self.dev_ids:
            item = self.dev_items[example_id] = self._prepare(example_id)
            return item
        return self.items.get(example_id, lambda: self._prepare(example_id))

    def _prepare(self, example_id: str) -> Prepared:
        example = self.examples[example_id]
        return prepare(example, self.data.tables[example["table"]], self.data.grammar,
                       self.vocabulary, self.data.store_settings["max_expressions"])

    def learn(self, batch: ActorBatch) -> float:
        loss, _ = update(self.model, self.optimizer, batch.walked.__getitem__, batch.samples,
                         len(batch.example_ids), self.config.entropy, self.config.grad_clip)
        if self.average is not None:
            self.average.update_parameters(self.model)
        self.step += 1
        self.samples += len(batch.samples)
        self.window.append(batch)
        self.losses.append(loss)
        self.pending_filters.update(batch.filters)
        for example_id, found in batch.new_programs.items():
            self.pending_programs.setdefault(example_id, []).extend(found)
            if any(r >= 1.0 for _, r in found):
                self.covered.add(example_id)
        return loss

    @property
    def evaluated(self) -> Programmer:
        """The weights that dev accuracy is measured on, and that the best checkpoint keeps."""
        return self.average.module if self.average is not None else self.model

    @torch.no_grad()
    def evaluate(self) -> float:
        """Greedy decoding on dev; accuracy over all dev examples (no program counts as wrong)."""
        model = self.evaluated
        model.eval()
        dev = self.data.dev[: self.config.eval_examples or None]
        correct = 0
        for start in range(0, len(dev), 64):
            chunk = dev[start:start + 64]
            items = [self.item(e["id"]) for e in chunk]
            for example, item, (program, _) in zip(chunk, items, sample(model, items,
                                                                        greedy=True)):
                if program and program[-1] == 1:
                    answer = item.interpreter.answer(item.interpreter.run(program))
                    correct += TargetScorer(example["answer"]).reward(answer) >= 1.0
        return correct / len(dev) if dev else 0.0

    def flush_store(self) -> None:
        """Write newly found programs and extended filters to the store (its only writer).

        A resumed run, or the next one, then goes on exploring where this one stopped.
        """
        if self.config.read_only_store or not (self.pending_programs or self.pending_filters):
            self.pending_programs.clear()
            self.pending_filters.clear()
            return
        with Store.create_or_open(Path(self.config.store), self.data.store_settings,
                                  verify=False) as store, store.writer() as writer:
            for example_id, found in self.pending_programs.items():
                writer.add_programs(example_id, [p for p, _ in found], [r for _, r in found])
            for example_id, data in self.pending_filters.items():
                writer.put_filter(example_id, data)
        self.pending_programs.clear()
        self.pending_filters.clear()

    def log(self, elapsed: float, dev_accuracy: float | None) -> dict:
        window, self.window = self.window, []
        losses, self.losses = self.losses, []
        with_memory = sum(b.with_memory for b in window)
        record = {
            "step": self.step,
            "seconds": round(self.seconds + elapsed, 3),
            "dev_accuracy": dev_accuracy,
            "train_return": _mean([b.on_policy_return for b in window]),
            "clipped_fraction": sum(b.clipped for b in window) / with_memory if with_memory else 0.0,
            "memory_probability": _mean([b.memory_probability for b in window if b.with_memory]),
            "memory_coverage": len(self.covered) / max(len(self.data.train), 1),
            "samples_per_second": round(self.samples / max(elapsed, 1e-9), 2),
            "steps_per_second": round(self.steps_this_process / max(elapsed, 1e-9), 3),
            "loss": _mean(losses),
        }
        append_metrics(self.run, record)
        self._tensorboard(record)
        return record

    def _tensorboard(self, record: dict) -> None:
        """CleanRL-style scalars: charts/... and losses/..."""
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run / "tensorboard"))
        names = {"dev_accuracy": "charts/dev_accuracy", "train_return": "charts/train_return",
                 "clipped_fraction": "charts/clipped_fraction",
                 "memory_coverage": "charts/memory_coverage",
                 "samples_per_second": "charts/samples_per_second", "loss": "losses/loss"}
        for key, tag in names.items():
            if record.get(key) is not None:
                self.writer.add_scalar(tag, record[key], record["step"])
        self.writer.flush()

    def save(self, elapsed: float, dev_accuracy: float | None, python_rng_state) -> None:
        extra = {"step": self.step, "objective": self.config.objective,
                 "max_expressions": self.data.store_settings["max_expressions"]}
        path = checkpoint_path(self.run, self.step)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, self.model, self.vocabulary, self.data.grammar, extra)
        save_training_state(state_path(path), self.optimizer, self.step, {
            "seconds": self.seconds + elapsed,
            "best": self.best,
            "torch_rng": torch.get_rng_state(),
            "python_rng": repr(python_rng_state),
            **({"average": self.average.state_dict()} if self.average is not None else {}),
        })
        if dev_accuracy is not None and (self.best is None or dev_accuracy > self.best):
            self.best = dev_accuracy
            save_checkpoint(self.run / BEST, self.evaluated, self.vocabulary, self.data.grammar,
                            {**extra, "dev_accuracy": dev_accuracy})
        prune_checkpoints(self.run, self.config.keep_checkpoints)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


class StopRequest:
    """Ctrl-C or SIGTERM asks training to stop after the current step, with a checkpoint.

    A second Ctrl-C interrupts at once. A SIGINT that the process ignores (a
    background job) stays ignored.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(number) is not signal.SIG_IGN:
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, frame) -> None:
        self.signal = number
        self._restore()

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def __exit__(self, *exc) -> None:
        self._restore()


def train(config: TrainConfig, run: Path, resume: bool = False, overwrite: bool = False,
          on_progress: Callable[[Progress], None] | None = None) -> dict:
    """Train (or resume) a run; return the last metrics record plus the best accuracy."""
    config.check()
    vectors = load_vectors(vectors_root(config.embeddings)) if config.embeddings else None
    torch.set_num_threads(config.threads)
    data = load_training_data(config)  # bad data is an error before RUN is touched
    resuming = prepare_run_dir(run, resume, overwrite)
    checkpoint = latest_checkpoint(run) if resuming else None
    if resuming and checkpoint is None:
        raise MapoError(f"{run}: no checkpoint to resume from")
    if checkpoint:
        vocabulary = load_checkpoint(checkpoint, data.grammar).vocabulary
    else:
        vocabulary = build_vocabulary(data.train, data.tables, config.min_count)
        if vectors is not None:
            every_word = build_vocabulary(data.train + data.dev, data.tables).words
            vocabulary = with_known_words(vocabulary, every_word, vectors)
    trainer = Trainer(config, run, data, vocabulary, vectors)
    order_rng = random.Random(config.seed)
    if checkpoint is not None:
        loaded = load_checkpoint(checkpoint, data.grammar)
        trainer.model.load_state_dict(loaded.model.state_dict())
        trainer.step, extra = load_training_state(state_path(checkpoint), trainer.optimizer)
        for group in trainer.optimizer.param_groups:  # the config may lower it for the rest
            group["lr"] = config.learning_rate
        trainer.seconds = float(extra.get("seconds", 0.0))
        trainer.best = extra.get("best")
        if trainer.average is not None and "average" in extra:
            trainer.average.load_state_dict(extra["average"])
        torch.set_rng_state(extra["torch_rng"])
        order_rng.setstate(_parse_rng_state(extra["python_rng"]))
        truncate_metrics(run, trainer.step)
    (run / CONFIG).write_text(config.to_toml(), encoding="utf-8")
    loop = _train_serial if config.serial else _train_parallel
    with StopRequest() as trainer.stop:
        summary = loop(config, trainer, data, vocabulary, order_rng, on_progress)
    if trainer.stop.signal is not None:
        summary["stopped_by"] = signal.Signals(trainer.stop.signal).name
    return summary


def _parse_rng_state(text: str) -> tuple:
    """Python's RNG state, saved as its repr (a tuple of ints): literal_eval runs no code."""
    return ast.literal_eval(text)


def _batches(train: list[dict], size: int, rng: random.Random):
    """Endless epochs of shuffled example ids, `size` at a time."""
    ids = [e["id"] for e in train]
    while True:
        order = ids[:]
        rng.shuffle(order)
        for start in range(0, len(order), size):
            yield order[start:start + size]


def _finished(config: TrainConfig, trainer: Trainer, start: float) -> bool:
    if trainer.step >= config.steps or trainer.stop.signal is not None:
        return True
    return bool(config.seconds) and time.perf_counter() - start >= config.seconds


def _after_step(config: TrainConfig, trainer: Trainer, start: float, last_save: list[float],
                order_rng: random.Random, on_progress) -> tuple[dict | None, bool]:
    """Evaluate, log and checkpoint when due (always at the end); report progress.

    Returns the metrics record (if one was written) and whether training is over.
    """
    elapsed = time.perf_counter() - start
    trainer.steps_this_process += 1
    record = None
    finished = _finished(config, trainer, start)
    stopping = trainer.stop.signal is not None  # asked to stop: save now, evaluate later
    due_eval = (trainer.step % config.eval_every == 0 or finished) and not stopping
    due_save = stopping or time.perf_counter() - last_save[0] >= config.save_every_seconds
    if due_eval or due_save:
        accuracy = trainer.evaluate() if due_eval else None
        record = trainer.log(elapsed, accuracy)
        trainer.flush_store()
        trainer.save(elapsed, accuracy, order_rng.getstate())
        last_save[0] = time.perf_counter()
    if on_progress:
        on_progress(Progress(trainer.step, config.steps, trainer.seconds + elapsed, elapsed,
                             trainer.samples / max(elapsed, 1e-9),
                             record["dev_accuracy"] if record else None, trainer.best,
                             trainer.losses[-1] if trainer.losses else 0.0))
    return record, finished


def _train_serial(config: TrainConfig, trainer: Trainer, data: TrainingData,
                  vocabulary: Vocabulary, order_rng: random.Random, on_progress) -> dict:
    stale = Programmer(trainer.model.config, len(vocabulary), trainer.model.n_builtins)
    stale.load_state_dict(trainer.model.state_dict())
    actor = Actor(config, data.train, data.tables, data.grammar, vocabulary, stale, data.memory,
                  data.filters, data.store_settings, seed=config.seed + trainer.step,
                  exhausted=data.exhausted)
    start = time.perf_counter()
    last_save = [start]
    batches = _batches(data.train, config.batch_examples, order_rng)
    for _ in range(trainer.step):  # a resumed run continues the same batch order
        next(batches)
    record: dict = {}
    finished = _finished(config, trainer, start)
    while not finished:
        batch = actor.make_batch(next(batches))
        trainer.learn(batch)
        if trainer.step % config.sync_every == 0:
            stale.load_state_dict(trainer.model.state_dict())
            actor.policy_version = trainer.step
        logged, finished = _after_step(config, trainer, start, last_save, order_rng, on_progress)
        record = logged or record
    return {**record, "best_dev_accuracy": trainer.best, "steps": trainer.step}


def _actor_main(rank: int, config: TrainConfig, data: TrainingData, vocabulary: Vocabulary,
                shared: Programmer, version, out: mp.Queue, stop) -> None:
    """An actor process: sample batches with a stale copy of the shared policy, forever.

    It stops when the learner sets `stop`, or when the learner is gone (killed).
    Ctrl-C is the learner's to handle.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    learner = os.getppid()
    torch.set_num_threads(1)
    model = Programmer(shared.config, len(vocabulary), shared.n_builtins)
    model.load_state_dict(shared.state_dict())
    seen = version.value
    mine = data.train[rank::max(config.actors, 1)]
    actor = Actor(config, mine, data.tables, data.grammar, vocabulary, model, data.memory,
                  data.filters, data.store_settings, seed=config.seed * 1000 + rank + seen,
                  exhausted=data.exhausted)
    batches = _batches(mine, config.batch_examples, random.Random(config.seed * 1000 + rank))
    while not stop.is_set() and os.getppid() == learner:
        if version.value != seen:
            seen = version.value
            model.load_state_dict(shared.state_dict())
            actor.policy_version = seen
        batch = actor.make_batch(next(batches))
        while not stop.is_set() and os.getppid() == learner:
            try:
                out.put(batch, timeout=0.5)
                break
            except queue.Full:
                continue


def _train_parallel(config: TrainConfig, trainer: Trainer, data: TrainingData,
                    vocabulary: Vocabulary, order_rng: random.Random, on_progress) -> dict:
    actors = config.actors or max((os.cpu_count() or 2) - 1, 1)
    config = dataclasses.replace(config, actors=actors)
    context = mp.get_context("spawn")
    shared = Programmer(trainer.model.config, len(vocabulary), trainer.model.n_builtins)
    shared.load_state_dict(trainer.model.state_dict())
    shared.share_memory()
    version = context.Value("i", trainer.step)
    out = context.Queue(maxsize=2 * actors)
    stop = context.Event()
    processes = [context.Process(target=_actor_main, daemon=True,
                                 args=(rank, config, data, vocabulary, shared, version, out, stop))
                 for rank in range(actors)]
    for process in processes:
        process.start()
    start = time.perf_counter()
    last_save = [start]
    record: dict = {}
    finished = _finished(config, trainer, start)
    try:
        while not finished:
            try:
                batch = out.get(timeout=1.0)
            except queue.Empty:
                if not any(p.is_alive() for p in processes):
                    raise MapoError("every actor process died; see the messages above") from None
                continue
            trainer.learn(batch)
            if trainer.step % config.sync_every == 0:
                with torch.no_grad():
                    for mine, theirs in zip(trainer.model.parameters(), shared.parameters()):
                        theirs.copy_(mine)
                version.value = trainer.step
            logged, finished = _after_step(config, trainer, start, last_save, order_rng,
                                           on_progress)
            record = logged or record
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
    return {**record, "best_dev_accuracy": trainer.best, "steps": trainer.step}
