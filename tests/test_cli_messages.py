"""What a newcomer reads: `--version`, help texts, and errors that say what was expected."""

from __future__ import annotations

import dataclasses
import io
import json
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from rich.console import Console
from rich.progress import MofNCompleteColumn, TextColumn
from typer.testing import CliRunner

from mapo_cli.commands.common import LazyProgress, reports_errors
from mapo_cli.core.ranges import RANGES
from mapo_cli.learn.config import TrainConfig
from mapo_cli.main import app

runner = CliRunner()
DEMO = Path(__file__).resolve().parents[1] / "datasets" / "demo"
COMMANDS = [[], ["prepare"], ["prepare", "wtq"], ["prepare", "csv"], ["prepare", "wikisql"],
            ["exec"], ["score"], ["explore"], ["train"], ["decode"], ["rerank"], ["ask"],
            ["inspect"], ["inspect", "store"], ["inspect", "spurious"], ["inspect", "run"],
            ["inspect", "decoded"]]


def help_text(*command: str) -> str:
    """The help as one line of words: no box, no wrapping."""
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.replace("│", " ").split())


def test_version_is_the_installed_distributions() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"mapo {version('mapo')}\n"


def test_the_extras_to_install_are_named_in_full() -> None:
    text = help_text("train")
    assert "pip install 'mapo[glove]'" in text
    for command in ("train", "explore", "decode", "rerank"):
        assert "pip install 'mapo[ray]'" in help_text(command)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "mapo")
def test_flags_show_no_type(command: list[str]) -> None:
    assert "<bool>" not in help_text(*command)


def test_train_says_what_is_required_and_the_defaults() -> None:
    text = help_text("train")
    assert text.count("[required unless in --config]") == 3  # --train, --dev, --store
    defaults = TrainConfig()
    assert f"Random seed (default {defaults.seed}; an integer from 0 to" in text
    assert f"checkpoints (default {defaults.eval_every}; an integer from 1 to" in text


def test_every_training_setting_is_an_option_with_its_default_and_range() -> None:
    text = " ".join(help_text("train").split())
    for declared in dataclasses.fields(TrainConfig):
        name = declared.metadata["switch"] or "--" + declared.name.replace("_", "-")
        assert name in text, name
        if declared.name in RANGES and not isinstance(declared.default, bool):
            assert f"(default {declared.default}; {RANGES[declared.name].describe()})" in text


@pytest.fixture
def scored(tmp_path: Path, prepared_demo: Path) -> dict[str, Path]:
    data = prepared_demo / "random-split-1-dev.jsonl"
    first = json.loads(data.read_text().splitlines()[0])
    predictions = tmp_path / "pred.tsv"
    predictions.write_text(f"{first['id']}\t{first['answer'][0]}\n")
    return {"data": data, "predictions": predictions}


def one_line_error(result) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_score_with_its_arguments_swapped_says_which_goes_where(scored: dict) -> None:
    line = one_line_error(runner.invoke(app, ["score", str(scored["data"]),
                                              str(scored["predictions"])]))
    assert f"{scored['data']}: JSON lines, not predictions" in line
    assert "PREDICTIONS (a TSV of id<TAB>answer...) first and DATA (prepared data JSONL" in line
    line = one_line_error(runner.invoke(app, ["score", str(scored["predictions"]),
                                              str(scored["predictions"])]))
    assert "not a JSON example" in line and "DATA (prepared data JSONL" in line
    assert runner.invoke(app, ["score", str(scored["predictions"]),
                               str(scored["data"])]).exit_code == 0


def test_a_file_system_error_names_the_path_without_errno(capsys: pytest.CaptureFixture) -> None:
    @reports_errors
    def write() -> None:
        raise PermissionError(13, "Permission denied", "ro/x")

    with pytest.raises(typer.Exit):
        write()
    assert capsys.readouterr().err == "error: ro/x: permission denied\n"


def test_an_output_below_a_file_is_a_plain_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    out = tmp_path / "notes.txt" / "prepared"
    line = one_line_error(runner.invoke(app, ["prepare", "wtq", str(DEMO), str(out)]))
    assert "Errno" not in line and str(tmp_path / "notes.txt") in line


def test_an_error_from_a_library_loses_its_escape_codes_and_line_breaks(
        capsys: pytest.CaptureFixture) -> None:
    from mapo_cli.core.errors import MapoError

    @reports_errors
    def fail() -> None:
        raise MapoError("x.pt: \x1b[1mdo this\x1b[0m.\n\tor that")

    with pytest.raises(typer.Exit):
        fail()
    assert capsys.readouterr().err == "error: x.pt: do this. or that\n"


def _fake_run(root: Path, name: str, objective: str, seed: int) -> Path:
    run = root / name
    run.mkdir()
    config = TrainConfig(train="out/wtq/random-split-1-train.jsonl", store="out/wtq-store",
                         dev="out/wtq/random-split-1-dev.jsonl", objective=objective, seed=seed)
    (run / "config.toml").write_text(config.to_toml())
    record = {"step": 25000, "seconds": 2100.0, "dev_accuracy": 0.4213, "train_return": 0.469,
              "memory_coverage": 0.787, "clipped_fraction": 0.27, "samples_per_second": 105.3,
              "loss": 0.3}
    (run / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    return run


def test_inspect_run_at_80_columns_cuts_nothing(tmp_path: Path) -> None:
    runs = [_fake_run(tmp_path, "mapo-glove-dropout-0.3", "mapo", 1),
            _fake_run(tmp_path, "reinforce-baseline", "reinforce", 2)]
    result = runner.invoke(app, ["inspect", "run", *map(str, runs)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    for text in ("mapo-glove-dropout-0.3", "42.1%", "25000", "105", "reinforce", "seed"):
        assert text in result.stdout
    one = runner.invoke(app, ["inspect", "run", str(runs[0])], env={"COLUMNS": "80"})
    assert f"run {runs[0]}\n" in one.stdout and "…" not in one.stdout


def logged_bar(log_every: float | None) -> list[str]:
    """The lines a three-step bar leaves in a log file (a console that is no terminal)."""
    log = io.StringIO()
    with LazyProgress(TextColumn("train"), MofNCompleteColumn(), total=3,
                      console=Console(file=log, width=40), log_every=log_every) as bar:
        for done in (1, 2, 3):
            bar(done, 3)
    return [line.strip() for line in log.getvalue().splitlines()]


def test_a_bar_in_a_log_file_is_a_line_every_interval_and_one_at_the_end() -> None:
    assert logged_bar(log_every=0.0) == ["train 1/3", "train 2/3", "train 3/3", "train 3/3"]
    assert logged_bar(log_every=None) == ["train 3/3"]  # a minute between lines by default
