"""Stopping long commands: Ctrl-C and SIGTERM stop cleanly, SIGKILL leaves no orphans.

A stopped `explore` or `train` keeps what it committed, says in one line
where it stopped and how to resume, and exits 128 + the signal's number
(130 for SIGINT, 143 for SIGTERM); the same command again resumes. Commands
that write only at their end (`decode`, `prepare`, `inspect spurious`) write
nothing and say so. Worker and actor processes end with their parent, even
when the parent is killed with SIGKILL.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mapo_cli.core.errors import Stopped
from mapo_cli.main import app
from mapo_cli.store.store import Store

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

ROOT = Path(__file__).resolve().parents[1]
EXPLORE = ["--workers", "2", "--samples-per-example", "1000", "--chunk", "50"]
runner = CliRunner()


# ----------------------------------------------------------------- helpers


def start(args: list[str], tag: str) -> subprocess.Popen:
    """`mapo ARGS` as a subprocess; it and every process it starts carry MAPO_TEST_TAG=tag."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAPO_TEST_TAG": tag}
    return subprocess.Popen([sys.executable, "-m", "mapo_cli.main", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def alive(tag: str) -> list[int]:
    """PIDs of the live (not zombie) processes tagged `tag`, re-parented ones included."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or f"MAPO_TEST_TAG={tag}".encode() not in (
                    entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def none_left(tag: str, process: subprocess.Popen) -> None:
    """After a stop or a kill: within a few seconds, no process of the command lives on."""
    try:
        wait_for(lambda: not alive(tag), 10, "the command's processes to end")
    finally:
        for pid in alive(tag):  # only ours: tagged by this test
            os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)


def workers_end(before: set) -> None:
    """Within a few seconds no worker this process started lives on but those alive `before`
    (one still loading torch from a cold disk, as on a fresh CI machine, takes a while to die)."""
    wait_for(lambda: set(multiprocessing.active_children()) <= before, 30,
             "the stopped workers to end")


def samples_committed(store: Path) -> int:
    if not (store / "data.mdb").is_file():
        return 0
    try:
        with Store.open_readonly(store) as opened:
            return sum((opened.read_status(i) or {}).get("samples", 0) for i in opened.ids())
    except Exception:  # noqa: BLE001 - not created yet
        return 0


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path) -> dict[str, Path]:
    """Demo questions: 40 to train on (with a store explored briefly), 24 to evaluate on,
    and 422 to explore, 1,000 samples each: work for two workers for 15 s on a quiet 2-core
    machine, long enough to stop it after its first commit (2 s) on a faster one.
    """
    from conftest import small_training

    return small_training(prepared_demo, tmp_path_factory.mktemp("small"), {
        "train": ("random-split-1-train", 40), "dev": ("random-split-1-dev", 24),
        "explore": ("random-split-1-train", 422)})


# ----------------------------------------------------------------- explore


def test_sigterm_stops_explore_and_its_workers_and_the_same_command_resumes(
        small: dict[str, Path], tmp_path: Path) -> None:
    store, tag = tmp_path / "store", f"explore-term-{os.getpid()}"
    args = ["explore", str(small["explore"]), "--store", str(store), *EXPLORE]
    process = start(args, tag)
    wait_for(lambda: samples_committed(store), 120, "a first commit")  # after 2 s
    # explore, its two workers and multiprocessing's resource tracker (workers are spawned)
    assert process.poll() is None and len(alive(tag)) == 4
    process.send_signal(signal.SIGTERM)  # to the main process alone, as a job scheduler would
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM == 143, stderr
    last = stderr.decode().strip().splitlines()[-1]
    assert last.startswith("stopped by SIGTERM after ")
    assert last.endswith(" of 422 examples; run the same command again to resume")
    none_left(tag, process)
    kept = samples_committed(store)
    assert kept > 0
    resumed = runner.invoke(app, [*args, "--json"])
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout)
    assert summary["finished"] and summary["stopped_by"] is None
    assert summary["run_programs"] == summary["programs"] - kept  # it went on from there


def test_sigkill_to_explore_takes_its_workers_with_it(small: dict[str, Path],
                                                      tmp_path: Path) -> None:
    tag = f"explore-kill-{os.getpid()}"
    args = ["explore", str(small["explore"]), "--store", str(tmp_path / "store"), *EXPLORE]
    process = start(args, tag)
    wait_for(lambda: len(alive(tag)) == 4, 120, "two workers (and the resource tracker)")
    process.kill()  # the workers are busy with their first chunks
    process.wait(timeout=10)
    none_left(tag, process)


# ----------------------------------------------------------------- train


def train_args(small: dict[str, Path], run: Path, *extra: str) -> list[str]:
    """`mapo train` of a tiny model on the small data, into RUN (the store is only read)."""
    return ["train", "--train", str(small["train"]), "--dev", str(small["dev"]),
            "--store", str(small["store"]), "--read-only-store",
            "--config", str(small["root"] / "tiny.toml"), "--run", str(run), *extra]


@pytest.fixture
def training(small: dict[str, Path], tmp_path: Path) -> list[str]:
    return train_args(small, tmp_path / "run", "--eval-every", "2", "--actors", "1")


def checkpoints(run: Path) -> list[int]:
    return sorted(int(p.name[5:12]) for p in (run / "checkpoints").glob("step-*.state.pt"))


def test_sigterm_stops_train_and_its_actor_and_resume_continues(training: list[str],
                                                                tmp_path: Path) -> None:
    run, tag = tmp_path / "run", f"train-term-{os.getpid()}"
    process = start([*training, "--steps", "100000"], tag)
    wait_for(lambda: checkpoints(run), 120, "a first checkpoint")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "a checkpoint was saved: continue with --resume" in stderr.decode()
    none_left(tag, process)
    last = checkpoints(run)[-1]
    resumed = runner.invoke(app, [*training, "--steps", str(last + 1), "--serial", "--resume",
                                  "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["steps"] == last + 1


def test_sigkill_to_the_learner_takes_its_actor_with_it(training: list[str],
                                                        tmp_path: Path) -> None:
    tag = f"train-kill-{os.getpid()}"
    process = start([*training, "--steps", "100000"], tag)
    wait_for(lambda: checkpoints(tmp_path / "run"), 120, "a first checkpoint (the actor runs)")
    process.kill()
    process.wait(timeout=10)
    none_left(tag, process)


# ----------------------------------------------------------------- in this process


@pytest.fixture
def signal_here() -> Iterator[Callable[[int], None]]:
    """`send(SIGINT or SIGTERM)`: the signal to this process, as a terminal or a scheduler
    would send it mid-work. Outside a stop request it fails the test (it neither kills
    pytest nor is ignored, as Ctrl-C is in a background job)."""
    def outside(number: int, frame: object) -> None:
        raise AssertionError(f"{signal.Signals(number).name} came outside a stop request")

    previous = {number: signal.signal(number, outside)
                for number in (signal.SIGINT, signal.SIGTERM)}
    yield lambda number: os.kill(os.getpid(), number)
    for number, handler in previous.items():
        signal.signal(number, handler)


def test_ctrl_c_stops_explore_after_its_chunk_and_keeps_it(
        small: dict[str, Path], tmp_path: Path, signal_here,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mapo_cli.search import driver

    explore_chunk = driver.explore_chunk

    def chunk_then_ctrl_c(*args, **kwargs):
        signal_here(signal.SIGINT)
        return explore_chunk(*args, **kwargs)

    monkeypatch.setattr(driver, "explore_chunk", chunk_then_ctrl_c)
    store = tmp_path / "store"
    result = runner.invoke(app, ["explore", str(small["explore"]), "--store", str(store),
                                 "--workers", "1", "--samples-per-example", "100"])
    assert result.exit_code == 130, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("stopped by SIGINT after ") and last.endswith(" to resume")
    assert samples_committed(store) > 0


def prepare_loader() -> Callable:
    import functools

    from mapo_cli.data.tables import load_wtq_table

    return functools.partial(load_wtq_table, ROOT / "datasets" / "demo")


def test_sigterm_stops_prepare_and_its_workers_with_nothing_written(
        tmp_path: Path, signal_here, monkeypatch: pytest.MonkeyPatch) -> None:
    from mapo_cli.data import prepare

    monkeypatch.setattr(prepare, "POOL_MIN_TABLES", 0)  # the demo's 40 tables in worker processes
    before = set(multiprocessing.active_children())  # other tests' processes may still be ending
    with pytest.raises(Stopped) as stopped:
        prepare.run_prepare([ROOT / "datasets" / "demo" / "data" / "training.tsv"],
                            tmp_path / "out", prepare_loader(), "wtq",
                            progress=lambda done, total: signal_here(signal.SIGTERM))
    assert stopped.value.exit_code == 143
    assert "of 40 tables; nothing was written: run the same command again" in str(stopped.value)
    assert not (tmp_path / "out").exists()
    workers_end(before)


def test_sigterm_stops_decode_and_its_workers(small: dict[str, Path], tmp_path: Path,
                                              signal_here) -> None:
    from mapo_cli.analysis.decode import decode_file

    trained = runner.invoke(app, train_args(small, tmp_path / "run", "--steps", "1", "--serial"))
    assert trained.exit_code == 0, trained.output
    before = set(multiprocessing.active_children())
    with pytest.raises(Stopped) as stopped:
        decode_file(tmp_path / "run", small["dev"], workers=2, batch=4,
                    on_progress=lambda done, total: signal_here(signal.SIGTERM))
    assert stopped.value.exit_code == 143
    assert "of 24 examples; nothing was written" in str(stopped.value)
    workers_end(before)


def test_the_cli_says_where_inspect_spurious_stopped(small: dict[str, Path], signal_here,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from mapo_cli.analysis import spurious_report

    analyse = spurious_report.analyse_example

    def analyse_then_sigterm(*args, **kwargs):
        signal_here(signal.SIGTERM)
        return analyse(*args, **kwargs)

    monkeypatch.setattr(spurious_report, "analyse_example", analyse_then_sigterm)
    result = runner.invoke(app, ["inspect", "spurious", str(small["store"])])
    assert result.exit_code == 143, result.output
    assert result.output.strip().splitlines()[-1].startswith("stopped by SIGTERM after 1 of ")
    assert "error" not in result.output


# ----------------------------------------------------------------- before the work loops


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", ["explore", "train", "decode"])
def test_a_signal_while_the_data_loads_is_one_line_and_leaves_nothing(
        small: dict[str, Path], tmp_path: Path, signal_here, monkeypatch: pytest.MonkeyPatch,
        command: str, number: int) -> None:
    from mapo_cli.analysis import decode
    from mapo_cli.learn import train
    from mapo_cli.search import driver

    module, loader = {"explore": (driver, "load_dataset"), "decode": (decode, "load_dataset"),
                      "train": (train, "load_training_data")}[command]
    load = getattr(module, loader)

    def load_with_a_signal(*args, **kwargs):
        signal_here(number)
        return load(*args, **kwargs)

    store, run, trained = tmp_path / "store", tmp_path / "run", tmp_path / "trained"
    if command == "decode":
        assert runner.invoke(app, train_args(small, trained, "--steps", "1", "--serial")
                             ).exit_code == 0
    monkeypatch.setattr(module, loader, load_with_a_signal)
    args = {"explore": ["explore", str(small["explore"]), "--store", str(store)],
            "train": train_args(small, run, "--steps", "2", "--serial"),
            "decode": ["decode", str(trained), str(small["dev"]), "--out",
                       str(tmp_path / "predictions.jsonl")]}[command]
    result = runner.invoke(app, args)
    assert result.exit_code == 128 + number, result.output
    name = signal.Signals(number).name
    assert result.output.strip().splitlines() == [
        f"stopped by {name} before the work began, nothing lost: run the same command again"]
    assert not store.exists() and not run.exists()
    assert not (tmp_path / "predictions.jsonl").exists()
