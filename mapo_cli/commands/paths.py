"""What every command checks of the paths it is given, before any work starts.

An output must be writable at the end of a long run, must not be one of the
command's inputs (nor a file inside an input directory: a run's checkpoint, a
store's data file), and two outputs must not be one file. An output
directory that the command fills or deletes (a run, a store, prepared data)
must not hold an input. Files are compared as the file system sees them, so
a symlink or a hard link to an input is that input.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from mapo_cli.core.errors import MapoError, UsageError


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


def data_inputs(data: Path) -> list[Path]:
    """A prepared data file and the tables file beside it, which every reader opens too."""
    return [data, data.parent / "tables.jsonl"]


def run_inputs(run: Path) -> list[Path]:
    """A run directory, or a checkpoint file and its JSON sidecar."""
    return [run] if run.is_dir() else [run, run.with_suffix(".json")]


def check_outputs(outputs: Mapping[str, Path | None], inputs: Iterable[Path | None] = (),
                  directories: Mapping[str, Path | None] | None = None) -> None:
    """Refuse outputs that would write over an input or over each other.

    `outputs` are files by the option that names them (None: not asked for);
    `directories` are output directories that the command fills or may
    delete, which must not be or hold an input.
    """
    sources = [(path, _identity(path)) for path in inputs if path is not None]
    seen: dict[tuple, str] = {}
    for label, path in {**outputs, **(directories or {})}.items():
        if path is None:
            continue
        identity = _identity(path)
        if identity in seen:
            raise UsageError(f"{label} and {seen[identity]} name the same file ({path}): "
                             "give each output its own path")
        seen[identity] = label
    for label, path in outputs.items():
        if path is None or not path.exists():
            continue  # a new file cannot be an input, wherever it goes
        for source, identity in sources:
            if _identity(path) == identity or _within(path, source):
                raise UsageError(f"{label} {path} is an input of this command "
                                 f"({'it is' if _identity(path) == identity else 'it is in'} "
                                 f"{source}): it would be written over; choose another path")
    for label, directory in (directories or {}).items():
        if directory is None:
            continue
        for source, _ in sources:
            if _within(source, directory, or_same=True):
                raise UsageError(f"{label} {directory} holds an input of this command "
                                 f"({source}); give it a directory of its own")


def _identity(path: Path) -> tuple:
    """The file itself for an existing path (a link is its target), else its full path."""
    try:
        status = path.stat()
    except OSError:
        return ("path", os.path.realpath(path))
    return ("file", status.st_dev, status.st_ino)


def _within(path: Path, directory: Path, or_same: bool = False) -> bool:
    """Whether `path` lies inside `directory` once links are followed."""
    if not directory.is_dir():
        return False
    inner, outer = Path(os.path.realpath(path)), Path(os.path.realpath(directory))
    return outer in inner.parents or (or_same and inner == outer)
