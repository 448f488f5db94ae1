"""A small driver for liquidation scenarios through the Venue.

:class:`Run` applies commands one by one, keeps every event as a plain dict, checks the
Venue's invariants after every command and fails on any rejection it was not told to
expect. Prices and amounts are the protocol's decimal strings; :func:`usd` and
:func:`ticks` turn them into the integers the checks compare.

Both built-in markets have ``K = 1,000`` micro-dollars per tick-lot: BTC-PERP is
0.1 USD × 0.01 BTC, ETH-PERP 0.01 USD × 0.1 ETH.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from onshore.core import commands as c
from venue_run import BTC, VenueRun
from venue_run import T0 as T0  # re-exported for the tests

SOURCES = ("coinbase", "kraken", "bitstamp", "gemini")
ETH = "ETH-PERP"
K = 1_000  # micro-dollars per tick-lot, both markets
TICK = {BTC: "0.1", ETH: "0.01"}
INDEX = {BTC: "BTC-USD", ETH: "ETH-USD"}
LAYERS = (
    "insurance_fund",
    "adl",
    "member_capital",
    "member_default_fund",
    "clearing_house_capital",
    "mutualised_default_fund",
    "assessments",
    "vm_haircut",
)
BITMEX_LONGS = {  # account: (contracts, "PNL Ranking"), BitMEX's auto-deleveraging example
    "account-1": (10, 3),
    "account-2": (10, 6),
    "account-3": (20, 1),
    "account-4": (30, 4),
    "account-5": (20, 5),
    "account-6": (10, 2),
}


def usd(text: str) -> int:
    """Micro-dollars of a decimal USD string, exactly."""
    value = Fraction(text) * 1_000_000
    assert value.denominator == 1, f"{text} is not a whole number of micro-dollars"
    return int(value)


def dollars(value: Fraction | int) -> str:
    """The decimal USD string of an exact amount in dollars (on the micro-dollar grid)."""
    micros = Fraction(value) * 1_000_000
    assert micros.denominator == 1, f"{value} is not a whole number of micro-dollars"
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(int(micros)), 1_000_000)
    return f"{sign}{whole}.{frac:06d}".rstrip("0").rstrip(".")


def ticks(price: str, market: str = BTC) -> int:
    """Ticks of a decimal price on a market's grid, exactly."""
    value = Fraction(price) / Fraction(TICK[market])
    assert value.denominator == 1, f"{price} is off the {market} grid"
    return int(value)


def of_type(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    """The events of the given types, in order."""
    return [ev for ev in events if ev["type"] in types]


def absorbed(events: list[dict[str, Any]], layer: str | None = None) -> list[tuple[str, int, str | None]]:
    """``(layer, micro-dollars, account or member)`` of every ``loss_absorbed`` event, in order."""
    out = []
    for ev in of_type(events, "loss_absorbed"):
        if layer is None or ev["layer"] == layer:
            out.append((ev["layer"], usd(ev["amount"]), ev.get("account") or ev.get("member")))
    return out


class Run(VenueRun):
    """A :class:`VenueRun` with what liquidation scenarios set up and read: members, leverage, balances, layers."""

    # ------------------------------------------------------------------ cast
    def member(self, member: str, capital: str, default_fund: str) -> None:
        self.apply(c.RegisterMember(ts=self.ts, member=member, capital=capital, default_fund=default_fund))

    def account(self, account: str, deposit: str, *, member: str = "fcm-1", segment: str = "institutional") -> None:
        self.apply(c.OpenAccount(ts=self.ts, account=account, member=member, segment=segment))
        if Fraction(deposit) > 0:
            self.deposit(account, deposit)

    def leverage(self, account: str, leverage: str, market: str = BTC) -> None:
        self.apply(c.SetLeverage(ts=self.ts, account=account, market=market, leverage=leverage))

    def isolated(self, account: str, market: str = BTC) -> None:
        self.apply(c.SetMarginMode(ts=self.ts, account=account, market=market, mode="isolated"))

    # ------------------------------------------------------------------ prices and orders
    def index(
        self, price: str, *, market: str = BTC, stale: tuple[str, ...] = (), reject: str | None = None
    ) -> list[dict[str, Any]]:
        """The four sources all quote ``price``; those named in ``stale`` are 60 s old."""
        quotes = [c.Quote(source=s, price=price, ts=self.ts - (60_000 if s in stale else 0)) for s in SOURCES]
        return self.apply(c.IndexUpdate(ts=self.ts, index=INDEX[market], quotes=quotes), reject=reject)

    # ------------------------------------------------------------------ reading
    def cash(self, account: str) -> int:
        return self.venue.ledger.cash(account)

    def equity(self, account: str) -> int:
        return usd(self.state()["accounts"][account]["equity"])

    def qty(self, account: str, market: str = BTC) -> int:
        h = self.venue.accounts[account].holdings.get(market)
        return 0 if h is None else h.qty

    def system(self, name: str) -> int:
        return self.venue.ledger.system(name)

    def capital(self, member: str) -> int:
        return usd(self.state()["members"][member]["capital"])

    def default_fund(self, member: str) -> int:
        return usd(self.state()["members"][member]["default_fund"])

    def attribution(self) -> dict[str, int]:
        return {layer: usd(v) for layer, v in self.state()["loss_attribution"].items()}

    def maintenance(self, account: str) -> int:
        """Σ maintenance margin of the account's cross positions at their marks."""
        total = 0
        for name, h in self.venue.accounts[account].holdings.items():
            if h.qty and h.mode == "cross":
                m = self.venue.markets[name]
                total += m.tiers.maintenance(abs(h.qty) * (m.mark or 0) * m.k)
        return total


def bitmex_venue(*, insurance_fund: str = "0", ranking: str = "pnl_leverage") -> Run:
    """BitMEX's six longs and the 20-contract short on ETH-PERP, every position opened at 600.00.

    Each long's deposit gives it, at a mark of 660, a PnL of 10 % and an effective leverage
    (notional / equity) equal to its published ranking: equity = qty × 66 / rank, cash =
    equity − qty × 6, plus its maker fee of qty × 0.006. The short sells 20 as taker
    (fee 0.48) and keeps 100.00 of cash: at 660 its equity is 100 − 20 × 60 × 0.1 = −20.00,
    so with an empty insurance fund its bankruptcy price is 660 − 20 / (20 × 0.1) = 650.00.
    A market maker sells the other 80 and is short too (the liquidated side: never deleveraged).
    """
    r = Run(f'[clearing]\nloss_model = "offshore"\ninsurance_fund = "{insurance_fund}"\nadl_ranking = "{ranking}"\n')
    r.member("fcm-1", "10000000", "1000000")
    r.account("mm", "100000", segment="market_maker")
    r.account("short", "100.48")
    for account, (qty, rank) in BITMEX_LONGS.items():
        equity = Fraction(qty * 66, rank)
        r.account(account, dollars(equity - qty * 6 + Fraction(qty * 6, 1000)))
    r.index("600", market=ETH)
    for account, (qty, _rank) in BITMEX_LONGS.items():
        r.order(account, "buy", qty, "600", market=ETH, post_only=True)
    r.order("short", "sell", 20, "600", market=ETH, tif="ioc")
    r.order("mm", "sell", 80, "600", market=ETH, tif="ioc")
    assert r.cash("short") == usd("100")
    return r
