"""What every command shares: error reporting, the console, help layout, progress bars."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
import time
import typing
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

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Text from a user or a file as it may be echoed: control characters (a terminal's
    escape sequences among them) written as \\xNN, never sent to the terminal raw."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class _Console(Console):
    """Rich's console, whose text has its control characters escaped on the way to the
    terminal: a question, a cell or an id may hold a terminal's escape sequences."""

    def render_str(self, text: str, **options: Any) -> Any:
        return super().render_str(printable(text), **options)


console = _Console()
err_console = _Console(stderr=True)

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
BeamOrderOption = Annotated[bool, typer.Option(
    "--beam-order", help="Rank a lone run's programs by its beam, not by its own "
    "reranker.json (a bundled model ships one).")]
RayAddressOption = Annotated[str, typer.Option(help=RAY_ADDRESS_HELP)]
DeviceOption = Annotated[str, typer.Option(
    help="Where the model computes: cpu, cuda, or auto (cuda where torch sees a GPU). "
    "On a GPU, decoding runs in this process, one batch after another.")]

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
    text = printable(" ".join(_ANSI.sub("", message).split()))
    err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)



def os_error_message(error: OSError) -> str:
    """`PATH: permission denied`, not `[Errno 13] Permission denied: 'PATH'`."""
    reason = (error.strerror or type(error).__name__).lower()
    paths = [os.fsdecode(p) for p in (error.filename, error.filename2) if p is not None]
    return f"{' → '.join(paths)}: {reason}" if paths else reason


def _refuse_empty_paths(param: Any) -> None:
    """Make a path parameter refuse an empty path (''): pathlib reads it as '.', so
    `--store ''` would otherwise write into the current directory."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_refuses_empty", False):
        return
    if not (descriptor.is_path or Path in typing.get_args(descriptor.annotation)):
        return
    process = param.process_value

    def process_value(ctx: Any, value: Any) -> Any:
        values = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, str) and not v.strip() for v in values):
            raise typer.BadParameter("an empty path names nothing", ctx=ctx, param=param)
        return process(ctx, value)

    param.process_value = process_value
    param._refuses_empty = True


class _MapoParams:
    """Help shows no `<bool>` after a flag (--json, --help): a flag takes no value; every
    path parameter refuses an empty path."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
            _refuse_empty_paths(param)
        return params


class MapoCommand(_MapoParams, TyperCommand):
    """Every mapo command: `app.command(cls=MapoCommand)`."""


class MapoGroup(_MapoParams, TyperGroup):
    """Every mapo command group: `typer.Typer(cls=MapoGroup)`.

    Usage errors (an unknown option, a missing argument, a value of the wrong
    kind) are one `error:` line with exit code 2, as MapoError's are with
    theirs, instead of click's framed usage text.
    """

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as error:  # click's errors, as typer vendors them
            if type(error).__name__ != "NoArgsIsHelpError":  # that one has shown the help
                ctx = getattr(error, "ctx", None)
                where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                _print_error(error.format_message() + where)
            sys.exit(getattr(error, "exit_code", 1))
        except typer.Abort:  # end of input where a prompt waited
            _print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


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
