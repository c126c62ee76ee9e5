"""The programmer's inputs (features), its masked distributions, and shareable checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from tables import medals_table

from mapo_cli.core.errors import MapoError
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import load_grammar
from mapo_cli.learn.checkpoint import (
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    save_training_state,
    sidecar_path,
)
from mapo_cli.learn.decoding import (
    encode_items,
    log_probs,
    prepare,
    sample,
    valid_mask,
    variable_slot,
)
from mapo_cli.learn.features import (
    DATE_ID,
    NUM_ID,
    SPECIALS,
    Vocabulary,
    build_vocabulary,
    encode_example,
)
from mapo_cli.learn.model import ModelConfig, Programmer

TINY = ModelConfig(embedding_size=8, hidden_size=8, layers=2, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def question(text: str, entities: list[dict]) -> dict:
    return {"id": text, "question": text, "tokens": text.split(), "entities": entities,
            "answer": [], "table": "t/medals.csv", "grammar": "wtq"}


PERU = question("which nation came before peru in 1995 with 3 gold ?", [
    {"type": "string", "value": "peru", "span": [4, 5]},
    {"type": "number", "value": 1995.0, "span": [6, 7]},
    {"type": "date", "value": "1995-xx-xx", "span": [6, 7]},
    {"type": "number", "value": 3.0, "span": [8, 9]},
])
CHILE = question("how many gold did chile win ?", [
    {"type": "string", "value": "chile", "span": [4, 5]},
])


def test_vocabulary_order_is_fixed_by_counts_then_alphabet(tmp_path: Path) -> None:
    table = medals_table()
    vocabulary = build_vocabulary([PERU, CHILE], {table["id"]: table})
    words = vocabulary.words
    assert words[:4] == SPECIALS
    assert words[4:7] == ("gold", "?", "nation")  # gold: 2 questions + 1 column name
    assert "1995" not in words and "3" not in words  # numbers and dates are anonymised
    assert words == build_vocabulary([CHILE, PERU], {table["id"]: table}).words
    rare = build_vocabulary([PERU, CHILE], {table["id"]: table}, min_count=2)
    assert rare.words == SPECIALS + ("gold", "?", "nation")
    assert rare.id("silver") == rare.id("never-seen") == 1  # <UNK>
    vocabulary.save(tmp_path / "words.json")
    assert Vocabulary.load(tmp_path / "words.json") == vocabulary
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(MapoError, match="not a word vocabulary"):
        Vocabulary.load(tmp_path / "bad.json")


def test_features_follow_the_context_token_order() -> None:
    table = medals_table()
    vocabulary = build_vocabulary([PERU], {table["id"]: table})
    ctx = ProgramContext(PERU, table, load_grammar("wtq"))
    features = encode_example(PERU, table, ctx, vocabulary)
    assert features.word_ids[6] == DATE_ID and features.word_ids[8] == NUM_ID
    assert features.in_table == [0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0]  # peru, 1995, 3
    # literals in context order: "peru", 1995, 1995-xx-xx, 3
    assert features.entity_spans == [(4, 5), (6, 7), (6, 7), (8, 9)]
    assert features.entity_types == [0, 1, 2, 1]
    views = [v.token for v in ctx.views]
    assert len(features.column_word_ids) == len(views)
    counts = dict(zip(views, features.column_counts))
    assert counts["r.nation-str"] == 1 and counts["r.gold-num"] == 1 and counts["r.rank-str"] == 0


def test_with_match_plurals_the_column_feature_reads_a_plural_as_its_column(
        tmp_path: Path) -> None:
    table = medals_table()
    nations = question("which nations won 3 golds ?", [{"type": "number", "value": 3.0,
                                                         "span": [3, 4]}])
    ctx = ProgramContext(nations, table, load_grammar("wtq"))
    views = [v.token for v in ctx.views]
    for match_plurals, expected in ((False, 0), (True, 1)):
        vocabulary = build_vocabulary([nations], {table["id"]: table},
                                      match_plurals=match_plurals)
        counts = dict(zip(views, encode_example(nations, table, ctx, vocabulary).column_counts))
        assert counts["r.nation-str"] == counts["r.gold-num"] == expected
        assert counts["r.silver-num"] == 0
        vocabulary.save(tmp_path / "words.json")
        assert Vocabulary.load(tmp_path / "words.json").match_plurals is match_plurals
    # a vocabulary saved before the option matches words exactly, as it was trained to
    (tmp_path / "old.json").write_text(json.dumps({"words": list(SPECIALS), "min_count": 1}))
    assert Vocabulary.load(tmp_path / "old.json").match_plurals is False


def test_model_puts_no_probability_on_invalid_tokens() -> None:
    table = medals_table()
    vocabulary = build_vocabulary([PERU, CHILE], {table["id"]: table})
    items = [prepare(ex, table, load_grammar("wtq"), vocabulary) for ex in (PERU, CHILE)]
    torch.manual_seed(0)
    model = Programmer(replace(TINY, dropout=0.2), len(vocabulary), items[0].ctx.n_builtins)
    generator = torch.Generator().manual_seed(0)
    batch = items * 8
    with torch.no_grad():
        programs = [p for p, _ in sample(model.train(), batch, generator)]  # dropout on
        model.eval()
        state = encode_items(model, batch)
        interpreter_states = [item.interpreter.start() for item in batch]
        for t in range(max(len(p) for p in programs)):
            valid_sets = [item.interpreter.valid_tokens(s) if t < len(p) else (1,)
                          for item, s, p in zip(batch, interpreter_states, programs)]
            valid = valid_mask(valid_sets, state.width)
            step = model.decode_step(state, valid)
            probs = step.log_probs.exp()
            assert torch.all(probs[~valid] == 0)
            assert torch.allclose(probs[valid.any(1)].sum(1), torch.ones(len(batch)))
            tokens = torch.tensor([p[t] if t < len(p) else 1 for p in programs])
            slots = []
            for k, (item, program) in enumerate(zip(batch, programs)):
                if t < len(program):
                    slots.append(variable_slot(item.ctx, interpreter_states[k], program[t]))
                    interpreter_states[k] = item.interpreter.step(interpreter_states[k], program[t])
                else:
                    slots.append(-1)
            state = model.feed(step.state, tokens, step.output, torch.tensor(slots))
    for item, program in zip(batch, programs):
        assert item.interpreter.run(program).done


def tiny_checkpoint(tmp_path: Path, config: ModelConfig = TINY) -> tuple[Path, Programmer, list]:
    table = medals_table()
    vocabulary = build_vocabulary([PERU, CHILE], {table["id"]: table})
    grammar = load_grammar("wtq")
    items = [prepare(ex, table, grammar, vocabulary) for ex in (PERU, CHILE)]
    torch.manual_seed(1)
    model = Programmer(config, len(vocabulary), len(grammar.builtin_tokens)).eval()
    path = tmp_path / "best.pt"
    save_checkpoint(path, model, vocabulary, grammar, extra={"max_expressions": 3})
    return path, model, items


def test_one_large_group_does_not_pad_the_others_and_gives_the_same_products() -> None:
    """Sequences of one example side by side: with one example holding most of them (a large
    memory buffer), groups are cut into chunks instead of padding every example to its size;
    each sequence's product with its example's vectors is the same either way."""
    from types import SimpleNamespace

    from mapo_cli.learn.model import _Groups, _positions_in_groups

    generator = torch.Generator().manual_seed(0)
    per_example = torch.randn(3, 7, 5, generator=generator)
    for example in ([0, 1, 2, 1], [1] * 30 + [0, 2, 2]):
        example = torch.tensor(example)
        slot, group_size = _positions_in_groups(example)
        state = SimpleNamespace(encoded=per_example, example=example, slot=slot,
                                group_size=group_size)
        vectors = torch.randn(len(example), 5, generator=generator)
        groups = _Groups.of(state)
        products = Programmer._grouped(groups, per_example, vectors)
        expected = torch.stack([per_example[e] @ v for e, v in zip(example, vectors)])
        assert torch.allclose(products, expected, atol=1e-5)
        read = torch.randn(len(example), 7, generator=generator)  # as attention weights are
        products = Programmer._grouped(groups, per_example, read, transposed=True)
        expected = torch.stack([per_example[e].T @ r for e, r in zip(example, read)])
        assert torch.allclose(products, expected, atol=1e-5)
        assert groups.copies * groups.width <= 2 * len(example) + 3  # no example padded to 30
    assert groups.owner is not None  # the large group was cut


@pytest.mark.parametrize("config", [TINY, replace(TINY, used_tokens=True)],
                         ids=["plain", "used-tokens"])
def test_checkpoint_round_trip_gives_the_same_programs(tmp_path: Path,
                                                       config: ModelConfig) -> None:
    path, model, items = tiny_checkpoint(tmp_path, config)
    loaded = load_checkpoint(path)
    assert loaded.extra == {"max_expressions": 3}
    assert loaded.model.config == model.config
    assert loaded.grammar.name == "wtq"
    programs = [p for p, _ in sample(model, items, greedy=True)]
    assert torch.equal(log_probs(model, items, programs), log_probs(loaded.model, items, programs))
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["vocabulary"]["words"][:4] == list(SPECIALS)


def test_a_model_config_saved_before_used_tokens_reads_as_without_them() -> None:
    saved = {k: v for k, v in TINY.to_json().items() if k != "used_tokens"}
    assert ModelConfig.from_json(saved) == TINY
    assert ModelConfig.from_json(replace(TINY, used_tokens=True).to_json()).used_tokens


def test_checkpoint_from_another_grammar_is_a_clear_error(tmp_path: Path) -> None:
    path, _, _ = tiny_checkpoint(tmp_path)
    with pytest.raises(MapoError, match="trained with grammar 'wtq'.*'wikisql'"):
        load_checkpoint(path, load_grammar("wikisql"))


def test_missing_or_corrupted_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path, _, _ = tiny_checkpoint(tmp_path)
    with pytest.raises(MapoError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(MapoError, match="corrupted"):
        load_checkpoint(path)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(MapoError, match="not a checkpoint sidecar"):
        load_checkpoint(path)
    sidecar_path(path).unlink()
    with pytest.raises(MapoError, match="missing"):
        load_checkpoint(path)


def test_training_state_round_trip(tmp_path: Path) -> None:
    _, model, items = tiny_checkpoint(tmp_path)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    programs = [p for p, _ in sample(model, items, greedy=True)]
    (-log_probs(model.train(), items, programs).sum()).backward()
    optimizer.step()
    rng = torch.get_rng_state()
    save_training_state(tmp_path / "train.pt", optimizer, 17, {"torch_rng": rng, "seen": [1, 2]})
    fresh = torch.optim.Adam(model.parameters(), lr=1e-3)
    step, extra = load_training_state(tmp_path / "train.pt", fresh)
    assert step == 17 and extra["seen"] == [1, 2] and torch.equal(extra["torch_rng"], rng)
    assert fresh.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    with pytest.raises(MapoError):
        load_training_state(tmp_path / "none.pt", fresh)
