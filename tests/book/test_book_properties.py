"""Long random sequences of calls through the fast book and the reference book, side by side.

After every step:

* both books emitted the same events (``Rejected`` details included);
* both books show the same thing: state, reference, band, last trade, best prices,
  depth, every live order (all its fields) in matching priority, each account's open
  orders;
* the fast book's ``check_invariants()`` passes;
* a rejection came alone and changed nothing;
* every order's quantity is accounted for from the events alone: filled + resting +
  cancelled = ordered (the total of its last ``Accepted`` or ``Amended``), and an
  amendment's ``qty - open_qty`` is what had filled.

Each run starts from a two-sided book; three accounts so that self-trade prevention
fires; thirteen prices around 100 so that orders cross often and some fall outside the
band; cancels and amends aimed mostly at live orders, amendments often relative to the
order (one lot less or more, exactly what has filled, the best opposite price).
Hypothesis switches rules off at random per run (swarm testing), so some runs only
amend, or only cancel, the opening book. The default run takes a few seconds; a longer
one (marked slow) runs under ``make test-slow``; ``ONSHORE_BOOK_EXAMPLES`` and
``ONSHORE_BOOK_STEPS`` set the numbers for a hunt.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from onshore.book import Order, OrderBook
from onshore.book.events import Accepted, Amended, BookEvent, Cancelled, Fill, Rejected
from onshore.book.records import (
    BUY,
    FOK,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STP_CANCEL_BOTH,
    STP_CANCEL_INCOMING,
    STP_CANCEL_RESTING,
)

from .reference_book import ReferenceBook, book_snapshot

ACCOUNTS = ("alice", "bob", "carol")
PARAMS: dict[str, int] = {
    "max_order_lots": 20,
    "price_band_ppb": 50_000_000,  # ±5 ticks around 100
    "market_protection_ppb": 30_000_000,  # 3 ticks around 100
}

# Bids at 97-99 and asks at 101-103, 3 lots each, one per account and price.
OPENING_BOOK = [(account, BUY, price) for price in (99, 98, 97) for account in ACCOUNTS] + [
    (account, SELL, price) for price in (101, 102, 103) for account in ACCOUNTS
]

accounts = st.sampled_from(ACCOUNTS)
sides = st.sampled_from((BUY, SELL))
prices = st.integers(94, 106)
quantities = st.sampled_from((*range(1, 13), *range(1, 7), 0, -1, 20, 21))
order_kinds = st.sampled_from(("limit",) * 16 + ("market",) * 3 + ("market with a price", "limit without a price"))
time_in_force = st.sampled_from((GTC, GTC, IOC, FOK))
stp_modes = st.sampled_from((STP_CANCEL_RESTING, STP_CANCEL_INCOMING, STP_CANCEL_BOTH))
# None: a fresh client order id; a name: one of a few shared names, so that repeats happen.
client_order_ids = st.one_of(st.none(), st.none(), st.sampled_from(("again", "retry")))
# Which order a cancel or amend names, and how: mostly a live order, by its owner.
targets = st.integers(0, 1_000)
aims = st.sampled_from(("live", "live", "live", "any"))
naming = st.sampled_from(("id", "id", "coid", "both", "neither", "unknown"))
askers = st.sampled_from(("owner", "owner", "owner", "other"))
# What an amendment asks for: absolute values, or values relative to the named order.
new_prices = st.sampled_from((None, None, None, "up", "down", "cross", 0, 95, 100, 105))
new_quantities = st.sampled_from((None, None, "less", "less", "more", "filled", "filled+1", "same", 0, 1, 5, 21))


def relative_price(choice: int | str | None, order: Order | None, book: OrderBook) -> int | None:
    if not isinstance(choice, str):
        return choice
    if order is None or order.price is None:
        return 100
    opposite = book.best_ask() if order.side == BUY else book.best_bid()
    return {"up": order.price + 1, "down": order.price - 1, "cross": opposite or order.price}[choice]


def relative_qty(choice: int | str | None, order: Order | None) -> int | None:
    if not isinstance(choice, str):
        return choice
    if order is None:
        return 3
    filled = order.qty - order.open_qty
    return {"less": order.qty - 1, "more": order.qty + 1, "filled": filled, "filled+1": filled + 1, "same": order.qty}[
        choice
    ]


class BookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.fast = OrderBook("TEST-PERP", **PARAMS)
        self.ref = ReferenceBook("TEST-PERP", **PARAMS)
        self.next_order_id = 1
        self.placed: list[tuple[int, str, str]] = []  # order id, account, client order id of every place call
        self.ordered: dict[int, int] = {}
        self.filled: dict[int, int] = defaultdict(int)
        self.cancelled: dict[int, int] = defaultdict(int)

    # ------------------------------------------------------------------ one step, on both books
    def apply(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Call ``method`` with the same arguments on both books and check the outcome."""
        before = book_snapshot(self.fast, ACCOUNTS)
        fast_events: list[BookEvent] = getattr(self.fast, method)(*args, **kwargs)
        ref_events: list[BookEvent] = getattr(self.ref, method)(*args, **kwargs)
        assert fast_events == ref_events
        if any(isinstance(e, Rejected) for e in fast_events):
            assert len(fast_events) == 1, "a rejection comes alone"
            assert book_snapshot(self.fast, ACCOUNTS) == before, "a rejection changed the book"
        self.account_for(fast_events)
        for e in fast_events:
            event(f"{e.KIND}: {getattr(e, 'reason', '')}" if isinstance(e, Rejected | Cancelled) else e.KIND)

    def account_for(self, events: list[BookEvent]) -> None:
        for e in events:
            if isinstance(e, Accepted):
                assert e.order_id not in self.ordered
                self.ordered[e.order_id] = e.qty
            elif isinstance(e, Amended):
                self.ordered[e.order_id] = e.qty
                assert e.qty - e.open_qty == self.filled[e.order_id], "an amendment keeps what has filled"
            elif isinstance(e, Fill):
                assert e.qty > 0 and e.maker_account != e.taker_account
                self.filled[e.maker_order_id] += e.qty
                self.filled[e.taker_order_id] += e.qty
            elif isinstance(e, Cancelled):
                assert e.qty > 0
                self.cancelled[e.order_id] += e.qty

    def name_target(self, pick: int, aim: str, how: str, who: str) -> tuple[str, int | None, str | None, Order | None]:
        """Return (asking account, order id, client order id, the named live order or None)."""
        live = sorted(self.fast.orders)
        if aim == "live" and live:
            order = self.fast.orders[live[pick % len(live)]]
            order_id, owner, coid = order.order_id, order.account, order.client_order_id
        elif self.placed and how != "unknown":
            order_id, owner, coid = self.placed[pick % len(self.placed)]
        else:
            return ACCOUNTS[pick % len(ACCOUNTS)], 10**9 + pick, None, None
        account = owner if who == "owner" else ACCOUNTS[(ACCOUNTS.index(owner) + 1) % len(ACCOUNTS)]
        named: dict[str, tuple[int | None, str | None]] = {
            "id": (order_id, None),
            "coid": (None, coid),
            "both": (order_id, coid),
            "neither": (None, None),
            "unknown": (10**9 + pick, None),
        }
        return account, *named[how], self.fast.orders.get(order_id)

    def new_order(self, account: str, coid: str | None) -> tuple[int, str]:
        order_id = self.next_order_id
        self.next_order_id += 1
        client_order_id = f"c{order_id}" if coid is None else coid
        self.placed.append((order_id, account, client_order_id))
        return order_id, client_order_id

    # ------------------------------------------------------------------ rules
    @initialize()
    def a_two_sided_book(self) -> None:
        for account, side, price in OPENING_BOOK:
            order_id, client_order_id = self.new_order(account, None)
            self.apply("place", order_id, account, client_order_id, side, price, 3)

    @rule(
        account=accounts,
        side=sides,
        kind=order_kinds,
        price=prices,
        qty=quantities,
        tif=time_in_force,
        post_only=st.sampled_from((False, False, False, True)),
        reduce_only=st.booleans(),
        stp=stp_modes,
        coid=client_order_ids,
    )
    def place(
        self,
        account: str,
        side: int,
        kind: str,
        price: int | None,
        qty: int,
        tif: int,
        post_only: bool,
        reduce_only: bool,
        stp: int,
        coid: str | None,
    ) -> None:
        order_type = MARKET if kind in ("market", "market with a price") else LIMIT
        if kind in ("market", "limit without a price"):
            price = None
        order_id, client_order_id = self.new_order(account, coid)
        self.apply(
            "place", order_id, account, client_order_id, side, price, qty, order_type, tif, post_only, reduce_only, stp
        )

    @rule(pick=targets, aim=aims, how=naming, who=askers)
    def cancel(self, pick: int, aim: str, how: str, who: str) -> None:
        account, order_id, coid, _ = self.name_target(pick, aim, how, who)
        self.apply("cancel", account, order_id, coid)

    @rule(pick=targets, aim=aims, how=naming, who=askers, price_choice=new_prices, qty_choice=new_quantities)
    def amend(
        self, pick: int, aim: str, how: str, who: str, price_choice: int | str | None, qty_choice: int | str | None
    ) -> None:
        account, order_id, coid, order = self.name_target(pick, aim, how, who)
        price = relative_price(price_choice, order, self.fast)
        qty = relative_qty(qty_choice, order)
        self.apply("amend", account, order_id, coid, price=price, qty=qty)

    @rule(account=accounts)
    def cancel_all(self, account: str) -> None:
        self.apply("cancel_all", account)

    @rule(state=st.sampled_from(("open", "open", "open", "close_only", "close_only", "halted", "closed")))
    def set_state(self, state: str) -> None:
        self.apply("set_state", state)

    @rule(price=st.one_of(st.none(), st.integers(96, 104)))
    def set_reference(self, price: int | None) -> None:
        self.fast.set_reference(price)
        self.ref.set_reference(price)

    # ------------------------------------------------------------------ after every step
    @invariant()
    def fast_book_is_consistent(self) -> None:
        self.fast.check_invariants()

    @invariant()
    def books_agree(self) -> None:
        assert book_snapshot(self.fast, ACCOUNTS) == book_snapshot(self.ref, ACCOUNTS)

    @invariant()
    def every_lot_is_accounted_for(self) -> None:
        for order_id, ordered in self.ordered.items():
            live = self.fast.orders.get(order_id)
            resting = live.open_qty if live is not None else 0
            assert self.filled[order_id] + resting + self.cancelled[order_id] == ordered, order_id
        assert set(self.fast.orders) <= set(self.ordered), "only accepted orders rest"


def _settings(examples: int, steps: int) -> settings:
    return settings(
        max_examples=int(os.environ.get("ONSHORE_BOOK_EXAMPLES", examples)),
        stateful_step_count=int(os.environ.get("ONSHORE_BOOK_STEPS", steps)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


class TestBookAgainstReference(BookMachine.TestCase):  # type: ignore[misc, name-defined]
    settings = _settings(examples=150, steps=80)


@pytest.mark.slow
class TestBookAgainstReferenceLong(BookMachine.TestCase):  # type: ignore[misc, name-defined]
    settings = _settings(examples=1_500, steps=200)
