"""Paths and ids that come from data: a table path stays inside its release, one id is one
example, and a program's date literal is a date that can exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_prepare import GOOD_LINES, HEADER, write_tiny_wtq
from typer.testing import CliRunner

from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import load_examples
from mapo_cli.main import app

runner = CliRunner()

FOREIGN = '"Secret","Value"\n"password","hunter2"\n'
"""A table somewhere else on the machine, which no prepared data may copy."""


def foreign_file(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "secret.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FOREIGN, encoding="utf-8")
    return path


def refused(args: list[str], out: Path, *names: str, code: int = 1) -> str:
    """Run `mapo ARGS`; it must fail with one `error:` line naming every one of `names`,
    and OUT must hold nothing of the foreign table."""
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert not (out / "tables.jsonl").exists() or "hunter2" not in (out / "tables.jsonl").read_text()
    return lines[0]


def question_line(example_id: str, context: str) -> str:
    return f"{example_id}\twhat is the secret?\t{context}\thunter2\n"


# ----------------------------------------------------------------- table paths in question files


def test_a_table_path_outside_the_release_is_refused(tmp_path: Path) -> None:
    foreign_file(tmp_path)
    bad = "csv/../../elsewhere/secret.csv"
    source = write_tiny_wtq(tmp_path / "wtq", [GOOD_LINES[0], question_line("nt-9", bad)])
    out = tmp_path / "out"
    refused(["prepare", "wtq", str(source), str(out)], out, bad, "training.tsv:3", "nt-9")
    assert not out.exists()  # refused before anything is written


def test_an_absolute_table_path_is_refused(tmp_path: Path) -> None:
    secret = foreign_file(tmp_path)
    source = write_tiny_wtq(tmp_path / "wtq", [question_line("nt-9", str(secret)), GOOD_LINES[0]])
    out = tmp_path / "out"
    refused(["prepare", "wtq", str(source), str(out), "--strict"], out, str(secret),
            "training.tsv:2")


def test_an_absolute_csv_table_path_is_refused(tmp_path: Path) -> None:
    secret = foreign_file(tmp_path)
    tables = tmp_path / "mine"
    tables.mkdir()
    (tables / "t.csv").write_text("Name,Gold\nPeru,3\n", encoding="utf-8")
    questions = tables / "q.tsv"
    questions.write_text(HEADER + "q1\twho won?\tt.csv\tPeru\n" + question_line("q2", str(secret)),
                         encoding="utf-8")
    out = tmp_path / "out"
    refused(["prepare", "csv", str(questions), str(out)], out, str(secret), "q.tsv:3", "q2")


def test_a_csv_table_path_outside_the_tables_directory_is_refused(tmp_path: Path) -> None:
    foreign_file(tmp_path)
    tables = tmp_path / "mine" / "tables"
    tables.mkdir(parents=True)
    questions = tmp_path / "mine" / "q.tsv"
    questions.write_text(HEADER + question_line("q1", "../../elsewhere/secret.csv"),
                         encoding="utf-8")
    out = tmp_path / "out"
    refused(["prepare", "csv", str(questions), str(out), "--tables", str(tables)], out,
            "../../elsewhere/secret.csv", "q.tsv:2")


# ----------------------------------------------------------------- symlinks in a release


def test_a_symlink_out_of_the_csv_directory_is_refused(tmp_path: Path) -> None:
    secret = foreign_file(tmp_path)
    source = write_tiny_wtq(tmp_path / "wtq", [question_line("nt-9", "csv/200-csv/9.csv")])
    (source / "csv" / "200-csv" / "9.csv").symlink_to(secret)
    out = tmp_path / "out"
    refused(["prepare", "wtq", str(source), str(out)], out, "csv/200-csv/9.csv", "nt-9")


def test_a_symlink_out_of_a_csv_tables_directory_is_refused(tmp_path: Path) -> None:
    secret = foreign_file(tmp_path)
    tables = tmp_path / "mine"
    tables.mkdir()
    (tables / "t.csv").symlink_to(secret)
    questions = tables / "q.tsv"
    questions.write_text(HEADER + question_line("q1", "t.csv"), encoding="utf-8")
    out = tmp_path / "out"
    refused(["prepare", "csv", str(questions), str(out)], out, "t.csv", "q.tsv:2")


def test_a_tagged_copy_symlinked_out_of_the_release_is_refused(tmp_path: Path) -> None:
    secret = foreign_file(tmp_path)
    source = write_tiny_wtq(tmp_path / "wtq", GOOD_LINES)
    (source / "tagged" / "200-tagged").mkdir(parents=True)
    (source / "tagged" / "200-tagged" / "0.tagged").symlink_to(secret)
    out = tmp_path / "out"
    refused(["prepare", "wtq", str(source), str(out)], out, "tagged/200-tagged/0.tagged")


def test_a_symlink_inside_the_release_is_followed(tmp_path: Path) -> None:
    line = "nt-9\twhich nation is before peru?\tcsv/200-csv/2.csv\tBrazil\n"
    source = write_tiny_wtq(tmp_path / "wtq", [*GOOD_LINES, line])
    (source / "csv" / "200-csv" / "2.csv").symlink_to("0.csv")
    (source / "csv" / "201-csv").symlink_to("200-csv", target_is_directory=True)
    (source / "data" / "again.tsv").symlink_to("training.tsv")
    (source / "data" / "more.tsv").write_text(
        HEADER + line.replace("nt-9", "nt-10").replace("200-csv/2", "201-csv/1"), encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["prepare", "wtq", str(source), str(out), "--strict"])
    assert result.exit_code == 0, result.output
    assert [e["table"] for e in load_examples(out / "training.jsonl")][-1] == "csv/200-csv/2.csv"
    assert len(load_examples(out / "again.jsonl")) == 4
    assert [e["table"] for e in load_examples(out / "more.jsonl")] == ["csv/201-csv/1.csv"]


def test_a_release_assembled_from_another_releases_folders_is_prepared(tmp_path: Path) -> None:
    """A release's top folders may be links (tests/conftest.py links csv/ and tagged/)."""
    whole = write_tiny_wtq(tmp_path / "whole", GOOD_LINES)
    part = tmp_path / "part"
    part.mkdir()
    (part / "data").symlink_to(whole / "data", target_is_directory=True)
    (part / "csv").symlink_to(whole / "csv", target_is_directory=True)
    out = tmp_path / "out"
    result = runner.invoke(app, ["prepare", "wtq", str(part), str(out), "--strict"])
    assert result.exit_code == 0, result.output
    assert len(load_examples(out / "training.jsonl")) == 3


# ----------------------------------------------------------------- one id, one example


def test_a_duplicate_question_id_is_refused(tmp_path: Path) -> None:
    lines = [GOOD_LINES[0], GOOD_LINES[1], GOOD_LINES[2].replace("nt-2", "nt-0")]
    source = write_tiny_wtq(tmp_path / "wtq", lines)
    out = tmp_path / "out"
    message = refused(["prepare", "wtq", str(source), str(out)], out, "training.tsv:4", "'nt-0'",
                      "line 2")
    assert "duplicate" in message
    assert not out.exists()


def test_the_same_id_in_two_question_files_is_fine(tmp_path: Path) -> None:
    """A WTQ release repeats its examples across files (training.tsv, random-split-1-train.tsv)."""
    source = write_tiny_wtq(tmp_path / "wtq", GOOD_LINES)
    (source / "data" / "split-train.tsv").write_text(HEADER + GOOD_LINES[0], encoding="utf-8")
    result = runner.invoke(app, ["prepare", "wtq", str(source), str(tmp_path / "out"), "--strict"])
    assert result.exit_code == 0, result.output


def test_a_duplicate_id_in_prepared_data_is_refused(tmp_path: Path) -> None:
    source = write_tiny_wtq(tmp_path / "wtq", GOOD_LINES)
    out = tmp_path / "out"
    assert runner.invoke(app, ["prepare", "wtq", str(source), str(out)]).exit_code == 0
    data = out / "training.jsonl"
    records = data.read_text(encoding="utf-8").splitlines()
    second = json.loads(records[1])
    second["id"] = "nt-0"
    data.write_text("\n".join([records[0], json.dumps(second), records[2]]) + "\n")
    with pytest.raises(MapoError, match=r"training\.jsonl:2: .*duplicate id 'nt-0' \(first on line 1\)"):
        load_examples(data)
    message = refused(["exec", str(data), "nt-0", "(count all_rows)"], out, "training.jsonl",
                      "'nt-0'")
    assert "duplicate" in message


# ----------------------------------------------------------------- date literals


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared data whose `Year` column has a date view (r.year-date)."""
    root = tmp_path_factory.mktemp("dates")
    source = write_tiny_wtq(root / "wtq", GOOD_LINES)
    result = runner.invoke(app, ["prepare", "wtq", str(source), str(root / "out")])
    assert result.exit_code == 0, result.output
    return root / "out" / "training.jsonl"


@pytest.mark.parametrize(
    ("date", "why"),
    [("2005-13-45", "month 13"), ("2005-00-10", "month 0"), ("2005-02-29", "day 29"),
     ("xxxx-04-31", "day 31"), ("2005-xx-32", "day 32"), ("2005-06-00", "day 0"),
     ("12345-01-01", "year 12345")],
)
def test_exec_refuses_an_impossible_date(tiny_data: Path, date: str, why: str) -> None:
    program = f"(filter> all_rows {date} r.year-date) (count v0)"
    message = refused(["exec", str(tiny_data), "nt-1", program], tiny_data.parent, date, why,
                      code=2)
    assert "date" in message


@pytest.mark.parametrize(
    ("date", "count"),
    [("2001-xx-xx", "1"), ("2004-02-29", "0"), ("xxxx-02-29", "0"), ("2000-12-31", "2")],
)
def test_exec_accepts_a_possible_date_with_unknown_parts(tiny_data: Path, date: str,
                                                         count: str) -> None:
    program = f"(filter> all_rows {date} r.year-date) (count v0)"
    result = runner.invoke(app, ["exec", str(tiny_data), "nt-1", program])
    assert result.exit_code == 0, result.output
    assert f"answer: {count}" in result.stdout


def test_a_question_file_linked_out_of_the_release_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.tsv").write_text(HEADER + question_line("secret-q1", "csv/200-csv/0.csv")
                                          + "\n")
    source = write_tiny_wtq(tmp_path / "wtq", [GOOD_LINES[0]])
    (source / "data" / "extra.tsv").symlink_to(elsewhere / "secret.tsv")
    out = tmp_path / "out"
    refused(["prepare", "wtq", str(source), str(out)], out, "data/extra.tsv leads outside")
    assert not out.exists()
