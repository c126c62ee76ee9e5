"""What protects a user's files and terminal: no output over an input, no empty path, an
`--overwrite` that deletes only a run, one error style with its exit codes, limits on what
`ask` reads, and runs that resume from any directory."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from test_decode import TINY, train_tiny_run
from typer.testing import CliRunner

from mapo_cli.learn.config import TrainConfig, read_config_file
from mapo_cli.main import app
from mapo_cli.store.files import lock_writer, release_writer
from mapo_cli.store.store import copy_store

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path,
         demo_store: Path) -> dict:
    """A tiny run, a small data file beside its tables, and a store: the inputs to protect."""
    tmp = tmp_path_factory.mktemp("paths")
    run = train_tiny_run(tmp, prepared_demo, demo_store)
    data = tmp / "data" / "dev.jsonl"
    data.parent.mkdir()
    data.write_text("".join((prepared_demo / "random-split-1-dev.jsonl")
                            .read_text().splitlines(keepends=True)[:3]))
    shutil.copy(prepared_demo / "tables.jsonl", data.parent / "tables.jsonl")
    return {"run": run, "data": data, "store": tmp / "run-store", "tmp": tmp,
            "train": prepared_demo / "random-split-1-train.jsonl",
            "dev": prepared_demo / "random-split-1-dev.jsonl"}


def digest(path: Path) -> str:
    """The bytes of a file, or of every file under a directory."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


@pytest.mark.parametrize("case", ["decode --out DATA", "decode --programs DATA",
                                  "decode --out TABLES", "decode --out RUN/best.pt",
                                  "rerank --out DATA", "inspect spurious --out STORE/data.mdb",
                                  "inspect run --plot RUN/metrics.jsonl"])
def test_an_output_that_is_an_input_is_refused(made: dict, case: str) -> None:
    run, data, store = made["run"], made["data"], made["store"]
    target = {"DATA": data, "TABLES": data.parent / "tables.jsonl", "RUN/best.pt": run / "best.pt",
              "STORE/data.mdb": store / "data.mdb",
              "RUN/metrics.jsonl": run / "metrics.jsonl"}[case.split()[-1]]
    before = digest(target)
    command = {"decode": ["decode", str(run), str(data)], "rerank": ["rerank", str(run), str(data)],
               "inspect spurious": ["inspect", "spurious", str(store), "--run", str(run)],
               "inspect run": ["inspect", "run", str(run)]}[case.rsplit(" ", 2)[0]]
    result = runner.invoke(app, [*command, case.split()[-2], str(target)])
    line = one_line_error(result, 2)
    assert "is an input of this command" in line and str(target) in line
    assert digest(target) == before


def test_an_output_reached_through_a_symlink_is_still_the_input(made: dict) -> None:
    link = made["tmp"] / "link.jsonl"
    link.symlink_to(made["data"])
    before = digest(made["data"])
    result = runner.invoke(app, ["decode", str(made["run"]), str(made["data"]), "--out", str(link)])
    assert "is an input of this command" in one_line_error(result, 2)
    assert digest(made["data"]) == before


def test_two_outputs_that_are_one_file_are_refused(made: dict, tmp_path: Path) -> None:
    out = tmp_path / "same.tsv"
    result = runner.invoke(app, ["decode", str(made["run"]), str(made["data"]), "--out", str(out),
                                 "--programs", str(out)])
    assert "--programs and --out name the same file" in one_line_error(result, 2)
    assert not out.exists()


def test_a_new_file_inside_a_run_is_a_fine_output(made: dict) -> None:
    out = made["run"] / "dev-predictions.tsv"
    result = runner.invoke(app, ["decode", str(made["run"]), str(made["data"]), "--out", str(out),
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    out.unlink()


@pytest.mark.parametrize("arguments", [
    ["prepare", "wtq", "datasets/demo", ""],
    ["explore", "DATA", "--store", ""],
    ["train", "--run", "", "--train", "DATA"],
    ["decode", "RUN", "DATA", "--out", ""],
    ["decode", "RUN", ""],
    ["inspect", "store", ""],
    ["ask", "", "TABLE", "which?"],
])
def test_an_empty_path_is_refused(made: dict, arguments: list[str], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where '' would have written
    names = {"DATA": str(made["data"]), "RUN": str(made["run"]), "TABLE": str(made["data"])}
    result = runner.invoke(app, [names.get(a, a) for a in arguments])
    assert "empty path names nothing" in one_line_error(result, 2)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_deletes_only_a_run(made: dict, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.toml").write_text("steps = 1\n")
    (mine / "thesis.tex").write_text("two years of work")
    result = runner.invoke(app, ["train", "--train", str(made["train"]), "--dev", str(made["dev"]),
                                 "--store", str(made["store"]), "--run", str(mine), "--overwrite",
                                 "--read-only-store"])
    line = one_line_error(result, 1)
    assert "holds files that are not a run's (thesis.tex)" in line
    assert (mine / "thesis.tex").read_text() == "two years of work"


def test_a_run_directory_that_holds_an_input_is_refused(made: dict, tmp_path: Path) -> None:
    run = tmp_path / "run"
    store = run / "store"
    copy_store(made["store"], store)
    result = runner.invoke(app, ["train", "--train", str(made["train"]), "--dev", str(made["dev"]),
                                 "--store", str(store), "--run", str(run)])
    assert f"--run {run} holds an input of this command" in one_line_error(result, 2)
    result = runner.invoke(app, ["train", "--train", str(made["train"]), "--dev", str(made["dev"]),
                                 "--store", str(store), "--run", str(store)])
    assert f"--run {store} holds an input of this command" in one_line_error(result, 2)


def test_train_finds_a_held_store_lock_before_it_starts(made: dict, tmp_path: Path) -> None:
    store = tmp_path / "store"
    copy_store(made["store"], store)
    fd = lock_writer(store)
    try:
        result = runner.invoke(app, ["train", "--train", str(made["train"]), "--dev",
                                     str(made["dev"]), "--store", str(store), "--run",
                                     str(tmp_path / "run"), "--steps", "1", "--serial"])
    finally:
        release_writer(fd)
    assert f"store at {store} is being written by process {os.getpid()}" in one_line_error(
        result, 1)
    assert not (tmp_path / "run").exists()


def test_an_empty_dev_file_is_refused_before_training(made: dict, tmp_path: Path) -> None:
    dev = made["data"].parent / "empty.jsonl"
    dev.write_text("")
    result = runner.invoke(app, ["train", "--train", str(made["train"]), "--dev", str(dev),
                                 "--store", str(made["store"]), "--run", str(tmp_path / "run"),
                                 "--read-only-store"])
    assert f"{dev}: no examples to evaluate" in one_line_error(result, 1)


def test_a_run_resumes_from_another_directory(made: dict, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    here = tmp_path / "here"
    here.mkdir()
    copy_store(made["store"], here / "store")
    for name in ("train", "dev"):
        shutil.copy(made[name], here / f"{name}.jsonl")
    shutil.copy(made["train"].parent / "tables.jsonl", here / "tables.jsonl")
    (here / "tiny.toml").write_text(TINY)
    monkeypatch.chdir(here)
    result = runner.invoke(app, ["train", "--train", "train.jsonl", "--dev", "dev.jsonl",
                                 "--store", "store", "--config", "tiny.toml", "--run", "run",
                                 "--steps", "1", "--eval-every", "1", "--serial",
                                 "--read-only-store"])
    assert result.exit_code == 0, result.output
    saved = read_config_file(here / "run" / "config.toml")
    assert saved["store"] == str(here / "store")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", "--run", "here/run", "--resume", "--steps", "2",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 2


def test_a_config_with_control_characters_in_a_path_reads_back(tmp_path: Path) -> None:
    config = TrainConfig(train="odd\x07name\x7f\t\"quoted\"\\.jsonl", dev="ünïcode.jsonl")
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml(), encoding="utf-8")
    read = read_config_file(path)
    assert read["train"] == config.train and read["dev"] == config.dev


def test_usage_errors_are_one_line_with_exit_code_2() -> None:
    for arguments, message in [(["decode", "--bogus"], "No such option: --bogus"),
                               (["prepare", "wtq"], "Missing argument"),
                               (["decode", "--beam", "many"], "--beam"),
                               (["decode", "--beam", "0", "RUN", "DATA"], "--beam must be")]:
        assert message in one_line_error(runner.invoke(app, arguments), 2)


def test_a_question_past_the_length_limit_is_refused_with_the_limit(made: dict,
                                                                     tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("Nation,Gold\nPeru,3\n")
    result = runner.invoke(app, ["ask", str(made["run"]), str(table), "gold " * 50_000])
    assert "a question may have at most 1,000" in one_line_error(result, 1)


def test_a_table_past_the_row_limit_is_refused_with_how_to_raise_it(made: dict,
                                                                     tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("Nation,Gold\n" + "".join(f"n{i},{i}\n" for i in range(30)))
    result = runner.invoke(app, ["ask", str(made["run"]), str(table), "which nation?",
                                 "--max-rows", "20"])
    line = one_line_error(result, 1)
    assert "30 rows; a table may have at most 20" in line and "--max-rows" in line
    result = runner.invoke(app, ["ask", str(made["run"]), str(table), "which nation?",
                                 "--max-rows", "30"])
    assert result.exit_code == 0, result.output


def test_control_characters_are_escaped_when_echoed(made: dict, tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("Nation,Gold\nPeru,3\n")
    result = runner.invoke(app, ["ask", str(made["run"]), str(table),
                                 "which \x1b[31mnation\x07 won?"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "which \\x1b[31mnation\\x07 won?" in result.output
    result = runner.invoke(app, ["exec", str(made["data"]), "no\x1b[2Jsuch", "(count all_rows)"])
    assert result.exit_code != 0 and "\x1b" not in result.output


def test_a_grammar_whose_numbers_are_out_of_range_is_refused(tmp_path: Path) -> None:
    text = (ROOT / "grammars" / "wtq.toml").read_text()
    grammar = tmp_path / "g.toml"
    grammar.write_text(text.replace("max_expressions = 3", "max_expressions = 1000000000"))
    result = runner.invoke(app, ["prepare", "wtq", str(ROOT / "datasets" / "demo"),
                                 str(tmp_path / "out"), "--grammar", str(grammar)])
    assert "max_expressions must be an integer from 1 to 20, got 1000000000" in one_line_error(
        result, 1)


def test_a_table_with_a_nul_byte_is_refused(made: dict, tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("Planet,Moons\nMer\x00cury,0\n")
    result = runner.invoke(app, ["ask", str(made["run"]), str(table), "which planet?"])
    assert f"{table}:2: a NUL byte in a cell" in one_line_error(result, 1)


def test_scoring_against_an_empty_data_file_is_refused(made: dict, tmp_path: Path) -> None:
    data = made["data"].parent / "none.jsonl"
    data.write_text("")
    predictions = tmp_path / "p.tsv"
    predictions.write_text("nt-0\tPeru\n")
    result = runner.invoke(app, ["score", str(predictions), str(data)])
    assert f"{data}: no examples to score against" in one_line_error(result, 1)


def test_an_encoder_cache_that_cannot_be_a_directory_is_refused_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mapo_cli.core.errors import MapoError
    from mapo_cli.learn.contextual_cache import ContextCache

    (tmp_path / "cachefile").write_text("not a directory")
    monkeypatch.setenv("MAPO_CACHE", str(tmp_path / "cachefile"))
    with pytest.raises(MapoError, match=r"cachefile is not a directory \(set MAPO_CACHE"):
        ContextCache("minilm")
