"""A clean stop on request: a killed run loses its last steps, a stopped one keeps them.

Every runner's loop checks the request after each learner step, so the
run ends with a checkpoint that `--resume` continues from.
"""

from __future__ import annotations

import signal
import threading
from typing import Self


class StopRequest:
    """Ctrl-C or SIGTERM asks training to stop after the current step, with a checkpoint.

    A second Ctrl-C interrupts at once. A SIGINT that the process ignores (a
    background job) stays ignored.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Self:
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
