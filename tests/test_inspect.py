"""`mapo inspect store | spurious | run`: what users see of stores and runs, and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tables import example, medals_table
from test_decode import one_line_error, train_tiny_run
from typer.testing import CliRunner

from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import load_grammar
from mapo_cli.language.program import split_program, to_ids
from mapo_cli.main import app

ROOT = Path(__file__).resolve().parents[1]
STORE_KEYS = {"examples", "covered", "coverage", "programs", "memory_programs", "exhausted",
              "bits_per_prefix", "fingerprint", "programs_per_example", "reward_1_per_example",
              "program_lengths", "program_tokens", "function_usage", "exhausted_ids",
              "uncovered_ids", "grammar_note"}
EXAMPLE_KEYS = {"id", "question", "answer", "entities", "table", "status", "programs", "run",
                "preferred", "buffer_probability"}
SPURIOUS_KEYS = {"examples", "analysed", "single_program", "one_class", "several_classes",
                 "ambiguous", "programs", "spurious_programs", "spurious_share", "tables", "seed",
                 "run", "preferred_decided", "preferred_likely_correct",
                 "preferred_likely_correct_share"}
RECORD_KEYS = {"id", "question", "answer", "n_programs", "n_classes", "ambiguous",
               "spurious_programs", "preferred", "preferred_likely_correct", "programs", "classes"}
runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path,
         demo_store: Path) -> list[Path]:
    """Two tiny runs that differ in their objective (for comparisons)."""
    tmp = tmp_path_factory.mktemp("inspect-runs")
    return [train_tiny_run(tmp, prepared_demo, demo_store, "mapo"),
            train_tiny_run(tmp, prepared_demo, demo_store, "mml", "--objective", "mml")]


def invoke_json(*args: str) -> dict:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def covered_id(store: Path, at_least: int = 2) -> str:
    from mapo_cli.store.store import Store

    with Store.open_readonly(store) as opened, opened.reader() as reader:
        return next(i for i in reader.ids()
                    if sum(r >= 1 for _, r in reader.read_memory(i)) >= at_least)


# ---------------------------------------------------------------- inspect store


def test_inspect_store_reports_distributions(demo_store: Path) -> None:
    report = invoke_json("inspect", "store", str(demo_store), "--json")
    assert STORE_KEYS <= report.keys()
    assert sum(b["examples"] for b in report["programs_per_example"]) == report["examples"]
    assert sum(r["programs"] for r in report["program_lengths"]) == report["memory_programs"]
    assert {r["expressions"] for r in report["program_lengths"]} <= {1, 2, 3}
    assert "hop" in report["function_usage"] and report["grammar_note"] is None
    usage = report["function_usage"]["hop"]
    assert 0 < usage["programs"] <= usage["calls"]
    assert len(report["exhausted_ids"]) == min(report["exhausted"], 10)
    shown = runner.invoke(app, ["inspect", "store", str(demo_store)])
    assert shown.exit_code == 0, shown.output
    for text in ("coverage", "programs per example", "program lengths", "function usage"):
        assert text in shown.stdout


def test_inspect_store_example_with_the_models_view(demo_store: Path, runs: list[Path]) -> None:
    example_id = covered_id(demo_store)
    plain = invoke_json("inspect", "store", str(demo_store), "--example", example_id, "--json")
    assert EXAMPLE_KEYS <= plain.keys() and plain["run"] is None
    assert plain["programs"] and all(p["reward"] > 0 for p in plain["programs"])
    assert all(p["program"].startswith("(") for p in plain["programs"])
    scored = invoke_json("inspect", "store", str(demo_store), "--example", example_id,
                         "--run", str(runs[0]), "--json", "--rows", "2")
    assert len(scored["table"]["rows"]) == min(2, scored["table"]["n_rows"])
    probabilities = [p["probability"] for p in scored["programs"]]
    assert scored["preferred"] == probabilities.index(max(probabilities))
    assert sum(p["share"] for p in scored["programs"]) == pytest.approx(1.0)
    assert sum(probabilities) == pytest.approx(scored["buffer_probability"])
    assert scored["buffer_probability"] <= 1.0
    shown = runner.invoke(app, ["inspect", "store", str(demo_store), "--example", example_id,
                                "--run", str(runs[0])])
    assert shown.exit_code == 0, shown.output
    assert plain["question"][:20] in shown.stdout and "★" in shown.stdout


def test_inspect_store_reads_a_store_that_another_process_writes(
        tmp_path: Path, prepared_demo: Path) -> None:
    data = tmp_path / "data" / "train.jsonl"
    data.parent.mkdir()
    (data.parent / "tables.jsonl").write_text((prepared_demo / "tables.jsonl").read_text())
    # all of it: the writer must outlast three reads on a busy machine (it is killed after them)
    data.write_text((prepared_demo / "random-split-1-train.jsonl").read_text())
    store = tmp_path / "store"
    writer = subprocess.Popen(
        [sys.executable, "-m", "mapo_cli.main", "explore", str(data), "--store", str(store),
         "--workers", "1", "--samples-per-example", "5000", "--chunk", "100"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (store / "data.mdb").is_file():
            time.sleep(0.2)
        seen, programs = 0, []
        while time.time() < deadline and seen < 3:
            result = runner.invoke(app, ["inspect", "store", str(store), "--json"])
            if result.exit_code != 0 and "not a store" in result.output:
                time.sleep(0.2)  # the writer has not created its sub-databases yet
                continue
            assert result.exit_code == 0, result.output
            report = json.loads(result.stdout)
            programs.append(report["programs"])
            seen += report["programs"] > 0
            time.sleep(0.3)
        assert writer.poll() is None, "the explorer finished before inspect could watch it"
        assert seen >= 3 and programs == sorted(programs)
        spurious = runner.invoke(app, ["inspect", "spurious", str(store), "--json"])
        assert spurious.exit_code == 0, spurious.output
    finally:
        if writer.poll() is None:
            os.killpg(writer.pid, signal.SIGKILL)
        writer.wait()


def test_inspect_store_bad_input_is_a_clear_error(demo_store: Path, tmp_path: Path,
                                                  runs: list[Path]) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("not a store")
    assert "not a store" in one_line_error(
        runner.invoke(app, ["inspect", "store", str(tmp_path / "notes")]))
    assert "no store" in one_line_error(
        runner.invoke(app, ["inspect", "store", str(tmp_path / "nowhere")]))
    assert "'nt-nope' is not in the store" in one_line_error(
        runner.invoke(app, ["inspect", "store", str(demo_store), "--example", "nt-nope"]))
    assert "--run needs --example" in one_line_error(
        runner.invoke(app, ["inspect", "store", str(demo_store), "--run", str(runs[0])]))
    assert "no such checkpoint" in one_line_error(runner.invoke(app, [
        "inspect", "store", str(demo_store), "--example", covered_id(demo_store),
        "--run", str(tmp_path / "no-run")]))
    assert "not a store" in one_line_error(
        runner.invoke(app, ["inspect", "spurious", str(tmp_path / "notes")]))


# ---------------------------------------------------------------- spurious programs


def analysed(question: dict, programs: list[str], max_expressions: int | None = None, **options):
    """`analyse_example` of programs written in notation, on the medals table, 10 tables."""
    from mapo_cli.analysis.spurious import analyse_example

    table, grammar = medals_table(), load_grammar("wtq")
    ctx = ProgramContext(question, table, grammar, max_expressions)
    ids = [tuple(to_ids(split_program(p), ctx)) for p in programs]
    return analyse_example(question, table, ids, grammar, max_expressions, tables=10, **options)


def test_a_planted_spurious_program_is_told_from_the_correct_one() -> None:
    """'most gold': argmax gold is right; `first` is right only because the winner is row 0."""
    question = example("which nation won the most gold?", [], ["Brazil"])
    spurious = "(first all_rows) (hop v0 r.nation-str)"
    correct = "(argmax all_rows r.gold-num) (hop v0 r.nation-str)"
    analysis = analysed(question, [spurious, correct], seed=0, log_probs=[-1.0, -2.0])
    assert len(analysis.classes) == 2 and not analysis.ambiguous
    assert analysis.spurious == [0]
    assert analysis.preferred == 0 and analysis.preferred_likely_correct is False
    record = analysis.to_json()
    assert RECORD_KEYS <= record.keys()
    assert [p["likely_spurious"] for p in record["programs"]] == [True, False]


def test_the_entity_decides_before_peru() -> None:
    """'before peru': the program that finds peru beats the one that happens to pick row 0."""
    question = example("which nation is before peru?",
                       [{"type": "string", "value": "peru", "span": [4, 5]}], ["Brazil"])
    correct = '(filter_in all_rows "peru" r.nation-str) (first v0) (previous v1) (hop v2 r.nation-str)'
    analysis = analysed(question, ["(first all_rows) (hop v0 r.nation-str)", correct],
                        max_expressions=4)  # 'peru' is in two rows
    assert analysis.spurious == [0]


def test_fewer_expressions_beat_more_mentioned_columns() -> None:
    """'the least silver': `min` itself, not the count of rows filtered by gold, then `min`
    (a longer program touches more columns the question mentions only by luck)."""
    question = example("what is the least silver of a nation with gold?", [], ["0"])
    longer = "(count all_rows) (filter< all_rows v0 r.gold-num) (min v1 r.silver-num)"
    analysis = analysed(question, [longer, "(min all_rows r.silver-num)"], seed=0)
    assert [g.expressions for g in analysis.groundings] == [3, 1]
    assert analysis.groundings[0].mentioned_columns > analysis.groundings[1].mentioned_columns
    assert len(analysis.classes) == 2 and analysis.spurious == [0]


def test_a_number_inside_a_linked_string_is_one_mention_of_the_question() -> None:
    """'#5' is linked as the string "# 5" and as the number 5 inside it; a program that uses
    both has used one thing the question said, not two."""
    from mapo_cli.analysis.grounding import grounding, literal_mentions

    question = example("which nations ranked above #5 with 3 gold?", [
        {"type": "string", "value": "# 5", "span": [4, 6]},
        {"type": "number", "value": 5.0, "span": [5, 6]},
        {"type": "number", "value": 3.0, "span": [7, 8]}], [])
    ctx = ProgramContext(question, medals_table(), load_grammar("wtq"))
    mentions = literal_mentions(question, ctx)
    assert mentions == [(4, 6), (4, 6), (7, 8)]
    both = tuple(to_ids(split_program(
        '(filter_in all_rows "# 5" r.nation-str) (filter< v0 5 r.rank-num) (hop v1 r.nation-str)'),
        ctx))
    assert grounding(both, ctx, set(), mentions).entities == 1


def test_a_string_mentions_the_columns_it_is_a_whole_cell_of() -> None:
    """'peru' is a nation; the Team column's "Peru B" and "Peru Juniors" hold the word only
    inside longer names, so they do not make Team a column the question mentions."""
    from mapo_cli.analysis.grounding import mentioned_columns

    table = {**medals_table(), "columns": ["nation", "team"],
             "rows": [["Brazil", "Brazil A"], ["Peru", "Peru B"], ["Chile", "Peru Juniors"]]}
    question = example("how many medals did peru win?",
                       [{"type": "string", "value": "peru", "span": [4, 5]}], [])
    assert mentioned_columns(question, table) == {"nation"}


def test_training_can_keep_only_the_likely_correct_programs_of_a_buffer() -> None:
    """`mapo train --drop-spurious`: the planted `first` goes, argmax gold stays; a buffer of
    one program, and an example without one, stay as they are."""
    from mapo_cli.analysis.spurious import likely_correct_memory

    table, grammar = medals_table(), load_grammar("wtq")
    most = {**example("which nation won the most gold?", [], ["Brazil"]), "id": "most"}
    ctx = ProgramContext(most, table, grammar)
    spurious, correct = (tuple(to_ids(split_program(p), ctx)) for p in (
        "(first all_rows) (hop v0 r.nation-str)", "(argmax all_rows r.gold-num) (hop v0 r.nation-str)"))
    alone = {**most, "id": "alone"}
    empty = {**most, "id": "empty"}
    seen = []
    kept = likely_correct_memory({"most": [spurious, correct], "alone": [spurious]},
                                 [most, alone, empty], {table["id"]: table}, grammar,
                                 progress=lambda done, total: seen.append((done, total)))
    assert kept == {"most": [correct], "alone": [spurious], "empty": []}
    assert seen[-1] == (3, 3)


def test_a_memory_in_grounded_order_puts_the_programs_using_the_question_first() -> None:
    """`mapo train --memory-order grounded`: "peru" used beats "peru" ignored, then fewer
    expressions beat more; equally grounded programs keep the store's order."""
    from mapo_cli.analysis.grounding import grounded_memory

    table, grammar = medals_table(), load_grammar("wtq")
    peru = {**example("how many gold did peru win?",
                      [{"type": "string", "value": "peru", "span": [4, 5]}], ["1"]), "id": "peru"}
    ctx = ProgramContext(peru, table, grammar)
    ignores, uses, longer, also = (tuple(to_ids(split_program(p), ctx)) for p in (
        "(first all_rows) (hop v0 r.gold-num)",
        '(filter_in all_rows "peru" r.nation-str) (hop v0 r.gold-num)',
        '(filter_in all_rows "peru" r.nation-str) (first v0) (hop v1 r.gold-num)',
        '(filter_in all_rows "peru" r.nation-str) (last v0) (hop v1 r.gold-num)'))
    seen = []
    ordered = grounded_memory({"peru": [ignores, longer, uses, also]}, [peru],
                              {table["id"]: table}, grammar,
                              progress=lambda done, total: seen.append((done, total)))
    assert ordered == {"peru": [uses, longer, also, ignores]}
    assert seen == [(1, 1)]


def test_fictitious_tables_keep_columns_types_and_entities(demo_store: Path) -> None:
    from mapo_cli.analysis.fictitious import entity_cells, fictitious_tables
    from mapo_cli.core.text import contains, normalize_text
    from mapo_cli.store.store import Store

    grammar = load_grammar("wtq")
    with Store.open_readonly(demo_store) as store, store.reader() as reader:
        stored = [reader.read_example(i) for i in reader.ids()[:40]]
    for question, table in stored:
        vocab = ProgramContext(question, table, grammar).vocab
        strings = [normalize_text(e["value"]) for e in question["entities"]
                   if e["type"] == "string"]
        kept = len(entity_cells(table, question))
        tables = fictitious_tables(table, question, 4, seed=1)
        assert tables == fictitious_tables(table, question, 4, seed=1)  # deterministic
        for fictitious in tables:
            assert len(fictitious["rows"]) == len(table["rows"])
            assert ProgramContext(question, fictitious, grammar).vocab == vocab
            assert len(entity_cells(fictitious, question)) == kept
            for needle in strings:
                assert any(contains(normalize_text(cell), needle)
                           for row in fictitious["rows"] for cell in row)


def test_fast_execution_agrees_with_the_interpreter(demo_store: Path) -> None:
    """`run_program` skips code assistance; on fictitious tables it must judge like `run`."""
    from mapo_cli.analysis.fictitious import fictitious_tables, run_program
    from mapo_cli.core.errors import InvalidProgram
    from mapo_cli.language.interpreter import Interpreter
    from mapo_cli.store.store import Store

    grammar = load_grammar("wtq")
    checked = invalid = 0
    with Store.open_readonly(demo_store) as store, store.reader() as reader:
        for example_id in reader.ids()[:120]:
            question, table = reader.read_example(example_id)
            programs = [p for p, _ in reader.read_memory(example_id)]
            for fictitious in fictitious_tables(table, question, 3, seed=2):
                interpreter = Interpreter(ProgramContext(question, fictitious, grammar, 3))
                for program in programs:
                    try:
                        expected = interpreter.answer(interpreter.run(program))
                    except InvalidProgram:
                        expected = None
                    state = run_program(interpreter, program)
                    assert (None if state is None else interpreter.answer(state)) == expected
                    checked += 1
                    invalid += expected is None
    assert checked > 1000 and invalid > 0


def test_inspect_spurious_reports_and_exports(demo_store: Path, runs: list[Path],
                                              tmp_path: Path) -> None:
    out = tmp_path / "spurious.jsonl"
    summary = invoke_json("inspect", "spurious", str(demo_store), "--run", str(runs[0]),
                          "--limit", "30", "--tables", "6", "--out", str(out), "--json")
    assert SPURIOUS_KEYS <= summary.keys()
    assert summary["analysed"] == 30 == summary["one_class"] + summary["several_classes"]
    assert 0 < summary["spurious_share"] < 1 and summary["run"].endswith("best.pt")
    assert summary["preferred_decided"] == summary["several_classes"]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 30 and all(RECORD_KEYS <= r.keys() for r in records)
    assert sum(r["spurious_programs"] for r in records) == summary["spurious_programs"]
    for record in records:
        assert record["n_programs"] >= 2 and len(record["classes"]) == record["n_classes"]
        assert all(len(c["answers"]) == 6 for c in record["classes"])
        assert any(c["likely_correct"] for c in record["classes"])
    shown = runner.invoke(app, ["inspect", "spurious", str(demo_store), "--limit", "30"])
    assert shown.exit_code == 0, shown.output
    assert "likely spurious" in shown.stdout and "several classes" in shown.stdout
    assert "--tables must be an integer from 1 to 1000, got 0" in one_line_error(
        runner.invoke(app, ["inspect", "spurious", str(demo_store), "--tables", "0"]))


# ---------------------------------------------------------------- runs


def test_inspect_run_compares_runs_and_plots_their_curves(runs: list[Path],
                                                          tmp_path: Path) -> None:
    plot = tmp_path / "curves.png"
    report = invoke_json("inspect", "run", *map(str, runs), "--plot", str(plot), "--json")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["plot"] == str(plot) and "objective" in report["differing_settings"]
    for run, info in zip(runs, report["runs"]):
        assert {"run", "config", "summary", "best_checkpoint", "metrics"} <= info.keys()
        assert info["summary"]["steps"] == 2 and info["summary"]["records"] == 2
        assert info["summary"]["objective"] == run.name
        for key in ("best_dev_accuracy", "best_step", "train_return", "memory_coverage",
                    "clipped_fraction", "samples_per_second"):
            assert key in info["summary"]
    one = runner.invoke(app, ["inspect", "run", str(runs[0])])
    assert one.exit_code == 0, one.output
    assert "objective" in one.stdout and "best dev accuracy" in one.stdout
    both = runner.invoke(app, ["inspect", "run", *map(str, runs)])
    assert both.exit_code == 0 and "settings that differ" in both.stdout


def test_inspect_run_bad_input_is_a_clear_error(runs: list[Path], tmp_path: Path) -> None:
    assert "not a run directory" in one_line_error(
        runner.invoke(app, ["inspect", "run", str(tmp_path)]))
    assert "no such run directory" in one_line_error(
        runner.invoke(app, ["inspect", "run", str(tmp_path / "nowhere")]))
    assert "cannot write the plot" in one_line_error(runner.invoke(
        app, ["inspect", "run", str(runs[0]), "--plot", str(tmp_path / "curves.nope")]))
