"""Hypothesis: no sequence of commands gets around the broker layer's leverage caps or disclosure gate.

A :class:`~hypothesis.stateful.RuleBasedStateMachine` drives one Venue through long random
sequences of onboarding (approved and rejected applicants), yearly reviews, plain
``open_account``, deposits, acknowledgments (current, superseded and unknown versions), publications of new
versions, leverage requests, per-customer limits, orders (limit and market, reduce-only or
not), amendments, cancels, index moves and ticks. A market maker quotes both markets.

Its model is built only from the events the Venue emits and from the rules of
docs/broker.md, written out again here; after every command it checks that

1. **leverage**: every holding's leverage is at most the account's maximum: the segment's
   cap (retail 10×, qualified 20×, institutional 50×, from the configuration), tightened
   by the customer's risk tolerance (low: 2×) and by every ``account_limits_set`` since the
   last onboarding or review (a review sets the limits of the segment it assigns); no
   ``leverage_set`` grants more than that maximum or than the tier of the position it is
   set on; and so every market's initial margin is at least its worst-case notional
   divided by the account maximum, and at least the tier schedule's (each slice of
   notional at its tier's maximum leverage, the cumulative-deduction schedule of
   docs/clearing.md, recomputed here from the tier table);
2. **limits only tighten**: each ``account_limits_set`` is at or below the limits before it;
3. **disclosures**: every accepted order of an onboarded account that is not reduce-only
   (and every amendment of such an order that grows it or moves its price) comes after
   the account acknowledged the then-current version of every document, as the stream of
   ``disclosure_published`` and ``disclosure_acknowledged`` events says, and before its
   profile review fell due; every reduce-only one comes after some acknowledged version of
   the 1.55 statement; no order that is not reduce-only is accepted in a market the account
   may not trade (reduce-only orders are, so that no one is locked into a position);
4. **margin calls**: a ``margin_call`` is emitted only for an account below the warning
   level (its equity as the event says it) and not already in an episode: never twice
   while the account stays below the level after every command in between; and every
   account below it that was not in an episode is called at that tick.

The profile review period is one day here (``broker.review_period_days = 1``) so that
reviews fall due within a run, and the premium is sampled every 10 minutes to keep long
ticks cheap.
"""

from __future__ import annotations

import os
from fractions import Fraction
from math import ceil
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from broker.applicants import ALICE_RETAIL, BOB_QUALIFIED, CAROL_ECP, DAVE_HEDGER, applicant
from onshore.clearing.accounts import CROSS
from onshore.config.load import load_config
from onshore.core import commands as c
from onshore.core.events import event_to_dict
from onshore.core.spec import LEVERAGE_SCALE
from onshore.venue import Venue

from .driver import ADDENDUM, BTC, DAY, ETH, HOUR, INDEX, MEMBER, MINUTE, SECOND, SOURCES, STATEMENT, T0

CONFIG = """
[broker]
review_period_days = 1

[markets.BTC-PERP.funding]
premium_sample_ms = 600000

[markets.ETH-PERP.funding]
premium_sample_ms = 600000
"""
X = LEVERAGE_SCALE
WARNING_RATIO = Fraction(3, 2)  # broker.margin_call.warning_ratio, default

# The reference: docs/broker.md and the built-in configuration, written out again.
SEGMENT_CAP = {"retail": 10 * X, "qualified": 20 * X, "institutional": 50 * X, "market_maker": 50 * X}
SEGMENT_NOTIONAL = {
    "retail": 1_000_000,
    "qualified": 5_000_000,
    "institutional": 100_000_000,
    "market_maker": 200_000_000,
}
# (segment, customer cap or None) of each applicant; None for an applicant KYC rejects
APPLICANTS: list[tuple[str, dict[str, Any], tuple[str, int | None] | None]] = [
    ("alice", ALICE_RETAIL, ("retail", None)),
    ("bob", BOB_QUALIFIED, ("qualified", None)),
    ("carol", CAROL_ECP, ("institutional", None)),
    ("dave", DAVE_HEDGER, ("institutional", 2 * X)),
    ("bob-low", applicant(BOB_QUALIFIED, risk_tolerance="low"), ("retail", 2 * X)),  # low tolerance is not qualified
    ("sanctioned", applicant(CAROL_ECP, name="Nomen Nescio"), None),
    ("minor", applicant(ALICE_RETAIL, date_of_birth="2010-03-01"), None),
]
# (notional cap in USD or None, maximum leverage, maintenance rate) per tier: defaults.toml
TIERS = {
    BTC: [
        (1_000_000, 50, "0.01"),
        (5_000_000, 25, "0.02"),
        (20_000_000, 10, "0.05"),
        (50_000_000, 5, "0.1"),
        (None, 2, "0.25"),
    ],
    ETH: [
        (500_000, 50, "0.01"),
        (2_500_000, 25, "0.02"),
        (10_000_000, 10, "0.05"),
        (25_000_000, 5, "0.1"),
        (None, 2, "0.25"),
    ],
}
K = 1_000  # micro-dollars per tick-lot, both markets
START_TICKS = {BTC: 650_000, ETH: 300_000}  # 65,000.0 and 3,000.00
PRICE_TEXT = {BTC: lambda t: f"{t // 10}.{t % 10}", ETH: lambda t: f"{t // 100}.{t % 100:02d}"}
CUSTOMERS = ("c0", "c1", "c2", "c3", "p0")  # p0 is opened with open_account: not onboarded
DOCUMENTS = (ADDENDUM, STATEMENT)


def _slices(notional_micros: int, market: str) -> list[tuple[int, int, Fraction]]:
    """``(slice of notional, tier max leverage, maintenance rate)`` from the bottom tier up."""
    out = []
    floor = 0
    for cap_usd, leverage, mm in TIERS[market]:
        cap = notional_micros if cap_usd is None else min(notional_micros, cap_usd * 1_000_000)
        if cap > floor:
            out.append((cap - floor, leverage, Fraction(mm)))
        if cap_usd is None or notional_micros <= cap_usd * 1_000_000:
            break
        floor = cap_usd * 1_000_000
    return out


def tier_initial(notional_micros: int, market: str) -> int:
    """Each slice of notional at its tier's maximum leverage, rounded up."""
    return ceil(sum((Fraction(s, lev) for s, lev, _ in _slices(notional_micros, market)), Fraction(0)))


def tier_maintenance(notional_micros: int, market: str) -> int:
    return ceil(sum((s * mm for s, _, mm in _slices(notional_micros, market)), Fraction(0)))


def tier_cap(notional_micros: int, market: str) -> int:
    """The maximum leverage (hundredths) of the tier that holds ``notional_micros``."""
    for cap_usd, leverage, _ in TIERS[market]:
        if cap_usd is None or notional_micros < cap_usd * 1_000_000:
            return leverage * X
    raise AssertionError


def fmt_usd(micros: int) -> str:
    """A micro-dollar amount as the protocol writes it (no trailing zeros)."""
    sign, micros = ("-" if micros < 0 else ""), abs(micros)
    whole, frac = divmod(micros, 1_000_000)
    return f"{sign}{whole}" + (f".{frac:06d}".rstrip("0") if frac else "")


def worst_notional(h: Any, mark: int) -> int:
    """The larger notional of 'every open buy fills' and 'every open sell fills' (docs/clearing.md).

    Each case: the position it leaves at the mark, plus the share of what the side's orders pay
    above the mark that its opening lots carry (all the side's lots, less those that close the
    position), rounded up.
    """
    cases = []
    for toward, lots, notional in ((h.qty, h.buy_lots, h.buy_notional), (-h.qty, h.sell_lots, h.sell_notional)):
        opening = lots - min(lots, max(0, -toward))
        above = max(0, notional - lots * mark * K)
        cases.append(abs(toward + lots) * mark * K + (ceil(Fraction(above * opening, lots)) if lots else 0))
    return max(cases)


class Model:
    """What the events say: versions in force, acknowledgments, limits, reviews, open orders."""

    def __init__(self) -> None:
        self.current = {ADDENDUM: "1", STATEMENT: "1"}
        self.published: dict[str, set[str]] = {ADDENDUM: {"1"}, STATEMENT: {"1"}}
        self.acked: dict[str, dict[str, str]] = {}
        self.onboarded: set[str] = set()
        self.review_due: dict[str, int] = {}
        self.max_leverage: dict[str, int] = {}
        self.max_notional: dict[str, int] = {}
        self.markets: dict[str, set[str]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.below_since_call: set[str] = set()  # called, and below the warning level ever since


class BrokerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.venue = Venue(load_config(CONFIG))
        self.model = Model()
        self.ts = T0
        self.coid = 0
        self.prices = dict(START_TICKS)
        self.opened: list[str] = []
        self.pending_segment: dict[str, tuple[str, int | None] | None] = {}
        self.pinned: dict[str, tuple[int, int, set[str]]] = {}  # the last limits the member set, per account

    # ------------------------------------------------------------------ applying and checking
    def apply(self, command: c.Command) -> list[dict[str, Any]]:
        before = {a: cust.in_margin_call for a, cust in self.venue.customers.items()}
        events = [event_to_dict(ev) for ev in self.venue.apply(command)]
        for ev in events:
            self.check_event(ev)
        if isinstance(command, c.Tick):
            self.check_margin_calls(before, events)
        for account_id, account in self.venue.accounts.items():
            if not self.is_below_warning(account):
                self.model.below_since_call.discard(account_id)
        self.venue.check_invariants()
        return events

    def is_below_warning(self, account: Any) -> bool:
        """Cross equity below 1.5 × the tier schedule's maintenance margin of the cross positions."""
        maintenance = 0
        for name, h in account.holdings.items():
            if h.qty and h.mode is CROSS:
                maintenance += tier_maintenance(abs(h.qty) * (self.venue.markets[name].mark or 0) * K, name)
        return maintenance > 0 and self.venue.equity(account) < maintenance * WARNING_RATIO

    def check_event(self, ev: dict[str, Any]) -> None:
        m = self.model
        kind = ev["type"]
        if kind == "account_opened":
            account = ev["account"]
            expected = self.pending_segment.pop(account, ("retail", None))
            assert expected is not None, f"{account} should have been rejected: {ev}"
            segment, customer_cap = expected
            assert ev["segment"] == segment, ev
            cap = SEGMENT_CAP[segment] if customer_cap is None else min(SEGMENT_CAP[segment], customer_cap)
            assert Fraction(ev["max_leverage"]) * X == cap, ev
            m.max_leverage[account] = cap
            m.max_notional[account] = SEGMENT_NOTIONAL[segment] * 1_000_000
            m.markets[account] = set(ev["markets"])
            m.acked[account] = {}
            if ev["review_due"] is not None:
                m.onboarded.add(account)
                m.review_due[account] = ev["review_due"]
                assert ev["review_due"] == ev["ts"] + DAY
                assert ev["disclosures"] == [{"document": d, "version": m.current[d]} for d in DOCUMENTS]
            if account != "mm":
                self.opened.append(account)
        elif kind == "customer_reviewed":
            account = ev["account"]
            expected = self.pending_segment.pop(account)
            assert expected is not None, f"{account}'s review should have been rejected: {ev}"
            segment, customer_cap = expected
            assert ev["segment"] == segment, ev
            cap = SEGMENT_CAP[segment] if customer_cap is None else min(SEGMENT_CAP[segment], customer_cap)
            notional = SEGMENT_NOTIONAL[segment] * 1_000_000
            markets = {BTC, ETH}
            if account in self.pinned:  # the member's limits stay in force: a review only tightens them
                pinned_leverage, pinned_notional, pinned_markets = self.pinned[account]
                cap, notional, markets = (
                    min(cap, pinned_leverage),
                    min(notional, pinned_notional),
                    markets & pinned_markets,
                )
            assert Fraction(ev["max_leverage"]) * X == cap, ev
            assert ev["review_due"] == ev["ts"] + DAY
            m.max_leverage[account] = cap
            m.max_notional[account] = notional
            m.markets[account] = markets
            m.review_due[account] = ev["review_due"]
        elif kind == "review_rejected":
            assert self.pending_segment.pop(ev["account"]) is None, ev
        elif kind == "onboarding_rejected":
            assert self.pending_segment.pop(ev["account"]) is None, ev
            assert ev["findings"]
        elif kind == "disclosure_published":
            m.current[ev["document"]] = ev["version"]
            assert ev["version"] not in m.published[ev["document"]]
            m.published[ev["document"]].add(ev["version"])
        elif kind == "disclosure_acknowledged":
            assert ev["version"] == m.current[ev["document"]], ev
            m.acked[ev["account"]][ev["document"]] = ev["version"]
        elif kind == "account_limits_set":
            account = ev["account"]
            new_leverage = int(Fraction(ev["max_leverage"]) * X)
            new_notional = int(Fraction(ev["max_position_notional"]) * 1_000_000)
            assert new_leverage <= m.max_leverage[account], ev
            assert new_notional <= m.max_notional[account], ev
            assert set(ev["markets"]) <= m.markets[account], ev
            m.max_leverage[account], m.max_notional[account] = new_leverage, new_notional
            m.markets[account] = set(ev["markets"])
            self.pinned[account] = (new_leverage, new_notional, set(ev["markets"]))
        elif kind == "leverage_set":
            account, market = ev["account"], ev["market"]
            leverage = Fraction(ev["leverage"]) * X
            assert leverage <= m.max_leverage[account], ev
            h = self.venue.accounts[account].holdings[market]
            assert leverage <= tier_cap(abs(h.qty) * (self.venue.markets[market].mark or 0) * K, market), ev
        elif kind == "order_accepted":
            self.check_gates(ev["account"], ev["market"], ev["reduce_only"], ev["ts"], ev)
            m.orders[ev["order_id"]] = {"account": ev["account"], "price": ev["price"], "qty": Fraction(ev["qty"])}
            m.orders[ev["order_id"]]["reduce_only"] = ev["reduce_only"]
        elif kind == "order_amended":
            order = m.orders[ev["order_id"]]
            grows = Fraction(ev["qty"]) > order["qty"] or ev["price"] != order["price"]
            if grows:
                self.check_gates(order["account"], ev["market"], order["reduce_only"], ev["ts"], ev)
            order["qty"], order["price"] = Fraction(ev["qty"]), ev["price"]

    def check_gates(self, account: str, market: str, reduce_only: bool, ts: int, ev: dict[str, Any]) -> None:
        m = self.model
        if account == "mm":
            return
        if not reduce_only:
            assert market in m.markets[account], f"{ev} in a market {account} may not trade"
        if account not in m.onboarded:
            return
        acked = m.acked[account]
        if reduce_only:
            assert acked.get(STATEMENT) in m.published[STATEMENT], f"{ev} before any acknowledged 1.55 statement"
        else:
            assert acked == m.current, f"{ev} with acknowledgments {acked}, current {m.current}"
            assert ts < m.review_due[account], f"{ev} after the review fell due at {m.review_due[account]}"

    def check_margin_calls(self, before: dict[str, bool], events: list[dict[str, Any]]) -> None:
        calls = {ev["account"]: ev for ev in events if ev["type"] == "margin_call"}
        moved = {ev.get(k) for ev in events for k in ("account", "counterparty", "maker_account", "taker_account")}
        moved |= {ev["account"] for ev in events if ev["type"] in ("liquidation", "auto_deleverage")}
        for account, ev in calls.items():
            assert not before.get(account, False), f"a second call in one episode: {ev}"
            assert account not in self.model.below_since_call, f"a second call, never back above the level: {ev}"
            assert Fraction(ev["equity"]) < Fraction(ev["maintenance"]) * WARNING_RATIO, ev
            self.model.below_since_call.add(account)
        for account_id, account in self.venue.accounts.items():
            if account_id in moved:
                continue  # liquidated or traded after the margin-call check, in the same command
            below = self.is_below_warning(account)
            assert (account_id in calls) == (below and not before.get(account_id, False)), (account_id, events)
            if account_id in calls:
                assert calls[account_id]["equity"] == fmt_usd(self.venue.equity(account))

    @invariant()
    def leverage_never_above_the_account_maximum_nor_the_tier_schedule(self) -> None:
        for account_id, account in self.venue.accounts.items():
            if account_id == "mm":
                continue
            cap = self.model.max_leverage[account_id]
            customer = self.venue.customers[account_id]
            assert customer.max_leverage == cap
            for name, h in account.holdings.items():
                assert h.leverage <= cap, (account_id, name, h.leverage, cap)
                market = self.venue.markets[name]
                if h.mode is not CROSS or not (h.qty or h.buy_lots or h.sell_lots):
                    continue
                worst = worst_notional(h, market.mark or 0)
                need = market.tiers.requirement(
                    h.leverage, h.qty, market.mark or 0, h.buy_lots, h.buy_notional, h.sell_lots, h.sell_notional
                )
                assert need >= ceil(Fraction(worst * X, cap)), (account_id, name, need, worst, cap)
                assert need >= tier_initial(worst, name), (account_id, name, need, worst)

    # ------------------------------------------------------------------ setup
    @initialize()
    def a_member_and_a_market_maker(self) -> None:
        self.apply(c.RegisterMember(ts=self.ts, member=MEMBER, capital="10000000", default_fund="1000000"))
        self.pending_segment["mm"] = ("market_maker", None)
        self.apply(c.OpenAccount(ts=self.ts, account="mm", member=MEMBER, segment="market_maker"))
        self.apply(c.Deposit(ts=self.ts, account="mm", amount="100000000"))
        for market in (BTC, ETH):
            self.requote(market)

    def requote(self, market: str) -> None:
        price = self.prices[market]
        fmt = PRICE_TEXT[market]
        self.apply(c.CancelAll(ts=self.ts, account="mm", market=market))
        for side, offset in (("buy", -10), ("sell", 10)):
            for level in range(3):
                self.coid += 1
                self.apply(
                    c.PlaceOrder(
                        ts=self.ts,
                        account="mm",
                        market=market,
                        client_order_id=f"mm{self.coid}",
                        side=side,  # type: ignore[arg-type]
                        qty="2000",
                        price=fmt(price + offset * (level + 1)),
                        post_only=True,
                    )
                )
        quotes = [c.Quote(source=s, price=fmt(price), ts=self.ts) for s in SOURCES]
        self.apply(c.IndexUpdate(ts=self.ts, index=INDEX[market], quotes=quotes))

    # ------------------------------------------------------------------ accounts and paperwork
    @precondition(lambda self: len(self.opened) < len(CUSTOMERS) - 1)
    @rule(
        data=st.data(),
        who=st.sampled_from(range(len(APPLICANTS))),
        deposit=st.sampled_from(["1000", "5000", "200000"]),
        reads=st.booleans(),
    )
    def onboard(self, data: st.DataObject, who: int, deposit: str, reads: bool) -> None:
        """An application to a free slot (or a taken one); approved customers deposit, most acknowledge at once."""
        free = [slot for slot in CUSTOMERS[:4] if slot not in self.venue.accounts]
        slot = data.draw(st.sampled_from(free if free else list(CUSTOMERS[:4])))
        _, profile, outcome = APPLICANTS[who]
        if slot not in self.venue.accounts:
            self.pending_segment[slot] = outcome
        self.apply(c.OnboardCustomer(ts=self.ts, account=slot, member=MEMBER, profile=profile))
        self.pending_segment.pop(slot, None)
        if slot in self.venue.accounts:
            self.apply(c.Deposit(ts=self.ts, account=slot, amount=deposit))
            if reads:
                self.acknowledge_all(slot)

    @precondition(lambda self: any(a != "p0" for a in self.opened))
    @rule(data=st.data(), who=st.sampled_from(range(len(APPLICANTS))))
    def review(self, data: st.DataObject, who: int) -> None:
        """The yearly review, with the same or another profile: a new segment and a new due date."""
        account = data.draw(st.sampled_from([a for a in self.opened if a != "p0"]))
        _, profile, outcome = APPLICANTS[who]
        self.pending_segment[account] = outcome
        self.apply(c.ReviewCustomer(ts=self.ts, account=account, profile=profile))
        self.pending_segment.pop(account, None)

    @precondition(lambda self: "p0" not in self.opened)
    @rule(segment=st.sampled_from(["retail", "qualified", "institutional"]))
    def open_plain_account(self, segment: str) -> None:
        self.pending_segment["p0"] = (segment, None)
        self.apply(c.OpenAccount(ts=self.ts, account="p0", member=MEMBER, segment=segment))
        self.apply(c.Deposit(ts=self.ts, account="p0", amount="100000"))

    @precondition(lambda self: self.opened)
    @rule(data=st.data(), amount=st.sampled_from(["500", "5000", "50000", "2000000"]))
    def deposit(self, data: st.DataObject, amount: str) -> None:
        account = data.draw(st.sampled_from(self.opened))
        self.apply(c.Deposit(ts=self.ts, account=account, amount=amount))

    @precondition(lambda self: self.opened)
    @rule(data=st.data(), document=st.sampled_from(DOCUMENTS), which=st.sampled_from(["current"] * 4 + ["old", "1"]))
    def acknowledge(self, data: st.DataObject, document: str, which: str) -> None:
        account = data.draw(st.sampled_from(self.opened))
        current = self.model.current[document]
        version = current if which == "current" else (str(int(current) - 1) if which == "old" else which)
        self.apply(c.AcknowledgeDisclosure(ts=self.ts, account=account, document=document, version=version))

    @precondition(lambda self: self.opened)
    @rule(data=st.data())
    def acknowledge_everything_current(self, data: st.DataObject) -> None:
        self.acknowledge_all(data.draw(st.sampled_from(self.opened)))

    def acknowledge_all(self, account: str) -> None:
        for document in DOCUMENTS:
            version = self.model.current[document]
            self.apply(c.AcknowledgeDisclosure(ts=self.ts, account=account, document=document, version=version))

    @rule(document=st.sampled_from(DOCUMENTS), reuse=st.booleans(), now=st.integers(0, 3))
    def publish(self, document: str, reuse: bool, now: int) -> None:
        """A new version (now and then: versions are rare), or a version already published."""
        if now:
            return
        current = int(self.model.current[document])
        version = str(current if reuse else current + 1)
        self.apply(c.PublishDisclosure(ts=self.ts, document=document, version=version))

    @precondition(lambda self: self.opened)
    @rule(
        data=st.data(),
        market=st.sampled_from([BTC, ETH]),
        leverage=st.sampled_from(["1", "2", "3", "5", "10", "15", "20", "25", "33.33", "50", "75", "100"]),
    )
    def set_leverage(self, data: st.DataObject, market: str, leverage: str) -> None:
        """A leverage request, more often than not in a market where the account holds a position."""
        account = data.draw(st.sampled_from(self.opened))
        held = sorted(name for name, h in self.venue.accounts[account].holdings.items() if h.qty)
        if held and data.draw(st.booleans()):
            market = data.draw(st.sampled_from(held))
        self.apply(c.SetLeverage(ts=self.ts, account=account, market=market, leverage=leverage))

    @precondition(lambda self: self.opened)
    @rule(
        data=st.data(),
        leverage=st.none() | st.sampled_from(["1", "2", "5", "8", "10", "20", "30", "50", "60"]),
        notional=st.none() | st.sampled_from(["10000", "100000", "1000000", "5000000", "200000000"]),
        markets=st.none() | st.sampled_from([[BTC], [ETH], [BTC, ETH]]),
    )
    def set_limits(
        self, data: st.DataObject, leverage: str | None, notional: str | None, markets: list[str] | None
    ) -> None:
        account = data.draw(st.sampled_from(self.opened))
        self.apply(
            c.SetAccountLimits(
                ts=self.ts, account=account, max_leverage=leverage, max_position_notional=notional, markets=markets
            )
        )

    # ------------------------------------------------------------------ trading and prices
    @precondition(lambda self: self.opened)
    @rule(
        data=st.data(),
        market=st.sampled_from([BTC, ETH]),
        side=st.sampled_from(["buy", "sell"]),
        qty=st.sampled_from([1, 3, 10, 40, 150, 600]),
        offset=st.none() | st.integers(-40, 40),
        tif=st.sampled_from(["gtc", "ioc"]),
    )
    def place(self, data: st.DataObject, market: str, side: str, qty: int, offset: int | None, tif: str) -> None:
        account = data.draw(st.sampled_from(self.opened))
        self.order(account, market, side, qty, offset, tif, reduce_only=False)

    @precondition(lambda self: self.opened)
    @rule(
        data=st.data(),
        market=st.sampled_from([BTC, ETH]),
        side=st.sampled_from(["buy", "sell"]),
        qty=st.sampled_from([5, 40]),
    )
    def take(self, data: st.DataObject, market: str, side: str, qty: int) -> None:
        """A small marketable IOC order: the commonest way to open a position."""
        offset = 40 if side == "buy" else -40
        self.order(data.draw(st.sampled_from(self.opened)), market, side, qty, offset, "ioc", reduce_only=False)

    @precondition(lambda self: self.opened)
    @rule(data=st.data(), market=st.sampled_from([BTC, ETH]), side=st.sampled_from(["buy", "sell"]))
    def lever_up(self, data: st.DataObject, market: str, side: str) -> None:
        """Take about as much as the account's free margin allows at its leverage (perhaps into a higher tier)."""
        account_id = data.draw(st.sampled_from(self.opened))
        account = self.venue.accounts[account_id]
        h = account.holdings.get(market)
        leverage = self.venue.customers[account_id].max_leverage if h is None else h.leverage
        lot_value = self.prices[market] * K  # micro-dollars per lot at the index
        lots = max(self.venue.excess(account), 0) * leverage * 9 // (lot_value * X * 10)
        if lots:
            self.order(
                account_id, market, side, min(lots, 4000), 40 if side == "buy" else -40, "ioc", reduce_only=False
            )
        if data.draw(st.booleans()):  # and then ask for more leverage than anyone may have
            self.apply(c.SetLeverage(ts=self.ts, account=account_id, market=market, leverage="100"))

    @precondition(lambda self: self.opened)
    @rule(data=st.data(), market=st.sampled_from([BTC, ETH]), part=st.sampled_from([1, 2, 4]), cross=st.booleans())
    def place_reduce_only(self, data: st.DataObject, market: str, part: int, cross: bool) -> None:
        """A reduce-only order against the account's position (part of it), crossing the book or resting."""
        account = data.draw(st.sampled_from(self.opened))
        h = self.venue.accounts[account].holdings.get(market)
        qty = h.qty if h is not None else 0
        side = "sell" if qty > 0 else "buy"
        offset = (-40 if side == "sell" else 40) if cross else (30 if side == "sell" else -30)
        self.order(account, market, side, max(abs(qty) // part, 1), offset, "gtc", reduce_only=True)

    def order(
        self, account: str, market: str, side: str, qty: int, offset: int | None, tif: str, *, reduce_only: bool
    ) -> None:
        self.coid += 1
        price = None if offset is None else PRICE_TEXT[market](self.prices[market] + offset)
        self.apply(
            c.PlaceOrder(
                ts=self.ts,
                account=account,
                market=market,
                client_order_id=f"x{self.coid}",
                side=side,  # type: ignore[arg-type]
                qty=str(qty),
                order_type="market" if price is None else "limit",
                price=price,
                time_in_force="ioc" if price is None else tif,  # type: ignore[arg-type]
                reduce_only=reduce_only,
            )
        )

    @precondition(lambda self: any(o["account"] != "mm" for o in self.model.orders.values()))
    @rule(data=st.data(), qty=st.none() | st.sampled_from([1, 5, 50, 300]), move=st.none() | st.integers(-20, 20))
    def amend(self, data: st.DataObject, qty: int | None, move: int | None) -> None:
        order_id = data.draw(st.sampled_from(sorted(i for i, o in self.model.orders.items() if o["account"] != "mm")))
        order = self.model.orders[order_id]
        record = self.venue.open_orders.get(order_id)
        market = record.market if record is not None else BTC
        price = None
        if move is not None and order["price"] is not None:
            price = PRICE_TEXT[market](self.prices[market] + move)
        self.apply(
            c.AmendOrder(
                ts=self.ts,
                account=order["account"],
                market=market,
                order_id=order_id,
                qty=None if qty is None else str(qty),
                price=price,
            )
        )

    @precondition(lambda self: self.opened)
    @rule(data=st.data())
    def cancel_all(self, data: st.DataObject) -> None:
        self.apply(c.CancelAll(ts=self.ts, account=data.draw(st.sampled_from(self.opened))))

    @rule(market=st.sampled_from([BTC, ETH]), permille=st.integers(-30, 30))
    def move_index(self, market: str, permille: int) -> None:
        self.prices[market] = self.prices[market] * (1000 + permille) // 1000
        self.requote(market)

    @precondition(lambda self: self.opened)
    @rule(data=st.data(), permille=st.integers(2, 12))
    def squeeze(self, data: st.DataObject, permille: int) -> None:
        """Move a market against a customer's position (towards margin calls and liquidation), then tick twice."""
        account = self.venue.accounts[data.draw(st.sampled_from(self.opened))]
        for market, h in sorted(account.holdings.items()):
            if h.qty:
                self.move_index(market, -permille if h.qty > 0 else permille)
                self.tick(SECOND)
                self.tick(SECOND)
                return

    @precondition(lambda self: self.opened)
    @rule(data=st.data(), ratio=st.sampled_from([Fraction(11, 10), Fraction(5, 4), Fraction(7, 5)]))
    def margin_call_episodes(self, data: st.DataObject, ratio: Fraction) -> None:
        """Take a one-market account into the warning zone, tick twice, recover, tick, fall again, tick.

        The customer first withdraws what initial margin leaves free. The target mark ``P``
        solves ``equity(P) = ratio × maintenance(P)`` in the first tier: ``C + q·K·P =
        ratio · m · |q|·K·P`` with ``C`` = cash − cost, so ``P = C / (K (ratio·m·|q| − q))``.
        The market walks there in steps of at most 3.5 % (the book's price band is 5 %).
        """
        account_id = data.draw(st.sampled_from(self.opened))
        account = self.venue.accounts[account_id]
        held = [(name, h) for name, h in account.holdings.items() if h.qty or h.buy_lots or h.sell_lots]
        if len(held) != 1 or held[0][1].mode is not CROSS or not held[0][1].qty:
            return
        market, h = held[0]
        free = self.venue.withdrawable(account) // 1_000_000
        if free > 0:
            self.apply(c.Withdraw(ts=self.ts, account=account_id, amount=str(free)))
        rate = Fraction(TIERS[market][0][2])
        target = Fraction(self.venue.ledger.cash(account_id) - h.cost) / (K * (ratio * rate * abs(h.qty) - h.qty))
        start = self.prices[market]
        if not (start * 80 // 100 < target < start * 120 // 100):
            return
        for mark in (int(target), start, int(target)):
            self.walk(market, mark)
            self.tick(SECOND)
            self.tick(SECOND)

    def walk(self, market: str, target: int) -> None:
        """Move the market to ``target`` in steps of at most 3.5 %."""
        while self.prices[market] != target:
            price = self.prices[market]
            step = price * 35 // 1000
            self.prices[market] = max(min(target, price + step), price - step)
            self.requote(market)

    @rule(step=st.sampled_from([SECOND, MINUTE, 10 * MINUTE, HOUR, 6 * HOUR, DAY]))
    def tick(self, step: int) -> None:
        self.ts += step
        self.apply(c.Tick(ts=self.ts))
        for market in (BTC, ETH):
            self.requote(market)  # fresh quotes, or the index goes stale


TestBrokerGates = BrokerMachine.TestCase
TestBrokerGates.settings = settings(
    max_examples=int(os.environ.get("ONSHORE_BROKER_VENUE_EXAMPLES", "120")),
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
