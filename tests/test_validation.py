"""Every numeric option and config key has one declared range, checked before any work.

A bad value is one line that names the option, the value and the range, with a
non-zero exit code, whatever the command, and whether it comes from a flag or
from a `--config` file. The commands' work is replaced by a stub that fails
loudly, so a value that slipped through would show as "work started".
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mapo_cli.core.errors import MapoError
from mapo_cli.core.ranges import RANGES, check_range
from mapo_cli.learn.config import TrainConfig
from mapo_cli.main import app

runner = CliRunner()
WORK_STARTED = "work started"


def _work(*_args, **_kwargs):
    raise MapoError(WORK_STARTED)


# Where each command's work begins: validation must end before these are called.
WORK = {
    "explore": ["mapo_cli.search.driver.explore_data"],
    "train": ["mapo_cli.learn.train.train"],
    "decode": ["mapo_cli.analysis.decode.decode_file", "mapo_cli.analysis.ensemble.ensemble_file"],
    "ask": ["mapo_cli.analysis.ask.Parser.load"],
    "inspect store": ["mapo_cli.analysis.store_report.store_report",
                      "mapo_cli.analysis.store_report.example_report"],
    "inspect spurious": ["mapo_cli.analysis.spurious_report.analyse_store"],
    "inspect run": ["mapo_cli.analysis.run_report.load_run"],
}


@pytest.fixture(scope="module")
def files(prepared_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("validation")
    return {"data": prepared_demo / "random-split-1-dev.jsonl", "tmp": tmp}


@pytest.fixture(autouse=True, scope="module")
def no_work():
    with pytest.MonkeyPatch.context() as patch:
        for targets in WORK.values():
            for target in targets:
                patch.setattr(target, _work)
        yield


def command_args(command: str, files: dict[str, Path]) -> list[str]:
    """A command line that is valid up to the point where work starts."""
    data, tmp = str(files["data"]), files["tmp"]
    return {
        "explore": ["explore", data, "--store", str(tmp / "store")],
        "train": ["train", "--train", data, "--dev", data, "--store", str(tmp / "store"),
                  "--run", str(tmp / "run")],
        "decode": ["decode", str(tmp / "run"), data],
        "ask": ["ask", str(tmp / "run"), str(tmp / "table.csv"), "which nation?"],
        "inspect store": ["inspect", "store", str(tmp / "store")],
        "inspect spurious": ["inspect", "spurious", str(tmp / "store")],
        "inspect run": ["inspect", "run", str(tmp / "run")],
    }[command].copy()


def invoke(args: list[str]):
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_refused(result, label: str) -> str:
    """Non-zero exit, one line naming the option, and no work done."""
    assert result.exit_code != 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert label in lines[0] and WORK_STARTED not in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- the table of bad values

BAD = {
    "explore": {
        "--workers": ["-1", "257"],
        "--samples-per-example": ["0", "-1", "10000001", str(10**30)],
        "--max-expressions": ["-1", "21"],
        "--seconds": ["nan", "inf", "-inf", "-5"],
        "--seed": ["-1", str(2**32)],
        "--error-rate": ["0", "1", "-0.1", "nan", "1e-12"],
        "--chunk": ["-1", str(10**8)],
    },
    "train": {
        "--alpha": ["-0.1", "1.5", "nan"],
        "--memory-top-k": ["-1"],
        "--steps": ["0", "-3", str(10**30)],
        "--seconds": ["nan", "inf", "-5"],
        "--batch-examples": ["0", str(10**6)],
        "--seed": ["-1"],
        "--learning-rate": ["0", "-0.001", "nan", "inf", "2"],
        "--dropout": ["1", "-0.1", "nan"],
        "--average-decay": ["1", "-0.5", "nan"],
        "--eval-every": ["0"],
        "--actors": ["-1", "1000"],
        "--min-count": ["0"],
    },
    "decode": {
        "--beam": ["0", "-1", "1001"],
        "--batch": ["0", "-8"],
        "--workers": ["-1", "257"],
    },
    "ask": {
        "--beam": ["0", str(10**6)],
        "--top": ["0", "-1"],
    },
    "inspect store": {"--rows": ["-1", "-10"]},
    "inspect spurious": {
        "--tables": ["0", "1001"],
        "--seed": ["-1"],
        "--limit": ["-1"],
        "--show": ["-2"],
    },
    "inspect run": {"--rows": ["-5"]},
}
CASES = [(command, option, value) for command, options in BAD.items()
         for option, values in options.items() for value in values]


@pytest.mark.parametrize(("command", "option", "value"), CASES)
def test_a_bad_flag_is_refused_before_any_work(files: dict, command: str, option: str,
                                               value: str) -> None:
    line = assert_refused(invoke([*command_args(command, files), option, value]), option)
    assert "must be" in line and "got" in line


def test_the_message_names_the_option_the_value_and_the_range(files: dict) -> None:
    result = invoke([*command_args("train", files), "--seconds", "nan"])
    assert assert_refused(result, "--seconds") == (
        "error: --seconds must be a finite number ≥ 0, got nan")
    result = invoke([*command_args("explore", files), "--max-expressions", "-1"])
    assert assert_refused(result, "--max-expressions") == (
        "error: --max-expressions must be an integer from 0 to 20, got -1")
    result = invoke([*command_args("train", files), "--dropout", "1"])
    assert "--dropout must be a number in [0, 1), got 1.0" in assert_refused(result, "--dropout")


# Config keys: every numeric field of TrainConfig, in TOML (which has nan and inf).
BAD_KEYS = {
    "alpha": ["-1.0", "nan"], "memory_top_k": ["-1"], "steps": ["0"],
    "seconds": ["nan", "inf", "-5.0"], "batch_examples": ["0"], "learning_rate": ["0.0", "inf"],
    "entropy": ["-0.1", "nan"], "dropout": ["1.0"], "hidden": ["0", "9000"],
    "embedding": ["0"], "min_count": ["0"], "grad_clip": ["0.0", "-inf"],
    "average_decay": ["1.0"], "memory_limit": ["0"], "seed": ["-1"], "eval_every": ["0"],
    "eval_examples": ["-1"], "save_every_seconds": ["0.0", "nan"], "keep_checkpoints": ["0"],
    "actors": ["-2"], "sync_every": ["0"], "threads": ["0", "1000"],
}
KEY_CASES = [(key, value) for key, values in BAD_KEYS.items() for value in values]


@pytest.mark.parametrize(("key", "value"), KEY_CASES)
def test_a_bad_config_key_is_refused_naming_the_file_and_the_key(files: dict, key: str,
                                                                 value: str) -> None:
    config = files["tmp"] / f"bad-{key}.toml"
    config.write_text(f"{key} = {value}\n")
    line = assert_refused(invoke([*command_args("train", files), "--config", str(config)]),
                          f"{config}: {key} must be")
    assert line.endswith(f"got {value}")


def test_a_flag_and_a_config_key_accept_the_same_values(files: dict) -> None:
    config = files["tmp"] / "seconds.toml"
    for value in ("nan", "-5.0", "0.0", "60.0"):
        config.write_text(f"seconds = {value}\n")
        from_file = invoke([*command_args("train", files), "--config", str(config)])
        from_flag = invoke([*command_args("train", files), "--seconds", value])
        assert (WORK_STARTED in from_file.output) == (WORK_STARTED in from_flag.output)
    assert "hidden must be even" in assert_refused(
        invoke([*command_args("train", files), "--config", str(_toml(files, "hidden = 7"))]),
        "hidden")


def _toml(files: dict, text: str) -> Path:
    path = files["tmp"] / "extra.toml"
    path.write_text(text + "\n")
    return path


def test_every_numeric_setting_has_a_declared_range() -> None:
    numeric = [f.name for f in dataclasses.fields(TrainConfig)
               if type(getattr(TrainConfig(), f.name)) in (int, float)]
    assert [name for name in numeric if name not in RANGES] == []
    TrainConfig(train="t", dev="d", store="s").check()  # the defaults are in range


# ---------------------------------------------------------------- output files first


@pytest.mark.parametrize(("command", "option"), [("decode", "--out"), ("decode", "--programs"),
                                                 ("inspect spurious", "--out"),
                                                 ("inspect run", "--plot")])
def test_an_output_in_a_missing_directory_is_refused_before_the_work(
        files: dict, command: str, option: str) -> None:
    target = files["tmp"] / "no-such-dir" / "out.file"
    line = assert_refused(invoke([*command_args(command, files), option, str(target)]),
                          str(target))
    assert line == f"error: cannot write {target}: no directory {target.parent}"


def test_an_output_that_is_a_directory_is_refused(files: dict) -> None:
    line = assert_refused(invoke([*command_args("decode", files), "--out", str(files["tmp"])]),
                          str(files["tmp"]))
    assert "it is a directory" in line


# ---------------------------------------------------------------- any value at all

OPTIONS = {command: list(options) for command, options in BAD.items()}
SPECIAL = [math.nan, math.inf, -math.inf, -1, 0, 1, 2**31, 2**32, 2**63, 10**30, -(10**30),
           0.5, 1.0, 1e-12, 1e300]
VALUES = st.one_of(st.sampled_from(SPECIAL), st.integers(-(10**40), 10**40),
                   st.floats(allow_nan=True, allow_infinity=True))


def _in_range(option: str, value: float) -> bool:
    accepted = RANGES[option.lstrip("-").replace("-", "_")]
    if accepted.integer and isinstance(value, float):
        # typer reads "3.0" as 3 and refuses "2.5", "1e+30" and "nan" for an integer option
        return bool(re.fullmatch(r"-?\d+\.0", repr(value))) and int(value) in accepted
    return value in accepted


@pytest.mark.parametrize("command", list(OPTIONS))
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_value_is_refused_with_its_name_or_reaches_the_work(files: dict, command: str,
                                                                data: st.DataObject) -> None:
    option = data.draw(st.sampled_from(OPTIONS[command]), label="option")
    value = data.draw(VALUES, label="value")
    result = invoke([*command_args(command, files), option, repr(value) if isinstance(
        value, float) else str(value)])
    assert result.exit_code != 0  # the stub stops every run that gets through
    if _in_range(option, value):
        assert WORK_STARTED in result.output, result.output
    else:
        assert WORK_STARTED not in result.output and option in result.output, result.output


KEYS = sorted(BAD_KEYS)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_any_config_value_is_refused_with_its_key_or_reaches_the_work(files: dict, key: str,
                                                                      value: float) -> None:
    text = {math.inf: "inf", -math.inf: "-inf"}.get(value) if isinstance(value, float) else None
    text = text or ("nan" if isinstance(value, float) and math.isnan(value) else repr(value))
    config = _toml(files, f"{key} = {text}")
    result = invoke([*command_args("train", files), "--config", str(config)])
    assert result.exit_code != 0
    expected = type(getattr(TrainConfig(), key))
    valid = (isinstance(value, expected) or expected is float) and _in_range(key, value)
    valid = valid and not (key == "hidden" and value % 2)
    if valid:
        assert WORK_STARTED in result.output, result.output
    else:
        assert WORK_STARTED not in result.output and key in result.output, result.output


def test_check_range_is_the_library_guard_too() -> None:
    with pytest.raises(MapoError, match=r"^beam must be an integer from 1 to 1000, got 0$"):
        check_range("beam", 0, label="beam")
    with pytest.raises(MapoError, match="got True"):
        check_range("steps", True)


def test_no_triggers_and_relaxed_triggers_together_are_refused(files: dict) -> None:
    result = invoke([*command_args("explore", files), "--no-triggers", "--relax-triggers"])
    assert "give one of them" in assert_refused(result, "--relax-triggers")


TRAIN_RANGES = [f.name for f in dataclasses.fields(TrainConfig) if f.name in RANGES]


def _outside(accepted) -> float | int:
    """A value just outside a range."""
    if accepted.integer:
        return accepted.low - 1
    return accepted.low if accepted.open_low else accepted.low - 1.0


@pytest.mark.parametrize("name", TRAIN_RANGES)
def test_a_setting_out_of_range_gets_the_same_message_from_a_flag_and_a_config(
        files: dict, name: str) -> None:
    value = _outside(RANGES[name])
    said = f"must be {RANGES[name].describe()}, got {value!r}"
    flag = invoke([*command_args("train", files), f"--{name.replace('_', '-')}", str(value)])
    assert flag.exit_code == 2 and f"--{name.replace('_', '-')} {said}" in flag.output
    config = _toml(files, f"{name} = {value!r}")
    from_file = invoke([*command_args("train", files), "--config", str(config)])
    assert from_file.exit_code == 2 and f"{config}: {name} {said}" in from_file.output
