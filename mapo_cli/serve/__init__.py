"""`mapo serve`: a trained parser behind an HTTP API and a web page (`api.create_app`)."""

from mapo_cli.serve.api import Settings, create_app

__all__ = ["Settings", "create_app"]
