"""`mapo prepare`: question TSVs and their tables in, prepared data (docs/formats.md) out.

One pipeline for every source (`prepare_wtq`, `prepare_csv`: each finds its
files and its table loader, then calls `run_prepare`): read every question
line (a bad line becomes a reported problem; a duplicate id, or a table path
that leads out of the source's directory, refuses the source), then handle
each table once (parse it, then tokenise and link every distinct question
about it) in a process pool, then write `<name>.jsonl` per question file and
one `tables.jsonl`. Every example records its answer strings and their canonical
values (the release's CoreNLP ones when a source has them), which is what
scoring and rewards compare with. Library code: it reports, the CLI prints.
"""

from __future__ import annotations

import codecs
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mapo_cli.core.errors import MapoError
from mapo_cli.core.processes import in_worker_pool
from mapo_cli.core.stop import StopRequest
from mapo_cli.data.dataset import write_jsonl
from mapo_cli.data.questions import CellIndex, Entity, analyse_question
from mapo_cli.data.tables import Table
from mapo_cli.data.target_canon import target_value
from mapo_cli.language.grammar import load_grammar, resolve_grammar

HEADER = ["id", "utterance", "context", "targetValue"]
ProgressFn = Callable[[int, int], None]
"""Called as progress(tables_done, tables_total) while tables are handled."""
TableLoader = Callable[[str], Table]
TableLocator = Callable[[str], object]
"""Checks where a table id leads: raises MapoError when it leaves its source's directory."""
ReleaseCanon = Callable[[str, list[str]], list[str] | None]
"""The release's canonical values of an example's answer (by id), or None: then ours."""

POOL_MIN_TABLES = 64
"""Below this many tables a process pool costs more than it saves."""


@dataclass(frozen=True)
class Problem:
    """A question line that was skipped, and why; a `fatal` one refuses the whole source."""

    file: str
    line: int
    message: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class PrepareReport:
    """What `prepare` wrote: examples per output file, tables, skipped lines.

    `figures` holds what only some sources measure (WikiSQL: condition values
    that are entities); it is in the JSON only when a source filled it.
    """

    out: Path
    grammar: str
    examples: dict[str, int] = field(default_factory=dict)
    tables: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        summary = {
            "out": str(self.out),
            "grammar": self.grammar,
            "examples": self.examples,
            "tables": self.tables,
            "problems": [str(problem) for problem in self.problems],
            "seconds": round(self.seconds, 2),
        }
        if self.figures:
            summary["figures"] = self.figures
        return summary


@dataclass(frozen=True)
class QuestionLine:
    """One parsed line of a question TSV."""

    file: str
    line: int
    id: str
    utterance: str
    context: str
    answer: list[str]


@dataclass
class TableResult:
    """A worker's answer for one table: the table (or why it failed) and each question's analysis."""

    table_id: str
    table: Table | None
    error: str | None
    analyses: dict[str, tuple[list[str], list[Entity]]]


# ----------------------------------------------------------------- grammar


def check_grammar(grammar: str) -> str:
    """The grammar as recorded in the data: a bundled name, or an absolute .toml path.

    Loaded once here, so that a broken grammar file stops `prepare` before any
    work instead of every later command.
    """
    load_grammar(grammar)
    path = resolve_grammar(grammar)
    if "/" not in grammar and not grammar.endswith(".toml"):
        return grammar
    return str(path.resolve())


# ----------------------------------------------------------------- question files


_ESCAPE = re.compile(r"\\(.)")
_UNESCAPES = {"n": "\n", "p": "|", "\\": "\\"}


def unescape(field_text: str) -> str:
    r"""Undo WikiTableQuestions TSV escapes: `\n` newline, `\p` pipe, `\\` backslash."""
    return _ESCAPE.sub(lambda m: _UNESCAPES.get(m[1], m[0]), field_text)


def parse_answer(target: str) -> list[str]:
    """`targetValue` as a list: items are separated by `|` (a literal pipe is `\\p`)."""
    return [unescape(item) for item in target.split("|")]


def _parse_line(name: str, number: int, raw: bytes, header: list[str],
                positions: list[int]) -> QuestionLine | Problem:
    """One TSV line as a question (its fields at `positions`), or what makes it unusable."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return Problem(name, number, f"not UTF-8 (byte 0x{raw[error.start]:02x})")
    fields = text.split("\t")
    if len(fields) != len(header):
        return Problem(
            name,
            number,
            f"expected {len(header)} tab-separated fields "
            f"({', '.join(header)}), found {len(fields)}",
        )
    example_id, utterance, context, target = (fields[i].strip() for i in positions)
    if not example_id or not utterance or not context:
        return Problem(name, number, "empty id, utterance or context")
    return QuestionLine(
        name, number, example_id, unescape(utterance), context, parse_answer(target)
    )


def _header(name: str, first: bytes) -> list[str] | None:
    """The first line's column names if it is a header (it names two of HEADER or more).

    A header must name all four: a file whose columns cannot all be found is an error.
    """
    names = [field.strip() for field in first.decode("utf-8", "replace").split("\t")]
    missing = [column for column in HEADER if column not in names]
    if len(missing) > len(HEADER) - 2:
        return None
    if missing:
        raise MapoError(f"{name}:1: the header lacks the column(s) {', '.join(missing)}")
    return names


def read_questions(path: Path) -> tuple[list[QuestionLine], list[Problem]]:
    """Every usable line of a question TSV, and the problems.

    Columns are found by the header's names, in any order (other columns are
    ignored); without a header they are HEADER's, in that order. A UTF-8
    byte-order mark and CRLF line ends are fine.
    """
    if not path.is_file():
        raise MapoError(f"{path}: no such question file")
    name = str(path)
    lines = path.read_bytes().removeprefix(codecs.BOM_UTF8).split(b"\n")
    header = _header(name, lines[0].rstrip(b"\r"))
    positions = [header.index(column) for column in HEADER] if header else [0, 1, 2, 3]
    questions: list[QuestionLine] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip() or (number == 1 and header):
            continue
        parsed = _parse_line(name, number, raw, header or HEADER, positions)
        if isinstance(parsed, QuestionLine) and parsed.id in seen:
            # two examples under one id: which one a store, a score or `exec` meant is unknowable
            message = f"duplicate id {parsed.id!r} (first on line {seen[parsed.id]})"
            parsed = Problem(name, number, message, fatal=True)
        if isinstance(parsed, Problem):
            problems.append(parsed)
        else:
            seen[parsed.id] = number
            questions.append(parsed)
    return questions, problems


# ----------------------------------------------------------------- tables


def process_table(loader: TableLoader, table_id: str, utterances: list[str]) -> TableResult:
    """Load one table and analyse every distinct question about it (runs in a worker)."""
    try:
        table = loader(table_id)
    except (MapoError, OSError) as error:
        return TableResult(table_id, None, str(error), {})
    index = CellIndex(table)
    analyses = {utterance: analyse_question(utterance, index) for utterance in utterances}
    return TableResult(table_id, table, None, analyses)


def _process_batch(loader: TableLoader, jobs: list[tuple[str, list[str]]]) -> list[TableResult]:
    return [process_table(loader, table_id, utterances) for table_id, utterances in jobs]


def process_tables(
    loader: TableLoader, jobs: dict[str, list[str]], progress: ProgressFn | None
) -> dict[str, TableResult]:
    """Every table's result; in a process pool when there are enough tables to pay for it.

    Ctrl-C or SIGTERM raises `Stopped` (nothing has been written yet).
    """
    results: dict[str, TableResult] = {}
    total = len(jobs)
    with StopRequest() as stop:
        for batch in _run_batches(loader, sorted(jobs.items()), stop):
            for result in batch:
                results[result.table_id] = result
            if progress is not None:
                progress(len(results), total)
        stop.check(len(results), total, "tables")
    return results


def _run_batches(
    loader: TableLoader, items: list[tuple[str, list[str]]], stop: StopRequest
) -> Iterator[list[TableResult]]:
    """Results in batches of about 16 tables, from a pool on machines with more than one core;
    none more once `stop` has a signal."""
    batches = [items[i : i + 16] for i in range(0, len(items), 16)]
    cores = (
        os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    )
    workers = min(len(cores), 8)
    if workers < 2 or len(items) < POOL_MIN_TABLES:
        for batch in batches:
            if stop.signal is not None:
                return
            yield _process_batch(loader, batch)
        return
    yield from in_worker_pool(batches, lambda batch: (_process_batch, loader, batch), workers,
                              stop, died="a prepare worker process died (out of memory?)")


# ----------------------------------------------------------------- the pipeline


def _example(question: QuestionLine, result: TableResult, grammar: str,
             canonical: list[str | None]) -> dict[str, Any]:
    tokens, entities = result.analyses[question.utterance]
    return {
        "id": question.id,
        "question": question.utterance,
        "tokens": tokens,
        "entities": entities,
        "answer": question.answer,
        "answer_canonical": canonical,
        "table": question.context,
        "grammar": grammar,
    }


def fail_or_report(problem: Problem, problems: list[Problem], strict: bool) -> None:
    if strict or problem.fatal:
        raise MapoError(str(problem))
    problems.append(problem)


def check_table_paths(questions: list[QuestionLine], locate: TableLocator) -> None:
    """Refuse, before any work, a question whose table path leads outside its source.

    The error names the question file, line and id; each distinct path is checked once.
    """
    checked: set[str] = set()
    for question in questions:
        if question.context in checked:
            continue
        try:
            locate(question.context)
        except MapoError as error:
            raise MapoError(f"{question.file}:{question.line}: question {question.id!r}: "
                            f"{error}") from None
        checked.add(question.context)


def run_prepare(
    files: list[Path],
    out: Path,
    loader: TableLoader,
    grammar: str,
    strict: bool = False,
    progress: ProgressFn | None = None,
    release_canon: ReleaseCanon | None = None,
    locate: TableLocator | None = None,
) -> PrepareReport:
    """Convert question files whose tables `loader` reads; see the module docstring.

    Each example's `answer_canonical` comes from `release_canon` when it knows
    the example, else from `target_canon.target_value`; with `release_canon`
    the report's figures count both (`answer_canonical`). `locate` checks
    every table path first (`check_table_paths`). A duplicate id in a file is
    refused, strict or not; the same id in two files is fine (a release
    repeats its examples across splits).
    """
    started = time.perf_counter()
    report = PrepareReport(out=out, grammar=check_grammar(grammar))
    if out.exists() and not out.is_dir():
        raise MapoError(f"{out}: exists and is not a directory")
    read = [(path, *read_questions(path)) for path in files]
    jobs: dict[str, list[str]] = {}
    for _path, questions, problems in read:
        for problem in problems:
            fail_or_report(problem, report.problems, strict)
        if locate is not None:
            check_table_paths(questions, locate)
        for question in questions:
            utterances = jobs.setdefault(question.context, [])
            if question.utterance not in utterances:
                utterances.append(question.utterance)
    results = process_tables(loader, jobs, progress)
    sources = {"targetCanon": 0, "canonicaliser": 0}
    examples_by_file: dict[Path, list[dict[str, Any]]] = {}
    used: dict[str, Table] = {}
    for path, questions, _problems in read:
        examples = examples_by_file.setdefault(path, [])
        for question in questions:
            result = results[question.context]
            if result.table is None:
                message = f"bad table: {result.error}"
                fail_or_report(
                    Problem(question.file, question.line, message), report.problems, strict
                )
                continue
            canonical = _canonical(question, release_canon, sources)
            examples.append(_example(question, result, report.grammar, canonical))
            used[question.context] = result.table
    if release_canon is not None:
        report.figures["answer_canonical"] = sources
    _write(report, examples_by_file, used)
    report.seconds = time.perf_counter() - started
    return report


def _canonical(question: QuestionLine, release_canon: ReleaseCanon | None,
               sources: dict[str, int]) -> list[str | None]:
    """The answer's canonical values: the release's if it has them, else ours (counted)."""
    release = release_canon(question.id, question.answer) if release_canon else None
    if release is not None:
        sources["targetCanon"] += 1
        return list(release)
    sources["canonicaliser"] += 1
    return [target_value(item) for item in question.answer]


def _write(report: PrepareReport, examples_by_file: dict[Path, list[dict[str, Any]]],
           used: dict[str, Table]) -> None:
    """`<name>.jsonl` per question file and `tables.jsonl`, recorded in the report."""
    report.problems.sort(key=lambda p: (p.file, p.line))
    report.out.mkdir(parents=True, exist_ok=True)
    for path, examples in examples_by_file.items():
        write_jsonl(report.out / f"{path.stem}.jsonl", examples)
        report.examples[f"{path.stem}.jsonl"] = len(examples)
    write_jsonl(report.out / "tables.jsonl", [used[table_id] for table_id in sorted(used)])
    report.tables = len(used)
