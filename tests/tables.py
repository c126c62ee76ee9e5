"""Small hand-made tables and examples shared by the tests."""

from __future__ import annotations

from mapo_cli.core.text import column_names

MEDALS_HEADERS = ["Rank", "Nation", "Gold", "Silver", "Year"]
MEDALS_ROWS = [
    ["1", "Brazil", "5", "2", "1995"],
    ["2", "Peru", "3", "4", "1997"],
    ["3", "Chile", "3", "1", "1995"],
    ["4", "Peru B", "1", "1", "2001"],
]


def medals_table() -> dict:
    """Four nations; Gold ties at 3; 'peru' occurs in two rows."""
    n = len(MEDALS_HEADERS)
    numbers: list = [None] * n
    dates: list = [None] * n
    for c in (0, 2, 3):
        numbers[c] = [float(row[c]) for row in MEDALS_ROWS]
    numbers[4] = [float(row[4]) for row in MEDALS_ROWS]
    dates[4] = [f"{row[4]}-xx-xx" for row in MEDALS_ROWS]
    return {
        "id": "t/medals.csv",
        "headers": MEDALS_HEADERS,
        "columns": column_names(MEDALS_HEADERS),
        "rows": MEDALS_ROWS,
        "numbers": numbers,
        "dates": dates,
    }


def example(question: str, entities: list[dict], answer: list[str], grammar: str = "wtq") -> dict:
    return {
        "id": "ex-1",
        "question": question,
        "tokens": question.lower().replace("?", " ?").split(),
        "entities": entities,
        "answer": answer,
        "table": "t/medals.csv",
        "grammar": grammar,
    }


def small_table(rows: int = 3, table_id: str = "t/medals.csv") -> dict:
    """The medals table cut to its first rows: small enough to enumerate every program."""
    table = medals_table()
    table["id"] = table_id
    table["rows"] = table["rows"][:rows]
    table["numbers"] = [None if c is None else c[:rows] for c in table["numbers"]]
    table["dates"] = [None if c is None else c[:rows] for c in table["dates"]]
    return table
