"""What every command shares: error reporting and the console."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, Self, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mapo_cli.core.errors import MapoError, Stopped

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Turn a MapoError (and file-system errors) into one line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Stopped as stopped:  # not an error: where it stopped and what to do next
            err_console.print(escape(str(stopped)), highlight=False, soft_wrap=True)
            raise typer.Exit(stopped.exit_code) from None
        except MapoError as error:
            err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(error.exit_code) from None
        except (OSError, UnicodeDecodeError) as error:
            err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout, nothing else (for `--json`)."""
    typer.echo(json.dumps(obj, sort_keys=True))


class LazyProgress:
    """A rich Progress on stderr that appears with the first update, not before.

    Checks and loading come first, so a bad input is one line with no bar
    drawn above it.
    """

    def __init__(self, *columns: Any, total: float, disable: bool = False, **fields: Any) -> None:
        self.progress = Progress(*columns, console=err_console, disable=disable)
        self.total = total
        self.fields = fields
        self.task: TaskID | None = None

    def update(self, **changes: Any) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("", total=self.total, **self.fields)
        self.progress.update(self.task, **changes)

    def __call__(self, done: int, total: int) -> None:
        """As a `progress(done, total)` callback of library code."""
        self.update(completed=done, total=total)

    def until_done(self, done: int, total: int) -> None:
        """As a callback for one stage of several: the bar closes at `total`, for the next."""
        self(done, total)
        if done >= total and self.task is not None:
            self.progress.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.progress.stop()


def count_progress(label: str, disable: bool = False) -> LazyProgress:
    """A bar for `progress(done, total)` reports: label, bar, n/m, elapsed, remaining."""
    return LazyProgress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), total=0, disable=disable)
