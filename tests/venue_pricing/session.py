"""A small driver for pricing scenarios through the Venue.

A :class:`Session` applies commands one by one, keeps every event, checks the Venue's
invariants after each command and fails on any rejection it was not told to expect.
Named builders set up the usual cast: one clearing member, a market maker quoting a
ladder around a price, traders who take from it, and index updates from the four
built-in sources.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from onshore.core import commands as c
from venue_run import BTC, VenueRun
from venue_run import T0 as T0  # 2026-01-01 00:00:00 UTC: a funding hour and a settlement time

SECOND = 1_000
MINUTE = 60_000
HOUR = 3_600_000
SOURCES = ("coinbase", "kraken", "bitstamp", "gemini")
K_BTC = 1_000  # micro-dollars per tick × lot of BTC-PERP: 0.1 USD × 0.01 BTC × 10⁶
PPB = 1_000_000_000


def usd(text: str) -> int:
    """Micro-dollars of a decimal USD string, exactly."""
    return int(Fraction(text) * 1_000_000)


def ticks(price: str, tick: str = "0.1") -> int:
    """Ticks of a decimal price on a grid, exactly (asserts it is on the grid)."""
    value = Fraction(price) / Fraction(tick)
    assert value.denominator == 1, f"{price} is off the {tick} grid"
    return int(value)


def rate_ppb(text: str) -> int:
    """Parts per billion of a decimal rate string, exactly."""
    value = Fraction(text) * PPB
    assert value.denominator == 1
    return int(value)


HOLD_A_WEEK = """
[indices.BTC-USD]
hold_ms = 604800000
[indices.ETH-USD]
hold_ms = 604800000
"""


class Session(VenueRun):
    """A :class:`VenueRun` with the pricing cast: a member, a market maker's ladder, index quotes."""

    def __init__(self, config_toml: str | None = None, start_ts: int = T0) -> None:
        # These tests drive the index by hand, hours apart: unless a test configures the indices
        # itself, a computed index holds for a week (the default is 30 s, as a live feed needs).
        if config_toml is None or "[indices." not in config_toml:
            config_toml = (config_toml or "") + HOLD_A_WEEK
        super().__init__(config_toml, start_ts)

    # ------------------------------------------------------------------ cast
    def member(self, member: str = "fcm-1", capital: str = "10000000") -> None:
        self.apply(c.RegisterMember(ts=self.ts, member=member, capital=capital, default_fund="1000000"))

    def account(
        self, account: str, deposit: str = "1000000", segment: str = "institutional", member: str = "fcm-1"
    ) -> None:
        self.apply(c.OpenAccount(ts=self.ts, account=account, member=member, segment=segment))
        self.apply(c.Deposit(ts=self.ts, account=account, amount=deposit))

    def index(
        self, price: str | dict[str, str], *, age_ms: int = 0, index: str = "BTC-USD", stale: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """Quotes from the four sources (one price for all, or one per source); ``stale`` ones are 60 s old."""
        prices = price if isinstance(price, dict) else dict.fromkeys(SOURCES, price)
        quotes = [
            c.Quote(source=s, price=p, ts=self.ts - (60 * SECOND if s in stale else age_ms)) for s, p in prices.items()
        ]
        return self.apply(c.IndexUpdate(ts=self.ts, index=index, quotes=quotes))

    def quote_ladder(
        self, account: str, bid: str, ask: str, *, lots: int = 40, levels: int = 2, step: str = "10", market: str = BTC
    ) -> None:
        """Post-only bids from ``bid`` down and asks from ``ask`` up, ``levels`` each, ``lots`` per level."""
        for i in range(levels):
            self.order(account, "buy", lots, _dec(Fraction(bid) - i * Fraction(step)), market=market, post_only=True)
            self.order(account, "sell", lots, _dec(Fraction(ask) + i * Fraction(step)), market=market, post_only=True)

    # ------------------------------------------------------------------ reading
    def system(self, name: str) -> int:
        return usd(self.state()["system"][name])

    def mark_ticks(self, market: str = BTC) -> int:
        return self.mark(market)


def of_type(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    """The events of the given types, in order."""
    return [ev for ev in events if ev["type"] in types]


def _dec(value: Fraction) -> str:
    assert value.denominator in (1, 2, 4, 5, 10, 20, 25, 50, 100)
    text = f"{float(value):.2f}"
    assert Fraction(text) == value
    return text


def standard_session(
    *, index: str = "65000", bid: str = "64990", ask: str = "65010", config_toml: str | None = None
) -> Session:
    """A member, a market maker quoting ``bid``/``ask`` 40 lots deep on two levels, an index at ``index``.

    40 BTC-PERP lots at 65,000 are 26,000 USD, more than the 20,000 USD impact notional, so
    the impact bid and ask are the best bid and ask.
    """
    s = Session(config_toml)
    s.member()
    s.account("mm", deposit="50000000", segment="market_maker")
    for name in ("alice", "bob", "carol", "dave"):
        s.account(name)
    s.index(index)
    s.quote_ladder("mm", bid, ask)
    return s
