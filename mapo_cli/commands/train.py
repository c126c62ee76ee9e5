"""`mapo train`: the actor-learner MAPO loop into a run directory."""

from __future__ import annotations

import dataclasses
import inspect
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, TextColumn, TimeRemainingColumn

from mapo_cli.commands.common import (
    LazyProgress,
    console,
    count_progress,
    err_console,
    open_cluster,
    print_json,
    reports_errors,
)
from mapo_cli.commands.paths import check_outputs, check_writable
from mapo_cli.core.ranges import RANGES
from mapo_cli.learn.config import PATHS, TrainConfig

# The options not of the settings; those of the settings (TrainConfig's fields) are made from
# their declaration below. A setting not given (None, a switch left off) comes from --config,
# else with --resume from RUN/config.toml, else from TrainConfig's default. --train, --dev and
# --store are required, but typer cannot say so: --config or RUN/config.toml may give them.
REQUIRED = "\\[required unless in --config]"
RunOption = Annotated[Path, typer.Option("--run", help="Run directory (checkpoints, metrics, config).")]
ConfigOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--config", help="TOML file of settings: any option below by its name (learning_rate = "
    "0.001); the command line wins over it.")]
ResumeOption = Annotated[bool, typer.Option("--resume", help="Continue RUN from its last checkpoint.")]
OverwriteOption = Annotated[bool, typer.Option(
    "--overwrite", help="Delete RUN and start again (only a directory that holds nothing but "
    "a run).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON summary.")]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


@reports_errors
def train(run: Path, config: Path | None = None, resume: bool = False, overwrite: bool = False,
          json_output: bool = False, **given: Any) -> None:
    """Train a semantic parser with MAPO (Algorithm 2) from a store's memory buffers.

    The effective configuration is saved in RUN/config.toml; `--resume`
    continues a stopped run where its last checkpoint left off.
    """
    settings = _settings(config, run, resume, _flags(given)).check()
    check_writable(run, directory=True)
    data = [Path(settings.train), Path(settings.dev), config]
    check_outputs({}, [*data, Path(settings.store)], directories={"--run": run})
    if not settings.read_only_store:  # the store is written in place
        check_outputs({}, data, directories={"--store": Path(settings.store)})
    summary = _train_showing_progress(settings, run, resume, overwrite, json_output)
    _report(summary, run, json_output)


def _option(declared: dataclasses.Field) -> inspect.Parameter:
    """The `mapo train` option of one setting: its name, type, help, default and range."""
    default, name = declared.default, "--" + declared.name.replace("_", "-")
    text = escape(declared.metadata["help"]).removesuffix(".")
    if isinstance(default, bool):  # a switch: given, it sets the value against its default
        flag = declared.metadata["switch"] or name
        return inspect.Parameter(declared.name, inspect.Parameter.KEYWORD_ONLY, default=False,
                                 annotation=Annotated[bool, typer.Option(flag, help=text + ".")])
    details = [f"default {default}"] if default != "" else []
    if declared.name in RANGES:
        details.append(escape(RANGES[declared.name].describe()))
    text += f" ({'; '.join(details)})." if details else "."
    kind: type = Path if declared.name in PATHS else type(default)
    if declared.name in PATHS:
        text += f" {REQUIRED}"
    return inspect.Parameter(declared.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[kind],  # noqa: UP045
                                                  typer.Option(name, help=text)])


def _flags(given: dict[str, Any]) -> dict[str, Any]:
    """The settings given on the command line, as TrainConfig values (None: not given)."""
    flags = {}
    for declared in dataclasses.fields(TrainConfig):
        value = given.get(declared.name)
        if isinstance(declared.default, bool):
            value = (not declared.default) if value else None
        elif isinstance(value, Path):
            value = str(value)
        flags[declared.name] = value
    return flags


train.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
    inspect.Parameter("run", inspect.Parameter.KEYWORD_ONLY, annotation=RunOption),
    *(_option(declared) for declared in dataclasses.fields(TrainConfig)),
    inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation=ConfigOption),
    inspect.Parameter("resume", inspect.Parameter.KEYWORD_ONLY, default=False,
                      annotation=ResumeOption),
    inspect.Parameter("overwrite", inspect.Parameter.KEYWORD_ONLY, default=False,
                      annotation=OverwriteOption),
    inspect.Parameter("json_output", inspect.Parameter.KEYWORD_ONLY, default=False,
                      annotation=JsonOption),
])
train.__annotations__ = {p.name: p.annotation for p in train.__signature__.parameters.values()}


def _settings(config: Path | None, run: Path, resume: bool, flags: dict) -> TrainConfig:
    """Flags over --config over the resumed run's config.toml over the defaults."""
    from mapo_cli.learn.config import absolute_paths, merge, read_config_file
    from mapo_cli.learn.run_dir import CONFIG

    file_values = read_config_file(config) if config else {}
    if resume and (run / CONFIG).is_file():
        file_values = {**read_config_file(run / CONFIG), **file_values}
    return absolute_paths(merge(file_values, flags))


def _train_showing_progress(settings: TrainConfig, run: Path, resume: bool, overwrite: bool,
                            json_output: bool) -> dict:
    """Train with a live bar on stderr (none with --json); return the run's summary."""
    from mapo_cli.learn.train import train as run_training

    # With a time budget the bar measures time; else it measures steps.
    by_time = bool(settings.seconds)
    progress = LazyProgress(TextColumn("[bold]train"), BarColumn(),
                            TextColumn("step {task.fields[step]}"),
                            TextColumn("{task.fields[rate]:>7.1f} samples/s"),
                            TextColumn("dev {task.fields[dev]}"),
                            TextColumn("best {task.fields[best]}"), TimeRemainingColumn(),
                            total=settings.seconds if by_time else settings.steps,
                            disable=json_output, step=0, rate=0.0, dev="-", best="-")
    with open_cluster(settings.backend, settings.ray_address, json_output,
                      settings.actors) as cluster, \
            count_progress("encode", disable=json_output) as encoding, progress:

        def show(p) -> None:
            fields = {"completed": p.elapsed if by_time else p.step, "step": p.step,
                      "rate": p.samples_per_second, "best": _pct(p.best_accuracy)}
            if p.dev_accuracy is not None:
                fields["dev"] = _pct(p.dev_accuracy)
            progress.update(**fields)

        return run_training(settings, run, resume=resume, overwrite=overwrite, on_progress=show,
                            on_encoding=encoding.until_done, cluster=cluster,
                            memory_filter=_memory_choice(settings, json_output))


def _memory_choice(settings: TrainConfig, json_output: bool) -> Callable:
    """The buffers `--drop-spurious` keeps (the verdicts over the training data) in the
    order `--memory-order` asks for, each with a bar."""

    def chosen(data):
        from mapo_cli.analysis.grounding import grounded_memory
        from mapo_cli.analysis.spurious import likely_correct_memory

        memory, expressions = data.memory, data.store_settings.get("max_expressions")
        if settings.drop_spurious:
            with count_progress("verdicts", disable=json_output) as bar:
                memory = likely_correct_memory(memory, data.train, data.tables, data.grammar,
                                               expressions, bar)
        if settings.memory_order == "grounded":
            with count_progress("grounding", disable=json_output) as bar:
                memory = grounded_memory(memory, data.train, data.tables, data.grammar,
                                         expressions, bar)
        return memory

    return chosen


def _report(summary: dict, run: Path, json_output: bool) -> None:
    """The summary as JSON or one line; a run stopped by a signal exits 128 + its number."""
    if json_output:
        print_json(summary)
    if summary.get("stopped_by"):
        err_console.print(f"stopped by {summary['stopped_by']} at step {summary.get('steps')}; "
                          f"a checkpoint was saved: continue with --resume", highlight=False)
        raise typer.Exit(128 + signal.Signals[summary["stopped_by"]].value)
    if json_output:
        return
    console.print(f"step {summary.get('steps')}: dev accuracy {_pct(summary.get('dev_accuracy'))}, "
                  f"best {_pct(summary.get('best_dev_accuracy'))}, "
                  f"{summary.get('samples_per_second', 0):.1f} samples/s — run in {run}",
                  highlight=False, soft_wrap=True)
