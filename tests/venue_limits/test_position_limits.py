"""Hard position limits, aggregated by beneficial owner across accounts (issue 9, item 3).

State: one owner ("olga") with two retail accounts at one member, a market maker to trade
against, a BTC-PERP limit of 15 contracts for retail owners. Parameters: orders on either
account, open and filled. Expectation: the owner's worst case on a side — positions plus open
orders of both accounts, plus the new order — never exceeds the limit; reducing is never
refused; other owners are not affected.
"""

from __future__ import annotations

import pytest

from onshore.config.load import load_config
from onshore.core import commands as c
from onshore.core import events as e
from onshore.venue import Venue

T0 = 1_767_225_600_000
CONFIG = '[markets.BTC-PERP.position_limits]\nretail = "15"\ndefault = "1000"\n'


@pytest.fixture
def venue() -> Venue:
    v = Venue(load_config(CONFIG))
    v.apply(c.RegisterMember(ts=T0, member="f1", capital="1000000", default_fund="100000"))
    for account, owner, segment in (
        ("o-a1", "olga", "retail"),
        ("o-a2", "olga", "retail"),
        ("mm", "mm", "market_maker"),
    ):
        v.apply(c.OpenAccount(ts=T0, account=account, member="f1", segment=segment, owner=owner))
        v.apply(c.Deposit(ts=T0, account=account, amount="1000000"))
    return v


def place(v: Venue, account: str, coid: str, side: str, qty: int, price: str = "60000", **kw: object) -> list[e.Event]:
    return v.apply(
        c.PlaceOrder(
            ts=T0 + 1, account=account, market="BTC-PERP", client_order_id=coid, side=side, price=price, qty=str(qty),
            **kw,  # type: ignore[arg-type]
        )
    )  # fmt: skip


def rejected(events: list[e.Event]) -> str | None:
    return next((ev.reason for ev in events if isinstance(ev, e.CommandRejected)), None)


def test_open_orders_of_both_accounts_count_toward_the_owners_limit(venue: Venue) -> None:
    assert rejected(place(venue, "o-a1", "1", "buy", 10)) is None
    assert rejected(place(venue, "o-a2", "2", "buy", 5)) is None  # 15: at the limit
    assert rejected(place(venue, "o-a2", "3", "buy", 1)) == "position_limit"  # 16 across two accounts


def test_filled_positions_count_too_and_reducing_is_never_refused(venue: Venue) -> None:
    place(venue, "mm", "ask", "sell", 100, post_only=True)
    assert rejected(place(venue, "o-a1", "1", "buy", 15, time_in_force="ioc")) is None  # long 15, filled
    assert venue.accounts["o-a1"].holdings["BTC-PERP"].qty == 15
    assert rejected(place(venue, "o-a2", "2", "buy", 1, time_in_force="ioc")) == "position_limit"
    # selling 20 against the owner's long 15 leaves a worst-case short of 5: allowed
    assert rejected(place(venue, "o-a2", "3", "sell", 20, price="61000")) is None


def test_the_short_side_has_its_own_worst_case(venue: Venue) -> None:
    assert rejected(place(venue, "o-a1", "1", "sell", 15, price="61000")) is None
    assert rejected(place(venue, "o-a2", "2", "sell", 1, price="61000")) == "position_limit"
    assert rejected(place(venue, "o-a2", "3", "buy", 15)) is None  # the long side is empty


def test_an_amendment_cannot_grow_past_the_limit(venue: Venue) -> None:
    place(venue, "o-a1", "1", "buy", 10)
    place(venue, "o-a2", "2", "buy", 5)
    events = venue.apply(c.AmendOrder(ts=T0 + 2, account="o-a2", market="BTC-PERP", client_order_id="2", qty="6"))
    assert rejected(events) == "position_limit"
    events = venue.apply(c.AmendOrder(ts=T0 + 2, account="o-a2", market="BTC-PERP", client_order_id="2", qty="4"))
    assert rejected(events) is None  # a smaller order is always fine


def test_another_owner_is_not_affected(venue: Venue) -> None:
    place(venue, "o-a1", "1", "buy", 15)
    assert rejected(place(venue, "mm", "2", "buy", 500)) is None  # market makers use the default limit
