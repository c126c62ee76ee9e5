"""A reranker of an ensemble's pooled programs: its features, its fit, its file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mapo_cli.analysis.decode import Decoded
from mapo_cli.analysis.rerank import (
    SCALAR_FEATURES,
    Reranker,
    feature_names,
    fit_reranker,
    load_reranker,
    pool_features,
    save_reranker,
)
from mapo_cli.core.errors import MapoError
from mapo_cli.language.grammar import load_grammar

WTQ = load_grammar("wtq")
FUNCTIONS = tuple(f.name for f in WTQ.functions)


def program(text: str, members: tuple[float, ...], answer: list[str], reward: float) -> Decoded:
    mean = sum(math.exp(m) for m in members) / len(members)
    return Decoded(text, math.log(mean), answer, reward, (), members)


def column(features: list[float], name: str) -> float:
    return features[feature_names(FUNCTIONS).index(name)]


def trap(seed: int) -> list[Decoded]:
    """Both members prefer an argmax program with the wrong answer; an argmin one is right."""
    shift = seed % 3 / 10
    return [program("(argmax all_rows r.year-num) (hop v0 r.team-str)", (-0.3 - shift, -0.4),
                    ["A"], 0.0),
            program("(argmin all_rows r.year-num) (hop v0 r.team-str)", (-1.6, -1.4 - shift),
                    ["B"], 1.0),
            program("(last all_rows) (hop v0 r.team-str)", (-3.0, -2.5), ["B"], 1.0)]


def test_the_features_are_named_from_the_grammars_functions() -> None:
    names = feature_names(FUNCTIONS)
    assert names[:len(SCALAR_FEATURES)] == SCALAR_FEATURES
    assert "calls argmax" in names and "calls filter_in" in names
    rows = pool_features(trap(0), FUNCTIONS)
    assert len(rows) == 3 and all(len(row) == len(names) for row in rows)
    argmax, argmin, last = rows
    assert column(argmax, "calls argmax") == 1 and column(argmax, "calls argmin") == 0
    assert column(argmin, "calls hop") == 1 and column(last, "expressions") == 2
    assert column(argmax, "members whose top program it is") == 1.0
    # two programs give B: their answer's probability is their summed mean probability
    assert column(argmin, "log probability of its answer") == pytest.approx(
        math.log(trap(0)[1].probability + trap(0)[2].probability))
    assert column(argmin, "lowest member log probability") == -1.6


def test_a_fitted_reranker_puts_the_right_programs_first() -> None:
    pools = [trap(seed) for seed in range(30)]
    reranker = fit_reranker(pools, WTQ, ["a/best.pt", "b/best.pt"], {"data": "train.jsonl"})
    assert reranker.fit["questions"] == 30 and reranker.fit["data"] == "train.jsonl"
    assert reranker.fit["mean_probability_correct"] == 0
    assert reranker.fit["reranked_correct"] == 30
    assert reranker.rank(trap(7))[0].answer == ["B"]
    assert reranker.rank([]) == []


def test_a_reranker_needs_a_pool_with_a_right_program() -> None:
    wrong = [[program("(first all_rows) (hop v0 r.team-str)", (-0.1,), ["A"], 0.0)]]
    with pytest.raises(MapoError, match="nothing to learn"):
        fit_reranker(wrong, WTQ, ["a/best.pt"])


def test_a_saved_reranker_ranks_as_the_fitted_one(tmp_path: Path) -> None:
    reranker = fit_reranker([trap(seed) for seed in range(10)], WTQ, ["a", "b"])
    path = tmp_path / "reranker.json"
    save_reranker(reranker, path)
    record = json.loads(path.read_text())
    assert list(record["weights"]) == list(feature_names(FUNCTIONS))
    loaded = load_reranker(path)
    assert loaded == reranker
    assert loaded.scores(trap(1)) == pytest.approx(reranker.scores(trap(1)))


def test_a_reranker_refuses_other_runs_or_another_grammar() -> None:
    reranker = fit_reranker([trap(seed) for seed in range(10)], WTQ, ["a", "b"])
    reranker.check_fits(WTQ, 2)
    with pytest.raises(MapoError, match="ensemble of 2 runs"):
        reranker.check_fits(WTQ, 3)
    with pytest.raises(MapoError, match="grammar 'wtq'"):
        reranker.check_fits(load_grammar("wikisql"), 2)


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such reranker file"),
    ("{not json", "not a reranker file"),
    ('{"format": "something else"}', "not a reranker file of this mapo"),
    ('{"format": "mapo-reranker-1", "weights": {"x": 1}}', "damaged reranker file"),
])
def test_a_file_that_is_no_reranker_is_refused(tmp_path: Path, content: str | None,
                                               message: str) -> None:
    path = tmp_path / "reranker.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(MapoError, match=message):
        load_reranker(path)


def test_a_reranker_on_the_mean_probability_alone_keeps_its_order() -> None:
    names = feature_names(FUNCTIONS)
    by_mean = Reranker("wtq", FUNCTIONS, (0.0,) * len(names), (1.0,) * len(names),
                       (1.0,) + (0.0,) * (len(names) - 1), ("a", "b"), {})
    pool = trap(0)
    assert by_mean.rank(pool) == pool
