"""The mark price: median of (index + basis MA, clamped impact mid, last trade) (onshore.pricing.mark)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.config.load import default_config
from onshore.core.units import PPB
from onshore.pricing.mark import (
    MarkComponents,
    band_ticks,
    basis_sample_ticks,
    mark_bounds_ticks,
    mark_components,
    mark_price_ticks,
    median3,
    mid_ticks,
    moving_average_basis_ticks,
)

BTC = default_config().markets["BTC-PERP"]
BAND = BTC.tiers[0].maintenance_rate_ppb  # 1 %: the recommended impact-mid band


def ticks(text: str) -> int:
    return BTC.price_grid.parse(text)


INDEX = ticks("65000.0")
CALM = {
    "index_ticks": INDEX,
    "basis_samples_ticks": [ticks("0.5"), ticks("0.5"), ticks("0.6")],  # the book a little above spot
    "impact_bid_ticks": ticks("64990.0"),
    "impact_ask_ticks": ticks("65010.0"),
    "impact_band_ppb": BAND,
}


def test_a_calm_market_marks_at_the_median_of_the_three_prices() -> None:
    components = mark_components(**CALM, last_trade_ticks=ticks("65000.2"))  # type: ignore[arg-type]
    assert components == MarkComponents(
        index_basis_ticks=ticks("65000.5"),  # 65,000 + mean(0.5, 0.5, 0.6) = 65,000.533 -> 65,000.5
        impact_mid_ticks=ticks("65000.0"),
        last_trade_ticks=ticks("65000.2"),
        mark_ticks=ticks("65000.2"),
    )


@pytest.mark.parametrize("trade", ["70000.0", "100000.0", "0.1", "58000.0"])
def test_a_single_off_market_trade_does_not_move_the_mark_beyond_the_rule(trade: str) -> None:
    before = mark_price_ticks(**CALM, last_trade_ticks=ticks("65000.2"))  # type: ignore[arg-type]
    after = mark_price_ticks(**CALM, last_trade_ticks=ticks(trade))  # type: ignore[arg-type]
    low, high = mark_bounds_ticks(**CALM)  # type: ignore[arg-type]
    assert (low, high) == (ticks("65000.0"), ticks("65000.5"))
    assert low <= after <= high
    assert abs(after - before) <= high - low  # half a dollar, whatever the trade printed


def test_a_spoofed_book_is_held_to_the_band_around_the_index() -> None:
    # Someone lifts the book: impact mid 68,000 (+4.6 %); the 1 % band holds it at 65,650.
    spoofed = {**CALM, "impact_bid_ticks": ticks("67990.0"), "impact_ask_ticks": ticks("68010.0")}
    components = mark_components(**spoofed, last_trade_ticks=ticks("68000.0"))  # type: ignore[arg-type]
    assert components.impact_mid_ticks == ticks("65650.0")
    assert components.mark_ticks == ticks("65650.0")  # book and tape together: at most the band


def test_missing_components_fall_back_to_the_index() -> None:
    bare = mark_components(
        index_ticks=INDEX,
        basis_samples_ticks=[],
        impact_bid_ticks=None,
        impact_ask_ticks=ticks("65010.0"),
        last_trade_ticks=None,
        impact_band_ppb=BAND,
    )
    assert bare == MarkComponents(INDEX, INDEX, INDEX, INDEX)
    # with only a trade, the mark still cannot leave the index
    assert (
        mark_price_ticks(
            index_ticks=INDEX,
            basis_samples_ticks=[],
            impact_bid_ticks=None,
            impact_ask_ticks=None,
            last_trade_ticks=ticks("99999.9"),
            impact_band_ppb=BAND,
        )
        == INDEX
    )


def test_helpers() -> None:
    assert median3(3, 1, 2) == median3(2, 3, 1) == median3(1, 2, 3) == 2
    assert median3(5, 5, 1) == 5
    assert mid_ticks(10, 13) == 12  # 11.5 -> 12 (even)
    assert mid_ticks(10, 11) == 10  # 10.5 -> 10 (even)
    assert basis_sample_ticks(99, 103, 100) == 1
    assert basis_sample_ticks(None, 103, 100) is None
    assert moving_average_basis_ticks([1, 2]) == 2  # 1.5 -> 2
    assert moving_average_basis_ticks([-1, -2]) == -2
    assert moving_average_basis_ticks([]) is None
    assert band_ticks(1_000, 15_000_000) == (985, 1_015)
    assert band_ticks(999, 15_000_000) == (985, 1_013)  # 984.015 up, 1,013.985 down: inward
    with pytest.raises(ValueError):
        band_ticks(1_000, -1)


# ---------------------------------------------------------------- properties
@st.composite
def market(draw: st.DrawFn) -> dict[str, object]:
    index = draw(st.integers(1_000, 10**8))
    basis = draw(st.lists(st.integers(-index // 10, index // 10), max_size=30))
    bid = draw(st.none() | st.integers(1, 2 * index))
    ask = draw(st.none() | st.integers(1, 2 * index))
    band = draw(st.integers(0, PPB // 10))
    return {
        "index_ticks": index,
        "basis_samples_ticks": basis,
        "impact_bid_ticks": bid,
        "impact_ask_ticks": ask,
        "impact_band_ppb": band,
    }


@given(market(), st.integers(1, 10**9), st.integers(1, 10**9))
def test_no_last_trade_can_move_the_mark_outside_the_bounds(m: dict[str, object], trade: int, other: int) -> None:
    low, high = mark_bounds_ticks(**m)  # type: ignore[arg-type]
    mark = mark_price_ticks(**m, last_trade_ticks=trade)  # type: ignore[arg-type]
    assert low <= mark <= high
    # two different trades move the mark by at most the width of the bounds
    assert abs(mark - mark_price_ticks(**m, last_trade_ticks=other)) <= high - low  # type: ignore[arg-type]


@given(market(), st.integers(1, 10**9))
def test_the_mark_stays_within_the_band_or_the_smoothed_basis_of_the_index(m: dict[str, object], trade: int) -> None:
    components = mark_components(**m, last_trade_ticks=trade)  # type: ignore[arg-type]
    index = m["index_ticks"]
    assert isinstance(index, int)
    low, high = band_ticks(index, m["impact_band_ppb"])  # type: ignore[arg-type]
    assert low <= components.impact_mid_ticks <= high
    basis = components.index_basis_ticks - index
    assert min(low, index + basis) <= components.mark_ticks <= max(high, index + basis)
