"""Bundled models: named wherever RUN is, listed by `mapo models`, asked without a run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_decode import train_tiny_run
from typer.testing import CliRunner

import mapo_cli
from mapo_cli.core.errors import MapoError
from mapo_cli.learn import bundled
from mapo_cli.learn.bundled import bundled_models, find_run
from mapo_cli.main import app

runner = CliRunner()
MAPO = str(Path(sys.executable).with_name("mapo"))

MEDALS = "Nation,Gold,Silver,Bronze\nNorway,14,14,11\nGermany,14,10,7\nCanada,11,8,10\n" \
         "United States,9,8,6\nNetherlands,8,6,6\n"


@pytest.fixture(scope="module")
def models_root(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path,
                demo_store: Path) -> Path:
    """A package's models folder with one model, `wtq`: a tiny demo run and its reranker."""
    run = train_tiny_run(tmp_path_factory.mktemp("bundled-run"), prepared_demo, demo_store)
    root = tmp_path_factory.mktemp("models")
    shutil.copytree(run, root / "wtq", ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
    result = runner.invoke(app, ["rerank", str(root / "wtq"),
                                 str(prepared_demo / "random-split-1-train.jsonl"),
                                 "--out", str(root / "wtq" / "reranker.json"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    (root / "wtq" / "model.json").write_text(json.dumps(
        {"trained_on": "the demo", "dev_accuracy": 0.25, "dev_accuracy_reranked": 0.3}))
    return root


@pytest.fixture
def installed(models_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake models folder stands for the package's."""
    monkeypatch.setattr(bundled, "MODELS", models_root)
    return models_root


def test_a_name_is_the_bundled_model_unless_a_path_of_that_name_exists(
        installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_run("wtq") == installed / "wtq"
    (tmp_path / "wtq").mkdir()  # a directory here that is not a run hides it: an error
    with pytest.raises(MapoError, match=f"use its path, {installed / 'wtq'}"):
        find_run("wtq")
    shutil.copytree(installed / "wtq", tmp_path / "wtq", dirs_exist_ok=True)
    assert find_run("wtq") == Path("wtq")  # a run of that name here wins
    with pytest.raises(MapoError, match=r"no such checkpoint or run directory, nor a bundled model "
                                        r"\(bundled: wtq\)"):
        find_run("wikisql")


def test_mapo_models_lists_them_with_accuracy_and_size(installed: Path) -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    [model] = json.loads(result.stdout)["models"]
    assert model["name"] == "wtq" and model["default"] and model["dev_accuracy_reranked"] == 0.3
    assert model["size_bytes"] == sum(f.stat().st_size for f in (installed / "wtq").iterdir()
                                      if f.is_file())
    shown = runner.invoke(app, ["models"], env={"COLUMNS": "120"})
    assert "wtq (default)" in shown.output and "30.00 %" in shown.output


def test_ask_without_a_run_asks_the_default_model_with_its_reranker(
        installed: Path, tmp_path: Path) -> None:
    table = tmp_path / "medals.csv"
    table.write_text(MEDALS)
    question = "which nation won the most gold?"
    alone = runner.invoke(app, ["ask", str(table), question, "--json"])
    named = runner.invoke(app, ["ask", "wtq", str(table), question, "--json"])
    explicit = runner.invoke(app, ["ask", str(installed / "wtq"), str(table), question, "--json",
                                   "--reranker", str(installed / "wtq" / "reranker.json")])
    assert alone.exit_code == named.exit_code == explicit.exit_code == 0, alone.output
    assert json.loads(alone.stdout) == json.loads(named.stdout) == json.loads(explicit.stdout)
    api = mapo_cli.Parser.load().ask(table, question, top=3)  # as the command shows
    assert api.to_json() == json.loads(alone.stdout)


def test_decode_by_name_equals_decode_by_path_and_ranks_by_its_reranker(
        installed: Path, prepared_demo: Path) -> None:
    dev = str(prepared_demo / "random-split-1-dev.jsonl")
    by_name = runner.invoke(app, ["decode", "wtq", dev, "--json", "--workers", "1"])
    by_path = runner.invoke(app, ["decode", str(installed / "wtq"), dev, "--json",
                                  "--workers", "1"])
    assert by_name.exit_code == by_path.exit_code == 0, by_name.output
    name, path = json.loads(by_name.stdout), json.loads(by_path.stdout)
    assert name["correct"] == path["correct"] and name["reranker"].endswith("reranker.json")
    beam = runner.invoke(app, ["decode", "wtq", dev, "--json", "--workers", "1", "--beam-order"])
    assert json.loads(beam.stdout).get("reranker") is None
    both = runner.invoke(app, ["decode", "wtq", dev, "--beam-order", "--reranker",
                               str(installed / "wtq" / "reranker.json")])
    assert both.exit_code == 2 and "exclude each other" in both.output


def test_inspect_run_and_a_missing_name_are_one_line_errors_or_reports(installed: Path) -> None:
    result = runner.invoke(app, ["inspect", "run", "wtq", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["runs"][0]["run"] == str(installed / "wtq")
    for command, message in [(["ask", "nope", "medals.csv", "which?"], "(bundled: wtq)"),
                             (["decode", "nope", "dev.jsonl"], "(bundled: wtq)"),
                             (["inspect", "run", "nope"], "nope: no such run directory")]:
        missing = runner.invoke(app, command)
        assert missing.exit_code == 1, (command, missing.output)
        assert missing.output.count("\n") == 1 and message in missing.output


# ---------------------------------------------------------------- the model that ships


def test_the_package_ships_the_wtq_model() -> None:
    [model] = [m for m in bundled_models() if m.name == "wtq"]
    assert model.size_bytes <= 15e6
    assert {"best.pt", "best.json", "reranker.json", "MODEL_CARD.md", "model.json",
            "config.toml", "metrics.jsonl"} <= {f.name for f in model.path.iterdir()}
    assert model.info["dev_accuracy_reranked"] > 0.45
    assert not any(str(Path.home()) in f.read_text(encoding="utf-8", errors="replace")
                   for f in model.path.iterdir() if f.suffix in (".json", ".toml", ".md"))


def test_a_fresh_process_with_an_empty_cache_answers_with_the_shipped_model(
        tmp_path: Path) -> None:
    table = tmp_path / "medals.csv"
    table.write_text(MEDALS)
    env = {**os.environ, "MAPO_CACHE": str(tmp_path / "empty-cache")}
    result = subprocess.run([MAPO, "ask", str(table), "how many nations won more than 10 gold?",
                             "--json"], check=False, capture_output=True, text=True, env=env,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["answer"] == ["3"]
    assert reply["programs"][0]["program"] == "(filter> all_rows 10 r.gold-num) (count v0)"
    # the encoder's vectors were computed and written before mapo's quick exit
    assert any(f.is_file() for f in (tmp_path / "empty-cache").rglob("*"))


def test_the_mapo_program_leaves_with_the_commands_exit_code_and_all_its_output(
        tmp_path: Path) -> None:
    """`ask` and `models` skip the interpreter's teardown (main.QUICK_EXIT): nothing printed
    is lost, and a failure still exits non-zero."""
    table = tmp_path / "medals.csv"
    table.write_text(MEDALS)
    questions = "how many nations won more than 10 gold?\nwhich nation won the most gold?\n" * 20
    result = subprocess.run([MAPO, "ask", str(table), "--json"], input=questions, check=False,
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["answer"] for line in result.stdout.splitlines()][:2] == [
        ["3"], ["Norway"]]
    assert len(result.stdout.splitlines()) == 40
    missing = subprocess.run([MAPO, "ask", str(tmp_path / "nope.csv"), "how many?"],
                             check=False, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and missing.stderr.startswith("error: ")
    listed = subprocess.run([MAPO, "models", "--json"], check=False, capture_output=True,
                            text=True, timeout=300)
    assert listed.returncode == 0 and json.loads(listed.stdout)


WTQ = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "wtq"


@pytest.mark.skipif(not WTQ.is_dir(), reason=f"WikiTableQuestions not found at {WTQ}")
def test_decoding_the_shipped_model_by_name_equals_decoding_its_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mapo_cli.data.dataset import load_dataset, write_jsonl
    from mapo_cli.data.prepare_wtq import prepare_wtq

    prepare_wtq(WTQ, tmp_path / "prepared")
    examples, _ = load_dataset(tmp_path / "prepared" / "random-split-1-dev.jsonl")
    few = tmp_path / "prepared" / "few-dev.jsonl"
    write_jsonl(few, examples[:40])
    monkeypatch.chdir(tmp_path)
    answers = []
    for run in ("wtq", str(bundled.MODELS / "wtq")):
        out = tmp_path / f"{len(answers)}.tsv"
        result = runner.invoke(app, ["decode", run, str(few), "--out", str(out), "--json",
                                     "--workers", "1"])
        assert result.exit_code == 0, result.output
        answers.append(out.read_text())
    assert answers[0] == answers[1] and len(answers[0].splitlines()) == 40
