"""Question tokens and entities: numbers, dates and strings linked to table cells."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapo_cli.core.text import ascii_fold, contains, normalize_text, singular
from mapo_cli.data.questions import CellIndex, analyse_question, tokenize
from mapo_cli.data.tables import build_table

MEDALS = build_table(
    "t/medals.csv",
    [
        ["Rank", "Nation", "Score", "Venue", "Date"],
        ["1", "Brazil", "2-1", "Lake Palas Tuzla", "January 26, 1995"],
        ["2", "Peru", "3-0", "Estadio of the Republic", "March 1995"],
        ["3", "USL A-League", "0-0", "Lake Tuz", "2001"],
        ["4", "Côte d'Ivoire", "1-1", "The Oval", "2002"],
    ],
)
INDEX = CellIndex(MEDALS)


def entities(question: str) -> list[tuple[str, Any, list[int]]]:
    _tokens, found = analyse_question(question, INDEX)
    return [(e["type"], e["value"], e["span"]) for e in found]


def strings(question: str) -> list[str]:
    return [value for kind, value, _span in entities(question) if kind == "string"]


# ----------------------------------------------------------------- tokens


@pytest.mark.parametrize(("word", "form"), [
    ("weapons", "weapon"), ("countries", "country"), ("matches", "match"), ("boxes", "box"),
    ("losses", "loss"), ("wins", "win"), ("games", "game"),
    # kept: not plurals, or too short to tell
    ("status", "status"), ("analysis", "analysis"), ("class", "class"), ("was", "was"),
    ("gold", "gold"),
])
def test_singular_is_what_question_and_column_words_are_compared_as(word: str,
                                                                     form: str) -> None:
    assert singular(word) == form
    assert singular(form) == form


@pytest.mark.parametrize(
    ("question", "tokens"),
    [
        ("Which nation is before Peru?", ["which", "nation", "is", "before", "peru", "?"]),
        ("in what city did piotr's last 1st place finish occur?",
         ["in", "what", "city", "did", "piotr", "'s", "last", "1st", "place", "finish", "occur",
          "?"]),
        ("who didn't win?", ["who", "did", "n't", "win", "?"]),
        ("how many more than 51,130 or 3.5?",
         ["how", "many", "more", "than", "51,130", "or", "3.5", "?"]),
        ("the usl a-league", ["the", "usl", "a", "-", "league"]),
        ("what’s new", ["what", "'s", "new"]),
    ],
)  # fmt: skip
def test_tokenize(question: str, tokens: list[str]) -> None:
    assert [t.text for t in tokenize(question)] == tokens


# ----------------------------------------------------------------- numbers and dates


@pytest.mark.parametrize(
    ("question", "number"),
    [
        ("more than 51,130 people", 51130.0),
        ("at least 3.5 points", 3.5),
        ("at least seven wins", 7.0),
        ("twenty-five games", 25.0),
        ("twenty five games", 25.0),
        ("two hundred games", 200.0),
        ("a dozen times", 12.0),
        ("his 2nd race", 2.0),
        ("the third race", 3.0),
    ],
)
def test_numbers_in_digits_and_words(question: str, number: float) -> None:
    numbers = [value for kind, value, _span in entities(question) if kind == "number"]
    assert numbers == [number]


def test_a_year_is_a_number_and_a_date() -> None:
    assert ("number", 1999.0, [2, 3]) in entities("after the 1999 season")
    assert ("date", "1999-xx-xx", [2, 3]) in entities("after the 1999 season")


def test_full_dates_span_their_tokens_and_are_not_numbers() -> None:
    assert entities("who played on january 26, 1995?") == [
        ("date", "1995-01-26", [3, 7]),
        ("string", "january 26 , 1995", [3, 7]),
    ]
    found = entities("what happened in march 1996?")  # "march" alone is in a cell
    assert found == [("string", "march", [3, 4]), ("date", "1996-03-xx", [3, 5])]


# ----------------------------------------------------------------- strings


def test_peru_is_linked_as_a_string() -> None:
    assert entities("which nation is before peru?") == [("string", "peru", [4, 5])]


def test_longest_span_wins_and_spans_do_not_overlap() -> None:
    assert strings("which is deeper, lake tuz or lake palas tuzla?") == [
        "lake tuz",
        "lake palas tuzla",
    ]


def test_spans_of_only_stopwords_or_punctuation_are_skipped() -> None:
    # "the", "of", "of the" and "?" all occur in cells, but mean nothing alone
    assert strings("which of the nations is in the table?") == []


def test_values_are_normalised_text() -> None:
    assert strings("did the usl a-league win?") == ["usl a - league"]
    assert strings("what about cote d'ivoire?") == ["cote d ' ivoire"]


@pytest.mark.parametrize(("text", "folded"), [
    ("3–2", "3-2"), ("1990—95", "1990-95"), ("−5", "-5"),  # dashes and the minus sign
    ("O’Brien", "O'Brien"), ("“Yes”", '"Yes"'), ("Côte d'Ivoire", "Cote d'Ivoire"),
    ("Bjørn Dæhlie", "Bjorn Daehlie"), ("Straße", "Strasse"), ("Łódź", "Lodz"),
    ("45°N", "45 N"), ("a•b", "a b"), ("\ufeffName", "Name"), ("Москва", ""),
])
def test_ascii_fold_spells_what_accents_cannot_strip(text: str, folded: str) -> None:
    assert ascii_fold(text) == folded


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_folded_text_is_ascii_and_folds_to_itself(text: str) -> None:
    """What entity linking and filter_in compare is always ASCII, and folding it again
    changes nothing (a cell and a question folded once or twice match alike)."""
    folded = ascii_fold(text)
    assert folded.isascii() and ascii_fold(folded) == folded
    assert normalize_text(normalize_text(text)) == normalize_text(text)


def test_a_score_with_an_en_dash_is_found_by_its_ascii_spelling() -> None:
    """Tables write "3–2"; questions type "3-2". Folding used to delete the dash ("32")."""
    table = build_table("t/scores.csv", [["Match", "Score–Result"], ["Final", "3–2"],
                                         ["Semi", "32"]])
    _tokens, found = analyse_question("which match ended 3-2?", CellIndex(table))
    assert ("string", "3 - 2") in [(e["type"], e["value"]) for e in found]
    assert not contains(normalize_text("32"), "3 - 2")
    assert table["columns"] == ["match", "score_result"]  # not "scoreresult"


def test_a_number_inside_a_cell_is_also_a_string() -> None:
    found = entities("which match ended 2 to 1?")
    assert ("number", 2.0, [3, 4]) in found
    assert ("string", "2", [3, 4]) in found


def test_entities_are_in_question_order_without_duplicates() -> None:
    found = entities("was peru before brazil or after peru?")
    assert found == [("string", "peru", [1, 2]), ("string", "brazil", [3, 4])]


def test_nothing_found_in_an_unrelated_question() -> None:
    assert entities("how tall is everest") == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(
    ["peru", "lake", "tuz", "palas", "the", "of", "2", "1", "-", "a", "league", "usl", "?",
     "republic", "estadio", "oval", "côte", "what", "zebra", "january", "26", ",", "1995"]),
    max_size=12))  # fmt: skip
def test_every_string_entity_occurs_in_some_cell(words: list[str]) -> None:
    tokens, found = analyse_question(" ".join(words), INDEX)
    cells = [normalize_text(cell) for row in MEDALS["rows"] for cell in row]
    spans = [e["span"] for e in found if e["type"] == "string"]
    for entity in found:
        start, end = entity["span"]
        assert 0 <= start < end <= len(tokens)
        if entity["type"] == "string":
            assert any(contains(cell, entity["value"]) for cell in cells)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # no overlaps, in order
    keys = [(e["type"], e["value"]) for e in found]
    assert len(keys) == len(set(keys))
