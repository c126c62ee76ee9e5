"""Decoding with code assistance: scoring, sampling and beam search agree with each other
and with exhaustive enumeration, and batching never changes a result."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from tables import medals_table, small_table
from test_interpreter import enumerate_programs

from mapo_cli.language.grammar import load_grammar
from mapo_cli.language.interpreter import END_ID
from mapo_cli.learn.beam_search import beam_search
from mapo_cli.learn.decoding import (
    Prepared,
    encode_once,
    log_probs,
    max_decode_steps,
    prepare,
    sample,
    tree_log_probs,
)
from mapo_cli.learn.features import build_vocabulary
from mapo_cli.learn.model import ModelConfig, Programmer

TINY = ModelConfig(embedding_size=8, hidden_size=8, layers=2, dropout=0.2)
USED = ModelConfig(embedding_size=8, hidden_size=8, layers=2, dropout=0.2, used_tokens=True)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def question(text: str, entities: list[dict], table: str = "t/medals.csv") -> dict:
    return {"id": text, "question": text, "tokens": text.split(), "entities": entities,
            "answer": [], "table": table, "grammar": "wtq"}


EXAMPLES = [
    question("which nation is before peru ?", [{"type": "string", "value": "peru", "span": [4, 5]}]),
    question("how many nations won more than 3 gold in 1995 ?",
             [{"type": "number", "value": 3.0, "span": [6, 7]},
              {"type": "number", "value": 1995.0, "span": [9, 10]},
              {"type": "date", "value": "1995-xx-xx", "span": [9, 10]}]),
    question("what year did chile win ?", [{"type": "string", "value": "chile", "span": [3, 4]}],
             table="t/small.csv"),
]


def make_items(max_expressions: int | None = None) -> list[Prepared]:
    tables = {"t/medals.csv": medals_table(), "t/small.csv": small_table(table_id="t/small.csv")}
    vocabulary = build_vocabulary(EXAMPLES, tables)
    grammar = load_grammar("wtq")
    return [prepare(ex, tables[ex["table"]], grammar, vocabulary, max_expressions)
            for ex in EXAMPLES]


def make_model(items: list[Prepared], seed: int = 0, config: ModelConfig = TINY) -> Programmer:
    torch.manual_seed(seed)
    n_words = max(max(f.features.word_ids) for f in items) + 10
    model = Programmer(config, n_words, items[0].ctx.n_builtins)
    return model.eval()


def all_programs(item: Prepared) -> list[tuple[int, ...]]:
    """Every valid program of an example, by walking the interpreter's offers."""
    return sorted(enumerate_programs(item.interpreter))


@pytest.mark.parametrize("config", [TINY, USED], ids=["plain", "used-tokens"])
def test_sampled_programs_execute_and_their_log_probs_agree(config: ModelConfig) -> None:
    items = make_items()
    model = make_model(items, config=config)
    generator = torch.Generator().manual_seed(7)
    batch = items * 10
    samples = sample(model, batch, generator)
    for item, (program, _) in zip(batch, samples):
        state = item.interpreter.run(program)  # checks every token
        assert state.done and item.interpreter.answer(state)
        assert len(program) <= max_decode_steps(item.ctx.grammar, item.ctx.max_expressions)
    scored = log_probs(model, batch, [p for p, _ in samples])
    assert scored.tolist() == pytest.approx([lp for _, lp in samples], abs=1e-4)


def test_greedy_takes_the_most_probable_token_at_every_step() -> None:
    """Conditionals from the exact probabilities of all programs: greedy follows their argmax."""
    item = make_items(2)[2]
    model = make_model([item], seed=4)
    programs = all_programs(item)
    probs = [math.exp(lp) for lp in log_probs(model, [item] * len(programs), programs).tolist()]
    (greedy, lp), = sample(model, [item], greedy=True)
    prefix: tuple[int, ...] = ()
    while not prefix or prefix[-1] != END_ID:
        mass: dict[int, float] = {}
        for program, p in zip(programs, probs):
            if program[: len(prefix)] == prefix:
                mass[program[len(prefix)]] = mass.get(program[len(prefix)], 0.0) + p
        prefix += (max(mass, key=mass.get),)
    assert greedy == prefix
    assert lp == pytest.approx(math.log(probs[programs.index(greedy)]), abs=1e-4)


def test_uniform_model_spreads_probability_over_valid_tokens_only() -> None:
    """With a zero query every valid token gets 1/|valid|, every invalid one 0."""
    items = make_items()
    model = make_model(items)
    with torch.no_grad():
        model.query.weight.zero_()
        model.query.bias.zero_()
    programs = [p for p, _ in sample(model, items * 3, torch.Generator().manual_seed(1))]
    scored, entropy = log_probs(model, items * 3, programs, return_entropy=True)
    for k, program in enumerate(programs):
        item = items[k % len(items)]
        sizes, state = [], item.interpreter.start()
        for token in program:
            sizes.append(len(item.interpreter.valid_tokens(state)))
            state = item.interpreter.step(state, token)
        expected = [math.log(n) for n in sizes]
        assert scored[k].item() == pytest.approx(-sum(expected), abs=1e-4)
        assert entropy[k].item() == pytest.approx(sum(expected) / len(expected), abs=1e-4)


def test_entropy_gradients_are_finite_with_masked_tokens() -> None:
    items = make_items()
    model = make_model(items).train()
    programs = [p for p, _ in sample(model, items, torch.Generator().manual_seed(2))]
    scored, entropy = log_probs(model, items, programs, return_entropy=True)
    (scored.sum() + 0.01 * entropy.sum()).backward()
    for parameter in model.parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all()
    assert model.variable_key.weight.grad.abs().sum() > 0  # v<i> keys are learned too


@pytest.mark.parametrize("config", [TINY, USED], ids=["plain", "used-tokens"])
@pytest.mark.parametrize("max_expressions", [1, 2])
def test_wide_beam_ranks_every_valid_program_exactly(max_expressions: int,
                                                     config: ModelConfig) -> None:
    item = make_items(max_expressions)[2]  # the three-row table
    model = make_model([item], seed=max_expressions, config=config)
    programs = all_programs(item)
    exact = log_probs(model, [item] * len(programs), programs).tolist()
    ranked = sorted(zip(programs, exact), key=lambda pair: -pair[1])
    assert math.fsum(math.exp(lp) for lp in exact) == pytest.approx(1.0, abs=1e-4)
    beam = beam_search(model, [item], beam_size=len(programs))[0]
    assert [p for p, _ in beam] == [p for p, _ in ranked]
    assert [lp for _, lp in beam] == pytest.approx([lp for _, lp in ranked], abs=1e-4)
    top5 = beam_search(model, [item], beam_size=5)[0]
    assert [lp for _, lp in top5] == sorted((lp for _, lp in top5), reverse=True)
    assert top5[0][1] <= ranked[0][1] + 1e-5
    assert all(lp == pytest.approx(dict(ranked)[p], abs=1e-4) for p, lp in top5)


def reference_beam(programs: list[tuple[int, ...]], probs: list[float],
                   beam_size: int) -> list[tuple[int, ...]]:
    """Textbook beam search, scoring each prefix by its exact probability mass."""
    mass: dict[tuple[int, ...], float] = {}
    for program, p in zip(programs, probs):
        for end in range(1, len(program) + 1):
            mass[program[:end]] = mass.get(program[:end], 0.0) + p
    alive: list[tuple[int, ...]] = [()]
    finished: list[tuple[int, ...]] = []
    while alive:
        expansions = [q for q in mass if len(q) == len(alive[0]) + 1 and q[:-1] in alive]
        best = sorted(expansions, key=lambda q: -mass[q])[:beam_size]
        finished += [q for q in best if q[-1] == END_ID]
        alive = [q for q in best if q[-1] != END_ID]
    return sorted(finished, key=lambda q: -mass[q])[:beam_size]


@pytest.mark.parametrize(("max_expressions", "seed"), [(1, 0), (1, 1), (2, 0), (2, 1)])
def test_beam_of_five_is_beam_search_over_the_exact_probabilities(max_expressions: int,
                                                                  seed: int) -> None:
    """A narrow beam may miss the exact top 5 (that is beam search); it must prune exactly so."""
    item = make_items(max_expressions)[2]
    model = make_model([item], seed=seed)
    programs = all_programs(item)
    probs = [math.exp(lp) for lp in log_probs(model, [item] * len(programs), programs).tolist()]
    beam = beam_search(model, [item], beam_size=5)[0]
    assert [p for p, _ in beam] == reference_beam(programs, probs, 5)


def test_batching_gives_the_same_results_as_one_by_one() -> None:
    items = make_items()
    model = make_model(items, config=ModelConfig(embedding_size=12, hidden_size=16, dropout=0.0))
    greedy_batch = sample(model, items, greedy=True)
    beams_batch = beam_search(model, items, beam_size=4)
    programs = [p for p, _ in sample(model, items * 4, torch.Generator().manual_seed(5))]
    scores_batch = log_probs(model, items * 4, programs)
    for k, item in enumerate(items):
        (program, lp), = sample(model, [item], greedy=True)
        assert program == greedy_batch[k][0] and lp == pytest.approx(greedy_batch[k][1], abs=1e-5)
        alone = beam_search(model, [item], beam_size=4)[0]
        assert [p for p, _ in alone] == [p for p, _ in beams_batch[k]]
        assert [s for _, s in alone] == pytest.approx([s for _, s in beams_batch[k]], abs=1e-5)
    for k, program in enumerate(programs):
        alone = log_probs(model, [items[k % len(items)]], [program]).item()
        assert alone == pytest.approx(scores_batch[k].item(), abs=1e-5)


@pytest.mark.parametrize("config", [TINY, USED], ids=["plain", "used-tokens"])
def test_an_encoding_computed_once_gives_the_same_samples_and_scores(config: ModelConfig) -> None:
    items = make_items()
    model = make_model(items, config=config)
    encoded = encode_once(model, items)  # as an actor does for its batch
    rows = items + items[:2]  # an actor's on-policy rows, then its exploration rows
    fresh = sample(model, rows, torch.Generator().manual_seed(3))
    shared = sample(model, rows, torch.Generator().manual_seed(3), encoded=encoded)
    assert [p for p, _ in shared] == [p for p, _ in fresh]
    assert [s for _, s in shared] == pytest.approx([s for _, s in fresh], abs=1e-6)
    buffers = [[p for p, _ in fresh[k::len(items)]] for k in range(len(items))]
    once, again = ([lp for scores in tree_log_probs(model, items, buffers, e) for lp in scores]
                   for e in (encoded, None))
    assert once == pytest.approx(again, abs=1e-6)


@pytest.mark.parametrize("config", [TINY, USED], ids=["plain", "used-tokens"])
def test_scoring_buffers_as_prefix_trees_gives_teacher_forcings_log_probs(
        config: ModelConfig) -> None:
    items = make_items(2)
    model = make_model(items, seed=3, config=config)
    buffers = [all_programs(item)[:40] for item in items]
    tree = tree_log_probs(model, items, buffers)
    for item, programs, scores in zip(items, buffers, tree):
        forced = log_probs(model, [item] * len(programs), programs).tolist()
        assert scores == pytest.approx(forced, abs=1e-4)


def test_with_used_tokens_the_next_token_depends_on_what_the_program_used() -> None:
    """Reading the column it filtered on scores otherwise than reading another one; with the
    used-token key zeroed, the model scores as one without it."""
    item = make_items(2)[0]  # which nation is before peru ?
    tokens = item.ctx.vocab.index
    filtered = ("(filter_in", "all_rows", '"peru"', "r.nation-str", ")", "(hop", "v0")
    reuse, other = ([tokens(t) for t in (*filtered, column, ")", "<END>")]
                    for column in ("r.nation-str", "r.rank-str"))
    with_used = make_model([item], seed=5, config=replace(USED, dropout=0.0))
    plain = make_model([item], config=replace(TINY, dropout=0.0))
    plain.load_state_dict({k: v for k, v in with_used.state_dict().items()
                           if k != "used_key.weight"})

    def gap(model: Programmer) -> float:
        scores = log_probs(model, [item, item], [reuse, other]).tolist()
        return scores[0] - scores[1]

    assert gap(with_used) != pytest.approx(gap(plain), abs=1e-4)
    with torch.no_grad():
        with_used.used_key.weight.zero_()
    assert gap(with_used) == pytest.approx(gap(plain), abs=1e-6)


def test_invalid_program_is_rejected_with_the_reason() -> None:
    from mapo_cli.core.errors import InvalidProgram

    items = make_items()
    model = make_model(items)
    with pytest.raises(InvalidProgram, match="end"):
        log_probs(model, [items[0]], [(END_ID,)])
