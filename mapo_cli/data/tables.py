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
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

from mapo_cli.core.dates import date_string
from mapo_cli.core.errors import MapoError
from mapo_cli.core.paths import inside
from mapo_cli.core.text import column_names

Table = dict[str, Any]
CellValues = dict[tuple[int, int], tuple[float | None, str | None]]
"""Per (row, column) of the body: the cell's number and date, from the tagged file."""

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}

_MONTH = r"(?P<{}>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_ORD = r"(?:st|nd|rd|th)?"
_DATE = re.compile(
    "|".join(
        [
            r"(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})(?!\d)",
            _MONTH.format("am") + rf"\s+(?P<ad>\d{{1,2}}){_ORD},?\s+(?P<ay>\d{{4}})(?!\d)",
            rf"(?P<bd>\d{{1,2}}){_ORD}\s+(?:of\s+)?"
            + _MONTH.format("bm")
            + r",?\s+(?P<by>\d{4})(?!\d)",
            _MONTH.format("cm") + r",?\s+(?P<cy>\d{4})(?!\d)",
            _MONTH.format("dm") + rf"\s+(?P<dd>\d{{1,2}}){_ORD}(?![\d:])",
            rf"(?P<ed>\d{{1,2}}){_ORD}\s+(?:of\s+)?" + _MONTH.format("em") + r"(?![a-z])",
            r"(?P<fy>1\d{3}|20\d{2})(?![\d,.]\d)",
        ]
    ),
    re.IGNORECASE,
)
_WORD_EDGE = re.compile(r"[a-z0-9]", re.IGNORECASE)
_DIGIT = re.compile(r"\d")

_NUMBER = re.compile(
    r"(?:(?<=\s)|^)(?P<sign>[-−–])?\$?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)"
    r"|(?<![\d.,])\$?(?P<num2>\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)"
)
_SCALE = re.compile(r"\s*(?P<scale>thousand|million|billion)\b", re.IGNORECASE)
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9}

_TAGGED_DATE = re.compile(r"(\d{1,4}|x+)-(\d{1,2}|x+)-(\d{1,2}|x+)", re.IGNORECASE)


# ----------------------------------------------------------------- values


def _date_from_match(match: re.Match[str]) -> str | None:
    """Turn one `_DATE` match into a date string, whichever alternative matched."""
    g = match.groupdict()
    if g["iy"]:
        return date_string(int(g["iy"]), int(g["im"]), int(g["id"]))
    for prefix in "abcdef":
        month = g.get(f"{prefix}m")
        if month:
            year = g.get(f"{prefix}y")
            day = g.get(f"{prefix}d")
            return date_string(
                int(year) if year else None, MONTHS[month.lower()], int(day) if day else None
            )
    return date_string(int(g["fy"]), None, None)


def find_dates(text: str) -> list[tuple[int, int, str]]:
    """Every date written in `text`: (start, end, value) character spans, left to right.

    Full dates win over their parts ("January 26, 1995" is one date, not a
    month and a year). A bare year counts only from 1000 to 2099.
    """
    found = []
    for match in _DATE.finditer(text):
        start, end = match.span()
        if start > 0 and _WORD_EDGE.match(text[start - 1]):
            continue  # inside a word or number, e.g. "A1995"
        if end < len(text) and _WORD_EDGE.match(text[end]):
            continue  # "1990s" is a decade, not a year
        value = _date_from_match(match)
        if value is not None:
            found.append((start, end, value))
    return found


def parse_date(cell: str) -> str | None:
    """A cell's date: the first date in it, where a bare year must open the cell.

    ("1976 (UK)" is 1976; "Apartment 1303" is not a date.)
    """
    text = cell.strip()
    if _DIGIT.search(text) is None:
        return None  # every way of writing a date has a digit
    for start, _end, value in find_dates(text):
        if value.endswith("-xx-xx") and start > 0:
            continue
        return value
    return None


def parse_number(cell: str) -> float | None:
    """A cell's number, like CoreNLP's `number` field: the first number in it.

    "51,130" is 51130, "12%" is 12, "$1.2 million" is 1200000, "1st" is 1,
    "2-1" is 2 (a minus sign counts only at the start of a word).
    """
    match = _NUMBER.search(cell)
    if match is None:
        return None
    digits = (match.group("num") or match.group("num2")).replace(",", "")
    value = float(digits)
    if match.group("sign"):
        value = -value
    scale = _SCALE.match(cell, match.end())
    if scale:
        value *= _SCALES[scale.group("scale").lower()]
    return value if math.isfinite(value) else None


def tagged_number(field: str) -> float | None:
    """The tagged file's `number` field as a float (None when empty or not finite)."""
    if not field:
        return None
    try:
        value = float(field)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def tagged_date(field: str) -> str | None:
    """The tagged file's `date` field (`1995-xx-xx`, `xxxx-01-26`) in our spelling."""
    match = _TAGGED_DATE.fullmatch(field.strip())
    if match is None:
        return None
    parts = [None if part[0] in "xX" else int(part) for part in match.groups()]
    return date_string(*parts)


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
