"""mapo's target canonicaliser: what CoreNLP's `targetCanon` would hold for a target string.

Used when a release has no `tagged/data/*.tagged` (and for data prepared
without `answer_canonical`). One case per form the module docstring lists.
"""

from __future__ import annotations

import pytest

from mapo_cli.data.scoring import answer_matches
from mapo_cli.data.target_canon import target_value


@pytest.mark.parametrize(("text", "canon"), [
    # 1. a strict US-format number
    ("51,130", "51130.0"),
    ("1,000.5", "1000.5"),
    ("-5", "-5.0"),
    ("1995", "1995.0"),
    (".15", "0.15"),
    # 2. a whole-string date
    ("January 26, 1995", "1995-01-26"),
    ("Jan. 26 1995", "1995-01-26"),
    ("26 January 1995", "1995-01-26"),
    ("26th of January, 1995", "1995-01-26"),
    ("March 1995", "1995-03-xx"),
    ("Sept 11", "xxxx-09-11"),
    ("11 September", "xxxx-09-11"),
    ("1995-01-26", "1995-01-26"),
    ("1/26/1995", "1995-01-26"),
])
def test_numbers_and_dates(text: str, canon: str) -> None:
    assert target_value(text) == canon


@pytest.mark.parametrize(("text", "canon"), [
    # a unit after the number, with or without a space
    pytest.param("7km", "7.0", id="unit-glued"),
    pytest.param("100m", "100.0", id="unit-glued-metres"),
    pytest.param("1,000ft", "1000.0", id="unit-glued-grouped"),
    pytest.param("7 km", "7.0", id="unit-spaced"),
    pytest.param("17 years", "17.0", id="unit-word"),
    # a currency sign before it
    pytest.param("$50", "50.0", id="currency-dollar"),
    pytest.param("£56,760.56", "56760.56", id="currency-pound"),
    pytest.param("US$10,000", "10000.0", id="currency-us-dollar"),
    # thousands written with spaces
    pytest.param("858 209", "858209.0", id="spaced-thousands"),
    pytest.param("1 104 km", "1104.0", id="spaced-thousands-unit"),
    pytest.param("12 345 678", "12345678.0", id="spaced-millions"),
    # a scale word after it
    pytest.param("11.63 million", "11630000.0", id="scale-million"),
    pytest.param("$1.2 billion", "1200000000.0", id="scale-billion-currency"),
    pytest.param("3 thousand", "3000.0", id="scale-thousand"),
    # a number inside a short phrase
    pytest.param("Season 7", "7.0", id="phrase-before"),
    pytest.param("Ep. 8", "8.0", id="phrase-abbreviation"),
    pytest.param("2000 Olympic Games", "2000.0", id="phrase-after"),
])
def test_corenlp_number_forms(text: str, canon: str) -> None:
    assert target_value(text) == canon


@pytest.mark.parametrize("text", [
    "3rd", "21st", "3rd place",           # ordinals
    "two",                                # number words
    "5%", "49.90%",                       # percentages written without a space
    "1960s", "San Francisco 49ers",       # a suffix that is not a unit
    "2000-2005", "2-1", "1 - 0", "2:03",  # two numbers: ranges, scores, times
    "37 miles (60 km)", "Terminal 3 (CT3)",
    "V6", "#22", "Ladi6",                 # digits inside a word
    "2010 FIFA World Cup qualification",  # a long phrase
    "Bangkok, Thailand",
])
def test_strings_stay_strings(text: str) -> None:
    assert target_value(text) is None


@pytest.mark.parametrize(("predicted", "target"), [
    ("7", "7km"), ("50", "$50"), ("858209", "858209"), ("858209", "858 209"),
    ("7", "Season 7"), ("11630000", "11.63 million"),
    ("Season 7", "Season 7"),   # the original string still matches itself
])
def test_predictions_match_the_canonical_value(predicted: str, target: str) -> None:
    assert answer_matches([predicted], [target])


def test_a_scaled_target_is_not_its_mantissa() -> None:
    assert not answer_matches(["11.63"], ["11.63 million"])
    assert not answer_matches(["858"], ["858 209"])
