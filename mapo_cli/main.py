"""The `mapo` command: one typer app assembled from one module per subcommand."""

from __future__ import annotations

import typer

from mapo_cli.commands import ask as ask_command
from mapo_cli.commands import decode as decode_command
from mapo_cli.commands import exec as exec_command
from mapo_cli.commands import explore as explore_command
from mapo_cli.commands import inspect as inspect_command
from mapo_cli.commands import prepare as prepare_command
from mapo_cli.commands import score as score_command
from mapo_cli.commands import train as train_command

app = typer.Typer(
    help="Learn semantic parsers from question-answer pairs with Memory Augmented Policy "
    "Optimization (MAPO).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(prepare_command.app, name="prepare", help="Convert a dataset into prepared data.")
app.command("exec")(exec_command.exec_program)
app.command("score")(score_command.score)
app.command("explore")(explore_command.explore)
app.command("train")(train_command.train)
app.command("decode")(decode_command.decode)
app.command("ask")(ask_command.ask)
app.add_typer(inspect_command.app, name="inspect", help="Analyse stores and runs.")


if __name__ == "__main__":  # pragma: no cover
    app()
