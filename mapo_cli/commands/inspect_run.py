"""`mapo inspect run`: a run's configuration and metrics, or several runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich import box
from rich.table import Table

from mapo_cli.commands.common import (
    JsonOption,
    console,
    print_json,
    reports_errors,
)
from mapo_cli.commands.paths import check_outputs, check_writable
from mapo_cli.core.ranges import check_options
from mapo_cli.learn.bundled import named


@reports_errors
def inspect_run(
    runs: Annotated[list[Path], typer.Argument(help="One or more run directories (`mapo train "
                                               "--run`) or bundled models' names.")],
    plot: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--plot", help="Draw the learning curves of all runs into this image (PNG).")] = None,
    rows: Annotated[int, typer.Option(help="Metrics records shown per run (the latest).")] = 15,
    json_output: JsonOption = False,
) -> None:
    """Show runs: configuration, metrics, best dev accuracy; --plot draws learning curves.

    The curves are dev accuracy, train return, memory coverage and the
    fraction of examples whose π(B) was clipped at α, over learner steps; give
    several runs to compare them on one figure (the paper's Figure 3).
    """
    from mapo_cli.analysis.run_report import differing_settings, load_run, plot_runs

    check_options(rows=rows)
    if plot is not None:
        check_writable(plot)
    runs = [named(run) for run in runs]
    check_outputs({"--plot": plot}, runs)
    infos = [load_run(run) for run in runs]
    if plot is not None:
        plot_runs(infos, plot)
    if json_output:
        print_json({"runs": [info.to_json() for info in infos],
                    "differing_settings": differing_settings(infos),
                    "plot": str(plot) if plot else None})
        return
    if len(infos) == 1:
        _show_one_run(infos[0], rows)
    else:
        _show_comparison(infos, differing_settings(infos))
    if plot is not None:
        console.print(f"learning curves written to {plot}", highlight=False, soft_wrap=True)


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


METRIC_COLUMNS = (("step", False), ("seconds", False), ("dev_accuracy", True),
                  ("train_return", False), ("memory_coverage", True), ("clipped_fraction", True),
                  ("samples_per_second", False), ("loss", False))


def _show_one_run(info: Any, rows: int) -> None:
    console.print(f"run {info.path}", highlight=False, soft_wrap=True)  # a path, never folded
    config = Table(title="config", show_header=False)
    config.add_column("setting", style="bold")
    config.add_column("value", overflow="fold")
    for key, value in info.config.items():
        config.add_row(key, str(value))
    summary = info.summary()
    records = len(info.metrics)
    metrics = Table(title=f"metrics ({records} record{'' if records == 1 else 's'}"
                    + (f", the latest {rows})" if records > rows else ")"))
    for key, _ in METRIC_COLUMNS:
        metrics.add_column(key.replace("_", " "), justify="right")
    for record in info.metrics[-rows:] if rows > 0 else []:
        metrics.add_row(*[_fmt(record.get(key), percent) for key, percent in METRIC_COLUMNS])
    best = (f"best dev accuracy {_fmt(summary['best_dev_accuracy'], True)} at step "
            f"{_fmt(summary['best_step'])}")
    console.print(config, metrics, best, highlight=False)


def _show_comparison(infos: list[Any], differing: list[str]) -> None:
    """A row per run (labelled with its objective), then a row per run and differing setting:
    at 80 columns no number is cut, and labels and values wrap within their columns."""
    from mapo_cli.analysis.run_report import run_labels

    labels = run_labels(infos)
    table = Table(title="runs", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    columns = ["run", "steps", "best\ndev", "last\ndev", "return", "coverage", "clipped",
               "samples\nper s"]
    for column in columns:
        table.add_column(column, justify="left" if column == "run" else "right",
                         overflow="fold", no_wrap=column != "run",
                         min_width=12 if column == "run" else None)
    for info in infos:
        s = info.summary()
        table.add_row(labels[id(info)], _fmt(s["steps"]),
                      _fmt(s["best_dev_accuracy"], True), _fmt(s["last_dev_accuracy"], True),
                      _fmt(s["train_return"]), _fmt(s["memory_coverage"], True),
                      _fmt(s["clipped_fraction"], True), _fmt(s["samples_per_second"]))
    console.print(table)
    if differing:
        settings = Table(title="settings that differ", box=box.SIMPLE_HEAD, show_edge=False,
                         padding=(0, 1, 0, 0))
        for column in ("setting", "run", "value"):
            settings.add_column(column, style="bold" if column == "setting" else None,
                                overflow="fold")
        for key in differing:
            for k, info in enumerate(infos):
                settings.add_row(key if k == 0 else "", labels[id(info)],
                                 str(info.config.get(key, "-")))
        console.print(settings)
