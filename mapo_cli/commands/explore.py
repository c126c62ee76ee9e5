"""`mapo explore`: fill a store with memory buffers by systematic exploration."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from mapo_cli.commands.common import (
    BackendOption,
    LazyProgress,
    RayAddressOption,
    console,
    err_console,
    open_cluster,
    print_json,
    reports_errors,
)
from mapo_cli.commands.paths import check_outputs, data_inputs

if TYPE_CHECKING:
    from mapo_cli.search.explore import ExploreSettings

SUMMARY_KEYS = ("examples", "covered", "coverage", "programs", "programs_per_second", "seconds",
                "store_bytes", "bits_per_prefix")


@reports_errors
def explore(
    data: Annotated[Path, typer.Argument(help="Prepared data file (DATA.jsonl).")],
    store: Annotated[Path, typer.Option("--store", help="Store directory (created if new).")],
    workers: Annotated[int, typer.Option(
        help="Chunks explored at once (default: all cores, or the Ray cluster's CPUs).")] = 0,
    samples_per_example: Annotated[int, typer.Option(
        help="New programs to sample per example (a re-run with a larger K continues).")] = 10000,
    max_expressions: Annotated[int, typer.Option(
        help="Maximum expressions per program (default: the grammar's).")] = 0,
    seconds: Annotated[float, typer.Option(
        help="Stop cleanly after this many seconds (0: no limit); re-run to resume.")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    no_triggers: Annotated[bool, typer.Option(
        "--no-triggers", help="Offer every function, not only those the question's words trigger.")] = False,
    relax_triggers: Annotated[bool, typer.Option(
        "--relax-triggers", help="Explore an example again with every function once all that "
        "its trigger words allow is explored and none answers it.")] = False,
    exact: Annotated[bool, typer.Option(
        "--exact", help="Keep explored prefixes in an exact set instead of a bloom filter.")] = False,
    error_rate: Annotated[float, typer.Option(
        help="Target false-positive rate of the explored-prefix bloom filters.")] = 0.01,
    chunk: Annotated[int, typer.Option(
        help="Samples per work unit (0: a whole example); a kill loses at most one unit per worker.")] = 0,
    repair: Annotated[bool, typer.Option(
        "--repair", help="Drop the examples with damaged values (`mapo inspect store --verify`) "
        "and explore them again; upgrades an older store in place.")] = False,
    backend: BackendOption = "local",
    ray_address: RayAddressOption = "",
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON summary object.")] = False,
) -> None:
    """Search for programs that answer each example (the paper's Algorithm 1) into STORE.

    Workers compute; this process alone writes the store, in batched
    transactions, so a stopped or killed run resumes where it ended.
    """
    from mapo_cli.core.cluster import check_backend
    from mapo_cli.core.errors import MapoError, Stopped
    from mapo_cli.core.ranges import check_options
    from mapo_cli.data.dataset import load_examples

    check_options(workers=workers, samples_per_example=samples_per_example,
                  max_expressions=max_expressions, seconds=seconds, seed=seed,
                  error_rate=error_rate, chunk=chunk)
    check_backend(backend, ray_address)
    if no_triggers and relax_triggers:
        raise MapoError("--relax-triggers widens the triggered functions, --no-triggers has "
                        "none to widen: give one of them")
    check_outputs({}, data_inputs(data), directories={"--store": store})
    examples = load_examples(data)
    if not examples:
        raise MapoError(f"{data}: no examples")
    settings = _settings(examples[0]["grammar"], max_expressions, no_triggers, relax_triggers,
                         exact, error_rate)
    summary = _explore_showing_progress(
        data, store, settings, len(examples), json_output, workers=workers,
        samples_per_example=samples_per_example, seconds=seconds or None, seed=seed,
        chunk=chunk or samples_per_example, repair=repair, backend=backend,
        ray_address=ray_address)
    if json_output:
        print_json(summary)
    else:
        for error in summary["errors"][:20]:
            err_console.print(f"[yellow]example failed:[/] {escape(str(error))}", highlight=False,
                              soft_wrap=True)
        console.print(summary_table(summary, "exploration"))
        if repair:
            console.print("damaged examples explored again: "
                          + escape(", ".join(summary["repaired"]) or "none"), highlight=False)
        if repair and summary["dropped"]:
            console.print("damaged examples dropped, not in DATA (explore their data to redo "
                          "them): " + escape(", ".join(summary["dropped"])), highlight=False)
    if summary["stopped_by"]:
        raise Stopped(signal.Signals[summary["stopped_by"]],
                      f"stopped by {summary['stopped_by']} after {summary['examples_done']} of "
                      f"{len(examples)} examples; run the same command again to resume")
    if summary["errors"]:
        raise MapoError(f"{len(summary['errors'])} of {len(examples)} examples failed "
                        f"(e.g. {summary['errors'][0]}); the others are stored")
    if not summary["finished"] and not json_output:
        console.print("stopped before every example was done: run the same command to resume")


def _settings(grammar_name: str, max_expressions: int, no_triggers: bool, relax_triggers: bool,
              exact: bool, error_rate: float) -> ExploreSettings:
    """What the store's fingerprint is made of: exploring into a store again must match it."""
    from mapo_cli.language.grammar import load_grammar
    from mapo_cli.search.explore import ExploreSettings

    grammar = load_grammar(grammar_name)
    return ExploreSettings(
        grammar=grammar_name,
        max_expressions=max_expressions or grammar.max_expressions,
        triggers=not no_triggers,
        relax_triggers=relax_triggers,
        filter_mode="exact" if exact else "bloom",
        error_rate=0.0 if exact else error_rate,
    )


def _explore_showing_progress(data: Path, store: Path, settings: ExploreSettings, total: int,
                              json_output: bool, **options: Any) -> dict:
    """`explore_data(data, store, settings, **options)` with a live bar on stderr (none with --json)."""
    from mapo_cli.search.driver import explore_data

    backend, address = options.pop("backend"), options.pop("ray_address")
    progress = LazyProgress(
        TextColumn("[bold]explore"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} programs/s"),
        TextColumn("coverage {task.fields[coverage]:.1%}"), TimeRemainingColumn(),
        total=total, disable=json_output, rate=0.0, coverage=0.0)
    with open_cluster(backend, address, json_output) as cluster, progress:

        def show(p) -> None:
            progress.update(completed=p.done, rate=p.samples / max(p.seconds, 1e-9),
                            coverage=p.covered / max(p.total, 1))

        return explore_data(data, store, settings, on_progress=show, cluster=cluster, **options)


def summary_table(summary: dict, title: str) -> Table:
    """The store summary as a two-column table (shared with `mapo inspect store`)."""
    table = Table(title=title, show_header=False)
    labels = {
        "examples": "examples", "covered": "covered (≥1 reward-1 program)", "coverage": "coverage",
        "programs": "programs sampled", "memory_programs": "programs in memory",
        "exhausted": "exhausted examples", "dead_ends": "dead ends",
        "relaxed": "examples explored past their trigger words",
        "programs_per_second": "programs / second (this run)", "seconds": "seconds (this run)",
        "store_bytes": "store size", "bits_per_prefix": "filter bits per explored prefix",
        "false_positive_rate": "measured filter false-positive rate",
    }
    for key, label in labels.items():
        if key not in summary:
            continue
        value = summary[key]
        if key == "coverage" or key == "false_positive_rate":
            text = f"{value:.2%}" if value is not None else "-"
        elif key == "store_bytes":
            text = f"{value / 2**20:.1f} MiB"
        elif isinstance(value, float):
            text = f"{value:,.1f}"
        else:
            text = f"{value:,}" if isinstance(value, int) else str(value)
        table.add_row(label, text)
    return table
