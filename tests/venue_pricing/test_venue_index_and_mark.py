"""The index and the mark through the Venue: outliers, staleness and recovery, off-market trades.

docs/pricing.md §1 (index) and §4 (mark) give the rules; these scenarios check that the
Venue applies them: which sources an ``index_price`` names, what ``index_stale`` freezes
and what brings it back, and that one order swept through a thin book cannot take the mark
outside ``mark_bounds_ticks``.
"""

from __future__ import annotations

import pytest

from onshore.core import commands as c
from onshore.pricing.impact import impact_ask_ticks, impact_bid_ticks
from onshore.pricing.mark import mark_bounds_ticks, mark_components

from .session import BTC, HOUR, MINUTE, SECOND, T0, Session, of_type, standard_session, ticks

# ---------------------------------------------------------------------------------------------- index


@pytest.mark.parametrize(
    ("quotes", "price", "used"),
    [
        pytest.param(
            {"coinbase": "65000.00", "kraken": "65001.00", "bitstamp": "64999.00", "gemini": "70000.00"},
            "65000",
            ["bitstamp", "coinbase", "kraken"],
            id="one-source-7.7%-high-is-left-out",
        ),
        pytest.param(
            {"coinbase": "65000.00", "kraken": "65002.00", "bitstamp": "61000.00", "gemini": "65004.00"},
            "65002",
            ["coinbase", "gemini", "kraken"],
            id="one-source-6.2%-low-is-left-out",
        ),
        pytest.param(
            {"coinbase": "65000.00", "kraken": "65002.00", "bitstamp": "63052.00", "gemini": "65004.00"},
            "65001",
            ["bitstamp", "coinbase", "gemini", "kraken"],
            id="2.99%-low-is-inside-the-3%-band-and-kept",
        ),
    ],
)
def test_an_outlier_source_is_left_out_of_the_index(quotes: dict[str, str], price: str, used: list[str]) -> None:
    # state: a member and one account, no book; parameters: the default 3 % outlier band
    s = Session()
    s.member()
    s.account("alice")
    events = s.index(quotes)
    # expectations: the index is the median of the sources that survived, and names only them
    (index,) = of_type(events, "index_price")
    assert (index["price"], index["sources_used"]) == (price, used)
    (mark,) = of_type(events, "mark_price")
    assert mark["price"] == price  # no book, no trade: the mark falls back to the index
    assert s.state()["markets"][BTC]["index_price"] == price


def test_a_quote_older_than_max_age_is_left_out_and_exactly_max_age_is_kept() -> None:
    s = Session()
    s.member()
    s.at(T0 + MINUTE)
    ts = s.ts
    quotes = [
        c.Quote(source="coinbase", price="65000.00", ts=ts - 30 * SECOND),  # exactly max_age_ms: fresh
        c.Quote(source="kraken", price="65010.00", ts=ts - 30 * SECOND - 1),  # one ms older: stale
        c.Quote(source="bitstamp", price="65020.00", ts=ts),
    ]
    (index,) = of_type(s.apply(c.IndexUpdate(ts=ts, index="BTC-USD", quotes=quotes)), "index_price")
    assert index["sources_used"] == ["bitstamp", "coinbase"]
    assert index["price"] == "65010"  # two equal weights: the midpoint


def _traded_session() -> Session:
    """alice long 5, bob short 5, the market maker flat; index 65,000; book 64,990 / 65,010."""
    s = standard_session()
    s.at(T0 + 5 * SECOND)
    s.order("alice", "buy", 5)
    s.order("bob", "sell", 5)
    return s


def test_a_stale_index_freezes_the_mark_pauses_samples_and_skips_funding_until_it_recovers() -> None:
    s = _traded_session()
    mark_before = s.mark_ticks()

    # one fresh source of four, fewer than min_sources = 2: the index goes stale
    s.at(T0 + 30 * SECOND)
    events = s.index("66000.00", stale=("kraken", "bitstamp", "gemini"))
    assert [ev["type"] for ev in events] == ["index_stale"]
    assert events[0]["sources_used"] == ["coinbase"]
    assert events[0]["left_out"] == ["kraken: stale", "bitstamp: stale", "gemini: stale"]
    market = s.state()["markets"][BTC]
    assert market["index_stale"] is True
    assert market["index_price"] == "65000"  # the last good index is kept

    # the book moves 1,000 higher and trades there: the mark does not follow while the index is stale
    s.at(T0 + 40 * SECOND)
    s.cancel_all("mm")
    s.quote_ladder("mm", "65990", "66010")
    traded = s.order("carol", "buy", 2)
    assert of_type(traded, "trade")[0]["price"] == "66010"
    assert not of_type(traded, "mark_price")

    # a whole funding interval passes: no premium sample, no mark move, no funding
    events = s.tick(T0 + HOUR)
    assert not of_type(events, "mark_price", "funding_rate", "funding_payment")
    assert s.venue.markets[BTC].premium_samples == []
    assert s.mark_ticks() == mark_before
    assert s.system("rounding") == 0

    # the index recovers: the mark is recomputed at once, samples and funding resume
    s.at(T0 + HOUR + 30 * SECOND)
    events = s.index("66000.00")
    assert [ev["type"] for ev in events] == ["index_price", "mark_price"]
    assert s.state()["markets"][BTC]["index_stale"] is False
    assert s.mark_ticks() != mark_before
    events = s.tick(T0 + 2 * HOUR)
    (rate,) = of_type(events, "funding_rate")
    assert rate["funding_time"] == T0 + 2 * HOUR
    assert {p["account"] for p in of_type(events, "funding_payment")} == {"alice", "bob", "carol", "mm"}


def test_samples_taken_before_the_index_went_stale_still_fund_their_interval() -> None:
    # the book trades 0.1538 % over the index: premium 1,538,461 ppb per sample
    s = standard_session(bid="65100", ask="65120")
    s.at(T0 + 5 * SECOND)
    s.order("alice", "buy", 5)
    s.tick(T0 + 30 * MINUTE)  # 30 samples
    s.at(T0 + 30 * MINUTE + 10 * SECOND)
    s.index("65000.00", stale=("kraken", "bitstamp", "gemini"))
    (rate,) = of_type(s.tick(T0 + HOUR), "funding_rate")
    # the 30 samples of the fresh half carry the interval; the stale half adds none
    assert rate["premium"] == "0.001538461"
    assert rate["rate_8h"] == "0.001038461"  # premium + clamp(0.01 % − premium, ±0.05 %)


def test_an_index_update_with_no_valid_quote_is_stale_not_a_crash() -> None:
    s = _traded_session()
    s.at(T0 + MINUTE)
    events = s.index("65000.00", stale=("coinbase", "kraken", "bitstamp", "gemini"))
    assert [ev["type"] for ev in events] == ["index_stale"]
    assert events[0]["sources_used"] == []


# ---------------------------------------------------------------------------------------------- mark


def _thin_book_session() -> Session:
    """Index 65,000; a thin top of book (5 lots) in front of deep second levels; a stray bid 3.8 % low.

    After 40 minutes of samples: A = index + basis = 65,050 (best mid 65,050), B = the impact
    mid 65,008.1 (impact bid 64,922.7, impact ask 65,093.5). The range [B, A] is where the
    mark must stay whatever the last trade.
    """
    s = Session()
    s.member()
    s.account("mm", deposit="50000000", segment="market_maker")
    for name in ("alice", "carol", "dave"):
        s.account(name)
    s.index("65000")
    for side, lots, price in (("buy", 5, "65040"), ("buy", 60, "64900"), ("sell", 5, "65060"), ("sell", 60, "65100")):
        s.order("mm", side, lots, price, post_only=True)
    s.order("dave", "buy", 1, "62500")  # 3.8 % below: inside the 5 % price band
    s.order("alice", "sell", 1, "67500")  # 3.8 % above
    s.tick(T0 + 40 * MINUTE)
    return s


def _bounds(s: Session) -> tuple[int, int]:
    """``mark_bounds_ticks`` of the Venue's current book, index and basis window."""
    market = s.venue.markets[BTC]
    k = market.k
    notional = market.spec.funding.impact_notional_micros
    bids = [(p, q) for p, q, _ in market.book.depth(0)]
    asks = [(p, q) for p, q, _ in market.book.depth(1)]
    assert market.index_ticks is not None
    return mark_bounds_ticks(
        index_ticks=market.index_ticks,
        basis_samples_ticks=market.basis_samples,
        impact_bid_ticks=impact_bid_ticks(bids, notional, k),
        impact_ask_ticks=impact_ask_ticks(asks, notional, k),
        impact_band_ppb=market.spec.mark_band_ppb,
    )


@pytest.mark.parametrize(
    ("side", "limit", "sweep_lots", "off_market"),
    [
        pytest.param("sell", "62500", 66, "62500", id="sell-sweeps-the-bids-down-to-a-stray-bid-3.8%-low"),
        pytest.param("buy", "67500", 66, "67500", id="buy-sweeps-the-asks-up-to-a-stray-ask-3.8%-high"),
    ],
)
def test_one_off_market_trade_cannot_move_the_mark_beyond_the_bounds(
    side: str, limit: str, sweep_lots: int, off_market: str
) -> None:
    s = _thin_book_session()
    low, high = _bounds(s)
    assert (low, high) == (ticks("65008.1"), ticks("65050"))
    assert s.mark_ticks() == low  # no trade yet: C is the index, the median is B

    s.at(T0 + 40 * MINUTE + 5 * SECOND)
    events = s.order("carol", side, sweep_lots, limit, tif="ioc")
    trades = of_type(events, "trade")
    assert trades[-1]["price"] == off_market  # the last trade is 3.8 % off the market
    assert low <= s.mark_ticks() <= high
    assert s.mark_ticks() == (low if side == "sell" else high)  # it reaches the nearer bound, no further

    # the next sample recomputes A and B from the swept book: the mark is again the median of the three
    s.tick(T0 + 41 * MINUTE)
    market = s.venue.markets[BTC]
    low, high = _bounds(s)
    assert low <= s.mark_ticks() <= high
    assert market.index_ticks is not None
    expected = mark_components(
        index_ticks=market.index_ticks,
        basis_samples_ticks=market.basis_samples,
        impact_bid_ticks=_impact(s)[0],
        impact_ask_ticks=_impact(s)[1],
        last_trade_ticks=ticks(off_market),
        impact_band_ppb=market.spec.mark_band_ppb,
    )
    assert s.mark_ticks() == expected.mark_ticks


def _impact(s: Session) -> tuple[int | None, int | None]:
    market = s.venue.markets[BTC]
    notional = market.spec.funding.impact_notional_micros
    return (
        impact_bid_ticks([(p, q) for p, q, _ in market.book.depth(0)], notional, market.k),
        impact_ask_ticks([(p, q) for p, q, _ in market.book.depth(1)], notional, market.k),
    )


def test_after_trades_only_the_last_trade_component_changes() -> None:
    # A and B are kept from the last full recompute; a trade that changes the book does not refresh them
    s = _thin_book_session()
    market = s.venue.markets[BTC]
    a, b = market.mark_a, market.mark_b
    s.at(T0 + 40 * MINUTE + 5 * SECOND)
    s.order("carol", "buy", 5)  # takes the whole 5-lot top ask: the impact ask changes
    assert (market.mark_a, market.mark_b) == (a, b)
    assert s.mark_ticks() == ticks("65050")  # median(A 65,050, B 65,008.1, C 65,060)


def test_with_no_index_yet_the_mark_is_the_last_trade() -> None:
    s = Session()
    s.member()
    s.account("mm", deposit="50000000", segment="market_maker")
    s.account("alice")
    s.order("mm", "sell", 10, "65010", post_only=True)
    events = s.order("alice", "buy", 2, "65010")
    assert of_type(events, "mark_price")[0]["price"] == "65010"
    assert s.state()["markets"][BTC]["index_price"] is None
