"""`mapo rerank`: learn how to rank an ensemble's pooled programs, for `decode --reranker`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mapo_cli.commands.common import (
    BackendOption,
    RayAddressOption,
    console,
    count_progress,
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


@reports_errors
def rerank(
    paths: Annotated[list[Path], typer.Argument(
        metavar="RUN... DATA", show_default=False,
        help="The runs (or checkpoint files, or bundled models' names) of the ensemble, then a prepared data file with "
        "answers to learn from: their training questions, not the ones you report on.")],
    out: Annotated[Path, typer.Option(
        "--out", show_default=False,
        help="Write the reranker here (JSON: its weights by feature name, and what it was "
        "fit on).")],
    beam: Annotated[int, typer.Option(
        help="Beam size of each run (decode with the same one).")] = 5,
    workers: Annotated[int, typer.Option(
        help="Worker processes (0: all cores), or with --backend ray chunks decoded at once "
        "(0: the cluster's CPUs).")] = 0,
    batch: Annotated[int, typer.Option(
        help="Examples decoded together in one batched beam search.")] = 32,
    backend: BackendOption = "local",
    ray_address: RayAddressOption = "",
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object: what the reranker was fit on and how it ranks "
        "there.")] = False,
) -> None:
    """Fit a reranker of the runs' pooled programs on DATA's answers; write it to --out.

    The runs decode DATA as an ensemble (as `mapo decode RUN... DATA` does), and a
    linear scorer of each pooled program (the runs' log-probabilities, the
    support for its answer, the functions it calls) is fit to put the programs
    with the right answer first. `mapo decode RUN... DEV --reranker OUT` then
    ranks the same runs' pools with it instead of by their mean probability.
    """
    from mapo_cli.analysis.rerank import fit_on_file, save_reranker
    from mapo_cli.learn.bundled import named

    check_options(beam=beam, workers=workers, batch=batch)
    if len(paths) < 2:
        raise MapoError("give at least one run (or checkpoint) and then the data file")
    models, data = [named(run) for run in paths[:-1]], paths[-1]
    check_writable(out)
    check_outputs({"--out": out},
                  [*data_inputs(data), *(p for run in models for p in run_inputs(run))])
    with open_cluster(backend, ray_address, json_output) as cluster, \
            count_progress("encode", disable=json_output) as encoding, \
            count_progress("decode", disable=json_output) as show:
        reranker, report = fit_on_file(models, data, beam_size=beam, workers=workers,
                                       batch=batch, on_progress=show,
                                       on_encoding=encoding.until_done, cluster=cluster)
    save_reranker(reranker, out)
    fit = reranker.fit
    if json_output:
        print_json({**fit, "out": str(out), "members": list(reranker.members),
                    "seconds": round(report.seconds, 3)})
        return
    table = Table(title=f"reranker fit on {data.name} (beam {beam})", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_row("questions", f"{fit['questions']:,}")
    for label, key in (("with a right program in the pool", "with_a_right_program"),
                       ("right by the mean probability", "mean_probability_correct"),
                       ("right by the reranker", "reranked_correct")):
        table.add_row(label, f"{fit[key]:,} ({100 * fit[key] / fit['questions']:.2f} %)")
    console.print(table)
    console.print("(on the questions it was fit on; `mapo decode RUN... DEV --reranker "
                  f"{out}` measures it on others)", highlight=False, soft_wrap=True)
    console.print(f"reranker written to {out}", highlight=False, soft_wrap=True)
