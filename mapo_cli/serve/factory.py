"""The app of `mapo serve --workers N`: each uvicorn worker process builds its own.

uvicorn starts worker processes that import an application by name, so what
the command was given travels in one environment variable (JSON), and each
worker loads the parser from it once.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import FastAPI

from mapo_cli.analysis.ask import Parser
from mapo_cli.data.limits import Limits
from mapo_cli.serve.api import Settings, create_app

ENVIRONMENT = "MAPO_SERVE_SPEC"


def spec(runs: list[str], reranker: str | None, beam_order: bool, limits: Limits,
         settings: Settings, model_info: dict[str, Any] | None, device: str = "cpu") -> str:
    """What a worker needs to build the same app, as JSON."""
    return json.dumps({"runs": runs, "reranker": reranker, "beam_order": beam_order,
                       "device": device,
                       "rows": limits.rows, "columns": limits.columns,
                       "settings": vars(settings), "model_info": model_info})


def app_from_environment() -> FastAPI:
    """uvicorn's factory: the app that `spec` describes."""
    given = json.loads(os.environ[ENVIRONMENT])
    parser = Parser.load(*given["runs"], reranker=given["reranker"],
                         beam_order=given["beam_order"],
                         limits=Limits(rows=given["rows"], columns=given["columns"]),
                         device=given["device"])
    return create_app(parser, Settings(**given["settings"]), given["model_info"])
