"""`mapo inspect spurious` with WikiSQL's gold sql: is the likely-correct class the gold query?"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mapo_cli.analysis.spurious import analyse_example, run_gold_sql, sql_types
from mapo_cli.analysis.spurious_report import SpuriousReport, analyse_store
from mapo_cli.data.dataset import load_dataset, write_jsonl
from mapo_cli.data.prepare_wikisql import load_table_at, prepare_wikisql
from mapo_cli.data.wikisql_sql import execute_sql
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import load_grammar
from mapo_cli.language.program import split_program, to_ids
from mapo_cli.main import app

WIKISQL = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "wikisql"
GOLD_KEYS = {"gold_sql", "gold_sql_unchecked", "gold_in_likely_correct",
             "gold_in_likely_correct_share", "gold_in_memory", "gold_in_memory_share"}
# train-0, "Tell me what the notes are for South Australia": the gold sql is
# SELECT Notes WHERE Current slogan = 'SOUTH AUSTRALIA', i.e. this program.
GOLD_PROGRAM = '(filter_in all_rows "south australia" r.current_slogan-str) (hop v0 r.notes-str)'
runner = CliRunner()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 40 training questions of the WikiSQL sample, prepared with the tables they use."""
    if not WIKISQL.is_dir():
        pytest.skip(f"the WikiSQL sample is not at {WIKISQL}")
    tmp = tmp_path_factory.mktemp("wikisql")
    prepare_wikisql(WIKISQL, tmp / "all", splits=["train"])
    examples, tables = load_dataset(tmp / "all" / "train.jsonl")
    subset = examples[:40]
    (tmp / "sample").mkdir()
    write_jsonl(tmp / "sample" / "train.jsonl", subset)
    used = sorted({example["table"] for example in subset})
    write_jsonl(tmp / "sample" / "tables.jsonl", [tables[table_id] for table_id in used])
    return tmp / "sample" / "train.jsonl"


@pytest.fixture(scope="module")
def store(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample explored in its own grammar (as `mapo explore` does), 3 expressions to be quick."""
    from mapo_cli.search.driver import explore_data
    from mapo_cli.search.explore import ExploreSettings

    path = tmp_path_factory.mktemp("wikisql-store") / "store"
    explore_data(sample, path, ExploreSettings(grammar="wikisql", max_expressions=3),
                 workers=1, samples_per_example=300)
    return path


def test_the_shares_of_gold_equivalent_examples_are_reported(store: Path) -> None:
    report = analyse_store(store)
    summary = report.summary()
    assert GOLD_KEYS <= summary.keys()
    assert summary["gold_sql"] == summary["analysed"] > 0 and summary["gold_sql_unchecked"] == 0
    in_class, in_memory = summary["gold_in_likely_correct_share"], summary["gold_in_memory_share"]
    assert 0 <= in_class <= in_memory <= 1
    assert summary["gold_in_memory"] == sum(a.gold_in_memory for a in report.analysed)


def test_the_gold_query_in_memory_makes_its_example_count(store: Path) -> None:
    analysis = next(a for a in analyse_store(store).analysed if a.id == "train-0")
    assert GOLD_PROGRAM in analysis.programs
    assert analysis.gold_equivalent[analysis.programs.index(GOLD_PROGRAM)]
    assert analysis.gold_in_memory and analysis.gold_in_likely_correct


def test_a_program_right_only_on_its_own_table_is_not_gold_equivalent(sample: Path) -> None:
    """Notes of the row with the smallest current series: South Australia's, but only here."""
    examples, tables = load_dataset(sample)
    question = examples[0]
    table = tables[question["table"]]
    grammar = load_grammar("wikisql")
    ctx = ProgramContext(question, table, grammar)
    lucky = ("(min all_rows r.current_series-num) (filter= all_rows v0 r.current_series-num) "
             '(filter_in v1 "south australia" r.state_territory-str) (hop v2 r.notes-str)')
    wrong = '(filter_in all_rows "south australia" r.state_territory-str) (hop v0 r.format-str)'
    programs = [tuple(to_ids(split_program(p), ctx)) for p in (GOLD_PROGRAM, lucky, wrong)]
    analysis = analyse_example(question, table, programs, grammar)
    assert analysis.gold_equivalent == [True, False, False]
    assert analysis.gold_in_likely_correct and analysis.spurious == [1, 2]
    assert [p["gold_equivalent"] for p in analysis.to_json()["programs"]] == [True, False, False]

    without_sql = analyse_example({k: v for k, v in question.items() if k != "sql"}, table,
                                  programs, grammar)
    assert without_sql.gold_equivalent is None
    assert "gold_in_memory" not in without_sql.to_json()
    assert not GOLD_KEYS & SpuriousReport(1, [without_sql], 10, 0).summary().keys()


def test_prepared_tables_keep_the_column_types_the_gold_sql_needs(tmp_path: Path) -> None:
    """`>` on a text column of numbers compares text: the types must survive preparation."""
    raw = {"id": "1-1-1", "header": ["Player", "No.", "Goals"], "types": ["text", "text", "real"],
           "rows": [["Ann", "9", 10], ["Bob", "10", 12.5], ["Cy", "11", 7]]}
    path = tmp_path / "train.tables.jsonl"
    path.write_text(json.dumps(raw) + "\n")
    table = load_table_at(f"{path}#0")
    assert table["types"] == raw["types"]
    count_over_5 = {"sel": 0, "agg": 3, "conds": [[1, 1, "5"]]}
    answer = execute_sql(raw, count_over_5)
    assert answer == ["1"]  # only "9" is after "5" as text; as numbers all three would be
    assert sql_types({"sql": count_over_5, "answer": answer}, table) == raw["types"]
    assert run_gold_sql(table, ["text", "real", "real"], count_over_5) == ["3"]
    assert sql_types({"sql": count_over_5, "answer": ["3"]}, table) is None  # does not reproduce
    assert sql_types({"sql": count_over_5, "answer": answer},
                     {k: v for k, v in table.items() if k != "types"}) is None


def test_inspect_spurious_shows_and_exports_the_gold_shares(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "spurious.jsonl"
    result = runner.invoke(app, ["inspect", "spurious", str(store), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert GOLD_KEYS <= summary.keys()
    assert 0 <= summary["gold_in_likely_correct_share"] <= summary["gold_in_memory_share"] <= 1
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(r["gold_in_likely_correct"] for r in records) == summary["gold_in_likely_correct"]
    assert all("gold_equivalent" in p for r in records for p in r["programs"])
    shown = runner.invoke(app, ["inspect", "spurious", str(store)])
    assert shown.exit_code == 0, shown.output
    assert "gold sql in a likely-correct class" in shown.stdout
    assert "gold sql among the reward-1 programs" in shown.stdout


def test_inspect_decoded_tells_right_answers_from_right_programs(sample: Path,
                                                                 tmp_path: Path) -> None:
    """Decoded top programs (`mapo decode --programs`): the gold query, a lucky one, none."""
    lucky = ("(min all_rows r.current_series-num) (filter= all_rows v0 r.current_series-num) "
             '(filter_in v1 "south australia" r.state_territory-str) (hop v2 r.notes-str)')
    beams = tmp_path / "beams.jsonl"
    write_jsonl(beams, [
        {"id": "train-0", "correct": True, "programs": [{"program": GOLD_PROGRAM}]},
        {"id": "train-0", "correct": True, "programs": [{"program": lucky}]},
        {"id": "train-1", "correct": False, "programs": []},
    ])
    result = runner.invoke(app, ["inspect", "decoded", str(beams), str(sample), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["decoded"], summary["gold_sql_checked"]) == (3, 3)
    assert (summary["correct"], summary["gold_equivalent"]) == (2, 1)
    assert summary["right_by_accident"] == ["train-0"]
    shown = runner.invoke(app, ["inspect", "decoded", str(beams), str(sample)])
    assert shown.exit_code == 0 and "top program gold-equivalent" in shown.stdout


def test_inspect_decoded_needs_data_with_gold_sql(sample: Path, tmp_path: Path) -> None:
    examples, _ = load_dataset(sample)
    plain = tmp_path / "plain" / "train.jsonl"
    plain.parent.mkdir()
    write_jsonl(plain, [{k: v for k, v in e.items() if k != "sql"} for e in examples])
    (plain.parent / "tables.jsonl").write_text((sample.parent / "tables.jsonl").read_text())
    beams = tmp_path / "beams.jsonl"
    write_jsonl(beams, [{"id": "train-0", "correct": True, "programs": []}])
    result = runner.invoke(app, ["inspect", "decoded", str(beams), str(plain)])
    assert result.exit_code == 1 and "no example carries a gold sql" in result.output
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "train-0"}\n')
    result = runner.invoke(app, ["inspect", "decoded", str(broken), str(sample)])
    assert result.exit_code == 1 and "broken.jsonl:1" in result.output
