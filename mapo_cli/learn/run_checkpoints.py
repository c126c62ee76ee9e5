"""A run's checkpoints: the learner's whole state every so often, best.pt, and resuming.

`RUN/checkpoints/step-<n>.pt` holds the weights (with a JSON sidecar,
`checkpoint.py`), `.state.pt` beside it the optimizer, the weight average,
the training time, the best accuracy and both RNG states, so a resumed
`--serial` run goes on as if it had not stopped. `best.pt` keeps the
evaluated weights of the best dev accuracy. The latest `keep_checkpoints`
are kept.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from mapo_cli.core.errors import MapoError
from mapo_cli.core.json_fields import field_problem
from mapo_cli.language.grammar import Grammar
from mapo_cli.learn.checkpoint import (
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    save_training_state,
)
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.features import Vocabulary
from mapo_cli.learn.learner import Learner
from mapo_cli.learn.run_dir import BEST, checkpoint_path, prune_checkpoints, state_path


@dataclass(frozen=True)
class Restored:
    """What a checkpoint gives back besides the learner's state."""

    order_rng_state: tuple  # Python's RNG state of the batch order
    seconds: float  # the run's training time before it


class RunCheckpoints:
    """Saves and restores the learner of one run; keeps the best dev accuracy."""

    def __init__(self, run: Path, config: TrainConfig, vocabulary: Vocabulary, grammar: Grammar,
                 max_expressions: int | None) -> None:
        self.run = run
        self.config = config
        self.vocabulary = vocabulary
        self.grammar = grammar
        self.max_expressions = max_expressions
        self.best: float | None = None

    def save(self, learner: Learner, seconds: float, dev_accuracy: float | None,
             order_rng_state: tuple) -> None:
        """Checkpoint this step (and best.pt, if dev accuracy rose); `restore` resumes it."""
        extra = {"step": learner.step, "objective": self.config.objective,
                 "max_expressions": self.max_expressions}
        improved = dev_accuracy is not None and (self.best is None or dev_accuracy > self.best)
        if improved:
            self.best = dev_accuracy
            save_checkpoint(self.run / BEST, learner.evaluated, self.vocabulary, self.grammar,
                            {**extra, "dev_accuracy": dev_accuracy})
        path = checkpoint_path(self.run, learner.step)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, learner.model, self.vocabulary, self.grammar, extra)
        save_training_state(state_path(path), learner.optimizer, learner.step, {
            "seconds": seconds,
            "best": self.best,  # this step's accuracy included: a resume keeps best.pt's
            "torch_rng": torch.get_rng_state(),
            "python_rng": repr(order_rng_state),
            **({"average": learner.average.state_dict()} if learner.average is not None else {}),
        })
        prune_checkpoints(self.run, self.config.keep_checkpoints)

    def restore(self, learner: Learner, checkpoint: Path) -> Restored:
        """Put the learner back where `save` left it at `checkpoint` (torch's RNG too), at the
        configured learning rate (a resume may lower it)."""
        loaded = load_checkpoint(checkpoint, self.grammar)
        learner.model.load_state_dict(loaded.model.state_dict())
        state = state_path(checkpoint)
        learner.step, extra = load_training_state(state, learner.optimizer)
        for group in learner.optimizer.param_groups:
            group["lr"] = self.config.learning_rate
        problem = field_problem(extra, {"seconds": "a finite number", "best": "a number or null"},
                                optional=("seconds", "best"))
        if problem is None and extra.get("seconds", 0.0) < 0:
            problem = f"'seconds' should not be negative, not {extra['seconds']}"
        if problem:
            raise MapoError(f"{state}: not a training state ({problem})")
        self.best = extra.get("best")
        if learner.average is not None and "average" in extra:
            try:
                learner.average.load_state_dict(extra["average"])
            except (KeyError, TypeError, ValueError, RuntimeError) as error:
                raise MapoError(f"{state}: its weight average does not fit the model "
                                f"({_first_line(error)})") from None
        return Restored(_restore_rng_states(extra, state), float(extra.get("seconds", 0.0)))


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
