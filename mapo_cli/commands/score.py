"""`mapo score`: accuracy of a prediction file, as the official WTQ evaluator counts it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mapo_cli.commands.common import console, err_console, print_json, reports_errors
from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import Example, load_examples
from mapo_cli.data.scoring import read_predictions, score_predictions


@reports_errors
def score(
    predictions: Annotated[Path, typer.Argument(
        help="Prediction file: one line per example, id<TAB>answer<TAB>answer...")],
    data: Annotated[Path, typer.Argument(help="Prepared data file (DATA.jsonl) with the targets.")],
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score PREDICTIONS against the answers in DATA with the official WikiTableQuestions rules.

    Strings are compared after the evaluator's normalisation, numbers and
    dates as values ("51,130" = 51130, "January 26, 1995" = 1995-01-26), list
    answers as sets; targets have the canonical values DATA records (CoreNLP's
    targetCanon when `mapo prepare wtq` found it in the release). Accuracy is
    over all examples in DATA: an example without a prediction is wrong.

    Cells of PREDICTIONS are read as the official evaluator.py reads them, as
    they stand: nothing is unescaped (\\n is a backslash and an n).
    """
    report = score_predictions(*_read(predictions, data))
    if json_output:
        print_json({"accuracy": report.accuracy, "correct": report.correct,
                    "total": report.total, "missing": report.missing,
                    "unknown": len(report.unknown)})
        return
    if report.unknown:
        err_console.print(
            f"[yellow]warning:[/] {len(report.unknown)} prediction(s) for ids not in "
            f"{data.name} (ignored), e.g. {report.unknown[0]}", highlight=False, soft_wrap=True)
    table = Table(title=f"{predictions.name} on {data.name}", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_row("accuracy", f"{100 * report.accuracy:.2f} %")
    table.add_row("correct / total", f"{report.correct} / {report.total}")
    table.add_row("missing predictions", str(report.missing))
    console.print(table)


USAGE = ("mapo score takes PREDICTIONS (a TSV of id<TAB>answer...) first and DATA (prepared "
         "data JSONL, from `mapo prepare`) second")


def _read(predictions: Path, data: Path) -> tuple[dict[str, list[str]], list[Example]]:
    """Both files, with what was expected when they are swapped or not what they should be."""
    found = read_predictions(predictions)
    if found and all(key.lstrip().startswith("{") for key in found):
        raise MapoError(f"{predictions}: JSON lines, not predictions — {USAGE}")
    try:
        examples = load_examples(data)
    except MapoError as error:
        raise MapoError(f"{error} — {USAGE}") from None
    if not examples:
        raise MapoError(f"{data}: no examples to score against")
    return found, examples
