"""Paths that come from data (a question's table) stay in the directory they belong to.

A question file is data, not the user's word: its table paths may point
anywhere (`../..`, an absolute path, a symlink out of `csv/`), and following
them would copy files from elsewhere on the machine into prepared data. Paths
the user names on the command line are theirs to choose and are not checked.
"""

from __future__ import annotations

from pathlib import Path, PurePath

from mapo_cli.core.errors import MapoError


def inside(root: Path, relative: str | Path) -> Path:
    """`root / relative` resolved (symlinks followed), refused unless it stays where it belongs.

    Where it belongs: the top folder of `root` that `relative` starts in (`csv` of
    `csv/204-csv/590.csv`), as that folder resolves: a release may be assembled from
    another's folders (`csv -> ../wtq/csv`, as tests/conftest.py does), but nothing
    under them leads out. A one-part path belongs to `root` itself. Absolute paths and
    paths that leave are refused with a MapoError naming `relative` as the data wrote it.
    """
    parts = PurePath(relative).parts
    if PurePath(relative).is_absolute():
        raise MapoError(f"{relative} is an absolute path (paths in data are relative to {root})")
    top = Path(root) / parts[0] if len(parts) > 1 and parts[0] != ".." else Path(root)
    try:
        base = top.resolve()
        path = (Path(root) / relative).resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop (RuntimeError before 3.13)
        raise MapoError(f"{relative}: cannot follow this path under {root} ({error})") from None
    if not path.is_relative_to(base):
        raise MapoError(f"{relative} leads outside {top} (to {path})")
    return path
