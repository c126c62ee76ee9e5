"""The HTTP API and the page of `mapo serve`, as an ASGI application around one Parser.

    from mapo_cli import Parser
    from mapo_cli.serve import create_app
    app = create_app(Parser.load())          # mount it in another ASGI app, or run it

FastAPI, because its request models give every wrong field type and unknown
field a 422 that names the field, and the OpenAPI schema (`/openapi.json`,
`/docs`) comes with them; uvicorn runs it. The parser is shared read-only:
each request builds its own interpreter, and requests run in the server's
thread pool, at most `Settings.concurrency` at once. A request names no file:
tables come as CSV text or JSON rows, so the server reads and writes no file
that a request names.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from mapo_cli import __version__
from mapo_cli.analysis.ask import Parser
from mapo_cli.core.errors import MapoError
from mapo_cli.data.limits import TooLarge
from mapo_cli.data.tables import csv_grid
from mapo_cli.serve.body_limit import BodyLimit

PAGE = Path(__file__).resolve().parent / "page"
MAX_BEAM = 20  # a request's beam: past it an answer takes seconds, and gains nothing


@dataclass(frozen=True)
class Settings:
    """What a request may ask of the server (`mapo serve` options)."""

    body_bytes: int = 5_000_000
    seconds: float = 30.0
    concurrency: int = 2


class AskRequest(BaseModel):
    """A question about one table: its CSV text, or its rows with the header row first."""

    model_config = ConfigDict(extra="forbid")

    question: StrictStr = Field(description="The question, in English.")
    csv: StrictStr | None = Field(None, description="The table as CSV text, header row first.")
    rows: list[list[StrictStr | StrictInt | StrictFloat]] | None = Field(
        None, description="The table as rows of cells, header row first.")
    beam: StrictInt = Field(5, ge=1, le=MAX_BEAM, description="Beam size.")
    top: StrictInt = Field(3, ge=1, le=100, description="Programs returned, best first.")


def create_app(parser: Parser, settings: Settings = Settings(),
               model_info: dict[str, Any] | None = None) -> FastAPI:
    """The API and the page for `parser`; `model_info` is what `/api/model` adds (accuracy)."""
    app = FastAPI(title="mapo", version=__version__,
                  description="Ask a table a question; see the program that answers it.")
    app.add_middleware(BodyLimit, max_bytes=settings.body_bytes)
    slots = threading.BoundedSemaphore(settings.concurrency)
    info = {**_describe(parser), **(model_info or {})}

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": _first_problem(error),
                                                      "detail": _jsonable(error.errors())})

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/model")
    def model() -> dict[str, Any]:
        return info

    @app.post("/api/ask")
    async def ask(request: AskRequest) -> JSONResponse:
        if (request.csv is None) == (request.rows is None):
            return _error(422, "give the table as either csv or rows (one of them)")

        def answer() -> dict[str, Any]:
            with slots:
                grid = (csv_grid(request.csv, Path("the table")) if request.csv is not None
                        else [[str(cell) for cell in row] for row in request.rows or []])
                table = parser.table(grid)
                return parser.ask(table, request.question, beam=request.beam,
                                  top=request.top).to_json()

        try:
            reply = await asyncio.wait_for(run_in_threadpool(answer), settings.seconds)
        except TimeoutError:
            return _error(504, f"no answer within {settings.seconds:g} s, the server's limit "
                               "per request (mapo serve --timeout); try a smaller table")
        except TooLarge as error:
            return _error(413, str(error))
        except MapoError as error:
            return _error(422, str(error))
        except Exception as error:  # noqa: BLE001 - a fault of ours: no traceback to the client
            return _error(500, f"mapo could not answer this question ({type(error).__name__}); "
                               "please report it with the table and the question")
        return JSONResponse(reply)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(PAGE / "index.html")

    app.mount("/page", StaticFiles(directory=PAGE), name="page")
    return app


def _describe(parser: Parser) -> dict[str, Any]:
    checkpoint = parser.decoders[0].checkpoint
    return {"runs": list(parser.sources), "grammar": parser.grammar.name,
            "encoder": checkpoint.model.config.encoder,
            "reranker": parser.reranker_source, "version": __version__,
            "dev_accuracy_greedy": [d.checkpoint.extra.get("dev_accuracy")
                                    for d in parser.decoders]}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message})


def _first_problem(error: RequestValidationError) -> str:
    """One sentence for the first problem: where it is and what is wrong."""
    problems = error.errors()
    if not problems:
        return "the request is not valid"
    first = problems[0]
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON"
    if first.get("type") == "model_attributes_type":
        return "the request body must be a JSON object: {\"question\": ..., \"csv\": ...}"
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if len(loc) >= 3 and loc[0] == "rows":  # a union's member names the type tried, not the place
        loc = [part for part in loc if part not in ("str", "int", "float")]
        if first.get("type", "").endswith("_type"):
            return f"{'.'.join(loc)}: a cell must be a string or a number"
    message = str(first.get("msg", "is not valid"))
    if first.get("type") == "extra_forbidden":
        message = "unknown field (the fields are question, csv, rows, beam, top)"
    return f"{'.'.join(loc)}: {message}" if loc else message


def _jsonable(problems: Any) -> Any:
    """Validation problems without what JSON cannot hold (exceptions in `ctx`)."""
    return [{key: value for key, value in problem.items() if key in ("loc", "msg", "type")}
            for problem in problems]
