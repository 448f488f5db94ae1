"""The broker layer through the Venue, one path of issue 7 at a time (docs/broker.md).

Every scenario starts from :func:`~tests.broker_venue.driver.market_session` or a bare
:class:`~tests.broker_venue.driver.Run` at 2026-01-01 00:00 UTC: one clearing member
``fcm-1``, a market maker ``mm`` quoting BTC-PERP 64,990 / 65,010 (100 lots a side)
around an index of 65,000, and the applicants of the driver's cast. The driver checks
the Venue's invariants after every command and fails on any rejection a test did not
name.
"""

from __future__ import annotations

from typing import Any

import pytest

from broker.applicants import ALICE_RETAIL, applicant
from onshore.core import commands as c
from onshore.core.events import event_to_dict
from onshore.core.spec import LEVERAGE_SCALE

from .driver import (
    ADDENDUM,
    BTC,
    DAY,
    ETH,
    MEMBER,
    SECOND,
    STATEMENT,
    T0,
    YEAR_OF_REVIEW,
    Run,
    market_session,
    of_type,
    one,
    usd,
)

X = LEVERAGE_SCALE  # hundredths: 10× is 1000


# ============================================================================ leverage caps
@pytest.mark.parametrize(
    ("account", "requested", "leverage", "capped_by"),
    [
        # state: who asks        parameters     expectations
        ("alice", "50", "10", "account"),  # retail: the segment's 10×
        ("alice", "10", "10", None),
        ("alice", "5", "5", None),
        ("bob", "50", "20", "account"),  # qualified: 20×
        ("carol", "50", "50", None),  # institutional (ECP): 50×, the first tier's maximum too
        ("carol", "75", "50", "account"),
        ("dave", "50", "2", "account"),  # an ECP with a low risk tolerance: capped at 2×
    ],
)
def test_a_leverage_request_above_the_account_maximum_gets_the_cap_and_says_so(
    account: str, requested: str, leverage: str, capped_by: str | None
) -> None:
    run = market_session()
    run.onboard(account)
    event = run.leverage(account, requested)
    assert (event["type"], event["leverage"], event["requested"], event["capped_by"]) == (
        "leverage_set",
        leverage,
        requested,
        capped_by,
    )
    assert run.holding_leverage(account) == int(leverage) * X


def test_a_retail_customer_asking_50x_trades_at_10x() -> None:
    """Alice asks 50×, gets 10×, and her order is margined at 10×: 10 lots at a mark of 65,000 need $650."""
    run = market_session()
    opened = run.onboard("alice")
    assert (opened["segment"], opened["max_leverage"], opened["max_position_notional"]) == ("retail", "10", "1000000")
    event = run.leverage("alice", "50")
    assert (event["leverage"], event["capped_by"]) == ("10", "account")
    run.acknowledge_current("alice")
    run.deposit("alice", "10000")
    run.order("alice", "buy", 10, "65010")
    assert run.position("alice") == 10
    # 10 lots × 0.01 BTC × 65,000 (the mark) = $6,500 of notional, at 10×: $650 (not $130 at 50×)
    assert run.venue.requirement(run.venue.accounts["alice"]) == usd("650")
    assert run.state()["accounts"]["alice"]["positions"][BTC]["leverage"] == "10"


def test_an_institutional_customer_asking_50x_above_the_first_tier_gets_the_tier_maximum() -> None:
    """Carol holds 1,600 lots ($1.04M, the 25× tier): 50× is capped by the tier, not by her account."""
    run = market_session()
    run.customer("carol", deposit="200000")
    run.order("mm", "sell", 2000, "65010", post_only=True)
    run.order("carol", "buy", 1600, "65010")
    assert run.position("carol") == 1600
    event = run.leverage("carol", "50")
    assert (event["leverage"], event["requested"], event["capped_by"]) == ("25", "50", "tier")
    event = run.leverage("carol", "20")
    assert (event["leverage"], event["capped_by"]) == ("20", None)


# ============================================================================ disclosures
def test_an_order_before_acknowledgment_is_rejected_and_after_it_accepted() -> None:
    run = market_session()
    opened = run.onboard("alice")
    assert opened["disclosures"] == [{"document": ADDENDUM, "version": "1"}, {"document": STATEMENT, "version": "1"}]
    assert opened["review_due"] == T0 + YEAR_OF_REVIEW
    run.deposit("alice", "10000")
    (rejected,) = run.order("alice", "buy", 1, "65010", reject="disclosure_not_acknowledged")
    assert f"{ADDENDUM} version 1, {STATEMENT} version 1" in rejected["detail"]
    # before any acknowledgment even a reduce-only order is refused: 1.55(a) comes before any trade
    run.order("alice", "sell", 1, "65010", reduce_only=True, reject="disclosure_not_acknowledged")
    # a version that is not current cannot be acknowledged
    run.acknowledge("alice", STATEMENT, "0", reject="not_current_version")
    run.acknowledge("alice", "terms_of_service", "1", reject="unknown_document")
    ack = one(run.acknowledge("alice", STATEMENT, "1"), "disclosure_acknowledged")
    assert ack["sha256"] == run.venue.disclosures.sha256(STATEMENT, "1") and len(ack["sha256"]) == 64
    # the statement alone is not enough: the addendum is still missing
    (rejected,) = run.order("alice", "buy", 1, "65010", reject="disclosure_not_acknowledged")
    assert f"{ADDENDUM} version 1" in rejected["detail"] and STATEMENT not in rejected["detail"]
    run.acknowledge("alice", ADDENDUM, "1")
    out = run.order("alice", "buy", 1, "65010")
    assert of_type(out, "order_accepted", "trade") and run.position("alice") == 1


def test_an_account_opened_without_onboarding_is_not_gated() -> None:
    """``open_account``: the member onboarded the customer outside Onshore; only its segment's limits apply."""
    run = market_session()
    run.open_account("zed", "retail", "10000")
    run.order("zed", "buy", 1, "65010")
    assert run.position("zed") == 1


def test_a_new_disclosure_version_makes_the_account_reduce_only_until_acknowledged() -> None:
    run = market_session()
    run.customer("alice", deposit="10000")
    run.order("alice", "buy", 5, "65010")
    run.order("alice", "buy", 3, "64000", coid="bid")
    published = one(run.publish(STATEMENT, "2"), "disclosure_published")
    assert (published["document"], published["version"], published["sha256"]) == (STATEMENT, "2", None)
    (rejected,) = run.order("alice", "buy", 1, "65010", reject="disclosure_not_acknowledged")
    assert f"{STATEMENT} version 2" in rejected["detail"] and "reduce-only orders remain accepted" in rejected["detail"]
    out = run.order("alice", "sell", 2, "64990", reduce_only=True)
    assert one(out, "order_accepted")["reduce_only"] is True and run.position("alice") == 3
    # a resting order from before may shrink or go, not grow or move
    amend = c.AmendOrder(ts=run.ts, account="alice", market=BTC, client_order_id="bid", qty="1")
    grow = c.AmendOrder(ts=run.ts, account="alice", market=BTC, client_order_id="bid", qty="4")
    move = c.AmendOrder(ts=run.ts, account="alice", market=BTC, client_order_id="bid", price="64100")
    run.apply(grow, reject="disclosure_not_acknowledged")
    run.apply(move, reject="disclosure_not_acknowledged")
    assert one(run.apply(amend), "order_amended")["qty"] == "1"
    run.apply(c.CancelOrder(ts=run.ts, account="alice", market=BTC, client_order_id="bid"))
    # the old version cannot be acknowledged again, and a publication is never undone
    run.acknowledge("alice", STATEMENT, "1", reject="not_current_version")
    run.publish(STATEMENT, "1", reject="version_already_published")
    run.acknowledge("alice", STATEMENT, "2")
    run.order("alice", "buy", 1, "65010")
    assert run.position("alice") == 4


def test_a_new_addendum_version_also_leaves_reducing_open() -> None:
    run = market_session()
    run.customer("alice", deposit="10000")
    run.order("alice", "buy", 5, "65010")
    run.publish(ADDENDUM, "2")
    run.order("alice", "buy", 1, "65010", reject="disclosure_not_acknowledged")
    run.order("alice", "sell", 5, "64990", reduce_only=True)
    assert run.position("alice") == 0


def test_a_customer_onboarded_after_a_publication_must_acknowledge_the_new_version() -> None:
    run = market_session()
    run.publish(ADDENDUM, "2")
    opened = run.onboard("bob")
    assert opened["disclosures"] == [{"document": ADDENDUM, "version": "2"}, {"document": STATEMENT, "version": "1"}]
    run.deposit("bob", "10000")
    run.acknowledge("bob", ADDENDUM, "1", reject="not_current_version")
    run.acknowledge_current("bob")
    run.order("bob", "buy", 1, "65010")


# ============================================================================ KYC rejections
@pytest.mark.parametrize(
    "name", ["Nomen Nescio", "NESCIO, Nomen", "  nomen   nescio ", "Zoe Fictitious", "jose maria EJEMPLO-ficticio"]
)
def test_a_sanctioned_name_is_rejected_however_it_is_spelt(name: str) -> None:
    run = Run()
    run.member()
    out = run.onboard_raw("x", applicant(ALICE_RETAIL, name=name))
    (rejected,) = out
    assert (rejected["type"], rejected["account"], rejected["member"]) == ("onboarding_rejected", "x", MEMBER)
    assert [(f["reason"], f["field"]) for f in rejected["findings"]] == [("sanctioned_name", "name")]
    assert "x" not in run.venue.accounts


def test_a_rejected_application_lists_every_finding_and_opens_nothing() -> None:
    run = Run()
    run.member()
    before = run.venue.state_hash()
    profile = applicant(ALICE_RETAIL, name="Nomen Nescio", date_of_birth="2010-06-30", country="KP", occupation=...)
    (rejected,) = run.onboard_raw("x", profile)
    assert rejected["type"] == "onboarding_rejected"
    assert [(f["reason"], f["field"]) for f in rejected["findings"]] == [
        ("sanctioned_name", "name"),
        ("under_age", "date_of_birth"),
        ("jurisdiction_not_permitted", "country"),
        ("missing_field", "occupation"),
    ]
    assert all(f["detail"] for f in rejected["findings"])
    assert run.venue.state_hash() == before
    run.apply(c.Deposit(ts=run.ts, account="x", amount="100"), reject="unknown_account")
    run.acknowledge("x", STATEMENT, "1", reject="unknown_account")
    # the account id stays free: the corrected application opens it
    assert run.onboard("x", ALICE_RETAIL)["segment"] == "retail"


def test_an_under_age_applicant_is_rejected_until_the_18th_birthday() -> None:
    run = Run()
    run.member()
    teen = applicant(ALICE_RETAIL, date_of_birth="2008-01-02")  # 18 on 2026-01-02
    (rejected,) = run.onboard_raw("teen", teen)
    assert rejected["type"] == "onboarding_rejected"
    (finding,) = rejected["findings"]
    assert (finding["reason"], finding["field"]) == ("under_age", "date_of_birth")
    assert "is 17 on 2026-01-01" in finding["detail"] and "reached on 2026-01-02" in finding["detail"]
    run.at(T0 + DAY - 1)
    assert one(run.onboard_raw("teen", teen), "onboarding_rejected")
    run.at(T0 + DAY)  # the birthday itself, 00:00 UTC
    assert run.onboard("teen", teen)["segment"] == "retail"


# ============================================================================ the yearly review
def test_an_expired_yearly_review_blocks_opening_trades_but_not_reducing_ones() -> None:
    run = market_session()
    opened = run.onboard("alice")
    run.acknowledge_current("alice")
    run.deposit("alice", "10000")
    due = opened["review_due"]
    assert due == T0 + 365 * DAY
    run.order("alice", "buy", 5, "65010")
    run.at(due - 1)
    run.order("alice", "buy", 1, "65010")  # the last millisecond of the review year
    run.at(due)
    (rejected,) = run.order("alice", "buy", 1, "65010", reject="profile_review_due")
    assert "was due on 2027-01-01" in rejected["detail"]
    run.order("alice", "sell", 4, "64990", reduce_only=True)
    assert run.position("alice") == 2
    run.at(due + 30 * DAY)
    run.order("alice", "sell", 1, "65030", reject="profile_review_due")  # not reduce-only: may open a short
    run.order("alice", "sell", 2, "64990", reduce_only=True)
    assert run.position("alice") == 0
    # the review: KYC and suitability again on the updated profile, and a new due date a year on
    (reviewed,) = run.apply(
        c.ReviewCustomer(ts=run.ts, account="alice", profile=applicant(ALICE_RETAIL, net_worth="160000"))
    )
    assert (reviewed["type"], reviewed["segment"], reviewed["review_due"]) == (
        "customer_reviewed",
        "retail",
        due + 30 * DAY + YEAR_OF_REVIEW,
    )
    run.order("alice", "buy", 1, "65010")
    assert run.position("alice") == 1


def test_a_review_that_fails_kyc_changes_nothing() -> None:
    run = market_session()
    run.customer("alice", deposit="10000")
    run.at(T0 + YEAR_OF_REVIEW)
    run.acknowledge("alice", STATEMENT, "1")  # again: it changes nothing but the venue time
    before = run.venue.state_hash()
    (rejected,) = run.apply(c.ReviewCustomer(ts=run.ts, account="alice", profile=applicant(ALICE_RETAIL, country="KP")))
    assert rejected["type"] == "review_rejected"
    assert [f["reason"] for f in rejected["findings"]] == ["jurisdiction_not_permitted"]
    assert run.venue.state_hash() == before
    run.order("alice", "buy", 1, "65010", reject="profile_review_due")
    run.open_account("zed", "retail")
    run.apply(c.ReviewCustomer(ts=run.ts, account="zed", profile=ALICE_RETAIL), reject="not_onboarded")


def test_missing_acknowledgments_are_reported_before_an_overdue_review() -> None:
    """Disclosures first: they are what the customer can fix at once."""
    run = market_session()
    run.customer("alice", deposit="10000")
    run.at(T0 + YEAR_OF_REVIEW)
    run.publish(STATEMENT, "2")
    run.order("alice", "buy", 1, "65010", reject="disclosure_not_acknowledged")
    run.acknowledge("alice", STATEMENT, "2")
    run.order("alice", "buy", 1, "65010", reject="profile_review_due")


# ============================================================================ segments' limits
@pytest.mark.parametrize(
    ("account", "segment", "max_leverage", "max_position_notional"),
    [
        ("alice", "retail", "10", "1000000"),
        ("bob", "qualified", "20", "5000000"),
        ("carol", "institutional", "50", "100000000"),
        ("dave", "institutional", "2", "100000000"),  # the ECP hedging test; low tolerance caps leverage
    ],
)
def test_each_segment_opens_with_its_limits(
    account: str, segment: str, max_leverage: str, max_position_notional: str
) -> None:
    run = Run()
    run.member()
    opened = run.onboard(account)
    assert (opened["segment"], opened["max_leverage"], opened["max_position_notional"]) == (
        segment,
        max_leverage,
        max_position_notional,
    )
    assert opened["markets"] == [BTC, ETH]
    assert opened["assessment"], "the assessment explains the segment"
    customer = run.venue.customers[account]
    assert (customer.max_leverage, customer.max_position_notional) == (
        int(max_leverage) * X,
        usd(max_position_notional),
    )


def test_a_qualified_customer_gets_the_qualified_position_limit() -> None:
    """Bob may hold $5M of BTC-PERP.

    Resting bids count at the higher of their price and the mark (65,000): two bids of 3,800
    lots at 62,000 could make 7,600 lots worth $4,940,000; 100 more would be $5,005,000.
    """
    run = market_session()
    run.customer("bob", deposit="1000000")
    run.order("bob", "buy", 3800, "62000")
    run.order("bob", "buy", 3800, "62000")
    (rejected,) = run.order("bob", "buy", 100, "62000", reject="position_limit")
    assert "qualified" in rejected["detail"] and "5000000" in rejected["detail"]


def test_a_retail_customer_gets_the_retail_position_limit() -> None:
    """Alice may hold $1M: at the mark of 65,000, 1,538 lots are $999,700 and 1,539 are $1,000,350."""
    run = market_session()
    run.customer("alice", deposit="200000")
    run.order("alice", "buy", 1539, "62000", reject="position_limit")
    run.order("alice", "buy", 1538, "62000")


def test_an_institutional_customer_trades_at_50x() -> None:
    """Carol (ECP) buys 40 lots at 65,010 with $600: at 50× that needs $520.08 + $10.4016 fee + $4 open loss."""
    run = market_session()
    run.customer("carol", deposit="600")
    run.leverage("carol", "50")
    run.order("carol", "buy", 40, "65010")
    assert run.position("carol") == 40
    run.customer("alice", deposit="600")
    run.leverage("alice", "50")  # capped at 10×: the same order needs $2,600.40 of initial margin
    run.order("alice", "buy", 40, "65010", reject="insufficient_margin")


# ============================================================================ per-customer limits
def test_account_limits_may_only_tighten_and_tightening_lowers_existing_leverage() -> None:
    run = market_session()
    run.customer("carol", deposit="100000")
    run.leverage("carol", "50")
    run.order("carol", "buy", 40, "65010")
    assert run.holding_leverage("carol") == 50 * X
    assert run.venue.requirement(run.venue.accounts["carol"]) == usd("520")  # $26,000 at the mark, 50×

    rejected = run.limits("carol", max_leverage="60", reject="limit_would_loosen")
    assert "may only tighten" in rejected["detail"]
    event = run.limits("carol", max_leverage="20")
    assert (event["type"], event["max_leverage"], event["max_position_notional"], event["markets"]) == (
        "account_limits_set",
        "20",
        "100000000",
        [BTC, ETH],
    )
    assert run.holding_leverage("carol") == 20 * X
    assert run.venue.requirement(run.venue.accounts["carol"]) == usd("1300")  # $26,000 at 20×
    assert run.state()["accounts"]["carol"]["positions"][BTC]["leverage"] == "20"
    assert (run.leverage("carol", "50")["leverage"], run.events[-1]["capped_by"]) == ("20", "account")
    run.limits("carol", max_leverage="30", reject="limit_would_loosen")  # 20 is the account's maximum now
    run.limits("carol", max_leverage="0.5", reject="non_positive")

    run.limits("carol", max_position_notional="100000001", reject="limit_would_loosen")
    run.limits("carol", max_position_notional="50000")
    # 40 lots held + 100 more at 65,010: $91,014 > $50,000
    run.order("carol", "buy", 100, "65010", reject="position_limit")
    run.order("carol", "buy", 30, "65010")  # 70 lots: $45,507

    run.limits("carol", markets=[BTC])
    run.order("carol", "buy", 1, "3000", market=ETH, reject="market_not_permitted")
    run.limits("carol", markets=[BTC, ETH], reject="limit_would_loosen")
    run.limits("carol", markets=["DOGE-PERP"], reject="limit_would_loosen")
    customer = run.venue.customers["carol"]
    assert (customer.max_leverage, customer.max_position_notional, customer.markets) == (20 * X, usd("50000"), [BTC])


def test_a_tighter_leverage_the_account_cannot_carry_is_refused() -> None:
    """Carol holds 40 lots at 50× with $1,000: 10× would need $2,600 of initial margin."""
    run = market_session()
    run.customer("carol", deposit="1000")
    run.leverage("carol", "50")
    run.order("carol", "buy", 40, "65010")
    before = run.venue.state_hash()
    (rejected,) = [run.limits("carol", max_leverage="10", reject="insufficient_margin")]
    assert "lower maximum leverage" in rejected["detail"]
    assert run.venue.state_hash() == before and run.holding_leverage("carol") == 50 * X
    run.limits("carol", max_leverage="30")  # $866.67 of initial margin: carried
    assert run.holding_leverage("carol") == 30 * X


def test_a_segment_with_permitted_markets_rejects_the_others() -> None:
    run = market_session('[segments.retail]\nmarkets = ["BTC-PERP"]\n')
    opened = run.onboard("alice")
    assert opened["markets"] == [BTC]
    assert run.onboard("bob")["markets"] == [BTC, ETH]
    for account in ("alice", "bob"):
        run.acknowledge_current(account)
        run.deposit(account, "10000")
    (rejected,) = run.order("alice", "buy", 1, "3000", market=ETH, reject="market_not_permitted")
    assert "ETH-PERP" in rejected["detail"] and "retail" in rejected["detail"]
    run.order("alice", "buy", 1, "65010")
    run.order("bob", "buy", 1, "3000", market=ETH)
    run.limits("alice", markets=[ETH], reject="limit_would_loosen")


def test_a_position_in_a_market_withdrawn_from_the_account_can_still_be_reduced() -> None:
    """No one is locked into a position: reduce-only orders are accepted outside the permitted markets."""
    run = market_session()
    run.customer("carol", deposit="100000")
    run.order("carol", "buy", 5, "65010")
    run.limits("carol", markets=[ETH])
    run.order("carol", "buy", 1, "65010", reject="market_not_permitted")
    run.order("carol", "sell", 5, "64990", reduce_only=True)
    assert run.position("carol") == 0


# ============================================================================ margin calls
def _carol_long_40_at_65010(config_toml: str | None = None) -> Run:
    """Carol (ECP, 50×) deposits $1,000 and buys 40 lots (0.4 BTC) at 65,010: cash $989.5984 after the fee.

    The taker fee is 4 bp of $26,004 = $10.4016. At a mark ``P`` her equity is
    ``989.5984 + 0.4 × (P − 65,010)`` and her maintenance margin 1% of ``0.4 × P``.
    """
    run = market_session(config_toml)
    run.customer("carol", deposit="1000")
    run.leverage("carol", "50")
    run.order("carol", "buy", 40, "65010")
    assert run.state()["accounts"]["carol"]["cash"] == "989.5984"
    return run


def _margin_calls(events: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(e["account"], e["equity"], e["maintenance"], e["member"]) for e in of_type(events, "margin_call")]


def test_a_margin_call_comes_once_per_episode_below_the_warning_level() -> None:
    run = _carol_long_40_at_65010()
    assert _margin_calls(run.tick(T0 + 1 * SECOND)) == []
    # at 63,400: equity 989.5984 − 0.4 × 1,610 = 345.5984; maintenance 253.6; warning 1.5 × 253.6 = 380.4
    run.move(63_400)
    assert run.position("carol") == 40, "above maintenance: no liquidation"
    assert _margin_calls(run.events[-4:]) == [], "margin calls come with the tick"
    assert _margin_calls(run.tick(T0 + 2 * SECOND)) == [("carol", "345.5984", "253.6", MEMBER)]
    assert _margin_calls(run.tick(T0 + 3 * SECOND)) == []
    assert _margin_calls(run.tick(T0 + 4 * SECOND)) == []
    # back at 65,000 (equity 985.5984): the episode ends without an event
    run.move(65_000)
    assert _margin_calls(run.tick(T0 + 5 * SECOND)) == []
    assert run.venue.customers["carol"].in_margin_call is False
    # falling again starts a new episode: a new call
    run.move(63_400)
    assert _margin_calls(run.tick(T0 + 6 * SECOND)) == [("carol", "345.5984", "253.6", MEMBER)]
    assert _margin_calls(run.tick(T0 + 7 * SECOND)) == []


def test_a_deposit_that_lifts_equity_above_the_level_ends_the_episode() -> None:
    run = _carol_long_40_at_65010()
    run.move(63_400)
    assert len(_margin_calls(run.tick(T0 + 1 * SECOND))) == 1
    run.deposit("carol", "50")  # equity 395.5984 ≥ 380.4
    assert _margin_calls(run.tick(T0 + 2 * SECOND)) == []
    # at 63,360: equity 395.5984 − 16 = 379.5984; warning 1.5 × 253.44 = 380.16: below again
    run.move(63_360)
    assert _margin_calls(run.tick(T0 + 3 * SECOND)) == [("carol", "379.5984", "253.44", MEMBER)]


@pytest.mark.parametrize(
    ("config_toml", "calls"),
    [
        (None, 0),  # 1.5 × 255.2 = 382.8 ≤ 505.5984
        ('[broker.margin_call]\nwarning_ratio = "2"\n', 1),  # 2 × 255.2 = 510.4 > 505.5984
    ],
)
def test_the_warning_level_is_configured(config_toml: str | None, calls: int) -> None:
    """At 63,800 Carol's equity is 989.5984 − 0.4 × 1,210 = 505.5984 and her maintenance 255.2."""
    run = _carol_long_40_at_65010(config_toml)
    run.move(63_800)
    out = run.tick(T0 + 1 * SECOND)
    assert len(_margin_calls(out)) == calls
    if calls:
        assert _margin_calls(out) == [("carol", "505.5984", "255.2", MEMBER)]


def test_no_margin_call_without_positions_or_above_the_level() -> None:
    run = _carol_long_40_at_65010()
    run.customer("bob", deposit="10000")
    run.move(63_400)
    calls = _margin_calls(run.tick(T0 + 1 * SECOND))
    assert [account for account, *_ in calls] == ["carol"]  # not bob (no position), not mm (well funded)


# ============================================================================ snapshots
def test_the_broker_state_survives_a_snapshot() -> None:
    """Acknowledgments, versions, limits, review dates and the margin-call episode come back from a snapshot."""
    from onshore.venue import Venue

    run = _carol_long_40_at_65010()
    run.customer("alice", deposit="10000")
    run.limits("alice", max_leverage="4", markets=[BTC])
    run.publish(ADDENDUM, "2")
    run.move(63_400)
    assert len(_margin_calls(run.tick(T0 + 1 * SECOND))) == 1
    restored = Venue.restore(run.venue.config, run.venue.snapshot())
    assert restored.state_hash() == run.venue.state_hash()
    assert restored.customers["carol"].in_margin_call is True
    assert restored.customers["alice"].state() == run.venue.customers["alice"].state()
    assert restored.disclosures.current() == {ADDENDUM: "2", STATEMENT: "1"}
    commands = [
        c.Tick(ts=T0 + 2 * SECOND),
        c.PlaceOrder(ts=T0 + 2 * SECOND, account="alice", market=BTC, client_order_id="a", side="buy", qty="1",
                     price="63410"),
        c.AcknowledgeDisclosure(ts=T0 + 2 * SECOND, account="alice", document=ADDENDUM, version="2"),
        c.PlaceOrder(ts=T0 + 2 * SECOND, account="alice", market=BTC, client_order_id="b", side="buy", qty="1",
                     price="63410"),
        c.SetLeverage(ts=T0 + 2 * SECOND, account="alice", market=BTC, leverage="10"),
    ]  # fmt: skip
    outputs = []
    for command in commands:
        out = run.venue.apply(command)
        assert restored.apply(command) == out
        outputs.append([event_to_dict(ev) for ev in out])
    assert restored.state_hash() == run.venue.state_hash()
    assert outputs[0] == [], "still in the episode: no second call"
    assert [ev["reason"] for ev in outputs[1]] == ["disclosure_not_acknowledged"]
    assert one(outputs[3], "order_accepted")["client_order_id"] == "b"
    assert (outputs[4][0]["leverage"], outputs[4][0]["capped_by"]) == ("4", "account")
