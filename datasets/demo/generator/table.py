"""One generated table: raw cells, their literal forms and typed views, and its phrasings."""

from __future__ import annotations

from .cells import cell_date, cell_number, core_text
from .text import column_names, normalize_text


class Table:
    """A table as the interpreter and the question templates see it.

    `norm` holds each cell normalised (what `filter_in` matches), `numbers`
    and `dates` each column's `num` and `date` views, `lits` each cell's
    literal form (the words a question uses for it: by default the cell
    without footnote marks and parentheses), `spec` the kind's question
    templates (see templates.py).
    """

    def __init__(self, kind: str, headers: list[str], rows: list[list[str]],
                 spec: dict, lits: dict[str, list[str]] | None = None) -> None:
        self.kind = kind
        self.id = ""
        self.headers = headers
        self.rows = rows
        self.spec = spec
        self.names = column_names(headers)
        width = len(headers)
        assert all(len(row) == width for row in rows)
        self.norm = [[normalize_text(row[c]) for c in range(width)] for row in rows]
        self.numbers = [[cell_number(row[c]) for row in rows] for c in range(width)]
        self.dates = [[cell_date(row[c]) for row in rows] for c in range(width)]
        self.lits: list[list[str]] = []
        for c, header in enumerate(headers):
            given = (lits or {}).get(header)
            self.lits.append(given if given else [normalize_text(core_text(r[c])) for r in rows])

    @property
    def n(self) -> int:
        return len(self.rows)

    def col(self, header: str) -> int:
        return self.headers.index(header)

    def full_num(self, c: int) -> bool:
        """Every cell of the column is a number: safe for comparisons and superlatives."""
        return all(v is not None for v in self.numbers[c])

    def full_date(self, c: int) -> bool:
        return all(v is not None and "x" not in v for v in self.dates[c])

    def var(self, c: int, kind: str) -> str:
        return f"r.{self.names[c]}-{kind}"
