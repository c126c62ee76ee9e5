"""`mapo train`: every objective runs, serial runs are deterministic, runs resume, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY
from conftest import train_command as args
from typer.testing import CliRunner

from mapo_cli.learn.checkpoint import load_checkpoint
from mapo_cli.learn.pretrained import load_vectors, vectors_root
from mapo_cli.main import app
from mapo_cli.search.driver import explore_data
from mapo_cli.search.explore import ExploreSettings
from mapo_cli.store.filters import filter_stats
from mapo_cli.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
TIMING = {"seconds", "samples_per_second", "steps_per_second"}
runner = CliRunner()


@pytest.fixture
def setup(demo_training: dict) -> dict:
    """conftest's demo_training, by the name these tests use."""
    return demo_training


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("objective", ["mapo", "reinforce", "mml", "hard-em", "iml"])
def test_every_objective_trains_on_the_demo(setup: dict, objective: str) -> None:
    result = runner.invoke(app, args(setup, objective, "--objective", objective, "--steps", "3",
                                     "--eval-every", "3", "--serial", "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 3 and 0.0 <= summary["dev_accuracy"] <= 1.0
    record = metrics(setup["tmp"] / objective)[-1]
    for key in ("step", "seconds", "dev_accuracy", "train_return", "clipped_fraction",
                "memory_coverage", "samples_per_second", "loss"):
        assert key in record
    run = setup["tmp"] / objective
    assert (run / "best.pt").is_file() and (run / "config.toml").is_file()
    assert f'objective = "{objective}"' in (run / "config.toml").read_text()


def test_glove_embeddings_plural_matching_and_used_tokens_are_run_settings(setup: dict) -> None:
    result = runner.invoke(app, args(setup, "options", "--embeddings", "glove-6b-50d",
                                     "--freeze-embeddings", "--match-plurals", "--used-tokens",
                                     "--steps", "2",
                                     "--eval-every", "2", "--serial"))
    assert result.exit_code == 0, result.output
    saved = (setup["tmp"] / "options" / "config.toml").read_text()
    assert 'embeddings = "glove-6b-50d"' in saved
    assert "freeze_embeddings = true" in saved and "match_plurals = true" in saved
    assert "used_tokens = true" in saved
    # The words GloVe knows kept their vectors (rescaled, cut to the width) through training.
    trained = load_checkpoint(setup["tmp"] / "options" / "best.pt")
    assert trained.vocabulary.match_plurals  # decode compares words as training did
    assert trained.model.config.used_tokens  # and decodes with the model it trained
    found, vectors = load_vectors(vectors_root("glove-6b-50d")).lookup(trained.vocabulary.words)
    known = trained.model.word_embedding.weight.detach()[torch.from_numpy(found)].numpy()
    glove = vectors[found][:, : known.shape[1]]
    assert found.sum() > 10
    assert np.allclose(known * (glove.std() / known.std()), glove, atol=1e-4)


def test_serial_runs_with_one_seed_are_identical(setup: dict) -> None:
    for name in ("a", "b"):
        result = runner.invoke(app, args(setup, name, "--steps", "4", "--eval-every", "2",
                                         "--serial", "--seed", "5", "--read-only-store"))
        assert result.exit_code == 0, result.output
    strip = [{k: v for k, v in r.items() if k not in TIMING} for r in metrics(setup["tmp"] / "a")]
    again = [{k: v for k, v in r.items() if k not in TIMING} for r in metrics(setup["tmp"] / "b")]
    assert strip == again and len(strip) == 2


def test_a_finished_run_resumes_where_it_stopped(setup: dict) -> None:
    assert runner.invoke(app, args(setup, "r", "--steps", "2", "--eval-every", "2",
                                   "--serial")).exit_code == 0
    refused = runner.invoke(app, args(setup, "r", "--steps", "4", "--serial"))
    assert refused.exit_code != 0 and "--resume" in refused.output
    resumed = runner.invoke(app, args(setup, "r", "--steps", "4", "--eval-every", "2", "--serial",
                                      "--resume", "--json"))
    assert resumed.exit_code == 0, resumed.output
    assert [r["step"] for r in metrics(setup["tmp"] / "r")] == [2, 4]


def test_a_resumed_run_can_go_on_with_a_lower_learning_rate(setup: dict) -> None:
    assert runner.invoke(app, args(setup, "lr", "--steps", "2", "--eval-every", "2",
                                   "--serial")).exit_code == 0
    resumed = runner.invoke(app, args(setup, "lr", "--steps", "4", "--eval-every", "2", "--serial",
                                      "--resume", "--learning-rate", "0.0002"))
    assert resumed.exit_code == 0, resumed.output
    run = setup["tmp"] / "lr"
    assert "learning_rate = 0.0002" in (run / "config.toml").read_text()
    state = torch.load(run / "checkpoints" / "step-0000004.state.pt", weights_only=False)
    assert [group["lr"] for group in state["optimizer"]["param_groups"]] == [0.0002]


def test_a_resume_that_would_change_the_model_is_refused(setup: dict) -> None:
    assert runner.invoke(app, args(setup, "m", "--steps", "2", "--eval-every", "2",
                                   "--serial")).exit_code == 0
    saved = (setup["tmp"] / "m" / "config.toml").read_text()
    refused = runner.invoke(app, args(setup, "m", "--steps", "4", "--serial", "--resume",
                                      "--match-plurals"))
    assert refused.exit_code != 0 and "match_plurals = False (asked: True)" in refused.output
    assert "Traceback" not in refused.output
    assert (setup["tmp"] / "m" / "config.toml").read_text() == saved
    assert [r["step"] for r in metrics(setup["tmp"] / "m")] == [2]


def _weights(state: dict) -> dict[str, torch.Tensor]:
    return {k.removeprefix("module."): v for k, v in state.items() if k != "n_averaged"}


def _filter_sizes(store: Path, ids: list[str]) -> dict[str, int]:
    """Keys each example's explored-prefix filter holds (0: none yet)."""
    with Store.open_readonly(store) as opened:
        filters = {i: opened.read_filter(i) for i in ids}
    return {i: filter_stats(data)[1] if data else 0 for i, data in filters.items()}


def test_training_writes_its_explored_prefixes_back_to_the_store(setup: dict) -> None:
    ids = [json.loads(line)["id"] for line in setup["train"].read_text().splitlines()]
    before = _filter_sizes(setup["store"], ids)
    assert runner.invoke(app, args(setup, "ro", "--steps", "2", "--serial",
                                   "--read-only-store")).exit_code == 0
    assert _filter_sizes(setup["store"], ids) == before
    assert runner.invoke(app, args(setup, "rw", "--steps", "2", "--serial")).exit_code == 0
    after = _filter_sizes(setup["store"], ids)
    grew = [i for i in ids if after[i] > before[i]]
    # Two batches of 8 explored what the store had not exhausted, and nothing was lost.
    assert 0 < len(grew) <= 16 and all(after[i] >= before[i] for i in ids)


def test_examples_training_explores_completely_are_marked_exhausted(
        tmp_path: Path, prepared_demo: Path, demo_store: Path) -> None:
    # The demo's examples with the smallest program spaces (at most 20 programs), each
    # explored one program deep: training explores one more of each per step, and
    # finishes them within 60 steps.
    with Store.open_readonly(demo_store) as store:
        small = [i for i in store.ids() if (store.read_status(i) or {}).get("exhausted")
                 and store.read_status(i)["samples"] <= 20][:8]
    assert len(small) >= 3
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(prepared_demo / "tables.jsonl", data)
    lines = (prepared_demo / "random-split-1-train.jsonl").read_text().splitlines()
    (data / "small.jsonl").write_text("\n".join(
        line for line in lines if json.loads(line)["id"] in small) + "\n")
    store = tmp_path / "store"
    explore_data(data / "small.jsonl", store, ExploreSettings(), workers=1, samples_per_example=1)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    command = ["train", "--train", str(data / "small.jsonl"),
               "--dev", str(prepared_demo / "random-split-1-dev.jsonl"), "--store", str(store),
               "--config", str(config), "--steps", "60", "--eval-every", "30", "--serial"]

    def exhausted() -> set[str]:
        with Store.open_readonly(store) as opened:
            return {i for i in small if (opened.read_status(i) or {}).get("exhausted")}

    assert exhausted() == set()
    result = runner.invoke(app, [*command, "--run", str(tmp_path / "ro"), "--read-only-store"])
    assert result.exit_code == 0, result.output
    assert exhausted() == set()
    result = runner.invoke(app, [*command, "--run", str(tmp_path / "rw")])
    assert result.exit_code == 0, result.output
    assert exhausted() == set(small)


def test_a_weight_average_is_evaluated_kept_as_best_and_resumed(setup: dict) -> None:
    average = ("--average-decay", "0.5", "--serial", "--eval-every", "4", "--read-only-store")
    assert runner.invoke(app, args(setup, "straight", "--steps", "4", *average)).exit_code == 0
    assert runner.invoke(app, args(setup, "parts", "--steps", "2", *average)).exit_code == 0
    assert runner.invoke(app, args(setup, "parts", "--steps", "4", "--resume",
                                   *average)).exit_code == 0
    states = {name: torch.load(setup["tmp"] / name / "checkpoints" / "step-0000004.state.pt",
                               weights_only=False)["extra"]["average"]
              for name in ("straight", "parts")}
    # The resumed run went on with the average it had saved: it counts all four steps.
    assert [int(states[name]["n_averaged"]) for name in states] == [4, 4]
    # The best checkpoint holds the average (the one evaluated), not the latest weights.
    run = setup["tmp"] / "straight"
    best = load_checkpoint(run / "best.pt").model.state_dict()
    latest = load_checkpoint(run / "checkpoints" / "step-0000004.pt").model.state_dict()
    averaged = _weights(states["straight"])
    assert all(torch.equal(best[k], averaged[k]) for k in best)
    assert not all(torch.equal(best[k], latest[k]) for k in best)


def test_a_killed_run_resumes_from_its_last_checkpoint(setup: dict) -> None:
    run = setup["tmp"] / "killed"
    command = [sys.executable, "-m", "mapo_cli.main", *args(setup, "killed", "--steps", "1000",
                                                               "--eval-every", "2", "--serial")]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((run / "checkpoints").glob("step-*.state.pt"))) < 2:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    saved = sorted(int(p.name[5:12]) for p in (run / "checkpoints").glob("step-*.state.pt"))
    assert saved, "no checkpoint was written before the kill"
    last = saved[-1]
    result = runner.invoke(app, args(setup, "killed", "--steps", str(last + 2), "--eval-every",
                                     "2", "--serial", "--resume"))
    assert result.exit_code == 0, result.output
    steps = [r["step"] for r in metrics(run)]
    assert steps[-1] == last + 2 and steps == sorted(set(steps))


def _processes_tagged(tag: str) -> list[int]:
    """PIDs of live processes whose environment holds MAPO_TEST_TAG=tag (actors inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"MAPO_TEST_TAG={tag}".encode() in (
                    entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _start_parallel_run(setup: dict, name: str) -> tuple[subprocess.Popen, Path, str]:
    run = setup["tmp"] / name
    command = [sys.executable, "-m", "mapo_cli.main", *args(setup, name, "--steps", "100000",
                                                               "--eval-every", "2", "--actors", "1")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAPO_TEST_TAG": name + str(os.getpid())}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((run / "checkpoints").glob("step-*.state.pt")):
        time.sleep(0.2)
    assert list((run / "checkpoints").glob("step-*.state.pt")), "no checkpoint was written"
    return process, run, env["MAPO_TEST_TAG"]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_sigterm_stops_a_run_with_a_checkpoint_and_its_actors(setup: dict) -> None:
    process, run, tag = _start_parallel_run(setup, "term")
    process.send_signal(signal.SIGTERM)  # to the learner alone, as a job scheduler would
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert b"continue with --resume" in stderr
    last = max(int(p.name[5:12]) for p in (run / "checkpoints").glob("step-*.state.pt"))
    assert last == metrics(run)[-1]["step"]  # the stop itself was checkpointed
    time.sleep(1)
    assert _processes_tagged(tag) == []


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_actors_exit_when_their_learner_is_killed(setup: dict) -> None:
    process, _, tag = _start_parallel_run(setup, "orphans")
    process.kill()  # the learner alone: its actors must notice and exit
    process.wait()
    deadline = time.time() + 30
    while time.time() < deadline and _processes_tagged(tag):
        time.sleep(0.2)
    assert _processes_tagged(tag) == []


def test_parallel_actors_train(setup: dict) -> None:
    result = runner.invoke(app, args(setup, "p", "--steps", "3", "--eval-every", "3",
                                     "--actors", "1", "--json"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 3


def one_line_error(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    return result.output


def test_bad_input_is_a_clear_error(setup: dict, prepared_demo: Path, tmp_path: Path) -> None:
    from mapo_cli.search.driver import explore_data
    from mapo_cli.search.explore import ExploreSettings

    other = tmp_path / "other-store"
    explore_data(prepared_demo / "random-split-1-dev.jsonl", other, ExploreSettings(), workers=1,
                 samples_per_example=20)
    wrong_store = args(setup, "w", "--steps", "1", "--serial")
    wrong_store[wrong_store.index("--store") + 1] = str(other)
    assert "made for other data" in one_line_error(runner.invoke(app, wrong_store))
    assert "nothing to resume" in one_line_error(
        runner.invoke(app, args(setup, "nothing", "--resume", "--serial")))
    # Every range is tested in test_validation.py; these go through the real training.
    bad_flags = [("--actors", "-1", "--actors must be an integer from 0 to 256, got -1"),
                 ("--min-count", "0", "--min-count must be an integer from 1 to"),
                 ("--learning-rate", "0", "--learning-rate must be a number in (0, 1], got 0.0"),
                 ("--dropout", "1", "--dropout must be a number in [0, 1), got 1.0"),
                 ("--seconds", "nan", "--seconds must be a finite number ≥ 0, got nan"),
                 ("--embeddings", "word2vec", "unknown embeddings 'word2vec'")]
    for flag, value, message in bad_flags:
        assert message in one_line_error(runner.invoke(app, args(setup, "bad", flag, value)))
    setup["config"].write_text(TINY + "learning_rat = 0.1\n")
    assert "unknown setting 'learning_rat'" in one_line_error(runner.invoke(app, args(setup, "c")))
    setup["config"].write_text(TINY + 'steps = "many"\n')
    assert "steps must be int" in one_line_error(runner.invoke(app, args(setup, "c")))
    setup["config"].write_text(TINY)
    run = setup["tmp"] / "broken"
    assert runner.invoke(app, args(setup, "broken", "--steps", "2", "--eval-every", "2",
                                   "--serial")).exit_code == 0
    for state in (run / "checkpoints").glob("*.state.pt"):
        state.write_bytes(b"not a checkpoint")
    assert "corrupted" in one_line_error(runner.invoke(app, args(setup, "broken", "--resume",
                                                                 "--serial", "--steps", "4")))
    shutil.rmtree(run / "checkpoints")  # as if killed before its first checkpoint: from step 0
    again = runner.invoke(app, args(setup, "broken", "--resume", "--serial", "--steps", "2",
                                    "--eval-every", "2", "--json"))
    assert again.exit_code == 0, again.output
    assert [record["step"] for record in metrics(run)] == [2]


def test_a_resumed_run_keeps_the_best_accuracy_of_its_last_checkpoint(tmp_path: Path) -> None:
    """A checkpoint taken at a new best dev accuracy records it, so a resumed run does not
    let a lower accuracy overwrite best.pt."""
    import random

    from mapo_cli.language.grammar import load_grammar
    from mapo_cli.learn.config import TrainConfig
    from mapo_cli.learn.features import build_vocabulary
    from mapo_cli.learn.learner import Learner
    from mapo_cli.learn.model import ModelConfig, Programmer
    from mapo_cli.learn.run_checkpoints import RunCheckpoints
    from mapo_cli.learn.run_dir import latest_checkpoint

    config, grammar, vocabulary = TrainConfig(), load_grammar("wtq"), build_vocabulary([])

    def learner() -> Learner:
        model = Programmer(ModelConfig(embedding_size=8, hidden_size=8), len(vocabulary),
                           len(grammar.builtin_tokens))
        return Learner(config, model)

    first = RunCheckpoints(tmp_path, config, vocabulary, grammar, 3)
    first.save(learner(), 1.0, 0.5, random.Random(0).getstate())
    resumed, again = RunCheckpoints(tmp_path, config, vocabulary, grammar, 3), learner()
    resumed.restore(again, latest_checkpoint(tmp_path))
    assert resumed.best == 0.5
    again.step = 1
    resumed.save(again, 2.0, 0.4, random.Random(0).getstate())
    assert load_checkpoint(tmp_path / "best.pt").extra["dev_accuracy"] == 0.5
