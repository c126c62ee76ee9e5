"""The `mapo` command: one typer app assembled from one module per subcommand."""

from __future__ import annotations

import typer

from mapo_cli.commands import exec as exec_command

app = typer.Typer(
    help="Learn semantic parsers from question-answer pairs with Memory Augmented Policy "
    "Optimization (MAPO).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("exec")(exec_command.exec_program)

try:  # commands still being built register themselves when their module exists
    from mapo_cli.commands import prepare as prepare_command

    app.add_typer(prepare_command.app, name="prepare")
except ImportError:  # pragma: no cover
    pass
try:
    from mapo_cli.commands import score as score_command

    app.command("score")(score_command.score)
except ImportError:  # pragma: no cover
    pass


if __name__ == "__main__":  # pragma: no cover
    app()
