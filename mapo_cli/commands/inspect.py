"""`mapo inspect`: look inside stores (and, later, runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mapo_cli.commands.common import console, print_json, reports_errors

app = typer.Typer(help="Analyse stores: coverage, programs, filters.", no_args_is_help=True)


@app.command("store")
@reports_errors
def inspect_store(
    store: Annotated[Path, typer.Argument(help="Store directory written by `mapo explore`.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Summarise a store: examples, coverage, programs, filter bits per prefix.

    Safe while another process writes the store: it reads one consistent snapshot.
    """
    from mapo_cli.commands.explore import summary_table
    from mapo_cli.store import Store

    with Store.open_readonly(store) as opened:
        summary = opened.summary()
        summary["fingerprint"] = opened.fingerprint
    if json_output:
        print_json(summary)
        return
    console.print(summary_table(summary, f"store {store}"))
