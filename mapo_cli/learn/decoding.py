"""Programs from the neural programmer, with code assistance: scoring and sampling.

This is the API the actor, the learner and the evaluator use (beam search,
for `mapo decode`, is in `beam_search.py`, on the same pieces). Everything is
batched over many (example, program) pairs: the encoder runs once per distinct
example, and one decoder step over all sequences is a few tensor ops. The
only per-sequence Python work is asking each example's Interpreter which
tokens are valid and stepping it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from mapo_cli.core.errors import InvalidProgram
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import Grammar
from mapo_cli.language.interpreter import CLOSE_ID, END_ID, Interpreter, State
from mapo_cli.learn.batch import make_batch
from mapo_cli.learn.contextual_cache import ContextCache, PreloadedContexts
from mapo_cli.learn.features import Features, Vocabulary, encode_example
from mapo_cli.learn.model import DecoderState, Programmer

Program = tuple[int, ...]
Scored = tuple[Program, float]  # a program and its log-probability under the model

_CACHE_LIMIT = 4096  # teacher-forcing walks remembered per example (memory-buffer programs)


Walk = tuple[list[tuple[int, ...]], list[int]]  # per step: valid tokens, variable slot


@dataclass
class Prepared:
    """One example, ready to decode: its context, interpreter and model features (built once)."""

    example: dict
    ctx: ProgramContext
    interpreter: Interpreter
    features: Features
    _walks: dict[Program, Walk] = field(default_factory=dict, repr=False)

    @property
    def vocab_size(self) -> int:
        return len(self.ctx.vocab)

    def walk(self, program: Program) -> Walk:
        """Per step: the valid tokens before it and the variable slot a `)` fills (-1 else)."""
        cached = self._walks.get(program)
        if cached is not None:
            return cached
        if not program or program[-1] != END_ID:
            raise InvalidProgram(f"{self.example.get('id')}: a program must end with <END>")
        interpreter, state = self.interpreter, self.interpreter.start()
        valid_sets, slots = [], []
        for token in program:
            valid = interpreter.valid_tokens(state)
            if token not in valid:
                raise InvalidProgram(f"{self.example.get('id')}: {interpreter.explain(state, token)}")
            valid_sets.append(valid)
            slots.append(variable_slot(self.ctx, state, token))
            state = interpreter.step(state, token)
        if len(self._walks) >= _CACHE_LIMIT:
            self._walks.clear()
        self._walks[program] = (valid_sets, slots)
        return valid_sets, slots

    def walked(self, programs: Iterable[Program]) -> Walked:
        """What teacher forcing on `programs` needs, without the interpreter (small to send)."""
        return Walked(self.features, self.vocab_size, {p: self.walk(p) for p in programs})


@dataclass
class Walked:
    """An example's features and the walks of some programs: enough for `log_probs`.

    Actors send these to the learner with their samples, so the learner needs
    no interpreter (building one and walking cold caches cost it 40 % of a step).
    """

    features: Features
    vocab_size: int
    walks: dict[Program, Walk]

    def walk(self, program: Program) -> Walk:
        walk = self.walks.get(program)
        if walk is None:
            raise InvalidProgram(f"no walk was sent for the program {program}")
        return walk


def prepare(example: dict, table: dict, grammar: Grammar, vocabulary: Vocabulary,
            max_expressions: int | None = None,
            allowed_functions: Iterable[int] | None = None,
            contexts: ContextCache | PreloadedContexts | None = None) -> Prepared:
    """Build an example's context, interpreter and features (use the store's settings).

    `contexts`: where the pretrained encoder's vectors come from, if the model reads them.
    """
    ctx = ProgramContext(example, table, grammar, max_expressions)
    interpreter = Interpreter(ctx, allowed_functions)
    vectors = contexts.get(example, table) if contexts is not None else None
    return Prepared(example, ctx, interpreter,
                    encode_example(example, table, ctx, vocabulary, vectors))


def max_decode_steps(grammar: Grammar, max_expressions: int | None = None) -> int:
    """No valid program is longer: each expression is `(f`, its arguments and `)`, then `<END>`."""
    arity = max(f.arity for f in grammar.functions)
    return (max_expressions or grammar.max_expressions) * (arity + 2) + 1


def variable_slot(ctx: ProgramContext, state: State, token: int) -> int:
    """The token id of the variable that `token` binds: `)` closing expression i binds v<i>."""
    return ctx.first_var + len(state.env) if token == CLOSE_ID and state.partial else -1


@dataclass
class Encoded:
    """One encoder pass over a batch's distinct items, for every decode of that batch.

    An actor samples and scores its buffers on the same examples with the same
    weights (no gradient): encoding them once serves both.
    """

    state: DecoderState
    rows: dict[int, int]  # id(item) -> its row in `state`


def encode_once(model: Programmer, items: Sequence[Prepared | Walked]) -> Encoded:
    """Encode each distinct item (by identity) once."""
    rows: dict[int, int] = {}
    distinct: list[Prepared | Walked] = []
    for item in items:
        if id(item) not in rows:
            rows[id(item)] = len(distinct)
            distinct.append(item)
    batch = make_batch([d.features for d in distinct], [d.vocab_size for d in distinct],
                       model.n_builtins)
    return Encoded(model.encode(batch), rows)


def encode_items(model: Programmer, items: Sequence[Prepared | Walked],
                 encoded: Encoded | None = None) -> DecoderState:
    """One decoder row per item (items may repeat), from `encoded` if it holds them all."""
    if encoded is None or any(id(item) not in encoded.rows for item in items):
        encoded = encode_once(model, items)
    rows = [encoded.rows[id(item)] for item in items]
    if rows == list(range(len(encoded.rows))):
        return encoded.state
    return encoded.state.select(rows)


def valid_mask(valid_sets: Sequence[Sequence[int]], width: int,
               device: torch.device | None = None) -> Tensor:
    """(N, width) bool: row n is True exactly at the token ids in valid_sets[n]."""
    mask = np.zeros((len(valid_sets), width), dtype=bool)
    for row, valid in enumerate(valid_sets):
        mask[row, list(valid)] = True
    return torch.as_tensor(mask, device=device)


def branch(model: Programmer, step, rows: list[int], tokens: list[int],
           slots: list[int]) -> DecoderState:
    """Continue from step rows `rows` (a row may repeat: one child each) with `tokens` fed:
    the next decoder state of beam search and of scoring buffers as prefix trees."""
    device = model.device
    index = torch.tensor(rows, dtype=torch.long, device=device)
    return model.feed(step.state.select(index), torch.tensor(tokens, dtype=torch.long, device=device),
                      step.output[index], torch.tensor(slots, dtype=torch.long, device=device))


# ---------------------------------------------------------------- teacher forcing


def log_probs(model: Programmer, items: Sequence[Prepared | Walked], programs: Sequence[Program],
              return_entropy: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """log π(program | question) for each (items[k], programs[k]) pair, differentiable.

    Programs are token-id tuples ending with `<END>`; a program the
    interpreter rejects raises InvalidProgram. With `return_entropy`, also
    each pair's mean per-step entropy of the valid-token distribution (for the
    entropy regulariser), as a second (P,) tensor.
    """
    if len(items) != len(programs):
        raise ValueError("log_probs needs one program per item")
    if not items:
        empty = torch.zeros(0, device=model.device)
        return (empty, empty) if return_entropy else empty
    walks = [item.walk(tuple(program)) for item, program in zip(items, programs)]
    steps = max(len(program) for program in programs)
    pairs = len(items)
    state = encode_items(model, items)
    width = state.width
    # After its <END>, a sequence keeps "choosing" <END> among {<END>}: log-prob 0, masked out.
    valid = np.zeros((steps, pairs, width), dtype=bool)
    valid[:, :, END_ID] = True
    tokens = np.full((steps, pairs), END_ID, dtype=np.int64)
    slots = np.full((steps, pairs), -1, dtype=np.int64)
    for k, (program, (valid_sets, slot_list)) in enumerate(zip(programs, walks)):
        for t, allowed in enumerate(valid_sets):
            valid[t, k, END_ID] = False
            valid[t, k, list(allowed)] = True
        tokens[: len(program), k] = program
        slots[: len(program), k] = slot_list
    device = model.device
    lengths = torch.tensor([len(p) for p in programs], device=device)
    valid_t, tokens_t, slots_t = (torch.as_tensor(a, device=device)
                                  for a in (valid, tokens, slots))
    total = torch.zeros(pairs, device=device)
    entropy = torch.zeros(pairs, device=device)
    for t in range(steps):
        step = model.decode_step(state, valid_t[t])
        alive = t < lengths
        chosen = step.log_probs.gather(1, tokens_t[t].unsqueeze(1)).squeeze(1)
        total = total + torch.where(alive, chosen, torch.zeros_like(chosen))
        if return_entropy:
            p_log_p = (step.log_probs.exp() * step.log_probs.masked_fill(~valid_t[t], 0.0))
            entropy = entropy - torch.where(alive, p_log_p.sum(1), torch.zeros_like(chosen))
        if t + 1 < steps:
            state = model.feed(step.state, tokens_t[t], step.output, slots_t[t])
    if return_entropy:
        return total, entropy / lengths
    return total


# ---------------------------------------------------------------- sampling and greedy


@torch.no_grad()
def sample(model: Programmer, items: Sequence[Prepared], generator: torch.Generator | None = None,
           greedy: bool = False, max_steps: int | None = None,
           restrict: Callable[[int, State], Sequence[int]] | None = None,
           encoded: Encoded | None = None) -> list[Scored]:
    """One program per item: sampled from π (with `generator`) or greedy; with its log-prob.

    Uses the model in its current mode (call `model.eval()` to turn dropout
    off). Every returned program ends with `<END>` unless `max_steps` cut it
    short; an example with no valid program at all gives `((), -inf)`.
    `restrict(k, state)`, when given, narrows item k's valid tokens (systematic
    exploration offers only unexplored ones); an empty offer stops that item
    where it is (a dead end: its unfinished prefix is returned). `encoded`:
    the items' encoding, if the caller has it already (`encode_once`).
    """
    results: list[Scored] = [((), float("-inf"))] * len(items)
    states = [item.interpreter.start() for item in items]
    live = [k for k, s in enumerate(states) if items[k].interpreter.valid_tokens(s)]
    if not live:
        return results
    decoder = encode_items(model, [items[k] for k in live], encoded)
    totals = [0.0] * len(items)
    limit = max_steps or max(max_decode_steps(i.ctx.grammar, i.ctx.max_expressions) for i in items)
    for _ in range(limit):
        if restrict is None:
            valid_sets = [items[k].interpreter.valid_tokens(states[k]) for k in live]
        else:
            valid_sets = [restrict(k, states[k]) for k in live]
            stuck = [row for row, valid in enumerate(valid_sets) if not valid]
            if stuck:
                keep = [row for row, valid in enumerate(valid_sets) if valid]
                decoder = decoder.select(keep)
                live = [live[row] for row in keep]
                valid_sets = [valid_sets[row] for row in keep]
                if not live:
                    break
        step = model.decode_step(decoder, valid_mask(valid_sets, decoder.width, model.device))
        if greedy:
            chosen = step.log_probs.argmax(dim=1)
        else:
            chosen = torch.multinomial(step.log_probs.exp(), 1, generator=generator).squeeze(1)
        chosen_lp = step.log_probs.gather(1, chosen.unsqueeze(1)).squeeze(1).tolist()
        slots, keep = [], []
        for row, (k, token) in enumerate(zip(live, chosen.tolist())):
            slots.append(variable_slot(items[k].ctx, states[k], token))
            states[k] = items[k].interpreter.step(states[k], token)
            totals[k] += chosen_lp[row]
            if not states[k].done:
                keep.append(row)
        decoder = model.feed(step.state, chosen, step.output,
                             torch.tensor(slots, device=model.device))
        if len(keep) < len(live):
            decoder = decoder.select(keep)
            live = [live[row] for row in keep]
        if not live:
            break
    for k, state in enumerate(states):
        if state.tokens:
            results[k] = (state.tokens, totals[k])
    return results


# ---------------------------------------------------------------- scoring memory buffers


@torch.no_grad()
def tree_log_probs(model: Programmer, items: Sequence[Prepared],
                   programs: Sequence[Sequence[Program]],
                   encoded: Encoded | None = None) -> list[list[float]]:
    """log π of many programs per item, sharing the work of common prefixes.

    Memory buffers hold programs that mostly share their first expressions;
    walking them as a prefix tree costs one decoder row per distinct prefix
    instead of one per program. Same values as `log_probs` (no gradient).
    """
    scores = [[0.0] * len(group) for group in programs]
    # A frontier node: (item index, interpreter state, indices of the programs below it).
    frontier = [(k, items[k].interpreter.start(), list(range(len(group))))
                for k, group in enumerate(programs) if group]
    if not frontier:
        return scores
    decoder = encode_items(model, [items[k] for k, _, _ in frontier], encoded)
    depth = 0
    while frontier:
        valid_sets = [items[k].interpreter.valid_tokens(state) for k, state, _ in frontier]
        step = model.decode_step(decoder, valid_mask(valid_sets, decoder.width, model.device))
        edges = []  # (row, token, programs below): each node's children, as the tree branches
        for row, (k, _, members) in enumerate(frontier):
            by_token: dict[int, list[int]] = {}
            for m in members:
                by_token.setdefault(programs[k][m][depth], []).append(m)
            edges += [(row, token, group) for token, group in by_token.items()]
        chosen = step.log_probs[[row for row, _, _ in edges],  # only the entries read, not
                                [token for _, token, _ in edges]].tolist()  # all (N, V)
        children, rows, tokens, slots = [], [], [], []
        for (row, token, group), log_prob in zip(edges, chosen, strict=True):
            k, state, _ = frontier[row]
            for m in group:
                scores[k][m] += log_prob
            if token == END_ID or token not in valid_sets[row]:
                continue  # finished (or impossible: its score is already -inf)
            children.append((k, items[k].interpreter.step(state, token), group))
            rows.append(row)
            tokens.append(token)
            slots.append(variable_slot(items[k].ctx, state, token))
        if not children:
            break
        decoder = branch(model, step, rows, tokens, slots)
        frontier = children
        depth += 1
    return scores
