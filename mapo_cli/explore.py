"""Systematic exploration (the MAPO paper's Algorithm 1) for one example.

A pure function of (example, table, settings, explored-prefix filter, policy):
it samples new complete programs, never one it has sampled before, and
returns what it found. Only the driver writes the store (DESIGN.md).

A prefix goes into the filter once every valid extension of it is explored;
sampling only takes actions that lead to unexplored prefixes; a finished
program goes in when sampled. We also mark parents as soon as their last
child is explored, so a walk rarely reaches a dead end; a dead end (a prefix
whose every extension is explored, found only through a stale or
false-positive filter) marks the prefix and is not a sample. An example whose
root prefix is marked is exhausted.
"""

from __future__ import annotations

import random
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from mapo_cli.bloom import filter_from_bytes, make_filter
from mapo_cli.context import ProgramContext
from mapo_cli.grammar import Grammar, load_grammar, triggered_functions
from mapo_cli.interpreter import Interpreter, State
from mapo_cli.scoring import TargetScorer
from mapo_cli.store import make_fingerprint

FP_PROBES = 1000  # random never-inserted keys probed per chunk to measure false positives


@dataclass(frozen=True)
class ExploreSettings:
    """Everything that changes the program space or the filter (part of the store fingerprint)."""

    grammar: str = "wtq"
    max_expressions: int = 3
    triggers: bool = True
    filter_mode: str = "bloom"  # "bloom" or "exact"
    error_rate: float = 0.01

    def fingerprint(self) -> dict:
        grammar = load_grammar(self.grammar)
        return make_fingerprint(grammar=grammar.name, grammar_hash=grammar.content_hash,
                                max_expressions=self.max_expressions, triggers=self.triggers,
                                filter_mode=self.filter_mode, error_rate=self.error_rate)


class Policy(Protocol):
    """Chooses the next token among unexplored valid ones (train passes its model)."""

    def choose(self, tokens: tuple[int, ...], candidates: list[int], rng: random.Random) -> int:
        ...


class UniformPolicy:
    """The random policy of the paper's warm start."""

    def choose(self, tokens: tuple[int, ...], candidates: list[int], rng: random.Random) -> int:
        return candidates[int(rng.random() * len(candidates))]


@dataclass
class ChunkResult:
    """What one call of `explore_chunk` found: the driver merges it into the store."""

    example_id: str
    programs: list[tuple[int, ...]] = field(default_factory=list)  # new programs, reward > 0
    rewards: list[float] = field(default_factory=list)
    samples: int = 0  # new complete programs tried
    dead_ends: int = 0
    exhausted: bool = False
    filter_bytes: bytes = b""
    fp_probes: int = 0
    fp_hits: int = 0
    seconds: float = 0.0
    error: str | None = None


def prefix_key(tokens: tuple[int, ...]) -> bytes:
    return array("H", tokens).tobytes()


def make_interpreter(example: dict, table: dict, settings: ExploreSettings) -> Interpreter:
    grammar: Grammar = load_grammar(settings.grammar)
    ctx = ProgramContext(example, table, grammar, settings.max_expressions)
    allowed = triggered_functions(grammar, example["tokens"]) if settings.triggers else None
    return Interpreter(ctx, allowed)


def explore_chunk(example: dict, table: dict, settings: ExploreSettings, filter_bytes: bytes | None,
                  samples_done: int, max_samples: int, seed: int,
                  policy: Policy | None = None, capacity: int = 13_000) -> ChunkResult:
    """Sample up to `max_samples` new programs for one example (Algorithm 1, repeated).

    A new filter is sized for `capacity` keys (about 1.3 per sample); it grows
    when an example needs more.
    """
    start = time.perf_counter()
    result = ChunkResult(example["id"])
    explored = (filter_from_bytes(filter_bytes) if filter_bytes
                else make_filter(settings.filter_mode, capacity, settings.error_rate))
    interpreter = make_interpreter(example, table, settings)
    scorer = TargetScorer(example["answer"])
    policy = policy or UniformPolicy()
    rng = random.Random(f"{seed}:{example['id']}:{samples_done}")
    for outcome in sample_new_programs(interpreter, explored, policy, rng, max_samples):
        if outcome is None:
            result.dead_ends += 1
            continue
        result.samples += 1
        reward = scorer.reward(interpreter.answer(outcome))
        if reward > 0:
            result.programs.append(outcome.tokens)
            result.rewards.append(reward)
    result.exhausted = prefix_key(()) in explored
    if result.exhausted:  # only the marked root matters now: keep a minimal filter
        explored = make_filter(settings.filter_mode, 1, settings.error_rate)
        explored.add(prefix_key(()))
    result.fp_probes, result.fp_hits = measure_false_positives(explored, rng)
    result.filter_bytes = explored.to_bytes()
    result.seconds = time.perf_counter() - start
    return result


def sample_new_programs(interpreter: Interpreter, explored, policy: Policy, rng: random.Random,
                        max_samples: int) -> Iterator[State | None]:
    """Yield up to `max_samples` programs never sampled before (None for a dead end).

    Stops early when the root prefix is marked: the example is exhausted.
    """
    root = interpreter.start()
    samples = attempts = 0
    while samples < max_samples and attempts < 4 * max_samples + 100:
        attempts += 1
        if prefix_key(()) in explored:
            return
        outcome = _sample_one(interpreter, root, explored, policy, rng)
        samples += outcome is not None
        yield outcome


def measure_false_positives(explored, rng: random.Random) -> tuple[int, int]:
    """Probe keys that were never inserted (odd length: real keys have 2 bytes a token)."""
    if len(explored) < 2:
        return 0, 0
    hits = sum(rng.randbytes(7) in explored for _ in range(FP_PROBES))
    return FP_PROBES, hits


_TOKEN_BYTES = [t.to_bytes(2, "little") for t in range(65536)]


def _sample_one(interpreter: Interpreter, root: State, explored, policy: Policy,
                rng: random.Random) -> State | None:
    """Walk from the root through unexplored prefixes to a new program, or a dead end.

    Keys are the prefix's tokens as 2-byte integers, grown by concatenation.
    A token that is the only valid one is taken without a filter lookup: its
    parent would already be marked had it been explored.
    """
    state = root
    key = b""
    path = [(root, key)]
    while True:
        valid = interpreter.valid_tokens(state)
        if len(valid) == 1:
            token = valid[0]
        else:
            candidates = list(valid)
            token = None
            while candidates:
                choice = policy.choose(state.tokens, candidates, rng)
                if key + _TOKEN_BYTES[choice] in explored:
                    candidates.remove(choice)
                    continue
                token = choice
                break
            if token is None:  # every extension explored: a dead end
                explored.add(key)
                _mark_finished_ancestors(interpreter, path[:-1], explored)
                return None
        state = interpreter.step(state, token)
        key += _TOKEN_BYTES[token]
        if state.done:
            explored.add(key)
            _mark_finished_ancestors(interpreter, path, explored)
            return state
        path.append((state, key))


def _mark_finished_ancestors(interpreter: Interpreter, path: list[tuple[State, bytes]],
                             explored) -> None:
    """Mark each ancestor, deepest first, whose valid extensions are all explored."""
    for state, key in reversed(path):
        if any(key + _TOKEN_BYTES[t] not in explored for t in interpreter.valid_tokens(state)):
            return
        explored.add(key)
