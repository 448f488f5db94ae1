"""A slow, obviously correct order book to hold :class:`onshore.book.OrderBook` to.

Written from the rules, not from the fast book's code: one plain list of live orders in
time priority, linear scans, nothing lazy, nothing cached. The best maker is found by
sorting that list; a fill-or-kill order is tried on a deep copy of the whole book; the
price band is computed from the reference price when it is needed. It emits the same
event records (``onshore.book.events``) with the same reason codes and details, so two
books fed the same calls can be compared event for event.

The rules, in the order they are checked:

place
    halted -> ``market_halted``; close-only and not reduce-only -> ``market_close_only``;
    qty <= 0 -> ``non_positive``; qty > max -> ``max_order_size``;
    limit: no price -> ``price_required``, price <= 0 -> ``non_positive``, outside the band
    -> ``price_band``; market: a price -> ``price_not_allowed``, post-only ->
    ``post_only_not_limit``; post-only and not GTC -> ``post_only_not_limit``; post-only
    that would take -> ``post_only_would_take``; client order id used before by the account
    (by any order that was accepted, forever) -> ``duplicate_client_order_id``.
    Then ``Accepted``; a market order with no reference and no opposite order is cancelled
    (``no_liquidity``); a FOK that would not fill completely is cancelled
    (``fok_not_filled``) and nothing else happens; otherwise it matches, then the rest
    rests (GTC limit) or is cancelled: ``ioc_remainder`` (IOC/FOK limit),
    ``market_protection`` (market, opposite orders remain beyond its limit),
    ``no_liquidity`` (market, opposite side empty), ``self_trade_incoming`` (STP stopped it).
matching
    best price first, oldest first within a price, at the maker's price, never beyond the
    taker's limit (a market order's limit is the reference price, or the best opposite
    price when there is no reference, moved by the protection distance, rounded toward
    the reference). A maker of the taker's own account is handled by the taker's STP
    mode: cancel_resting cancels it and goes on; cancel_incoming stops the taker;
    cancel_both cancels it and stops the taker.
amend
    no order named -> ``order_id_required``; halted -> ``market_halted``; not a live order
    of the account -> ``unknown_order``; no change -> ``amend_nothing``; qty or price <= 0
    -> ``non_positive``; qty not above filled -> ``amend_qty_not_above_filled``; qty > max
    -> ``max_order_size``; close-only, loses priority and not reduce-only ->
    ``market_close_only``; a new price outside the band -> ``price_band``; a new price
    that a post-only order would take at -> ``post_only_would_take``. A smaller qty at
    the same price keeps priority; otherwise the order leaves the book and comes back as
    a GTC limit order (same id), matching first.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from onshore.book.events import Accepted, Amended, BookEvent, Cancelled, Fill, Rejected, StateChanged
from onshore.book.records import BUY, FOK, GTC, LIMIT, MARKET, SELL, STP_CANCEL_BOTH, STP_CANCEL_INCOMING
from onshore.core.reasons import Cancel, Reject

PPB = 1_000_000_000
STATES = ("open", "halted", "close_only")


@dataclass(eq=False)
class RefOrder:
    """A live order. Compared by identity, never by value."""

    order_id: int
    account: str
    client_order_id: str
    side: int
    price: int | None
    qty: int
    open_qty: int
    order_type: int
    tif: int
    post_only: bool
    reduce_only: bool
    stp: int


def other_side(side: int) -> int:
    return SELL if side == BUY else BUY


def is_marketable(taker_side: int, limit: int, maker_price: int) -> bool:
    """Whether a taker on ``taker_side`` with ``limit`` may trade at ``maker_price``."""
    return maker_price <= limit if taker_side == BUY else maker_price >= limit


class ReferenceBook:
    """Same calls and same events as ``OrderBook``; every query is a scan of one list."""

    def __init__(self, market: str, *, max_order_lots: int, price_band_ppb: int, market_protection_ppb: int) -> None:
        self.market = market
        self.max_order_lots = max_order_lots
        self.price_band_ppb = price_band_ppb
        self.market_protection_ppb = market_protection_ppb
        self.state = "open"
        self.reference_ticks: int | None = None
        self.last_trade_ticks: int | None = None
        self.live: list[RefOrder] = []  # oldest first: arrival order, an amend that loses priority re-arrives
        self.used_client_order_ids: dict[str, dict[str, int]] = {}

    # ------------------------------------------------------------------ queries
    def reference_price(self) -> int | None:
        return self.reference_ticks if self.reference_ticks is not None else self.last_trade_ticks

    def band(self) -> tuple[int, int] | None:
        ref = self.reference_price()
        if ref is None:
            return None
        width = ref * self.price_band_ppb // PPB
        return ref - width, ref + width

    def in_priority(self, side: int) -> list[RefOrder]:
        """The live orders of one side, best price first, oldest first within a price."""
        orders = [o for o in self.live if o.side == side]
        # sorted() is stable, so orders at one price keep their arrival order.
        if side == BUY:
            return sorted(orders, key=lambda o: -(o.price or 0))
        return sorted(orders, key=lambda o: o.price or 0)

    def best(self, side: int) -> int | None:
        orders = self.in_priority(side)
        return orders[0].price if orders else None

    def best_bid(self) -> int | None:
        return self.best(BUY)

    def best_ask(self) -> int | None:
        return self.best(SELL)

    def depth(self, side: int) -> list[tuple[int, int, int]]:
        """``(price, total open qty, order count)`` per price, best first."""
        out: list[tuple[int, int, int]] = []
        for o in self.in_priority(side):
            assert o.price is not None
            if out and out[-1][0] == o.price:
                price, total, count = out[-1]
                out[-1] = (price, total + o.open_qty, count + 1)
            else:
                out.append((o.price, o.open_qty, 1))
        return out

    def open_orders(self, account: str) -> list[RefOrder]:
        return sorted((o for o in self.live if o.account == account), key=lambda o: o.order_id)

    def find(self, account: str, order_id: int | None, client_order_id: str | None) -> RefOrder | None:
        """The live order of ``account`` named by order id, or else by client order id."""
        if order_id is None:
            if client_order_id is None:
                return None
            order_id = self.used_client_order_ids.get(account, {}).get(client_order_id)
        for o in self.live:
            if o.order_id == order_id and o.account == account:
                return o
        return None

    def iter_side(self, side: int) -> list[RefOrder]:
        return self.in_priority(side)

    # ------------------------------------------------------------------ commands
    def set_state(self, state: str) -> list[BookEvent]:
        if state not in STATES:
            return [Rejected(Reject.INVALID_STATE, f"unknown market state {state!r}")]
        self.state = state
        return [StateChanged(state)]

    def set_reference(self, price_ticks: int | None) -> None:
        self.reference_ticks = price_ticks

    def place(
        self,
        order_id: int,
        account: str,
        client_order_id: str,
        side: int,
        price: int | None,
        qty: int,
        order_type: int = LIMIT,
        tif: int = GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        stp: int = 0,
    ) -> list[BookEvent]:
        rejection = self.place_rejection(
            account, client_order_id, side, price, qty, order_type, tif, post_only, reduce_only
        )
        if rejection is not None:
            return [rejection]
        self.used_client_order_ids.setdefault(account, {})[client_order_id] = order_id
        order = RefOrder(
            order_id, account, client_order_id, side, price, qty, qty, order_type, tif, post_only, reduce_only, stp
        )
        out: list[BookEvent] = [Accepted(order_id, account, side, price, qty)]
        limit = price if order_type == LIMIT else self.market_limit(side)
        if limit is None:
            out.append(Cancelled(order_id, account, qty, Cancel.NO_LIQUIDITY))
            return out
        if tif == FOK and not self.would_fill_completely(order, limit):
            out.append(Cancelled(order_id, account, qty, Cancel.FOK_NOT_FILLED))
            return out
        stopped = self.match(order, limit, out)
        self.rest_or_cancel(order, stopped, out)
        return out

    def place_rejection(
        self,
        account: str,
        client_order_id: str,
        side: int,
        price: int | None,
        qty: int,
        order_type: int,
        tif: int,
        post_only: bool,
        reduce_only: bool,
    ) -> Rejected | None:
        if self.state == "halted":
            return Rejected(Reject.MARKET_HALTED, f"{self.market} is halted: only cancels are accepted")
        if self.state == "close_only" and not reduce_only:
            return Rejected(Reject.MARKET_CLOSE_ONLY, f"{self.market} is close-only: send a reduce-only order")
        if qty <= 0:
            return Rejected(Reject.NON_POSITIVE, "qty must be positive")
        if qty > self.max_order_lots:
            return Rejected(Reject.MAX_ORDER_SIZE, f"qty {qty} is above the maximum order size {self.max_order_lots}")
        if order_type == LIMIT:
            if price is None:
                return Rejected(Reject.PRICE_REQUIRED, "a limit order needs a price")
            if price <= 0:
                return Rejected(Reject.NON_POSITIVE, "price must be positive")
            if self.outside_band(price):
                return self.band_rejection(price)
        else:
            if price is not None:
                return Rejected(Reject.PRICE_NOT_ALLOWED, "a market order takes no price")
            if post_only:
                return Rejected(Reject.POST_ONLY_NOT_LIMIT, "post-only applies to limit orders only")
        if post_only:
            if tif != GTC:
                return Rejected(Reject.POST_ONLY_NOT_LIMIT, "post-only orders must be GTC")
            assert price is not None
            if self.would_take(side, price):
                return Rejected(Reject.POST_ONLY_WOULD_TAKE, f"post-only order at {price} would take liquidity")
        if client_order_id in self.used_client_order_ids.get(account, {}):
            return Rejected(
                Reject.DUPLICATE_CLIENT_ORDER_ID,
                f"client order id {client_order_id!r} was already used by account {account}",
            )
        return None

    def cancel(self, account: str, order_id: int | None = None, client_order_id: str | None = None) -> list[BookEvent]:
        if order_id is None and client_order_id is None:
            return [Rejected(Reject.ORDER_ID_REQUIRED, "name the order by order_id or client_order_id")]
        order = self.find(account, order_id, client_order_id)
        if order is None:
            return [self.unknown_order(account, order_id, client_order_id)]
        qty = order.open_qty
        self.take_out(order)
        return [Cancelled(order.order_id, account, qty, Cancel.USER)]

    def cancel_all(self, account: str) -> list[BookEvent]:
        out: list[BookEvent] = []
        for order in self.open_orders(account):
            out.append(Cancelled(order.order_id, account, order.open_qty, Cancel.CANCEL_ALL))
            self.take_out(order)
        return out

    def amend(
        self,
        account: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
        *,
        price: int | None = None,
        qty: int | None = None,
    ) -> list[BookEvent]:
        if order_id is None and client_order_id is None:
            return [Rejected(Reject.ORDER_ID_REQUIRED, "name the order by order_id or client_order_id")]
        if self.state == "halted":
            return [Rejected(Reject.MARKET_HALTED, f"{self.market} is halted: only cancels are accepted")]
        order = self.find(account, order_id, client_order_id)
        if order is None:
            return [self.unknown_order(account, order_id, client_order_id)]
        assert order.price is not None
        new_price = order.price if price is None else price
        new_qty = order.qty if qty is None else qty
        filled = order.qty - order.open_qty
        if new_price == order.price and new_qty == order.qty:
            return [Rejected(Reject.AMEND_NOTHING, "the amendment changes neither price nor quantity")]
        if new_qty <= 0 or new_price <= 0:
            return [Rejected(Reject.NON_POSITIVE, "price and qty must be positive")]
        if new_qty <= filled:
            return [
                Rejected(
                    Reject.AMEND_QTY_NOT_ABOVE_FILLED,
                    f"new qty {new_qty} must exceed the {filled} already filled; cancel instead",
                )
            ]
        if new_qty > self.max_order_lots:
            return [
                Rejected(Reject.MAX_ORDER_SIZE, f"qty {new_qty} is above the maximum order size {self.max_order_lots}")
            ]
        keeps_priority = new_price == order.price and new_qty < order.qty
        if self.state == "close_only" and not keeps_priority and not order.reduce_only:
            return [Rejected(Reject.MARKET_CLOSE_ONLY, f"{self.market} is close-only: only reductions are accepted")]
        if new_price != order.price:
            if self.outside_band(new_price):
                return [self.band_rejection(new_price)]
            if order.post_only and self.would_take(order.side, new_price):
                return [Rejected(Reject.POST_ONLY_WOULD_TAKE, "the new price would take liquidity")]

        new_open = new_qty - filled
        if keeps_priority:
            order.qty = new_qty
            order.open_qty = new_open
            return [Amended(order.order_id, account, new_price, new_qty, new_open, True)]
        self.take_out(order)
        again = RefOrder(
            order.order_id,
            account,
            order.client_order_id,
            order.side,
            new_price,
            new_qty,
            new_open,
            LIMIT,
            GTC,
            order.post_only,
            order.reduce_only,
            order.stp,
        )
        out: list[BookEvent] = [Amended(order.order_id, account, new_price, new_qty, new_open, False)]
        stopped = self.match(again, new_price, out)
        self.rest_or_cancel(again, stopped, out)
        return out

    # ------------------------------------------------------------------ the rules
    def outside_band(self, price: int) -> bool:
        band = self.band()
        return band is not None and not band[0] <= price <= band[1]

    def band_rejection(self, price: int) -> Rejected:
        band = self.band()
        assert band is not None
        return Rejected(
            Reject.PRICE_BAND,
            f"price {price} is outside the band {band[0]}..{band[1]} around the reference {self.reference_price()}",
        )

    def unknown_order(self, account: str, order_id: int | None, client_order_id: str | None) -> Rejected:
        which = order_id if order_id is not None else client_order_id
        return Rejected(Reject.UNKNOWN_ORDER, f"no open order {which!r} of account {account} in {self.market}")

    def would_take(self, side: int, price: int) -> bool:
        return any(is_marketable(side, price, o.price or 0) for o in self.live if o.side == other_side(side))

    def market_limit(self, side: int) -> int | None:
        """The worst price a market order may trade at, or None if it has nothing to measure from."""
        ref = self.reference_price()
        if ref is None:
            ref = self.best(other_side(side))
            if ref is None:
                return None
        distance = ref * self.market_protection_ppb // PPB
        return ref + distance if side == BUY else ref - distance

    def would_fill_completely(self, order: RefOrder, limit: int) -> bool:
        """Try the order on a copy of the whole book."""
        trial_book = copy.deepcopy(self)
        trial_order = copy.deepcopy(order)
        stopped = trial_book.match(trial_order, limit, [])
        return stopped is None and trial_order.open_qty == 0

    def take_out(self, order: RefOrder) -> None:
        self.live = [o for o in self.live if o is not order]

    def match(self, taker: RefOrder, limit: int, out: list[BookEvent]) -> str | None:
        """Trade ``taker`` against the other side; return a cancel reason if STP stopped it."""
        while taker.open_qty > 0:
            makers = [
                o for o in self.in_priority(other_side(taker.side)) if is_marketable(taker.side, limit, o.price or 0)
            ]
            if not makers:
                return None
            maker = makers[0]
            if maker.account == taker.account:
                if taker.stp == STP_CANCEL_INCOMING:
                    return Cancel.STP_INCOMING
                out.append(Cancelled(maker.order_id, maker.account, maker.open_qty, Cancel.STP_RESTING))
                self.take_out(maker)
                if taker.stp == STP_CANCEL_BOTH:
                    return Cancel.STP_INCOMING
                continue
            assert maker.price is not None
            qty = min(maker.open_qty, taker.open_qty)
            out.append(Fill(maker.order_id, taker.order_id, maker.account, taker.account, maker.price, qty, taker.side))
            maker.open_qty -= qty
            taker.open_qty -= qty
            self.last_trade_ticks = maker.price
            if maker.open_qty == 0:
                self.take_out(maker)
        return None

    def rest_or_cancel(self, order: RefOrder, stopped: str | None, out: list[BookEvent]) -> None:
        if order.open_qty == 0:
            return
        if stopped is not None:
            reason = stopped
        elif order.order_type == MARKET:
            others_left = any(o.side == other_side(order.side) for o in self.live)
            reason = Cancel.MARKET_PROTECTION if others_left else Cancel.NO_LIQUIDITY
        elif order.tif == GTC:
            self.live.append(order)
            return
        else:
            reason = Cancel.IOC_REMAINDER
        out.append(Cancelled(order.order_id, order.account, order.open_qty, reason))
        order.open_qty = 0


def book_snapshot(book: object, accounts: tuple[str, ...] = ()) -> dict[str, object]:
    """Everything a caller can see of a book (fast or reference), as plain values.

    Two books agree when their snapshots are equal: state, reference and band, best
    prices, depth, every live order in matching priority with all its fields, and each
    account's open orders.
    """
    b: Any = book
    return {
        "state": b.state,
        "reference": b.reference_price(),
        "last_trade": b.last_trade_ticks,
        "band": b.band(),
        "best": (b.best_bid(), b.best_ask()),
        "depth": (b.depth(BUY), b.depth(SELL)),
        "orders": [order_fields(o) for side in (BUY, SELL) for o in b.iter_side(side)],
        "open_orders": {account: [o.order_id for o in b.open_orders(account)] for account in accounts},
    }


def order_fields(order: object) -> tuple[object, ...]:
    """Every field of an order record (``Order`` or :class:`RefOrder`)."""
    o: Any = order
    return (
        o.order_id,
        o.account,
        o.client_order_id,
        o.side,
        o.price,
        o.qty,
        o.open_qty,
        o.order_type,
        o.tif,
        o.post_only,
        o.reduce_only,
        o.stp,
    )
