"""A driver for broker scenarios through the Venue: onboarding, disclosures, limits, margin calls.

:class:`Run` applies commands one by one, keeps every event as a plain dict, checks the
Venue's invariants after every command and fails on any rejection it was not told to
expect. The cast are the applicants of docs/broker.md's segments:

========  ==================================================  =============  ===========
name      who                                                 segment        max leverage
========  ==================================================  =============  ===========
alice     first-time derivatives trader, medium tolerance     retail         10×
bob       12 years of futures, $2.4M net worth, not an ECP    qualified      20×
carol     $12M invested on a discretionary basis (ECP)        institutional  50×
dave      $6M invested, hedging his mining output (ECP)       institutional  2× (low tolerance)
========  ==================================================  =============  ===========

A market maker ``mm`` (``open_account``, not onboarded: no disclosure gate) quotes around
the index. Both built-in markets have ``K = 1,000`` micro-dollars per tick-lot.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from broker.applicants import ALICE_RETAIL, BOB_QUALIFIED, CAROL_ECP, DAVE_HEDGER
from onshore.core import commands as c
from venue_run import BTC, VenueRun
from venue_run import T0 as T0  # re-exported for the tests

SECOND = 1_000
MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
YEAR_OF_REVIEW = 365 * DAY  # broker.review_period_days
ETH = "ETH-PERP"
INDEX = {BTC: "BTC-USD", ETH: "ETH-USD"}
SOURCES = ("coinbase", "kraken", "bitstamp", "gemini")
K = 1_000  # micro-dollars per tick-lot, both markets
TICK = {BTC: "0.1", ETH: "0.01"}
STATEMENT = "risk_disclosure_statement"
ADDENDUM = "perpetual_futures_addendum"
DOCUMENTS = (ADDENDUM, STATEMENT)
MEMBER = "fcm-1"

CAST = {"alice": ALICE_RETAIL, "bob": BOB_QUALIFIED, "carol": CAROL_ECP, "dave": DAVE_HEDGER}


def usd(text: str) -> int:
    """Micro-dollars of a decimal USD string, exactly."""
    value = Fraction(text) * 1_000_000
    assert value.denominator == 1, f"{text} is not a whole number of micro-dollars"
    return int(value)


def ticks(price: str, market: str = BTC) -> int:
    """Ticks of a decimal price on a market's grid, exactly."""
    value = Fraction(price) / Fraction(TICK[market])
    assert value.denominator == 1, f"{price} is off the {market} grid"
    return int(value)


def of_type(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    """The events of the given types, in order."""
    return [ev for ev in events if ev["type"] in types]


def one(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The only event of type ``kind``."""
    found = of_type(events, kind)
    assert len(found) == 1, f"expected one {kind}, got {events}"
    return found[0]


class Run(VenueRun):
    """A :class:`VenueRun` with the broker layer's cast: onboarding, disclosures, limits, margin calls."""

    # ------------------------------------------------------------------ cast
    def member(self, member: str = MEMBER, capital: str = "10000000", default_fund: str = "1000000") -> None:
        self.apply(c.RegisterMember(ts=self.ts, member=member, capital=capital, default_fund=default_fund))

    def onboard_raw(self, account: str, profile: Any, member: str = MEMBER) -> list[dict[str, Any]]:
        return self.apply(c.OnboardCustomer(ts=self.ts, account=account, member=member, profile=profile))

    def onboard(self, account: str, profile: dict[str, Any] | None = None, member: str = MEMBER) -> dict[str, Any]:
        """Onboard ``account`` (the cast member of that name by default); return its ``account_opened``."""
        out = self.onboard_raw(account, CAST[account] if profile is None else profile, member)
        return one(out, "account_opened")

    def acknowledge(
        self, account: str, document: str, version: str, *, reject: str | None = None
    ) -> list[dict[str, Any]]:
        return self.apply(
            c.AcknowledgeDisclosure(ts=self.ts, account=account, document=document, version=version), reject=reject
        )

    def acknowledge_current(self, account: str) -> None:
        """Acknowledge the current version of every document in force."""
        for document, version in self.venue.disclosures.current().items():
            self.acknowledge(account, document, version)

    def publish(self, document: str, version: str, *, reject: str | None = None) -> list[dict[str, Any]]:
        return self.apply(c.PublishDisclosure(ts=self.ts, document=document, version=version), reject=reject)

    def customer(self, account: str, deposit: str = "100000", profile: dict[str, Any] | None = None) -> None:
        """Onboard, acknowledge everything and deposit: a customer ready to trade."""
        self.onboard(account, profile)
        self.acknowledge_current(account)
        self.deposit(account, deposit)

    def open_account(self, account: str, segment: str, deposit: str | None = None) -> None:
        self.apply(c.OpenAccount(ts=self.ts, account=account, member=MEMBER, segment=segment))
        if deposit is not None:
            self.deposit(account, deposit)

    def leverage(self, account: str, leverage: str, market: str = BTC, *, reject: str | None = None) -> dict[str, Any]:
        out = self.apply(c.SetLeverage(ts=self.ts, account=account, market=market, leverage=leverage), reject=reject)
        return out[0]

    def limits(
        self,
        account: str,
        *,
        max_leverage: str | None = None,
        max_position_notional: str | None = None,
        markets: list[str] | None = None,
        reject: str | None = None,
    ) -> dict[str, Any]:
        command = c.SetAccountLimits(
            ts=self.ts,
            account=account,
            max_leverage=max_leverage,
            max_position_notional=max_position_notional,
            markets=markets,
        )
        return self.apply(command, reject=reject)[0]

    # ------------------------------------------------------------------ trading and prices
    def index(self, price: str, market: str = BTC) -> list[dict[str, Any]]:
        """The four sources all quote ``price`` now."""
        quotes = [c.Quote(source=s, price=price, ts=self.ts) for s in SOURCES]
        return self.apply(c.IndexUpdate(ts=self.ts, index=INDEX[market], quotes=quotes))

    def quote(self, account: str, bid: str, ask: str, lots: int = 100, market: str = BTC) -> None:
        """Post-only, one level a side."""
        self.order(account, "buy", lots, bid, market=market, post_only=True)
        self.order(account, "sell", lots, ask, market=market, post_only=True)

    def move(self, price: int, market: str = BTC, spread: int = 10, lots: int = 100) -> None:
        """Move the market to ``price``: ``mm`` requotes ``price ± spread``, then the index follows.

        With the impact mid and the index both at ``price`` (and any basis samples zero),
        the mark, the median of index + basis, impact mid and last trade, is ``price``.
        """
        self.apply(c.CancelAll(ts=self.ts, account="mm", market=market))
        self.quote("mm", str(price - spread), str(price + spread), lots, market)
        self.index(str(price), market)

    # ------------------------------------------------------------------ reading
    def position(self, account: str, market: str = BTC) -> int:
        h = self.venue.accounts[account].holdings.get(market)
        return 0 if h is None else h.qty

    def holding_leverage(self, account: str, market: str = BTC) -> int:
        """The leverage (hundredths) the holding is margined at."""
        return self.venue.accounts[account].holdings[market].leverage


def market_session(config_toml: str | None = None) -> Run:
    """A member and a market maker quoting BTC-PERP 64,990 / 65,010 (100 lots a side) around an index of 65,000."""
    run = Run(config_toml)
    run.member()
    run.open_account("mm", "market_maker", "50000000")
    run.move(65_000)
    assert run.mark() == ticks("65000")
    return run
