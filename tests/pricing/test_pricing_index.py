"""Index price from constituent quotes: staleness, outliers, weighted median (onshore.pricing.index)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.config.load import default_config
from onshore.pricing.index import (
    BAD_PRICE,
    FUTURE,
    OUTLIER,
    STALE,
    SUPERSEDED,
    UNKNOWN_SOURCE,
    IndexResult,
    Quote,
    index_price,
    index_price_for,
    is_outlier,
    weighted_median_ticks,
)

SOURCES = ("coinbase", "kraken", "bitstamp", "gemini")
EQUAL = (250_000_000,) * 4
NOW = 1_700_000_000_000
PARAMS = {
    "sources": SOURCES,
    "weights_ppb": EQUAL,
    "min_sources": 2,
    "max_age_ms": 30_000,
    "outlier_band_ppb": 30_000_000,  # 3 %
    "now_ms": NOW,
}


def usd(text: str) -> int:
    """A USD price in index ticks of 0.01."""
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def compute(quotes: list[Quote], **overrides: object) -> IndexResult:
    return index_price(quotes, **{**PARAMS, **overrides})  # type: ignore[arg-type]


# ---------------------------------------------------------------- the calm case
def test_four_fresh_quotes_give_the_median_of_the_middle_two() -> None:
    result = compute(
        [
            Quote("coinbase", usd("65000.00"), NOW - 1_000),
            Quote("kraken", usd("65010.00"), NOW - 2_000),
            Quote("bitstamp", usd("65020.00"), NOW - 500),
            Quote("gemini", usd("65030.00"), NOW),
        ]
    )
    assert result == IndexResult(usd("65015.00"), SOURCES, stale=False, left_out=())


def test_the_built_in_btc_usd_index_spec_drives_the_same_rule() -> None:
    spec = default_config().indices["BTC-USD"]
    quotes = [Quote(s, usd("65000.00") + i * 100, NOW) for i, s in enumerate(spec.sources)]
    assert index_price_for(spec, quotes, NOW).price_ticks == usd("65001.50")


# ---------------------------------------------------------------- outliers
def test_a_quote_beyond_the_band_is_excluded_not_clamped() -> None:
    # gemini prints 70,000 while the others sit near 65,010: 7.7 % away, band 3 %.
    result = compute(
        [
            Quote("coinbase", usd("65000.00"), NOW),
            Quote("kraken", usd("65010.00"), NOW),
            Quote("bitstamp", usd("65020.00"), NOW),
            Quote("gemini", usd("70000.00"), NOW),
        ]
    )
    assert result.price_ticks == usd("65010.00")
    assert result.sources_used == ("coinbase", "kraken", "bitstamp")
    assert result.left_out == (("gemini", OUTLIER),)
    assert not result.stale


def test_the_reference_is_the_median_of_all_fresh_quotes_so_three_sources_survive_one_bad_one() -> None:
    # With "the median of the others", the two good quotes would each be compared with the
    # mean of a good one and the bad one (125.50) and be thrown out too. See docs/pricing.md.
    result = compute(
        [
            Quote("coinbase", usd("100.00"), NOW),
            Quote("kraken", usd("101.00"), NOW),
            Quote("gemini", usd("150.00"), NOW),
        ]
    )
    assert result.sources_used == ("coinbase", "kraken")
    assert result.left_out == (("gemini", OUTLIER),)
    assert result.price_ticks == usd("100.50")


def test_a_quote_exactly_on_the_band_is_kept_and_one_tick_beyond_is_not() -> None:
    base = [Quote("coinbase", 1_000_000, NOW), Quote("kraken", 1_000_000, NOW), Quote("bitstamp", 1_000_000, NOW)]
    on_band = compute([*base, Quote("gemini", 1_030_000, NOW)])
    assert on_band.sources_used == SOURCES
    beyond = compute([*base, Quote("gemini", 1_030_001, NOW)])
    assert beyond.left_out == (("gemini", OUTLIER),)


def test_two_sources_that_disagree_by_more_than_the_band_leave_the_index_stale() -> None:
    # 65,000 vs 66,990: 1,990 apart, 3.02 % of their midpoint 65,995. Neither can be told
    # right from wrong: with two quotes the band is halved around their midpoint, so both
    # are excluded and the index is stale.
    result = compute([Quote("coinbase", usd("65000.00"), NOW), Quote("kraken", usd("66990.00"), NOW)])
    assert result.stale
    assert result.price_ticks is None
    assert result.left_out == (("coinbase", OUTLIER), ("kraken", OUTLIER))


def test_two_sources_within_the_band_of_each_other_make_a_live_index() -> None:
    # 65,000 vs 66,950: 1,950 apart, 2.96 % of their midpoint 65,975: within the 3 % band.
    result = compute([Quote("coinbase", usd("65000.00"), NOW), Quote("kraken", usd("66950.00"), NOW)])
    assert not result.stale
    assert result.price_ticks == usd("65975.00")


def test_is_outlier_compares_exactly_with_an_even_count_median() -> None:
    # median of (100, 101, 103, 110) is 102: doubled reference 204; 3 % of 102 is 3.06.
    assert not is_outlier(105, 204, 30_000_000)
    assert is_outlier(106, 204, 30_000_000)
    # median of (100, 101, 102, 103) is 101.5: doubled reference 203; 3 % is 3.045.
    assert not is_outlier(99, 203, 30_000_000)  # 2.5 away
    assert is_outlier(98, 203, 30_000_000)  # 3.5 away


def test_with_two_quotes_the_band_is_halved_around_their_midpoint() -> None:
    # 100 and 103: midpoint 101.5, each 1.5 away = 1.478 % of it, within half of 3 %.
    assert not is_outlier(100, 203, 30_000_000, pair=True)
    # 100 and 104: midpoint 102, each 2 away = 1.96 %, beyond half of 3 %.
    assert is_outlier(100, 204, 30_000_000, pair=True)


# ---------------------------------------------------------------- staleness and bad input
def test_stale_quotes_are_left_out_and_enough_fresh_ones_keep_the_index_live() -> None:
    result = compute(
        [
            Quote("coinbase", usd("65000.00"), NOW - 30_000),  # exactly max_age: fresh
            Quote("kraken", usd("65010.00"), NOW - 30_001),  # older than max_age: stale
            Quote("bitstamp", usd("65020.00"), NOW - 5_000),
            Quote("gemini", usd("65030.00"), NOW - 600_000),
        ]
    )
    assert result.sources_used == ("coinbase", "bitstamp")
    assert result.left_out == (("kraken", STALE), ("gemini", STALE))
    assert result.price_ticks == usd("65010.00")
    assert not result.stale


def test_fewer_fresh_sources_than_the_minimum_make_the_index_stale() -> None:
    result = compute(
        [
            Quote("coinbase", usd("65000.00"), NOW),
            Quote("kraken", usd("65010.00"), NOW - 60_000),
            Quote("bitstamp", usd("65020.00"), NOW - 60_000),
        ]
    )
    assert result.stale
    assert result.sources_used == ("coinbase",)
    assert result.price_ticks == usd("65000.00")  # informational: the Venue keeps its last good index


def test_no_quotes_give_no_price_and_a_stale_index() -> None:
    assert compute([]) == IndexResult(None, (), stale=True, left_out=())


def test_unknown_future_bad_and_superseded_quotes_are_named_in_input_order() -> None:
    result = compute(
        [
            Quote("binance", usd("65000.00"), NOW),
            Quote("coinbase", usd("64000.00"), NOW - 2_000),
            Quote("coinbase", usd("65000.00"), NOW - 1_000),
            Quote("kraken", usd("65010.00"), NOW + 1),
            Quote("bitstamp", 0, NOW),
            Quote("gemini", usd("65020.00"), NOW),
        ]
    )
    assert result.left_out == (
        ("binance", UNKNOWN_SOURCE),
        ("coinbase", SUPERSEDED),
        ("kraken", FUTURE),
        ("bitstamp", BAD_PRICE),
    )
    assert result.sources_used == ("coinbase", "gemini")
    assert result.price_ticks == usd("65010.00")


def test_on_equal_timestamps_the_later_quote_of_a_source_wins() -> None:
    result = compute([Quote("coinbase", 100, NOW), Quote("coinbase", 101, NOW), Quote("kraken", 101, NOW)])
    assert result.price_ticks == 101
    assert result.left_out == (("coinbase", SUPERSEDED),)


# ---------------------------------------------------------------- weighted median
@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(100, 1)], 100),
        ([(100, 1), (200, 1)], 150),  # exactly half: the midpoint
        ([(100, 1), (101, 1)], 100),  # midpoint 100.5 -> 100 (even)
        ([(101, 1), (102, 1)], 102),  # midpoint 101.5 -> 102 (even)
        ([(100, 3), (200, 1)], 100),  # 3/4 of the weight at 100
        ([(300, 1), (100, 1), (200, 2)], 200),
        ([(100, 400_000_000), (200, 350_000_000), (300, 250_000_000)], 200),
    ],
)
def test_weighted_median(points: list[tuple[int, int]], expected: int) -> None:
    assert weighted_median_ticks(points) == expected


def test_weighted_median_rejects_empty_input_and_non_positive_weights() -> None:
    with pytest.raises(ValueError):
        weighted_median_ticks([])
    with pytest.raises(ValueError):
        weighted_median_ticks([(100, 0)])


def test_unequal_weights_pull_the_index_toward_the_heavier_source() -> None:
    result = compute(
        [Quote("coinbase", 1000, NOW), Quote("kraken", 1001, NOW), Quote("bitstamp", 1002, NOW)],
        weights_ppb=(600_000_000, 200_000_000, 100_000_000, 100_000_000),
    )
    assert result.price_ticks == 1000


# ---------------------------------------------------------------- properties
quotes_strategy = st.lists(
    st.builds(
        Quote,
        st.sampled_from((*SOURCES, "binance")),
        st.integers(900_000, 1_100_000),
        st.integers(NOW - 60_000, NOW + 1_000),
    ),
    max_size=8,
)


def _winners(quotes: list[Quote]) -> list[Quote]:
    """One quote per source: the newest, the later on equal time (the rule under test)."""
    chosen: dict[str, Quote] = {}
    for q in quotes:
        if q.source not in chosen or q.ts_ms >= chosen[q.source].ts_ms:
            chosen[q.source] = q
    return list(chosen.values())


@given(st.data(), quotes_strategy)
def test_the_index_does_not_depend_on_the_order_of_one_quote_per_source(
    data: st.DataObject, quotes: list[Quote]
) -> None:
    unique = _winners(quotes)
    shuffled = data.draw(st.permutations(unique))
    a, b = compute(unique), compute(shuffled)
    assert (a.price_ticks, a.sources_used, a.stale) == (b.price_ticks, b.sources_used, b.stale)


@given(quotes_strategy)
def test_the_index_lies_within_the_prices_used_and_every_quote_is_accounted_for(quotes: list[Quote]) -> None:
    result = compute(quotes)
    assert len(result.sources_used) + len(result.left_out) == len(quotes)
    assert result.stale == (len(result.sources_used) < 2)
    used_prices = [q.price_ticks for q in _winners(quotes) if q.source in result.sources_used]
    if result.price_ticks is None:
        assert used_prices == []
    else:
        assert min(used_prices) <= result.price_ticks <= max(used_prices)


@given(quotes_strategy)
def test_every_source_used_lies_within_the_band_of_the_median_of_all_fresh_quotes(quotes: list[Quote]) -> None:
    result = compute(quotes)
    fresh = [q for q in _winners(quotes) if q.source in SOURCES and NOW - 30_000 <= q.ts_ms <= NOW]
    if not fresh:
        assert result.sources_used == ()
        return
    prices = sorted(q.price_ticks for q in fresh)
    n = len(prices)
    median = Fraction(prices[(n - 1) // 2] + prices[n // 2], 2)
    band = Fraction(30_000_000, 10**9) / (2 if n == 2 else 1)
    for q in fresh:
        within = abs(q.price_ticks - median) <= band * median
        assert (q.source in result.sources_used) == within
