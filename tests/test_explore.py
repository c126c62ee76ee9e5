"""Systematic exploration into a store: distinct samples, exhaustion, resume, failures."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
from tables import example, medals_table, small_table
from test_interpreter import enumerate_programs

from mapo_cli.core.errors import MapoError
from mapo_cli.data.scoring import TargetScorer
from mapo_cli.search.driver import explore_data
from mapo_cli.search.explore import (
    ExploreSettings,
    UniformPolicy,
    explore_chunk,
    make_interpreter,
    sample_new_programs,
)
from mapo_cli.store.filters import make_filter
from mapo_cli.store.store import Store

EXACT = ExploreSettings(triggers=False, filter_mode="exact", error_rate=0.0, max_expressions=2)
QUESTION = example(
    "how many nations other than peru won 3 gold?",
    [{"type": "string", "value": "peru", "span": [5, 6]},
     {"type": "number", "value": 3, "span": [7, 8]}],
    ["1"],
)


def test_every_sample_is_a_new_program() -> None:
    interpreter = make_interpreter(QUESTION, medals_table(), ExploreSettings(triggers=False))
    explored = make_filter("bloom", 5000, 0.001)
    programs = [s.tokens for s in sample_new_programs(
        interpreter, explored, UniformPolicy(), random.Random(0), 3000) if s is not None]
    assert len(programs) == 3000
    assert len(set(programs)) == len(programs)


def test_an_exhausted_example_holds_exactly_the_rewarded_programs_of_brute_force() -> None:
    table = small_table()
    result = explore_chunk(QUESTION, table, EXACT, None, 0, 1_000_000, seed=1)
    assert result.exhausted and result.dead_ends == 0
    interpreter = make_interpreter(QUESTION, table, EXACT)
    everything = enumerate_programs(interpreter)
    assert result.samples == len(everything)
    scorer = TargetScorer(QUESTION["answer"])
    rewarded = {p for p in everything if scorer.reward(interpreter.answer(interpreter.run(p))) > 0}
    assert rewarded and set(result.programs) == rewarded
    # an exhausted example costs nothing more
    again = explore_chunk(QUESTION, table, EXACT, result.filter_bytes, result.samples, 100, seed=1)
    assert again.samples == 0 and again.exhausted


def write_data(directory: Path, examples: list[dict], tables: list[dict]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tables.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tables))
    data = directory / "data.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in examples))
    return data


def demo_subset(tmp_path: Path, prepared_demo: Path, n: int = 12) -> Path:
    lines = (prepared_demo / "random-split-1-dev.jsonl").read_text().splitlines()[:n]
    subset = tmp_path / "data"
    subset.mkdir()
    (subset / "tables.jsonl").write_text((prepared_demo / "tables.jsonl").read_text())
    (subset / "dev.jsonl").write_text("\n".join(lines) + "\n")
    return subset / "dev.jsonl"


def store_contents(path: Path) -> dict:
    with Store.open_readonly(path) as store:
        return {i: (store.read_memory(i), store.read_filter(i),
                    {k: v for k, v in (store.read_status(i) or {}).items() if k != "seconds"})
                for i in store.ids()}


SETTINGS = ExploreSettings(max_expressions=3)


def interrupted_after(chunks: int):
    """A task runner that runs `chunks` chunks, then is interrupted as by Ctrl-C."""
    from mapo_cli.search.driver import _run_task

    calls = {"n": 0}

    def run(task, settings, size, seed):
        calls["n"] += 1
        if calls["n"] > chunks:
            raise KeyboardInterrupt
        return _run_task(task, settings, size, seed)

    return run


def test_resuming_after_a_stop_builds_the_same_store(tmp_path: Path, prepared_demo: Path) -> None:
    data = demo_subset(tmp_path, prepared_demo)
    explore_data(data, tmp_path / "once", SETTINGS, workers=1, samples_per_example=600,
                 chunk=200, seed=3)

    with pytest.raises(KeyboardInterrupt):
        explore_data(data, tmp_path / "twice", SETTINGS, workers=1, samples_per_example=600,
                     chunk=200, seed=3, task_runner=interrupted_after(5))
    partial = store_contents(tmp_path / "twice")
    assert sum(s.get("samples", 0) for _, _, s in partial.values()) > 0  # what finished was committed
    summary = explore_data(data, tmp_path / "twice", SETTINGS, workers=2,
                           samples_per_example=600, chunk=200, seed=3)
    assert summary["finished"]
    assert store_contents(tmp_path / "twice") == store_contents(tmp_path / "once")


def test_a_larger_k_continues_where_the_last_run_ended(tmp_path: Path, prepared_demo: Path) -> None:
    data = demo_subset(tmp_path, prepared_demo, n=4)
    explore_data(data, tmp_path / "a", SETTINGS, workers=1, samples_per_example=300, chunk=200)
    first = store_contents(tmp_path / "a")
    explore_data(data, tmp_path / "a", SETTINGS, workers=1, samples_per_example=700, chunk=200)
    second = store_contents(tmp_path / "a")
    for example_id, (memory, _, status) in second.items():
        old_memory, _, old_status = first[example_id]
        assert memory[: len(old_memory)] == old_memory  # nothing found before is lost
        assert len({p for p, _ in memory}) == len(memory)
        assert status["exhausted"] or status["samples"] == 700
        assert old_status["exhausted"] or old_status["samples"] == 300


def test_other_settings_or_changed_examples_are_refused(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d", [QUESTION], [medals_table()])
    explore_data(data, tmp_path / "s", EXACT, workers=1, samples_per_example=50)
    other = ExploreSettings(triggers=False, filter_mode="exact", error_rate=0.0, max_expressions=3)
    with pytest.raises(MapoError, match="max_expressions"):
        explore_data(data, tmp_path / "s", other, workers=1, samples_per_example=50)
    changed = dict(QUESTION, answer=["2"])
    data2 = write_data(tmp_path / "d2", [changed], [medals_table()])
    with pytest.raises(MapoError, match="ex-1"):
        explore_data(data2, tmp_path / "s", EXACT, workers=1, samples_per_example=50)


def fail_on(example_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exploring this example raises (in this process: workers are spawned, so use one)."""
    from mapo_cli.search import driver

    real = driver.explore_chunk

    def flaky(example, *args, **kwargs):
        if example["id"] == example_id:
            raise RuntimeError("boom")
        return real(example, *args, **kwargs)

    monkeypatch.setattr(driver, "explore_chunk", flaky)


def fails_on_bad(task, settings, size, seed):
    """A task runner whose example "bad" raises inside the worker (importable: workers are
    spawned, so a monkeypatch of this process would not reach them)."""
    from mapo_cli.search import driver

    if task.example["id"] == "bad":
        raise RuntimeError("boom")
    return driver._run_task(task, settings, size, seed)


def test_a_failing_example_does_not_lose_the_others(tmp_path: Path) -> None:
    good = dict(QUESTION, id="good")
    bad = dict(QUESTION, id="bad")
    data = write_data(tmp_path / "d", [bad, good], [medals_table()])
    summary = explore_data(data, tmp_path / "s", EXACT, workers=2, samples_per_example=200,
                           task_runner=fails_on_bad)
    assert summary["errors"] == ["bad: RuntimeError: boom"]
    with Store.open_readonly(tmp_path / "s") as store:
        assert store.read_status("good")["samples"] == 200
        assert store.read_memory("good")
        assert store.read_status("bad")["error"] == "RuntimeError: boom"


def test_explore_exits_non_zero_when_an_example_failed(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from mapo_cli.main import app

    data = write_data(tmp_path / "d", [dict(QUESTION, id="bad"), dict(QUESTION, id="good")],
                      [medals_table()])
    fail_on("bad", monkeypatch)
    result = CliRunner().invoke(app, ["explore", str(data), "--store", str(tmp_path / "s"),
                                      "--workers", "1", "--samples-per-example", "50"])
    assert result.exit_code == 1
    assert "1 of 2 examples failed (e.g. bad: RuntimeError: boom)" in result.output
    with Store.open_readonly(tmp_path / "s") as store:
        assert store.read_status("good")["samples"] == 50


UNTRIGGERED = example("nation name ?", [], ["Chile"])  # only `last`, `argmin`... give Chile
RELAX = ExploreSettings(filter_mode="exact", error_rate=0.0, max_expressions=2,
                        relax_triggers=True)


def test_an_example_its_trigger_words_leave_uncovered_is_explored_with_every_function(
        tmp_path: Path) -> None:
    table = small_table()
    narrow = explore_chunk(UNTRIGGERED, table, dataclasses.replace(RELAX, relax_triggers=False),
                           None, 0, 10**6, seed=1)
    assert narrow.exhausted and not narrow.programs  # what the triggers allow cannot answer
    data = write_data(tmp_path / "d", [UNTRIGGERED], [table])
    summary = explore_data(data, tmp_path / "s", RELAX, workers=1, samples_per_example=10**6)
    assert summary["covered"] == 1 and summary["relaxed"] == 1
    (memory, _, status), = store_contents(tmp_path / "s").values()
    assert status["relaxed"] and status["exhausted"]
    interpreter = make_interpreter(UNTRIGGERED, table, RELAX, relaxed=True)
    scorer = TargetScorer(UNTRIGGERED["answer"])
    rewarded = {p for p in enumerate_programs(interpreter)
                if scorer.reward(interpreter.answer(interpreter.run(p))) > 0}
    assert {program for program, _ in memory} == rewarded


def test_a_covered_example_keeps_its_trigger_words(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d", [QUESTION], [small_table()])
    summary = explore_data(data, tmp_path / "s", RELAX, workers=1, samples_per_example=10**6)
    assert summary["covered"] == 1 and summary["relaxed"] == 0


def test_a_run_stopped_after_relaxing_resumes_to_the_same_store(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d", [UNTRIGGERED], [small_table()])
    explore_data(data, tmp_path / "once", RELAX, workers=1, samples_per_example=10**6, chunk=50)
    with pytest.raises(KeyboardInterrupt):
        explore_data(data, tmp_path / "twice", RELAX, workers=1, samples_per_example=10**6,
                     chunk=50, task_runner=interrupted_after(1))
    (_, _, status), = store_contents(tmp_path / "twice").values()
    assert status["relaxed"] and not status["exhausted"]  # committed with an empty filter
    explore_data(data, tmp_path / "twice", RELAX, workers=1, samples_per_example=10**6, chunk=50)
    assert store_contents(tmp_path / "twice") == store_contents(tmp_path / "once")


def test_relaxing_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d", [UNTRIGGERED], [small_table()])
    explore_data(data, tmp_path / "s", RELAX, workers=1, samples_per_example=50)
    with pytest.raises(MapoError, match="relax_triggers"):
        explore_data(data, tmp_path / "s", dataclasses.replace(RELAX, relax_triggers=False),
                     workers=1, samples_per_example=50)
