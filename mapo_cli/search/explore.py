"""Systematic exploration (the MAPO paper's Algorithm 1) for one example.

A pure function of (example, table, settings, explored-prefix filter, policy):
it samples new complete programs, never one it has sampled before, and
returns what it found. Only the driver writes the store.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from mapo_cli.data.scoring import TargetScorer
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import Grammar, load_grammar, triggered_functions
from mapo_cli.language.interpreter import Interpreter, State
from mapo_cli.language.version import semantics_version
from mapo_cli.store.filters import PrefixFilter, filter_from_bytes, make_filter
from mapo_cli.store.values import make_fingerprint

FP_PROBES = 1000  # random never-inserted keys probed per chunk to measure false positives


@dataclass(frozen=True)
class ExploreSettings:
    """Everything that changes the program space or the filter (part of the store fingerprint)."""

    grammar: str = "wtq"
    max_expressions: int = 3
    triggers: bool = True
    # An example its trigger words leave uncovered once every program they allow is
    # explored gets explored again with every function (its status says "relaxed").
    relax_triggers: bool = False
    filter_mode: str = "bloom"  # "bloom" or "exact"
    error_rate: float = 0.01

    def fingerprint(self) -> dict:
        grammar = load_grammar(self.grammar)
        return make_fingerprint(grammar=grammar.name, grammar_hash=grammar.content_hash,
                                max_expressions=self.max_expressions, triggers=self.triggers,
                                relax_triggers=self.relax_triggers,
                                filter_mode=self.filter_mode, error_rate=self.error_rate,
                                live_programs=grammar.live_programs,
                                semantics=semantics_version(grammar))


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


def exploring_functions(grammar: Grammar, example: dict, triggers: bool) -> frozenset[int] | None:
    """The functions exploration offers for a question (None: all of them)."""
    return triggered_functions(grammar, example["tokens"]) if triggers else None


def make_interpreter(example: dict, table: dict, settings: ExploreSettings,
                     relaxed: bool = False) -> Interpreter:
    """The interpreter exploration walks; for a `relaxed` example it offers every function."""
    grammar: Grammar = load_grammar(settings.grammar)
    ctx = ProgramContext(example, table, grammar, settings.max_expressions)
    return Interpreter(ctx, exploring_functions(grammar, example, settings.triggers and not relaxed))


def wants_relaxing(settings: ExploreSettings, status: dict) -> bool:
    """Whether an example's trigger words have run out: all they allow tried, none right."""
    return (settings.relax_triggers and settings.triggers and status["exhausted"]
            and not status["covered"] and not status.get("relaxed", False))


def new_filter(settings: ExploreSettings, capacity: int) -> PrefixFilter:
    """An empty explored-prefix filter of the store's kind, sized for `capacity` keys."""
    return make_filter(settings.filter_mode, capacity, settings.error_rate)


def explore_chunk(example: dict, table: dict, settings: ExploreSettings, filter_bytes: bytes | None,
                  samples_done: int, max_samples: int, seed: int,
                  policy: Policy | None = None, capacity: int = 13_000,
                  relaxed: bool = False) -> ChunkResult:
    """Sample up to `max_samples` new programs for one example (Algorithm 1, repeated).

    A new filter is sized for `capacity` keys (about 1.3 per sample); it grows
    when an example needs more. A `relaxed` example is explored with every
    function, its trigger words set aside.
    """
    start = time.perf_counter()
    result = ChunkResult(example["id"])
    explored = (filter_from_bytes(filter_bytes) if filter_bytes
                else new_filter(settings, capacity))
    interpreter = make_interpreter(example, table, settings, relaxed)
    scorer = TargetScorer.for_example(example)
    policy = policy or UniformPolicy()
    rng = random.Random(f"{seed}:{example['id']}:{samples_done}")
    rewards: dict[tuple, float] = {}  # many programs share an answer
    prefixes = ExploredPrefixes(explored)
    if filter_bytes and ROOT_KEY in explored:  # exhausted in an earlier chunk
        max_samples = 0
        prefixes.keys.add(ROOT_KEY)
    for outcome in sample_new_programs(interpreter, prefixes, policy, rng, max_samples):
        if outcome is None:
            result.dead_ends += 1
            continue
        result.samples += 1
        answer = outcome.env[-1]
        reward = rewards.get(answer)
        if reward is None:
            reward = rewards[answer] = scorer.reward(interpreter.answer(outcome))
        if reward > 0:
            result.programs.append(outcome.tokens)
            result.rewards.append(reward)
    # Asked of the chunk's exact set: a bloom false positive on the root must not
    # declare an example exhausted (an exhausted one never runs another chunk).
    result.exhausted = prefixes.marked_here(ROOT_KEY)
    if result.exhausted:  # only the marked root matters now: keep a minimal filter
        explored = new_filter(settings, 1)
        explored.add(ROOT_KEY)
    result.fp_probes, result.fp_hits = measure_false_positives(explored, rng)
    result.filter_bytes = explored.to_bytes()
    result.seconds = time.perf_counter() - start
    return result


def sample_new_programs(interpreter: Interpreter, explored, policy: Policy, rng: random.Random,
                        max_samples: int) -> Iterator[State | None]:
    """Yield up to `max_samples` programs never sampled before (None for a dead end).

    `explored` is an ExploredPrefixes (or any filter, which gets wrapped in one).
    Stops early when the root prefix is marked: the example is exhausted.
    """
    if not isinstance(explored, ExploredPrefixes):
        explored = ExploredPrefixes(explored)
    sampler = Sampler(interpreter, explored, policy, rng)
    samples = attempts = 0
    while samples < max_samples and attempts < 4 * max_samples + 100:
        attempts += 1
        if explored.marked_here(ROOT_KEY):  # the root of an exhausted example
            return
        outcome = sampler.sample()
        samples += outcome is not None
        yield outcome


def measure_false_positives(explored, rng: random.Random) -> tuple[int, int]:
    """Probe keys that were never inserted (odd length: real keys have 2 bytes a token)."""
    if len(explored) < 2:
        return 0, 0
    hits = sum(rng.randbytes(7) in explored for _ in range(FP_PROBES))
    return FP_PROBES, hits


_TOKEN_BYTES = [t.to_bytes(2, "little") for t in range(65536)]
ROOT_KEY = b""


class ExploredPrefixes:
    """The explored set while one chunk runs: this chunk's keys exactly, then the filter.

    Every key also goes into the persistent filter (the bloom filter that the
    store keeps). Within a chunk, lookups hit the exact set first, and the
    filter only when it held keys from earlier chunks; so a fresh example is
    explored without false positives and without filter lookups.
    """

    def __init__(self, persistent) -> None:
        self.persistent = persistent
        self.keys: set[bytes] = set()
        self.check_persistent = len(persistent) > 0

    def __contains__(self, key: bytes) -> bool:
        return key in self.keys or (self.check_persistent and key in self.persistent)

    def marked_here(self, key: bytes) -> bool:
        """Marked during this chunk (exactly known, unlike a bloom filter's answer)."""
        return key in self.keys

    def add(self, key: bytes) -> None:
        if key not in self.keys:
            self.keys.add(key)
            self.persistent.add(key)


class Sampler:
    """Algorithm 1's inner loop for one example, with the search tree's nodes cached.

    Keys are a prefix's tokens as 2-byte integers, grown by concatenation.
    Every walk starts at the root and revisits the top of the tree, so each
    node's state and valid tokens are computed once.
    """

    def __init__(self, interpreter: Interpreter, explored, policy: Policy, rng: random.Random,
                 max_nodes: int = 300_000) -> None:
        self.interpreter = interpreter
        self.explored = explored
        self.policy = policy
        self.rng = rng
        self.max_nodes = max_nodes
        root = interpreter.start()
        self.root = (root, interpreter.valid_tokens(root))
        self.nodes: dict[bytes, tuple[State, tuple[int, ...]]] = {}

    def sample(self) -> State | None:
        """Walk through unexplored prefixes to a new program (or None at a dead end).

        A token that is the only valid one is taken without a lookup: its
        parent would already be marked had it been explored.
        """
        explored, nodes, interpreter = self.explored, self.nodes, self.interpreter
        if len(nodes) > self.max_nodes:
            nodes.clear()
        state, valid = self.root
        key = ROOT_KEY
        path = [(key, valid)]
        while True:
            if len(valid) == 1:
                token = valid[0]
            else:
                token = self._choose(state, key, valid)
                if token is None:  # every extension explored: a dead end
                    explored.add(key)
                    mark_finished_ancestors(explored, path[:-1])
                    return None
            key += _TOKEN_BYTES[token]
            node = nodes.get(key)
            if node is None:
                child = interpreter.step(state, token)
                node = (child, interpreter.valid_tokens(child))
                nodes[key] = node
            state, valid = node
            if state.done:
                explored.add(key)
                mark_finished_ancestors(explored, path)
                return state
            path.append((key, valid))

    def _choose(self, state: State, key: bytes, valid: tuple[int, ...]) -> int | None:
        candidates = list(valid)
        while candidates:
            choice = self.policy.choose(state.tokens, candidates, self.rng)
            if key + _TOKEN_BYTES[choice] not in self.explored:
                return choice
            candidates.remove(choice)
        return None


def key_of(tokens: tuple[int, ...] | list[int]) -> bytes:
    """A prefix's filter key: its tokens as 2-byte integers."""
    return b"".join(_TOKEN_BYTES[t] for t in tokens)


def child_key(key: bytes, token: int) -> bytes:
    return key + _TOKEN_BYTES[token]


def mark_finished_ancestors(explored, path: list[tuple[bytes, tuple[int, ...]]]) -> None:
    """Mark each ancestor on the path, deepest first, whose valid extensions are all explored."""
    for key, valid in reversed(path):
        if any(key + _TOKEN_BYTES[t] not in explored for t in valid):
            return
        explored.add(key)
