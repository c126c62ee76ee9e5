"""Dev accuracy of given weights: greedy decoding, the figure that picks best.pt.

The evaluator is given a model and returns a number; it never reaches into
the learner. So it could as well run in a process of its own, on the
snapshots the learner publishes (`weights.py`), loaded into its own model.
"""

from __future__ import annotations

import torch

from mapo_cli.data.scoring import TargetScorer
from mapo_cli.language.grammar import Grammar
from mapo_cli.language.interpreter import END_ID
from mapo_cli.learn.contextual_cache import ContextCache
from mapo_cli.learn.decoding import Prepared, prepare, sample
from mapo_cli.learn.features import Vocabulary
from mapo_cli.learn.model import Programmer

CHUNK = 64  # dev examples decoded together


class Evaluator:
    """Greedy accuracy on a fixed list of dev examples, each prepared once (evaluated often)."""

    def __init__(self, dev: list[dict], tables: dict[str, dict], grammar: Grammar,
                 vocabulary: Vocabulary, max_expressions: int | None,
                 contexts: ContextCache | None = None) -> None:
        self.dev = dev
        self.tables = tables
        self.grammar = grammar
        self.vocabulary = vocabulary
        self.max_expressions = max_expressions
        self.contexts = contexts
        self.items: dict[str, Prepared] = {}

    def item(self, example: dict) -> Prepared:
        if example["id"] not in self.items:
            self.items[example["id"]] = prepare(
                example, self.tables[example["table"]], self.grammar, self.vocabulary,
                self.max_expressions, contexts=self.contexts)
        return self.items[example["id"]]

    @torch.no_grad()
    def accuracy(self, model: Programmer) -> float:
        """The share of dev examples whose greedy program is right (no program counts as wrong).

        Leaves `model` in eval mode (dropout off).
        """
        model.eval()
        correct = 0
        for start in range(0, len(self.dev), CHUNK):
            chunk = self.dev[start:start + CHUNK]
            items = [self.item(e) for e in chunk]
            for example, item, (program, _) in zip(chunk, items, sample(model, items,
                                                                        greedy=True)):
                if program and program[-1] == END_ID:
                    answer = item.interpreter.answer(item.interpreter.run(program))
                    correct += TargetScorer.for_example(example).reward(answer) >= 1.0
        return correct / len(self.dev) if self.dev else 0.0
