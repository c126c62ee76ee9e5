"""`mapo decode RUN_1 RUN_2 ... DATA`: several runs decode as one ensemble."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from test_decode import train_tiny_run
from typer.testing import CliRunner

from mapo_cli.analysis.decode import decode_file
from mapo_cli.analysis.ensemble import ensemble_file
from mapo_cli.analysis.rerank import load_reranker
from mapo_cli.data.dataset import load_dataset
from mapo_cli.data.scoring import score_answers
from mapo_cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path,
             demo_store: Path) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("ensemble")
    return (train_tiny_run(tmp, prepared_demo, demo_store, "a", "--seed", "1"),
            train_tiny_run(tmp, prepared_demo, demo_store, "b", "--seed", "2"))


def beams(report) -> list[list[tuple[str, list[str]]]]:
    return [[(d.program, d.answer) for d in r.beam] for r in report.results]


def test_an_ensemble_of_one_is_that_run(two_runs: tuple[Path, Path], prepared_demo: Path) -> None:
    dev = prepared_demo / "random-split-1-dev.jsonl"
    alone = decode_file(two_runs[0], dev, workers=1)
    ensemble = ensemble_file([two_runs[0]], dev, workers=1)
    assert ensemble.predictions == alone.predictions
    assert beams(ensemble) == beams(alone)
    assert ensemble.accuracy == alone.accuracy


def test_an_ensemble_pools_and_ranks_by_the_mean_probability(
        two_runs: tuple[Path, Path], prepared_demo: Path) -> None:
    dev = prepared_demo / "random-split-1-dev.jsonl"
    a, b = (decode_file(run, dev, workers=1) for run in two_runs)
    ensemble = ensemble_file(list(two_runs), dev, workers=1)
    assert ensemble.total == a.total and [m["accuracy"] for m in ensemble.members] == [
        a.accuracy, b.accuracy]
    for mine, one, other in zip(ensemble.results, a.results, b.results, strict=True):
        pooled = {d.program for d in one.beam} | {d.program for d in other.beam}
        assert {d.program for d in mine.beam} == pooled
        probabilities = [d.probability for d in mine.beam]
        assert probabilities == sorted(probabilities, reverse=True)
        # a program in both beams scores the mean of its two probabilities
        in_a = {d.program: d.probability for d in one.beam}
        in_b = {d.program: d.probability for d in other.beam}
        for decoded in mine.beam:
            if decoded.program in in_a and decoded.program in in_b:
                mean = (in_a[decoded.program] + in_b[decoded.program]) / 2
                assert decoded.probability == pytest.approx(mean, rel=1e-9)


def test_worker_processes_score_the_pool_as_this_process_does(
        two_runs: tuple[Path, Path], prepared_demo: Path) -> None:
    dev = prepared_demo / "random-split-1-dev.jsonl"
    here = ensemble_file(list(two_runs), dev, workers=1)
    spread = ensemble_file(list(two_runs), dev, workers=2)
    assert beams(spread) == beams(here)
    for mine, theirs in zip(spread.results, here.results, strict=True):
        for one, other in zip(mine.beam, theirs.beam, strict=True):
            assert one.members == pytest.approx(other.members)


def test_the_beams_of_an_ensemble_give_every_members_log_probability(
        two_runs: tuple[Path, Path], prepared_demo: Path, tmp_path: Path) -> None:
    dev = prepared_demo / "random-split-1-dev.jsonl"
    beams_file = tmp_path / "beams.jsonl"
    result = runner.invoke(app, ["decode", str(two_runs[0]), str(two_runs[1]), str(dev),
                                 "--workers", "1", "--programs", str(beams_file)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in beams_file.read_text().splitlines()]
    programs = [p for record in records for p in record["programs"]]
    assert programs
    for program in programs:
        a, b = program["member_log_probabilities"]
        mean = (math.exp(a) + math.exp(b)) / 2
        assert program["probability"] == pytest.approx(mean, rel=1e-9)
    alone = tmp_path / "alone.jsonl"
    single = runner.invoke(app, ["decode", str(two_runs[0]), str(dev), "--workers", "1",
                                 "--programs", str(alone)])
    assert single.exit_code == 0, single.output
    first = json.loads(alone.read_text().splitlines()[0])
    assert all("member_log_probabilities" not in p for p in first["programs"])


def test_decode_of_several_runs_reports_the_members(two_runs: tuple[Path, Path],
                                                    prepared_demo: Path) -> None:
    dev = prepared_demo / "random-split-1-dev.jsonl"
    result = runner.invoke(app, ["decode", str(two_runs[0]), str(two_runs[1]), str(dev),
                                 "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["members"]) == 2
    assert all(m["checkpoint"].endswith("best.pt") for m in report["members"])
    missing = runner.invoke(app, ["decode", str(dev)])
    assert missing.exit_code != 0 and "at least one run" in missing.output


def some_training_questions(prepared_demo: Path, into: Path, count: int = 150) -> Path:
    """The first `count` training questions, with their tables (a quick file to fit on)."""
    lines = (prepared_demo / "random-split-1-train.jsonl").read_text().splitlines()[:count]
    (into / "train.jsonl").write_text("\n".join(lines) + "\n")
    shutil.copy(prepared_demo / "tables.jsonl", into / "tables.jsonl")
    return into / "train.jsonl"


def test_a_reranker_fit_by_mapo_rerank_ranks_the_pools_of_decode(
        two_runs: tuple[Path, Path], prepared_demo: Path, tmp_path: Path) -> None:
    train = some_training_questions(prepared_demo, tmp_path)
    dev = prepared_demo / "random-split-1-dev.jsonl"
    reranker_file = tmp_path / "reranker.json"
    runs = [str(run) for run in two_runs]
    fitted = runner.invoke(app, ["rerank", *runs, str(train), "--out", str(reranker_file),
                                 "--workers", "1", "--json"])
    assert fitted.exit_code == 0, fitted.output
    summary = json.loads(fitted.stdout)
    assert summary["questions"] == 150
    assert summary["reranked_correct"] > summary["mean_probability_correct"]
    reranker = load_reranker(reranker_file)
    assert len(reranker.members) == 2

    decoded = runner.invoke(app, ["decode", *runs, str(dev), "--workers", "1", "--json",
                                  "--reranker", str(reranker_file)])
    assert decoded.exit_code == 0, decoded.output
    report = json.loads(decoded.stdout)
    assert report["reranker"] == str(reranker_file)
    by_mean = ensemble_file(list(two_runs), dev, workers=1)
    expected = score_answers({r.id: reranker.rank(r.beam)[0].answer if r.beam else []
                              for r in by_mean.results}, load_dataset(dev)[0])
    assert report["correct"] == expected.correct


def test_decode_refuses_a_reranker_fit_for_other_runs(
        two_runs: tuple[Path, Path], prepared_demo: Path, tmp_path: Path) -> None:
    train = some_training_questions(prepared_demo, tmp_path, count=60)
    dev = prepared_demo / "random-split-1-dev.jsonl"
    reranker_file = tmp_path / "reranker.json"
    fitted = runner.invoke(app, ["rerank", str(two_runs[0]), str(train), "--out",
                                 str(reranker_file), "--workers", "1"])
    assert fitted.exit_code == 0, fitted.output
    assert "right by the reranker" in fitted.output
    mismatch = runner.invoke(app, ["decode", *map(str, two_runs), str(dev), "--workers", "1",
                                   "--reranker", str(reranker_file)])
    assert mismatch.exit_code != 0
    assert "fit for an ensemble of 1 runs" in mismatch.output
    missing = runner.invoke(app, ["decode", str(two_runs[0]), str(dev), "--reranker",
                                  str(tmp_path / "none.json")])
    assert missing.exit_code != 0 and "no such reranker file" in missing.output
    no_run = runner.invoke(app, ["rerank", str(train), "--out", str(reranker_file)])
    assert no_run.exit_code != 0 and "at least one run" in no_run.output
