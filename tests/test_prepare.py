"""`mapo prepare`: WikiTableQuestions and plain CSV into prepared data, bad input reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import EXAMPLE_KEYS, TABLE_KEYS, load_dataset, load_examples
from mapo_cli.data.prepare import parse_answer, read_questions
from mapo_cli.data.prepare_csv import prepare_csv
from mapo_cli.data.prepare_wtq import prepare_wtq
from mapo_cli.main import app

WTQ = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "wtq"
HEADER = "id\tutterance\tcontext\ttargetValue\n"

runner = CliRunner()


def write_tiny_wtq(root: Path, lines: list[str]) -> Path:
    """A WTQ-shaped release: two tables and a question file with `lines`."""
    (root / "data").mkdir(parents=True)
    (root / "csv" / "200-csv").mkdir(parents=True)
    (root / "csv" / "200-csv" / "0.csv").write_text(
        '"Rank","Nation","Gold"\n"1","Brazil","5"\n"2","Peru","3"\n"3","Chile","3"\n',
        encoding="utf-8",
    )
    (root / "csv" / "200-csv" / "1.csv").write_text(
        '"Year","Venue"\n"2001","Lima"\n"2002","Quito"\n', encoding="utf-8"
    )
    (root / "data" / "training.tsv").write_text(HEADER + "".join(lines), encoding="utf-8")
    return root


GOOD_LINES = [
    "nt-0\twhich nation is before peru?\tcsv/200-csv/0.csv\tBrazil\n",
    "nt-1\twhere was it held in 2002?\tcsv/200-csv/1.csv\tQuito\n",
    "nt-2\twhich nations won 3 gold?\tcsv/200-csv/0.csv\tPeru|Chile\n",
]


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["prepare", *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


# ----------------------------------------------------------------- the happy path


def test_prepare_wtq_writes_examples_and_tables(tmp_path: Path) -> None:
    source = write_tiny_wtq(tmp_path / "wtq", GOOD_LINES)
    report = prepare_wtq(source, tmp_path / "out")
    assert report.examples == {"training.jsonl": 3}
    assert report.tables == 2 and report.problems == []
    examples, tables = load_dataset(tmp_path / "out" / "training.jsonl")
    assert [e["id"] for e in examples] == ["nt-0", "nt-1", "nt-2"]
    assert examples[0] == {
        "id": "nt-0",
        "question": "which nation is before peru?",
        "tokens": ["which", "nation", "is", "before", "peru", "?"],
        "entities": [{"type": "string", "value": "peru", "span": [4, 5]}],
        "answer": ["Brazil"],
        "answer_canonical": [None],
        "table": "csv/200-csv/0.csv",
        "grammar": "wtq",
    }
    assert examples[2]["answer"] == ["Peru", "Chile"]
    assert report.figures["answer_canonical"] == {"targetCanon": 0, "canonicaliser": 3}
    assert {"type": "date", "value": "2002-xx-xx", "span": [5, 6]} in examples[1]["entities"]
    assert sorted(tables) == ["csv/200-csv/0.csv", "csv/200-csv/1.csv"]
    assert set(tables["csv/200-csv/1.csv"]) == set(TABLE_KEYS)


def test_cli_summary_and_json(tmp_path: Path) -> None:
    source = write_tiny_wtq(tmp_path / "wtq", GOOD_LINES)
    code, output = run("wtq", str(source), str(tmp_path / "out"))
    assert code == 0
    assert "training.jsonl: 3 examples" in output
    assert "2 tables" in output
    code, output = run("wtq", str(source), str(tmp_path / "out"), "--json")
    assert code == 0
    summary = json.loads(output)
    assert summary["examples"] == {"training.jsonl": 3}
    assert summary["tables"] == 2 and summary["problems"] == []


def test_help_texts() -> None:
    code, output = run("--help")
    assert code == 0 and "wtq" in output and "csv" in output
    code, output = run("csv", "--help")
    assert code == 0 and "--tables" in output and "--strict" in output


def test_prepare_csv_reads_tables_beside_the_questions(tmp_path: Path) -> None:
    (tmp_path / "medals.csv").write_text("Nation,Gold\nPeru,3\nChile,2\n", encoding="utf-8")
    (tmp_path / "q.tsv").write_text("q1\thow many gold did peru win?\tmedals.csv\t3\n")
    code, output = run("csv", str(tmp_path / "q.tsv"), str(tmp_path / "out"))
    assert code == 0, output
    (example,) = load_examples(tmp_path / "out" / "q.jsonl")
    assert example["table"] == "medals.csv"
    assert {"type": "string", "value": "peru", "span": [4, 5]} in example["entities"]
    assert set(example) == {*EXAMPLE_KEYS, "answer_canonical"}
    assert example["answer_canonical"] == ["3.0"]


def test_prepare_csv_with_a_tables_directory(tmp_path: Path) -> None:
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "m.csv").write_text("Nation,Gold\nPeru,3\n", encoding="utf-8")
    (tmp_path / "q.tsv").write_text(HEADER + "q1\tpartial peru?\tm.csv\t3\n")
    report = prepare_csv(tmp_path / "q.tsv", tmp_path / "out", tables_dir=tmp_path / "tables")
    assert report.examples == {"q.jsonl": 1} and report.tables == 1


TAGGED_HEADER = ("id\tutterance\tcontext\ttargetValue\ttokens\tlemmaTokens\tposTags\tnerTags"
                 "\tnerValues\ttargetCanon\ttargetCanonType\n")


def test_canonical_targets_come_from_the_releases_tagged_data(tmp_path: Path) -> None:
    lines = [
        "nt-0\thow far?\tcsv/200-csv/0.csv\t7km\n",
        "nt-1\twhat season?\tcsv/200-csv/1.csv\tSeason 7|Season 8\n",
        "nt-2\twhere?\tcsv/200-csv/1.csv\tQuito\n",
    ]
    source = write_tiny_wtq(tmp_path / "wtq", lines)
    (source / "tagged" / "data").mkdir(parents=True)
    tagged = [  # nt-2's strings differ from data/training.tsv: its canon is not used
        "nt-0\thow far?\tcsv/200-csv/0.csv\t7km\thow|far|?\t\t\t\t\t7.0\tnumber",
        ("nt-1\twhat season?\tcsv/200-csv/1.csv\tSeason 7|Season 8\t\t\t\t\t\t"
         "Season 7|8.0\tmixed"),
        "nt-2\twhere?\tcsv/200-csv/1.csv\tLima\t\t\t\t\t\tLima\tstring",
    ]
    (source / "tagged" / "data" / "training.tagged").write_text(
        TAGGED_HEADER + "\n".join(tagged) + "\n", encoding="utf-8")
    report = prepare_wtq(source, tmp_path / "out")
    assert report.figures["answer_canonical"] == {"targetCanon": 2, "canonicaliser": 1}
    examples = {e["id"]: e for e in load_examples(tmp_path / "out" / "training.jsonl")}
    assert examples["nt-0"]["answer"] == ["7km"]
    assert examples["nt-0"]["answer_canonical"] == ["7.0"]
    assert examples["nt-1"]["answer_canonical"] == ["Season 7", "8.0"]   # as CoreNLP said
    assert examples["nt-2"]["answer_canonical"] == [None]
    code, output = run("wtq", str(source), str(tmp_path / "out"))
    assert code == 0 and "2 from the release's targetCanon" in output


def test_a_tagged_file_without_target_canon_is_an_error(tmp_path: Path) -> None:
    source = write_tiny_wtq(tmp_path / "wtq", GOOD_LINES)
    (source / "tagged" / "data").mkdir(parents=True)
    (source / "tagged" / "data" / "training.tagged").write_text("id\tutterance\n")
    code, output = run("wtq", str(source), str(tmp_path / "out"))
    assert code == 1 and "training.tagged: not a tagged question file" in output


def test_answers_use_wtq_escapes() -> None:
    assert parse_answer("a\\pb|c\\nd|e\\\\f") == ["a|b", "c\nd", "e\\f"]


def test_grammar_is_checked_and_recorded(tmp_path: Path) -> None:
    source = write_tiny_wtq(tmp_path / "wtq", GOOD_LINES[:1])
    code, output = run("wtq", str(source), str(tmp_path / "out"), "--grammar", "nope")
    assert code == 1 and "unknown grammar 'nope'" in output
    report = prepare_wtq(source, tmp_path / "out", grammar="wikisql")
    assert report.grammar == "wikisql"
    assert load_examples(tmp_path / "out" / "training.jsonl")[0]["grammar"] == "wikisql"
    grammar_file = Path(__file__).resolve().parents[1] / "grammars" / "wtq.toml"
    report = prepare_wtq(source, tmp_path / "out", grammar=str(grammar_file))
    assert report.grammar == str(grammar_file)


# ----------------------------------------------------------------- bad input


def test_missing_source_is_one_line_error(tmp_path: Path) -> None:
    code, output = run("wtq", str(tmp_path / "nowhere"), str(tmp_path / "out"))
    assert code == 1
    assert output.strip().startswith("error:") and "no such directory" in output


def test_missing_question_file_is_one_line_error(tmp_path: Path) -> None:
    code, output = run("csv", str(tmp_path / "q.tsv"), str(tmp_path / "out"))
    assert code == 1 and "no such question file" in output


def test_malformed_line_is_reported_and_others_prepared(tmp_path: Path) -> None:
    source = write_tiny_wtq(
        tmp_path / "wtq", [GOOD_LINES[0], "nt-9\tno table here\n", GOOD_LINES[1]]
    )
    code, output = run("wtq", str(source), str(tmp_path / "out"))
    assert code == 0
    assert "training.tsv:3: expected 4 tab-separated fields" in output
    assert len(load_examples(tmp_path / "out" / "training.jsonl")) == 2


def test_strict_stops_at_the_first_bad_line(tmp_path: Path) -> None:
    source = write_tiny_wtq(tmp_path / "wtq", [GOOD_LINES[0], "nt-9\tno table here\n"])
    code, output = run("wtq", str(source), str(tmp_path / "out"), "--strict")
    assert code == 1
    assert output.strip().startswith("error:") and "training.tsv:3:" in output
    assert not (tmp_path / "out" / "training.jsonl").exists()
    with pytest.raises(MapoError, match="training.tsv:3"):
        prepare_wtq(source, tmp_path / "out", strict=True)


@pytest.mark.parametrize(
    ("table_bytes", "message"),
    [
        (b'"A","B"\n"1","2"\n"3","4","5"\n', "0.csv:3: ragged table"),
        (b"", "empty table"),
        (b'"A","B"\n', "empty table"),
        (b'"A","B"\n"Per\xff","2"\n', "0.csv:2: not UTF-8"),
    ],
)
def test_broken_tables_are_reported_with_the_question_line(
    tmp_path: Path, table_bytes: bytes, message: str
) -> None:
    source = write_tiny_wtq(tmp_path / "wtq", [GOOD_LINES[1], GOOD_LINES[0]])
    (source / "csv" / "200-csv" / "0.csv").write_bytes(table_bytes)
    code, output = run("wtq", str(source), str(tmp_path / "out"))
    assert code == 0
    assert "training.tsv:3: bad table:" in output and message in output
    examples, tables = load_dataset(tmp_path / "out" / "training.jsonl")
    assert [e["id"] for e in examples] == ["nt-1"] and list(tables) == ["csv/200-csv/1.csv"]
    code, output = run("wtq", str(source), str(tmp_path / "out"), "--strict")
    assert code == 1 and message in output


def test_missing_table_is_reported(tmp_path: Path) -> None:
    line = "nt-5\twhat?\tcsv/200-csv/7.csv\tx\n"
    source = write_tiny_wtq(tmp_path / "wtq", [GOOD_LINES[0], line])
    report = prepare_wtq(source, tmp_path / "out")
    assert [str(p).split("training.tsv")[1] for p in report.problems] == [
        f":3: bad table: {source / 'csv/200-csv/7.csv'}: no such table file"
    ]


def test_non_utf8_question_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_bytes(HEADER.encode() + b"q1\twho won \xe9t\xe9?\tt.csv\tx\nq2\tok\tt.csv\tx\n")
    questions, problems = read_questions(path)
    assert [q.id for q in questions] == ["q2"]
    assert [str(p) for p in problems] == [f"{path}:2: not UTF-8 (byte 0xe9)"]


def test_duplicate_ids_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text("q1\ta\tt.csv\tx\nq1\tb\tt.csv\ty\n", encoding="utf-8")
    questions, problems = read_questions(path)
    assert [q.utterance for q in questions] == ["a"]
    assert "q.tsv:2: duplicate id 'q1'" in str(problems[0])


# ----------------------------------------------------------------- the real dataset


def test_real_wtq_counts(real_training: Path) -> None:
    examples, tables = load_dataset(real_training)
    assert len(examples) == 14152
    assert len({e["table"] for e in examples}) == 1679
    assert len(tables) == 1679


def test_real_wtq_known_examples(real_training: Path) -> None:
    examples = {e["id"]: e for e in load_examples(real_training)}
    peru = examples["nt-10832"]
    assert peru["tokens"][:5] == ["which", "nation", "is", "before", "peru"]
    assert {"type": "string", "value": "peru", "span": [4, 5]} in peru["entities"]
    first = examples["nt-0"]
    assert first["table"] == "csv/204-csv/590.csv" and first["answer"] == ["2004"]
    assert {"type": "string", "value": "usl a - league", "span": [13, 17]} in first["entities"]
    assert examples["nt-9"]["answer"] == ["Siim Ennemuist", "Andri Aganits"]
