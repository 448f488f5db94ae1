"""The book's records and constants: orders, price levels, sides, order types.

Compiled with mypyc when a C compiler is present (``make build``); plain classes with
``__slots__`` otherwise. The constants live here, beside the code that reads them, so
the compiler can inline them.
"""

from __future__ import annotations

from collections import deque
from typing import Final

BUY: Final = 0
SELL: Final = 1

LIMIT: Final = 0
MARKET: Final = 1

GTC: Final = 0
IOC: Final = 1
FOK: Final = 2

STP_CANCEL_RESTING: Final = 0
STP_CANCEL_INCOMING: Final = 1
STP_CANCEL_BOTH: Final = 2

SIDES: Final = {"buy": BUY, "sell": SELL}
SIDE_NAMES: Final = ("buy", "sell")
ORDER_TYPES: Final = {"limit": LIMIT, "market": MARKET}
ORDER_TYPE_NAMES: Final = ("limit", "market")
TIME_IN_FORCE: Final = {"gtc": GTC, "ioc": IOC, "fok": FOK}
TIME_IN_FORCE_NAMES: Final = ("gtc", "ioc", "fok")
STP_MODES: Final = {
    "cancel_resting": STP_CANCEL_RESTING,
    "cancel_incoming": STP_CANCEL_INCOMING,
    "cancel_both": STP_CANCEL_BOTH,
}

OPEN: Final = "open"
HALTED: Final = "halted"
CLOSE_ONLY: Final = "close_only"
MARKET_STATES: Final = (OPEN, HALTED, CLOSE_ONLY)


class Order:
    """An order as the book holds it. The book owns it once submitted.

    ``price`` is ``None`` for a market order. ``open_qty`` is what still rests or may
    still fill; ``qty`` is the total ordered (after amendments), so the filled
    quantity is ``qty - open_qty`` while the order lives.
    """

    __slots__ = (
        "account",
        "client_order_id",
        "open_qty",
        "order_id",
        "order_type",
        "post_only",
        "price",
        "qty",
        "reduce_only",
        "side",
        "stp",
        "tif",
    )

    def __init__(
        self,
        order_id: int,
        account: str,
        client_order_id: str,
        side: int,
        price: int | None,
        qty: int,
        open_qty: int,
        order_type: int = LIMIT,
        tif: int = GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        stp: int = STP_CANCEL_RESTING,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.client_order_id = client_order_id
        self.side = side
        self.price = price
        self.qty = qty
        self.open_qty = open_qty
        self.order_type = order_type
        self.tif = tif
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.stp = stp

    def __repr__(self) -> str:
        return (
            f"Order(order_id={self.order_id}, account={self.account!r}, client_order_id={self.client_order_id!r}, "
            f"side={SIDE_NAMES[self.side]}, price={self.price}, qty={self.qty}, open_qty={self.open_qty})"
        )


class Level:
    """One price level: orders in time priority, their count and total open quantity.

    Cancelled orders stay in ``orders`` with ``open_qty == 0`` until they reach the
    front (lazy removal, O(1) cancel) or until they far outnumber the live ones and
    the book compacts the level; ``count`` and ``total`` count live orders only.
    """

    __slots__ = ("count", "orders", "total")

    def __init__(self, orders: deque[Order]) -> None:
        self.orders = orders
        self.count = 0
        self.total = 0
