"""`mapo prepare wikisql`: the gold sql executed as WikiSQL's engine does, and the release prepared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import TABLE_KEYS, load_dataset, load_examples
from mapo_cli.data.prepare_wikisql import prepare_wikisql
from mapo_cli.data.scoring import answer_matches
from mapo_cli.data.wikisql_sql import check_table, condition_number, execute_sql, number_text
from mapo_cli.main import app

WIKISQL = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "wikisql"
needs_wikisql = pytest.mark.skipif(
    not WIKISQL.is_dir(), reason=f"the WikiSQL sample is not at {WIKISQL}"
)

runner = CliRunner()

# Caps is `real` but holds what the official sqlite db would keep as TEXT ("n/a")
# and a string that it stores as a number ("12").
PLAYERS = {
    "id": "1-100-1",
    "header": ["Player", "Team", "Goals", "Caps"],
    "types": ["text", "text", "real", "real"],
    "rows": [
        ["Ann Lee", "Red Sox", 10, 3],
        ["Bob Ray", "red sox", 12, "n/a"],
        ["Cy Young", "Blue Jays", 12, 5.5],
        ["Di Ott", "Cubs", 7, "12"],
    ],
}
VENUES = {
    "id": "1-200-1",
    "header": ["Year", "Venue"],
    "types": ["real", "text"],
    "rows": [[2001, "Lima"], [2002, "Quito"]],
}


def run_sql(sel: int, agg: int = 0, conds: list[list[Any]] | None = None) -> list[str]:
    return execute_sql(PLAYERS, {"sel": sel, "agg": agg, "conds": conds or []})


def question(table: dict[str, Any], text: str, sel: int, agg: int, conds: list[Any]) -> str:
    sql = {"sel": sel, "agg": agg, "conds": conds}
    return json.dumps({"phase": 1, "table_id": table["id"], "question": text, "sql": sql})


GOOD_TRAIN = [
    question(PLAYERS, "which player plays for the red sox?", 0, 0, [[1, 0, "Red Sox"]]),
    question(PLAYERS, "how many goals did cy young score?", 2, 0, [[0, 0, "Cy Young"]]),
]
GOOD_DEV = [question(VENUES, "where was it held in 2002?", 1, 0, [[0, 0, 2002]])]


def write_release(root: Path, splits: dict[str, list[str]]) -> Path:
    """A WikiSQL-shaped release: `data/<split>.jsonl` with `lines`, and its tables file."""
    (root / "data").mkdir(parents=True)
    tables = {"train": [PLAYERS], "dev": [VENUES], "test": [PLAYERS, VENUES]}
    for split, lines in splits.items():
        (root / "data" / f"{split}.jsonl").write_text("".join(f"{x}\n" for x in lines))
        table_lines = "".join(json.dumps(t) + "\n" for t in tables[split])
        (root / "data" / f"{split}.tables.jsonl").write_text(table_lines)
    return root


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["prepare", "wikisql", *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


# ----------------------------------------------------------------- the official semantics


def test_string_conditions_ignore_case_and_answers_keep_the_tables_text() -> None:
    assert run_sql(0, conds=[[1, 0, "RED SOX"]]) == ["Ann Lee", "Bob Ray"]
    assert run_sql(1, conds=[[0, 0, "cy young"]]) == ["Blue Jays"]
    # < and > on a text column compare the lowercased strings
    assert run_sql(0, conds=[[1, 1, "c"]]) == ["Ann Lee", "Bob Ray", "Di Ott"]


def test_no_matching_row_counts_zero_and_aggregates_nothing() -> None:
    nobody = [[1, 0, "Yankees"]]
    assert run_sql(0, conds=nobody) == []
    assert run_sql(2, agg=3, conds=nobody) == ["0"]
    for agg in (1, 2, 4, 5):  # MAX, MIN, SUM, AVG of no rows: sqlite's NULL, an empty answer
        assert run_sql(2, agg=agg, conds=nobody) == []


def test_max_and_min_give_one_value_even_when_rows_tie() -> None:
    assert run_sql(2, agg=1) == ["12"]  # Bob Ray and Cy Young both scored 12
    assert run_sql(2, agg=2) == ["7"]
    # a text column: "Red Sox" and "red sox" tie once lowercased; the first row's text is kept
    assert run_sql(1, agg=1) == ["Red Sox"]


def test_sum_avg_count_and_number_formatting() -> None:
    assert run_sql(2, agg=4) == ["41"]
    assert run_sql(2, agg=5) == ["10.25"]
    assert run_sql(2, agg=5, conds=[[1, 0, "red sox"]]) == ["11"]  # 11.0 is written "11"
    assert run_sql(3, agg=3) == ["4"]
    assert run_sql(2, conds=[[0, 0, "Ann Lee"]]) == ["10"]
    assert run_sql(3, conds=[[0, 0, "Cy Young"]]) == ["5.5"]
    assert [number_text(x) for x in (3.0, -0.0, 2.5, 1e20)] == ["3", "0", "2.5", "1e+20"]


def test_real_columns_compare_numbers_and_order_text_cells_after_them() -> None:
    # "12" is a number to sqlite; "n/a" stays TEXT: greater than every number, equal to none
    assert run_sql(0, conds=[[3, 1, 4]]) == ["Bob Ray", "Cy Young", "Di Ott"]
    assert run_sql(0, conds=[[3, 2, 100]]) == ["Ann Lee", "Cy Young", "Di Ott"]
    assert run_sql(0, conds=[[3, 0, "12.0"]]) == ["Di Ott"]
    assert run_sql(3, agg=1) == ["n/a"]
    assert run_sql(3, agg=2) == ["3"]
    assert run_sql(3, agg=4) == ["20.5"]  # TEXT adds its leading number, here none: 0
    assert run_sql(3, agg=5) == ["5.125"]
    assert run_sql(3, conds=[[0, 0, "bob ray"]]) == ["n/a"]


def test_condition_values_on_real_columns_are_read_like_dbengine() -> None:
    assert condition_number("1,234.5") == 1234.5
    assert condition_number("2000–01") == 2000.0  # babel fails: the first number in it
    assert condition_number(7) == 7.0
    assert condition_number("none") is None
    with pytest.raises(MapoError, match="'n/a' on real column 3 has no number"):
        run_sql(0, conds=[[3, 0, "n/a"]])


def test_each_condition_keeps_its_own_value() -> None:
    # dbengine.py would bind the last value (12) to both conditions on column 2
    assert run_sql(0, conds=[[2, 1, 7], [2, 2, 12]]) == ["Ann Lee"]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ({"sel": 0, "conds": []}, "expected an object with 'sel', 'agg' and 'conds'"),
        ({"sel": 4, "agg": 0, "conds": []}, "'sel' is 4, expected a column 0 to 3"),
        ({"sel": 0, "agg": 6, "conds": []}, "'agg' is 6"),
        ({"sel": 0, "agg": 0, "conds": [[9, 0, "x"]]}, "condition 0's column is 9"),
        ({"sel": 0, "agg": 0, "conds": [[1, 3, "x"]]}, "condition 0's op is 3"),
        ({"sel": 0, "agg": 0, "conds": [[1, 0]]}, "must be \\[column, op, value\\]"),
        ({"sel": 0, "agg": 0, "conds": [[1, 0, None]]}, "value must be a string or a number"),
        ({"sel": True, "agg": 0, "conds": []}, "'sel' is True"),
    ],
)
def test_malformed_sql_is_a_clear_error(sql: dict[str, Any], message: str) -> None:
    with pytest.raises(MapoError, match=message):
        execute_sql(PLAYERS, sql)


def test_tables_are_checked() -> None:
    check_table(PLAYERS)
    with pytest.raises(MapoError, match="'text' or 'real'"):
        check_table({**PLAYERS, "types": ["text", "text", "real", "date"]})
    with pytest.raises(MapoError, match="row 0 has 1 cells, the header has 4"):
        check_table({**PLAYERS, "rows": [["Ann"]]})


# ----------------------------------------------------------------- the shared sample


@needs_wikisql
def test_gold_sql_reproduces_the_shared_results() -> None:
    """Every one of the 1,000 questions: our answer is `result`, exactly, once lowercased.

    Exact strings rather than `answer_matches`: the scorer forgives order,
    duplicates and number spelling, and this checks the engine, not the scorer.
    Lowercased because the official db stores text cells lowercased and we
    answer with the table's own text; numbers are written by `number_text`.
    """
    checked = 0
    for split in ("train", "dev"):
        tables = {}
        for line in (WIKISQL / "data" / f"{split}.tables.jsonl").open(encoding="utf-8"):
            table = json.loads(line)
            tables[table["id"]] = table
        for line in (WIKISQL / "data" / f"{split}.jsonl").open(encoding="utf-8"):
            record = json.loads(line)
            ours = execute_sql(tables[record["table_id"]], record["sql"])
            expected = [v if isinstance(v, str) else number_text(v) for v in record["result"]]
            assert [a.lower() for a in ours] == expected, record
            checked += 1
    assert checked == 1000


@pytest.fixture(scope="module")
def prepared_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    if not WIKISQL.is_dir():
        pytest.skip(f"the WikiSQL sample is not at {WIKISQL}")
    out = tmp_path_factory.mktemp("wikisql") / "out"
    return out, prepare_wikisql(WIKISQL, out)


def test_the_shared_sample_prepares_without_problems(prepared_sample: tuple[Path, Any]) -> None:
    out, report = prepared_sample
    assert report.examples == {"train.jsonl": 772, "dev.jsonl": 228}
    assert report.tables == 250 and report.problems == []
    for name in ("train.jsonl", "dev.jsonl"):
        assert report.figures["condition_values"][name]["share"] > 0.95
    examples, _tables = load_dataset(out / "train.jsonl")
    first = examples[0]
    assert first["id"] == "train-0" and first["grammar"] == "wikisql"
    assert first["answer"] == ["No slogan on current series"]
    assert first["sql"] == {"sel": 5, "agg": 0, "conds": [[3, 0, "SOUTH AUSTRALIA"]]}
    assert {"type": "string", "value": "south australia", "span": [7, 9]} in first["entities"]
    results = [json.loads(line)["result"] for line in (WIKISQL / "data" / "train.jsonl").open()]
    assert all(answer_matches(e["answer"], [str(v) for v in r]) for e, r in zip(examples, results))


# ----------------------------------------------------------------- preparing a release


def test_prepare_writes_examples_tables_and_figures(tmp_path: Path) -> None:
    source = write_release(tmp_path / "wikisql", {"train": GOOD_TRAIN, "dev": GOOD_DEV})
    report = prepare_wikisql(source, tmp_path / "out")
    assert report.examples == {"train.jsonl": 2, "dev.jsonl": 1} and report.tables == 2
    examples, tables = load_dataset(tmp_path / "out" / "train.jsonl")
    assert [e["answer"] for e in examples] == [["Ann Lee", "Bob Ray"], ["12"]]
    assert examples[1]["sql"] == {"sel": 2, "agg": 0, "conds": [[0, 0, "Cy Young"]]}
    players = tables["1-100-1"]
    assert set(players) == {*TABLE_KEYS, "types"}  # WikiSQL keeps its column types
    assert players["rows"][2] == ["Cy Young", "Blue Jays", "12", "5.5"]
    # real columns get the number view the engine compares on: "n/a" has none
    assert players["numbers"][2:] == [[10.0, 12.0, 12.0, 7.0], [3.0, None, 5.5, 12.0]]
    (dev,) = load_examples(tmp_path / "out" / "dev.jsonl")
    assert dev["id"] == "dev-0" and dev["answer"] == ["Quito"]
    assert {"type": "number", "value": 2002.0, "span": [5, 6]} in dev["entities"]
    assert report.figures["condition_values"] == {
        "train.jsonl": {"values": 2, "entities": 2, "share": 1.0},
        "dev.jsonl": {"values": 1, "entities": 1, "share": 1.0},
    }


def test_only_the_splits_present_or_asked_for(tmp_path: Path) -> None:
    source = write_release(tmp_path / "wikisql", {"dev": GOOD_DEV})
    report = prepare_wikisql(source, tmp_path / "out")
    assert report.examples == {"dev.jsonl": 1}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dev.jsonl", "tables.jsonl"]
    with pytest.raises(MapoError, match="train.jsonl: no such file \\(split 'train' was asked"):
        prepare_wikisql(source, tmp_path / "out", splits=["train"])
    with pytest.raises(MapoError, match="unknown split 'validation'"):
        prepare_wikisql(source, tmp_path / "out", splits=["validation"])
    both = write_release(tmp_path / "both", {"train": GOOD_TRAIN, "dev": GOOD_DEV})
    report = prepare_wikisql(both, tmp_path / "out2", splits=["train"])
    assert report.examples == {"train.jsonl": 2} and report.tables == 1


@needs_wikisql
def test_a_release_whose_data_folder_is_a_link(tmp_path: Path) -> None:
    (tmp_path / "data").symlink_to(WIKISQL / "data")
    report = prepare_wikisql(tmp_path, tmp_path / "out", splits=["dev"])
    assert report.examples == {"dev.jsonl": 228} and report.tables == 56


def test_a_split_file_linked_out_of_the_release_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    for name in ("dev.jsonl", "dev.tables.jsonl"):
        (tmp_path / "data" / name).symlink_to(WIKISQL / "data" / name)
    with pytest.raises(MapoError, match=r"data/dev.jsonl leads outside"):
        prepare_wikisql(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_split_without_its_tables_is_an_error(tmp_path: Path) -> None:
    source = write_release(tmp_path / "wikisql", {"dev": GOOD_DEV})
    (source / "data" / "dev.tables.jsonl").unlink()
    with pytest.raises(MapoError, match="dev.tables.jsonl: no such file"):
        prepare_wikisql(source, tmp_path / "out")


# ----------------------------------------------------------------- bad input

BAD_TRAIN = [
    GOOD_TRAIN[0],
    question({"id": "9-9-9"}, "what about a missing table?", 0, 0, []),
    json.dumps({"table_id": PLAYERS["id"], "question": "no agg?", "sql": {"sel": 0, "conds": []}}),
    question(PLAYERS, "which column is this?", 7, 0, []),
    '{"table_id": "1-100-1", "question": "cut off',
    GOOD_TRAIN[1],
]


def test_bad_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    source = write_release(tmp_path / "wikisql", {"train": BAD_TRAIN})
    report = prepare_wikisql(source, tmp_path / "out")
    train = source / "data" / "train.jsonl"
    assert [str(p) for p in report.problems[:3]] == [
        f"{train}:2: no table '9-9-9' in train.tables.jsonl",
        f"{train}:3: sql: expected an object with 'sel', 'agg' and 'conds'",
        f"{train}:4: sql: 'sel' is 7, expected a column 0 to 3 (the table has 4 columns)",
    ]
    assert str(report.problems[3]).startswith(f"{train}:5: not a JSON question (Unterminated")
    assert len(report.problems) == 4
    examples = load_examples(tmp_path / "out" / "train.jsonl")
    assert [e["id"] for e in examples] == ["train-0", "train-5"]


def test_strict_stops_at_the_first_bad_line(tmp_path: Path) -> None:
    source = write_release(tmp_path / "wikisql", {"train": BAD_TRAIN})
    with pytest.raises(MapoError, match="train.jsonl:5: not a JSON question"):
        prepare_wikisql(source, tmp_path / "out", strict=True)
    assert not (tmp_path / "out").exists()
    source = write_release(tmp_path / "other", {"train": BAD_TRAIN[:2]})
    with pytest.raises(MapoError, match="train.jsonl:2: no table '9-9-9'"):
        prepare_wikisql(source, tmp_path / "out", strict=True)


def test_a_broken_table_is_reported_for_each_of_its_questions(tmp_path: Path) -> None:
    source = write_release(tmp_path / "wikisql", {"train": GOOD_TRAIN})
    ragged = {**PLAYERS, "rows": [["Ann Lee", "Red Sox", 10]]}
    (source / "data" / "train.tables.jsonl").write_text("not json\n" + json.dumps(ragged) + "\n")
    report = prepare_wikisql(source, tmp_path / "out")
    tables = source / "data" / "train.tables.jsonl"
    assert [str(p).split("train.jsonl")[1] for p in report.problems[:2]] == [
        f":{n}: bad table: {tables}:2: row 0 has 3 cells, the header has 4" for n in (1, 2)
    ]
    assert str(report.problems[2]).startswith(f"{tables}:1: not a JSON table")
    assert report.examples == {"train.jsonl": 0} and report.tables == 0


# ----------------------------------------------------------------- the command


def test_cli_json_summary_and_exit_codes(tmp_path: Path) -> None:
    source = write_release(tmp_path / "wikisql", {"train": GOOD_TRAIN, "dev": GOOD_DEV})
    code, output = run(str(source), str(tmp_path / "out"), "--json")
    assert code == 0
    summary = json.loads(output)
    assert summary["examples"] == {"train.jsonl": 2, "dev.jsonl": 1}
    assert summary["grammar"] == "wikisql" and summary["problems"] == []
    assert summary["figures"]["condition_values"]["dev.jsonl"]["share"] == 1.0
    code, output = run(str(source), str(tmp_path / "out"), "--split", "dev", "--json")
    assert code == 0 and json.loads(output)["examples"] == {"dev.jsonl": 1}
    code, output = run(str(source), str(tmp_path / "out"), "--split", "train,dev")
    assert code == 0 and "train.jsonl: 2 examples" in output
    assert "gold condition values that are entities: dev.jsonl 100.0% (1 of 1)" in output
    code, output = run(str(tmp_path / "nowhere"), str(tmp_path / "out"))
    assert code == 1 and output.strip().startswith("error:") and "no such directory" in output
    code, output = run(str(source), str(tmp_path / "out"), "--split", "test")
    assert code == 1 and "split 'test' was asked for" in output


def test_cli_bad_lines_warn_and_strict_fails(tmp_path: Path) -> None:
    source = write_release(tmp_path / "wikisql", {"train": BAD_TRAIN})
    code, output = run(str(source), str(tmp_path / "out"))
    assert code == 0 and "skipped 4 bad lines" in output and "train.jsonl:4: sql:" in output
    code, output = run(str(source), str(tmp_path / "out2"), "--strict")
    assert code == 1 and "train.jsonl:5: not a JSON question" in output
