"""How large a question and a table may be when a parser answers it at once (`mapo ask`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mapo_cli.core.errors import MapoError
from mapo_cli.data.tables import Table


class TooLarge(MapoError):
    """A question or table past a limit (`mapo serve` answers it with 413)."""


@dataclass(frozen=True)
class Limits:
    """What one question may ask of a parser. Past these an answer takes too long, or the
    input is not a question or a table, so it is refused with a message naming the limit
    (`mapo ask --max-rows` raises the table's)."""

    question_characters: int = 1_000
    rows: int = 10_000
    columns: int = 100
    cell_characters: int = 1_000
    table_bytes: int = 50_000_000

    def check_question(self, question: str) -> str:
        """The question without surrounding blanks, or MapoError."""
        text = question.strip()
        if not text:
            raise MapoError("the question is empty")
        if len(text) > self.question_characters:
            raise TooLarge(f"the question has {len(text):,} characters; a question may have "
                            f"at most {self.question_characters:,}")
        return text

    def check_file(self, path: Path) -> None:
        try:
            size = path.stat().st_size
        except OSError:
            return  # reading it says what is wrong
        if size > self.table_bytes:
            raise TooLarge(f"{path}: {size:,} bytes; a table may have at most "
                            f"{self.table_bytes:,}")

    def check_table(self, table: Table, name: str) -> None:
        self.check_grid([table["headers"], *table["rows"]], name)

    def check_grid(self, grid: list[list[str]], name: str) -> None:
        """Rows of cells, header row first: checked before the table is typed, which takes
        longest."""
        rows, columns = max(len(grid) - 1, 0), len(grid[0]) if grid else 0
        if rows > self.rows:
            raise TooLarge(f"{name}: {rows:,} rows; a table may have at most {self.rows:,} "
                            "(raise it with --max-rows, at the cost of a slower answer)")
        if columns > self.columns:
            raise TooLarge(f"{name}: {columns:,} columns; a table may have at most "
                            f"{self.columns:,} (raise it with --max-columns)")
        for row in grid:
            for cell in row:
                if len(cell) > self.cell_characters:
                    raise TooLarge(f"{name}: a cell of {len(cell):,} characters; a cell may "
                                    f"have at most {self.cell_characters:,}")


DEFAULT_LIMITS = Limits()
