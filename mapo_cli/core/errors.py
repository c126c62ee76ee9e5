"""Errors that the CLI turns into one-line messages and exit codes."""

from __future__ import annotations


class MapoError(Exception):
    """A problem with the user's input or files: shown as one line, exit code 1."""

    exit_code = 1


class InvalidProgram(MapoError):
    """A program that does not parse or is not valid on its table: exit code 2."""

    exit_code = 2


class Stopped(MapoError):
    """Work ended early by a signal (SIGINT, SIGTERM): exit code 128 + its number."""

    def __init__(self, number: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = 128 + number
