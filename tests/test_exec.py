"""`mapo exec`: hand-written programs for real and demo questions, and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import DEMO
from typer.testing import CliRunner

from mapo_cli.analysis.execution import execute
from mapo_cli.data.dataset import load_dataset

runner = CliRunner()

# Real WikiTableQuestions training questions with programs written by hand.
WTQ_CASES = [
    ("nt-10832", '(filter_in all_rows "peru" r.nation-str) (previous v0) (hop v1 r.nation-str)',
     ["Uruguay"]),
    ("nt-13901", "(argmax all_rows r.points-num) (hop v0 r.player-str)",
     ["Karel Hromádka (Czechoslovakia)"]),
    ("nt-457", ('(filter_in all_rows "koraput" r.district-str) (filter_in all_rows "puri" '
      "r.district-str) (diff v0 v1 r.child_population_0_6_years-num)"), ["51130"]),
    ("nt-647", "(filter>= all_rows 2 r.score-num) (count v0)", ["16"]),
    ("nt-1133", ('(filter_in all_rows "tulsa" r.hometown-str) (filter!in v0 "william stuart price" '
      "r.name-str) (hop v1 r.name-str)"), ["Joseph L. Parker Jr."]),
    ("nt-0", ('(filter_in all_rows "usl a - league" r.league-str) (argmax v0 r.year-num) '
      "(hop v1 r.year-num)"), ["2004"]),
    ("nt-3", ('(filter_in all_rows "los angeles" r.city-str) (filter_in all_rows "saskatoon" '
      "r.city-str) (diff v0 v1 r.passengers-num)"), ["12467"]),
    ("nt-4", "(first all_rows) (hop v0 r.opponent-str)", ["Derby County"]),
    ("nt-6", "(first all_rows) (hop v0 r.away_team-str)", ["Varbergs GIF (D3)"]),
    ("nt-9", ('(filter_in all_rows "ardo kreek" r.player-str) (same_as v0 r.position-str) '
      "(hop v1 r.player-str)"), ["Siim Ennemuist", "Andri Aganits"]),
    ("nt-11", ('(filter_in all_rows "asian games" r.competition-str) (first v0) '
      "(hop v1 r.venue-str)"), ["Bangkok, Thailand"]),
    ("nt-15", "(filter= all_rows 1 r.position-num) (hop v0 r.venue-str)", ["New Delhi, India"]),
]


@pytest.mark.parametrize(("example_id", "program", "answer"), WTQ_CASES)
def test_hand_written_programs_answer_real_questions(real_training: Path, example_id: str,
                                                     program: str, answer: list[str]) -> None:
    result = runner.invoke(app(), ["exec", str(real_training), example_id, program, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["answer"] == answer
    assert out["reward"] == 1.0


def app():
    from mapo_cli.main import app

    return app


def test_every_demo_reference_program_earns_its_reward(prepared_demo: Path) -> None:
    examples, tables = load_dataset(prepared_demo / "training.jsonl")
    by_id = {e["id"]: e for e in examples}
    with (DEMO / "programs.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == len(examples)
    for row in rows:
        example = by_id[row["id"]]
        result = execute(example, tables[example["table"]], row["program"])
        assert result.reward == 1.0, (row["id"], row["program"], result.answer, example["answer"])
        unlinked = [note for note in result.notes if "entity linking" in note]
        assert not unlinked, row["id"]  # every literal was found by entity linking


def test_trace_and_unlinked_literals(prepared_demo: Path) -> None:
    data = str(prepared_demo / "training.jsonl")
    program = '(filter_in all_rows "china" r.nation-str) (previous v0) (hop v1 r.nation-str)'
    result = runner.invoke(app(), ["exec", data, "nt-1", program, "--trace"])
    assert result.exit_code == 0, result.output
    assert "v0 = row" in result.stdout and "v2 = cells" in result.stdout
    assert "reward: 1" in result.stdout
    # "egypt" is in the table but not in the question: accepted, with a note
    other = program.replace("china", "egypt")
    result = runner.invoke(app(), ["exec", data, "nt-1", other, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["reward"] == 0.0
    assert out["notes"] == ['literal "egypt" was not found in the question by entity linking']


def test_dead_code_and_pruned_calls_answer_with_a_note(prepared_demo: Path) -> None:
    data = str(prepared_demo / "training.jsonl")
    program = '(count all_rows) (filter_in all_rows "china" r.nation-str) (hop v1 r.nation-str)'
    result = runner.invoke(app(), ["exec", data, "nt-1", program])
    assert result.exit_code == 0, result.output
    assert "answer: China" in result.stdout
    notes = " ".join(result.stderr.split())  # notes go to stderr, wrapped to the terminal
    assert ("note: v0 is never used; the parser would write the live program "
            '(filter_in all_rows "china" r.nation-str) (hop v0 r.nation-str)') in notes
    result = runner.invoke(app(), ["exec", data, "nt-1", "(first all_rows) (first v0) (count v1)"])
    assert result.exit_code == 0, result.output
    notes = " ".join(result.stderr.split())
    assert "first over fewer than two rows is redundant; search never offers this call" in notes


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["nt-0", "(hop all_rows r.nope-str)"], "unknown column", 2),
        (["nt-0", "(hop all_rows"], "expected", 2),
        (["nt-0", '(hop "unterminated)'], "cannot read the program", 2),
        (["nt-unknown", "(count all_rows)"], "unknown example id", 1),
    ],
)
def test_bad_programs_and_ids_are_one_line_errors(prepared_demo: Path, args: list[str],
                                                  message: str, code: int) -> None:
    result = runner.invoke(app(), ["exec", str(prepared_demo / "training.jsonl"), *args])
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    result = runner.invoke(app(), ["exec", str(tmp_path / "none.jsonl"), "nt-0", "(count all_rows)"])
    assert result.exit_code == 1 and "no such file" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\xff\xfe not json\n")
    result = runner.invoke(app(), ["exec", str(bad), "nt-0", "(count all_rows)"])
    assert result.exit_code == 1 and "bad.jsonl:1" in result.output
