"""`mapo models`: the trained parsers that ship with mapo, usable by name wherever RUN is."""

from __future__ import annotations

from rich.table import Table

from mapo_cli.commands.common import JsonOption, console, print_json, reports_errors


@reports_errors
def models(json_output: JsonOption = False) -> None:
    """List the bundled models: their data, beam-5 dev accuracy, size and place.

    A bundled model's name works wherever a command takes RUN (`mapo ask wtq
    TABLE QUESTION`, `mapo decode wtq DATA`, `mapo inspect run wtq`); a path
    that exists wins over a name. `mapo ask TABLE QUESTION` uses the default
    one. Each has a MODEL_CARD.md beside its weights: how it was trained, its
    limits, and how to train it again (`make model`).
    """
    from mapo_cli.learn.bundled import bundled_models

    found = bundled_models()
    if json_output:
        print_json({"models": [model.to_json() for model in found]})
        return
    if not found:
        console.print("no bundled model in this install", highlight=False)
        return
    table = Table(title="bundled models")
    for column in ("name", "trained on", "dev accuracy (beam 5)", "with its reranker", "size"):
        table.add_column(column, justify="left" if column in ("name", "trained on") else "right",
                         overflow="fold")
    for model in found:
        info = model.info
        table.add_row(model.name + (" (default)" if model.default else ""),
                      str(info.get("trained_on", "?")), _percent(info.get("dev_accuracy")),
                      _percent(info.get("dev_accuracy_reranked")),
                      f"{model.size_bytes / 1e6:.1f} MB")
    console.print(table)
    for model in found:
        console.print(f"{model.name}: {model.path}", highlight=False, soft_wrap=True)


def _percent(value: object) -> str:
    return f"{100 * value:.2f} %" if isinstance(value, (int, float)) else "-"
