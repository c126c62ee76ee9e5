"""`mapo decode`: beam search with a trained run over a data file, scored like `mapo score`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from mapo_cli.commands.common import (
    BackendOption,
    BeamOrderOption,
    DeviceOption,
    RayAddressOption,
    RerankerOption,
    console,
    count_progress,
    err_console,
    open_cluster,
    print_json,
    reports_errors,
)
from mapo_cli.commands.paths import (
    check_outputs,
    check_writable,
    data_inputs,
    run_inputs,
)
from mapo_cli.core.errors import MapoError
from mapo_cli.core.ranges import check_options

if TYPE_CHECKING:
    from mapo_cli.analysis.decode import DecodeReport


@reports_errors
def decode(
    paths: Annotated[list[Path], typer.Argument(
        metavar="RUN... DATA", show_default=False,
        help="One or more run directories (each's best checkpoint is used), checkpoint "
        "files (NAME.pt) or bundled models' names (`mapo models`; a path that exists wins), "
        "then the prepared data file (DATA.jsonl) with its answers. Several runs decode as "
        "an ensemble.")],
    beam: Annotated[int, typer.Option(help="Beam size (the paper decodes with 5).")] = 5,
    out: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--out", help="Write predictions here in the official format (id<TAB>answer...); "
        "whitespace inside an answer, line breaks included, is written as one space.")] = None,
    programs: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--programs", help="Write each example's beam here (JSONL: programs in notation, "
        "probabilities, answers, rewards; for an ensemble, also each run's log probability "
        "of every pooled program).")] = None,
    workers: Annotated[int, typer.Option(
        help="Worker processes, each with its own copy of the model (0: all cores), or with "
        "--backend ray chunks decoded at once (0: the cluster's CPUs).")] = 0,
    batch: Annotated[int, typer.Option(
        help="Examples decoded together in one batched beam search.")] = 32,
    reranker: RerankerOption = None,
    beam_order: BeamOrderOption = False,
    backend: BackendOption = "local",
    ray_address: RayAddressOption = "",
    device: DeviceOption = "cpu",
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object: accuracy, correct, total, seconds, "
        "examples_per_second, no_program, ... and, for an ensemble, its members alone "
        "(and the reranker).")] = False,
) -> None:
    """Decode DATA with beam search and code assistance; report accuracy over all its examples.

    The answer of each example is the one of the most probable program in its
    beam; an example without any valid program counts as wrong, so the
    accuracy equals `mapo score` on the predictions written with --out.
    The checkpoint must have been trained with the grammar DATA was prepared for.

    With several runs (an ensemble, as the paper's): every run's beam programs
    are pooled and ranked by the runs' mean probability, or by --reranker. A
    lone run with its own reranker.json (a bundled model) is ranked by it.
    """
    from mapo_cli.analysis.decode import decode_file
    from mapo_cli.analysis.ensemble import ensemble_file
    from mapo_cli.analysis.rerank import load_reranker
    from mapo_cli.data.dataset import write_jsonl
    from mapo_cli.data.scoring import write_predictions
    from mapo_cli.learn.bundled import named, ranking

    check_options(beam=beam, workers=workers, batch=batch)
    if len(paths) < 2:
        raise MapoError("give at least one run (or checkpoint) and then the data file")
    models, data = [named(run) for run in paths[:-1]], paths[-1]
    reranker = ranking(models, reranker, beam_order)
    for output in (out, programs):
        if output is not None:
            check_writable(output)
    check_outputs({"--out": out, "--programs": programs},
                  [*data_inputs(data), reranker, *(p for run in models for p in run_inputs(run))])
    ranker = load_reranker(reranker) if reranker is not None else None
    with open_cluster(backend, ray_address, json_output) as cluster, \
            count_progress("encode", disable=json_output) as encoding, \
            count_progress("decode", disable=json_output) as show:
        if len(models) == 1 and ranker is None:
            report = decode_file(models[0], data, beam_size=beam, workers=workers, batch=batch,
                                 on_progress=show, on_encoding=encoding.until_done,
                                 cluster=cluster, device=device)
        else:
            report = ensemble_file(models, data, beam_size=beam, workers=workers, batch=batch,
                                   on_progress=show, on_encoding=encoding.until_done,
                                   cluster=cluster, reranker=ranker, device=device)
            report.reranker = str(reranker) if reranker is not None else None
    if out is not None:
        write_predictions(out, report.predictions)
    if programs is not None:
        write_jsonl(programs, [r.to_json(report.per_example[r.id]) for r in report.results])
    if json_output:
        print_json(report.summary())
        return
    _show(report, data.name, {"predictions": out, "beams": programs})


def _show(report: DecodeReport, data_name: str, written: dict[str, Path | None]) -> None:
    """The report as a table, after a line for each example that could not be decoded."""
    for result in report.results:
        if result.error:
            err_console.print(f"[yellow]not decoded:[/] {escape(result.id)}: {escape(result.error)}",
                              highlight=False, soft_wrap=True)
    # Paths go on lines of their own, never cut or folded by a narrow table.
    if not report.members:
        console.print(f"checkpoint {report.checkpoint}", highlight=False, soft_wrap=True)
    else:
        count = len(report.members)
        console.print(f"ensemble of {count} checkpoint{'s' if count > 1 else ''}:",
                      highlight=False)
    for member in report.members:
        console.print(f"  {member['checkpoint']}: {100 * member['accuracy']:.2f} % alone",
                      highlight=False, soft_wrap=True)
    if report.reranker:
        console.print(f"pooled programs ranked by {report.reranker}", highlight=False,
                      soft_wrap=True)
    table = Table(title=f"decode {data_name} (beam {report.beam_size})", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_row("accuracy", f"{100 * report.accuracy:.2f} %")
    table.add_row("correct / total", f"{report.correct:,} / {report.total:,}")
    table.add_row("examples without a valid program", f"{report.no_program:,}")
    table.add_row("seconds", f"{report.seconds:.1f}")
    table.add_row("examples / second", f"{report.examples_per_second:.1f}")
    table.add_row("workers", str(report.workers))
    console.print(table)
    for label, path in written.items():
        if path is not None:
            console.print(f"{label} written to {path}", highlight=False, soft_wrap=True)
