"""Snapshot and restore in the middle of a funding interval: the same events afterwards.

The pricing state a snapshot carries (premium samples of the open interval, the basis
window, the mark's components, the next sample, funding and settlement times, whether the
index is stale) is exactly what the rest of the interval depends on.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from onshore.core import commands as c
from onshore.core.events import encode_event
from onshore.venue import Venue

from .session import HOUR, MINUTE, SECOND, T0, Session, standard_session


def _prepare_mid_interval(s: Session) -> None:
    s.at(T0 + 5 * SECOND)
    s.order("alice", "buy", 5)
    s.order("bob", "sell", 3)
    s.tick(T0 + 30 * MINUTE + 17 * SECOND)  # 30 premium samples into the first hour


def _prepare_stale(s: Session) -> None:
    _prepare_mid_interval(s)
    s.at(T0 + 31 * MINUTE)
    s.index("65000.00", stale=("kraken", "bitstamp", "gemini"))


def _rest_of_the_day(s: Session) -> list[c.Command]:
    """Commands that exercise what the snapshot carries: samples, funding, a trade, recovery, settlement."""
    quotes = [c.Quote(source=src, price="65200.00", ts=T0 + 45 * MINUTE) for src in ("coinbase", "kraken", "gemini")]
    return [
        c.Tick(ts=T0 + 40 * MINUTE),
        c.PlaceOrder(
            ts=T0 + 41 * MINUTE,
            account="carol",
            market="BTC-PERP",
            client_order_id="x1",
            side="sell",
            qty="7",
            order_type="market",
        ),
        c.IndexUpdate(ts=T0 + 45 * MINUTE, index="BTC-USD", quotes=quotes),
        c.Tick(ts=T0 + 3 * HOUR + 5 * MINUTE),
        c.PlaceOrder(
            ts=T0 + 3 * HOUR + 6 * MINUTE,
            account="alice",
            market="BTC-PERP",
            client_order_id="x2",
            side="sell",
            qty="2",
            order_type="market",
        ),
        c.Tick(ts=T0 + 13 * HOUR),
    ]


@pytest.mark.parametrize(
    "prepare",
    [
        pytest.param(_prepare_mid_interval, id="30-samples-into-a-funding-interval"),
        pytest.param(_prepare_stale, id="mid-interval-with-the-index-stale"),
    ],
)
def test_restore_in_the_middle_of_an_interval_gives_the_same_subsequent_events(
    prepare: Callable[[Session], None],
) -> None:
    s = standard_session(bid="65100", ask="65120")
    prepare(s)
    data = s.venue.snapshot()
    restored = Venue.restore(s.config, data)
    assert restored.state_hash() == s.venue.state_hash()
    assert restored.snapshot() == data

    seen: list[bytes] = []
    for command in _rest_of_the_day(s):
        original = [encode_event(ev) for ev in s.venue.apply(command)]
        again = [encode_event(ev) for ev in restored.apply(command)]
        assert again == original, command
        restored.check_invariants()
        seen += original
    text = b"\n".join(seen)
    for kind in (b"funding_rate", b"funding_payment", b"settlement", b"mark_price", b"trade"):
        assert b'"type":"%s"' % kind in text, kind  # the comparison covered every kind of pricing event
    assert restored.state_hash() == s.venue.state_hash()
    assert restored.state_document() == s.venue.state_document()


def test_the_snapshot_carries_the_open_intervals_premium_samples() -> None:
    s = standard_session(bid="65100", ask="65120")
    _prepare_mid_interval(s)
    restored = Venue.restore(s.config, s.venue.snapshot())
    market = restored.markets["BTC-PERP"]
    assert market.premium_samples == [1_538_461] * 30
    assert (market.next_sample_ms, market.next_funding_ms) == (T0 + 31 * MINUTE, T0 + HOUR)
    assert restored.next_settlement_ms == T0 + 12 * HOUR
