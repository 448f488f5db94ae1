"""Order book and matching: price-time priority, order types, self-trade prevention.

Knows nothing of money: prices are integer ticks and quantities integer lots.
``records`` and ``book`` are compiled with mypyc by ``make build`` when a C compiler
is present; the same source runs as plain Python otherwise.
"""

from onshore.book.book import OrderBook
from onshore.book.errors import BookInvariantError
from onshore.book.records import Order

__all__ = ["BookInvariantError", "Order", "OrderBook"]
