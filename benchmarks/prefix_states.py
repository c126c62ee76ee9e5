"""How much merging equivalent prefixes could save: prefixes vs distinct interpreter states.

Walks every token code assistance offers (the whole live program space, with
the question's trigger words) for each example of a data file, and counts
prefixes, distinct states `(bound values, open expression, unread variables,
done)`, programs and distinct answers. Examples whose space exceeds the node
budget are left out.

Usage: python benchmarks/prefix_states.py DATA.jsonl [--budget 200000]
"""

from __future__ import annotations

import argparse
import sys
import time

from mapo_cli.data.dataset import load_dataset
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import load_grammar, triggered_functions
from mapo_cli.language.interpreter import Interpreter, State


class OverBudget(Exception):
    pass


def count_space(interpreter: Interpreter, budget: int) -> tuple[int, int, int, int]:
    """(prefixes, distinct states, programs, distinct answers) of one example's space."""
    states: set = set()
    answers: set = set()
    counts = [0, 0]  # prefixes, programs

    def walk(state: State) -> None:
        for token in interpreter.valid_tokens(state):
            child = interpreter.step(state, token)
            counts[0] += 1
            if counts[0] > budget:
                raise OverBudget
            states.add((child.env, child.partial, child.unread, child.done))
            if child.done:
                counts[1] += 1
                answers.add(tuple(interpreter.answer(child)))
            else:
                walk(child)

    walk(interpreter.start())
    return counts[0], len(states), counts[1], len(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--budget", type=int, default=200_000)
    args = parser.parse_args()
    examples, tables = load_dataset(args.data)
    totals, skipped, start = [0, 0, 0, 0], 0, time.perf_counter()
    for example in examples:
        grammar = load_grammar(example["grammar"])
        ctx = ProgramContext(example, tables[example["table"]], grammar)
        interpreter = Interpreter(ctx, triggered_functions(grammar, example["tokens"]))
        try:
            found = count_space(interpreter, args.budget)
        except OverBudget:
            skipped += 1
            continue
        totals = [t + f for t, f in zip(totals, found, strict=True)]
    prefixes, states, programs, answers = totals
    print(f"examples {len(examples) - skipped} (over budget: {skipped}): prefixes {prefixes:,}, "
          f"distinct states {states:,} ({states / max(prefixes, 1):.1%}), programs {programs:,}, "
          f"distinct answers {answers:,}; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    main()
