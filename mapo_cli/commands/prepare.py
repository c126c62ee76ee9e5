"""`mapo prepare wtq|csv|wikisql`: turn a dataset into prepared data (docs/formats.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mapo_cli.commands.common import (
    MapoCommand,
    MapoGroup,
    console,
    err_console,
    print_json,
    reports_errors,
)
from mapo_cli.commands.paths import check_outputs
from mapo_cli.data.prepare import PrepareReport
from mapo_cli.data.prepare_csv import prepare_csv
from mapo_cli.data.prepare_wikisql import SPLITS, prepare_wikisql
from mapo_cli.data.prepare_wtq import prepare_wtq

MAX_PROBLEMS_SHOWN = 20

app = typer.Typer(
    cls=MapoGroup,
    help="Turn a dataset into prepared data: OUT/<name>.jsonl per question file "
    "and OUT/tables.jsonl with the tables they use.",
    no_args_is_help=True,
)

GrammarOption = Annotated[
    str,
    typer.Option(
        "--grammar",
        help="Program language recorded with the data: a bundled name (wtq, wikisql) "
        "or the path of a grammar .toml file.",
    ),
]
StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict", help="Stop at the first bad line instead of skipping and reporting it."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")]
SplitOption = Annotated[
    list[str] | None,
    typer.Option(
        "--split",
        help=f"A split to prepare ({', '.join(SPLITS)}); repeat it or give a comma list. "
        "Default: every split in SOURCE/data.",
    ),
]


@contextmanager
def _progress_bar(show: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar over tables on stderr, as a progress callback.

    None with --json or when stderr is not a terminal; the bar starts with the
    first table, so an early error is not preceded by an empty bar.
    """
    if not show or not err_console.is_terminal:
        yield None
        return
    columns = (TextColumn("tables"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    bar = Progress(*columns, console=err_console, transient=True)
    task = bar.add_task("tables", total=None)

    def update(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        bar.stop()


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _print_summary(report: PrepareReport) -> None:
    """Examples per file, tables, and the first problems with their file and line."""
    for name, count in sorted(report.examples.items()):
        console.print(
            f"  {report.out / name}: {_count(count, 'example')}", highlight=False, soft_wrap=True
        )
    console.print(
        f"prepared {_count(sum(report.examples.values()), 'example')} in "
        f"{_count(len(report.examples), 'file')} and {_count(report.tables, 'table')} "
        f"({report.out / 'tables.jsonl'}), grammar {report.grammar}, {report.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    _print_condition_values(report)
    sources = report.figures.get("answer_canonical")
    if sources:
        console.print(
            f"  target values: {sources['targetCanon']:,} from the release's targetCanon "
            f"(tagged/data), {sources['canonicaliser']:,} from mapo's canonicaliser",
            highlight=False,
            soft_wrap=True,
        )
    if not report.problems:
        return
    err_console.print(
        f"[yellow]warning:[/] skipped {_count(len(report.problems), 'bad line')}:",
        highlight=False,
        soft_wrap=True,
    )
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        err_console.print(f"  {problem}", highlight=False, soft_wrap=True, markup=False)
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        more = len(report.problems) - MAX_PROBLEMS_SHOWN
        err_console.print(
            f"  ... and {more} more (see --json for all)", highlight=False, soft_wrap=True
        )


def _print_condition_values(report: PrepareReport) -> None:
    """WikiSQL's ceiling: the share of gold condition values that are entities, per split."""
    shares = []
    for name, figure in sorted(report.figures.get("condition_values", {}).items()):
        if figure["values"]:
            shares.append(
                f"{name} {figure['share']:.1%} ({figure['entities']:,} of {figure['values']:,})"
            )
    if shares:
        console.print(
            "  gold condition values that are entities: " + ", ".join(shares),
            highlight=False,
            soft_wrap=True,
        )
    empty = {name: n for name, n in report.figures.get("empty_answers", {}).items() if n}
    if empty:
        counts = ", ".join(f"{name} {n:,}" for name, n in sorted(empty.items()))
        console.print(
            f"  examples whose gold sql selects nothing (empty answer): {counts}",
            highlight=False,
            soft_wrap=True,
        )


def _finish(report: PrepareReport, json_output: bool) -> None:
    if json_output:
        print_json(report.to_json())
    else:
        _print_summary(report)


@app.command("wtq", cls=MapoCommand)
@reports_errors
def wtq(
    source: Annotated[
        Path,
        typer.Argument(help="The WikiTableQuestions release: has data/*.tsv, csv/ and tagged/."),
    ],
    out: Annotated[Path, typer.Argument(help="Output directory (created if missing).")],
    grammar: GrammarOption = "wtq",
    strict: StrictOption = False,
    json_output: JsonOption = False,
) -> None:
    """Prepare every SOURCE/data/*.tsv of WikiTableQuestions into OUT.

    Tables come from SOURCE/csv; numbers and dates in cells from the CoreNLP
    copies in SOURCE/tagged when present, and the answers' canonical values
    (what the official evaluator compares with) from the targetCanon column of
    SOURCE/tagged/data/*.tagged, else from mapo's canonicaliser. Bad lines
    (wrong field count, missing or broken table, non-UTF-8 bytes) are skipped
    and listed with their line numbers, unless --strict.
    """
    check_outputs({}, [source], directories={"OUT": out})
    with _progress_bar(not json_output) as progress:
        report = prepare_wtq(source, out, grammar=grammar, strict=strict, progress=progress)
    _finish(report, json_output)


@app.command("csv", cls=MapoCommand)
@reports_errors
def csv(
    questions: Annotated[
        Path,
        typer.Argument(
            help="Question TSV: id, utterance, context (a CSV file under --tables), "
            "targetValue ('|' between answers); the header line is optional."
        ),
    ],
    out: Annotated[Path, typer.Argument(help="Output directory (created if missing).")],
    tables: Annotated[
        Path | None,
        typer.Option(
            "--tables",
            help="Directory the context paths are relative to (default: the directory "
            "of QUESTIONS).",
        ),
    ] = None,
    grammar: GrammarOption = "wtq",
    strict: StrictOption = False,
    json_output: JsonOption = False,
) -> None:
    """Prepare your own questions about your own CSV tables into OUT.

    Each table is a standard CSV file whose first line holds the column
    headers; numbers and dates in cells are recognised by mapo's own parsers.
    """
    check_outputs({"OUT/tables.jsonl": out / "tables.jsonl",
                   f"OUT/{questions.stem}.jsonl": out / f"{questions.stem}.jsonl"}, [questions])
    with _progress_bar(not json_output) as progress:
        report = prepare_csv(
            questions, out, tables_dir=tables, grammar=grammar, strict=strict, progress=progress
        )
    _finish(report, json_output)


@app.command("wikisql", cls=MapoCommand)
@reports_errors
def wikisql(
    source: Annotated[
        Path,
        typer.Argument(
            help="The WikiSQL release: has data/<split>.jsonl and data/<split>.tables.jsonl."
        ),
    ],
    out: Annotated[Path, typer.Argument(help="Output directory (created if missing).")],
    split: SplitOption = None,
    strict: StrictOption = False,
    json_output: JsonOption = False,
) -> None:
    """Prepare WikiSQL's official release into OUT, grammar wikisql.

    Each answer is the question's gold sql executed on its table with the
    official engine's semantics; the sql is kept in the example as metadata.
    Bad lines (broken JSON, a missing table, a malformed sql) are skipped and
    listed with their file and line, unless --strict.
    """
    splits = [name.strip() for value in split or [] for name in value.split(",") if name.strip()]
    check_outputs({}, [source], directories={"OUT": out})
    with _progress_bar(not json_output) as progress:
        report = prepare_wikisql(
            source, out, splits=splits or None, strict=strict, progress=progress
        )
    _finish(report, json_output)
