"""The `mapo` command: one typer app assembled from one module per subcommand."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from mapo_cli import __version__
from mapo_cli.commands import ask as ask_command
from mapo_cli.commands import decode as decode_command
from mapo_cli.commands import exec as exec_command
from mapo_cli.commands import explore as explore_command
from mapo_cli.commands import inspect as inspect_command
from mapo_cli.commands import models as models_command
from mapo_cli.commands import prepare as prepare_command
from mapo_cli.commands import rerank as rerank_command
from mapo_cli.commands import score as score_command
from mapo_cli.commands import serve as serve_command
from mapo_cli.commands import train as train_command
from mapo_cli.commands.common import MapoCommand, MapoGroup

app = typer.Typer(
    cls=MapoGroup,
    help="Learn semantic parsers from question-answer pairs with Memory Augmented Policy "
    "Optimization (MAPO).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mapo {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print mapo's version and exit.")] = False,
) -> None:
    """Learn semantic parsers from question-answer pairs with MAPO."""


app.add_typer(prepare_command.app, name="prepare", help="Convert a dataset into prepared data.")
app.command("exec", cls=MapoCommand)(exec_command.exec_program)
app.command("score", cls=MapoCommand)(score_command.score)
app.command("explore", cls=MapoCommand)(explore_command.explore)
app.command("train", cls=MapoCommand)(train_command.train)
app.command("decode", cls=MapoCommand)(decode_command.decode)
app.command("rerank", cls=MapoCommand)(rerank_command.rerank)
app.command("ask", cls=MapoCommand)(ask_command.ask)
app.command("models", cls=MapoCommand)(models_command.models)
app.command("serve", cls=MapoCommand)(serve_command.serve)
app.add_typer(inspect_command.app, name="inspect", help="Analyse stores and runs.")

QUICK_EXIT = frozenset({"ask", "models"})
"""Commands that only read and print, and hold nothing open when they return: the `mapo`
program leaves after them without the interpreter's teardown, which takes 0.4 s once torch
is loaded (a third of a question's answer time)."""


def run() -> None:
    """The `mapo` program (pyproject's entry point): the app, then the quick exit."""
    try:
        app()
    except SystemExit as done:
        if len(sys.argv) > 1 and sys.argv[1] in QUICK_EXIT and isinstance(done.code, int | None):
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(done.code or 0)
        raise


if __name__ == "__main__":  # pragma: no cover
    run()
