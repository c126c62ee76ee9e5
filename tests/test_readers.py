"""Readers read by name and say where a file is wrong.

Question TSVs (`mapo prepare`) are read by their header's column names, with
or without a byte-order mark or CRLF line ends. Prepared data (every other
command) is checked record by record: a bad one is `FILE:LINE: what is wrong`,
one line and exit code 1, never a traceback or a silently wrong result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import load_dataset, load_examples
from mapo_cli.data.prepare import read_questions
from mapo_cli.main import app

runner = CliRunner()

# ----------------------------------------------------------------- question TSVs

LINES = ["q1\twho won?\tt.csv\tPeru", "q2\thow many?\tt.csv\t3|4"]


def read(tmp_path: Path, text: bytes) -> list[tuple[str, str, str, list[str]]]:
    path = tmp_path / "q.tsv"
    path.write_bytes(text)
    questions, problems = read_questions(path)
    assert problems == []
    return [(q.id, q.utterance, q.context, q.answer) for q in questions]


EXPECTED = [("q1", "who won?", "t.csv", ["Peru"]), ("q2", "how many?", "t.csv", ["3", "4"])]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no-bom", "bom"])
@pytest.mark.parametrize("end", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_a_question_file_reads_the_same_with_a_bom_or_crlf(tmp_path: Path, bom: bytes,
                                                           end: bytes) -> None:
    header = b"id\tutterance\tcontext\ttargetValue"
    text = bom + end.join([header, *(line.encode() for line in LINES)]) + end
    assert read(tmp_path, text) == EXPECTED


def test_a_bom_before_a_headerless_file_is_not_part_of_the_first_id(tmp_path: Path) -> None:
    assert read(tmp_path, b"\xef\xbb\xbf" + "\n".join(LINES).encode()) == EXPECTED


def test_columns_are_found_by_name_in_any_order(tmp_path: Path) -> None:
    text = "targetValue\tcontext\tnotes\tid\tutterance\r\n" + "".join(
        f"{answer}\t{context}\tmine\t{qid}\t{utterance}\r\n"
        for qid, utterance, context, answer in (line.split("\t") for line in LINES))
    assert read(tmp_path, text.encode()) == EXPECTED


def test_a_header_without_a_needed_column_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text("id\tquestion\tcontext\ttargetValue\nq1\twho?\tt.csv\tx\n")
    with pytest.raises(MapoError, match=r"q.tsv:1: the header lacks the column\(s\) utterance"):
        read_questions(path)


def test_prepare_wtq_reads_a_release_saved_with_a_bom_and_crlf(tmp_path: Path) -> None:
    from mapo_cli.data.prepare_wtq import prepare_wtq

    source = tmp_path / "wtq"
    (source / "data").mkdir(parents=True)
    (source / "csv" / "200-csv").mkdir(parents=True)
    (source / "csv" / "200-csv" / "1.csv").write_text('"Nation","Gold"\n"Peru","3"\n')
    (source / "data" / "training.tsv").write_bytes(
        b"\xef\xbb\xbfid\tutterance\tcontext\ttargetValue\r\n"
        b"nt-1\thow many gold did peru win?\tcsv/200-csv/1.csv\t3\r\n")
    report = prepare_wtq(source, tmp_path / "out")
    assert report.problems == [] and report.examples == {"training.jsonl": 1}
    (example,) = load_examples(tmp_path / "out" / "training.jsonl")
    assert example["id"] == "nt-1" and example["answer"] == ["3"]


# ----------------------------------------------------------------- prepared data


@pytest.fixture
def data(tmp_path: Path, prepared_demo: Path) -> Path:
    """Three demo examples and their tables, for the tests to spoil."""
    (tmp_path / "data").mkdir()
    lines = (prepared_demo / "random-split-1-dev.jsonl").read_text().splitlines()[:3]
    path = tmp_path / "data" / "dev.jsonl"
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / "data" / "tables.jsonl").write_text((prepared_demo / "tables.jsonl").read_text())
    return path


def spoil(path: Path, line: int, **fields: object) -> None:
    """Set fields of the record on `line` (1-based) of a JSONL file."""
    records = [json.loads(text) for text in path.read_text().splitlines()]
    records[line - 1].update(fields)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


BAD_EXAMPLES = {
    "answer null": ({"answer": None}, "answer must be a list of strings, not null"),
    "answer numbers": ({"answer": [1, 2]}, "answer must be a list of strings, not [1, 2]"),
    "answer a string": ({"answer": "Morocco"},
                        'answer must be a list of strings, not "Morocco"'),
    "canonical too short": ({"answer": ["a", "b"], "answer_canonical": ["a"]},
                            "answer_canonical must be a list of 2 strings or nulls"),
    "id a number": ({"id": 7}, "id must be a non-empty string, not 7"),
    "tokens a string": ({"tokens": "who won"}, "tokens must be a list of strings"),
    "entity type": ({"entities": [{"type": "name", "value": "x", "span": [0, 1]}]},
                    "type must be one of string, number, date"),
    "entity value": ({"entities": [{"type": "number", "value": "3", "span": [0, 1]}]},
                     "a number value must be a number"),
    "entity span": ({"entities": [{"type": "string", "value": "x", "span": [0, 99]}]},
                    "span must be [start, end) within the"),
}


@pytest.mark.parametrize("case", BAD_EXAMPLES)
def test_a_bad_example_is_named_by_file_and_line(data: Path, case: str) -> None:
    fields, message = BAD_EXAMPLES[case]
    spoil(data, 2, **fields)
    with pytest.raises(MapoError) as error:
        load_dataset(data)
    assert str(error.value).startswith(f"{data}:2: example ")
    assert message in str(error.value)


BAD_TABLES = {
    "a short row": (lambda t: {"rows": [t["rows"][0][:-1]]}, "row 0 must be a list of"),
    "a cell number": (lambda t: {"rows": [[1] * len(t["headers"])]}, "row 0 must be a list of"),
    "columns": (lambda t: {"columns": t["columns"][:-1]}, "columns must be a list of"),
    "a short view": (lambda t: {"numbers": [[1.0] * (len(t["rows"]) + 1)] * len(t["headers"])},
                     "numbers[0] must be null or a list of"),
    "views": (lambda t: {"dates": None}, "dates must be a list of"),
}


@pytest.mark.parametrize("case", BAD_TABLES)
def test_a_bad_table_is_named_by_file_and_line(data: Path, case: str) -> None:
    change, message = BAD_TABLES[case]
    used = json.loads(data.read_text().splitlines()[0])["table"]
    tables = data.parent / "tables.jsonl"
    ids = [json.loads(line)["id"] for line in tables.read_text().splitlines()]
    line = ids.index(used) + 1
    spoil(tables, line, **change(json.loads(tables.read_text().splitlines()[line - 1])))
    with pytest.raises(MapoError) as error:
        load_dataset(data)
    assert str(error.value).startswith(f"{tables}:{line}: table ")
    assert message in str(error.value)


def test_commands_report_a_bad_record_in_one_line(data: Path) -> None:
    spoil(data, 3, answer="Morocco")
    example = json.loads(data.read_text().splitlines()[2])
    for args in (["exec", str(data), example["id"], "(count all_rows)"],
                 ["explore", str(data), "--store", str(data.parent / "store"), "--workers", "1"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and "M | o" not in result.output
        assert f"dev.jsonl:3: example {json.dumps(example['id'])}: answer must be" in " ".join(
            result.output.split())
