"""What every command shares: error reporting, output checks, the console, help layout."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Optional, Self, TypeVar

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
from typer.core import TyperCommand, TyperGroup

from mapo_cli.core.cluster import RayCluster, check_backend
from mapo_cli.core.errors import MapoError, Stopped
from mapo_cli.core.stop import stops_at_once

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
BACKEND_HELP = ("Where the workers run: local (processes on this machine) or ray (Ray tasks "
                "and actors, in a cluster or a local Ray instance; pip install 'mapo\\[ray]').")
RAY_ADDRESS_HELP = ("With --backend ray: the cluster to join (auto: the one `ray start` made "
                    "on this machine; HOST:PORT); default: start a local Ray instance.")
BackendOption = Annotated[str, typer.Option(help=BACKEND_HELP)]
RerankerOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--reranker", help="Rank the runs' pooled programs with this reranker (`mapo rerank` fits "
    "one for the same runs) instead of by their mean probability.")]
RayAddressOption = Annotated[str, typer.Option(help=RAY_ADDRESS_HELP)]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def reports_errors(func: F) -> F:
    """Turn a MapoError (and file-system errors) into one line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with stops_at_once():
                return func(*args, **kwargs)
        except Stopped as stopped:  # not an error: where it stopped and what to do next
            err_console.print(escape(str(stopped)), highlight=False, soft_wrap=True)
            raise typer.Exit(stopped.exit_code) from None
        except MapoError as error:
            _print_error(str(error))
            raise typer.Exit(error.exit_code) from None
        except OSError as error:
            _print_error(os_error_message(error))
            raise typer.Exit(1) from None
        except UnicodeDecodeError as error:
            _print_error(f"not UTF-8 text ({error.reason} at byte {error.start})")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _print_error(message: str) -> None:
    """One line, whatever a library put into the message (escape codes, line breaks)."""
    text = " ".join(_ANSI.sub("", message).split())
    err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)


def os_error_message(error: OSError) -> str:
    """`PATH: permission denied`, not `[Errno 13] Permission denied: 'PATH'`."""
    reason = (error.strerror or type(error).__name__).lower()
    paths = [os.fsdecode(p) for p in (error.filename, error.filename2) if p is not None]
    return f"{' → '.join(paths)}: {reason}" if paths else reason


def check_writable(path: Path, directory: bool = False) -> None:
    """Refuse, before any long work, an output that could not be written at the end.

    A file's directory must exist; a directory (`directory=True`) is created
    with its parents, so its nearest existing ancestor must be writable.
    """
    if path.exists():
        if path.is_dir() != directory:
            kind = "a directory" if path.is_dir() else "a file"
            raise MapoError(f"cannot write {path}: it is {kind}")
        if not os.access(path, os.W_OK):
            raise MapoError(f"cannot write {path}: permission denied")
        return
    parent = path.parent
    while directory and not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.exists():
        raise MapoError(f"cannot write {path}: no directory {parent}")
    if not parent.is_dir():
        raise MapoError(f"cannot write {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK):
        raise MapoError(f"cannot write {path}: permission denied in {parent}")


class _FlagsWithoutType:
    """Help shows no `<bool>` after a flag (--json, --help): a flag takes no value."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        return params


class MapoCommand(_FlagsWithoutType, TyperCommand):
    """Every mapo command: `app.command(cls=MapoCommand)`."""


class MapoGroup(_FlagsWithoutType, TyperGroup):
    """Every mapo command group: `typer.Typer(cls=MapoGroup)`."""


@contextlib.contextmanager
def open_cluster(backend: str, address: str, quiet: bool = False,
                 min_cpus: int = 0) -> Iterator[RayCluster | None]:
    """The Ray connection a command's workers use with `--backend ray` (None for local),
    started before the command's stop request: Ray's start-up sets signal handlers."""
    check_backend(backend, address)
    if backend != "ray":
        yield None
        return
    with RayCluster(address, min_cpus) as cluster:
        if not quiet:
            err_console.print(escape(cluster.describe()), highlight=False, soft_wrap=True)
        yield cluster


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout, nothing else (for `--json`)."""
    typer.echo(json.dumps(obj, sort_keys=True))


LOG_EVERY_SECONDS = 60.0  # a bar written to a file or pipe: one line this often


class LazyProgress:
    """A rich Progress on stderr that appears with the first update, not before.

    Checks and loading come first, so a bad input is one line with no bar
    drawn above it. Where stderr is not a terminal (a run in the background,
    its output in a log), rich draws the bar only at the end; so the bar is
    written as a line every `log_every` seconds instead.
    """

    def __init__(self, *columns: Any, total: float, disable: bool = False,
                 console: Console | None = None, log_every: float | None = None,
                 **fields: Any) -> None:
        console = console or err_console
        self.progress = Progress(*columns, console=console, disable=disable)
        self.total = total
        self.fields = fields
        self.task: TaskID | None = None
        self.log_every = (None if disable or console.is_terminal
                          else LOG_EVERY_SECONDS if log_every is None else log_every)
        self.logged = 0.0

    def update(self, **changes: Any) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("", total=self.total, **self.fields)
            self.logged = time.monotonic()
        self.progress.update(self.task, **changes)
        if self.log_every is not None and time.monotonic() - self.logged >= self.log_every:
            self.progress.console.print(self.progress.make_tasks_table(self.progress.tasks))
            self.logged = time.monotonic()

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
