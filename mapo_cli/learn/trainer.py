"""The learner's side of a run: one model and optimizer, whichever runner feeds them batches.

Everything a run keeps or reports goes through here: dev evaluation, the
metrics and TensorBoard logs, checkpoints (and resuming from them), and the
store writes (this process is the store's only writer). Runners decide only
where batches come from and how weights reach the actors.
"""

from __future__ import annotations

import ast
import random
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from mapo_cli.core.errors import MapoError
from mapo_cli.core.json_fields import field_problem
from mapo_cli.core.lru import LRU
from mapo_cli.core.stop import StopRequest
from mapo_cli.data.scoring import TargetScorer
from mapo_cli.learn.actor import ITEM_CACHE, ActorBatch
from mapo_cli.learn.checkpoint import (
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    save_training_state,
)
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.contextual_cache import context_cache
from mapo_cli.learn.decoding import Prepared, prepare, sample
from mapo_cli.learn.features import Vocabulary, build_vocabulary
from mapo_cli.learn.learner import adam, update
from mapo_cli.learn.model import ModelConfig, Programmer
from mapo_cli.learn.pretrained import WordVectors, fixed_entries, freeze, initialise_embeddings
from mapo_cli.learn.run_dir import (
    BEST,
    TENSORBOARD,
    append_metrics,
    checkpoint_path,
    prune_checkpoints,
    state_path,
    truncate_metrics,
)
from mapo_cli.learn.training_data import TrainingData
from mapo_cli.store.store import Store

Program = tuple[int, ...]


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
                                   dropout=config.dropout, encoder=config.encoder,
                                   used_tokens=config.used_tokens)
        self.contexts = context_cache(config.encoder)
        self.model = Programmer(model_config, len(vocabulary), len(data.grammar.builtin_tokens))
        if vectors is not None:
            self._start_from(vectors)
        self.optimizer = adam(self.model, config.learning_rate)
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
        self.pending_exhausted: set[str] = set()  # examples the actors explored completely
        self.window: list[ActorBatch] = []
        self.losses: list[float] = []
        self.writer = None  # TensorBoard, opened at the first log
        self.stop = StopRequest()  # set while training: a signal asks for a clean stop

    def _start_from(self, vectors: WordVectors) -> None:
        """Word embeddings from pretrained vectors; with --freeze-embeddings they stay fixed."""
        found, known = vectors.lookup(self.vocabulary.words)
        weight = self.model.word_embedding.weight
        if self.config.freeze_embeddings:
            # Words seen min_count times in training (listed first) also learn.
            frequent = np.arange(len(self.vocabulary)) < len(
                build_vocabulary(self.data.train, self.data.tables, self.config.min_count))
            initialise_embeddings(weight, found, known, clear=found & ~frequent)
            freeze(weight, fixed_entries(found, frequent, weight.shape[1], known.shape[1]))
        else:
            initialise_embeddings(weight, found, known, clear=found)

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
                       self.vocabulary, self.data.store_settings["max_expressions"],
                       contexts=self.contexts)

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
        self.pending_exhausted.update(batch.exhausted)
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
                    correct += TargetScorer.for_example(example).reward(answer) >= 1.0
        return correct / len(dev) if dev else 0.0

    def flush_store(self) -> None:
        """Write newly found programs and extended filters to the store (its only writer).

        A resumed run, or the next one, then goes on exploring where this one stopped.
        """
        pending = self.pending_programs or self.pending_filters or self.pending_exhausted
        if self.config.read_only_store or not pending:
            self._clear_pending()
            return
        with Store.create_or_open(Path(self.config.store), self.data.store_settings,
                                  verify=False) as store, store.writer() as writer:
            for example_id, found in self.pending_programs.items():
                writer.add_programs(example_id, [p for p, _ in found], [r for _, r in found])
            for example_id, data in self.pending_filters.items():
                writer.put_filter(example_id, data)
            for example_id in sorted(self.pending_exhausted):
                status = writer.read_status(example_id) or {}
                writer.put_status(example_id, {**status, "exhausted": True})
        self._clear_pending()

    def _clear_pending(self) -> None:
        self.pending_programs.clear()
        self.pending_filters.clear()
        self.pending_exhausted.clear()

    def log(self, elapsed: float, dev_accuracy: float | None) -> dict:
        """The metrics of the steps since the last log, to metrics.jsonl and TensorBoard."""
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

            self.writer = SummaryWriter(str(self.run / TENSORBOARD))
        names = {"dev_accuracy": "charts/dev_accuracy", "train_return": "charts/train_return",
                 "clipped_fraction": "charts/clipped_fraction",
                 "memory_coverage": "charts/memory_coverage",
                 "samples_per_second": "charts/samples_per_second", "loss": "losses/loss"}
        for key, tag in names.items():
            if record.get(key) is not None:
                self.writer.add_scalar(tag, record[key], record["step"])
        self.writer.flush()

    def save(self, elapsed: float, dev_accuracy: float | None, python_rng_state: tuple) -> None:
        """Checkpoint this step (and the best one, if dev accuracy rose); `restore` resumes it."""
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

    def restore(self, checkpoint: Path) -> tuple:
        """Continue from a checkpoint `save` wrote; returns the batch order's RNG state.

        Metrics logged after the checkpoint's step are dropped: the run logs them again.
        """
        loaded = load_checkpoint(checkpoint, self.data.grammar)
        self.model.load_state_dict(loaded.model.state_dict())
        state = state_path(checkpoint)
        self.step, extra = load_training_state(state, self.optimizer)
        for group in self.optimizer.param_groups:  # the config may lower it for the rest
            group["lr"] = self.config.learning_rate
        problem = field_problem(extra, {"seconds": "a number", "best": "a number or null"},
                                optional=("seconds", "best"))
        if problem:
            raise MapoError(f"{state}: not a training state ({problem})")
        self.seconds, self.best = float(extra.get("seconds", 0.0)), extra.get("best")
        if self.average is not None and "average" in extra:
            try:
                self.average.load_state_dict(extra["average"])
            except (KeyError, TypeError, ValueError, RuntimeError) as error:
                raise MapoError(f"{state}: its weight average does not fit the model "
                                f"({_first_line(error)})") from None
        python_rng_state = _restore_rng_states(extra, state)
        truncate_metrics(self.run, self.step)
        return python_rng_state


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _restore_rng_states(extra: dict, state: Path) -> tuple:
    """Set torch's RNG state from a training state and return Python's (for the batch
    order), both checked first: a damaged one is a MapoError naming `state`, not a
    traceback from torch or `random`."""
    try:
        python_state = _parse_rng_state(extra.get("python_rng"))
        random.Random().setstate(python_state)  # a throwaway: checks it before the run's
    except (ValueError, TypeError, OverflowError, SyntaxError, MemoryError,
            RecursionError) as error:
        raise MapoError(f"{state}: not a training state (its Python RNG state is damaged: "
                        f"{_first_line(error)})") from None
    torch_rng, expected = extra.get("torch_rng"), torch.get_rng_state()
    try:
        if not (isinstance(torch_rng, torch.Tensor) and torch_rng.dtype == expected.dtype
                and torch_rng.shape == expected.shape):
            raise ValueError("missing or not one torch wrote")
        torch.set_rng_state(torch_rng)
    except (ValueError, RuntimeError) as error:
        torch.set_rng_state(expected)
        raise MapoError(f"{state}: not a training state (its torch RNG state is damaged: "
                        f"{_first_line(error)})") from None
    return python_state


def _parse_rng_state(text: object) -> tuple:
    """Python's RNG state, saved as its repr (a tuple of ints): literal_eval runs no code."""
    if not isinstance(text, str):
        raise TypeError(f"expected the state's repr, not {type(text).__name__}")
    return ast.literal_eval(text)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
