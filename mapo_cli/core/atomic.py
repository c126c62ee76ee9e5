"""Files written whole or not at all: the one way mapo writes an output file.

The bytes go to a temporary file beside the target, with a name no other
writer uses, are flushed to the disk (fsync), and the temporary file is
renamed over the target. A full disk, a stop or a crash mid-write leaves the
old file as it was and no temporary file behind (a SIGKILL may leave one,
named `.NAME.<pid>.<random>.tmp`); an OS error is a MapoError that names the
target, not the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mapo_cli.core.errors import MapoError


@contextlib.contextmanager
def atomic_file(path: Path | str, mode: str = "w", **open_args: Any) -> Iterator[IO[Any]]:
    """A file object to write `path`'s new content into ("w" text, "wb" bytes)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, mode, **open_args) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(error, OSError):
            raise write_error(path, error) from None
        raise


def write_text(path: Path | str, text: str) -> None:
    with atomic_file(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_file(path, "wb") as handle:
        handle.write(data)


def write_error(path: Path | str, error: OSError) -> MapoError:
    """`cannot write PATH: no space left on device`, naming what was being written."""
    reason = (error.strerror or type(error).__name__).lower()
    return MapoError(f"cannot write {path}: {reason}")
