"""The order book of one market: price-time priority matching.

Design (see docs/architecture.md):

* a ``dict`` per side maps price (ticks) to a :class:`Level` holding a deque of orders
  in arrival order;
* a binary heap per side (``heapq``: asks by price, bids by negated price) finds the
  best level. A level that empties stays in the heap and its dict until it reaches the
  top, where it is discarded (lazy deletion): the heap never holds a price twice, and
  best bid / best ask are exact after every call;
* cancelled orders leave their level's deque lazily (O(1) cancel), and a level is
  compacted once its dead entries far outnumber its live ones; ``Level.count`` and
  ``Level.total`` count only live orders;
* the price band is kept as two bounds, recomputed whenever the reference price moves,
  so that checking an order against it is two comparisons.

Every call validates fully before it changes anything: a rejection returns a single
:class:`Rejected` and leaves the book exactly as it was. Every outcome is a
:class:`BookEvent`, appended in the order it happened.

Runtime complexity: placing an order that rests at a new price level is O(log L) in the
number of price levels; resting at an existing level, cancel, and a quantity-reducing
amend are O(1); matching is O(fills + emptied levels × log L). A fill-or-kill check and
``cancel_all`` are O(L log L + orders) and O(orders): both are rare.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Callable, Iterator
from typing import Final

from onshore.book.errors import BookInvariantError
from onshore.book.events import (
    Accepted,
    Amended,
    BookEvent,
    Cancelled,
    Fill,
    Rejected,
    StateChanged,
)
from onshore.book.records import (
    BUY,
    CLOSE_ONLY,
    FOK,
    GTC,
    HALTED,
    LIMIT,
    MARKET,
    MARKET_STATES,
    OPEN,
    SELL,
    STP_CANCEL_BOTH,
    STP_CANCEL_INCOMING,
    STP_CANCEL_RESTING,
    Level,
    Order,
)
from onshore.core import units
from onshore.core.reasons import Cancel, Reject

_NO_BAND: Final = 1 << 62
_COMPACT_RATIO: Final = 4
_COMPACT_SLACK: Final = 256
_USER: Final = str(Cancel.USER)
_IOC_REMAINDER: Final = str(Cancel.IOC_REMAINDER)
# C statics in the compiled module rather than lookups in its globals at every use
deque: Final = collections.deque
heappush: Final = heapq.heappush
heappop: Final = heapq.heappop
PPB: Final = units.PPB


class OrderBook:
    """Price-time priority book for one market.

    ``client_order_ids`` may be shared between the books of one venue so that a client
    order id is unique per account across markets; it maps account -> client order id
    -> order id, forever (a client order id is never reused).
    """

    __slots__ = (
        "_ask_heap",
        "_asks",
        "_band_hi",
        "_band_lo",
        "_bid_heap",
        "_bids",
        "client_order_ids",
        "last_trade_ticks",
        "market",
        "market_protection_ppb",
        "max_order_lots",
        "orders",
        "price_band_ppb",
        "price_text",
        "qty_text",
        "reference_ticks",
        "state",
    )

    def __init__(
        self,
        market: str,
        *,
        max_order_lots: int,
        price_band_ppb: int,
        market_protection_ppb: int,
        client_order_ids: dict[str, dict[str, int]] | None = None,
        price_text: Callable[[int], str] = str,
        qty_text: Callable[[int], str] = str,
    ) -> None:
        self.market = market
        # how rejection details show ticks and lots to a person (the Venue passes its
        # market's decimal formatting; the book alone speaks in ticks and lots)
        self.price_text = price_text
        self.qty_text = qty_text
        self.max_order_lots = max_order_lots
        self.price_band_ppb = price_band_ppb
        self.market_protection_ppb = market_protection_ppb
        self.state = OPEN
        self.reference_ticks: int | None = None
        self.last_trade_ticks: int | None = None
        self.orders: dict[int, Order] = {}
        self.client_order_ids: dict[str, dict[str, int]] = {} if client_order_ids is None else client_order_ids
        self._bids: dict[int, Level] = {}
        self._asks: dict[int, Level] = {}
        self._bid_heap: list[int] = []  # negated prices
        self._ask_heap: list[int] = []
        self._band_lo = 0
        self._band_hi = _NO_BAND

    # ------------------------------------------------------------------ queries
    def best_bid(self) -> int | None:
        """Return the best bid price in ticks, or None. Amortised O(1)."""
        heap, levels = self._bid_heap, self._bids
        while heap:
            price = -heap[0]
            if levels[price].count:
                return price
            heappop(heap)
            del levels[price]
        return None

    def best_ask(self) -> int | None:
        """Return the best ask price in ticks, or None. Amortised O(1)."""
        heap, levels = self._ask_heap, self._asks
        while heap:
            price = heap[0]
            if levels[price].count:
                return price
            heappop(heap)
            del levels[price]
        return None

    def reference_price(self) -> int | None:
        """The price that bands and market protection are measured from.

        The Venue sets it (the mark price) with :meth:`set_reference`; until it does,
        the last trade price is used.
        """
        return self.reference_ticks if self.reference_ticks is not None else self.last_trade_ticks

    def band(self) -> tuple[int, int] | None:
        """Return the lowest and highest acceptable limit price, or None without a reference."""
        return None if self.reference_price() is None else (self._band_lo, self._band_hi)

    def depth(self, side: int, levels: int | None = None) -> list[tuple[int, int, int]]:
        """Return ``(price, total_qty, order_count)`` per level, best first.

        Runtime complexity: O(L log L) in the number of levels on that side.
        """
        book = self._bids if side == BUY else self._asks
        prices = sorted((p for p, lv in book.items() if lv.count), reverse=side == BUY)
        if levels is not None:
            prices = prices[:levels]
        return [(p, book[p].total, book[p].count) for p in prices]

    def iter_side(self, side: int) -> Iterator[Order]:
        """Yield the live orders of one side in matching priority (best price, oldest first)."""
        book = self._bids if side == BUY else self._asks
        for price in sorted((p for p, lv in book.items() if lv.count), reverse=side == BUY):
            for order in book[price].orders:
                if order.open_qty:
                    yield order

    def open_orders(self, account: str) -> list[Order]:
        """Return the live orders of ``account`` in this book, oldest first. O(orders)."""
        return sorted((o for o in self.orders.values() if o.account == account), key=lambda o: o.order_id)

    def find(self, account: str, order_id: int | None, client_order_id: str | None) -> Order | None:
        """Return the live order of ``account`` named by id or client order id, or None."""
        if order_id is None:
            if client_order_id is None:
                return None
            order_id = self.client_order_ids.get(account, {}).get(client_order_id)
            if order_id is None:
                return None
        order = self.orders.get(order_id)
        if order is None or order.account != account:
            return None
        return order

    def __len__(self) -> int:
        return len(self.orders)

    # ------------------------------------------------------------------ commands
    def set_state(self, state: str) -> list[BookEvent]:
        """Change the market state: ``open``, ``halted`` (cancels only) or ``close_only``.

        Resting orders stay in the book through a halt, as on the large futures venues.
        """
        if state not in MARKET_STATES:
            return [Rejected(Reject.INVALID_STATE, f"unknown market state {state!r}")]
        self.state = MARKET_STATES[MARKET_STATES.index(state)]
        return [StateChanged(self.state)]

    def set_reference(self, price_ticks: int | None) -> None:
        """Set the reference price (the Venue's mark), or None to fall back to the last trade."""
        self.reference_ticks = price_ticks
        self._update_band()

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
        stp: int = STP_CANCEL_RESTING,
    ) -> list[BookEvent]:
        """Validate, match and (for a GTC limit order) rest a new order.

        ``order_id`` must be unique in the venue (the Venue uses the sequence number of
        the command). Market orders (``price=None``) never rest: whatever the time in
        force they behave as IOC (or FOK when asked), and never fill beyond the
        market-protection distance from the reference price.
        """
        if (
            self.state is OPEN
            and order_type == LIMIT
            and tif != FOK
            and not post_only
            and price is not None
            and self._band_lo <= price <= self._band_hi
            and 0 < qty <= self.max_order_lots
            and price > 0
        ):
            # Fast path: a plain GTC or IOC limit order that passes every check but the
            # client order id. The general path below handles everything else.
            mine = self.client_order_ids.get(account)
            if mine is None:
                mine = self.client_order_ids[account] = {}
            elif client_order_id in mine:
                return [self._duplicate(account, client_order_id)]
            mine[client_order_id] = order_id
            out: list[BookEvent] = [Accepted(order_id, account, side, price, qty)]
            order = Order(
                order_id, account, client_order_id, side, price, qty, qty, LIMIT, tif, False, reduce_only, stp
            )
            if side == BUY:
                heap = self._ask_heap
                if heap and heap[0] <= price:
                    self._finish(order, price, self._match(order, price, out), out)
                    return out
                if tif != GTC:
                    out.append(Cancelled(order_id, account, qty, _IOC_REMAINDER))
                    return out
                levels = self._bids
                level = levels.get(price)
                if level is None:
                    level = levels[price] = Level(deque())
                    heappush(self._bid_heap, -price)
            else:
                heap = self._bid_heap
                if heap and -heap[0] >= price:
                    self._finish(order, price, self._match(order, price, out), out)
                    return out
                if tif != GTC:
                    out.append(Cancelled(order_id, account, qty, _IOC_REMAINDER))
                    return out
                levels = self._asks
                level = levels.get(price)
                if level is None:
                    level = levels[price] = Level(deque())
                    heappush(self._ask_heap, price)
            level.orders.append(order)
            level.count += 1
            level.total += qty
            self.orders[order_id] = order
            return out
        return self._place_general(
            Order(
                order_id, account, client_order_id, side, price, qty, qty, order_type, tif, post_only, reduce_only, stp
            )
        )

    def _place_general(self, order: Order) -> list[BookEvent]:
        rejection = self._validate(order)
        if rejection is not None:
            return [rejection]
        side = order.side
        account = order.account
        order_id = order.order_id
        qty = order.qty
        limit = order.price if order.order_type == LIMIT else self._protection_limit(side)
        mine = self.client_order_ids.get(account)
        if mine is None:
            mine = self.client_order_ids[account] = {}
        mine[order.client_order_id] = order_id
        out: list[BookEvent] = [Accepted(order_id, account, side, order.price, qty)]
        if limit is None:
            order.open_qty = 0
            out.append(Cancelled(order_id, account, qty, Cancel.NO_LIQUIDITY))
            return out
        if order.tif == FOK and not self._can_fill(order, limit):
            order.open_qty = 0
            out.append(Cancelled(order_id, account, qty, Cancel.FOK_NOT_FILLED))
            return out
        self._finish(order, limit, self._match(order, limit, out), out)
        return out

    def _validate(self, order: Order) -> Rejected | None:
        """Every check an incoming order must pass, in a fixed order; None if it passes."""
        state = self.state
        if state == HALTED:
            return Rejected(Reject.MARKET_HALTED, f"{self.market} is halted: only cancels are accepted")
        if state == CLOSE_ONLY and not order.reduce_only:
            return Rejected(Reject.MARKET_CLOSE_ONLY, f"{self.market} is close-only: send a reduce-only order")
        qty = order.qty
        if qty <= 0:
            return Rejected(Reject.NON_POSITIVE, "qty must be positive")
        if qty > self.max_order_lots:
            return Rejected(
                Reject.MAX_ORDER_SIZE,
                f"qty {self.qty_text(qty)} is above the maximum order size {self.qty_text(self.max_order_lots)}",
            )
        price = order.price
        if order.order_type == LIMIT:
            if price is None:
                return Rejected(Reject.PRICE_REQUIRED, "a limit order needs a price")
            if price <= 0:
                return Rejected(Reject.NON_POSITIVE, "price must be positive")
            if not self._band_lo <= price <= self._band_hi:
                return self._band_rejection(price)
        else:
            if price is not None:
                return Rejected(Reject.PRICE_NOT_ALLOWED, "a market order takes no price")
            if order.post_only:
                return Rejected(Reject.POST_ONLY_NOT_LIMIT, "post-only applies to limit orders only")
        if order.post_only:
            if order.tif != GTC:
                return Rejected(Reject.POST_ONLY_NOT_LIMIT, "post-only orders must be GTC")
            assert price is not None
            if self._would_take(order.side, price):
                return Rejected(
                    Reject.POST_ONLY_WOULD_TAKE, f"post-only order at {self.price_text(price)} would take liquidity"
                )
        coids = self.client_order_ids.get(order.account)
        if coids is not None and order.client_order_id in coids:
            return self._duplicate(order.account, order.client_order_id)
        return None

    def _duplicate(self, account: str, client_order_id: str) -> Rejected:
        return Rejected(
            Reject.DUPLICATE_CLIENT_ORDER_ID,
            f"client order id {client_order_id!r} was already used by account {account}",
        )

    def _finish(self, order: Order, limit: int, stopped: str | None, out: list[BookEvent]) -> None:
        """After matching: rest, or cancel the remainder with the reason that applies."""
        rest = order.open_qty
        if not rest:
            return
        if stopped is not None:
            reason = stopped
        elif order.order_type == MARKET:
            more = (self.best_ask() if order.side == BUY else self.best_bid()) is not None
            reason = Cancel.MARKET_PROTECTION if more else Cancel.NO_LIQUIDITY
        elif order.tif == GTC:
            self._rest(order)
            return
        else:
            reason = _IOC_REMAINDER
        order.open_qty = 0
        out.append(Cancelled(order.order_id, order.account, rest, reason))

    def cancel(self, account: str, order_id: int | None = None, client_order_id: str | None = None) -> list[BookEvent]:
        """Cancel one live order of ``account`` by order id or client order id. O(1)."""
        order = self.orders.get(order_id) if order_id is not None else None
        if order is None or order.account != account:
            if order_id is None and client_order_id is None:
                return [Rejected(Reject.ORDER_ID_REQUIRED, "name the order by order_id or client_order_id")]
            order = self.find(account, order_id, client_order_id)
            if order is None:
                which = order_id if order_id is not None else client_order_id
                return [
                    Rejected(Reject.UNKNOWN_ORDER, f"no open order {which!r} of account {account} in {self.market}")
                ]
        qty = order.open_qty
        self._remove(order)
        return [Cancelled(order.order_id, account, qty, _USER)]

    def cancel_all(self, account: str, reason: str = Cancel.CANCEL_ALL) -> list[BookEvent]:
        """Cancel every live order of ``account`` in this book, oldest first. O(orders)."""
        out: list[BookEvent] = []
        for order in self.open_orders(account):
            qty = order.open_qty
            self._remove(order)
            out.append(Cancelled(order.order_id, account, qty, reason))
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
        """Amend a live limit order's price and/or total quantity.

        ``qty`` is the new total ordered quantity; it must stay above what has already
        filled. A smaller quantity at the same price keeps time priority; a new price or
        a larger quantity loses it, and a new price may match at once like a new order.
        """
        if order_id is None and client_order_id is None:
            return [Rejected(Reject.ORDER_ID_REQUIRED, "name the order by order_id or client_order_id")]
        if self.state == HALTED:
            return [Rejected(Reject.MARKET_HALTED, f"{self.market} is halted: only cancels are accepted")]
        order = self.find(account, order_id, client_order_id)
        if order is None:
            which = order_id if order_id is not None else client_order_id
            return [Rejected(Reject.UNKNOWN_ORDER, f"no open order {which!r} of account {account} in {self.market}")]
        assert order.price is not None  # only limit orders rest
        new_price = order.price if price is None else price
        new_qty = order.qty if qty is None else qty
        if new_price == order.price and new_qty == order.qty:
            return [Rejected(Reject.AMEND_NOTHING, "the amendment changes neither price nor quantity")]
        if new_qty <= 0 or new_price <= 0:
            return [Rejected(Reject.NON_POSITIVE, "price and qty must be positive")]
        filled = order.qty - order.open_qty
        if new_qty <= filled:
            return [
                Rejected(
                    Reject.AMEND_QTY_NOT_ABOVE_FILLED,
                    f"new qty {self.qty_text(new_qty)} must exceed the {self.qty_text(filled)} already filled; "
                    "cancel instead",
                )
            ]
        if new_qty > self.max_order_lots:
            return [
                Rejected(
                    Reject.MAX_ORDER_SIZE,
                    f"qty {self.qty_text(new_qty)} is above the maximum order size "
                    f"{self.qty_text(self.max_order_lots)}",
                )
            ]
        loses_priority = new_qty > order.qty or new_price != order.price
        if self.state == CLOSE_ONLY and loses_priority and not order.reduce_only:
            return [Rejected(Reject.MARKET_CLOSE_ONLY, f"{self.market} is close-only: only reductions are accepted")]
        if new_price != order.price:
            if not self._band_lo <= new_price <= self._band_hi:
                return [self._band_rejection(new_price)]
            if order.post_only and self._would_take(order.side, new_price):
                return [Rejected(Reject.POST_ONLY_WOULD_TAKE, "the new price would take liquidity")]

        new_open = new_qty - filled
        if not loses_priority:
            level = (self._bids if order.side == BUY else self._asks)[new_price]
            level.total -= order.open_qty - new_open
            order.open_qty = new_open
            order.qty = new_qty
            return [Amended(order.order_id, account, new_price, new_qty, new_open, True)]
        self._remove(order)
        replacement = Order(
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
        self._finish(replacement, new_price, self._match(replacement, new_price, out), out)
        return out

    # ------------------------------------------------------------------ internals
    def _update_band(self) -> None:
        ref = self.reference_price()
        if ref is None:
            self._band_lo, self._band_hi = 0, _NO_BAND
            return
        width = (ref * self.price_band_ppb) // PPB  # floor division: the band never widens by rounding
        self._band_lo = ref - width
        self._band_hi = ref + width

    def _band_rejection(self, price: int) -> Rejected:
        return Rejected(
            Reject.PRICE_BAND,
            f"price {self.price_text(price)} is outside the band {self.price_text(self._band_lo)}.."
            f"{self.price_text(self._band_hi)} around the reference {self.price_text(self.reference_price() or 0)}",
        )

    def _would_take(self, side: int, price: int) -> bool:
        best = self.best_ask() if side == BUY else self.best_bid()
        return best is not None and (best <= price if side == BUY else best >= price)

    def protection_limit(self, side: int) -> int | None:
        """The worst price a market order on ``side`` may fill at now, or None if it cannot fill."""
        return self._protection_limit(side)

    def restore_resting(self, order: Order) -> None:
        """Put a resting order back at the end of its level's queue (snapshot restore).

        Orders must be restored in time priority; nothing is matched or validated.
        """
        self._rest(order)

    def restore_prices(self, state: str, reference_ticks: int | None, last_trade_ticks: int | None) -> None:
        """Restore the market state and the prices the band is measured from (snapshot restore)."""
        self.state = MARKET_STATES[MARKET_STATES.index(state)]
        self.reference_ticks = reference_ticks
        self.last_trade_ticks = last_trade_ticks
        self._update_band()

    def _protection_limit(self, side: int) -> int | None:
        """The worst price a market order may fill at, or None if it cannot fill at all.

        Measured from the reference price, or from the best opposite price when there is
        no reference yet (as CME's protection points are); rounded toward the reference.
        """
        ref = self.reference_price()
        if ref is None:
            ref = self.best_ask() if side == BUY else self.best_bid()
            if ref is None:
                return None
        if side == BUY:
            return ref + (ref * self.market_protection_ppb) // PPB  # floor: never beyond the distance
        return ref - (ref * self.market_protection_ppb) // PPB

    def _can_fill(self, order: Order, limit: int) -> bool:
        """Whether ``order`` would fill completely now (for fill-or-kill)."""
        need = order.open_qty
        if order.side == BUY:
            book = self._asks
            prices = sorted(p for p, lv in book.items() if lv.count and p <= limit)
        else:
            book = self._bids
            prices = sorted((p for p, lv in book.items() if lv.count and p >= limit), reverse=True)
        account = order.account
        for price in prices:
            for maker in book[price].orders:
                if not maker.open_qty:
                    continue
                if maker.account == account:
                    if order.stp == STP_CANCEL_RESTING:
                        continue
                    return False
                need -= maker.open_qty
                if need <= 0:
                    return True
        return False

    def _match(self, taker: Order, limit: int, out: list[BookEvent]) -> str | None:
        """Match ``taker`` against the opposite side up to ``limit``.

        Returns the cancel reason if self-trade prevention stopped the taker, else None.
        """
        side = taker.side
        qty = taker.open_qty
        account = taker.account
        taker_id = taker.order_id
        orders = self.orders
        if side == BUY:
            heap, levels = self._ask_heap, self._asks
        else:
            heap, levels = self._bid_heap, self._bids
        stopped: str | None = None
        last = None
        while qty and heap:
            price = heap[0] if side == BUY else -heap[0]
            level = levels[price]
            if not level.count:
                heappop(heap)
                del levels[price]
                continue
            if (price > limit) if side == BUY else (price < limit):
                break
            dq = level.orders
            while dq:
                maker = dq[0]
                mq = maker.open_qty
                if not mq:
                    dq.popleft()
                    continue
                maker_account = maker.account
                if maker_account == account:
                    mode = taker.stp
                    if mode == STP_CANCEL_INCOMING:
                        stopped = Cancel.STP_INCOMING
                        break
                    dq.popleft()
                    maker.open_qty = 0
                    level.count -= 1
                    level.total -= mq
                    del orders[maker.order_id]
                    out.append(Cancelled(maker.order_id, maker_account, mq, Cancel.STP_RESTING))
                    if mode == STP_CANCEL_BOTH:
                        stopped = Cancel.STP_INCOMING
                        break
                    continue
                if mq <= qty:
                    qty -= mq
                    level.total -= mq
                    level.count -= 1
                    maker.open_qty = 0
                    dq.popleft()
                    del orders[maker.order_id]
                    out.append(Fill(maker.order_id, taker_id, maker_account, account, price, mq, side))
                    last = price
                    if not qty:
                        break
                else:
                    maker.open_qty = mq - qty
                    level.total -= qty
                    out.append(Fill(maker.order_id, taker_id, maker_account, account, price, qty, side))
                    last = price
                    qty = 0
                    break
            if not level.count:
                dq.clear()
                heappop(heap)
                del levels[price]
            if stopped is not None:
                break
        taker.open_qty = qty
        if last is not None:
            self.last_trade_ticks = last
            if self.reference_ticks is None:
                self._update_band()
        return stopped

    def _rest(self, order: Order) -> None:
        price = order.price
        assert price is not None
        if order.side == BUY:
            levels = self._bids
            level = levels.get(price)
            if level is None:
                level = levels[price] = Level(deque())
                heappush(self._bid_heap, -price)
        else:
            levels = self._asks
            level = levels.get(price)
            if level is None:
                level = levels[price] = Level(deque())
                heappush(self._ask_heap, price)
        level.orders.append(order)
        level.count += 1
        level.total += order.open_qty
        self.orders[order.order_id] = order

    def _remove(self, order: Order) -> None:
        """Take a live order out of the book (lazily from its level's deque).

        A level whose deque holds more than four times its live orders plus 256 is
        compacted, so that orders cancelled behind a long-lived one cannot pile up
        without bound: amortised O(1), and rare enough not to show in the benchmark.
        """
        level = (self._bids if order.side == BUY else self._asks)[order.price]  # type: ignore[index]
        count = level.count - 1
        level.count = count
        level.total -= order.open_qty
        order.open_qty = 0
        orders = level.orders
        if not count:
            orders.clear()
        elif len(orders) > _COMPACT_RATIO * count + _COMPACT_SLACK:
            live = [o for o in orders if o.open_qty]
            orders.clear()
            orders.extend(live)
        del self.orders[order.order_id]

    # ------------------------------------------------------------------ invariants
    def check_invariants(self) -> None:
        """Raise :class:`BookInvariantError` unless the book is consistent.

        Checks: not crossed; every level's count and total equal its live orders; every
        live order rests in exactly one level, at its own price and side, and is in the
        order index; each heap holds each price of its side exactly once; the band is
        the one the reference price gives. Runtime complexity: O(orders + levels).
        """
        seen: set[int] = set()
        for side, levels, heap, sign in ((BUY, self._bids, self._bid_heap, -1), (SELL, self._asks, self._ask_heap, 1)):
            heap_prices = [sign * k for k in heap]
            if len(set(heap_prices)) != len(heap_prices) or set(heap_prices) != set(levels):
                raise BookInvariantError(f"side {side}: heap and levels disagree")
            for price, level in levels.items():
                live = [o for o in level.orders if o.open_qty]
                if len(live) != level.count or sum(o.open_qty for o in live) != level.total:
                    raise BookInvariantError(f"side {side} level {price}: count/total do not match its orders")
                for o in live:
                    if o.side != side or o.price != price:
                        raise BookInvariantError(f"order {o.order_id} sits at the wrong level")
                    if o.order_id in seen:
                        raise BookInvariantError(f"order {o.order_id} rests twice")
                    seen.add(o.order_id)
                    if self.orders.get(o.order_id) is not o:
                        raise BookInvariantError(f"order {o.order_id} rests but is not in the order index")
                    if o.open_qty > o.qty:
                        raise BookInvariantError(f"order {o.order_id} has more open than ordered")
        if seen != set(self.orders):
            raise BookInvariantError("the order index holds orders that do not rest")
        bids = [p for p, lv in self._bids.items() if lv.count]
        asks = [p for p, lv in self._asks.items() if lv.count]
        if bids and asks and max(bids) >= min(asks):
            raise BookInvariantError(f"book crossed: bid {max(bids)} >= ask {min(asks)}")
        band = (self._band_lo, self._band_hi)
        self._update_band()
        if band != (self._band_lo, self._band_hi):
            raise BookInvariantError("the price band does not follow the reference price")
