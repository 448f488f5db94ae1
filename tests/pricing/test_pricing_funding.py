"""Premium, funding rate and funding payments (onshore.pricing.funding).

Worked examples are from the venues' public documentation, cited at each test.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.config.load import default_config
from onshore.core.units import PPB, Rate
from onshore.pricing.funding import (
    EIGHT_HOURS_MS,
    FundingDistribution,
    FundingRate,
    average_premium_ppb,
    distribute_funding,
    funding_payment_micros,
    funding_rate_8h_ppb,
    funding_rate_for,
    interval_rate_ppb,
    max_funding_cap_ppb,
    premium_ppb,
    time_weighted_premium_ppb,
)

BTC = default_config().markets["BTC-PERP"]
M = BTC.micros_per_tick_lot
HOUR_MS = 3_600_000


def pct(text: str) -> int:
    """A percentage as a rate in ppb: ``pct("0.01") == 100_000``."""
    return Rate.parse(text) // 100


INTEREST = pct("0.01")  # 0.01 % per 8 h
CLAMP = pct("0.05")  # ±0.05 %
HYPERLIQUID_CAP = pct("32")  # 4 % per hour, expressed per 8 hours
ONSHORE_CAP = BTC.funding.cap_ppb  # 0.4 % per 8 hours


# ---------------------------------------------------------------- Hyperliquid's worked example
def test_hyperliquid_worked_example_premium_one_percent_rate_095_percent() -> None:
    """Hyperliquid docs, "Funding" (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/funding):
    interest 0.01 %, impact bid 10,100, oracle (spot) 10,000 -> premium 1 %;
    clamp(0.01 % − 1 %, −0.05 %, 0.05 %) = −0.05 %; rate 1 % − 0.05 % = 0.95 % per 8 h,
    paid hourly at one eighth."""
    oracle, impact_bid = 1_000_000, 1_010_000  # 10,000.00 and 10,100.00 in 0.01 ticks
    premium = premium_ppb(oracle, impact_bid, None)
    assert premium == pct("1")
    rate_8h = funding_rate_8h_ppb(premium, INTEREST, CLAMP, HYPERLIQUID_CAP)
    assert rate_8h == pct("0.95")
    assert interval_rate_ppb(rate_8h, HOUR_MS) == pct("0.11875")


def test_the_same_premium_is_capped_at_onshores_default_cap() -> None:
    assert funding_rate_8h_ppb(pct("1"), INTEREST, CLAMP, ONSHORE_CAP) == pct("0.4")


# ---------------------------------------------------------------- Binance's dead band
def test_binance_dead_band_worked_example() -> None:
    """Binance, "Introduction to Binance Futures Funding Rates"
    (https://www.binance.com/en/support/faq/360033525031), as quoted in issue 4: an average
    premium of 0.0429 % with interest 0.01 % gives 0.0429 % + clamp(−0.0329 %, ±0.05 %) = 0.0100 %."""
    assert funding_rate_8h_ppb(pct("0.0429"), INTEREST, CLAMP, ONSHORE_CAP) == pct("0.0100")


@pytest.mark.parametrize(
    ("premium", "rate"),
    [
        (pct("-0.04"), pct("0.01")),  # lower edge of the dead band
        (pct("0.06"), pct("0.01")),  # upper edge
        (pct("-0.04") - 1, pct("0.01") - 1),  # one ppb below: the premium leaks through
        (pct("0.06") + 1, pct("0.01") + 1),  # one ppb above
        (pct("-0.3"), pct("-0.25")),  # a discount: shorts pay
    ],
)
def test_the_dead_band_edges(premium: int, rate: int) -> None:
    assert funding_rate_8h_ppb(premium, INTEREST, CLAMP, ONSHORE_CAP) == rate


@given(st.integers(pct("-0.04"), pct("0.06")))
def test_any_premium_between_minus_004_and_plus_006_percent_gives_exactly_the_interest_rate(premium: int) -> None:
    assert funding_rate_8h_ppb(premium, INTEREST, CLAMP, ONSHORE_CAP) == INTEREST


# ---------------------------------------------------------------- premium samples
@pytest.mark.parametrize(
    ("index", "bid", "ask", "expected"),
    [
        (1_000_000, 999_000, 1_001_000, 0),  # index inside the impact spread: no premium
        (1_000_000, 1_002_000, 1_003_000, pct("0.2")),  # book above spot
        (1_000_000, 997_000, 998_000, pct("-0.2")),  # book below spot
        (1_000_000, None, 998_000, pct("-0.2")),  # bids too thin: only the ask side speaks
        (1_000_000, None, None, 0),  # no impact price on either side
        (3, 4, None, 333_333_333),  # 1/3 truncated toward zero
        (3, None, 2, -333_333_333),
    ],
)
def test_premium_sample(index: int, bid: int | None, ask: int | None, expected: int) -> None:
    assert premium_ppb(index, bid, ask) == expected


def test_average_premium_is_the_sample_mean_truncated_toward_zero() -> None:
    assert average_premium_ppb([100, 200, 400]) == 233
    assert average_premium_ppb([-100, -200, -400]) == -233
    assert average_premium_ppb([]) is None


def test_time_weighted_premium_equals_the_sample_mean_on_a_fixed_cadence() -> None:
    samples = [pct("0.02"), pct("0.05"), pct("-0.01"), 7]
    assert time_weighted_premium_ppb([(s, 60_000) for s in samples]) == average_premium_ppb(samples)
    assert time_weighted_premium_ppb([(100, 1_000), (400, 2_000)]) == 300
    assert time_weighted_premium_ppb([(100, 0)]) is None


# ---------------------------------------------------------------- interval rate and cap
def test_an_hourly_interval_pays_one_eighth_of_the_8_hour_rate_exactly() -> None:
    assert interval_rate_ppb(INTEREST, HOUR_MS) == 12_500  # 0.00125 %
    assert interval_rate_ppb(-INTEREST, HOUR_MS) == -12_500
    assert interval_rate_ppb(INTEREST, EIGHT_HOURS_MS) == INTEREST
    assert interval_rate_ppb(7, HOUR_MS) == 0  # 0.875 ppb truncates toward zero
    assert interval_rate_ppb(-7, HOUR_MS) == 0


def test_bitmex_cap_ceiling_for_the_default_tier_one() -> None:
    """BitMEX, "Perpetual Contracts Guide": the funding rate is capped at 75 % × (IM − MM);
    BitMEX's own example, IM 1 % and MM 0.5 %, gives 0.375 %."""
    assert max_funding_cap_ppb(pct("1"), pct("0.5")) == pct("0.375")
    tier1 = BTC.tiers[0]
    assert max_funding_cap_ppb(tier1.initial_rate_ppb, tier1.maintenance_rate_ppb) == pct("0.75")
    assert max_funding_cap_ppb(tier1.initial_rate_ppb, tier1.maintenance_rate_ppb) >= ONSHORE_CAP


def test_funding_rate_for_the_built_in_btc_perp() -> None:
    rate = funding_rate_for(BTC.funding, [pct("0.0429")] * 60)
    assert rate == FundingRate(
        premium_ppb=pct("0.0429"), interest_ppb=INTEREST, rate_8h_ppb=INTEREST, rate_ppb=12_500, samples=60
    )
    no_samples = funding_rate_for(BTC.funding, [])
    assert (no_samples.premium_ppb, no_samples.rate_ppb, no_samples.samples) == (0, 12_500, 0)


@given(
    st.integers(-(10**9), 10**9),
    st.integers(-(10**7), 10**7),
    st.integers(0, 10**7),
    st.integers(0, 10**8),
    st.integers(1, 10 * EIGHT_HOURS_MS),
)
def test_the_rate_never_exceeds_the_cap(premium: int, interest: int, clamp: int, cap: int, interval_ms: int) -> None:
    rate_8h = funding_rate_8h_ppb(premium, interest, clamp, cap)
    assert -cap <= rate_8h <= cap
    assert abs(interval_rate_ppb(rate_8h, interval_ms)) * EIGHT_HOURS_MS <= cap * interval_ms


# ---------------------------------------------------------------- payments
def test_alice_long_1_btc_at_65k_pays_bob_short_at_the_default_hourly_rate() -> None:
    # 100 contracts × 0.01 BTC = 1 BTC at 65,000: notional 65,000 USD × 0.00125 % = 0.8125 USD.
    mark = BTC.price_grid.parse("65000")
    alice_long_1btc, bob_short_1btc = 100, -100
    assert funding_payment_micros(alice_long_1btc, mark, M, 12_500) == -812_500
    assert funding_payment_micros(bob_short_1btc, mark, M, 12_500) == 812_500
    # a negative rate: shorts pay longs
    assert funding_payment_micros(alice_long_1btc, mark, M, -12_500) == 812_500


def test_rounding_goes_against_the_trader_and_the_venue_books_the_remainder() -> None:
    # 1 contract at 65,000.1: notional 650.001 USD × 12,345 ppb = 0.008024262345 USD.
    mark = BTC.price_grid.parse("65000.1")
    assert funding_payment_micros(1, mark, M, 12_345) == -8_025  # the payer rounds up in magnitude
    assert funding_payment_micros(-1, mark, M, 12_345) == 8_024  # the receiver rounds down
    result = distribute_funding([1, -1], mark, M, 12_345)
    assert result == FundingDistribution(payments_micros=(-8_025, 8_024), rounding_micros=1)


def test_positions_that_do_not_net_to_zero_are_refused() -> None:
    with pytest.raises(ValueError):
        distribute_funding([3, -2], 650_000, M, 12_500)


@st.composite
def netted_positions(draw: st.DrawFn) -> list[int]:
    longs = draw(st.lists(st.integers(1, 5_000), min_size=1, max_size=20))
    shorts = draw(st.lists(st.integers(1, 5_000), min_size=1, max_size=20))
    total = sum(longs)
    # split the same total among the shorts
    weights = shorts
    parts = [total * w // sum(weights) for w in weights]
    parts[-1] += total - sum(parts)
    positions = [*longs, *(-p for p in parts if p), 0]
    return draw(st.permutations(positions))


rates = st.integers(-(10**7), 10**7)
marks = st.integers(1, 10**7)


@given(netted_positions(), marks, rates)
def test_funding_is_zero_sum_to_the_micro_once_the_remainder_is_booked(
    positions: list[int], mark: int, rate: int
) -> None:
    result = distribute_funding(positions, mark, M, rate)
    assert sum(result.payments_micros) + result.rounding_micros == 0
    non_flat = sum(1 for q in positions if q)
    assert 0 <= result.rounding_micros < non_flat


@given(netted_positions(), marks, rates)
def test_longs_pay_shorts_when_the_rate_is_positive(positions: list[int], mark: int, rate: int) -> None:
    result = distribute_funding(positions, mark, M, rate)
    for qty, payment in zip(positions, result.payments_micros, strict=True):
        exact_times_ppb = -qty * mark * M * rate
        # within one micro of the exact amount, and never in the trader's favour
        assert payment * PPB <= exact_times_ppb < (payment + 1) * PPB
        if rate * qty > 0:  # long with a positive rate, or short with a negative one: pays
            assert payment <= 0
        elif rate * qty < 0:  # the other side: receives
            assert payment >= 0
        else:
            assert payment == 0
