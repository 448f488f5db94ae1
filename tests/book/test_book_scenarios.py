"""The order book, scenario by scenario.

Every book here has a maximum order size of 100 lots, a price band of ±10 % and a
market protection of 5 %: with the reference at 1000 ticks, limit orders may be priced
900 to 1100, market buys fill up to 1050 and market sells down to 950. Orders get ids
1, 2, 3, … in the order they are sent (as the Venue's sequence numbers would give
them) and the client order id ``"<account>-<order id>"`` unless a test names one.
Every book's invariants are checked when its test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import onshore.book.events as book_events
from onshore.book import BookInvariantError, Order, OrderBook
from onshore.book.events import Accepted, Amended, BookEvent, Cancelled, Fill, Rejected, StateChanged
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
from onshore.core.reasons import Cancel, Reject

from .reference_book import book_snapshot

MAX_LOTS = 100
BAND_10_PCT = 100_000_000
PROTECTION_5_PCT = 50_000_000
ACCOUNTS = ("alice", "bob", "carol", "dave")
COMPILED = not book_events.__file__.endswith(".py")  # built by mypyc (``make build``)


class Desk:
    """Sends orders to one book with fresh order ids, as the Venue would."""

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        self.last_id = 0

    def place(
        self, account: str, side: int, qty: int, price: int | None, *, coid: str | None = None, **kw: Any
    ) -> list[BookEvent]:
        self.last_id += 1
        kw.setdefault("order_type", MARKET if price is None else LIMIT)
        client_order_id = f"{account}-{self.last_id}" if coid is None else coid
        return self.book.place(self.last_id, account, client_order_id, side, price, qty, **kw)

    def buy(self, account: str, qty: int, price: int | None = None, **kw: Any) -> list[BookEvent]:
        return self.place(account, BUY, qty, price, **kw)

    def sell(self, account: str, qty: int, price: int | None = None, **kw: Any) -> list[BookEvent]:
        return self.place(account, SELL, qty, price, **kw)

    def rest(self, account: str, side: int, qty: int, price: int, **kw: Any) -> int:
        """Place a limit order that must rest whole; return its order id."""
        events = self.place(account, side, qty, price, **kw)
        assert events == [Accepted(self.last_id, account, side, price, qty)]
        return self.last_id


def make_book(**overrides: Any) -> OrderBook:
    params = {"max_order_lots": MAX_LOTS, "price_band_ppb": BAND_10_PCT, "market_protection_ppb": PROTECTION_5_PCT}
    return OrderBook("BTC-PERP", **(params | overrides))


def everything(book: OrderBook) -> dict[str, object]:
    """All a caller can observe of the book, including the client order ids it has seen."""
    return book_snapshot(book, ACCOUNTS) | {"client_order_ids": {a: dict(m) for a, m in book.client_order_ids.items()}}


def resting(book: OrderBook, side: int) -> list[tuple[int, str, int | None, int]]:
    """``(order id, account, price, open qty)`` of one side, in matching priority."""
    return [(o.order_id, o.account, o.price, o.open_qty) for o in book.iter_side(side)]


def rejection(events: list[BookEvent]) -> str:
    """The reason of a lone rejection (fails unless ``events`` is exactly one ``Rejected``)."""
    assert len(events) == 1 and isinstance(events[0], Rejected), events
    return events[0].reason


# ---------------------------------------------------------------------- fixtures
@pytest.fixture
def book() -> Iterator[OrderBook]:
    b = make_book()
    yield b
    b.check_invariants()


@pytest.fixture
def desk(book: OrderBook) -> Desk:
    return Desk(book)


@pytest.fixture
def reference_at_1000(book: OrderBook) -> None:
    book.set_reference(1000)


@pytest.fixture
def bob_offers_5_at_1001_1002_1003(desk: Desk) -> dict[int, int]:
    """Bob's asks, 5 lots at each price (order ids 1, 2, 3): price -> order id."""
    return {price: desk.rest("bob", SELL, 5, price) for price in (1001, 1002, 1003)}


@pytest.fixture
def two_sided(reference_at_1000: None, bob_offers_5_at_1001_1002_1003: dict[int, int], desk: Desk) -> dict[str, int]:
    """Reference 1000; bob offers 1001, 1002, 1003 (ids 1-3), alice bids 999, 998 (ids 4, 5); 5 lots each."""
    bids = {f"alice@{price}": desk.rest("alice", BUY, 5, price) for price in (999, 998)}
    return {f"bob@{p}": i for p, i in bob_offers_5_at_1001_1002_1003.items()} | bids


# ---------------------------------------------------------------------- limit orders
def test_a_limit_order_that_does_not_cross_rests(book: OrderBook, desk: Desk) -> None:
    assert desk.buy("alice", 7, 990) == [Accepted(1, "alice", BUY, 990, 7)]
    assert (book.best_bid(), book.best_ask()) == (990, None)
    assert book.depth(BUY) == [(990, 7, 1)] and book.depth(SELL) == []
    assert [o.order_id for o in book.open_orders("alice")] == [1] and len(book) == 1


def test_a_crossing_limit_order_trades_at_the_resting_price(
    book: OrderBook, desk: Desk, bob_offers_5_at_1001_1002_1003: dict[int, int]
) -> None:
    assert desk.buy("carol", 3, 1002) == [
        Accepted(4, "carol", BUY, 1002, 3),
        Fill(1, 4, "bob", "carol", 1001, 3, BUY),
    ]
    assert book.depth(SELL) == [(1001, 2, 1), (1002, 5, 1), (1003, 5, 1)]
    assert book.last_trade_ticks == 1001


def test_a_limit_order_walks_several_levels_and_rests_the_rest_at_its_price(
    book: OrderBook, desk: Desk, bob_offers_5_at_1001_1002_1003: dict[int, int]
) -> None:
    assert desk.buy("carol", 12, 1002) == [
        Accepted(4, "carol", BUY, 1002, 12),
        Fill(1, 4, "bob", "carol", 1001, 5, BUY),
        Fill(2, 4, "bob", "carol", 1002, 5, BUY),
    ]
    assert book.depth(BUY) == [(1002, 2, 1)]
    assert book.depth(SELL) == [(1003, 5, 1)], "the order never trades beyond its limit"
    assert book.last_trade_ticks == 1002


def test_a_sell_walks_the_bids_from_the_highest(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    assert desk.sell("carol", 8, 998) == [
        Accepted(6, "carol", SELL, 998, 8),
        Fill(two_sided["alice@999"], 6, "alice", "carol", 999, 5, SELL),
        Fill(two_sided["alice@998"], 6, "alice", "carol", 998, 3, SELL),
    ]
    assert book.depth(BUY) == [(998, 2, 1)]


def test_orders_at_one_price_fill_first_in_first_out(book: OrderBook, desk: Desk) -> None:
    first = desk.rest("bob", SELL, 5, 1001)
    second = desk.rest("carol", SELL, 5, 1001)
    third = desk.rest("dave", SELL, 5, 1001)
    better_but_later = desk.rest("dave", SELL, 1, 1000)
    assert desk.buy("alice", 12, 1001) == [
        Accepted(5, "alice", BUY, 1001, 12),
        Fill(better_but_later, 5, "dave", "alice", 1000, 1, BUY),
        Fill(first, 5, "bob", "alice", 1001, 5, BUY),
        Fill(second, 5, "carol", "alice", 1001, 5, BUY),
        Fill(third, 5, "dave", "alice", 1001, 1, BUY),
    ]
    assert resting(book, SELL) == [(third, "dave", 1001, 4)]


def test_a_cancelled_order_in_the_middle_of_a_level_is_skipped(book: OrderBook, desk: Desk) -> None:
    first, middle, last = (desk.rest(account, SELL, 2, 1001) for account in ("bob", "carol", "dave"))
    book.cancel("carol", middle)
    assert book.depth(SELL) == [(1001, 4, 2)]
    assert desk.buy("alice", 3, 1001)[1:] == [
        Fill(first, 4, "bob", "alice", 1001, 2, BUY),
        Fill(last, 4, "dave", "alice", 1001, 1, BUY),
    ]


def test_depth_and_iteration_list_levels_best_first(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    desk.rest("carol", SELL, 2, 1001)
    assert book.depth(SELL) == [(1001, 7, 2), (1002, 5, 1), (1003, 5, 1)]
    assert book.depth(SELL, 2) == [(1001, 7, 2), (1002, 5, 1)]
    assert book.depth(BUY) == [(999, 5, 1), (998, 5, 1)]
    assert [o.order_id for o in book.iter_side(SELL)] == [1, 6, 2, 3]
    assert [o.order_id for o in book.iter_side(BUY)] == [4, 5]
    assert (book.best_bid(), book.best_ask()) == (999, 1001)


def test_a_price_level_that_empties_is_gone_and_can_come_back(book: OrderBook, desk: Desk) -> None:
    only = desk.rest("bob", SELL, 2, 1001)
    desk.rest("bob", SELL, 2, 1003)
    book.cancel("bob", only)
    assert book.best_ask() == 1003 and book.depth(SELL) == [(1003, 2, 1)]
    again = desk.rest("carol", SELL, 1, 1001)
    assert book.best_ask() == 1001
    assert desk.buy("alice", 1, 1001)[1:] == [Fill(again, 4, "carol", "alice", 1001, 1, BUY)]


# ---------------------------------------------------------------------- time in force
@dataclass(frozen=True)
class TifCase:
    """Bob offers 5 lots at 1001, 1002 and 1003; carol buys ``qty`` with limit 1002."""

    name: str
    tif: int
    qty: int
    filled: tuple[int, ...]  # lots filled at 1001, then at 1002
    cancelled: tuple[int, str] | None  # (qty, reason) of the incoming order's cancellation
    rests: int  # lots left resting as carol's bid at 1002


TIF_CASES = [
    TifCase("gtc-fills-completely", GTC, 7, filled=(5, 2), cancelled=None, rests=0),
    TifCase("gtc-rests-the-rest", GTC, 14, filled=(5, 5), cancelled=None, rests=4),
    TifCase("ioc-fills-completely", IOC, 7, filled=(5, 2), cancelled=None, rests=0),
    TifCase("ioc-cancels-the-rest", IOC, 14, filled=(5, 5), cancelled=(4, Cancel.IOC_REMAINDER), rests=0),
    TifCase("fok-fills-exactly-what-is-there", FOK, 10, filled=(5, 5), cancelled=None, rests=0),
    TifCase("fok-one-lot-short-fills-nothing", FOK, 11, filled=(), cancelled=(11, Cancel.FOK_NOT_FILLED), rests=0),
]


@pytest.mark.parametrize("case", TIF_CASES, ids=[c.name for c in TIF_CASES])
def test_time_in_force(
    book: OrderBook, desk: Desk, bob_offers_5_at_1001_1002_1003: dict[int, int], case: TifCase
) -> None:
    expected: list[BookEvent] = [Accepted(4, "carol", BUY, 1002, case.qty)]
    expected += [
        Fill(i, 4, "bob", "carol", p, q, BUY) for i, p, q in zip((1, 2), (1001, 1002), case.filled, strict=False)
    ]
    if case.cancelled is not None:
        expected.append(Cancelled(4, "carol", *case.cancelled))
    assert desk.buy("carol", case.qty, 1002, tif=case.tif) == expected
    assert book.depth(BUY) == ([(1002, case.rests, 1)] if case.rests else [])
    assert sum(total for _, total, _ in book.depth(SELL)) == 15 - sum(case.filled)


def test_an_ioc_that_does_not_cross_is_cancelled_whole(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    before = book_snapshot(book, ACCOUNTS)
    assert desk.sell("carol", 4, 1000, tif=IOC) == [
        Accepted(6, "carol", SELL, 1000, 4),
        Cancelled(6, "carol", 4, Cancel.IOC_REMAINDER),
    ]
    assert book_snapshot(book, ACCOUNTS) == before


def test_a_fok_that_cannot_fill_changes_nothing_but_uses_up_its_client_order_id(
    book: OrderBook, desk: Desk, two_sided: dict[str, int]
) -> None:
    before = book_snapshot(book, ACCOUNTS)
    assert desk.buy("carol", 16, 1003, tif=FOK, coid="all-or-none") == [
        Accepted(6, "carol", BUY, 1003, 16),
        Cancelled(6, "carol", 16, Cancel.FOK_NOT_FILLED),
    ]
    assert book_snapshot(book, ACCOUNTS) == before
    assert rejection(desk.buy("carol", 1, 990, coid="all-or-none")) == Reject.DUPLICATE_CLIENT_ORDER_ID


def test_a_fok_counts_only_what_is_within_its_limit(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    assert desk.buy("carol", 11, 1002, tif=FOK)[1:] == [Cancelled(6, "carol", 11, Cancel.FOK_NOT_FILLED)]
    assert book.depth(SELL) == [(1001, 5, 1), (1002, 5, 1), (1003, 5, 1)]


# ---------------------------------------------------------------------- market orders
def test_a_market_buy_fills_up_to_the_protection_price_and_cancels_the_rest(
    book: OrderBook, desk: Desk, reference_at_1000: None
) -> None:
    near = desk.rest("bob", SELL, 5, 1040)
    edge = desk.rest("bob", SELL, 5, 1050)
    beyond = desk.rest("bob", SELL, 5, 1051)
    assert (book.protection_limit(BUY), book.protection_limit(SELL)) == (1050, 950)
    assert desk.buy("carol", 12) == [
        Accepted(4, "carol", BUY, None, 12),
        Fill(near, 4, "bob", "carol", 1040, 5, BUY),
        Fill(edge, 4, "bob", "carol", 1050, 5, BUY),
        Cancelled(4, "carol", 2, Cancel.MARKET_PROTECTION),
    ]
    assert resting(book, SELL) == [(beyond, "bob", 1051, 5)]


def test_market_protection_rounds_toward_the_reference(book: OrderBook, desk: Desk) -> None:
    book.set_reference(1010)  # 5 % of 1010 is 50.5 ticks: a market sell may go down to 960, not to 959
    at_960 = desk.rest("alice", BUY, 1, 960)
    at_959 = desk.rest("alice", BUY, 1, 959)
    assert desk.sell("carol", 2) == [
        Accepted(3, "carol", SELL, None, 2),
        Fill(at_960, 3, "alice", "carol", 960, 1, SELL),
        Cancelled(3, "carol", 1, Cancel.MARKET_PROTECTION),
    ]
    assert resting(book, BUY) == [(at_959, "alice", 959, 1)]


def test_without_a_reference_protection_is_measured_from_the_best_opposite_price(book: OrderBook, desk: Desk) -> None:
    best = desk.rest("bob", SELL, 1, 1000)
    edge = desk.rest("bob", SELL, 1, 1050)
    beyond = desk.rest("bob", SELL, 1, 1051)
    assert book.reference_price() is None
    assert desk.buy("carol", 3) == [
        Accepted(4, "carol", BUY, None, 3),
        Fill(best, 4, "bob", "carol", 1000, 1, BUY),
        Fill(edge, 4, "bob", "carol", 1050, 1, BUY),
        Cancelled(4, "carol", 1, Cancel.MARKET_PROTECTION),
    ]
    assert resting(book, SELL) == [(beyond, "bob", 1051, 1)]


def test_without_a_set_reference_the_last_trade_price_is_the_reference(book: OrderBook, desk: Desk) -> None:
    desk.rest("bob", SELL, 1, 1000)
    desk.buy("carol", 1, 1000)
    assert book.reference_price() == 1000
    inside = desk.rest("bob", SELL, 1, 1040)
    outside = desk.rest("bob", SELL, 1, 1060)
    assert desk.buy("carol", 2) == [
        Accepted(5, "carol", BUY, None, 2),
        Fill(inside, 5, "bob", "carol", 1040, 1, BUY),
        Cancelled(5, "carol", 1, Cancel.MARKET_PROTECTION),
    ]
    assert resting(book, SELL) == [(outside, "bob", 1060, 1)]


@pytest.mark.parametrize("reference", [None, 1000], ids=["no-reference", "reference"])
def test_a_market_order_into_an_empty_side_is_cancelled_for_no_liquidity(
    book: OrderBook, desk: Desk, reference: int | None
) -> None:
    book.set_reference(reference)
    desk.rest("alice", BUY, 5, 999)
    assert desk.buy("carol", 3) == [Accepted(2, "carol", BUY, None, 3), Cancelled(2, "carol", 3, Cancel.NO_LIQUIDITY)]
    assert book.depth(BUY) == [(999, 5, 1)]


def test_a_market_order_that_empties_the_other_side_cancels_the_rest_for_no_liquidity(
    book: OrderBook, desk: Desk, reference_at_1000: None
) -> None:
    only = desk.rest("bob", SELL, 5, 1001)
    assert desk.buy("carol", 8) == [
        Accepted(2, "carol", BUY, None, 8),
        Fill(only, 2, "bob", "carol", 1001, 5, BUY),
        Cancelled(2, "carol", 3, Cancel.NO_LIQUIDITY),
    ]


@pytest.mark.parametrize("tif", [GTC, IOC], ids=["gtc", "ioc"])
def test_a_market_order_never_rests(book: OrderBook, desk: Desk, two_sided: dict[str, int], tif: int) -> None:
    events = desk.buy("carol", 20, tif=tif)
    assert [type(e) for e in events] == [Accepted, Fill, Fill, Fill, Cancelled]
    assert events[-1] == Cancelled(6, "carol", 5, Cancel.NO_LIQUIDITY)
    assert book.depth(BUY) == [(999, 5, 1), (998, 5, 1)] and book.open_orders("carol") == []


def test_a_market_fok_fills_completely_within_protection(
    book: OrderBook, desk: Desk, two_sided: dict[str, int]
) -> None:
    assert desk.sell("carol", 10, tif=FOK) == [
        Accepted(6, "carol", SELL, None, 10),
        Fill(two_sided["alice@999"], 6, "alice", "carol", 999, 5, SELL),
        Fill(two_sided["alice@998"], 6, "alice", "carol", 998, 5, SELL),
    ]


def test_a_market_fok_that_protection_would_stop_fills_nothing(
    book: OrderBook, desk: Desk, reference_at_1000: None
) -> None:
    desk.rest("bob", SELL, 5, 1040)
    desk.rest("bob", SELL, 5, 1060)
    before = book_snapshot(book, ACCOUNTS)
    assert desk.buy("carol", 6, tif=FOK) == [
        Accepted(3, "carol", BUY, None, 6),
        Cancelled(3, "carol", 6, Cancel.FOK_NOT_FILLED),
    ]
    assert book_snapshot(book, ACCOUNTS) == before


def test_a_market_order_is_held_by_protection_not_by_the_price_band() -> None:
    book = make_book(market_protection_ppb=200_000_000)  # 20 %: wider than the ±10 % band
    desk = Desk(book)
    book.set_reference(1000)
    far = desk.rest("bob", SELL, 1, 1100)
    book.set_reference(950)  # the band is now 855..1045: bob's offer is outside it, but within 20 % protection
    assert desk.buy("carol", 1) == [Accepted(2, "carol", BUY, None, 1), Fill(far, 2, "bob", "carol", 1100, 1, BUY)]
    book.check_invariants()


# ---------------------------------------------------------------------- post-only and reduce-only
def test_a_post_only_order_that_does_not_cross_rests(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    assert desk.buy("carol", 2, 1000, post_only=True) == [Accepted(6, "carol", BUY, 1000, 2)]
    order = book.find("carol", 6, None)
    assert order is not None and order.post_only and book.best_bid() == 1000


@pytest.mark.parametrize("price", [1001, 1003], ids=["at-the-best-ask", "through-the-book"])
def test_a_post_only_order_that_would_take_is_rejected(
    book: OrderBook, desk: Desk, two_sided: dict[str, int], price: int
) -> None:
    before = everything(book)
    assert desk.buy("carol", 2, price, post_only=True) == [
        Rejected(Reject.POST_ONLY_WOULD_TAKE, f"post-only order at {price} would take liquidity")
    ]
    assert everything(book) == before


def test_a_post_only_order_is_rejected_even_when_it_would_meet_its_own_account(
    book: OrderBook, desk: Desk, two_sided: dict[str, int]
) -> None:
    assert rejection(desk.sell("alice", 1, 999, post_only=True)) == Reject.POST_ONLY_WOULD_TAKE
    assert book.depth(BUY) == [(999, 5, 1), (998, 5, 1)], "no self-trade prevention happened"


def test_reduce_only_is_carried_on_the_resting_order_and_through_an_amend(book: OrderBook, desk: Desk) -> None:
    flagged = desk.rest("alice", BUY, 5, 990, reduce_only=True)
    plain = desk.rest("alice", BUY, 5, 989)
    assert [(o.order_id, o.reduce_only) for o in book.open_orders("alice")] == [(flagged, True), (plain, False)]
    assert book.amend("alice", flagged, price=991, qty=6) == [Amended(flagged, "alice", 991, 6, 6, False)]
    assert [(o.order_id, o.price, o.reduce_only) for o in book.open_orders("alice")] == [
        (flagged, 991, True),
        (plain, 989, False),
    ]


# ---------------------------------------------------------------------- cancel and cancel_all
def test_cancel_by_order_id(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    assert book.cancel("bob", 2) == [Cancelled(2, "bob", 5, Cancel.USER)]
    assert book.depth(SELL) == [(1001, 5, 1), (1003, 5, 1)] and len(book) == 4


def test_cancel_by_client_order_id(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    mine = desk.rest("carol", BUY, 3, 997, coid="my-bid")
    assert book.cancel("carol", client_order_id="my-bid") == [Cancelled(mine, "carol", 3, Cancel.USER)]
    assert book.depth(BUY) == [(999, 5, 1), (998, 5, 1)]


def test_cancel_reports_only_the_unfilled_rest(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    desk.buy("carol", 2, 1001)
    assert book.cancel("bob", 1) == [Cancelled(1, "bob", 3, Cancel.USER)]


def test_cancel_is_accepted_while_halted(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    book.set_state("halted")
    assert book.cancel("alice", 4) == [Cancelled(4, "alice", 5, Cancel.USER)]


CANCEL_REJECTIONS = [
    # After: alice cancelled her 998 bid (id 5) and carol's buy (id 6) filled bob's 1001 offer (id 1).
    pytest.param("bob", None, None, Reject.ORDER_ID_REQUIRED, id="names-no-order"),
    pytest.param("bob", 999, None, Reject.UNKNOWN_ORDER, id="unknown-order-id"),
    pytest.param("bob", None, "never-sent", Reject.UNKNOWN_ORDER, id="unknown-client-order-id"),
    pytest.param("carol", 2, None, Reject.UNKNOWN_ORDER, id="another-accounts-order-id"),
    pytest.param("carol", None, "bob-2", Reject.UNKNOWN_ORDER, id="another-accounts-client-order-id"),
    pytest.param("alice", 5, None, Reject.UNKNOWN_ORDER, id="already-cancelled"),
    pytest.param("alice", None, "alice-5", Reject.UNKNOWN_ORDER, id="already-cancelled-by-client-order-id"),
    pytest.param("bob", 1, None, Reject.UNKNOWN_ORDER, id="already-filled"),
    pytest.param("bob", 1, "bob-2", Reject.UNKNOWN_ORDER, id="the-order-id-wins-over-the-client-order-id"),
]


@pytest.mark.parametrize(("account", "order_id", "coid", "reason"), CANCEL_REJECTIONS)
def test_cancel_rejections_change_nothing(
    book: OrderBook,
    desk: Desk,
    two_sided: dict[str, int],
    account: str,
    order_id: int | None,
    coid: str | None,
    reason: str,
) -> None:
    book.cancel("alice", 5)
    desk.buy("carol", 5, 1001)
    before = everything(book)
    assert rejection(book.cancel(account, order_id, coid)) == reason
    assert everything(book) == before


def test_cancel_all_cancels_every_live_order_of_the_account_oldest_first(
    book: OrderBook, desk: Desk, two_sided: dict[str, int]
) -> None:
    book.amend("bob", 1, price=1004)  # loses priority, keeps its id
    desk.buy("carol", 2, 1002)  # bob's 1002 offer now has 3 open
    carols = desk.rest("carol", BUY, 1, 997)
    assert book.cancel_all("bob") == [
        Cancelled(1, "bob", 5, Cancel.CANCEL_ALL),
        Cancelled(2, "bob", 3, Cancel.CANCEL_ALL),
        Cancelled(3, "bob", 5, Cancel.CANCEL_ALL),
    ]
    assert book.depth(SELL) == [] and book.open_orders("bob") == []
    assert [o.order_id for o in book.open_orders("alice")] == [4, 5]
    assert [o.order_id for o in book.open_orders("carol")] == [carols]


def test_cancel_all_without_orders_does_nothing(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    before = everything(book)
    assert book.cancel_all("dave") == []
    assert everything(book) == before


def test_cancel_all_is_accepted_while_halted(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    book.set_state("halted")
    assert [e.order_id for e in book.cancel_all("alice") if isinstance(e, Cancelled)] == [4, 5]
    assert book.depth(BUY) == []


# ---------------------------------------------------------------------- amend
@pytest.fixture
def bob_then_carol_offer_5_at_1001(desk: Desk) -> tuple[int, int]:
    return desk.rest("bob", SELL, 5, 1001), desk.rest("carol", SELL, 5, 1001)


def test_a_smaller_qty_keeps_time_priority(
    book: OrderBook, desk: Desk, bob_then_carol_offer_5_at_1001: tuple[int, int]
) -> None:
    bob, carol = bob_then_carol_offer_5_at_1001
    assert book.amend("bob", bob, qty=3) == [Amended(bob, "bob", 1001, 3, 3, True)]
    assert book.depth(SELL) == [(1001, 8, 2)]
    assert desk.buy("dave", 4, 1001)[1:] == [
        Fill(bob, 3, "bob", "dave", 1001, 3, BUY),
        Fill(carol, 3, "carol", "dave", 1001, 1, BUY),
    ]


def test_a_larger_qty_loses_time_priority(
    book: OrderBook, desk: Desk, bob_then_carol_offer_5_at_1001: tuple[int, int]
) -> None:
    bob, carol = bob_then_carol_offer_5_at_1001
    assert book.amend("bob", bob, qty=8) == [Amended(bob, "bob", 1001, 8, 8, False)]
    assert book.depth(SELL) == [(1001, 13, 2)]
    assert desk.buy("dave", 6, 1001)[1:] == [
        Fill(carol, 3, "carol", "dave", 1001, 5, BUY),
        Fill(bob, 3, "bob", "dave", 1001, 1, BUY),
    ]


def test_a_new_price_loses_time_priority_even_back_at_the_old_price(
    book: OrderBook, desk: Desk, bob_then_carol_offer_5_at_1001: tuple[int, int]
) -> None:
    bob, carol = bob_then_carol_offer_5_at_1001
    assert book.amend("bob", bob, price=1002) == [Amended(bob, "bob", 1002, 5, 5, False)]
    assert book.depth(SELL) == [(1001, 5, 1), (1002, 5, 1)]
    assert book.amend("bob", bob, price=1001, qty=4) == [Amended(bob, "bob", 1001, 4, 4, False)]
    assert resting(book, SELL) == [(carol, "carol", 1001, 5), (bob, "bob", 1001, 4)]


def test_an_amend_that_crosses_trades_and_rests_the_rest(
    book: OrderBook, desk: Desk, two_sided: dict[str, int]
) -> None:
    assert book.amend("alice", 4, price=1001, qty=8) == [
        Amended(4, "alice", 1001, 8, 8, False),
        Fill(1, 4, "bob", "alice", 1001, 5, BUY),
    ]
    assert resting(book, BUY) == [(4, "alice", 1001, 3), (5, "alice", 998, 5)]
    assert book.depth(SELL) == [(1002, 5, 1), (1003, 5, 1)] and book.last_trade_ticks == 1001


def test_an_amend_that_crosses_its_own_account_applies_its_self_trade_prevention(
    book: OrderBook, desk: Desk, two_sided: dict[str, int]
) -> None:
    own_offer = desk.rest("alice", SELL, 2, 1000)
    assert book.amend("alice", 4, price=1000) == [
        Amended(4, "alice", 1000, 5, 5, False),
        Cancelled(own_offer, "alice", 2, Cancel.STP_RESTING),
    ]
    assert book.best_bid() == 1000 and book.best_ask() == 1001


def test_an_amend_counts_what_has_already_filled(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    desk.buy("carol", 2, 1001)  # bob's 1001 offer: 5 ordered, 2 filled, 3 open
    assert book.amend("bob", 1, qty=4) == [Amended(1, "bob", 1001, 4, 2, True)]
    assert book.amend("bob", 1, qty=7) == [Amended(1, "bob", 1001, 7, 5, False)]
    order = book.find("bob", 1, None)
    assert order is not None and (order.qty, order.open_qty) == (7, 5)
    assert book.depth(SELL)[0] == (1001, 5, 1)


def test_amend_by_client_order_id(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    assert book.amend("alice", client_order_id="alice-5", price=997) == [Amended(5, "alice", 997, 5, 5, False)]
    assert book.depth(BUY) == [(999, 5, 1), (997, 5, 1)]


@dataclass(frozen=True)
class AmendRejection:
    """State: ``two_sided``, then carol's post-only bid 2 @ 997 (id 6) and carol's buy 2 @ 1001 (id 7)
    that filled 2 of bob's 1001 offer (id 1); then ``setup``. Expect ``call`` to be rejected with ``reason``."""

    name: str
    call: Callable[[OrderBook], list[BookEvent]]
    reason: str
    setup: Callable[[OrderBook], object] = lambda book: None


AMEND_REJECTIONS = [
    AmendRejection("names-no-order", lambda b: b.amend("bob", qty=3), Reject.ORDER_ID_REQUIRED),
    AmendRejection("unknown-order", lambda b: b.amend("bob", 999, qty=3), Reject.UNKNOWN_ORDER),
    AmendRejection("another-accounts-order", lambda b: b.amend("carol", 2, qty=3), Reject.UNKNOWN_ORDER),
    AmendRejection("filled-order", lambda b: b.amend("carol", 7, qty=3), Reject.UNKNOWN_ORDER),
    AmendRejection("no-change-asked", lambda b: b.amend("bob", 2), Reject.AMEND_NOTHING),
    AmendRejection("same-price-and-qty", lambda b: b.amend("bob", 2, price=1002, qty=5), Reject.AMEND_NOTHING),
    AmendRejection("qty-zero", lambda b: b.amend("bob", 2, qty=0), Reject.NON_POSITIVE),
    AmendRejection("price-zero", lambda b: b.amend("bob", 2, price=0), Reject.NON_POSITIVE),
    AmendRejection("qty-equal-to-filled", lambda b: b.amend("bob", 1, qty=2), Reject.AMEND_QTY_NOT_ABOVE_FILLED),
    AmendRejection("qty-above-max", lambda b: b.amend("bob", 2, qty=MAX_LOTS + 1), Reject.MAX_ORDER_SIZE),
    AmendRejection("price-outside-band", lambda b: b.amend("bob", 2, price=1101), Reject.PRICE_BAND),
    AmendRejection("post-only-would-take", lambda b: b.amend("carol", 6, price=1002), Reject.POST_ONLY_WOULD_TAKE),
    AmendRejection(
        "halted", lambda b: b.amend("bob", 2, qty=3), Reject.MARKET_HALTED, setup=lambda b: b.set_state("halted")
    ),
    AmendRejection(
        "close-only-new-price",
        lambda b: b.amend("bob", 2, price=1004),
        Reject.MARKET_CLOSE_ONLY,
        setup=lambda b: b.set_state("close_only"),
    ),
    AmendRejection(
        "close-only-larger-qty",
        lambda b: b.amend("bob", 2, qty=6),
        Reject.MARKET_CLOSE_ONLY,
        setup=lambda b: b.set_state("close_only"),
    ),
]


@pytest.mark.parametrize("case", AMEND_REJECTIONS, ids=[c.name for c in AMEND_REJECTIONS])
def test_amend_rejections_change_nothing(
    book: OrderBook, desk: Desk, two_sided: dict[str, int], case: AmendRejection
) -> None:
    desk.rest("carol", BUY, 2, 997, post_only=True)
    desk.buy("carol", 2, 1001)
    case.setup(book)
    before = everything(book)
    assert rejection(case.call(book)) == case.reason
    assert everything(book) == before


def test_close_only_allows_an_amend_that_only_reduces(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    book.set_state("close_only")
    assert book.amend("bob", 2, qty=3) == [Amended(2, "bob", 1002, 3, 3, True)]


def test_close_only_allows_any_amend_of_a_reduce_only_order(book: OrderBook, desk: Desk) -> None:
    flagged = desk.rest("alice", SELL, 2, 1005, reduce_only=True)
    book.set_state("close_only")
    assert book.amend("alice", flagged, price=1004, qty=3) == [Amended(flagged, "alice", 1004, 3, 3, False)]


# ---------------------------------------------------------------------- self-trade prevention
@dataclass(frozen=True)
class StpCase:
    """Alice offers 5 @ 1001 (id 1), then bob offers 5 @ 1001 (id 2) and 5 @ 1002 (id 3);
    alice buys 8 @ 1002 (id 4) with ``mode``."""

    name: str
    mode: int
    events: list[BookEvent]
    asks_left: list[tuple[int, str, int | None, int]]


STP_CASES = [
    StpCase(
        "cancel-resting-cancels-alices-offer-and-goes-on",
        STP_CANCEL_RESTING,
        [
            Accepted(4, "alice", BUY, 1002, 8),
            Cancelled(1, "alice", 5, Cancel.STP_RESTING),
            Fill(2, 4, "bob", "alice", 1001, 5, BUY),
            Fill(3, 4, "bob", "alice", 1002, 3, BUY),
        ],
        asks_left=[(3, "bob", 1002, 2)],
    ),
    StpCase(
        "cancel-incoming-cancels-alices-buy",
        STP_CANCEL_INCOMING,
        [Accepted(4, "alice", BUY, 1002, 8), Cancelled(4, "alice", 8, Cancel.STP_INCOMING)],
        asks_left=[(1, "alice", 1001, 5), (2, "bob", 1001, 5), (3, "bob", 1002, 5)],
    ),
    StpCase(
        "cancel-both-cancels-alices-offer-and-buy",
        STP_CANCEL_BOTH,
        [
            Accepted(4, "alice", BUY, 1002, 8),
            Cancelled(1, "alice", 5, Cancel.STP_RESTING),
            Cancelled(4, "alice", 8, Cancel.STP_INCOMING),
        ],
        asks_left=[(2, "bob", 1001, 5), (3, "bob", 1002, 5)],
    ),
]


@pytest.mark.parametrize("case", STP_CASES, ids=[c.name for c in STP_CASES])
def test_self_trade_prevention(book: OrderBook, desk: Desk, case: StpCase) -> None:
    desk.rest("alice", SELL, 5, 1001)
    desk.rest("bob", SELL, 5, 1001)
    desk.rest("bob", SELL, 5, 1002)
    assert desk.buy("alice", 8, 1002, stp=case.mode) == case.events
    assert resting(book, SELL) == case.asks_left
    assert book.depth(BUY) == [], "alice's buy never rests across her own offers"


@pytest.mark.parametrize("mode", [STP_CANCEL_INCOMING, STP_CANCEL_BOTH], ids=["cancel-incoming", "cancel-both"])
def test_self_trade_prevention_keeps_the_fills_before_it(book: OrderBook, desk: Desk, mode: int) -> None:
    bobs = desk.rest("bob", SELL, 3, 1001)
    alices = desk.rest("alice", SELL, 5, 1001)
    events = desk.buy("alice", 8, 1002, stp=mode)
    assert events[:2] == [Accepted(3, "alice", BUY, 1002, 8), Fill(bobs, 3, "bob", "alice", 1001, 3, BUY)]
    assert events[-1] == Cancelled(3, "alice", 5, Cancel.STP_INCOMING)
    assert (Cancelled(alices, "alice", 5, Cancel.STP_RESTING) in events) == (mode == STP_CANCEL_BOTH)


def test_cancel_resting_cancels_every_own_order_it_meets(book: OrderBook, desk: Desk) -> None:
    own_1001 = desk.rest("alice", SELL, 1, 1001)
    own_1002 = desk.rest("alice", SELL, 1, 1002)
    bobs = desk.rest("bob", SELL, 5, 1003)
    assert desk.buy("alice", 2, 1003, tif=IOC) == [
        Accepted(4, "alice", BUY, 1003, 2),
        Cancelled(own_1001, "alice", 1, Cancel.STP_RESTING),
        Cancelled(own_1002, "alice", 1, Cancel.STP_RESTING),
        Fill(bobs, 4, "bob", "alice", 1003, 2, BUY),
    ]


def test_a_market_order_applies_self_trade_prevention(book: OrderBook, desk: Desk, reference_at_1000: None) -> None:
    own = desk.rest("alice", SELL, 1, 1001)
    assert desk.buy("alice", 2, stp=STP_CANCEL_RESTING) == [
        Accepted(2, "alice", BUY, None, 2),
        Cancelled(own, "alice", 1, Cancel.STP_RESTING),
        Cancelled(2, "alice", 2, Cancel.NO_LIQUIDITY),
    ]


@pytest.mark.parametrize(
    ("mode", "fills"),
    [(STP_CANCEL_RESTING, True), (STP_CANCEL_INCOMING, False), (STP_CANCEL_BOTH, False)],
    ids=["cancel-resting-fills", "cancel-incoming-kills", "cancel-both-kills"],
)
def test_a_fok_counts_its_own_orders_as_its_self_trade_prevention_would(
    book: OrderBook, desk: Desk, mode: int, fills: bool
) -> None:
    own = desk.rest("alice", SELL, 5, 1001)
    desk.rest("bob", SELL, 5, 1002)
    events = desk.buy("alice", 5, 1002, tif=FOK, stp=mode)
    if fills:
        assert events[1:] == [Cancelled(own, "alice", 5, Cancel.STP_RESTING), Fill(2, 3, "bob", "alice", 1002, 5, BUY)]
    else:
        assert events[1:] == [Cancelled(3, "alice", 5, Cancel.FOK_NOT_FILLED)]
        assert resting(book, SELL) == [(own, "alice", 1001, 5), (2, "bob", 1002, 5)]


# ---------------------------------------------------------------------- price band
@pytest.mark.parametrize(
    ("side", "price", "accepted"),
    [
        (BUY, 900, True),
        (BUY, 899, False),
        (BUY, 1100, True),
        (SELL, 1100, True),
        (SELL, 1101, False),
        (SELL, 900, True),
    ],
    ids=["buy-900", "buy-899", "buy-1100", "sell-1100", "sell-1101", "sell-900"],
)
def test_the_price_band_around_the_reference(
    book: OrderBook, desk: Desk, reference_at_1000: None, side: int, price: int, accepted: bool
) -> None:
    assert book.band() == (900, 1100)
    events = desk.place("carol", side, 1, price)
    if accepted:
        assert events == [Accepted(1, "carol", side, price, 1)]
    else:
        assert events == [
            Rejected(Reject.PRICE_BAND, f"price {price} is outside the band 900..1100 around the reference 1000")
        ]
        assert len(book) == 0


def test_without_reference_or_trade_there_is_no_band(book: OrderBook, desk: Desk) -> None:
    assert book.band() is None
    desk.rest("alice", BUY, 1, 1)
    desk.rest("bob", SELL, 1, 10**9)


def test_without_a_set_reference_the_band_follows_the_last_trade(book: OrderBook, desk: Desk) -> None:
    desk.rest("bob", SELL, 1, 2000)
    desk.buy("carol", 1, 2000)
    assert book.band() == (1800, 2200)
    assert rejection(desk.sell("bob", 1, 2201)) == Reject.PRICE_BAND
    desk.rest("bob", SELL, 1, 2200)


def test_a_set_reference_overrides_the_last_trade_until_it_is_cleared(book: OrderBook, desk: Desk) -> None:
    desk.rest("bob", SELL, 1, 2000)
    desk.buy("carol", 1, 2000)
    book.set_reference(1000)
    assert book.band() == (900, 1100) and rejection(desk.sell("bob", 1, 2000)) == Reject.PRICE_BAND
    book.set_reference(None)
    assert book.band() == (1800, 2200) and book.reference_price() == 2000
    desk.rest("bob", SELL, 1, 2000)


def test_the_band_moves_with_each_trade_when_no_reference_is_set(book: OrderBook, desk: Desk) -> None:
    desk.rest("bob", SELL, 1, 1000)
    desk.rest("bob", SELL, 1, 1090)
    desk.buy("carol", 2, 1090)  # trades at 1000, then at 1090: the band follows the last
    assert book.last_trade_ticks == 1090 and book.band() == (981, 1199)


# ---------------------------------------------------------------------- market states
def test_set_state_reports_the_new_state(book: OrderBook) -> None:
    assert book.set_state("halted") == [StateChanged("halted")]
    assert book.set_state("close_only") == [StateChanged("close_only")]
    assert book.set_state("open") == [StateChanged("open")]
    assert book.state == "open"


def test_an_unknown_state_is_rejected_and_changes_nothing(book: OrderBook) -> None:
    book.set_state("close_only")
    assert rejection(book.set_state("closed")) == Reject.INVALID_STATE
    assert book.state == "close_only"


@pytest.mark.parametrize(
    "call",
    [
        lambda d: d.buy("carol", 1, 1001),
        lambda d: d.buy("carol", 1, 1001, reduce_only=True),
        lambda d: d.sell("carol", 1),
        lambda d: d.sell("carol", 1, 1010, post_only=True),
        lambda d: d.book.amend("bob", 1, qty=3),
    ],
    ids=["limit", "reduce-only", "market", "post-only", "amend"],
)
def test_a_halted_market_rejects_everything_but_cancels(
    book: OrderBook, desk: Desk, two_sided: dict[str, int], call: Callable[[Desk], list[BookEvent]]
) -> None:
    book.set_state("halted")
    before = everything(book)
    assert rejection(call(desk)) == Reject.MARKET_HALTED
    assert everything(book) == before


def test_resting_orders_survive_a_halt_and_trade_after_it(
    book: OrderBook, desk: Desk, two_sided: dict[str, int]
) -> None:
    book.set_state("halted")
    book.set_state("open")
    assert book.depth(SELL)[0] == (1001, 5, 1)
    assert desk.buy("carol", 1, 1001)[1:] == [Fill(1, 6, "bob", "carol", 1001, 1, BUY)]


def test_close_only_accepts_only_reduce_only_orders(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    book.set_state("close_only")
    before = everything(book)
    assert rejection(desk.buy("carol", 1, 1001)) == Reject.MARKET_CLOSE_ONLY
    assert rejection(desk.sell("carol", 1)) == Reject.MARKET_CLOSE_ONLY
    assert everything(book) == before
    assert desk.buy("carol", 1, 1001, reduce_only=True)[1:] == [Fill(1, 8, "bob", "carol", 1001, 1, BUY)]
    assert desk.sell("carol", 1, reduce_only=True)[1:] == [Fill(4, 9, "alice", "carol", 999, 1, SELL)]
    assert desk.rest("carol", BUY, 1, 990, reduce_only=True) == 10


# ---------------------------------------------------------------------- client order ids
def test_a_client_order_id_is_used_once_per_account_forever(
    book: OrderBook, desk: Desk, two_sided: dict[str, int]
) -> None:
    duplicate = Rejected(Reject.DUPLICATE_CLIENT_ORDER_ID, "client order id 'abc' was already used by account carol")
    first = desk.rest("carol", BUY, 1, 990, coid="abc")
    assert desk.buy("carol", 1, 991, coid="abc") == [duplicate]  # while the first is live
    book.cancel("carol", first)
    assert desk.buy("carol", 1, 991, coid="abc") == [duplicate]  # after it is cancelled
    assert desk.buy("carol", 1, coid="abc") == [duplicate]  # as a market order
    assert desk.sell("carol", 1, 1010, coid="abc", post_only=True) == [duplicate]  # on the other side
    assert [o.order_id for o in book.open_orders("carol")] == []


def test_a_filled_orders_client_order_id_stays_used(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    desk.buy("carol", 1, 1001, coid="abc")
    assert rejection(desk.buy("carol", 1, 1001, coid="abc")) == Reject.DUPLICATE_CLIENT_ORDER_ID


def test_accounts_have_separate_client_order_ids(book: OrderBook, desk: Desk) -> None:
    desk.rest("alice", BUY, 1, 990, coid="abc")
    desk.rest("bob", BUY, 1, 990, coid="abc")
    assert book.cancel("bob", client_order_id="abc") == [Cancelled(2, "bob", 1, Cancel.USER)]
    assert [o.order_id for o in book.open_orders("alice")] == [1]


def test_a_rejected_order_does_not_use_up_its_client_order_id(book: OrderBook, desk: Desk) -> None:
    assert rejection(desk.buy("carol", MAX_LOTS + 1, 990, coid="abc")) == Reject.MAX_ORDER_SIZE
    desk.rest("carol", BUY, 1, 990, coid="abc")


def test_books_sharing_a_registry_share_client_order_ids() -> None:
    registry: dict[str, dict[str, int]] = {}
    params = {"max_order_lots": MAX_LOTS, "price_band_ppb": BAND_10_PCT, "market_protection_ppb": PROTECTION_5_PCT}
    btc = OrderBook("BTC-PERP", client_order_ids=registry, **params)
    eth = OrderBook("ETH-PERP", client_order_ids=registry, **params)
    assert btc.place(1, "carol", "abc", BUY, 990, 1) == [Accepted(1, "carol", BUY, 990, 1)]
    assert rejection(eth.place(2, "carol", "abc", BUY, 990, 1)) == Reject.DUPLICATE_CLIENT_ORDER_ID
    assert rejection(eth.cancel("carol", client_order_id="abc")) == Reject.UNKNOWN_ORDER
    assert registry == {"carol": {"abc": 1}}


# ---------------------------------------------------------------------- every rejection changes nothing
@dataclass(frozen=True)
class PlaceRejection:
    """State: ``two_sided`` plus carol's order with client order id ``"taken"``; then ``setup``."""

    name: str
    order: dict[str, Any]
    reason: str
    setup: Callable[[OrderBook], object] = lambda book: None


PLACE_REJECTIONS = [
    PlaceRejection("qty-zero", {"qty": 0}, Reject.NON_POSITIVE),
    PlaceRejection("qty-negative", {"qty": -3}, Reject.NON_POSITIVE),
    PlaceRejection("qty-above-max", {"qty": MAX_LOTS + 1}, Reject.MAX_ORDER_SIZE),
    PlaceRejection("market-qty-above-max", {"qty": MAX_LOTS + 1, "price": None}, Reject.MAX_ORDER_SIZE),
    PlaceRejection("limit-without-price", {"price": None, "order_type": LIMIT}, Reject.PRICE_REQUIRED),
    PlaceRejection("price-zero", {"price": 0}, Reject.NON_POSITIVE),
    PlaceRejection("price-negative", {"price": -1000}, Reject.NON_POSITIVE),
    PlaceRejection("price-above-band", {"price": 1101}, Reject.PRICE_BAND),
    PlaceRejection("price-below-band", {"price": 899}, Reject.PRICE_BAND),
    PlaceRejection("ioc-price-outside-band", {"price": 1101, "tif": IOC}, Reject.PRICE_BAND),
    PlaceRejection("market-with-a-price", {"price": 1001, "order_type": MARKET}, Reject.PRICE_NOT_ALLOWED),
    PlaceRejection("market-post-only", {"price": None, "post_only": True}, Reject.POST_ONLY_NOT_LIMIT),
    PlaceRejection("post-only-ioc", {"price": 990, "post_only": True, "tif": IOC}, Reject.POST_ONLY_NOT_LIMIT),
    PlaceRejection("post-only-fok", {"price": 990, "post_only": True, "tif": FOK}, Reject.POST_ONLY_NOT_LIMIT),
    PlaceRejection("post-only-would-take", {"price": 1001, "post_only": True}, Reject.POST_ONLY_WOULD_TAKE),
    PlaceRejection("duplicate-client-order-id", {"coid": "taken"}, Reject.DUPLICATE_CLIENT_ORDER_ID),
    PlaceRejection("duplicate-ioc-that-would-trade", {"coid": "taken", "tif": IOC}, Reject.DUPLICATE_CLIENT_ORDER_ID),
    PlaceRejection("duplicate-fok", {"coid": "taken", "tif": FOK}, Reject.DUPLICATE_CLIENT_ORDER_ID),
    PlaceRejection("halted", {}, Reject.MARKET_HALTED, setup=lambda b: b.set_state("halted")),
    PlaceRejection("close-only", {}, Reject.MARKET_CLOSE_ONLY, setup=lambda b: b.set_state("close_only")),
]


@pytest.mark.parametrize("case", PLACE_REJECTIONS, ids=[c.name for c in PLACE_REJECTIONS])
def test_a_rejected_order_changes_nothing(
    book: OrderBook, desk: Desk, two_sided: dict[str, int], case: PlaceRejection
) -> None:
    desk.rest("carol", BUY, 1, 990, coid="taken")
    case.setup(book)
    before = everything(book)
    order: dict[str, Any] = {"qty": 2, "price": 1002} | case.order  # a buy that would trade
    events = desk.buy("carol", order.pop("qty"), order.pop("price"), **order)
    assert rejection(events) == case.reason
    assert everything(book) == before


# ---------------------------------------------------------------------- the invariant check and the events
def test_check_invariants_catches_an_order_changed_behind_the_books_back(
    book: OrderBook, desk: Desk, two_sided: dict[str, int]
) -> None:
    book.check_invariants()
    order = book.find("bob", 2, None)
    assert order is not None
    order.open_qty += 1
    with pytest.raises(BookInvariantError, match="count/total"):
        book.check_invariants()
    order.open_qty -= 1


def test_check_invariants_catches_a_stale_price_band(book: OrderBook, desk: Desk, two_sided: dict[str, int]) -> None:
    book.reference_ticks = 2000  # not through set_reference: the band was not moved
    with pytest.raises(BookInvariantError, match="band"):
        book.check_invariants()


def test_events_compare_by_value_and_cannot_be_changed() -> None:
    fill = Fill(1, 2, "bob", "alice", 1001, 5, BUY)
    assert fill == Fill(1, 2, "bob", "alice", 1001, 5, BUY) and hash(fill) == hash(
        Fill(1, 2, "bob", "alice", 1001, 5, BUY)
    )
    assert fill != Fill(1, 2, "bob", "alice", 1001, 5, SELL)
    assert Cancelled(1, "bob", 5, Cancel.USER) != Rejected("user", "")
    assert fill.as_dict() == {
        "kind": "fill",
        "maker_order_id": 1,
        "taker_order_id": 2,
        "maker_account": "bob",
        "taker_account": "alice",
        "price": 1001,
        "qty": 5,
        "aggressor_side": BUY,
    }
    if COMPILED:  # plain Python (no C compiler at build time) does not enforce ``Final`` at run time
        with pytest.raises(AttributeError):
            fill.qty = 6  # type: ignore[misc]


def test_orders_cancelled_behind_a_long_lived_order_do_not_pile_up(book: OrderBook, desk: Desk) -> None:
    """White-box: a level drops cancelled orders lazily, but its queue stays within a bound of its live
    orders, and the live ones keep their time priority."""
    first = desk.rest("bob", SELL, 1, 1001)
    for i in range(3_000):
        book.cancel("carol", desk.rest("carol", SELL, 1, 1001))
        if i == 1_500:
            middle = desk.rest("dave", SELL, 1, 1001)
    last = desk.rest("carol", SELL, 1, 1001)
    assert book.depth(SELL) == [(1001, 3, 3)]
    assert len(book._asks[1001].orders) < 500
    assert desk.buy("alice", 3, 1001)[1:] == [
        Fill(first, desk.last_id, "bob", "alice", 1001, 1, BUY),
        Fill(middle, desk.last_id, "dave", "alice", 1001, 1, BUY),
        Fill(last, desk.last_id, "carol", "alice", 1001, 1, BUY),
    ]


# ---------------------------------------------------------------------- snapshot restore
def test_a_book_restored_from_its_resting_orders_behaves_as_the_original(
    book: OrderBook, desk: Desk, two_sided: dict[str, int]
) -> None:
    desk.buy("carol", 2, 1001)
    book.amend("bob", 2, qty=3)
    book.amend("bob", 3, qty=8)
    desk.rest("carol", BUY, 1, 999, reduce_only=True, stp=STP_CANCEL_BOTH)
    book.set_state("close_only")
    registry = {account: dict(ids) for account, ids in book.client_order_ids.items()}
    restored = make_book(client_order_ids=registry)
    for side in (BUY, SELL):
        for o in book.iter_side(side):
            restored.restore_resting(
                Order(
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
            )
    restored.restore_prices(book.state, book.reference_ticks, book.last_trade_ticks)
    restored.check_invariants()
    assert everything(restored) == everything(book)
    for b in (book, restored):
        b.set_state("open")
    for call in (
        lambda b: b.place(100, "dave", "d-1", SELL, 998, 9),
        lambda b: b.place(101, "carol", "carol-6", BUY, 990, 1),
        lambda b: b.amend("bob", 3, price=1000),
        lambda b: b.cancel_all("alice"),
    ):
        assert call(restored) == call(book)
    assert everything(restored) == everything(book)
