"""Bugs found by the property tests, each as its smallest reproduction.

Each test states what the rules require. While the bug is open it is marked strict xfail;
when it is fixed the test passes, ``strict=True`` turns that into a failure, and whoever
fixed it removes the marker (and the bug's name from ``KNOWN_BUGS`` in test_invariants.py,
which lets the random streams check the property again). A fixed bug's test stays, as a
regression test.
"""

from __future__ import annotations

import pytest

from onshore.config.load import default_config, load_config
from onshore.core import commands as c
from onshore.core import events as e
from onshore.venue import Venue, VenueStopped
from onshore.venue import venue as venue_module

T0 = 1_767_225_600_000
COMPILED = not venue_module.__file__.endswith(".py")


def venue_with(*accounts: tuple[str, str, str], config: str | None = None) -> Venue:
    """A venue with one member, the given (account, segment, deposit) and BTC-USD at 65000."""
    venue = Venue(load_config(config) if config else default_config())
    venue.apply(c.RegisterMember(ts=T0, member="fcm", capital="5000000", default_fund="1000000"))
    for account, segment, amount in accounts:
        venue.apply(c.OpenAccount(ts=T0, account=account, member="fcm", segment=segment))
        venue.apply(c.Deposit(ts=T0, account=account, amount=amount))
    quotes = [c.Quote(source=s, price="65000", ts=T0) for s in ("coinbase", "kraken", "bitstamp")]
    venue.apply(c.IndexUpdate(ts=T0, index="BTC-USD", quotes=quotes))
    return venue


def order(account: str, coid: str, side: str, price: str, qty: str, ts: int = T0 + 1, **extra: object) -> c.PlaceOrder:
    return c.PlaceOrder(
        ts=ts, account=account, market="BTC-PERP", client_order_id=coid, side=side, price=price, qty=qty, **extra
    )  # type: ignore[arg-type]


def rejected(events: list[e.Event]) -> str | None:
    return events[0].reason if len(events) == 1 and isinstance(events[0], e.CommandRejected) else None


def test_a_withdrawal_leaves_the_margin_of_open_isolated_orders() -> None:
    """docs/clearing.md: a withdrawal takes only collateral not needed for the IM of positions *and open orders*.

    alice (retail, 10×) deposits 1000, sets BTC-PERP isolated and bids 14 lots @ 65000 (IM
    14 × 650 / 10 = 910): accepted. Venue.withdrawable still says 1000, so a 990 withdrawal
    goes through; when the bid fills, 910 of margin moves out of cash: cash −900.91.
    """
    venue = venue_with(("alice", "retail", "1000"), ("bob", "retail", "100000"))
    venue.apply(c.SetMarginMode(ts=T0 + 1, account="alice", market="BTC-PERP", mode="isolated"))
    assert rejected(venue.apply(order("alice", "a1", "buy", "65000", "14"))) is None
    assert rejected(venue.apply(c.Withdraw(ts=T0 + 1, account="alice", amount="990"))) == "insufficient_funds"


def test_two_isolated_orders_cannot_spend_the_same_collateral() -> None:
    """Each of two isolated bids needs 910 of the account's 1000; together they cannot both rest.

    Today both are accepted (each is checked as if it were the only one), and filling both
    moves 1820 of margin out of 1000 of cash.
    """
    venue = venue_with(("alice", "retail", "1000"), ("bob", "retail", "100000"))
    venue.apply(c.SetMarginMode(ts=T0 + 1, account="alice", market="BTC-PERP", mode="isolated"))
    assert rejected(venue.apply(order("alice", "a1", "buy", "65000", "14"))) is None
    assert rejected(venue.apply(order("alice", "a2", "buy", "65000", "14"))) == "insufficient_margin"


def test_a_reduce_only_close_cannot_leave_hidden_debt() -> None:
    """No account may end a command owing money that no loss layer absorbed and no event reported.

    alice (institutional, 50×) deposits 1400 and buys 100 lots @ 65000 (IM 1300, fee 26).
    Her reduce-only sell of 100 @ 61750 (the bottom of the 5 % band) skips the pre-trade
    check; bob buys it. alice ends flat with equity −1882.175, reported nowhere (no
    loss_absorbed, no loss_uncovered), while bob holds +3250 at the mark: a transfer from
    the clearing house to a colluding account, the shape of the 2022 Mango Markets exploit.
    """
    venue = venue_with(("alice", "institutional", "1400"), ("bob", "institutional", "100000"))
    venue.apply(c.OpenAccount(ts=T0, account="mm", member="fcm", segment="market_maker"))
    venue.apply(c.Deposit(ts=T0, account="mm", amount="1000000"))
    venue.apply(order("mm", "m1", "sell", "65000", "100", post_only=True))
    venue.apply(order("alice", "a1", "buy", "65000", "100", time_in_force="ioc"))
    events = venue.apply(order("alice", "a2", "sell", "61750", "100", reduce_only=True))
    if rejected(events):
        return  # refusing the order is one fix
    events = venue.apply(order("bob", "b1", "buy", "61750", "100", time_in_force="ioc"))
    state = venue.state_document()
    equity = float(state["accounts"]["alice"]["equity"])
    reported = any(isinstance(ev, (e.LossAbsorbed, e.LossUncovered)) for ev in events)
    assert equity >= 0 or reported, f"alice owes {-equity} and no event says who pays"


def test_an_index_below_one_market_tick_is_an_answer_not_a_crash() -> None:
    """DESIGN.md rule 6: bad input is an answer, not a crash.

    BTC-USD quoted at 0.04 is a positive price on the index grid (0.01) but rounds to 0 ticks
    of BTC-PERP (0.1): the mark computation raises ValueError and the Venue stops for good.
    """
    venue = Venue(default_config())
    quotes = [c.Quote(source=s, price="0.04", ts=T0) for s in ("coinbase", "kraken")]
    try:
        venue.apply(c.IndexUpdate(ts=T0, index="BTC-USD", quotes=quotes))
    except Exception as exc:  # any crash is the bug
        pytest.fail(f"the Venue crashed on an index update: {type(exc).__name__}: {exc}")
    assert venue.stopped is None


def test_a_broken_invariant_raises_venue_stopped() -> None:
    """An exception after a state change must surface as VenueStopped, and the Venue stays stopped.

    Fixed: compiled with mypyc, ``raise VenueStopped(self.stopped)`` right after
    ``self._stop(...)`` failed its type check (mypy had narrowed ``self.stopped`` to None at
    the top of ``apply``) and raised ``TypeError: None object expected; got str`` instead.
    """
    venue = Venue(default_config())

    def broken(command: c.Tick) -> None:
        raise RuntimeError("a handler broke after changing state")

    venue._handlers[c.Tick] = broken
    with pytest.raises(VenueStopped):
        venue.apply(c.Tick(ts=T0))
    with pytest.raises(VenueStopped):
        venue.apply(c.Deposit(ts=T0, account="nobody", amount="1"))


def test_funding_of_an_isolated_position_comes_from_its_isolated_margin() -> None:
    """Fixed: funding on an isolated position was charged to the account's cash.

    alice deposits exactly the margin and fee of an isolated long and the 2 micro-dollars a lot
    the isolated order reserve holds for rounding (cash 0.00002 after the trade);
    an hour of funding at the interest rate (longs pay) must come out of the isolated margin,
    never push her cash below zero where nothing would ever collect it.
    """
    venue = venue_with(("alice", "retail", "652.60002"), ("mm", "market_maker", "1000000"))
    venue.apply(c.SetMarginMode(ts=T0 + 1, account="alice", market="BTC-PERP", mode="isolated"))
    venue.apply(order("mm", "m1", "sell", "65000", "10", post_only=True))
    venue.apply(order("alice", "a1", "buy", "65000", "10", time_in_force="ioc"))
    payments = []
    for step in range(1, 181):  # an index update and a tick every 20 s for an hour: the index stays fresh
        ts = T0 + step * 20_000
        quotes = [c.Quote(source=s, price="65000", ts=ts) for s in ("coinbase", "kraken", "bitstamp")]
        venue.apply(c.IndexUpdate(ts=ts, index="BTC-USD", quotes=quotes))
        events = venue.apply(c.Tick(ts=ts))
        payments += [ev for ev in events if isinstance(ev, e.FundingPayment) and ev.account == "alice"]
    assert payments, "no funding was paid in an hour"
    alice = venue.state_document()["accounts"]["alice"]
    paid = -sum(float(ev.amount) for ev in payments)
    assert paid > 0
    assert alice["cash"] == "0.00002"
    assert float(alice["positions"]["BTC-PERP"]["isolated_margin"]) == pytest.approx(650 - paid, abs=1e-6)


def test_an_account_below_maintenance_is_liquidated_when_its_market_resumes() -> None:
    """While a market's index is stale its accounts are not liquidated (docs/liquidation.md); when the
    index is fresh again they must be checked, even if the mark did not move.

    alice (50×, 300 USD) is long 10 @ 65000 and bids 10 more @ 65000. The index falls to
    63700 (she is still above maintenance), then goes stale; bob sells into her bid; she is
    long 20 @ 65000 with equity 36.75 against maintenance 127.4. A fresh index at 63700 leaves
    the mark where it was, so no liquidation pass runs: she stays below maintenance (a
    margin call is even sent) until the mark next moves. The same happens when a halted
    market reopens. Fixed: an index that turns fresh again runs the liquidation pass.
    """
    venue = venue_with(("alice", "institutional", "300"), ("bob", "institutional", "100000"))
    venue.apply(c.OpenAccount(ts=T0, account="mm", member="fcm", segment="market_maker"))
    venue.apply(c.Deposit(ts=T0, account="mm", amount="1000000"))
    venue.apply(order("mm", "m1", "sell", "65000", "10", post_only=True))
    venue.apply(order("alice", "a1", "buy", "65000", "10", time_in_force="ioc"))
    venue.apply(order("alice", "a2", "buy", "65000", "10"))

    def index(ts: int, price: str) -> c.IndexUpdate:
        quotes = [c.Quote(source=s, price=price, ts=ts) for s in ("coinbase", "kraken", "bitstamp")]
        return c.IndexUpdate(ts=ts, index="BTC-USD", quotes=quotes)

    venue.apply(index(T0 + 20, "63700"))
    venue.apply(c.Tick(ts=T0 + 60_000))  # the index is stale: the mark freezes
    venue.apply(order("bob", "b1", "sell", "63700", "10", ts=T0 + 60_001, time_in_force="ioc"))
    events = venue.apply(index(T0 + 60_002, "63700"))
    alice = venue.state_document()["accounts"]["alice"]
    assert any(isinstance(ev, e.Liquidation) for ev in events) or not alice["positions"], alice


def test_rejection_details_show_prices_not_ticks() -> None:
    """protocol.md: ``detail`` is a sentence a person can act on.

    A bid at 70000.0 outside the ±5 % band around 65000 is refused with "price 700000 is
    outside the band 617500..682500 around the reference 650000": tick counts, ten times the
    prices; a post-only refusal says "post-only order at 650000 would take liquidity".
    """
    venue = venue_with(("alice", "retail", "100000"))
    events = venue.apply(order("alice", "a1", "buy", "70000.0", "1"))
    assert rejected(events) == "price_band"
    detail = events[0].detail  # type: ignore[attr-defined]
    assert "700000" not in detail and "70000" in detail, detail


def test_an_account_below_maintenance_is_liquidated_when_its_market_reopens() -> None:
    """The halt variant: no liquidation while a market is halted; on reopening, nobody looks.

    alice (50×, 300) is long 10 @ 65000. BTC-PERP is halted; the index falls to 62500 (the
    mark follows: equity 47.4 against maintenance 62.5); the market reopens; a tick sends a
    margin call, but no liquidation runs until the mark next moves. Fixed: reopening runs the
    liquidation pass.
    """
    venue = venue_with(("alice", "institutional", "300"), ("mm", "market_maker", "1000000"))
    venue.apply(order("mm", "m1", "sell", "65000", "10", post_only=True))
    venue.apply(order("alice", "a1", "buy", "65000", "10", time_in_force="ioc"))
    venue.apply(c.SetMarketState(ts=T0 + 2, market="BTC-PERP", state="halted"))
    quotes = [c.Quote(source=s, price="62500", ts=T0 + 3) for s in ("coinbase", "kraken", "bitstamp")]
    venue.apply(c.IndexUpdate(ts=T0 + 3, index="BTC-USD", quotes=quotes))
    events = venue.apply(c.SetMarketState(ts=T0 + 4, market="BTC-PERP", state="open"))
    events += venue.apply(c.Tick(ts=T0 + 5))
    alice = venue.state_document()["accounts"]["alice"]
    assert any(isinstance(ev, e.Liquidation) for ev in events) or not alice["positions"], alice


def test_reduce_only_orders_are_trimmed_when_a_liquidation_moves_the_position() -> None:
    """docs/clearing.md: reduce-only orders that would now exceed the position are cancelled.

    Offshore model, empty insurance fund. bob sells alice 100 lots @ 65000 (she is at 50×
    with 1400) and rests a reduce-only buy of 100 @ 61800. The index falls to 64000: alice is
    liquidated, nothing in the book is within her bankruptcy price, and auto-deleveraging
    closes her long against bob's short at 63626. bob is flat, yet his reduce-only buy of
    100 still rests: if it fills, a reduce-only order opens a 100-lot long. The trim ran
    after book fills only, not after backstop, ADL or tear-up transfers. Fixed: every
    transfer trims.
    """
    venue = venue_with(("alice", "institutional", "1400"), ("bob", "institutional", "100000"), config=OFFSHORE)
    venue.apply(order("bob", "b1", "sell", "65000", "100", post_only=True))
    venue.apply(order("alice", "a1", "buy", "65000", "100", time_in_force="ioc"))
    venue.apply(order("bob", "b2", "buy", "61800", "100", reduce_only=True))
    quotes = [c.Quote(source=s, price="64000", ts=T0 + 2) for s in ("coinbase", "kraken", "bitstamp")]
    events = venue.apply(c.IndexUpdate(ts=T0 + 2, index="BTC-USD", quotes=quotes))
    assert any(isinstance(ev, e.AutoDeleverage) for ev in events)
    bob = venue.state_document()["accounts"]["bob"]
    assert not bob["positions"]
    assert not [o for o in bob["open_orders"] if o["reduce_only"]], bob["open_orders"]


def test_auto_deleveraging_trades_near_the_mark_and_spares_a_recovered_account() -> None:
    """Offshore, empty insurance fund. alice (50×, 1400) is short 100 @ 65000 to bob; mm-1 asks
    99 @ 65000.1. The index gaps to 68900: alice is under water, the market stage buys back 99
    lots at 65000.1 (far better than the mark), which leaves her about 1000 of equity on one
    lot, far above maintenance. The engine still deleverages that lot, at the "bankruptcy
    price" of all her remaining equity over one contract: bob must sell 0.01 BTC at 170215
    with the mark at 68900, and alice's 1000 goes to him. In a random stream the same path
    deleveraged at 145604.6 against a mark of 74815.3, at 50439.39 against 2792.73, and at
    a negative price, −4358. Fixed: when the book takes part of the position the account is
    looked at again (alice keeps her lot), and ADL trades at the mark while the account has
    equity, beyond it only by the deficit left per lot (docs/liquidation.md).
    """
    venue = venue_with(
        ("alice", "institutional", "1400"),
        ("bob", "institutional", "100000"),
        ("mm", "market_maker", "1000000"),
        config=OFFSHORE,
    )
    venue.apply(order("bob", "b1", "buy", "65000", "100", post_only=True))
    venue.apply(order("alice", "a1", "sell", "65000", "100", time_in_force="ioc"))
    venue.apply(order("mm", "m1", "sell", "65000.1", "99", post_only=True))
    quotes = [c.Quote(source=s, price="68900", ts=T0 + 2) for s in ("coinbase", "kraken", "bitstamp")]
    events = venue.apply(c.IndexUpdate(ts=T0 + 2, index="BTC-USD", quotes=quotes))
    mark = float(venue.state_document()["markets"]["BTC-PERP"]["mark_price"])
    prices = [float(ev.price) for ev in events if isinstance(ev, e.Trade)]
    assert prices and all(mark * 0.8 <= p <= mark * 1.2 for p in prices if p > 65000.1), (mark, prices)


OFFSHORE = """
[clearing]
loss_model = "offshore"
"""
