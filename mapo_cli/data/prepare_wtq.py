"""A WikiTableQuestions release (`data/*.tsv`, `csv/`, `tagged/`) into prepared data."""

from __future__ import annotations

import functools
from pathlib import Path

from mapo_cli.core.errors import MapoError
from mapo_cli.data.prepare import PrepareReport, ProgressFn, run_prepare
from mapo_cli.data.tables import load_wtq_table


def prepare_wtq(
    source: Path,
    out: Path,
    grammar: str = "wtq",
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> PrepareReport:
    """Prepare every `SOURCE/data/*.tsv` of a WikiTableQuestions release into OUT."""
    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise MapoError(f"{source}: no such directory (expected a WikiTableQuestions release)")
    files = sorted((source / "data").glob("*.tsv"))
    if not files:
        raise MapoError(
            f"{source}: no data/*.tsv question files (is it a WikiTableQuestions release?)"
        )
    if any(path.stem == "tables" for path in files):
        raise MapoError(f"{source}/data/tables.tsv: its output would overwrite tables.jsonl")
    loader = functools.partial(load_wtq_table, source)
    return run_prepare(files, out, loader, grammar, strict, progress)
