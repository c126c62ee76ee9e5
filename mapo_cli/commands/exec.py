"""`mapo exec`: run one program on one example's table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from mapo_cli.commands.common import console, err_console, print_json, reports_errors
from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import find_example, load_examples, load_tables


@reports_errors
def exec_program(
    data: Annotated[Path, typer.Argument(help="Prepared data file (DATA.jsonl).")],
    example_id: Annotated[str, typer.Argument(help="Example id, e.g. nt-10832.")],
    program: Annotated[str, typer.Argument(
        help="Program, e.g. '(argmax all_rows r.points-num) (hop v0 r.player-str)'.")],
    trace: Annotated[bool, typer.Option("--trace", help="Show the value of every v<i>.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run PROGRAM on the table of EXAMPLE_ID: print its answer and its reward.

    An invalid program is reported with the token at fault and why (exit code 2).
    """
    from mapo_cli.analysis.execution import execute

    example = find_example(load_examples(data), example_id)
    table = load_tables(data, {example["table"]}).get(example["table"])
    if table is None:
        raise MapoError(f"table {example['table']} of {example_id} is not in tables.jsonl")
    result = execute(example, table, program)
    if json_output:
        print_json({"id": example_id, "answer": result.answer, "reward": result.reward,
                    "target": example["answer"], "notes": result.notes,
                    "trace": {name: text for name, text in result.trace}})
        return
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if trace:
        for name, text in result.trace:
            console.print(f"{name} = {text}", highlight=False, markup=False)
    console.print(f"answer: {' | '.join(result.answer)}", highlight=False, markup=False)
    console.print(f"target: {' | '.join(example['answer'])}", highlight=False, markup=False)
    console.print(f"reward: {result.reward:g}", highlight=False)
