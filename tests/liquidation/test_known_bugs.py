"""Bugs and doubtful rules found in the liquidation engine, each as a minimal reproduction.

Every test states what docs/liquidation.md (or docs/clearing.md) says should happen and is
a strict ``xfail``: it fails today; once the engine is fixed it passes, the strict marker
turns that into a failure, and the marker should be removed. ``BUG`` marks a behaviour that
contradicts the documentation; ``DOUBT`` a rule the documentation allows or leaves open but
that looks wrong.
"""

from __future__ import annotations

import pytest

from onshore.core import commands as c
from onshore.core.events import event_to_dict
from onshore.venue import Venue
from onshore.venue import venue as venue_module
from onshore.venue.errors import VenueStopped

from .driver import ETH, SOURCES, Run, absorbed, bitmex_venue, of_type, usd


def _cast(config: str | None = None) -> Run:
    r = Run(config)
    r.member("fcm-1", "10000000", "1000000")
    r.account("mm", "100000000", segment="market_maker")
    r.index("65000")
    return r


# ============================================================================ detection
def test_short_below_maintenance_is_liquidated() -> None:
    """alice is 10 lots short at 65,000 with 200 USD. Her trigger is filed at 65,000 + 135 / 0.1 = 66,350.

    At a mark of 66,340 her equity is 200 − 0.1 × 1,340 = 66.00 and her maintenance
    1 % × 663.40 = 66.34: she is below maintenance, and stays unliquidated until 66,350.
    ``trigger_price`` assumes maintenance does not move; for a long it falls with the price
    (so the trigger is early: conservative), for a short it rises (so the trigger is late).
    A conservative short trigger is ``M + excess / (|q|·K·(1 + mmr))``, or the tier's rate.
    """
    r = _cast()
    r.account("alice", "200.65")
    r.account("bob", "100000")
    r.order("alice", "sell", 10, "65000", post_only=True)
    r.order("bob", "buy", 10, "65000", tif="ioc")
    r.index("66340")  # equity 66.00 < maintenance 66.34: the trigger (now 66,083.3) is reached
    assert of_type(r.events, "liquidation"), "alice is below maintenance at 66,340 and was not liquidated"


def test_an_account_just_above_maintenance_does_not_stall_the_venue() -> None:
    """alice: 10 lots long at 65,000 with 164.005 USD; the index moves to 64,000.

    Her equity is 164.005 − 100 = 64.005 ≥ maintenance 64: 0.005 USD to spare, less than one tick
    per lot (10 × 1,000 micro-dollars). Her trigger, filed at 65,000 (64,010), pops her; she is
    not below maintenance, so she is marked dirty; the refresh files her new trigger at
    64,000 − ⌊5,000 / 10,000⌋ = 64,000 — the mark itself — and ``_pop_candidates`` (``trigger >=
    mark``) pops her again, round after round: after 100,000 rounds ``_liquidation_pass`` raises
    "the liquidation cascade did not stop" and the Venue stops. The same for a short (``trigger
    <= mark``). A partial liquidation leaves an account just above maintenance by design, so
    this happens in real crashes: ``bench/liquidation.py --partial`` (1,000 liquidations, a
    third of them partial) stops the Venue this way. A fix: pop only when the mark is strictly
    beyond the last price at which the account was known to be safe, or do not re-file a
    checked-and-safe account at the current mark.
    """
    r = _cast()
    r.account("alice", "166.605")
    r.order("mm", "sell", 10, "65000", post_only=True)
    r.order("alice", "buy", 10, "65000", tif="ioc")
    assert r.cash("alice") == usd("164.005")
    quotes = [c.Quote(source=s, price="64000", ts=r.ts) for s in SOURCES]
    try:
        events = r.venue.apply(c.IndexUpdate(ts=r.ts, index="BTC-USD", quotes=quotes))
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc}; the venue stopped: {r.venue.stopped}") from exc
    assert not of_type([event_to_dict(ev) for ev in events], "liquidation")
    assert r.equity("alice") == usd("64.005")


def test_a_stale_markets_position_is_not_liquidated_through_another_market() -> None:
    """erin is long BTC and ETH; BTC's index goes stale (its mark frozen), then ETH crashes.

    docs/liquidation.md: "While a market's index is stale its mark is frozen and its
    accounts are not liquidated." The ETH trigger pops erin and her BTC position — the
    larger maintenance — is sold through the BTC book, 1,000 USD under the frozen mark.
    """
    r = _cast()
    r.account("erin", "300")
    r.index("3000", market=ETH)
    r.order("mm", "sell", 10, "65000", post_only=True)
    r.order("mm", "sell", 10, "3000", post_only=True, market=ETH)
    r.order("erin", "buy", 10, "65000", tif="ioc")
    r.order("erin", "buy", 10, "3000", tif="ioc", market=ETH)
    r.order("mm", "buy", 50, "64000", post_only=True)
    r.index("65000", stale=("kraken", "bitstamp", "gemini"))
    assert r.venue.markets["BTC-PERP"].index_stale
    events = r.index("2700", market=ETH)
    assert not [ev for ev in of_type(events, "trade", "liquidation") if ev["market"] == "BTC-PERP"]


# ============================================================================ the book stage
def test_a_position_above_the_maximum_order_size_is_liquidated_through_the_book() -> None:
    """A whale holds 6,000 lots (max_order_qty is 5,000); the book bids 10,000 lots at 60,000 / 59,900.

    Gapped to 60,000 its equity is −1,560: the ``market`` stage sends one IOC for all 6,000
    lots, the book rejects it (above the maximum order size), ``_book_close`` reads no fill
    and the whole position is torn up against ``mm`` at the mark — under the offshore model
    it would be auto-deleveraged against the profitable shorts — while the book could have
    taken it. No event says the order was refused.
    """
    r = _cast()
    r.account("whale", "300000", segment="market_maker")
    r.order("mm", "sell", 5000, "65000", post_only=True)
    r.order("mm", "sell", 1000, "65000", post_only=True)
    r.order("whale", "buy", 5000, "65000", tif="ioc")
    r.order("whale", "buy", 1000, "65000", tif="ioc")
    r.index("63000")
    r.order("mm", "buy", 5000, "60000", post_only=True)
    r.order("mm", "buy", 5000, "59900", post_only=True)
    events = r.index("60000")
    assert not [s for s in of_type(events, "liquidation") if s["stage"] == "tear_up"]
    assert sum(int(ev["qty"]) for ev in of_type(events, "trade")) == 6000


def test_a_halted_markets_position_is_not_torn_up_through_another_market() -> None:
    """erin is long BTC (10 lots) and ETH (10 lots); BTC-PERP is halted, then ETH falls to 2,750.

    Her equity 300 − 3.20 − 10 × 0.1 × 250 = 46.80 is below 65 + 27.50. Detection now skips
    halted markets, but ETH's trigger pops her and her BTC position (the larger maintenance)
    is liquidated first: the book refuses every order while halted (``market_halted``),
    ``_book_close`` reads the refusal as "no liquidity" and — with 50 lots bid at 64,900 —
    her 10 lots are torn up against ``mm`` at the mark, inside a halt. Same root as the
    order-size bug above: the book's ``Rejected`` is never looked at. Expected: no position
    moves in a halted market (ETH may be reduced instead).
    """
    r = _cast()
    r.account("erin", "300")
    r.index("3000", market=ETH)
    r.order("mm", "sell", 10, "65000", post_only=True)
    r.order("mm", "sell", 10, "3000", post_only=True, market=ETH)
    r.order("erin", "buy", 10, "65000", tif="ioc")
    r.order("erin", "buy", 10, "3000", tif="ioc", market=ETH)
    r.order("mm", "buy", 50, "64900", post_only=True)
    r.apply(c.SetMarketState(ts=r.ts, market="BTC-PERP", state="halted"))
    events = r.index("2750", market=ETH)
    assert not [ev for ev in of_type(events, "trade", "liquidation") if ev["market"] == "BTC-PERP"]
    assert r.qty("erin") == 10


def test_a_small_liquidation_slice_does_not_stop_the_venue() -> None:
    """``liquidation_slice = 0.000001`` (valid: positive) makes every slice one lot.

    A 20,000-lot position that must be reduced by some 18,000 lots through a deep book at
    the mark needs more than ``MAX_STEPS`` slices: ``_run`` raises AssertionError and the
    Venue stops ("liquidation of whale did not finish"). The fee is 0 here so that the
    fills do not erode the equity; any slice below ~1/10,000 of the position does it.
    """
    r = _cast('[clearing]\nliquidation_slice = "0.000001"\nliquidation_fee = "0"\n')
    r.account("whale", "1000000", segment="market_maker")
    for _ in range(4):
        r.order("mm", "sell", 5000, "65000", post_only=True)
        r.order("whale", "buy", 5000, "65000", tif="ioc")
    r.index("63000")
    for _ in range(4):
        r.order("mm", "buy", 5000, "60100", post_only=True)
    quotes = [c.Quote(source=s, price="60100", ts=r.ts) for s in SOURCES]
    try:
        r.venue.apply(c.IndexUpdate(ts=r.ts, index="BTC-USD", quotes=quotes))
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc}; the venue stopped: {r.venue.stopped}") from exc
    assert r.venue.stopped is None


COMPILED = venue_module.__file__ is not None and venue_module.__file__.endswith(".so")


@pytest.mark.skipif(not COMPILED, reason="only the mypyc-compiled Venue narrows ``self.stopped``")
def test_a_broken_invariant_raises_venue_stopped() -> None:
    """In ``Venue.apply`` mypy narrows ``self.stopped`` to ``None`` after the guard at the top; mypyc
    trusted it and ``raise VenueStopped(self.stopped)`` failed with ``TypeError`` once ``_stop`` had
    set it. The message is now built in a local. Here the invariant is broken by hand: the account's
    broker record is removed behind the Venue's back, so its next order fails inside the handler.
    """
    r = _cast()
    r.account("whale", "1000000", segment="market_maker")
    del r.venue.customers["whale"]
    order = c.PlaceOrder(
        ts=r.ts, account="whale", market="BTC-PERP", client_order_id="w", side="buy", price="65000", qty="1"
    )
    with pytest.raises(VenueStopped):
        r.venue.apply(order)
    with pytest.raises(VenueStopped):  # and it refuses everything after
        r.venue.apply(c.Tick(ts=r.ts))


# ============================================================================ isolated margin
def _dave_isolated(bid: str | None) -> Run:
    """dave: 10 lots long at 65,000, isolated at 50× (130 USD of margin), 997.53 USD of cash."""
    r = _cast()
    r.account("dave", "1130.13")
    r.isolated("dave")
    r.order("mm", "sell", 10, "65000", post_only=True)
    r.order("dave", "buy", 10, "65000", tif="ioc")
    if bid is not None:
        r.order("mm", "buy", 10, bid, post_only=True)
    assert r.cash("dave") == usd("997.53")
    assert r.venue.ledger.balance("isolated", "dave/BTC-PERP") == usd("130")
    return r


def test_an_isolated_deficit_is_not_paid_from_the_accounts_cash() -> None:
    """At 64,000 dave's isolated equity is 30 (< 64); the only bids are at 63,000, beyond his bankruptcy 63,700.

    The ``market`` stage sells there: 10 × 0.01 × (63,000 − 64,000) = −100 → isolated deficit
    70. Each closing fill releases the isolated margin to cash and books the realized loss to
    cash, so after the fill the isolated balance is 0, ``isolated_equity`` is 0 and
    ``_cover_deficit`` finds nothing: the 70 came out of dave's cross cash (997.53 → 927.53),
    and no layer records it (``trader`` says 30). docs/clearing.md: "its liquidation looks at
    its isolated margin alone"; the member should pay the 70.
    """
    r = _dave_isolated("63000")
    events = r.index("64000")
    assert r.cash("dave") == usd("997.53")
    assert ("member_capital", usd("70"), "fcm-1") in absorbed(events)


def test_an_isolated_full_liquidation_pays_its_fee_from_the_margin_left() -> None:
    """At 64,000 dave's isolated equity is 30; all 10 lots sell at 63,990 (within bankruptcy 63,700).

    Equity left: 30 − 10 × 0.01 × 10 = 29. The fee should be min(0.5 % × 6,399, 29) = 29, to
    the insurance fund. But the fill has already released the isolated margin to cash, so the
    fee cap reads an isolated equity of 0: no fee, and dave's cash gets the 29 (1,029), while
    the ``trader`` line says 30 were consumed.
    """
    r = _dave_isolated("63990")
    r.order("mm", "buy", 90, "63990", post_only=True)
    events = r.index("64000")
    assert r.system("insurance_fund") == usd("29")
    assert r.cash("dave") == usd("997.53")
    assert absorbed(events) == [("trader", usd("30"), "dave")]


def test_a_gapped_isolated_position_records_its_margin_as_the_trader_loss() -> None:
    """Gapped from 65,000 to 63,000 on an empty book, dave's isolated equity is 130 − 200 = −70.

    ``liquidate`` starts the isolated episode at ``max(isolated equity, 0)`` = 0 (the cross
    path uses the equity before the move), so the 130 USD of margin dave lost is nowhere:
    only ``member_capital`` 70 is recorded. Expected: ``trader`` 130.
    """
    r = _dave_isolated(None)
    events = r.index("63000")
    assert ("member_capital", usd("70"), "fcm-1") in absorbed(events)
    assert ("trader", usd("130"), "dave") in absorbed(events)


# ============================================================================ attribution
def test_a_gapped_multi_market_account_records_its_collateral_as_the_trader_loss() -> None:
    """erin (cross, long BTC and ETH, equity 296.20) and fred (long BTC only, 297.40), gapped to 60,000.

    fred's ``trader`` line is 297.40. erin's is missing: accounts with cross positions in
    two markets are refreshed on every mark move, so ``_last_equity`` is recorded *after*
    the gap (negative) and the episode starts at max(negative, 0) = 0. Only the 203.80 her
    member paid is attributed; her own 296.20 is not.
    """
    r = _cast()
    r.index("3000", market=ETH)
    r.account("erin", "300")
    r.account("fred", "300")
    r.order("mm", "sell", 20, "65000", post_only=True)
    r.order("mm", "sell", 10, "3000", post_only=True, market=ETH)
    r.order("erin", "buy", 10, "65000", tif="ioc")
    r.order("erin", "buy", 10, "3000", tif="ioc", market=ETH)
    r.order("fred", "buy", 10, "65000", tif="ioc")
    events = r.index("60000")
    assert ("trader", usd("297.4"), "fred") in absorbed(events)
    assert ("trader", usd("296.2"), "erin") in absorbed(events)


def test_the_trader_line_does_not_depend_on_an_unrelated_deposit() -> None:
    """p1 and p2 are identical longs (10 lots at 65,000, 297.40 of cash); a rally to 68,000, then 60,000.

    Before the crash both have equity 597.40. p2 deposits one micro-dollar after the rally,
    which refreshes its reference equity; p1's is still the 297.40 of its purchase. Their
    ``trader`` lines: p1 297.40, p2 597.400001 — docs: "its equity before the move that
    triggered the liquidation". Expected: 597.40 and 597.400001.
    """
    r = _cast()
    r.account("p1", "300")
    r.account("p2", "300")
    r.order("mm", "sell", 20, "65000", post_only=True)
    r.order("p1", "buy", 10, "65000", tif="ioc")
    r.order("p2", "buy", 10, "65000", tif="ioc")
    r.index("68000")
    assert r.equity("p1") == r.equity("p2") == usd("597.4")
    r.deposit("p2", "0.000001")
    events = r.index("60000")
    trader = {who: amount for layer, amount, who in absorbed(events) if layer == "trader"}
    assert trader == {"p1": usd("597.4"), "p2": usd("597.400001")}


def test_a_restored_venue_answers_like_the_original() -> None:
    """alice: 10 lots long at 65,000 with 300 USD. A rally to 68,000, a snapshot, then 62,660 and 60,000 on both.

    The original filed alice's trigger at 65,000: 65,000 − 235 / 0.1 = 62,650. The restored
    Venue rebuilds the triggers at the restore's marks: 68,000 − 532 / 0.1 = 62,680. At 62,660
    the restored one pops her (she is safe: 66 ≥ 62.66) and records her equity then as the
    reference (``_last_equity``, part of the state hash); the original does not. From there the
    hashes differ, and at 60,000 her ``trader`` line is 300 on the original and 66 on the
    restored Venue. docs: "snapshot + journal replay = same hash". The reference equity should
    not depend on which accounts the (conservative) heaps happened to pop.
    """
    r = _cast()
    r.account("alice", "302.6")
    r.order("mm", "sell", 10, "65000", post_only=True)
    r.order("alice", "buy", 10, "65000", tif="ioc")
    r.index("68000")
    twin = Venue.restore(r.config, r.venue.snapshot())
    assert twin.state_hash() == r.venue.state_hash()
    for price in ("62660", "60000"):
        quotes = [c.Quote(source=s, price=price, ts=r.ts) for s in SOURCES]
        original = [event_to_dict(ev) for ev in r.venue.apply(c.IndexUpdate(ts=r.ts, index="BTC-USD", quotes=quotes))]
        restored = [event_to_dict(ev) for ev in twin.apply(c.IndexUpdate(ts=r.ts, index="BTC-USD", quotes=quotes))]
        assert original == restored
        assert twin.state_hash() == r.venue.state_hash()


def test_adl_winners_pay_more_than_the_deficit() -> None:
    """BitMEX's queue with the short's cash at 100.001: its deficit at 660 is 19.999 USD.

    The bankruptcy price 660 + ⌊−19,999,000 / 20,000⌋ ticks = 650.00 is rounded so that the
    short's equity stays ≥ 0: closing there, the winners give up (660 − 650) × 20 × 0.1 = 20.000
    — 0.001 more than the deficit, which the bankrupt account keeps as cash. The rounding
    goes in the bankrupt trader's favour and against the deleveraged winners, and
    Σ layers − trader ≠ Σ deficits by that residue. Expected: the winners pay 19.999.
    Fixed: the winners pay ⌊D / K⌋ whole tick-lots, 19 lots at 650.00 and one at 650.01
    (``adl_prices``); a remainder below one tick-lot would come from the ``rounding`` account.
    """
    r = bitmex_venue()
    r.deposit("short", "0.001")
    events = r.index("660", market=ETH)
    assert sum(amount for _l, amount, _w in absorbed(events, "adl")) == usd("19.999")
    assert r.equity("short") == 0


# ============================================================================ when the book cannot absorb
def _short_at_66350(config: str | None) -> tuple[Run, list[dict[str, object]]]:
    """alice, 10 lots short at 65,000 with 200 USD, bob long; the index reaches 66,350 on an empty book.

    Equity 200 − 135 = 65 > 0 but < maintenance 66.35; bankruptcy 66,350 + 65 / 0.1 = 67,000.
    """
    r = Run(config)
    r.member("fcm-1", "10000000", "1000000")
    r.account("alice", "200.65")
    r.account("bob", "100000")
    r.index("65000")
    r.order("alice", "sell", 10, "65000", post_only=True)
    r.order("bob", "buy", 10, "65000", tif="ioc")
    return r, r.index("66350")


def test_offshore_adl_waits_for_the_insurance_fund_to_be_exhausted() -> None:
    """Offshore, insurance fund 1,000,000. alice still has 65 USD of equity; the book is empty.

    docs: "if the fund is exhausted, auto-deleveraging closes opposite positions". bob was
    deleveraged at once, at alice's bankruptcy price 67,000 — above the mark, so bob also
    received alice's remaining 65 USD. Fixed: the insurance fund takes the position over at
    the bankruptcy price (its net notional, 6,635, is within its balance), as the large
    offshore venues do: alice's 65 goes with the position to the fund's house account
    ``@insurance_fund``, and bob keeps his long.
    """
    r, events = _short_at_66350('[clearing]\nloss_model = "offshore"\ninsurance_fund = "1000000"\n')
    assert not of_type(events, "auto_deleverage")
    assert [(s["account"], s["stage"], s["qty"], s["price"]) for s in of_type(events, "liquidation")] == [
        ("alice", "takeover", "10", "67000")
    ]
    assert r.qty("alice") == 0 and r.equity("alice") == 0
    assert r.qty("@insurance_fund") == -10 and r.equity("@insurance_fund") == usd("65")
    assert r.qty("bob") == 10
    assert absorbed(events) == [("trader", usd("65"), "alice")]


def test_us_clearing_tears_up_only_after_a_deficit() -> None:
    """US clearing, the same: alice's 10 lots were torn up against bob at the mark, though nothing was lost.

    Tear-up is the waterfall's last resort (after the VM haircut); with positive equity and
    an empty book there is no loss to allocate, yet bob's position was closed. Fixed: her
    clearing member takes the position into its house account ``@fcm-1`` at the mark (an FCM
    carries its customers' positions at the clearing house); alice keeps her 65 USD.
    """
    r, events = _short_at_66350(None)
    assert not [ev for ev in of_type(events, "liquidation") if ev["stage"] == "tear_up"]
    assert [(s["account"], s["stage"], s["qty"], s["price"]) for s in of_type(events, "liquidation")] == [
        ("alice", "takeover", "10", "66350")
    ]
    assert r.qty("alice") == 0 and r.equity("alice") == usd("65")
    assert r.qty("@fcm-1") == -10 and r.qty("bob") == 10
    assert not absorbed(events)


def test_the_insurance_fund_can_be_rebuilt_from_the_events() -> None:
    """alice's partial liquidation (test_scenarios) pays 44.933 USD into the insurance fund.

    The ``liquidation`` event carries it in its ``fee`` field, so a reader of the event
    stream (surveillance, the audit trail) can account for the fund.
    """
    from .test_scenarios import _alice_long_100

    r = _alice_long_100()
    events = r.index("64200")
    assert r.system("insurance_fund") == usd("44.933")
    fees = [ev["fee"] for ev in events if ev["type"] == "liquidation"]
    assert sum(usd(f) for f in fees) == usd("44.933")
