"""Errors that the CLI turns into one-line messages and exit codes.

The codes: 1 bad data or a failed check, 2 bad usage, 128 + N stopped by signal N.
"""

from __future__ import annotations


class MapoError(Exception):
    """A problem with the user's input or files: shown as one line, exit code 1."""

    exit_code = 1


class UsageError(MapoError):
    """Options or arguments the command cannot take (a value out of range, two outputs
    that are one file, an empty path): exit code 2, as for click's own usage errors."""

    exit_code = 2


class InvalidProgram(MapoError):
    """A program that does not parse or is not valid on its table: exit code 2."""

    exit_code = 2


class Stopped(MapoError):
    """Work ended early by a signal (SIGINT, SIGTERM): exit code 128 + its number."""

    def __init__(self, number: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = 128 + number
