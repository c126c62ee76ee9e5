"""A clean stop on request: a killed run loses its last steps, a stopped one keeps them.

Every long loop (training steps, exploration chunks, decoding, preparing,
analysing) checks the request after each unit of work. Work that commits as
it goes (train, explore) then commits and says how to resume; work that
writes only at its end raises `Stopped` (`check`). Either way the command
exits 128 + the signal's number, as a shell reports a killed process.
Outside those loops (loading and checking the data, encoding it, a second
signal during a stop) `stops_at_once` ends the command where it is, in one
line too.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Self

from mapo_cli.core.errors import Stopped


class StopRequest:
    """Ctrl-C or SIGTERM asks the work to stop after its current unit.

    A second Ctrl-C interrupts at once. A SIGINT that the process ignores (a
    background job) stays ignored.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def name(self) -> str | None:
        """SIGINT or SIGTERM once one has come, else None."""
        return None if self.signal is None else signal.Signals(self.signal).name

    def check(self, done: int, total: int, what: str) -> None:
        """Raise `Stopped` if a signal has come: for work that writes nothing before its end."""
        if self.signal is not None:
            raise Stopped(self.signal, f"stopped by {self.name} after {done} of {total} {what}; "
                          "nothing was written: run the same command again")

    def __enter__(self) -> Self:
        global _work_began
        _work_began = True
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(number) is not signal.SIG_IGN:
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, frame) -> None:
        self.signal = number
        self._restore()

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def __exit__(self, *exc) -> None:
        self._restore()


_work_began = False


@contextlib.contextmanager
def stops_at_once() -> Iterator[None]:
    """For a whole command: a signal that no StopRequest takes raises `Stopped` where it comes.

    Before the work loops nothing is written that a rerun would not redo (the
    encoder cache and the store commit atomically); during them StopRequest
    takes the first signal, and a second one lands here.
    """
    global _work_began
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _work_began = False
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        for number, handler in previous.items():
            if handler is not signal.SIG_IGN:
                signal.signal(number, _stop_here)
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _stop_here(number: int, frame) -> None:
    name = signal.Signals(number).name
    if _work_began:
        raise Stopped(number, f"stopped at once by {name}: what was committed stays "
                      "committed; run the same command again (train: with --resume)")
    raise Stopped(number, f"stopped by {name} before the work began, nothing lost: "
                  "run the same command again")


class DeferredSignals:
    """SIGINT and SIGTERM held back during a step that must not be cut in the middle
    (a Ray instance starting: cut short, it leaves processes behind and may crash the
    interpreter at exit); `signal` is the first that came, for the caller to act on after."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def _note(self, number: int, frame) -> None:
        self.signal = self.signal or number

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(number) is not signal.SIG_IGN:
                    self._previous[number] = signal.signal(number, self._note)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
