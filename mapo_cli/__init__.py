"""mapo: learn semantic parsers from question-answer pairs with MAPO.

`from mapo_cli import Parser` gives the Python API of `mapo ask`
(`mapo_cli/analysis/ask.py`); it is imported on first use, so that the
command line does not pay for torch where it needs none.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:  # one version, pyproject.toml's, as the installed distribution records it
    __version__ = version("mapo")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "unknown (not installed)"
__all__ = ["Parser", "Reply", "Written", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Parser", "Reply", "Written"):
        from mapo_cli.analysis import ask

        return getattr(ask, name)
    raise AttributeError(f"module 'mapo_cli' has no attribute {name!r}")
