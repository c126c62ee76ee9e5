"""What the actors found, on its way to the store: kept from each batch, written in one
transaction when the run checkpoints.

The learner's process is the store's only writer (docs/contract.md, the
one-writer rule): actors only report, in their batches, the programs they
found, the explored-prefix filters they extended and the examples they
explored completely. A resumed run, or the next one, goes on from there.
"""

from __future__ import annotations

from pathlib import Path

from mapo_cli.learn.actor import ActorBatch, Program
from mapo_cli.store.store import Store


class StoreUpdates:
    """The store writes pending since the last `write`."""

    def __init__(self, store: Path, settings: dict, read_only: bool) -> None:
        """`settings`: the store's fingerprint (it is opened with them); `read_only`: the run
        writes nothing (--read-only-store), what batches bring is dropped."""
        self.store = store
        self.settings = settings
        self.read_only = read_only
        self.programs: dict[str, list[tuple[Program, float]]] = {}
        self.filters: dict[str, bytes] = {}  # the latest bytes of each extended filter
        self.exhausted: set[str] = set()  # examples the actors explored completely

    def add(self, batch: ActorBatch) -> None:
        self.filters.update(batch.filters)
        self.exhausted.update(batch.exhausted)
        for example_id, found in batch.new_programs.items():
            self.programs.setdefault(example_id, []).extend(found)

    def write(self) -> None:
        """Everything pending, in one transaction (a killed run loses at most this)."""
        if not self.read_only and (self.programs or self.filters or self.exhausted):
            with Store.create_or_open(self.store, self.settings, verify=False) as store, \
                    store.writer() as writer:
                for example_id, found in self.programs.items():
                    writer.add_programs(example_id, [p for p, _ in found], [r for _, r in found])
                for example_id, data in self.filters.items():
                    writer.put_filter(example_id, data)
                for example_id in sorted(self.exhausted):
                    status = writer.read_status(example_id) or {}
                    writer.put_status(example_id, {**status, "exhausted": True})
        self.programs.clear()
        self.filters.clear()
        self.exhausted.clear()
