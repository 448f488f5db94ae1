"""Long random sequences of calls through the fast book and the reference book, side by side.

After every step the two must have emitted the same events and must show the same book
(depth, every live order in priority order, best prices, band, state); the fast book's
``check_invariants()`` must pass; a rejection must have changed nothing; and every
order's quantity must be accounted for from the events alone: filled + resting +
cancelled = ordered (the last accepted or amended total).

Three accounts so that self-trade prevention fires, a dozen prices around 100 so that
orders cross often and some fall outside the band. ``ONSHORE_BOOK_EXAMPLES`` raises the
number of examples for a longer hunt (the default keeps the run to a few seconds).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from onshore.book import OrderBook
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
    "price_band_ppb": 40_000_000,  # ±4 ticks around 100
    "market_protection_ppb": 30_000_000,  # 3 ticks around 100
}

accounts = st.sampled_from(ACCOUNTS)
sides = st.sampled_from((BUY, SELL))
prices = st.integers(93, 107)
quantities = st.one_of(st.integers(1, 8), st.sampled_from((0, -1, 19, 20, 21)))
time_in_force = st.sampled_from((GTC, GTC, IOC, FOK))
stp_modes = st.sampled_from((STP_CANCEL_RESTING, STP_CANCEL_INCOMING, STP_CANCEL_BOTH))
# None: a fresh client order id; a name: one of a few shared names, so repeats happen.
client_order_ids = st.one_of(st.none(), st.none(), st.sampled_from(("again", "retry")))
# Which order a cancel or amend names: an index into every order placed so far.
targets = st.integers(0, 1_000)
naming = st.sampled_from(("id", "id", "coid", "both", "neither", "unknown"))
asker = st.sampled_from(("owner", "owner", "owner", "other"))


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

    # ------------------------------------------------------------------ the step
    def apply(self, call: Callable[[Any], list[BookEvent]]) -> list[BookEvent]:
        before = book_snapshot(self.fast, ACCOUNTS)
        fast_events = call(self.fast)
        ref_events = call(self.ref)
        assert fast_events == ref_events
        if any(isinstance(e, Rejected) for e in fast_events):
            assert len(fast_events) == 1, "a rejection comes alone"
            assert book_snapshot(self.fast, ACCOUNTS) == before, "a rejection changed the book"
        self.account_for(fast_events)
        return fast_events

    def account_for(self, events: list[BookEvent]) -> None:
        for e in events:
            if isinstance(e, Accepted):
                assert e.order_id not in self.ordered
                self.ordered[e.order_id] = e.qty
            elif isinstance(e, Amended):
                self.ordered[e.order_id] = e.qty
                assert e.qty - e.open_qty == self.filled[e.order_id], "amended: filled = qty - open"
            elif isinstance(e, Fill):
                assert e.qty > 0 and e.maker_account != e.taker_account
                self.filled[e.maker_order_id] += e.qty
                self.filled[e.taker_order_id] += e.qty
            elif isinstance(e, Cancelled):
                assert e.qty > 0
                self.cancelled[e.order_id] += e.qty

    def name_target(self, pick: int, how: str, who: str) -> tuple[str, int | None, str | None]:
        if not self.placed or how == "unknown":
            return ACCOUNTS[pick % len(ACCOUNTS)], 10**9 + pick, None
        order_id, owner, coid = self.placed[pick % len(self.placed)]
        account = owner if who == "owner" else ACCOUNTS[(ACCOUNTS.index(owner) + 1) % len(ACCOUNTS)]
        return {
            "id": (account, order_id, None),
            "coid": (account, None, coid),
            "both": (account, order_id, coid),
            "neither": (account, None, None),
        }[how]

    def new_order(self, account: str, coid: str | None) -> tuple[int, str]:
        order_id = self.next_order_id
        self.next_order_id += 1
        client_order_id = f"c{order_id}" if coid is None else coid
        self.placed.append((order_id, account, client_order_id))
        return order_id, client_order_id

    # ------------------------------------------------------------------ rules
    @rule(
        account=accounts,
        side=sides,
        price=prices,
        qty=quantities,
        tif=time_in_force,
        post_only=st.sampled_from((False, False, False, True)),
        reduce_only=st.booleans(),
        stp=stp_modes,
        coid=client_order_ids,
    )
    def place_limit(
        self,
        account: str,
        side: int,
        price: int,
        qty: int,
        tif: int,
        post_only: bool,
        reduce_only: bool,
        stp: int,
        coid: str | None,
    ) -> None:
        order_id, client_order_id = self.new_order(account, coid)
        self.apply(
            lambda b: b.place(
                order_id, account, client_order_id, side, price, qty, LIMIT, tif, post_only, reduce_only, stp
            )
        )

    @rule(
        account=accounts,
        side=sides,
        qty=quantities,
        tif=time_in_force,
        reduce_only=st.booleans(),
        stp=stp_modes,
        coid=client_order_ids,
    )
    def place_market(
        self, account: str, side: int, qty: int, tif: int, reduce_only: bool, stp: int, coid: str | None
    ) -> None:
        order_id, client_order_id = self.new_order(account, coid)
        self.apply(
            lambda b: b.place(order_id, account, client_order_id, side, None, qty, MARKET, tif, False, reduce_only, stp)
        )

    @rule(
        account=accounts,
        side=sides,
        order_type=st.sampled_from((LIMIT, MARKET)),
        price=st.sampled_from((None, 0, -5, 100)),
        post_only=st.booleans(),
        tif=time_in_force,
    )
    def place_malformed(
        self, account: str, side: int, order_type: int, price: int | None, post_only: bool, tif: int
    ) -> None:
        order_id, client_order_id = self.new_order(account, None)
        self.apply(lambda b: b.place(order_id, account, client_order_id, side, price, 1, order_type, tif, post_only))

    @rule(pick=targets, how=naming, who=asker)
    def cancel(self, pick: int, how: str, who: str) -> None:
        account, order_id, coid = self.name_target(pick, how, who)
        self.apply(lambda b: b.cancel(account, order_id, coid))

    @rule(
        pick=targets,
        how=naming,
        who=asker,
        price=st.one_of(st.none(), prices, st.just(0)),
        qty=st.one_of(st.none(), quantities),
    )
    def amend(self, pick: int, how: str, who: str, price: int | None, qty: int | None) -> None:
        account, order_id, coid = self.name_target(pick, how, who)
        self.apply(lambda b: b.amend(account, order_id, coid, price=price, qty=qty))

    @rule(account=accounts)
    def cancel_all(self, account: str) -> None:
        self.apply(lambda b: b.cancel_all(account))

    @rule(state=st.sampled_from(("open", "open", "open", "halted", "close_only", "closed")))
    def set_state(self, state: str) -> None:
        self.apply(lambda b: b.set_state(state))

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
        assert set(self.fast.orders) <= set(self.ordered)


BookMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("ONSHORE_BOOK_EXAMPLES", "150")),
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBookAgainstReference = BookMachine.TestCase
