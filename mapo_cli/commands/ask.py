"""`mapo ask`: a trained parser answers questions about the user's own table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mapo_cli.commands.common import (
    BeamOrderOption,
    DeviceOption,
    RerankerOption,
    console,
    err_console,
    print_json,
    reports_errors,
)
from mapo_cli.core.errors import MapoError, UsageError
from mapo_cli.core.ranges import check_options
from mapo_cli.data.limits import Limits

if TYPE_CHECKING:
    from mapo_cli.analysis.ask import Reply


@reports_errors
def ask(
    paths: Annotated[list[str], typer.Argument(
        metavar="[RUN...] TABLE [QUESTION]", show_default=False,
        help="Run directories, checkpoint files or bundled models' names (`mapo models`; "
        "several answer as an ensemble), the table (CSV, or TSV if it ends in .tsv; header "
        "row first), and the question. Without a run, the bundled model wtq answers: a first "
        "argument that is a file (not a .pt checkpoint) is the table. A path that exists "
        "wins over a bundled model's name. Without a question, questions are read one per "
        "line from standard input.")],
    beam: Annotated[int, typer.Option(help="Beam size (the paper decodes with 5).")] = 5,
    top: Annotated[int, typer.Option(help="Programs shown per question.")] = 3,
    max_rows: Annotated[int, typer.Option(
        help="Refuse a table with more rows: answers take longer the larger the table.")
    ] = Limits.rows,
    max_columns: Annotated[int, typer.Option(
        help="Refuse a table with more columns.")] = Limits.columns,
    reranker: RerankerOption = None,
    beam_order: BeamOrderOption = False,
    device: DeviceOption = "cpu",
    trace: Annotated[bool, typer.Option(
        "--trace", help="Show what each expression of the programs computed.")] = False,
    json_output: Annotated[bool, typer.Option(
        "--json", help="One JSON object per question: question, answer, tokens, entities, "
        "programs (notation, probability, answer, trace).")] = False,
) -> None:
    """Answer QUESTION about TABLE with a trained parser: its best programs and their answers.

    mapo ask cities.csv "which city has the most people?" asks the bundled
    WikiTableQuestions model (`mapo models`); mapo ask RUN cities.csv ... a run
    of your own. A lone run with its own reranker.json (as the bundled model
    has) is ranked by it; --beam-order ranks by the beam instead.

    The table is read and typed as `mapo prepare csv` does and the question is
    linked against it as `prepare` does; beam search with code assistance
    writes the programs, the most probable first.
    """
    from mapo_cli.analysis.ask import Parser

    check_options(beam=beam, top=top, max_rows=max_rows, max_columns=max_columns)
    runs, table_path, question = _split(paths)
    parser = Parser.load(*runs, reranker=reranker, beam_order=beam_order,
                         limits=Limits(rows=max_rows, columns=max_columns), device=device)
    table = parser.table(table_path)
    questions = [question] if question is not None else _stdin_questions()
    for text in questions:
        reply = parser.ask(table, text, beam=beam, top=top)
        if json_output:
            print_json(reply.to_json())
        else:
            _show(reply, trace)


def _split(paths: list[str]) -> tuple[list[str], Path, str | None]:
    """[RUN...] TABLE [QUESTION]: a first argument that is a file other than a checkpoint
    is the table (the bundled model answers); else the last argument is the table if it
    names a file."""
    if any(not path.strip() for path in paths[:-1]):
        raise UsageError("an empty path names nothing: give a table (and runs)")
    if _is_file(paths[0]) and not paths[0].endswith(".pt"):
        if len(paths) > 2:
            raise UsageError(f"{paths[0]} is a file, so it is read as the table and the "
                             "bundled model answers; give one question after it (or name "
                             "runs before the table: mapo ask RUN TABLE QUESTION)")
        return [], Path(paths[0]), paths[1] if len(paths) == 2 else None
    if len(paths) >= 2 and _is_file(paths[-1]):
        return paths[:-1], Path(paths[-1]), None
    if len(paths) >= 3:
        return paths[:-2], Path(paths[-2]), paths[-1]
    table = paths[1] if len(paths) == 2 and Path(paths[0]).is_dir() else paths[0]
    raise MapoError(f"{table}: no such table file; give a table and a question (or "
                    "questions on standard input): mapo ask TABLE.csv \"QUESTION\", or "
                    "mapo ask RUN TABLE.csv \"QUESTION\"")


def _is_file(text: str) -> bool:
    """Whether an argument names a file (a question may be too long for a file name)."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def _stdin_questions():
    """Questions one per line; blank lines are skipped."""
    if sys.stdin.isatty():
        err_console.print("one question per line; end with Ctrl-D", highlight=False)
    for line in sys.stdin:
        if line.strip():
            yield line.strip()


def _show(reply: Reply, trace: bool) -> None:
    found = ", ".join(f"{e['value']} ({e['type']})" for e in reply.entities) or "none"
    _line(f"question: {reply.question}")
    _line(f"entities: {found}")
    if not reply.programs:
        _line("no valid program on this table")
    for rank, written in enumerate(reply.programs, start=1):
        _line(f"{rank}. {written.probability:.3f}  {written.program}")
        if trace:
            for name, value in written.trace:
                _line(f"     {name} = {value}")
        _line(f"     → {' | '.join(written.answer)}")
    _line(f"answer: {' | '.join(reply.answer)}")


def _line(text: str) -> None:
    """Cells and programs as they are: no markup, no wrapping inside a program."""
    console.print(text, highlight=False, markup=False, soft_wrap=True)
