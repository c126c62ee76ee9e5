"""Explored-prefix filters: what exploration relies on (mapo_cli/store/bloom.py)."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapo_cli.core.errors import MapoError
from mapo_cli.store.bloom import BloomFilter, optimal_bits_and_hashes
from mapo_cli.store.exact import ExactSet
from mapo_cli.store.filters import filter_from_bytes, filter_stats, make_filter
from mapo_cli.store.scalable import ScalableBloomFilter

keys_strategy = st.lists(st.binary(min_size=0, max_size=24), max_size=300)


def int_keys(start: int, stop: int) -> list[bytes]:
    """Distinct, deterministic keys (like token-id prefixes packed as uint16s)."""
    return [struct.pack("<QH", i, i % 65536) for i in range(start, stop)]


def false_positive_rate(filt, queries: list[bytes]) -> float:
    return sum(key in filt for key in queries) / len(queries)


def every_kind(capacity: int = 16, error_rate: float = 0.01) -> list:
    return [
        BloomFilter(capacity, error_rate),
        ScalableBloomFilter(capacity, error_rate),
        ExactSet(capacity, error_rate),
    ]


# --- no false negatives, add says what is new --------------------------------


@settings(max_examples=60, deadline=None)
@given(keys=keys_strategy)
def test_no_false_negatives_ever(keys: list[bytes]) -> None:
    for filt in every_kind(capacity=8):  # small capacity: the scalable one grows
        for key in keys:
            filt.add(key)
            assert key in filt
        assert all(key in filt for key in keys)


@settings(max_examples=60, deadline=None)
@given(keys=keys_strategy)
def test_adding_again_is_never_new(keys: list[bytes]) -> None:
    for filt in every_kind(capacity=8):
        for key in keys:
            filt.add(key)
        assert not any(filt.add(key) for key in keys)
        assert filt.count <= len(set(keys))


@settings(max_examples=60, deadline=None)
@given(keys=keys_strategy)
def test_exact_set_counts_exactly(keys: list[bytes]) -> None:
    filt = ExactSet()
    added = [filt.add(key) for key in keys]
    assert sum(added) == filt.count == len(set(keys))
    assert filt.bits == 8 * sum(len(key) for key in set(keys))


def test_a_new_key_is_reported_new() -> None:
    for filt in every_kind():
        assert filt.add(b"(argmax all_rows")
        assert not filt.add(b"(argmax all_rows")
        assert filt.count == 1
        assert b"(argmin all_rows" not in filt


# --- false-positive rates and size -------------------------------------------


@pytest.mark.parametrize("error_rate", [0.01, 0.001])
def test_false_positive_rate_at_capacity_is_near_the_target(error_rate: float) -> None:
    capacity = 20_000
    filt = BloomFilter(capacity, error_rate)
    for key in int_keys(0, capacity):
        filt.add(key)
    rate = false_positive_rate(filt, int_keys(10**9, 10**9 + 100_000))
    assert rate <= 1.5 * error_rate
    assert rate >= error_rate / 3  # honest sizing: not bought with spare bits
    assert filt.estimated_error_rate() == pytest.approx(error_rate, rel=0.5)


def test_scalable_filter_keeps_compound_rate_under_target_growing_tenfold() -> None:
    capacity, error_rate = 2_000, 0.01
    filt = ScalableBloomFilter(capacity, error_rate)
    for key in int_keys(0, 10 * capacity):
        filt.add(key)
    assert len(filt.filters) == 4  # 2k + 4k + 8k fill up, 16k takes the rest
    assert [f.capacity for f in filt.filters] == [2_000, 4_000, 8_000, 16_000]
    assert filt.count == pytest.approx(10 * capacity, rel=0.01)
    rate = false_positive_rate(filt, int_keys(10**9, 10**9 + 100_000))
    assert rate <= error_rate
    assert filt.estimated_error_rate() <= error_rate


def test_scalable_filter_error_budget_sums_below_target() -> None:
    filt = ScalableBloomFilter(10, 0.01, growth=2, ratio=0.5)
    for key in int_keys(0, 10_000):
        filt.add(key)
    rates = [f.error_rate for f in filt.filters]
    assert rates[0] == pytest.approx(0.005)
    assert all(b == pytest.approx(a / 2) for a, b in itertools.pairwise(rates))
    assert sum(rates) < 0.01


def test_bits_per_item_at_one_percent() -> None:
    """Standard sizing gives 9.6 bits per item at 1 %; the product target is at most 16."""
    m, k = optimal_bits_and_hashes(100_000, 0.01)
    assert m / 100_000 == pytest.approx(9.585, abs=0.01)
    assert k == 7
    filt = BloomFilter(100_000, 0.01)
    for key in int_keys(0, 100_000):
        filt.add(key)
    assert 9.5 <= filt.bits_per_item <= 9.8  # a few keys collide: count < 100,000
    scalable = ScalableBloomFilter(100_000, 0.01)
    for key in int_keys(0, 100_000):
        scalable.add(key)
    assert scalable.bits_per_item <= 16  # its first filter aims at 0.5 %: about 11 bits


# --- serialisation -------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(keys=keys_strategy, mode=st.sampled_from(["bloom", "exact", "plain"]))
def test_serialisation_round_trips(keys: list[bytes], mode: str) -> None:
    filt = BloomFilter(50, 0.01) if mode == "plain" else make_filter(mode, 8, 0.01)
    for key in keys:
        filt.add(key)
    data = filt.to_bytes()
    again = filter_from_bytes(data)
    assert type(again) is type(filt)
    assert again.count == filt.count
    assert again.bits == filt.bits
    assert all(key in again for key in keys)
    assert again.to_bytes() == data  # deterministic: equal filters, equal bytes
    assert filter_stats(data) == (filt.bits, filt.count)
    probes = int_keys(0, 200)
    assert [p in again for p in probes] == [p in filt for p in probes]


def test_a_restored_filter_keeps_growing() -> None:
    filt = ScalableBloomFilter(4, 0.01)
    for key in int_keys(0, 10):
        filt.add(key)
    again = ScalableBloomFilter.from_bytes(filt.to_bytes())
    for key in int_keys(10, 100):
        again.add(key)
    assert all(key in again for key in int_keys(0, 100))
    assert len(again.filters) > len(filt.filters)


def test_equal_exact_sets_serialise_equally_whatever_the_insertion_order() -> None:
    a, b = ExactSet(), ExactSet()
    for key in [b"x", b"yy", b"zzz"]:
        a.add(key)
    for key in [b"zzz", b"x", b"yy"]:
        b.add(key)
    assert a.to_bytes() == b.to_bytes()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",
        lambda data: b"Q" + data[1:],
        lambda data: data[:-1],
        lambda data: data + b"\x00",
        lambda data: data[:10],
    ],
)
def test_damaged_filter_bytes_are_a_clear_error(damage) -> None:
    for filt in every_kind():
        filt.add(b"abc")
        with pytest.raises(MapoError, match="corrupt|unknown"):
            filter_from_bytes(damage(filt.to_bytes()))


# --- construction -------------------------------------------------------------


def test_make_filter_modes() -> None:
    assert isinstance(make_filter("bloom", 100, 0.01), ScalableBloomFilter)
    assert isinstance(make_filter("exact", 100, 0.01), ExactSet)
    with pytest.raises(MapoError, match="unknown filter mode 'fuzzy'"):
        make_filter("fuzzy", 100, 0.01)


@pytest.mark.parametrize("capacity, error_rate", [(0, 0.01), (10, 0.0), (10, 1.0), (10, -1)])
def test_impossible_sizing_is_a_clear_error(capacity: int, error_rate: float) -> None:
    with pytest.raises(MapoError, match="filter"):
        make_filter("bloom", capacity, error_rate)
