"""Tables as prepared data: reading WTQ and plain CSV, typed views, column names."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapo_cli.core.errors import MapoError
from mapo_cli.data.cell_values import (
    find_dates,
    parse_date,
    parse_number,
    tagged_date,
    tagged_number,
)
from mapo_cli.data.tables import (
    build_table,
    load_csv_table,
    load_wtq_table,
    read_plain_csv,
    read_wtq_csv,
)

WTQ = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "wtq"

TAGGED_HEADER = (
    "row\tcol\tid\tcontent\ttokens\tlemmaTokens\tposTags\tnerTags\tnerValues"
    "\tnumber\tdate\tnum2\tlist\tlistId"
)


def tagged_line(row: int, col: int, content: str, number: str = "", date: str = "") -> str:
    return f"{row}\t{col}\tfb:cell.x\t{content}\t\t\t\t\t\t{number}\t{date}\t\t\t"


def write_wtq_table(root: Path, csv_text: str, tagged: list[str] | None = None) -> str:
    """A table in a WTQ-shaped directory; returns its id."""
    (root / "csv" / "200-csv").mkdir(parents=True, exist_ok=True)
    (root / "csv" / "200-csv" / "0.csv").write_text(csv_text, encoding="utf-8")
    if tagged is not None:
        (root / "tagged" / "200-tagged").mkdir(parents=True, exist_ok=True)
        text = "\n".join([TAGGED_HEADER, *tagged]) + "\n"
        (root / "tagged" / "200-tagged" / "0.tagged").write_text(text, encoding="utf-8")
    return "csv/200-csv/0.csv"


# ----------------------------------------------------------------- reading


def test_wtq_csv_uses_backslash_escapes_and_quoted_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        '"Title","Note"\n"Episode: \\"Pilot\\"","C:\\\\dir"\n"two\nlines","escaped\\nbreak"\n',
        encoding="utf-8",
    )
    assert read_wtq_csv(path) == [
        ["Title", "Note"],
        ['Episode: "Pilot"', "C:\\dir"],
        ["two\nlines", "escaped\nbreak"],
    ]


def test_plain_csv_uses_doubled_quotes_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('Name,Motto\n"Peru","say ""hi"""\n\n', encoding="utf-8")
    assert read_plain_csv(path) == [["Name", "Motto"], ["Peru", 'say "hi"']]


def test_ragged_row_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("A,B\n1,2\n3,4,5\n", encoding="utf-8")
    with pytest.raises(MapoError, match=r"t\.csv:3: ragged table: this row has 3 cells"):
        load_csv_table(tmp_path, "t.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty table"), ("\n\n", "empty table"), ('"A","B"\n', "a header row but no rows")],
)
def test_empty_tables_are_errors(tmp_path: Path, text: str, message: str) -> None:
    table_id = write_wtq_table(tmp_path, text)
    with pytest.raises(MapoError, match=message):
        load_wtq_table(tmp_path, table_id)


def test_non_utf8_table_is_an_error_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes(b"A,B\n1,2\nPer\xff,3\n")
    with pytest.raises(MapoError, match=r"t\.csv:3: not UTF-8 \(byte 0xff\)"):
        load_csv_table(tmp_path, "t.csv")


def test_missing_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MapoError, match="no such table file"):
        load_csv_table(tmp_path, "nope.csv")


# ----------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("cell", "number"),
    [
        ("51,130", 51130.0),
        ("3.5", 3.5),
        ("12%", 12.0),
        ("$1.2 million", 1_200_000.0),
        ("1st", 1.0),
        ("4th, Western", 4.0),
        ("2-1", 2.0),  # a score: the first number, not minus one
        ("-7", -7.0),
        ("Did not qualify", None),
        ("", None),
    ],
)
def test_parse_number(cell: str, number: float | None) -> None:
    assert parse_number(cell) == number


@pytest.mark.parametrize(
    ("cell", "date"),
    [
        ("1995", "1995-xx-xx"),
        ("January 26, 1995", "1995-01-26"),
        ("26 January 1995", "1995-01-26"),
        ("1995-01-26", "1995-01-26"),
        ("Jan 1995", "1995-01-xx"),
        ("March 3", "xx-03-03"),
        ("1976 (UK)", "1976-xx-xx"),
        ("1995–96", "1995-xx-xx"),
        ("Apartment 1303", None),  # a bare year must open the cell
        ("1990s", None),
        ("7,169", None),
        ("February 30, 1995", "1995-02-30"),  # in range per part; calendars are not checked
        ("Month 13", None),
    ],
)
def test_parse_date(cell: str, date: str | None) -> None:
    assert parse_date(cell) == date


def test_find_dates_prefers_whole_dates_over_their_parts() -> None:
    text = "between january 26, 1995 and 2001"
    assert find_dates(text) == [(8, 24, "1995-01-26"), (29, 33, "2001-xx-xx")]


def test_tagged_values_are_read_in_our_spelling() -> None:
    assert tagged_date("2001-xx-xx") == "2001-xx-xx"
    assert tagged_date("xxxx-01-26") == "xx-01-26"
    assert tagged_date("1982-07-15") == "1982-07-15"
    assert tagged_date("99999-99-99") is None
    assert tagged_number("7169.0") == 7169.0
    assert tagged_number("Infinity") is None
    assert tagged_number("") is None


# ----------------------------------------------------------------- views


def test_views_need_half_of_the_non_empty_cells() -> None:
    grid = [
        ["Score", "Note", "Born"],
        ["3", "x", "1990"],
        ["n/a", "4", ""],
        ["", "y", ""],
        ["5", "z", "May 5, 1991"],
    ]
    table = build_table("t.csv", grid)
    assert table["numbers"][0] == [3.0, None, None, 5.0]  # 2 of 3 non-empty cells
    assert table["numbers"][1] is None  # 1 of 4
    assert table["dates"][2] == ["1990-xx-xx", None, None, "1991-05-05"]
    assert table["dates"][0] is None


def test_tagged_values_win_over_our_parsers(tmp_path: Path) -> None:
    table_id = write_wtq_table(
        tmp_path,
        '"Year","Place","Code"\n"2001","4th, Western","12"\n"Jan 26","1st Round","13"\n',
        [
            tagged_line(-1, 0, "Year"),
            tagged_line(0, 0, "2001", "2001.0", "2001-xx-xx"),
            tagged_line(0, 1, "4th, Western", "4.0"),
            tagged_line(0, 2, "12"),
            tagged_line(1, 0, "Jan 26", "", "xxxx-01-26"),
            tagged_line(1, 1, "1st Round", "1.0"),
            tagged_line(1, 2, "13"),
        ],
    )
    table = load_wtq_table(tmp_path, table_id)
    assert table["numbers"] == [[2001.0, None], [4.0, 1.0], None]
    assert table["dates"] == [["2001-xx-xx", "xx-01-26"], None, None]


def test_without_tagged_copy_our_parsers_decide(tmp_path: Path) -> None:
    table_id = write_wtq_table(tmp_path, '"Year","Code"\n"2001","12"\n"2002","13"\n')
    table = load_wtq_table(tmp_path, table_id)
    assert table["numbers"] == [[2001.0, 2002.0], [12.0, 13.0]]
    assert table["dates"] == [["2001-xx-xx", "2002-xx-xx"], None]


def test_table_record_has_the_documented_layout(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("Rank,Nation\n1,Peru\n2,Chile\n", encoding="utf-8")
    table = load_csv_table(tmp_path, "t.csv")
    assert table == {
        "id": "t.csv",
        "headers": ["Rank", "Nation"],
        "columns": ["rank", "nation"],
        "rows": [["1", "Peru"], ["2", "Chile"]],
        "numbers": [[1.0, 2.0], None],
        "dates": [None, None],
    }


# ----------------------------------------------------------------- column names


@pytest.mark.parametrize(
    ("headers", "columns"),
    [
        (["Année", "Équipe (FR)"], ["annee", "equipe_fr"]),  # ASCII fold
        (["Avg. Attendance", "  Rank  "], ["avg_attendance", "rank"]),
        (["Name", "", "—"], ["name", "column_2", "column_3"]),  # empty -> column_k
        (["Rank", "Rank", "rank"], ["rank", "rank_2", "rank_3"]),  # repeats -> _2, _3
        (["Rank", "Rank_2", "Rank"], ["rank", "rank_2", "rank_3"]),  # never a clash
    ],
)
def test_column_names_follow_the_design_rule(headers: list[str], columns: list[str]) -> None:
    grid = [headers, ["x"] * len(headers)]
    table = build_table("t.csv", grid)
    assert table["columns"] == columns
    assert table["headers"] == headers


# ----------------------------------------------------------------- the real dataset


@pytest.mark.skipif(not WTQ.is_dir(), reason=f"WikiTableQuestions not found at {WTQ}")
def test_real_wtq_table() -> None:
    table = load_wtq_table(WTQ, "csv/204-csv/590.csv")
    assert table["columns"][:3] == ["year", "division", "league"]
    assert table["columns"][-1] == "avg_attendance"
    assert table["numbers"][0][:2] == [2001.0, 2002.0]
    assert table["dates"][0][:2] == ["2001-xx-xx", "2002-xx-xx"]
    assert table["numbers"][6][0] == 7169.0  # "7,169"
    assert table["numbers"][2] is None and table["dates"][2] is None  # "USL A-League"
    assert all(len(row) == len(table["headers"]) for row in table["rows"])
