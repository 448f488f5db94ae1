"""Impact bid and ask: the average fill of the impact notional (onshore.pricing.impact)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.config.load import default_config
from onshore.pricing.impact import impact_ask_ticks, impact_bid_ticks, impact_vwap

BTC = default_config().markets["BTC-PERP"]
M = BTC.micros_per_tick_lot  # 0.1 USD × 1 contract × 0.01 BTC = 0.001 USD = 1,000 micros
IMPACT = BTC.funding.impact_notional_micros  # 20,000 USD


def ticks(text: str) -> int:
    return BTC.price_grid.parse(text)


def test_the_built_in_btc_perp_grid_makes_one_tick_lot_a_thousand_micros() -> None:
    assert M == 1_000
    assert IMPACT == 20_000_000_000


# ---------------------------------------------------------------- worked cases
def test_a_deep_best_level_fills_the_whole_notional_at_its_price() -> None:
    bids = [(ticks("65000.0"), 1_000), (ticks("64990.0"), 1_000)]
    assert impact_bid_ticks(bids, IMPACT, M) == ticks("65000.0")


def test_a_thin_book_that_cannot_absorb_the_notional_has_no_impact_price() -> None:
    # 10 + 10 + 5 contracts of 0.01 BTC near 65,000: about 16,250 USD of bids < 20,000 USD.
    thin_bids = [(ticks("65000.0"), 10), (ticks("64990.0"), 10), (ticks("64900.0"), 5)]
    assert impact_bid_ticks(thin_bids, IMPACT, M) is None
    assert impact_ask_ticks([], IMPACT, M) is None


def test_a_thin_book_walks_deep_and_the_last_level_fills_fractionally() -> None:
    # Sell 20,000 USD: 10 lots at 65,000 (6,500 USD), 10 at 64,990 (6,499 USD), then the
    # remaining 7,001 USD at 64,000: 7,001 / 640 = 10.9390625 lots. VWAP =
    # 20,000 / (0.01 × 30.9390625) = 64,643.1998... -> rounded down to 64,643.1.
    bids = [(ticks("65000.0"), 10), (ticks("64990.0"), 10), (ticks("64000.0"), 100)]
    exact = Fraction(*impact_vwap(bids, IMPACT, M))  # type: ignore[misc]
    assert exact == Fraction(IMPACT, M) / (20 + Fraction(7_001_000_000, 640_000 * M))
    assert impact_bid_ticks(bids, IMPACT, M) == ticks("64643.1")


def test_impact_bid_rounds_down_and_impact_ask_rounds_up() -> None:
    # m = 1 micro per tick-lot, notional 3 micros. Asks: 1 lot at 1 tick (1 micro), then
    # 2 micros at 2 ticks (1 lot): 3 micros for 2 lots, VWAP 1.5 ticks -> ask rounds up to 2.
    asks = [(1, 1), (2, 100)]
    assert impact_vwap(asks, 3, 1) == (6, 4)
    assert impact_ask_ticks(asks, 3, 1) == 2
    # Bids: 1 lot at 2 ticks (2 micros), then 1 micro at 1 tick (1 lot): VWAP 1.5 -> bid rounds down to 1.
    bids = [(2, 1), (1, 100)]
    assert impact_vwap(bids, 3, 1) == (3, 2)
    assert impact_bid_ticks(bids, 3, 1) == 1


def test_a_notional_ending_exactly_on_a_level_boundary_uses_whole_levels() -> None:
    asks = [(100, 2), (110, 3)]  # 200 + 330 micros with m = 1
    assert impact_vwap(asks, 530, 1) == (530 * 110, 110 * 2 + 330)
    assert Fraction(530, 5) == Fraction(530 * 110, 110 * 2 + 330)
    assert impact_ask_ticks(asks, 530, 1) == 106


@pytest.mark.parametrize(
    "levels",
    [
        [(100, 0)],
        [(0, 5)],
        [(100, 1), (100, 1)],  # not strictly ordered
        [(100, 1), (101, 1), (99, 1)],  # direction changes
    ],
)
def test_bad_levels_raise(levels: list[tuple[int, int]]) -> None:
    with pytest.raises(ValueError):
        impact_vwap(levels, 10**9, 1)


def test_a_non_positive_notional_raises() -> None:
    with pytest.raises(ValueError):
        impact_vwap([(100, 1)], 0, 1)


# ---------------------------------------------------------------- properties
@st.composite
def bid_book(draw: st.DrawFn) -> list[tuple[int, int]]:
    prices = draw(st.lists(st.integers(1, 1_000_000), min_size=1, max_size=12, unique=True))
    return [(p, draw(st.integers(1, 500))) for p in sorted(prices, reverse=True)]


@given(bid_book(), st.integers(1, 10**10))
def test_impact_bid_lies_between_the_worst_level_reached_and_the_best_bid(
    bids: list[tuple[int, int]], notional: int
) -> None:
    depth = sum(p * q * M for p, q in bids)
    bid = impact_bid_ticks(bids, notional, M)
    if notional > depth:
        assert bid is None
        return
    assert bid is not None
    assert bids[-1][0] <= bid <= bids[0][0]
    # exactness: the fraction is the notional over the filled contracts, in ticks
    num, den = impact_vwap(bids, notional, M)  # type: ignore[misc]
    assert bid == num // den


@given(bid_book(), st.integers(1, 10**9), st.integers(1, 10**9))
def test_a_larger_impact_notional_never_gives_a_better_impact_bid(
    bids: list[tuple[int, int]], small: int, extra: int
) -> None:
    shallow = impact_bid_ticks(bids, small, M)
    deep = impact_bid_ticks(bids, small + extra, M)
    if deep is not None:
        assert shallow is not None
        assert deep <= shallow


@st.composite
def ask_book(draw: st.DrawFn) -> list[tuple[int, int]]:
    return [(p, q) for p, q in reversed(draw(bid_book()))]


@given(ask_book(), st.integers(1, 10**10))
def test_impact_ask_lies_between_the_best_ask_and_the_worst_level_reached(
    asks: list[tuple[int, int]], notional: int
) -> None:
    depth = sum(p * q * M for p, q in asks)
    ask = impact_ask_ticks(asks, notional, M)
    if notional > depth:
        assert ask is None
        return
    assert ask is not None
    assert asks[0][0] <= ask <= asks[-1][0]
    num, den = impact_vwap(asks, notional, M)  # type: ignore[misc]
    assert ask == -(-num // den)
