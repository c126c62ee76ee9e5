"""A WikiSQL release (`data/<split>.jsonl` + `<split>.tables.jsonl`) into prepared data.

Each question line holds `table_id`, `question` and the gold `sql`; its
answer, which weak supervision learns from, is that `sql` executed on the
table (`wikisql_sql`). The main process reads the questions, then streams the
tables files once: it checks each table, executes the questions about it and
keeps only the table's byte offset (its *address*). Tokens and entities come
from `prepare.py`'s shared pipeline (`process_tables`), whose workers load
their tables by address. The gold `sql` stays in each example under "sql",
as metadata that training never reads.

The report adds `figures["condition_values"]` per split: how many gold
condition values are entities of their example (a string entity equal after
`normalize_text`, or a number entity equal as a number), a ceiling on the
questions any program can answer as the gold sql does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mapo_cli.core.errors import MapoError
from mapo_cli.core.paths import inside
from mapo_cli.core.text import normalize_text
from mapo_cli.data.dataset import write_jsonl
from mapo_cli.data.prepare import (
    PrepareReport,
    Problem,
    ProgressFn,
    TableResult,
    check_grammar,
    fail_or_report,
    process_tables,
)
from mapo_cli.data.questions import Entity
from mapo_cli.data.tables import Table, build_table, check_grid
from mapo_cli.data.wikisql_sql import (
    cell_text,
    check_table,
    condition_number,
    execute_sql,
    real_cell_number,
)

SPLITS = ("train", "dev", "test")
GRAMMAR = "wikisql"

ConditionValue = tuple[Any, bool]
"""A gold condition's value and whether its column is `real`."""


@dataclass(frozen=True)
class SqlQuestion:
    """One usable question line: where it is, its id (`<split>-<line index>`) and its gold sql."""

    file: str
    line: int
    split: str
    id: str
    question: str
    table_id: str
    sql: Any


@dataclass(frozen=True)
class Executed:
    """A question whose gold sql ran: its answer, its table's address, its condition values."""

    question: SqlQuestion
    answer: list[str]
    address: str
    conditions: list[ConditionValue]


# ----------------------------------------------------------------- the release


def find_splits(source: Path, splits: list[str] | None) -> list[tuple[str, Path, Path]]:
    """(split, questions file, tables file) for the splits asked for, or for all that exist."""
    if not source.is_dir():
        raise MapoError(f"{source}: no such directory (expected a WikiSQL release)")
    data = source / "data"
    unknown = [split for split in splits or [] if split not in SPLITS]
    if unknown:
        raise MapoError(f"unknown split {unknown[0]!r} (choose from {', '.join(SPLITS)})")
    wanted = list(dict.fromkeys(splits)) if splits else SPLITS
    found = []
    for split in wanted:
        questions, tables = data / f"{split}.jsonl", data / f"{split}.tables.jsonl"
        if not questions.is_file():
            if splits:
                raise MapoError(f"{questions}: no such file (split {split!r} was asked for)")
            continue
        if not tables.is_file():
            raise MapoError(f"{tables}: no such file (the tables of {questions.name})")
        for path in (questions, tables):  # a file linked out of the release is not the release's
            inside(source, Path("data") / path.name)
        found.append((split, questions, tables))
    if not found:
        raise MapoError(
            f"{source}: no data/train.jsonl, data/dev.jsonl or data/test.jsonl "
            "(pass the folder that holds WikiSQL's data/)"
        )
    return found


def _parse_question(name: str, number: int, split: str, raw: bytes) -> SqlQuestion | Problem:
    """One question line, or the problem that makes it unusable."""
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return Problem(name, number, f"not a JSON question ({error})")
    if not isinstance(record, dict):
        return Problem(name, number, "not a JSON object")
    missing = [key for key in ("table_id", "question", "sql") if key not in record]
    if missing:
        return Problem(name, number, f"missing {', '.join(missing)}")
    table_id, question = record["table_id"], record["question"]
    if not isinstance(table_id, str) or not isinstance(question, str) or not question.strip():
        return Problem(name, number, "table_id and question must be strings, question not empty")
    return SqlQuestion(
        name, number, split, f"{split}-{number - 1}", question.strip(), table_id, record["sql"]
    )


def read_sql_questions(path: Path, split: str) -> tuple[list[SqlQuestion], list[Problem]]:
    """Every usable line of `<split>.jsonl` and the problems of the others, in file order."""
    questions: list[SqlQuestion] = []
    problems: list[Problem] = []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        parsed = _parse_question(str(path), number, split, raw)
        if isinstance(parsed, Problem):
            problems.append(parsed)
        else:
            questions.append(parsed)
    return questions, problems


# ----------------------------------------------------------------- tables


def table_grid(raw: Any, where: str) -> list[list[str]]:
    """A WikiSQL table's header and rows as text, refused as `check_table` and `check_grid` do."""
    try:
        check_table(raw)
    except MapoError as error:
        raise MapoError(f"{where}: {error}") from None
    grid = [list(raw["header"])] + [[cell_text(cell) for cell in row] for row in raw["rows"]]
    check_grid(grid, Path(where))
    return grid


def load_table_at(address: str) -> Table:
    """The prepared table at `<tables file>#<byte offset>` (runs in a worker).

    Views as `build_table` finds them, except that a `real` column's number
    view is what the engine compares: the number sqlite stores for each cell
    (None where it keeps TEXT). WikiSQL's column `types` are kept beside.
    """
    path, _, offset = address.rpartition("#")
    with open(path, "rb") as handle:
        handle.seek(int(offset))
        line = handle.readline()
    try:
        raw = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MapoError(f"{address}: not a JSON table ({error})") from None
    grid = table_grid(raw, address)
    table = build_table(raw["id"], grid)
    for column, kind in enumerate(raw["types"]):
        if kind == "real":
            table["numbers"][column] = [real_cell_number(row[column]) for row in raw["rows"]]
    table["types"] = list(raw["types"])  # what the gold sql's engine needs (inspect spurious)
    return table


def _table_lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line) of every non-blank line of a tables file."""
    offset = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, offset, line
            offset += len(line)


def _run_sql(question: SqlQuestion, raw: dict[str, Any], address: str) -> Executed:
    answer = execute_sql(raw, question.sql)
    types = raw["types"]
    conditions = [(value, types[column] == "real") for column, _op, value in question.sql["conds"]]
    return Executed(question, answer, address, conditions)


def execute_questions(
    tables_files: list[Path],
    by_table: dict[str, list[SqlQuestion]],
    problems: list[Problem],
    strict: bool,
) -> dict[str, Executed]:
    """Stream the tables files once: check each table and run the questions about it.

    The first line with a table id wins; a later one is a problem. Returns the
    executed questions by id; every other question became a problem.
    """
    executed: dict[str, Executed] = {}
    seen: dict[str, str] = {}
    for path in tables_files:
        for number, offset, line in _table_lines(path):
            where = f"{path}:{number}"
            try:
                raw = json.loads(line)
                if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                    raise MapoError("a table needs a string 'id'")
            except (UnicodeDecodeError, json.JSONDecodeError, MapoError) as error:
                fail_or_report(
                    Problem(str(path), number, f"not a JSON table ({error})"), problems, strict
                )
                continue
            if raw["id"] in seen:
                message = f"table {raw['id']!r} again (the one at {seen[raw['id']]} is used)"
                fail_or_report(Problem(str(path), number, message), problems, strict)
                continue
            seen[raw["id"]] = where
            done, failed = run_table(raw, where, f"{path}#{offset}", by_table.get(raw["id"], []))
            executed.update((item.question.id, item) for item in done)
            for problem in failed:
                fail_or_report(problem, problems, strict)
    names = ", ".join(path.name for path in tables_files)
    for table_id in [table_id for table_id in by_table if table_id not in seen]:
        for question in by_table[table_id]:
            problem = Problem(question.file, question.line, f"no table {table_id!r} in {names}")
            fail_or_report(problem, problems, strict)
    return executed


def run_table(
    raw: dict[str, Any], where: str, address: str, questions: list[SqlQuestion]
) -> tuple[list[Executed], list[Problem]]:
    """Check one table and execute every question about it; a failure is that question's problem."""
    if not questions:
        return [], []
    try:
        table_grid(raw, where)
    except MapoError as error:
        return [], [Problem(q.file, q.line, f"bad table: {error}") for q in questions]
    done: list[Executed] = []
    failed: list[Problem] = []
    for question in questions:
        try:
            done.append(_run_sql(question, raw, address))
        except MapoError as error:
            failed.append(Problem(question.file, question.line, str(error)))
    return done, failed


# ----------------------------------------------------------------- entities


def is_entity(value: Any, real: bool, entities: list[Entity]) -> bool:
    """Whether a gold condition value is among the example's entities.

    A real column's value must be a number entity (read as the engine reads
    it); a text column's value may be a string entity (after `normalize_text`)
    or, when it is a plain number, a number entity.
    """
    number = condition_number(value) if real else real_cell_number(value)
    if number is not None and any(
        e["type"] == "number" and abs(e["value"] - number) <= 1e-9 * max(1.0, abs(number))
        for e in entities
    ):
        return True
    text = normalize_text(cell_text(value))
    return not real and any(e["type"] == "string" and e["value"] == text for e in entities)


def _coverage(examples: list[tuple[Executed, list[Entity]]]) -> dict[str, Any]:
    values = [is_entity(v, real, ents) for done, ents in examples for v, real in done.conditions]
    linked = sum(values)
    return {
        "values": len(values),
        "entities": linked,
        "share": round(linked / len(values), 4) if values else None,
    }


# ----------------------------------------------------------------- the pipeline


def _example(done: Executed, result: TableResult) -> tuple[dict[str, Any], list[Entity]]:
    question = done.question
    tokens, entities = result.analyses[question.question]
    record = {
        "id": question.id,
        "question": question.question,
        "tokens": tokens,
        "entities": entities,
        "answer": done.answer,
        "table": question.table_id,
        "grammar": GRAMMAR,
        "sql": question.sql,
    }
    return record, entities


def prepare_wikisql(
    source: Path,
    out: Path,
    splits: list[str] | None = None,
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> PrepareReport:
    """Prepare the WikiSQL splits of SOURCE/data (those asked for, or all present) into OUT."""
    started = time.perf_counter()
    source, out = Path(source), Path(out)
    files = find_splits(source, splits)
    report = PrepareReport(out=out, grammar=check_grammar(GRAMMAR))
    if out.exists() and not out.is_dir():
        raise MapoError(f"{out}: exists and is not a directory")
    questions: dict[str, list[SqlQuestion]] = {}
    by_table: dict[str, list[SqlQuestion]] = {}
    for split, path, _tables in files:
        found, problems = read_sql_questions(path, split)
        for problem in problems:
            fail_or_report(problem, report.problems, strict)
        questions[split] = found
        for question in found:
            by_table.setdefault(question.table_id, []).append(question)
    executed = execute_questions([t for *_, t in files], by_table, report.problems, strict)
    jobs: dict[str, list[str]] = {}
    for done in executed.values():
        utterances = jobs.setdefault(done.address, [])
        if done.question.question not in utterances:
            utterances.append(done.question.question)
    results = process_tables(load_table_at, jobs, progress)
    _write(report, questions, executed, results, strict)
    report.seconds = time.perf_counter() - started
    return report


def _write(
    report: PrepareReport,
    questions: dict[str, list[SqlQuestion]],
    executed: dict[str, Executed],
    results: dict[str, TableResult],
    strict: bool,
) -> None:
    """Examples per split in file order, the tables they use, and the figures."""
    used: dict[str, Table] = {}
    per_split: dict[str, list[tuple[dict[str, Any], list[Entity]]]] = {}
    for split, found in questions.items():
        examples = per_split.setdefault(split, [])
        for question in found:
            done = executed.get(question.id)
            result = results.get(done.address) if done else None
            if done is None or result is None:
                continue
            if result.table is None:
                problem = Problem(question.file, question.line, f"bad table: {result.error}")
                fail_or_report(problem, report.problems, strict)
                continue
            examples.append(_example(done, result))
            used[question.table_id] = result.table
    report.problems.sort(key=lambda p: (p.file, p.line))
    report.out.mkdir(parents=True, exist_ok=True)
    coverage, empty = {}, {}
    for split, examples in per_split.items():
        name = f"{split}.jsonl"
        write_jsonl(report.out / name, [record for record, _ in examples])
        report.examples[name] = len(examples)
        coverage[name] = _coverage([(executed[r["id"]], ents) for r, ents in examples])
        empty[name] = sum(1 for record, _ in examples if not record["answer"])
    write_jsonl(report.out / "tables.jsonl", [used[table_id] for table_id in sorted(used)])
    report.tables = len(used)
    report.figures = {"condition_values": coverage, "empty_answers": empty}
