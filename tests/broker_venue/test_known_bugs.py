"""Venue bugs the broker tests found, each as its minimal reproduction.

An open bug's test is a strict xfail: when the bug is fixed the test passes and fails the
suite as XPASS; remove the marker then, and the test stays as a regression test. Each
docstring says what the Venue did (or does) and what docs/broker.md asks.
"""

from __future__ import annotations

from broker.applicants import CAROL_ECP
from onshore.core import commands as c

from .driver import BTC, ETH, HOUR, SECOND, T0, market_session, of_type


def test_an_order_in_a_market_no_longer_permitted_cannot_be_grown() -> None:
    """Carol rests 5 lots in BTC-PERP; her member then limits her to ETH-PERP.

    Fixed: ``amend_order`` grew the order to 50 lots although ``place_order`` would refuse the
    same exposure (``market_not_permitted``), so amending was a way around the limit.
    """
    run = market_session()
    run.customer("carol", deposit="100000")
    run.order("carol", "buy", 5, "64000", coid="rest")
    run.limits("carol", markets=[ETH])
    amend = c.AmendOrder(ts=run.ts, account="carol", market=BTC, client_order_id="rest", qty="50")
    run.apply(amend, reject="market_not_permitted")


def test_a_yearly_review_keeps_the_limits_the_member_set() -> None:
    """The member limits Carol to 5× and BTC-PERP; her review, with an unchanged profile, keeps both.

    docs/broker.md: per-customer overrides "may only tighten"; the review takes the tighter of
    the new segment's limits and what the member set.
    """
    run = market_session()
    run.customer("carol", deposit="100000")
    run.limits("carol", max_leverage="5", markets=[BTC])
    run.apply(c.ReviewCustomer(ts=run.ts, account="carol", profile=CAROL_ECP))
    customer = run.venue.customers["carol"]
    assert (customer.max_leverage, customer.markets) == (500, [BTC])


def test_funding_that_takes_an_account_below_the_warning_level_calls_it_in_the_same_tick() -> None:
    """Carol is $0.66 above the warning level when the 01:00 funding takes $1.58725 from her.

    Long 40 lots from 65,010 with $989.5984 of cash; at a mark of 63,490 her equity is
    $381.5984 and the warning level 1.5 × $253.96 = $380.94. The funding rate (interest
    0.1 % per 8 h, clamped to 0.05 %: 0.00625 % an hour) costs her 0.4 × 63,490 × 0.0000625.
    Equity $380.01115 is below the level after the 01:00 tick. Fixed: ``margin_call`` came only
    with the next tick, as funding marked accounts dirty after margin calls were skipped as not due.
    """
    run = market_session('[markets.BTC-PERP.funding]\ninterest_rate_8h = "0.001"\n')
    run.customer("carol", deposit="1000")
    run.leverage("carol", "50")
    run.order("carol", "buy", 40, "65010")
    run.at(T0 + 10 * SECOND)
    run.move(63_490)
    assert of_type(run.tick(T0 + 20 * SECOND), "margin_call") == []
    run.tick(T0 + HOUR - 10 * SECOND)
    run.index("63490")
    out = run.tick(T0 + HOUR)
    paid = {ev["account"]: ev["amount"] for ev in of_type(out, "funding_payment")}
    assert paid["carol"] == "-1.58725"
    assert [(ev["account"], ev["equity"]) for ev in of_type(out, "margin_call")] == [("carol", "380.01115")]


def test_cash_an_isolated_order_needs_cannot_be_withdrawn() -> None:
    """Zed (isolated in BTC-PERP) rests a bid for 10 lots at 64,000: $640 of margin at 10×.

    ``withdrawable`` counts only cross-margined requirements, so all $1,000 can be withdrawn;
    when the bid fills, the $640 moves from cash to the isolated margin and cash goes
    negative: a debt the segregation report shows as customer cash below zero.
    """
    run = market_session()
    run.open_account("zed", "retail", "1000")
    run.apply(c.SetMarginMode(ts=run.ts, account="zed", market=BTC, mode="isolated"))
    run.order("zed", "buy", 10, "64000")
    run.apply(c.Withdraw(ts=run.ts, account="zed", amount="1000"), reject="insufficient_funds")
