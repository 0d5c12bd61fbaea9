"""Tick table (SPEC §3), rounding onto the grid, grid positions and the numba scalar."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ticks import (
    TICK_BANDS,
    is_on_tick,
    price_at_tick_index,
    round_to_tick,
    shift_ticks,
    tick_index,
    tick_size,
    tick_size_nb,
    ticks_between,
)

# (price, expected tick) on both sides of every boundary: bands are "less than".
BOUNDARIES = [
    (1, 1), (1_999, 1), (2_000, 5), (4_995, 5), (4_999, 5), (5_000, 10), (19_990, 10), (19_999, 10),
    (20_000, 50), (49_950, 50), (49_999, 50), (50_000, 100), (199_900, 100), (199_999, 100),
    (200_000, 500), (499_500, 500), (499_999, 500), (500_000, 1_000), (1_000_000, 1_000),
    (10**12, 1_000),
]


def test_table_is_the_2023_unified_table():
    assert TICK_BANDS == ((2_000, 1), (5_000, 5), (20_000, 10), (50_000, 50), (200_000, 100),
                          (500_000, 500), (math.inf, 1_000))


@pytest.mark.parametrize("price,tick", BOUNDARIES)
def test_tick_size_scalar_boundaries(price, tick):
    assert tick_size(price) == tick
    assert type(tick_size(price)) is int
    assert tick_size(float(price)) == tick
    assert tick_size(np.int64(price)) == tick


def test_tick_size_fractional_prices_just_below_a_boundary():
    assert tick_size(1_999.5) == 1
    assert tick_size(49_999.99) == 50
    assert tick_size(2_000.0) == 5


@pytest.mark.parametrize("bad", [0, -1, 0.0, -2_000.5, float("nan"), float("inf")])
def test_tick_size_rejects_non_positive_and_non_finite_naming_the_price(bad):
    with pytest.raises(ValueError, match="price") as exc:
        tick_size(bad)
    assert repr(bad) in str(exc.value)


def test_tick_size_rejects_non_numbers():
    with pytest.raises(TypeError):
        tick_size("2000")
    with pytest.raises(TypeError):
        tick_size(True)


def test_tick_size_array_matches_scalar_and_zeroes_invalid_entries():
    prices = np.array([p for p, _ in BOUNDARIES] + [0, -5], dtype=np.int64)
    out = tick_size(prices)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [t for _, t in BOUNDARIES] + [0, 0])
    fprices = np.array([1_999.5, 2_000.0, np.nan, -1.0, np.inf, 75_000.0])
    np.testing.assert_array_equal(tick_size(fprices), [1, 5, 0, 0, 0, 100])
    grid = np.array([[1_999, 2_000], [500_000, 0]])
    assert tick_size(grid).shape == (2, 2)
    np.testing.assert_array_equal(tick_size(grid), [[1, 5], [1_000, 0]])
    np.testing.assert_array_equal(tick_size([2_000, 5_000]), [5, 10])  # any array-like


def test_tick_size_nb_matches_tick_size():
    for price, tick in BOUNDARIES:
        assert tick_size_nb(np.int64(price)) == tick
    assert tick_size_nb(np.int64(0)) == 0
    assert tick_size_nb(np.int64(-7)) == 0


@given(st.integers(min_value=1, max_value=10**13))
@settings(max_examples=200, deadline=None)
def test_tick_size_nb_agrees_with_vectorised_and_scalar(price):
    assert tick_size_nb(price) == tick_size(price) == int(tick_size(np.array([price]))[0])


@pytest.mark.parametrize("price,direction,expected", [
    (2_003, "down", 2_000), (2_003, "up", 2_005), (2_003, "nearest", 2_005),
    (2_002, "nearest", 2_000), (2_002.5, "nearest", 2_005),  # a tie rounds up
    (1_999.5, "up", 2_000), (1_999.5, "down", 1_999), (1_999.4, "nearest", 1_999),
    (20_030, "down", 20_000), (20_030, "up", 20_050), (20_030, "nearest", 20_050),
    (20_020, "nearest", 20_000), (4_995, "up", 4_995), (4_999, "up", 5_000), (4_999.2, "up", 5_000),
    (75_000, "down", 75_000), (75_000, "up", 75_000), (75_049, "nearest", 75_000),
    (499_999, "up", 500_000), (500_001, "down", 500_000), (500_001, "up", 501_000),
    (0.4, "up", 1), (0.4, "nearest", 1),  # the grid starts at 1 KRW
])
def test_round_to_tick_scalar(price, direction, expected):
    out = round_to_tick(price, direction)
    assert out == expected
    assert type(out) is int


def test_round_to_tick_array_int_and_float():
    ints = np.array([2_003, 1_999, 20_030, 0, -5, 500_001], dtype=np.int64)
    np.testing.assert_array_equal(round_to_tick(ints, "down"), [2_000, 1_999, 20_000, 0, 0, 500_000])
    np.testing.assert_array_equal(round_to_tick(ints, "up"), [2_005, 1_999, 20_050, 0, 0, 501_000])
    floats = np.array([2_003.0, 1_999.5, 20_030.0, np.nan, 2_002.5])
    out = round_to_tick(floats, "nearest")
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [2_005, 2_000, 20_050, 0, 2_005])
    np.testing.assert_array_equal(round_to_tick(floats, "up"), [2_005, 2_000, 20_050, 0, 2_005])


def test_round_to_tick_rejects_bad_direction_and_bad_price():
    with pytest.raises(ValueError, match="'sideways'"):
        round_to_tick(2_003, "sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="-3"):
        round_to_tick(-3, "down")
    with pytest.raises(ValueError, match="0.4"):
        round_to_tick(0.4, "down")  # nothing on the grid below 1 KRW
    np.testing.assert_array_equal(round_to_tick(np.array([0.4]), "down"), [0])
    np.testing.assert_array_equal(round_to_tick(np.array([0.4]), "nearest"), [1])


@given(st.one_of(st.integers(min_value=1, max_value=10**9),
                 st.floats(min_value=1.0, max_value=1e9, allow_nan=False, allow_infinity=False)))
@settings(max_examples=300, deadline=None)
def test_round_to_tick_properties(price):
    down = round_to_tick(price, "down")
    up = round_to_tick(price, "up")
    nearest = round_to_tick(price, "nearest")
    for p in (down, up, nearest):
        assert is_on_tick(p)
    assert down <= price <= up
    assert nearest in (down, up)
    assert abs(nearest - price) <= abs(price - down) and abs(nearest - price) <= abs(up - price)
    assert up == down or shift_ticks(down, 1) == up  # consecutive grid points: nothing strictly between
    arr = np.array([price])
    assert round_to_tick(arr, "down")[0] == down
    assert round_to_tick(arr, "up")[0] == up
    assert round_to_tick(arr, "nearest")[0] == nearest


def test_is_on_tick_scalar_and_array():
    assert is_on_tick(2_000) and is_on_tick(2_005) and is_on_tick(1_999) and is_on_tick(75_000.0)
    assert not is_on_tick(2_001) and not is_on_tick(75_050) and not is_on_tick(1_999.5)
    assert not is_on_tick(0) and not is_on_tick(-5) and not is_on_tick(float("nan"))
    np.testing.assert_array_equal(is_on_tick(np.array([2_000, 2_001, 0, 75_000, 500_500])),
                                  [True, False, False, True, False])


def test_tick_index_and_inverse_across_bands():
    assert tick_index(1) == 1
    assert tick_index(1_999) == 1_999
    assert tick_index(2_000) == 2_000
    assert tick_index(2_005) == 2_001
    assert tick_index(5_000) == 2_000 + 3_000 // 5
    for price in [1, 1_999, 2_000, 4_995, 5_000, 19_990, 20_000, 49_950, 50_000, 199_900, 200_000,
                  499_500, 500_000, 1_234_000]:
        assert price_at_tick_index(tick_index(price)) == price
    prices = np.array([1, 1_999, 2_000, 4_995, 5_000, 500_000, 1_234_000])
    np.testing.assert_array_equal(price_at_tick_index(tick_index(prices)), prices)
    with pytest.raises(ValueError, match="2001"):
        tick_index(2_001)
    with pytest.raises(ValueError):
        tick_index(np.array([2_000, 2_001]))
    with pytest.raises(ValueError):
        price_at_tick_index(0)


def test_ticks_between_and_shift_ticks():
    assert ticks_between(1_995, 2_010) == 7
    assert ticks_between(2_010, 1_995) == -7
    assert ticks_between(75_000, 75_300) == 3
    assert ticks_between(49_950, 50_100) == 2
    assert shift_ticks(1_999, 1) == 2_000
    assert shift_ticks(2_000, 1) == 2_005
    assert shift_ticks(2_000, -1) == 1_999
    assert shift_ticks(499_500, 1) == 500_000
    assert shift_ticks(500_000, -1) == 499_500
    np.testing.assert_array_equal(shift_ticks(np.array([1_999, 500_000]), np.array([1, -1])), [2_000, 499_500])
    with pytest.raises(ValueError):
        shift_ticks(1, -1)
