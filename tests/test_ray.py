"""`--backend ray`: explore, train and decode with Ray tasks and actors on one local instance.

The same seed gives the same store and the same predictions as the local
backend; a train run with Ray actors checkpoints and resumes, and goes on
when an actor's process is killed. (Lost nodes: test_ray_cluster.py.)
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mapo_cli.core.errors import MapoError
from mapo_cli.main import app
from mapo_cli.store.store import Store

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'mapo[ray]')")

runner = CliRunner()


def store_contents(path: Path) -> dict[str, tuple]:
    """Every example's programs, filter and status (less its timing): what equal stores share."""
    with Store.open_readonly(path) as store:
        return {i: (store.read_memory(i), store.read_filter(i),
                    {k: v for k, v in (store.read_status(i) or {}).items() if k != "seconds"})
                for i in store.ids()}


def explore_twice(data: Path, tmp_path: Path, cluster, **options) -> tuple[dict, dict]:
    """The data explored with the local backend and with `cluster`: both stores' contents."""
    from mapo_cli.search.driver import explore_data
    from mapo_cli.search.explore import ExploreSettings

    settings = dict(workers=2, samples_per_example=300, chunk=100, seed=3, **options)
    explore_data(data, tmp_path / "local", ExploreSettings(), **settings)
    summary = explore_data(data, tmp_path / "ray", ExploreSettings(), cluster=cluster, **settings)
    assert summary["finished"] and not summary["errors"]
    return store_contents(tmp_path / "local"), store_contents(tmp_path / "ray")


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance for the module (two CPUs, as on CI); commands join it."""
    from mapo_cli.core.cluster import RayCluster

    with RayCluster(min_cpus=2) as started:
        yield started


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path) -> dict[str, Path]:
    """40 demo questions with a briefly explored store, 24 to evaluate on, a tiny model."""
    from conftest import small_training

    return small_training(prepared_demo, tmp_path_factory.mktemp("ray-small"), {
        "train": ("random-split-1-train", 40), "dev": ("random-split-1-dev", 24)})


def train_args(small: dict[str, Path], run: Path, *extra: str) -> list[str]:
    return ["train", "--train", str(small["train"]), "--dev", str(small["dev"]),
            "--store", str(small["store"]), "--config", str(small["root"] / "tiny.toml"),
            "--run", str(run), "--backend", "ray", "--json", *extra]


# ----------------------------------------------------------------- explore


def test_explore_with_ray_builds_the_local_backends_store(prepared_demo: Path, tmp_path: Path,
                                                         cluster) -> None:
    local, on_ray = explore_twice(prepared_demo / "random-split-1-train.jsonl", tmp_path, cluster)
    assert len(local) == 422 and sum(len(m) for m, _, _ in local.values()) > 1000
    assert on_ray == local


def test_the_explore_command_says_where_it_runs(small: dict[str, Path], tmp_path: Path,
                                              cluster) -> None:
    result = runner.invoke(app, ["explore", str(small["dev"]), "--store", str(tmp_path / "s"),
                                 "--samples-per-example", "50", "--backend", "ray"])
    assert result.exit_code == 0, result.output
    assert "Ray, as already connected in this process: 1 node(s), 2 CPU(s)" in result.stderr


# ----------------------------------------------------------------- train


def test_train_with_ray_actors_checkpoints_and_resumes(small: dict[str, Path], tmp_path: Path,
                                                      cluster) -> None:
    run = tmp_path / "run"
    first = runner.invoke(app, train_args(small, run, "--steps", "3", "--eval-every", "3",
                                           "--actors", "2"))
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["steps"] == 3
    assert (run / "checkpoints").is_dir() and (run / "best.pt").is_file()
    assert 'backend = "ray"' in (run / "config.toml").read_text()
    resumed = runner.invoke(app, ["train", "--run", str(run), "--resume", "--steps", "5",
                                  "--json"])
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout)
    assert summary["steps"] == 5 and summary["actors_replaced"] == 0


def ray_actor_pids() -> list[int]:
    """This machine's Ray actor processes of `mapo train` (Ray names them by their class)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(
                    b"ray::ActorHost"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes in /proc")
def test_an_actor_killed_mid_run_is_replaced_and_the_run_finishes(
        small: dict[str, Path], tmp_path: Path, cluster) -> None:
    from mapo_cli.learn.config import TrainConfig, merge, read_config_file
    from mapo_cli.learn.train import train

    config = merge(read_config_file(small["root"] / "tiny.toml"), {
        "train": str(small["train"]), "dev": str(small["dev"]), "store": str(small["store"]),
        "steps": 16, "eval_every": 8, "actors": 2, "backend": "ray"})
    killed: list[int] = []

    def kill_one_actor(progress) -> None:  # once both are up (one may start late, if busy)
        pids = ray_actor_pids()
        if progress.step >= 2 and len(pids) == 2 and not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    summary = train(config, tmp_path / "run", on_progress=kill_one_actor, cluster=cluster)
    assert isinstance(config, TrainConfig) and killed
    assert summary["steps"] == 16 and summary["actors_replaced"] == 1
    assert killed[0] not in ray_actor_pids()


def test_more_actors_than_the_cluster_has_cpus_is_a_clear_error(
        small: dict[str, Path], tmp_path: Path, cluster) -> None:
    result = runner.invoke(app, train_args(small, tmp_path / "run", "--steps", "1",
                                           "--actors", "3"))
    assert result.exit_code == 1
    assert "--actors 3: the Ray cluster has 2 CPU(s), and each actor needs one" in result.stderr


# ----------------------------------------------------------------- decode


def test_decode_with_ray_equals_decode_without(small: dict[str, Path], tmp_path: Path,
                                               cluster) -> None:
    from mapo_cli.analysis.decode import decode_file

    trained = runner.invoke(app, [a for a in train_args(small, tmp_path / "run", "--steps", "2")
                                  if a not in ("--backend", "ray")] + ["--serial"])
    assert trained.exit_code == 0, trained.output
    local = decode_file(tmp_path / "run", small["dev"], workers=2, batch=5)
    on_ray = decode_file(tmp_path / "run", small["dev"], workers=2, batch=5, cluster=cluster)
    assert [r.beam for r in on_ray.results] == [r.beam for r in local.results]
    assert on_ray.accuracy == local.accuracy and on_ray.total == 24


def test_an_ensemble_decodes_on_ray_as_well(small: dict[str, Path], tmp_path: Path,
                                            cluster) -> None:
    trained = runner.invoke(app, [a for a in train_args(small, tmp_path / "run", "--steps", "2")
                                  if a not in ("--backend", "ray")] + ["--serial"])
    assert trained.exit_code == 0, trained.output
    run = str(tmp_path / "run")
    local = runner.invoke(app, ["decode", run, run, str(small["dev"]), "--json"])
    on_ray = runner.invoke(app, ["decode", run, run, str(small["dev"]), "--json",
                                 "--backend", "ray"])
    assert local.exit_code == on_ray.exit_code == 0, on_ray.output
    assert json.loads(on_ray.stdout)["correct"] == json.loads(local.stdout)["correct"]


# ----------------------------------------------------------------- options


@pytest.mark.parametrize("args, message", [
    (["--backend", "spark"], "unknown backend 'spark'; use one of local, ray"),
    (["--ray-address", "auto"], "--ray-address auto needs --backend ray"),
])
def test_bad_backend_options_are_clear_errors(small: dict[str, Path], tmp_path: Path,
                                              args: list[str], message: str) -> None:
    for command in (["explore", str(small["dev"]), "--store", str(tmp_path / "s")],
                    ["decode", str(tmp_path / "run"), str(small["dev"])],
                    train_args(small, tmp_path / "run")[:-3]):
        result = runner.invoke(app, [*command, *args])
        assert result.exit_code == 1, (command, result.output)
        assert message in result.stderr


def test_serial_training_cannot_use_ray(small: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, train_args(small, tmp_path / "run", "--serial"))
    assert result.exit_code == 1
    assert "--serial runs the actor in this process" in result.stderr


def test_without_ray_the_backend_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from mapo_cli.core.cluster import RayCluster

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(MapoError, match=r"pip install 'mapo\[ray\]'"):
        RayCluster()


def test_a_cluster_that_is_not_there_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from mapo_cli.core.cluster import RayCluster

    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh process
    with pytest.raises(MapoError, match="cannot connect to the Ray cluster at 127.0.0.1:1"):
        RayCluster("127.0.0.1:1")


# ----------------------------------------------------------------- the driver stopped or killed


def test_a_stopped_ray_explore_resumes_to_the_same_store(prepared_demo: Path, tmp_path: Path,
                                                         cluster) -> None:
    from mapo_cli.search.driver import explore_data
    from mapo_cli.search.explore import ExploreSettings

    data = prepared_demo / "random-split-1-dev.jsonl"
    settings = {"workers": 2, "samples_per_example": 300, "chunk": 100, "seed": 3}
    explore_data(data, tmp_path / "local", ExploreSettings(), **settings)
    sent: list[int] = []

    def stop_at_20(progress) -> None:  # a scheduler's SIGTERM, once, a third of the way in
        if progress.done >= 20 and not sent:
            sent.append(progress.done)
            os.kill(os.getpid(), signal.SIGTERM)

    first = explore_data(data, tmp_path / "ray", ExploreSettings(), cluster=cluster,
                         on_progress=stop_at_20, **settings)
    assert first["stopped_by"] == "SIGTERM" and not first["finished"]
    second = explore_data(data, tmp_path / "ray", ExploreSettings(), cluster=cluster, **settings)
    assert second["finished"] and second["run_programs"] < second["programs"]
    assert store_contents(tmp_path / "ray") == store_contents(tmp_path / "local")


def test_a_killed_ray_explore_leaves_no_process_and_resumes(
        prepared_demo: Path, tmp_path: Path, cluster) -> None:
    import subprocess
    import time

    from test_signals import alive, samples_committed, wait_for

    tag = f"ray-kill-{os.getpid()}"  # 422 questions: 15 s of work, the first commit at 2 s
    args = [sys.executable, "-m", "mapo_cli.main", "explore",
            str(prepared_demo / "random-split-1-train.jsonl"), "--store", str(tmp_path / "s"),
            "--samples-per-example", "1500", "--chunk", "100", "--backend", "ray"]
    env = {**os.environ, "MAPO_TEST_TAG": tag}
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: samples_committed(tmp_path / "s"), 120, "a first commit")
        assert len(alive(tag)) > 3  # the command, Ray's own processes and its workers
        process.kill()
        process.wait(timeout=10)
        # Ray's workers, raylet and GCS end with the command; its two idle agents (dashboard,
        # runtime env), left alone, would take a minute: core/reaper.py ends them.
        wait_for(lambda: not alive(tag), 20, "Ray's processes to end with the command")
    finally:
        for pid in alive(tag):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    resumed = runner.invoke(app, args[3:] + ["--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["finished"]


def test_the_pretrained_encoders_vectors_travel_with_the_work(small: dict[str, Path],
                                                              tmp_path: Path, cluster) -> None:
    """Ray actors and decoding tasks get their examples' vectors with them, not a cache path."""
    from mapo_cli.analysis.decode import decode_file
    from mapo_cli.learn.contextual import require_encoder

    try:
        require_encoder("minilm")
    except MapoError as missing:
        pytest.skip(str(missing))
    run = tmp_path / "run"
    trained = runner.invoke(app, train_args(small, run, "--encoder", "minilm", "--steps", "3",
                                            "--eval-every", "3", "--actors", "2"))
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["steps"] == 3
    local = decode_file(run, small["dev"], workers=1, batch=6, beam_size=3)
    on_ray = decode_file(run, small["dev"], workers=2, batch=6, beam_size=3, cluster=cluster)
    assert not any(r.error for r in on_ray.results)
    assert [r.beam for r in on_ray.results] == [r.beam for r in local.results]


def test_sigterm_stops_a_ray_decode_with_nothing_written(small: dict[str, Path], tmp_path: Path,
                                                         cluster) -> None:
    from mapo_cli.analysis.decode import decode_file
    from mapo_cli.core.errors import Stopped

    trained = runner.invoke(app, [a for a in train_args(small, tmp_path / "run", "--steps", "1")
                                  if a not in ("--backend", "ray")] + ["--serial"])
    assert trained.exit_code == 0, trained.output
    sent: list[int] = []

    def stop_once(done: int, total: int) -> None:
        if not sent:
            sent.append(done)
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Stopped) as stopped:
        decode_file(tmp_path / "run", small["dev"], workers=1, batch=4, on_progress=stop_once,
                    cluster=cluster)
    assert stopped.value.exit_code == 143
    assert "of 24 examples; nothing was written" in str(stopped.value)


def test_ctrl_c_while_ray_starts_is_one_line_and_leaves_no_process(
        prepared_demo: Path, tmp_path: Path) -> None:
    import subprocess

    from test_signals import alive, wait_for

    tag = f"ray-start-{os.getpid()}"
    args = [sys.executable, "-m", "mapo_cli.main", "explore",
            str(prepared_demo / "random-split-1-train.jsonl"), "--store", str(tmp_path / "s"),
            "--samples-per-example", "1500", "--backend", "ray"]
    process = subprocess.Popen(_interruptible(args), env={**os.environ, "MAPO_TEST_TAG": tag},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        def raylet_started() -> bool:
            return any(b"raylet" in Path(f"/proc/{pid}/cmdline").read_bytes()
                       for pid in alive(tag) if Path(f"/proc/{pid}").exists())

        wait_for(raylet_started, 60, "Ray to start")
        process.send_signal(signal.SIGINT)
        stderr = process.communicate(timeout=120)[1].decode()
        assert process.returncode == 130, stderr
        lines = stderr.strip().splitlines()
        assert lines[-1].startswith("stopped by SIGINT") and "Traceback" not in stderr, stderr
        wait_for(lambda: not alive(tag), 20, "Ray's processes to end with the command")
    finally:
        for pid in alive(tag):
            os.kill(pid, signal.SIGKILL)


def _interruptible(args: list[str]) -> list[str]:
    """`args` with Ctrl-C's default disposition, as in a terminal: a suite run in the
    background (`&`) hands its children SIGINT ignored, and a command rightly keeps an
    ignored SIGINT ignored. The same process execs `args` (a disposition survives exec)."""
    setup = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
             "os.execv(sys.argv[1], sys.argv[1:])")
    return [sys.executable, "-c", setup, *args]
