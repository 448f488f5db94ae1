"""Neutral rounding and grid conversion (onshore.pricing.ticks)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.core.units import Grid, OffGridError
from onshore.pricing.ticks import clamp, common_grid, convert_price_ticks, div_half_even

INDEX_GRID = Grid("0.01")  # [indices.BTC-USD] tick_size
BTC_PERP_GRID = Grid("0.1")  # [markets.BTC-PERP] tick_size


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (5, 2, 2),  # 2.5 -> 2 (even)
        (7, 2, 4),  # 3.5 -> 4 (even)
        (-5, 2, -2),
        (-7, 2, -4),
        (10, 4, 2),  # 2.5 -> 2
        (11, 4, 3),  # 2.75 -> 3
        (9, 4, 2),  # 2.25 -> 2
        (6, 3, 2),
    ],
)
def test_div_half_even_rounds_to_nearest_and_ties_to_even(numerator: int, denominator: int, expected: int) -> None:
    assert div_half_even(numerator, denominator) == expected


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_div_half_even_is_within_half_a_unit(numerator: int, denominator: int) -> None:
    q = div_half_even(numerator, denominator)
    assert abs(2 * (numerator - q * denominator)) <= denominator


def test_index_ticks_convert_to_market_ticks_with_the_named_rounding() -> None:
    price = INDEX_GRID.parse("65000.12")
    assert convert_price_ticks(price, INDEX_GRID, BTC_PERP_GRID, "floor") == BTC_PERP_GRID.parse("65000.1")
    assert convert_price_ticks(price, INDEX_GRID, BTC_PERP_GRID, "ceil") == BTC_PERP_GRID.parse("65000.2")
    assert convert_price_ticks(price, INDEX_GRID, BTC_PERP_GRID, "half_even") == BTC_PERP_GRID.parse("65000.1")
    tie = INDEX_GRID.parse("65000.15")
    assert convert_price_ticks(tie, INDEX_GRID, BTC_PERP_GRID, "half_even") == BTC_PERP_GRID.parse("65000.2")


def test_exact_conversion_refuses_to_round() -> None:
    with pytest.raises(OffGridError):
        convert_price_ticks(INDEX_GRID.parse("65000.12"), INDEX_GRID, BTC_PERP_GRID)
    assert convert_price_ticks(BTC_PERP_GRID.parse("65000.1"), BTC_PERP_GRID, INDEX_GRID) == 6_500_010


def test_common_grid_is_one_both_grids_convert_to_exactly() -> None:
    assert common_grid(BTC_PERP_GRID, INDEX_GRID).step == "0.01"
    quarter = Grid("0.25")
    grid = common_grid(quarter, BTC_PERP_GRID)
    assert convert_price_ticks(3, quarter, grid) == 75
    assert convert_price_ticks(3, BTC_PERP_GRID, grid) == 30


def test_clamp_limits_to_the_range_and_rejects_an_empty_one() -> None:
    assert [clamp(v, -5, 5) for v in (-9, 0, 9)] == [-5, 0, 5]
    with pytest.raises(ValueError):
        clamp(0, 1, -1)
