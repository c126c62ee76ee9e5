"""`mapo ask` and `mapo_cli.Parser`: a trained run answers questions about a plain CSV table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_decode import train_tiny_run
from typer.testing import CliRunner

import mapo_cli
from mapo_cli.analysis import ask as ask_module
from mapo_cli.analysis.decode import decode_file
from mapo_cli.analysis.rerank import Reranker, feature_names, save_reranker
from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import load_dataset
from mapo_cli.data.prepare_csv import prepare_csv
from mapo_cli.language.grammar import load_grammar
from mapo_cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path,
             demo_store: Path) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("ask-run"), prepared_demo, demo_store)


@pytest.fixture(scope="module")
def own_table(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path) -> dict:
    """A demo table written out as a plain CSV, and the demo's dev questions about it."""
    examples, tables = load_dataset(prepared_demo / "random-split-1-dev.jsonl")
    table_id = max(tables, key=lambda t: sum(e["table"] == t for e in examples))
    folder = tmp_path_factory.mktemp("own-table")
    with (folder / "table.csv").open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([tables[table_id]["headers"], *tables[table_id]["rows"]])
    questions = [e for e in examples if e["table"] == table_id]
    return {"csv": folder / "table.csv", "questions": questions, "folder": folder}


def test_ask_gives_the_answer_decode_gives_for_the_same_question(
        tiny_run: Path, own_table: dict) -> None:
    folder = own_table["folder"]
    with (folder / "questions.tsv").open("w", encoding="utf-8") as out:
        out.write("id\tutterance\tcontext\ttargetValue\n")
        for e in own_table["questions"]:
            out.write(f"{e['id']}\t{e['question']}\ttable.csv\t{'|'.join(e['answer'])}\n")
    prepare_csv(folder / "questions.tsv", folder / "prepared")
    decoded = decode_file(tiny_run, folder / "prepared" / "questions.jsonl", workers=1)
    parser = mapo_cli.Parser.load(tiny_run)
    for result, example in zip(decoded.results, own_table["questions"], strict=True):
        reply = parser.ask(own_table["csv"], example["question"])
        assert reply.answer == result.prediction
        assert [p.program for p in reply.programs] == [d.program for d in result.beam]
        assert reply.programs[0].probability == pytest.approx(result.beam[0].probability)


def test_the_api_and_the_command_agree(tiny_run: Path, own_table: dict) -> None:
    question = own_table["questions"][0]["question"]
    result = runner.invoke(app, ["ask", str(tiny_run), str(own_table["csv"]), question,
                                 "--json", "--top", "2"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    reply = mapo_cli.Parser.load(tiny_run).ask(own_table["csv"], question, top=2)
    assert printed == json.loads(json.dumps(reply.to_json()))
    assert len(printed["programs"]) == 2 and printed["answer"] == printed["programs"][0]["answer"]
    assert all(name.startswith("v") for name in printed["programs"][0]["trace"])
    shown = runner.invoke(app, ["ask", str(tiny_run), str(own_table["csv"]), question, "--trace"])
    assert shown.exit_code == 0, shown.output
    assert f"answer: {' | '.join(reply.answer)}" in shown.stdout and "v0 = " in shown.stdout


def test_questions_on_standard_input_share_one_model_load(
        tiny_run: Path, own_table: dict, monkeypatch) -> None:
    loads = []
    real = ask_module.load_decoder
    monkeypatch.setattr(ask_module, "load_decoder",
                        lambda path, **options: loads.append(path) or real(path, **options))
    questions = [e["question"] for e in own_table["questions"][:3]]
    result = runner.invoke(app, ["ask", str(tiny_run), str(own_table["csv"]), "--json"],
                           input="\n".join(questions) + "\n\n")
    assert result.exit_code == 0, result.output
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in replies] == questions and len(loads) == 1


def test_a_table_given_as_rows_and_an_ensemble(tiny_run: Path) -> None:
    rows = [["Nation", "Gold"], ["Peru", "3"], ["Chile", "5"], ["Brazil", "1"]]
    one = mapo_cli.Parser.load(tiny_run).ask(rows, "which nation won the most gold?")
    two = mapo_cli.Parser.load(tiny_run, tiny_run).ask(rows, "which nation won the most gold?")
    assert one.entities == [] and one.tokens[:2] == ["which", "nation"]
    # Two copies of one run: the pooled beam is that run's beam, with the same probabilities.
    assert [(p.program, round(p.probability, 6)) for p in two.programs] == [
        (p.program, round(p.probability, 6)) for p in one.programs]


def test_an_ensemble_ranked_by_a_reranker(tiny_run: Path, tmp_path: Path) -> None:
    rows = [["Nation", "Gold"], ["Peru", "3"], ["Chile", "5"], ["Brazil", "1"]]
    question = "which nation won the most gold?"
    functions = tuple(f.name for f in load_grammar("wtq").functions)
    names = feature_names(functions)
    shortest_first = Reranker("wtq", functions, (0.0,) * len(names), (1.0,) * len(names),
                              tuple(-1.0 if n == "expressions" else 0.0 for n in names),
                              ("a", "b"), {})
    save_reranker(shortest_first, tmp_path / "reranker.json")
    by_mean = mapo_cli.Parser.load(tiny_run, tiny_run).ask(rows, question, top=None)
    parser = mapo_cli.Parser.load(tiny_run, tiny_run, reranker=tmp_path / "reranker.json")
    ranked = parser.ask(rows, question, top=None)
    assert sorted(p.program for p in ranked.programs) == sorted(p.program for p in by_mean.programs)
    lengths = [p.program.count("(") for p in ranked.programs]
    assert lengths == sorted(lengths) and len(set(lengths)) > 1
    # programs of one length keep the order of the mean probability
    assert [p.program for p in ranked.programs if p.program.count("(") == lengths[0]] == [
        p.program for p in by_mean.programs if p.program.count("(") == lengths[0]]

    table = tmp_path / "table.csv"
    table.write_text("\n".join(",".join(row) for row in rows) + "\n")
    printed = runner.invoke(app, ["ask", str(tiny_run), str(tiny_run), str(table), question,
                                  "--reranker", str(tmp_path / "reranker.json"), "--json",
                                  "--top", "2"])
    assert printed.exit_code == 0, printed.output
    assert [p["program"] for p in json.loads(printed.stdout)["programs"]] == [
        p.program for p in ranked.programs[:2]]
    alone = runner.invoke(app, ["ask", str(tiny_run), str(table), question,
                                "--reranker", str(tmp_path / "reranker.json")])
    assert alone.exit_code != 0 and "fit for an ensemble of 2 runs" in alone.output


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such table file"),
    (b"a,b\n1,2,3\n", "ragged table"),
    (b"a,b\n\xff\xfe,1\n", "not UTF-8"),
    (b"", "empty table"),
    (b"nation,gold\n", "a header row but no rows"),
])
def test_a_bad_table_is_a_one_line_error(tiny_run: Path, tmp_path: Path, content: bytes | None,
                                         message: str) -> None:
    table = tmp_path / "t.csv"
    if content is not None:
        table.write_bytes(content)
    result = runner.invoke(app, ["ask", str(tiny_run), str(table), "which one?"])
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_an_empty_question_a_bad_option_and_a_missing_run_are_clear_errors(
        tiny_run: Path, own_table: dict, tmp_path: Path) -> None:
    table = str(own_table["csv"])
    for arguments, message in [
        ([str(tiny_run), table, "  "], "the question is empty"),
        ([str(tiny_run), table, "which?", "--beam", "0"], "--beam must be an integer from 1"),
        ([str(tiny_run), table, "which?", "--top", "0"], "--top must be an integer from 1"),
        ([str(tmp_path / "nothing"), table, "which?"], "nothing"),
        ([str(tmp_path / "missing.csv")], "missing.csv: no such table file"),
        ([table, "which?", "and?"], "is read as the table and the bundled model answers"),
    ]:
        result = runner.invoke(app, ["ask", *arguments])
        assert result.exit_code != 0 and message in result.output, (arguments, result.output)
    with pytest.raises(MapoError, match="empty table"):
        mapo_cli.Parser.load(tiny_run).table([["Nation", "Gold"]])


def test_a_real_world_table_is_typed_as_prepare_csv_types_it(tiny_run: Path,
                                                             tmp_path: Path) -> None:
    """Thousands separators, dates in common formats, empty cells, a repeated header."""
    from mapo_cli.data.tables import load_csv_table

    (tmp_path / "t.csv").write_text(
        "Name,Score,Score,Date\n"
        'Ann,"1,234",7,"March 3, 1999"\n'
        "Bob,,8,1999-04-05\n"
        'Cy,"12,000,000",,5 June 2001\n')
    table = mapo_cli.Parser.load(tiny_run).table(tmp_path / "t.csv")
    assert table == load_csv_table(tmp_path, "t.csv")
    assert table["columns"][1] != table["columns"][2]  # the repeated header, told apart
    assert table["numbers"][1] == [1234.0, None, 12000000.0]
    assert table["dates"][3] == ["1999-03-03", "1999-04-05", "2001-06-05"]
