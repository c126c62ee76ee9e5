"""Published weights: the learner's policy as the actors get it, with its version.

A snapshot is taken at a learner step and carries that step as its version,
sent whole with the weights (never one without the other), so an actor
knows which policy it samples with and says so in every batch
(`ActorBatch.weights_version`; the learner step minus it is the policy lag).
The serial runner hands snapshots over directly, Ray actors get them through
the object store, and local actor processes read them from one shared-memory
copy that the learner writes and they read under a lock (`SharedWeights`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from mapo_cli.learn.model import Programmer


@dataclass(frozen=True)
class WeightsSnapshot:
    """The policy's weights at one learner step."""

    version: int  # the learner step they were taken at
    weights: dict[str, torch.Tensor]


def snapshot(model: Programmer, version: int) -> WeightsSnapshot:
    """A copy of `model`'s weights that later learner steps do not change, on the CPU
    (where the actors are, whatever the learner's device)."""
    return WeightsSnapshot(version, {name: value.detach().to("cpu", copy=True)
                                     for name, value in model.state_dict().items()})


class SharedWeights:
    """One shared-memory copy of the weights and its version, for local actor processes.

    The learner writes both under the lock and actors read both under it, so
    an actor never samples with half-copied weights or records the wrong version.
    """

    def __init__(self, model: Programmer, version: int, context: Any) -> None:
        """`context`: the multiprocessing context the actor processes are started with."""
        self.model = Programmer(model.config, model.n_words, model.n_builtins)
        self.model.load_state_dict(model.state_dict())
        self.model.share_memory()
        self.version = context.Value("q", version, lock=False)
        self.lock = context.Lock()

    def publish(self, model: Programmer, version: int,
                waiting: Callable[[], None] = lambda: None) -> None:
        """Copy `model`'s weights in and set `version`, together. `waiting()` runs each second
        the lock stays taken (an actor that died holding it would otherwise hang the learner)."""
        while not self.lock.acquire(timeout=1.0):
            waiting()
        try:
            with torch.no_grad():
                for mine, theirs in zip(model.parameters(), self.model.parameters()):
                    theirs.copy_(mine)
            self.version.value = version
        finally:
            self.lock.release()

    def newer_than(self, version: int | None) -> WeightsSnapshot | None:
        """The current weights if their version is not `version` (None: whatever they are)."""
        if version is not None and self.version.value == version:  # no lock: a cheap look
            return None
        with self.lock:
            return snapshot(self.model, self.version.value)
