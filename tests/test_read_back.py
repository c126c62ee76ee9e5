"""Files mapo wrote and reads back, edited by hand or damaged: a one-line error naming the
file (and line), never a traceback or a silently wrong result; a damaged cache entry is
computed again."""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_decode import train_tiny_run
from test_model import tiny_checkpoint
from test_rerank import trap
from test_spurious_gold_sql import GOLD_PROGRAM, sample  # noqa: F401 -- a fixture
from typer.testing import CliRunner

from mapo_cli.analysis.rerank import fit_reranker, load_reranker, save_reranker
from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import write_jsonl
from mapo_cli.language.grammar import load_grammar
from mapo_cli.learn.checkpoint import load_checkpoint, sidecar_path
from mapo_cli.learn.contextual import WIDTHS, ContextVectors, encoder_input
from mapo_cli.learn.contextual_cache import ContextCache
from mapo_cli.learn.features import SPECIALS, Vocabulary
from mapo_cli.learn.run_dir import latest_checkpoint, state_path
from mapo_cli.main import app

runner = CliRunner()
Json = dict[str, Any]


def error_line(result: Any, names: str) -> str:
    """The command failed with exit code 1 and one `error:` line that names `names`."""
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert names in lines[0] and "Traceback" not in result.output
    return lines[0]


def one_line(error: pytest.ExceptionInfo, starts: str) -> str:
    message = str(error.value)
    assert message.startswith(starts) and "\n" not in message, message
    return message


def edit_json(path: Path, change: Callable[[Json], None]) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


# ---------------------------------------------------------------- checkpoint sidecars


def _set(*keys: str, value: Any) -> Callable[[Json], None]:
    def change(record: Json) -> None:
        for key in keys[:-1]:
            record = record[key]
        record[keys[-1]] = value
    return change


def _drop(key: str) -> Callable[[Json], None]:
    return lambda record: record.pop(key)


SIDECAR_DAMAGE = {
    "hidden size a string": _set("model_config", "hidden_size", value="x"),
    "hidden size a fraction": _set("model_config", "hidden_size", value=8.5),
    "dropout a string": _set("model_config", "dropout", value="0.0"),
    "used tokens a string": _set("model_config", "used_tokens", value="no"),
    "model config a list": _set("model_config", value=[8, 8]),
    "built-in tokens a string": _set("n_builtins", value="x"),
    "weights checksum a number": _set("weights_sha256", value=5),
    "grammar source a number": _set("grammar", "source", value=5),
    "liveness a string": _set("grammar", "live_programs", value="no"),
    "vocabulary min count a string": _set("vocabulary", "min_count", value="x"),
    "vocabulary plural matching a string": _set("vocabulary", "match_plurals", value="yes"),
    "vocabulary without its special words": _set("vocabulary", "words", value=["gold"]),
    "extra a list": _set("extra", value=[1, 2]),
    "max expressions a string": _set("extra", "max_expressions", value="x"),
    "missing key": _drop("weights_sha256"),
}


@pytest.mark.parametrize("damage", SIDECAR_DAMAGE.values(), ids=SIDECAR_DAMAGE.keys())
def test_a_sidecar_with_a_wrong_type_or_missing_key_is_a_one_line_error_naming_it(
        tmp_path: Path, damage: Callable[[Json], None]) -> None:
    path, _, _ = tiny_checkpoint(tmp_path)
    edit_json(sidecar_path(path), damage)
    with pytest.raises(MapoError) as error:
        load_checkpoint(path)
    one_line(error, f"{sidecar_path(path)}: ")


def test_a_sidecar_with_a_string_for_a_number_is_a_one_line_error(
        tmp_path: Path, prepared_demo: Path) -> None:
    path, _, _ = tiny_checkpoint(tmp_path)
    edit_json(sidecar_path(path), _set("model_config", "hidden_size", value="x"))
    result = runner.invoke(app, ["decode", str(path),
                                 str(prepared_demo / "random-split-1-dev.jsonl"), "--workers", "1"])
    assert "hidden_size" in error_line(result, str(sidecar_path(path)))


# ---------------------------------------------------------------- training state (resume)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path,
            demo_store: Path) -> Path:
    """A two-step run (train_tiny_run: RUN/run, its store and tiny.toml beside it)."""
    tmp = tmp_path_factory.mktemp("read-back-run")
    train_tiny_run(tmp, prepared_demo, demo_store)
    return tmp


def _resave_state(path: Path, change: Callable[[Json], None]) -> None:
    """Edit a training state and its checksum, as a hand-edit that knows the format would."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    change(state["extra"])
    torch.save(state, path)
    path.with_suffix(".sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "\n")


RNG_DAMAGE = {
    "python state not a literal": _set("python_rng", value="not a state"),
    "python state of the wrong shape": _set("python_rng", value="(3, (1, 2, 3), None)"),
    "python state a number": _set("python_rng", value=7),
    "torch state of the wrong size": _set("torch_rng", value=torch.zeros(3, dtype=torch.uint8)),
    "torch state missing": _drop("torch_rng"),
    "seconds a string": _set("seconds", value="x"),
    "seconds not a number": _set("seconds", value=math.nan),
}


@pytest.mark.parametrize("damage", RNG_DAMAGE.values(), ids=RNG_DAMAGE.keys())
def test_a_resume_with_a_malformed_rng_state_is_a_one_line_error(
        trained: Path, prepared_demo: Path, tmp_path: Path,
        damage: Callable[[Json], None]) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    state = state_path(latest_checkpoint(run))
    _resave_state(state, damage)
    result = runner.invoke(app, [
        "train", "--train", str(prepared_demo / "random-split-1-train.jsonl"),
        "--dev", str(prepared_demo / "random-split-1-dev.jsonl"),
        "--store", str(trained / "run-store"), "--config", str(trained / "tiny.toml"),
        "--run", str(run), "--serial", "--steps", "4", "--eval-every", "1",
        "--read-only-store", "--resume"])
    error_line(result, str(state))


# ---------------------------------------------------------------- rerankers


@pytest.fixture
def reranker_file(tmp_path: Path) -> Path:
    path = tmp_path / "reranker.json"
    save_reranker(fit_reranker([trap(seed) for seed in range(10)], load_grammar("wtq"),
                               ["a", "b"]), path)
    return path


def test_a_reranker_with_zero_spread_is_refused(reranker_file: Path) -> None:
    edit_json(reranker_file, _set("spread", "expressions", value=0.0))
    with pytest.raises(MapoError) as error:
        load_reranker(reranker_file)
    assert "expressions" in one_line(error, f"{reranker_file}: ")


@pytest.mark.parametrize("part", ["weights", "mean", "spread"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_a_reranker_with_a_non_finite_number_is_refused(reranker_file: Path, part: str,
                                                        value: float) -> None:
    edit_json(reranker_file, _set(part, "calls argmax", value=value))
    with pytest.raises(MapoError) as error:
        load_reranker(reranker_file)
    assert "calls argmax" in one_line(error, f"{reranker_file}: ")


RERANKER_DAMAGE = {
    "a weight a numeric string": _set("weights", "expressions", value="1.5"),
    "a mean true": _set("mean", "expressions", value=True),
    "a spread negative": _set("spread", "expressions", value=-1.0),
    "members a string": _set("members", value="ab"),
    "grammar a number": _set("grammar", value=5),
    "fit a list": _set("fit", value=[1]),
    "a feature missing from the spread": lambda r: r["spread"].pop("expressions"),
}


@pytest.mark.parametrize("damage", RERANKER_DAMAGE.values(), ids=RERANKER_DAMAGE.keys())
def test_a_reranker_with_wrong_types_or_lengths_is_refused(
        reranker_file: Path, damage: Callable[[Json], None]) -> None:
    edit_json(reranker_file, damage)
    with pytest.raises(MapoError) as error:
        load_reranker(reranker_file)
    one_line(error, f"{reranker_file}: ")


# ---------------------------------------------------------------- metrics


GOOD_RECORD = {"step": 1, "seconds": 0.5, "dev_accuracy": 0.25, "train_return": 0.1,
               "clipped_fraction": 0.0, "memory_coverage": 0.5, "samples_per_second": 9.0,
               "loss": 1.5}
METRICS_DAMAGE = {
    "a list": [1, 2],
    "step a string": {**GOOD_RECORD, "step": "x"},
    "dev accuracy a string": {**GOOD_RECORD, "step": 2, "dev_accuracy": "high"},
    "loss a list": {**GOOD_RECORD, "step": 2, "loss": [1.0]},
    "no step": {k: v for k, v in GOOD_RECORD.items() if k != "step"},
}


@pytest.mark.parametrize("bad", METRICS_DAMAGE.values(), ids=METRICS_DAMAGE.keys())
def test_a_metrics_line_of_the_wrong_shape_is_a_one_line_error_naming_the_line(
        tmp_path: Path, bad: Any) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text('objective = "mapo"\n')
    (run / "metrics.jsonl").write_text(json.dumps(GOOD_RECORD) + "\n" + json.dumps(bad) + "\n")
    result = runner.invoke(app, ["inspect", "run", str(run)])
    error_line(result, f"{run / 'metrics.jsonl'}:2")


# ---------------------------------------------------------------- beams (decode --programs)


BEAMS_DAMAGE = {
    "programs a string": {"id": "train-0", "correct": True, "programs": GOLD_PROGRAM},
    "a program without its text": {"id": "train-0", "correct": True,
                                   "programs": [{"probability": 0.5}]},
    "a program text a number": {"id": "train-0", "correct": True, "programs": [{"program": 5}]},
    "a program a list": {"id": "train-0", "correct": True, "programs": [[GOLD_PROGRAM]]},
    "correct a string": {"id": "train-0", "correct": "no",
                         "programs": [{"program": GOLD_PROGRAM}]},
    "id a number": {"id": 0, "correct": True, "programs": [{"program": GOLD_PROGRAM}]},
}


@pytest.mark.parametrize("bad", BEAMS_DAMAGE.values(), ids=BEAMS_DAMAGE.keys())
def test_a_beams_line_of_the_wrong_shape_is_a_one_line_error_naming_the_line(
        sample: Path, tmp_path: Path, bad: Json) -> None:  # noqa: F811
    beams = tmp_path / "beams.jsonl"
    write_jsonl(beams, [{"id": "train-0", "correct": True,
                         "programs": [{"program": GOLD_PROGRAM}]}, bad])
    result = runner.invoke(app, ["inspect", "decoded", str(beams), str(sample)])
    error_line(result, f"{beams}:2")


# ---------------------------------------------------------------- encoder cache


EXAMPLE = {"tokens": ["how", "many", "gold", "medals", "did", "russia", "earn", "?"]}
TABLE = {"columns": ["nation", "gold", "year"], "headers": ["Nation", "Gold", "Year"],
         "rows": [["France", "3", "2001"], ["Russia", "0", "2005"], ["Chile", "1", "2009"]]}
WIDTH = WIDTHS["minilm"]


class ConstantEncoder:
    """Stands in for the transformer: every vector is 0.5 (its calls are counted)."""

    def encode(self, inputs: list) -> list[ContextVectors]:
        return [ContextVectors(np.full((len(i.question), WIDTH), 0.5, np.float16),
                               np.full((len(i.columns), WIDTH), 0.5, np.float16))
                for i in inputs]


def _arrays(tokens: np.ndarray, columns: np.ndarray) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("wb") as out:
            np.savez(out, tokens=tokens, columns=columns)
    return write


def _good(rows: int, width: int = WIDTH, dtype: Any = np.float16, value: float = 0.1):
    return np.full((rows, width), value, dtype)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


CACHE_DAMAGE = {
    "an empty file": lambda path: path.write_bytes(b""),
    "no rows": _arrays(np.zeros((0, WIDTH), np.float16), np.zeros((0, WIDTH), np.float16)),
    "nan": _arrays(_good(8, value=math.nan), _good(3)),
    "inf": _arrays(_good(8), _good(3, value=math.inf)),
    "the wrong width": _arrays(_good(8, width=16), _good(3, width=16)),
    "the wrong dtype": _arrays(_good(8, dtype=np.int64), _good(3, dtype=np.int64)),
    "one dimension": _arrays(np.full(8 * WIDTH, 0.1, np.float16), _good(3)),
    "an array, not an archive": lambda path: path.write_bytes(_npy(_good(8))),
}


@pytest.mark.parametrize("damage", CACHE_DAMAGE.values(), ids=CACHE_DAMAGE.keys())
def test_a_nan_empty_or_misshapen_encoder_cache_entry_is_recomputed(
        tmp_path: Path, damage: Callable[[Path], None]) -> None:
    cache = ContextCache("minilm", tmp_path)
    path = cache.path(encoder_input(EXAMPLE, TABLE).key("minilm"))
    path.parent.mkdir(parents=True)
    damage(path)
    cache._model = ConstantEncoder()  # no transformer needed to recompute
    vectors = cache.get(EXAMPLE, TABLE)
    assert cache.computed == 1
    assert vectors.tokens.shape == (8, WIDTH) and np.all(vectors.tokens == 0.5)
    again = ContextCache("minilm", tmp_path)  # the file was written again: read, not computed
    assert np.array_equal(again.get(EXAMPLE, TABLE).columns, vectors.columns)
    assert again.computed == 0


# ---------------------------------------------------------------- vocabulary


VOCABULARY_DAMAGE = {
    "min count a string": {"words": list(SPECIALS), "min_count": "x"},
    "plural matching a string": {"words": list(SPECIALS), "match_plurals": "yes"},
    "words a string": {"words": "gold"},
    "a word a number": {"words": [*SPECIALS, 5]},
    "no special words": {"words": ["gold"]},
    "a word twice": {"words": [*SPECIALS, "gold", "gold"]},
    "a list": list(SPECIALS),
}


@pytest.mark.parametrize("bad", VOCABULARY_DAMAGE.values(), ids=VOCABULARY_DAMAGE.keys())
def test_a_vocabulary_file_with_wrong_types_is_a_one_line_error_naming_it(
        tmp_path: Path, bad: Any) -> None:
    path = tmp_path / "words.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(MapoError) as error:
        Vocabulary.load(path)
    one_line(error, f"{path}: ")


def _resume(trained: Path, prepared_demo: Path, run: Path, steps: int) -> Any:
    return runner.invoke(app, [
        "train", "--train", str(prepared_demo / "random-split-1-train.jsonl"),
        "--dev", str(prepared_demo / "random-split-1-dev.jsonl"),
        "--store", str(trained / "run-store"), "--config", str(trained / "tiny.toml"),
        "--run", str(run), "--serial", "--steps", str(steps), "--eval-every", "1",
        "--read-only-store", "--resume", "--json"])


def test_a_resume_whose_state_has_a_negative_step_is_refused(
        trained: Path, prepared_demo: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    state = state_path(latest_checkpoint(run))
    saved = torch.load(state, map_location="cpu", weights_only=True)
    torch.save({**saved, "step": -5}, state)
    state.with_suffix(".sha256").write_text(hashlib.sha256(state.read_bytes()).hexdigest() + "\n")
    assert "its step is -5" in error_line(_resume(trained, prepared_demo, run, 4), str(state))


def test_a_checkpoint_cut_short_by_a_kill_is_passed_over_on_resume(
        trained: Path, prepared_demo: Path, tmp_path: Path) -> None:
    """SIGKILL between a checkpoint's weights and its training state: the one before it counts."""
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    newest = latest_checkpoint(run)
    state_path(newest).unlink()
    assert latest_checkpoint(run, to_resume=True) not in (None, newest)
    result = _resume(trained, prepared_demo, run, 3)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 3


def test_weights_that_are_not_finite_are_refused(trained: Path, tmp_path: Path) -> None:
    best = tmp_path / "best.pt"
    shutil.copy(trained / "run" / "best.pt", best)
    shutil.copy(sidecar_path(trained / "run" / "best.pt"), sidecar_path(best))
    weights = torch.load(best, map_location="cpu", weights_only=True)
    torch.save({k: torch.full_like(v, math.nan) if v.is_floating_point() else v
                for k, v in weights.items()}, best)
    edit_json(sidecar_path(best), _set("weights_sha256",
                                       value=hashlib.sha256(best.read_bytes()).hexdigest()))
    with pytest.raises(MapoError) as error:
        load_checkpoint(best)
    assert "its weights are not all finite numbers" in one_line(error, str(best))


def test_a_sidecar_asking_for_a_huge_model_is_refused(trained: Path, tmp_path: Path) -> None:
    best = tmp_path / "best.pt"
    shutil.copy(trained / "run" / "best.pt", best)
    shutil.copy(sidecar_path(trained / "run" / "best.pt"), sidecar_path(best))
    edit_json(sidecar_path(best), _set("model_config", "hidden_size", value=10**12))
    with pytest.raises(MapoError) as error:
        load_checkpoint(best)
    assert "hidden_size must be an integer from 2 to 8192 and even" in one_line(
        error, str(sidecar_path(best)))


def test_a_run_killed_before_its_first_complete_checkpoint_resumes_from_the_start(
        trained: Path, prepared_demo: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    for state in (run / "checkpoints").glob("*.state.pt"):
        state.unlink()
    result = _resume(trained, prepared_demo, run, 2)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 2
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
            ] == [1, 2]
