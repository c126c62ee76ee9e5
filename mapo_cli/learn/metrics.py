"""What a run reports: the batches since the last record become one record in
metrics.jsonl and TensorBoard's scalars (CleanRL's charts/... and losses/...).

The fields are the contract's (docs/contract.md, `run_dir.METRIC_FIELDS`);
`seconds`, `samples_per_second` and `steps_per_second` are timing, the rest
is the same in every `--serial` run with one seed.
"""

from __future__ import annotations

from pathlib import Path

from mapo_cli.learn.actor import ActorBatch
from mapo_cli.learn.run_dir import TENSORBOARD, append_metrics, truncate_metrics

# metrics.jsonl's field -> its TensorBoard tag
TAGS = {"dev_accuracy": "charts/dev_accuracy", "train_return": "charts/train_return",
        "clipped_fraction": "charts/clipped_fraction", "memory_coverage": "charts/memory_coverage",
        "samples_per_second": "charts/samples_per_second", "loss": "losses/loss"}


class MetricsLog:
    """The window of batches learned from since the last record, and this process's counts."""

    def __init__(self, run: Path, n_train: int, covered: set[str]) -> None:
        """`covered`: the training examples whose memory buffer holds a program already
        (memory_coverage is their share of the `n_train` examples)."""
        self.run = run
        self.n_train = n_train
        self.covered = set(covered)
        self.window: list[ActorBatch] = []
        self.losses: list[float] = []
        self.samples = 0  # samples learned from in this process
        self.steps = 0  # learner steps in this process
        self.writer = None  # TensorBoard's, opened at the first record

    def add(self, batch: ActorBatch, loss: float) -> None:
        """A batch the learner has just learned from, with its loss."""
        self.window.append(batch)
        self.losses.append(loss)
        self.samples += len(batch.samples)
        self.steps += 1
        for example_id, found in batch.new_programs.items():
            if any(r >= 1.0 for _, r in found):
                self.covered.add(example_id)

    @property
    def last_loss(self) -> float:
        return self.losses[-1] if self.losses else 0.0

    def record(self, step: int, seconds: float, elapsed: float,
               dev_accuracy: float | None) -> dict:
        """Write the window's record and start a new window; returns the record.

        `seconds`: training time of the whole run; `elapsed`: of this process.
        """
        window, self.window = self.window, []
        losses, self.losses = self.losses, []
        with_memory = sum(b.with_memory for b in window)
        clipped = sum(b.clipped for b in window)
        record = {
            "step": step,
            "seconds": round(seconds, 3),
            "dev_accuracy": dev_accuracy,
            "train_return": _mean([b.on_policy_return for b in window]),
            "clipped_fraction": clipped / with_memory if with_memory else 0.0,
            "memory_probability": _mean([b.memory_probability for b in window if b.with_memory]),
            "memory_coverage": len(self.covered) / max(self.n_train, 1),
            "samples_per_second": round(self.samples / max(elapsed, 1e-9), 2),
            "steps_per_second": round(self.steps / max(elapsed, 1e-9), 3),
            "loss": _mean(losses),
        }
        append_metrics(self.run, record)
        self._tensorboard(record)
        return record

    def drop_after(self, step: int) -> None:
        """On resume: the records after the checkpoint's step go; the run writes them again."""
        truncate_metrics(self.run, step)

    def _tensorboard(self, record: dict) -> None:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run / TENSORBOARD))
        for key, tag in TAGS.items():
            if record.get(key) is not None:
                self.writer.add_scalar(tag, record[key], record["step"])
        self.writer.flush()


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
