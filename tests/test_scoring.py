"""The WikiTableQuestions scorer: official evaluator semantics, prediction files, `mapo score`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mapo_cli.core.errors import MapoError
from mapo_cli.data import scoring
from mapo_cli.data.answer_values import (
    DateValue,
    NumberValue,
    StringValue,
    normalize,
    to_value,
)
from mapo_cli.data.scoring import (
    TargetScorer,
    answer_matches,
    prediction_cell,
    read_predictions,
    score_answers,
    score_predictions,
    write_predictions,
)
from mapo_cli.main import app

# ---------------------------------------------------------------- strings


@pytest.mark.parametrize(("raw", "normal"), [
    ("Brazil", "brazil"),
    ("  São   Paulo ", "sao paulo"),            # diacritics, whitespace
    ("Peru[1]", "peru"),                         # citation
    ("Peru [a][12]", "peru"),                    # several citations
    ("Ángel Cabrera‡", "angel cabrera"),         # footnote mark
    ("Switzerland (SUI)", "switzerland"),        # trailing detail in parentheses
    ("(SUI)", "(sui)"),                          # ... but not the whole string
    ('"As Country as Apple Pie"', "as country as apple pie"),
    ("“Hello”", "hello"),                        # curly quotes are quotes
    ("It’s", "it's"),
    ("1–0", "1-0"),                              # en dash
    ("Acme Inc.", "acme inc"),                   # final period
    ('"Hello" (band) [2]', "hello"),             # repeated until nothing changes
])
def test_normalize(raw: str, normal: str) -> None:
    assert normalize(raw) == normal


@pytest.mark.parametrize(("predicted", "target"), [
    ("brazil", "Brazil"),
    ("Angel Cabrera", "Ángel Cabrera"),
    ("Peru", "Peru[1]"),
    ("Switzerland", "Switzerland (SUI)"),
    ("As Country as Apple Pie", '"As Country as Apple Pie"'),
    ("Acme Inc", "Acme Inc."),
    ("1-0", "1–0"),
])
def test_strings_match_after_normalisation(predicted: str, target: str) -> None:
    assert answer_matches([predicted], [target])


def test_different_strings_do_not_match() -> None:
    assert not answer_matches(["Peru"], ["Brazil"])
    assert not answer_matches(["Peru B"], ["Peru"])


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(("predicted", "target"), [
    ("51130", "51,130"),
    ("51130.0", "51,130"),
    ("2", "2.0"),
    ("2.0", "2"),
    ("1.5", "1.50"),
    ("-5", "-5"),
    ("1000.5", "1,000.5"),
    ("0.33333334", "0.3333333"),     # within 1e-6
    ("17", "17 years"),              # "<number> <unit>" is its number
    ("1995", "1995"),
    ("1995-xx-xx", "1995"),          # a date with only a year is a number
])
def test_numbers_match_as_values(predicted: str, target: str) -> None:
    assert answer_matches([predicted], [target])


@pytest.mark.parametrize(("predicted", "target"), [
    ("2.1", "2"),
    ("51131", "51,130"),
    ("3", "3rd"),        # ordinals stay strings, as in the release's tagged data
    ("2", "two"),        # so do number words
    ("5", "5%"),         # and percentages written without a space
    ("37", "37 miles (60 km)"),
])
def test_numbers_that_do_not_match(predicted: str, target: str) -> None:
    assert not answer_matches([predicted], [target])


def test_number_values_keep_the_official_int_truncation() -> None:
    value = to_value("2.9999999")
    assert isinstance(value, NumberValue) and value.amount == 2   # int(), as evaluator.py
    assert to_value("2.5").amount == 2.5


def test_ordinal_and_percent_targets_match_their_own_text() -> None:
    assert answer_matches(["3rd"], ["3rd"])
    assert answer_matches(["5%"], ["5%"])


def test_predictions_are_read_like_the_official_prediction_file() -> None:
    assert isinstance(to_value("2"), NumberValue)
    assert isinstance(to_value("2.5"), NumberValue)
    assert isinstance(to_value("1995-01-26"), DateValue)
    assert isinstance(to_value("1995-xx-xx"), NumberValue)
    assert isinstance(to_value("51,130"), StringValue)   # no CoreNLP for predictions
    assert isinstance(to_value("nan"), StringValue)
    assert isinstance(to_value("inf"), StringValue)


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(("predicted", "target"), [
    ("1995-01-26", "January 26, 1995"),
    ("1995-01-26", "26 January 1995"),
    ("1995-03-xx", "March 1995"),
    ("xx-09-11", "Sept 11"),
    ("January 26, 1995", "January 26, 1995"),
])
def test_dates_match_as_values(predicted: str, target: str) -> None:
    assert answer_matches([predicted], [target])


def test_dates_with_other_parts_do_not_match() -> None:
    assert not answer_matches(["1995-03-26"], ["March 1995"])
    assert not answer_matches(["1995-01-27"], ["January 26, 1995"])
    assert not answer_matches(["1995"], ["January 26, 1995"])


# ---------------------------------------------------------------- lists


def test_lists_are_sets() -> None:
    assert answer_matches(["Chile", "Ecuador"], ["Ecuador", "Chile"])
    assert answer_matches(["2004", "2005", "2006"], ["2006", "2004", "2005"])
    assert answer_matches(["Chile", "chile"], ["Chile"])   # duplicates collapse


def test_list_length_must_match() -> None:
    assert not answer_matches(["Chile"], ["Chile", "Ecuador"])
    assert not answer_matches(["Chile", "Ecuador", "Peru"], ["Chile", "Ecuador"])
    assert not answer_matches([], ["Chile"])


def test_target_scorer_reward() -> None:
    scorer = TargetScorer(["51,130"])
    assert scorer.reward(["51130"]) == 1.0
    assert scorer.reward(["51,130"]) == 1.0
    assert scorer.reward(["5113"]) == 0.0
    assert scorer.reward([]) == 0.0


def test_recorded_canonical_values_are_the_targets() -> None:
    """`answer_canonical` (the release's targetCanon) wins over mapo's canonicaliser."""
    example = make_example("nu-1", ["11.63 million", "Rank 3"])
    assert TargetScorer.for_example(example).matches(["11630000", "3"])
    example["answer_canonical"] = ["11.63", None]   # as a tagged file could say
    scorer = TargetScorer.for_example(example)
    assert scorer.matches(["11.63", "Rank 3"]) and not scorer.matches(["11630000", "3"])


def test_a_program_answer_is_scored_as_its_written_cell() -> None:
    scorer = TargetScorer(["Jamestown Harbour"])
    assert scorer.reward(["Jamestown\nHarbour"]) == 1.0       # written as "Jamestown Harbour"
    assert not scorer.matches(["Jamestown\\nHarbour"])        # a file's literal backslash-n


def test_prediction_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scoring, "_CACHE_SIZE", 10)
    monkeypatch.setattr(scoring, "_predicted_cache", {})
    scorer = TargetScorer(["7"])
    for i in range(100):
        scorer.reward([str(i)])
    assert len(scoring._predicted_cache) <= 10
    assert scorer.reward(["7"]) == 1.0


# ---------------------------------------------------------------- prediction files


def test_reads_cells_as_the_official_evaluator_does(tmp_path: Path) -> None:
    """evaluator.py splits each line on tabs and keeps every cell as it stands."""
    path = tmp_path / "pred.tsv"
    path.write_text("nt-1\tChile\tEcuador\nnt-2\nnt-3\ta\\nb\\p\\\\c|d\n\n", encoding="utf-8")
    assert read_predictions(path) == {
        "nt-1": ["Chile", "Ecuador"], "nt-2": [], "nt-3": ["a\\nb\\p\\\\c|d"]}


def test_lines_end_where_pythons_codecs_reader_ends_them(tmp_path: Path) -> None:
    """evaluator.py iterates a `codecs.open` file: U+2028 and a lone CR end a line too."""
    path = tmp_path / "pred.tsv"
    path.write_text("nt-1\tJames\u2028town\r\nnt-2\tPeru\rnt-3\tChile\n", encoding="utf-8",
                    newline="")
    assert read_predictions(path) == {"nt-1": ["James"], "town": [], "nt-2": ["Peru"],
                                      "nt-3": ["Chile"]}


def test_written_answers_read_back_as_their_cells(tmp_path: Path) -> None:
    predictions = {
        "nt-1": ["Jamestown\nHarbour", "back\\slash", "pi|pe", "tab\there", " padded  twice "],
        "nt-2": [],
        "nt-3": ["São Paulo", "line\u2028separator", "\\n is not a newline"],
    }
    path = tmp_path / "pred.tsv"
    write_predictions(path, predictions)
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3
    assert read_predictions(path) == {
        "nt-1": ["Jamestown Harbour", "back\\slash", "pi|pe", "tab here", "padded twice"],
        "nt-2": [],
        "nt-3": ["São Paulo", "line separator", "\\n is not a newline"],
    }


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), max_size=3), st.lists(st.text(), min_size=1, max_size=3))
def test_decode_scores_what_it_writes(tmp_path_factory: pytest.TempPathFactory,
                                      answer: list[str], target: list[str]) -> None:
    """`decode`'s verdict (`score_answers`) is `mapo score`'s on the file it writes, and a
    program's reward is that verdict too, whatever the answer strings hold."""
    examples = [make_example("nt-1", target)]
    path = tmp_path_factory.mktemp("written") / "pred.tsv"
    write_predictions(path, {"nt-1": answer})
    written = score_predictions(read_predictions(path), examples).per_example
    assert written == score_answers({"nt-1": answer}, examples).per_example
    assert written["nt-1"] == (TargetScorer(target).reward(answer) == 1.0)
    assert [prediction_cell(a) for a in answer] == read_predictions(path)["nt-1"]


def test_malformed_prediction_line_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "pred.tsv"
    path.write_text("nt-1\tChile\n\tEcuador\n", encoding="utf-8")
    with pytest.raises(MapoError, match=r"pred\.tsv:2:"):
        read_predictions(path)


def test_duplicate_prediction_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pred.tsv"
    path.write_text("nt-1\tChile\nnt-1\tPeru\n", encoding="utf-8")
    with pytest.raises(MapoError, match=r":2: second prediction"):
        read_predictions(path)


def test_non_utf8_prediction_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pred.tsv"
    path.write_bytes(b"nt-1\tChile\nnt-2\tS\xe3o Paulo\n")
    with pytest.raises(MapoError, match=r":2: not UTF-8"):
        read_predictions(path)


# ---------------------------------------------------------------- accuracy and `mapo score`


def make_example(example_id: str, answer: list[str]) -> dict:
    return {"id": example_id, "question": "q?", "tokens": ["q", "?"], "entities": [],
            "answer": answer, "table": "csv/204-csv/590.csv", "grammar": "wtq"}


EXAMPLES = [
    make_example("nt-1", ["51,130"]),
    make_example("nt-2", ["Chile", "Ecuador"]),
    make_example("nt-3", ["January 26, 1995"]),
]


def test_accuracy_is_over_all_examples() -> None:
    predictions = {"nt-1": ["51130"], "nt-2": ["Chile"], "nt-9": ["x"]}
    report = score_predictions(predictions, EXAMPLES)
    assert report.correct == 1
    assert report.total == 3
    assert report.missing == 1
    assert report.accuracy == pytest.approx(1 / 3)
    assert report.per_example == {"nt-1": True, "nt-2": False, "nt-3": False}
    assert report.unknown == ["nt-9"]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "prepared" / "dev.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES), encoding="utf-8")
    predictions = tmp_path / "pred.tsv"
    predictions.write_text("nt-1\t51130\nnt-3\t1995-01-26\nnt-9\tx\n", encoding="utf-8")
    return predictions, data


runner = CliRunner()


def test_score_command_prints_accuracy(files: tuple[Path, Path]) -> None:
    predictions, data = files
    result = runner.invoke(app, ["score", str(predictions), str(data)])
    assert result.exit_code == 0, result.output
    assert "66.67 %" in result.stdout
    assert "2 / 3" in result.stdout
    assert "missing predictions" in result.stdout
    assert "1 prediction(s) for ids not in dev.jsonl" in result.stderr


def test_score_command_json(files: tuple[Path, Path]) -> None:
    predictions, data = files
    result = runner.invoke(app, ["score", str(predictions), str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert (report["correct"], report["total"], report["missing"]) == (2, 3, 1)


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_score_command_missing_file(files: tuple[Path, Path], tmp_path: Path) -> None:
    _, data = files
    result = runner.invoke(app, ["score", str(tmp_path / "nope.tsv"), str(data)])
    assert_one_line_error(result, "nope.tsv", "no such file")


def test_score_command_missing_data(files: tuple[Path, Path], tmp_path: Path) -> None:
    predictions, _ = files
    result = runner.invoke(app, ["score", str(predictions), str(tmp_path / "nope.jsonl")])
    assert_one_line_error(result, "nope.jsonl")


def test_score_command_malformed_line(files: tuple[Path, Path]) -> None:
    predictions, data = files
    predictions.write_text("nt-1\t51130\n\t1995-01-26\n", encoding="utf-8")
    result = runner.invoke(app, ["score", str(predictions), str(data)])
    assert_one_line_error(result, "pred.tsv:2:")


def test_score_command_non_utf8(files: tuple[Path, Path]) -> None:
    predictions, data = files
    predictions.write_bytes(b"nt-1\t\xff\xfe\n")
    result = runner.invoke(app, ["score", str(predictions), str(data)])
    assert_one_line_error(result, "pred.tsv:1:", "UTF-8")


def test_score_help_explains_the_rules() -> None:
    result = runner.invoke(app, ["score", "--help"])
    assert result.exit_code == 0
    assert "all examples" in result.stdout

