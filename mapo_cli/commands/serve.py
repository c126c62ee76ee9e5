"""`mapo serve`: a trained parser behind an HTTP API and a web page."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from mapo_cli.commands.common import (
    BeamOrderOption,
    DeviceOption,
    RerankerOption,
    console,
    reports_errors,
)
from mapo_cli.core.errors import Stopped, UsageError
from mapo_cli.core.ranges import check_options
from mapo_cli.data.limits import Limits


@reports_errors
def serve(
    runs: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
        metavar="[RUN...]", show_default=False,
        help="Run directories, checkpoint files or bundled models' names (several answer as "
        "an ensemble); none: the bundled model wtq.")] = None,
    host: Annotated[str, typer.Option(
        help="Address to listen on; 127.0.0.1 serves this machine only, 0.0.0.0 every "
        "network it is on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    reranker: RerankerOption = None,
    beam_order: BeamOrderOption = False,
    device: DeviceOption = "cpu",
    max_rows: Annotated[int, typer.Option(help="Refuse a table with more rows (413).")
                        ] = Limits.rows,
    max_columns: Annotated[int, typer.Option(help="Refuse a table with more columns (413).")
                           ] = Limits.columns,
    max_body: Annotated[int, typer.Option(help="Refuse a request body of more bytes (413).")
                        ] = 5_000_000,
    timeout: Annotated[float, typer.Option(
        help="Seconds a request may take before it is answered with 504.")] = 30.0,
    workers: Annotated[int, typer.Option(
        help="Processes that answer, each with its own copy of the model: one answer is "
        "mostly Python, so one process uses about one core (0: one per core).")] = 1,
    concurrency: Annotated[int, typer.Option(
        help="Questions answered at once; more wait their turn (two gave the most "
        "requests per second on two cores: BENCHMARKS.md).")] = 2,
) -> None:
    """Serve a parser: POST /api/ask, GET /api/health, GET /api/model, and a page at /.

    The page takes a pasted or uploaded CSV (or an example table) and a
    question, and shows the answer, the ranked programs and, step by step,
    what each program touched in the table. The API takes a JSON object with
    the question and the table, as CSV text ("csv") or as a list of rows, the
    header row first ("rows"), and optional beam and top; it answers with what
    `mapo ask --json` prints. Its schema
    is at /docs and /openapi.json. Bad input is a 4xx JSON error with a message;
    no request names a file the server reads.
    """
    import uvicorn

    from mapo_cli.analysis.ask import Parser
    from mapo_cli.learn.bundled import bundled_models
    from mapo_cli.serve import Settings, create_app
    from mapo_cli.serve.factory import ENVIRONMENT, spec

    check_options(port=port, max_rows=max_rows, max_columns=max_columns, max_body=max_body,
                  timeout=timeout, workers=workers, concurrency=concurrency)
    workers = workers or os.cpu_count() or 1
    if any(not run.strip() for run in runs or []):
        raise UsageError("an empty path names nothing: give a run, or none for the bundled model")
    parser = Parser.load(*(runs or []), reranker=reranker, beam_order=beam_order,
                         limits=Limits(rows=max_rows, columns=max_columns), device=device)
    shipped = {m.path: m for m in bundled_models()}
    paths = [Path(source) for source in parser.sources]  # names resolved by Parser.load
    info = shipped[paths[0]].to_json() if len(paths) == 1 and paths[0] in shipped else {}
    settings = Settings(body_bytes=max_body, seconds=timeout, concurrency=concurrency)
    model_info = {"bundled": info} if info else None
    console.print(f"serving {', '.join(parser.sources)} at http://{host}:{port}/ "
                  f"({workers} process{'es' if workers > 1 else ''}; Ctrl-C stops)",
                  highlight=False, soft_wrap=True)
    try:
        if workers == 1:
            uvicorn.run(create_app(parser, settings, model_info), host=host, port=port,
                        log_level="warning")
        else:  # each worker process builds the app from what this one was given
            os.environ[ENVIRONMENT] = spec(parser.sources, parser.reranker_source, beam_order,
                                           parser.limits, settings, model_info, device)
            uvicorn.run("mapo_cli.serve.factory:app_from_environment", factory=True,
                        host=host, port=port, workers=workers, log_level="warning")
    except Stopped as stopped:  # uvicorn shut down cleanly, then raised the signal again
        raise Stopped(stopped.exit_code - 128, "mapo serve stopped; the requests it had "
                      "taken were answered") from None
