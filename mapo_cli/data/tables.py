"""Tables as prepared data: raw cells plus the typed views programs compare on.

A table becomes the `tables.jsonl` record of docs/formats.md. WikiTableQuestions
tables come from `csv/<n>-csv/<k>.csv`; their numbers and dates come from the
CoreNLP-tagged copy `tagged/<n>-tagged/<k>.tagged` when it is there, so our
views agree with what the dataset's authors computed, and from our own small
parsers otherwise (and for a user's plain CSV tables).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

from mapo_cli.core.errors import MapoError
from mapo_cli.core.paths import inside
from mapo_cli.core.text import column_names
from mapo_cli.data.cell_values import parse_date, parse_number, tagged_date, tagged_number

Table = dict[str, Any]
CellValues = dict[tuple[int, int], tuple[float | None, str | None]]
"""Per (row, column) of the body: the cell's number and date, from the tagged file."""

# ----------------------------------------------------------------- reading


def _decode(data: bytes, path: Path) -> str:
    """UTF-8 text (a byte-order mark dropped), or an error that says where the bad byte is."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise MapoError(f"{path}:{line}: not UTF-8 (byte 0x{data[error.start]:02x})") from None


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise MapoError(f"{path}: no such table file")
    return path.read_bytes()


def _read_grid(reader: Any, path: Path) -> list[list[str]]:
    """All rows of a `csv.reader`, refusing rows whose length differs from the header's.

    Blank lines are skipped. Errors name the file line, which is what a user fixes.
    """
    grid: list[list[str]] = []
    try:
        for row in reader:
            if not row:
                continue
            if any("\x00" in cell for cell in row):
                raise MapoError(f"{path}:{reader.line_num}: a NUL byte in a cell (not a text "
                                "table)")
            if grid and len(row) != len(grid[0]):
                line = reader.line_num
                raise MapoError(
                    f"{path}:{line}: ragged table: this row has {len(row)} cells, "
                    f"the header has {len(grid[0])}"
                )
            grid.append(row)
    except csv.Error as error:
        line = reader.line_num
        raise MapoError(f"{path}:{line}: not a CSV table ({error})") from None
    return grid


_BACKSLASH = "\ue000"  # a private-use character stands in for an escaped backslash


def read_wtq_csv(path: Path) -> list[list[str]]:
    """The raw cells of a WikiTableQuestions CSV, header row first.

    Its dialect: every field quoted with `"`, and backslash escapes (`\\"`,
    `\\\\`, `\\n`) instead of doubled quotes.
    """
    text = _decode(_read_bytes(path), path)
    text = text.replace("\\\\", _BACKSLASH).replace("\\n", "\n")
    reader = csv.reader(io.StringIO(text, newline=""), escapechar="\\", doublequote=False)
    grid = _read_grid(reader, path)
    return [[cell.replace(_BACKSLASH, "\\") for cell in row] for row in grid]


def read_plain_csv(path: Path, delimiter: str = ",") -> list[list[str]]:
    """The cells of a standard CSV (or, with a tab delimiter, TSV) file, header row first."""
    return csv_grid(_decode(_read_bytes(path), path), path, delimiter)


def csv_grid(text: str, name: Path, delimiter: str = ",") -> list[list[str]]:
    """The cells of CSV text, header row first; `name` is what errors call it."""
    return _read_grid(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), name)


def read_table_file(path: Path) -> list[list[str]]:
    """A table the user points at: CSV, or TSV if the name ends in `.tsv`; header row first."""
    path = Path(path)
    return read_plain_csv(path, "\t" if path.suffix.lower() == ".tsv" else ",")


def read_tagged(path: Path) -> CellValues:
    """Number and date per body cell from a CoreNLP `.tagged` table file."""
    text = _decode(path.read_bytes(), path)
    lines = text.split("\n")
    header = lines[0].rstrip("\r").split("\t")
    try:
        row_at, col_at = header.index("row"), header.index("col")
        number_at, date_at = header.index("number"), header.index("date")
    except ValueError:
        raise MapoError(f"{path}:1: not a tagged table (no row/col/number/date columns)") from None
    values: CellValues = {}
    for number, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split("\t")
        if len(fields) <= max(row_at, col_at) or not fields[row_at]:
            continue
        try:
            row, col = int(fields[row_at]), int(fields[col_at])
        except ValueError:
            raise MapoError(f"{path}:{number}: row and col must be integers") from None
        if row < 0:
            continue
        num = tagged_number(fields[number_at]) if len(fields) > number_at else None
        date = tagged_date(fields[date_at]) if len(fields) > date_at else None
        values[(row, col)] = (num, date)
    return values


# ----------------------------------------------------------------- building


def check_grid(grid: list[list[str]], path: Path) -> None:
    """Refuse empty tables and ragged rows: every row must be as long as the header."""
    if not grid or not any(cell.strip() for cell in grid[0]):
        raise MapoError(f"{path}: empty table (no header row)")
    if len(grid) == 1:
        raise MapoError(f"{path}: empty table (a header row but no rows)")
    width = len(grid[0])
    for index, row in enumerate(grid[1:], start=1):
        if len(row) != width:
            raise MapoError(
                f"{path}: ragged table: row {index} has {len(row)} cells, the header has {width}"
            )


def _column_view(values: list[Any], cells: list[str]) -> list[Any] | None:
    """A typed view of one column when at least half of its non-empty cells have a value."""
    filled = have = 0
    for value, cell in zip(values, cells):
        if cell.strip():
            filled += 1
            have += value is not None
    if not filled or 2 * have < filled:
        return None
    return values


def _parsed_view(cells: list[str], counts: Counter[str], parse: Any, done: dict[str, Any]
                 ) -> list[Any] | None:
    """`_column_view` of `parse` over the cells (`counts`: how often each occurs), parsing
    each distinct cell once (`done` holds the table's parses so far: long tables repeat
    their cells) and stopping once more than half the non-empty cells have failed, when no
    view can come of it."""
    filled = sum(n for cell, n in counts.items() if cell.strip())
    failed = 0
    for cell, n in counts.items():
        if cell not in done:
            done[cell] = parse(cell)
        if done[cell] is None and cell.strip():
            failed += n
            if 2 * failed > filled:
                return None
    if not filled:
        return None
    return [done[cell] for cell in cells]


def build_table(table_id: str, grid: list[list[str]], tagged: CellValues | None = None) -> Table:
    """The `tables.jsonl` record of a checked grid; tagged values win over our parsers."""
    headers, rows = grid[0], grid[1:]
    numbers: list[list[float | None] | None] = []
    dates: list[list[str | None] | None] = []
    parsed_numbers: dict[str, float | None] = {}
    parsed_dates: dict[str, str | None] = {}
    for col in range(len(headers)):
        cells = [row[col] for row in rows]
        if tagged is not None:
            pairs = [tagged.get((r, col), (None, None)) for r in range(len(rows))]
            numbers.append(_column_view([pair[0] for pair in pairs], cells))
            dates.append(_column_view([pair[1] for pair in pairs], cells))
        else:
            counts = Counter(cells)
            numbers.append(_parsed_view(cells, counts, parse_number, parsed_numbers))
            dates.append(_parsed_view(cells, counts, parse_date, parsed_dates))
    return {
        "id": table_id,
        "headers": headers,
        "columns": column_names(headers),
        "rows": rows,
        "numbers": numbers,
        "dates": dates,
    }


def tagged_path(source: Path, table_id: str) -> Path | None:
    """Where the tagged copy of `csv/<n>-csv/<k>.csv` lives, if the id has that shape."""
    match = re.fullmatch(r"csv/(\d+)-csv/(\d+)\.csv", table_id)
    if match is None:
        return None
    return source / "tagged" / f"{match[1]}-tagged" / f"{match[2]}.tagged"


def wtq_table_files(source: Path, table_id: str) -> tuple[Path, Path | None]:
    """The table's CSV and its tagged copy (None if the id has no such shape).

    Both come from data, so each must stay inside the release folder it names
    (`core.paths.inside`), else this raises; they are returned as the data names
    them, which is what messages show.
    """
    inside(source, table_id)
    tagged = tagged_path(source, table_id)
    if tagged is not None:
        inside(source, tagged.relative_to(source))
    return source / table_id, tagged


def load_wtq_table(source: Path, table_id: str) -> Table:
    """A WikiTableQuestions table by its id (`csv/204-csv/590.csv`) under the dataset root."""
    path, tagged_file = wtq_table_files(source, table_id)
    grid = read_wtq_csv(path)
    check_grid(grid, path)
    tagged = read_tagged(tagged_file) if tagged_file is not None and tagged_file.is_file() else None
    return build_table(table_id, grid, tagged)


def csv_table_file(tables_dir: Path, table_id: str) -> Path:
    """A user's CSV table by its path relative to `tables_dir`, refused unless it stays inside."""
    inside(tables_dir, table_id)
    return tables_dir / table_id


def load_csv_table(tables_dir: Path, table_id: str) -> Table:
    """A user's plain CSV table (first line: headers) by its path relative to `tables_dir`."""
    path = csv_table_file(tables_dir, table_id)
    return table_from_rows(read_plain_csv(path), table_id, path)


def table_from_rows(rows: list[list[str]], table_id: str = "table",
                    name: Path | None = None) -> Table:
    """A table given as rows of cells (header row first), checked like a file; `name` is
    what errors call it (default: the id)."""
    grid = [[str(cell) for cell in row] for row in rows]
    check_grid(grid, name or Path(table_id))
    return build_table(table_id, grid)
