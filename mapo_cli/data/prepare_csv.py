"""A user's question TSV and CSV tables into prepared data."""

from __future__ import annotations

import functools
from pathlib import Path

from mapo_cli.core.errors import MapoError
from mapo_cli.data.prepare import PrepareReport, ProgressFn, run_prepare
from mapo_cli.data.tables import csv_table_file, load_csv_table


def prepare_csv(
    questions_tsv: Path,
    out: Path,
    tables_dir: Path | None = None,
    grammar: str = "wtq",
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> PrepareReport:
    """Prepare a user's question TSV whose `context` column names CSV files in `tables_dir`.

    `tables_dir` defaults to the directory of the question file; every table
    path must stay inside it (symlinks followed), else nothing is prepared.
    """
    questions_tsv, out = Path(questions_tsv), Path(out)
    if not questions_tsv.is_file():
        raise MapoError(f"{questions_tsv}: no such question file")
    tables_dir = questions_tsv.parent if tables_dir is None else Path(tables_dir)
    if not tables_dir.is_dir():
        raise MapoError(f"{tables_dir}: no such tables directory")
    if questions_tsv.stem == "tables":
        raise MapoError(f"{questions_tsv}: its output would overwrite tables.jsonl; rename it")
    loader = functools.partial(load_csv_table, tables_dir)
    locate = functools.partial(csv_table_file, tables_dir)
    return run_prepare([questions_tsv], out, loader, grammar, strict, progress, locate=locate)
