"""The actor of Algorithm 2: a stale policy turns examples into weighted training samples.

For each example of a batch the actor (1) keeps exploring systematically
with its policy (new high-reward programs go into the memory buffer),
(2) scores the memory buffer to get π(B), (3) draws one on-policy sample, and
(4) asks the objective (objectives.py) for weighted samples. Buffers hold
live programs only: the grammar's liveness rule writes no others (a grammar without the
rule has its programs reduced, liveness.py, unless the run keeps dead code). The learner
only computes gradients; only the learner's process writes the store.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

from mapo_cli.core.errors import InvalidProgram
from mapo_cli.core.lru import LRU
from mapo_cli.data.scoring import TargetScorer
from mapo_cli.language.grammar import Grammar
from mapo_cli.language.interpreter import END_ID, Interpreter, State
from mapo_cli.language.liveness import without_dead_code
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.contextual_cache import context_cache
from mapo_cli.learn.decoding import (
    Encoded,
    Prepared,
    Walked,
    encode_once,
    prepare,
    sample,
    tree_log_probs,
)
from mapo_cli.learn.features import Vocabulary
from mapo_cli.learn.model import Programmer
from mapo_cli.learn.objectives import training_samples
from mapo_cli.learn.weights import WeightsSnapshot
from mapo_cli.search.explore import (
    ROOT_KEY,
    ExploredPrefixes,
    child_key,
    exploring_functions,
    key_of,
    mark_finished_ancestors,
)
from mapo_cli.store.filters import filter_from_bytes, make_filter

Program = tuple[int, ...]
ITEM_CACHE = 1500  # examples whose interpreter and features stay in memory (the learner's)
# An actor keeps every example of its share prepared, up to this many: cold items cost a
# batch 25–40 % more on WTQ, a prepared one about 0.2 MiB (benchmarks/item_cache.py).
ACTOR_ITEM_CACHE = 20000
# ... and after each batch drops an item's lookahead memos above this many entries, so that
# a prepared WikiSQL example does not hold ~10 MB of them (benchmarks/item_cache.py).
LOOKAHEAD_KEEP = 5000


@dataclass
class ActorBatch:
    """What an actor pushes to the learner for one batch of examples."""

    example_ids: list[str]
    samples: list[tuple[str, Program, float, float]]  # (example id, program, reward, weight)
    new_programs: dict[str, list[tuple[Program, float]]] = field(default_factory=dict)
    filters: dict[str, bytes] = field(default_factory=dict)  # explored-prefix filters this
    # batch extended (their whole bytes: the learner writes them to the store)
    exhausted: list[str] = field(default_factory=list)  # examples this batch explored completely
    walked: dict[str, Walked] = field(default_factory=dict)  # what the learner needs per example
    on_policy_return: float = 0.0  # mean reward of the on-policy samples
    clipped: int = 0  # examples whose π(B) was clipped at α
    with_memory: int = 0  # examples with a non-empty buffer
    memory_probability: float = 0.0  # mean π(B) over examples with a buffer
    actor: int = 0  # which actor sampled it (its rank)
    weights_version: int = 0  # the version of the weights it was sampled with (weights.py)


class PolicyExplorer:
    """Systematic exploration (Algorithm 1) driven by the model: one example's filter.

    Offers the decoder the valid tokens (with the store's trigger words) whose
    prefix is not explored yet, and marks what is explored.
    """

    def __init__(self, interpreter: Interpreter, explored: ExploredPrefixes) -> None:
        self.interpreter = interpreter
        self.explored = explored
        self.path: list[tuple[bytes, tuple[int, ...]]] = []
        self.dead_ends = 0

    @property
    def exhausted(self) -> bool:
        return self.explored.marked_here(ROOT_KEY)

    def begin(self) -> None:
        self.path = []

    def allowed(self, state: State) -> tuple[int, ...]:
        """The unexplored valid tokens after `state`; marks a dead end when there are none."""
        valid = self.interpreter.valid_tokens(state)
        key = key_of(state.tokens)
        offer = valid if len(valid) == 1 else tuple(
            t for t in valid if child_key(key, t) not in self.explored)
        if not offer:
            self.explored.add(key)
            mark_finished_ancestors(self.explored, self.path)
            self.dead_ends += 1
        self.path.append((key, valid))
        return offer

    def finish(self, program: Program) -> None:
        """A sampled program is explored; so is every ancestor left without unexplored children."""
        self.explored.add(key_of(program))
        mark_finished_ancestors(self.explored, self.path)


class Actor:
    """Holds the examples, their buffers and filters, and a (stale) policy copy."""

    def __init__(self, config: TrainConfig, examples: list[dict], tables: dict[str, dict],
                 grammar: Grammar, vocabulary: Vocabulary, model: Programmer,
                 memory: dict[str, list[Program]], filters: dict[str, bytes | None],
                 store_settings: dict, seed: int, exhausted: set[str] = frozenset(),
                 relaxed: set[str] = frozenset(), rank: int = 0) -> None:
        self.config = config
        self.rank = rank  # which of the run's actors this is
        self.examples = {e["id"]: e for e in examples}
        self.tables = tables
        self.grammar = grammar
        self.vocabulary = vocabulary
        self.model = model
        self.memory = memory
        self.memory_sets: dict[str, set[Program]] = {}  # of the buffers made live already
        self.filters = filters
        self.exhausted = exhausted  # explored completely (store status): nothing left to find
        self.newly_exhausted: list[str] = []  # ... found so by this actor since its last batch
        self.relaxed = relaxed  # explored with every function (store status): their filters say so
        self.store_settings = store_settings
        self.items: LRU[str, Prepared] = LRU(min(max(len(self.examples), ITEM_CACHE),
                                                 ACTOR_ITEM_CACHE))
        self.explored: dict[str, ExploredPrefixes] = {}
        self.scorers: dict[str, TargetScorer] = {}
        self.rng = random.Random(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.weights_version = 0  # of the weights `model` holds
        self.contexts = context_cache(config.encoder)
        self.lookahead_keep = LOOKAHEAD_KEEP

    def use_weights(self, weights: WeightsSnapshot) -> None:
        """Sample with these weights from now on; batches say which version they were."""
        self.model.load_state_dict(weights.weights)
        self.weights_version = weights.version

    def item(self, example_id: str) -> Prepared:
        return self.items.get(example_id, lambda: self._prepare(example_id))

    def _prepare(self, example_id: str) -> Prepared:
        example = self.examples[example_id]
        self.scorers.setdefault(example_id, TargetScorer.for_example(example))
        return prepare(example, self.tables[example["table"]], self.grammar, self.vocabulary,
                       self.store_settings["max_expressions"], contexts=self.contexts)

    def explorer(self, example_id: str) -> PolicyExplorer:
        """The example's explored prefixes persist; its interpreter is the current item's."""
        item = self.item(example_id)
        allowed = exploring_functions(self.grammar, item.example, self.store_settings["triggers"]
                                      and example_id not in self.relaxed)
        explored = self.explored.get(example_id)
        if explored is None:
            filter_bytes = self.filters.pop(example_id, None)
            persistent = (filter_from_bytes(filter_bytes) if filter_bytes else make_filter(
                self.store_settings["filter_mode"], 4096, self.store_settings["error_rate"] or 0.01))
            explored = self.explored[example_id] = ExploredPrefixes(persistent)
        return PolicyExplorer(Interpreter(item.ctx, allowed), explored)

    def reward(self, example_id: str, program: Program) -> float:
        item = self.item(example_id)
        state = item.interpreter.run(program)
        return self.scorers[example_id].reward(item.interpreter.answer(state))

    def buffer(self, example_id: str) -> list[Program]:
        """The example's memory buffer; made live (dead code removed) on first use."""
        if example_id not in self.memory_sets:
            programs = self.memory.get(example_id, [])
            if self.config.live_memory and programs:
                programs = self._live(example_id, programs)
            self.memory[example_id] = programs
            self.memory_sets[example_id] = set(programs)
        return self.memory[example_id]

    def _live(self, example_id: str, programs: list[Program]) -> list[Program]:
        """Live forms of `programs`; a program whose form the interpreter rejects stays whole."""
        item = self.item(example_id)
        kept: dict[Program, None] = {}
        for program in programs:
            live = without_dead_code(program, item.ctx.first_var)
            if live not in kept and live != program:
                try:
                    item.interpreter.run(live)
                except InvalidProgram:
                    live = program
            kept.setdefault(live, None)
        return list(kept)

    def remember(self, example_id: str, program: Program, reward: float,
                 found: dict[str, list[tuple[Program, float]]]) -> None:
        if reward <= 0:
            return
        if self.config.live_memory:
            program = without_dead_code(program, self.item(example_id).ctx.first_var)
        buffer = self.buffer(example_id)
        if program not in self.memory_sets[example_id]:
            self.memory_sets[example_id].add(program)
            buffer.append(program)
            found.setdefault(example_id, []).append((program, reward))

    @torch.no_grad()
    def make_batch(self, example_ids: list[str]) -> ActorBatch:
        self.model.eval()
        items = [self.item(i) for i in example_ids]
        found: dict[str, list[tuple[Program, float]]] = {}
        encoded = encode_once(self.model, items)  # for sampling and for scoring the buffers
        on_policy, explored = self._sample_and_explore(example_ids, items, found, encoded)
        memory_lp = self._memory_log_probs(example_ids, items, encoded)
        batch = ActorBatch(list(example_ids), [], found, actor=self.rank,
                           weights_version=self.weights_version,
                           filters={} if self.config.read_only_store else
                           {i: self.explored[i].persistent.to_bytes() for i in explored},
                           exhausted=self.newly_exhausted)
        self.exhausted = self.exhausted | set(self.newly_exhausted)
        self.newly_exhausted = []
        returns = []
        top_k = self.config.memory_top_k or None
        for example_id, program in zip(example_ids, on_policy):
            reward = self.reward(example_id, program) if program else 0.0
            returns.append(reward)
            memory = self.buffer(example_id)[: self.config.memory_limit]
            terms = training_samples(self.config.objective, memory, memory_lp[example_id],
                                     program or None, reward, self.config.alpha, self.rng, top_k)
            if program:
                self.remember(example_id, program, reward, found)
            batch.samples += [(example_id, s.program, s.reward, s.weight) for s in terms.samples]
            if memory:
                batch.with_memory += 1
                batch.clipped += terms.clipped
                batch.memory_probability += terms.memory_probability
        programs: dict[str, list[Program]] = {}
        for example_id, program, _, _ in batch.samples:
            programs.setdefault(example_id, []).append(program)
        batch.walked = {i: self.item(i).walked(p) for i, p in programs.items()}
        for item in items:
            item.interpreter.assistant.forget_lookahead(self.lookahead_keep)
        batch.on_policy_return = sum(returns) / max(len(returns), 1)
        if batch.with_memory:
            batch.memory_probability /= batch.with_memory
        return batch

    def _memory_log_probs(self, example_ids: list[str], items: list[Prepared],
                          encoded: Encoded) -> dict[str, list[float]]:
        """log π_old of every (capped) buffer program, as prefix trees batched across examples."""
        if self.config.objective == "reinforce":
            return {i: [] for i in example_ids}
        buffers = [self.buffer(i)[: self.config.memory_limit] for i in example_ids]
        values = tree_log_probs(self.model, items, buffers, encoded)
        return dict(zip(example_ids, values))

    def _sample_and_explore(self, example_ids: list[str], items: list[Prepared],
                            found: dict[str, list[tuple[Program, float]]], encoded: Encoded,
                            ) -> tuple[list[Program], list[str]]:
        """One on-policy sample per example, and (Algorithm 2's SystematicExploration) one
        policy-guided new program per example, decoded together in one batch.

        Returns the on-policy programs and the examples whose explored prefixes grew
        (those explored completely now go to `newly_exhausted`, for the next batch).
        """
        explorers = [None if i in self.exhausted else self.explorer(i) for i in example_ids] \
            if self.config.explore else []
        live = [k for k, e in enumerate(explorers) if e is not None and not e.exhausted]
        sizes = {k: len(explorers[k].explored.keys) for k in live}
        for k in live:
            explorers[k].begin()
        n = len(items)

        def offer(row: int, state: State) -> tuple[int, ...]:
            if row < n:  # on-policy: every valid token
                return items[row].interpreter.valid_tokens(state)
            return explorers[live[row - n]].allowed(state)

        results = sample(self.model, items + [items[k] for k in live], self.generator,
                         restrict=offer, encoded=encoded)
        for row, (program, _) in enumerate(results[n:]):
            k = live[row]
            if program and program[-1] == END_ID:  # finished (not a dead end)
                explorers[k].finish(program)
                self.remember(example_ids[k], program, self.reward(example_ids[k], program), found)
        grew = [example_ids[k] for k in live if len(explorers[k].explored.keys) > sizes[k]]
        self.newly_exhausted += [example_ids[k] for k in live if explorers[k].exhausted]
        return [program for program, _ in results[:n]], grew
