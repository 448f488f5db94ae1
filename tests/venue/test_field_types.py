"""Commands built in Python with fields of the wrong type are rejected, never cast.

Decoding from JSON (``decode_command``) checks every field's type, but an adapter or a test
may build a command object directly, and msgspec does not check types then. The Venue reads
the order-flow commands' fields in one call and checks each one itself: a wrong type is a
``command_rejected`` that changes nothing, and the Venue goes on (it must not stop, as it does
on a broken invariant).
"""

from __future__ import annotations

from typing import Any

import pytest

from onshore.core import commands as c
from onshore.core import events as e

from .test_known_bugs import T0, order, rejected, venue_with

BAD_PLACEMENTS: list[tuple[dict[str, Any], str]] = [
    ({"post_only": "yes"}, "malformed_command"),
    ({"reduce_only": 1}, "malformed_command"),
    ({"client_order_id": 7}, "malformed_command"),
    ({"side": ["buy"]}, "malformed_command"),
    ({"qty": 3}, "bad_decimal"),
    ({"price": 65000.5}, "bad_decimal"),
    ({"ts": "1767225600001"}, "malformed_command"),
    ({"account": None}, "malformed_command"),
    ({"market": ["BTC-PERP"]}, "malformed_command"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_PLACEMENTS)
def test_a_placement_with_a_field_of_the_wrong_type_is_rejected(bad: dict[str, Any], reason: str) -> None:
    venue = venue_with(("alice", "retail", "100000"))
    before = venue.state_hash()
    fields: dict[str, Any] = {
        "ts": T0 + 1,
        "account": "alice",
        "market": "BTC-PERP",
        "client_order_id": "a1",
        "side": "buy",
        "price": "64000",
        "qty": "1",
    }
    fields.update(bad)
    events = venue.apply(c.PlaceOrder(**fields))
    assert rejected(events) == reason
    assert venue.state_hash() == before
    # the venue did not stop: the same order with good fields is accepted
    assert rejected(venue.apply(order("alice", "a1", "buy", "64000", "1"))) is None


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"order_id": "1"}, "malformed_command"),
        ({"order_id": 1.0}, "malformed_command"),
        ({"client_order_id": 1}, "malformed_command"),
        ({"account": ["alice"]}, "malformed_command"),
    ],
)
def test_a_cancel_with_a_field_of_the_wrong_type_is_rejected(bad: dict[str, Any], reason: str) -> None:
    venue = venue_with(("alice", "retail", "100000"))
    placed = venue.apply(order("alice", "a1", "buy", "64000", "1"))
    accepted = [ev for ev in placed if isinstance(ev, e.OrderAccepted)]
    assert len(accepted) == 1
    before = venue.state_hash()
    fields: dict[str, Any] = {"ts": T0 + 2, "account": "alice", "market": "BTC-PERP", "order_id": None}
    fields.update(bad)
    events = venue.apply(c.CancelOrder(**fields))
    assert rejected(events) == reason
    assert venue.state_hash() == before
    cancelled = venue.apply(c.CancelOrder(ts=T0 + 2, account="alice", market="BTC-PERP", client_order_id="a1"))
    assert [type(ev) for ev in cancelled] == [e.OrderCancelled]
