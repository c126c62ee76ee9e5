"""`mapo decode`: beam search over a data file, scored exactly like `mapo score`; bad input."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mapo_cli.main import app
from mapo_cli.store.store import copy_store

ROOT = Path(__file__).resolve().parents[1]
TINY = "hidden = 16\nembedding = 16\neval_examples = 16\nbatch_examples = 8\nmemory_limit = 50\n"
DECODE_KEYS = {"accuracy", "correct", "total", "seconds", "examples_per_second", "no_program",
               "errors", "beam", "workers", "checkpoint", "data"}
PROGRAM_KEYS = {"program", "probability", "log_probability", "answer", "reward"}
runner = CliRunner()


def train_tiny_run(tmp: Path, prepared_demo: Path, demo_store: Path, name: str = "run",
                   *extra: str) -> Path:
    """A two-step serial run on the demo (what `decode` and `inspect` tests read)."""
    store = tmp / f"{name}-store"
    copy_store(demo_store, store)
    config = tmp / "tiny.toml"
    config.write_text(TINY)
    run = tmp / name
    result = runner.invoke(app, [
        "train", "--train", str(prepared_demo / "random-split-1-train.jsonl"),
        "--dev", str(prepared_demo / "random-split-1-dev.jsonl"), "--store", str(store),
        "--config", str(config), "--run", str(run), "--serial", "--steps", "2",
        "--eval-every", "1", "--read-only-store", *extra])
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path,
             demo_store: Path) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("decode-run"), prepared_demo, demo_store)


def test_a_run_that_drops_spurious_programs_and_orders_its_memory_records_it_and_trains(
        tmp_path: Path, prepared_demo: Path, demo_store: Path) -> None:
    run = train_tiny_run(tmp_path, prepared_demo, demo_store, "dropping", "--drop-spurious",
                         "--memory-order", "grounded", "--memory-limit", "3")
    config = (run / "config.toml").read_text()
    assert "drop_spurious = true" in config and 'memory_order = "grounded"' in config
    assert (run / "best.pt").is_file()


def test_an_unknown_memory_order_is_a_clear_error(tmp_path: Path, prepared_demo: Path,
                                                  demo_store: Path) -> None:
    result = runner.invoke(app, [
        "train", "--train", str(prepared_demo / "random-split-1-train.jsonl"),
        "--dev", str(prepared_demo / "random-split-1-dev.jsonl"), "--store", str(demo_store),
        "--run", str(tmp_path / "run"), "--memory-order", "newest"])
    assert "unknown memory order 'newest'" in one_line_error(result)
    assert not (tmp_path / "run").exists()


def test_decode_accuracy_equals_mapo_score_on_its_predictions(
        tiny_run: Path, prepared_demo: Path, tmp_path: Path) -> None:
    dev = prepared_demo / "random-split-1-dev.jsonl"
    pred, beams = tmp_path / "pred.tsv", tmp_path / "beams.jsonl"
    result = runner.invoke(app, ["decode", str(tiny_run), str(dev), "--out", str(pred),
                                 "--programs", str(beams), "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    decoded = json.loads(result.stdout)
    assert DECODE_KEYS <= decoded.keys()
    assert decoded["checkpoint"].endswith("best.pt") and decoded["beam"] == 5
    scored = runner.invoke(app, ["score", str(pred), str(dev), "--json"])
    assert scored.exit_code == 0, scored.output
    official = json.loads(scored.stdout)
    assert (decoded["accuracy"], decoded["correct"], decoded["total"]) == (
        official["accuracy"], official["correct"], official["total"])
    assert official["missing"] == 0 and decoded["total"] == len(dev.read_text().splitlines())
    records = [json.loads(line) for line in beams.read_text().splitlines()]
    assert [r["id"] for r in records] == [json.loads(x)["id"] for x in dev.read_text().splitlines()]
    assert sum(r["correct"] for r in records) == decoded["correct"]
    for record in records:
        assert 1 <= len(record["programs"]) <= 5
        assert all(PROGRAM_KEYS <= p.keys() for p in record["programs"])
        probabilities = [p["probability"] for p in record["programs"]]
        assert probabilities == sorted(probabilities, reverse=True)
        top = record["programs"][0]
        assert record["prediction"] == top["answer"]
        assert record["correct"] == (top["reward"] == 1.0)
    shown = runner.invoke(app, ["decode", str(tiny_run / "best.pt"), str(dev), "--workers", "1",
                                "--beam", "2"])
    assert shown.exit_code == 0, shown.output
    assert "accuracy" in shown.stdout and "examples / second" in shown.stdout
    assert f"checkpoint {tiny_run / 'best.pt'}\n" in shown.stdout  # whole, on its own line


def test_the_number_of_workers_does_not_change_the_beams(
        tiny_run: Path, prepared_demo: Path, tmp_path: Path) -> None:
    """Chunks depend on --batch only, and every chunk is decoded with one torch thread."""
    dev = prepared_demo / "random-split-1-dev.jsonl"
    outputs = []
    for workers in ("1", "2"):
        beams = tmp_path / f"beams-{workers}.jsonl"
        result = runner.invoke(app, ["decode", str(tiny_run), str(dev), "--workers", workers,
                                     "--batch", "10", "--programs", str(beams), "--json"])
        assert result.exit_code == 0, result.output
        outputs.append([json.loads(line) for line in beams.read_text().splitlines()])
    assert outputs[0] == outputs[1]


def test_the_batch_size_does_not_change_the_predictions(
        tiny_run: Path, prepared_demo: Path, tmp_path: Path) -> None:
    """Exact ties in the beam are broken by (hypothesis, token), not by the batch's layout."""
    dev = prepared_demo / "random-split-1-dev.jsonl"
    predictions = []
    for batch in ("3", "16"):
        out = tmp_path / f"pred-{batch}.tsv"
        result = runner.invoke(app, ["decode", str(tiny_run), str(dev), "--workers", "1",
                                     "--batch", batch, "--out", str(out)])
        assert result.exit_code == 0, result.output
        predictions.append(out.read_text())
    assert predictions[0] == predictions[1]


def test_decoded_programs_are_the_models_beam_with_exact_probabilities(
        tiny_run: Path, prepared_demo: Path) -> None:
    """Beam search itself is checked against exhaustive enumeration in test_decoding.py;
    here: what `decode` reports is that beam, valid programs with their true log π."""
    from mapo_cli.analysis.decode import Decoder
    from mapo_cli.data.dataset import load_dataset
    from mapo_cli.language.grammar import load_grammar
    from mapo_cli.language.program import format_program
    from mapo_cli.learn.beam_search import beam_search
    from mapo_cli.learn.checkpoint import load_checkpoint
    from mapo_cli.learn.decoding import log_probs, prepare

    examples, tables = load_dataset(prepared_demo / "random-split-1-dev.jsonl")
    examples = examples[:6]
    checkpoint = load_checkpoint(tiny_run / "best.pt", load_grammar("wtq"))
    results = Decoder(checkpoint, 3).decode(examples, tables, beam_size=3)
    items = [prepare(e, tables[e["table"]], checkpoint.grammar, checkpoint.vocabulary, 3)
             for e in examples]
    for item, result, beam in zip(items, results, beam_search(checkpoint.model, items, 3)):
        assert [d.program for d in result.beam] == [format_program(p, item.ctx.vocab)
                                                    for p, _ in beam]
        with torch.no_grad():
            exact = log_probs(checkpoint.model, [item] * len(beam), [p for p, _ in beam])
        assert [d.log_probability for d in result.beam] == pytest.approx(exact.tolist(), abs=1e-4)
        for decoded, (program, _) in zip(result.beam, beam):
            assert decoded.answer == item.interpreter.answer(item.interpreter.run(program))
            assert math.isclose(decoded.probability, math.exp(decoded.log_probability))


# ---------------------------------------------------------------- bad input


def one_line_error(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.output.strip().startswith("error:")
    return result.output


def smaller_grammar(tmp_path: Path) -> Path:
    """grammars/wtq.toml without its `same_as` function, as a path grammar."""
    text = (ROOT / "grammars" / "wtq.toml").read_text()
    blocks = text.split("[[functions]]")
    kept = [b for b in blocks if 'name = "same_as"' not in b]
    assert len(kept) == len(blocks) - 1
    path = tmp_path / "wtq-small.toml"
    path.write_text("[[functions]]".join(kept).replace('name = "wtq"', 'name = "wtq-small"'))
    return path


def test_a_checkpoint_of_another_grammar_is_a_clear_error(
        tiny_run: Path, prepared_demo: Path, tmp_path: Path) -> None:
    from mapo_cli.language.grammar import load_grammar
    from mapo_cli.learn.checkpoint import load_checkpoint, save_checkpoint
    from mapo_cli.learn.model import ModelConfig, Programmer

    grammar = load_grammar(str(smaller_grammar(tmp_path)))
    vocabulary = load_checkpoint(tiny_run / "best.pt").vocabulary
    model = Programmer(ModelConfig(16, 16), len(vocabulary), len(grammar.builtin_tokens))
    save_checkpoint(tmp_path / "other.pt", model, vocabulary, grammar, {"max_expressions": 3})
    dev = prepared_demo / "random-split-1-dev.jsonl"
    message = one_line_error(runner.invoke(app, ["decode", str(tmp_path / "other.pt"), str(dev)]))
    assert "grammar 'wtq-small'" in message and "data uses grammar 'wtq'" in message


def test_a_checkpoint_with_another_vocabulary_is_a_clear_error(
        tiny_run: Path, prepared_demo: Path, tmp_path: Path) -> None:
    shutil.copy(tiny_run / "best.pt", tmp_path / "best.pt")
    sidecar = json.loads((tiny_run / "best.json").read_text())
    sidecar["vocabulary"]["words"] = sidecar["vocabulary"]["words"][:50]  # another data set's
    (tmp_path / "best.json").write_text(json.dumps(sidecar))
    dev = prepared_demo / "random-split-1-dev.jsonl"
    message = one_line_error(runner.invoke(app, ["decode", str(tmp_path / "best.pt"), str(dev)]))
    assert "weights do not fit" in message


class Payload:
    """Stands for any object whose unpickling would run code."""


def test_a_checkpoint_that_would_run_code_is_refused_in_one_plain_line(
        tiny_run: Path, prepared_demo: Path, tmp_path: Path) -> None:
    import hashlib

    weights = torch.load(tiny_run / "best.pt", weights_only=True)
    torch.save({**weights, "payload": Payload()}, tmp_path / "best.pt")
    sidecar = json.loads((tiny_run / "best.json").read_text())
    sidecar["weights_sha256"] = hashlib.sha256((tmp_path / "best.pt").read_bytes()).hexdigest()
    (tmp_path / "best.json").write_text(json.dumps(sidecar))
    dev = prepared_demo / "random-split-1-dev.jsonl"
    message = one_line_error(runner.invoke(app, ["decode", str(tmp_path / "best.pt"), str(dev)]))
    assert f"{tmp_path / 'best.pt'}: refused: it holds Python code or objects" in message
    assert "test_decode.Payload" in message and "\x1b" not in message
    assert len(message.strip().splitlines()) == 1


def test_data_without_its_tables_is_a_clear_error(
        tiny_run: Path, prepared_demo: Path, tmp_path: Path) -> None:
    lonely = tmp_path / "lonely" / "dev.jsonl"
    lonely.parent.mkdir()
    shutil.copy(prepared_demo / "random-split-1-dev.jsonl", lonely)
    assert "no tables file" in one_line_error(runner.invoke(app, ["decode", str(tiny_run),
                                                                  str(lonely)]))
    first = json.loads((prepared_demo / "tables.jsonl").read_text().splitlines()[0])
    (lonely.parent / "tables.jsonl").write_text(json.dumps(first) + "\n")
    assert "are missing" in one_line_error(runner.invoke(app, ["decode", str(tiny_run),
                                                               str(lonely)]))


def test_missing_checkpoints_and_bad_options_are_clear_errors(
        tiny_run: Path, prepared_demo: Path, tmp_path: Path) -> None:
    dev = str(prepared_demo / "random-split-1-dev.jsonl")
    assert "no such checkpoint" in one_line_error(
        runner.invoke(app, ["decode", str(tmp_path / "nowhere"), dev]))
    (tmp_path / "empty-run").mkdir()
    assert "no checkpoint" in one_line_error(
        runner.invoke(app, ["decode", str(tmp_path / "empty-run"), dev]))
    assert "--beam must be an integer from 1 to 1000, got 0" in one_line_error(
        runner.invoke(app, ["decode", str(tiny_run), dev, "--beam", "0"]))
    assert "no such file" in one_line_error(
        runner.invoke(app, ["decode", str(tiny_run), str(tmp_path / "missing.jsonl")]))


def test_an_example_that_cannot_be_decoded_counts_as_wrong_and_is_reported(
        tiny_run: Path, prepared_demo: Path, tmp_path: Path) -> None:
    data = tmp_path / "data" / "dev.jsonl"
    data.parent.mkdir()
    shutil.copy(prepared_demo / "tables.jsonl", data.parent / "tables.jsonl")
    examples = [json.loads(x) for x in
                (prepared_demo / "random-split-1-dev.jsonl").read_text().splitlines()[:5]]
    examples[2]["entities"] = [{"type": "date", "value": "not a date", "span": [0, 1]}]
    data.write_text("".join(json.dumps(e) + "\n" for e in examples))
    beams = tmp_path / "beams.jsonl"
    result = runner.invoke(app, ["decode", str(tiny_run), str(data), "--workers", "1",
                                 "--programs", str(beams), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["errors"] == 1 and summary["total"] == 5 and summary["no_program"] >= 1
    broken = [json.loads(line) for line in beams.read_text().splitlines()][2]
    assert "bad date" in broken["error"] and not broken["correct"] and not broken["programs"]
