"""Decoding protocol lines into commands, and encoding commands and events back to JSON."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.core import events as ev
from onshore.core.commands import (
    COMMAND_TYPES,
    AcknowledgeDisclosure,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    Deposit,
    IndexUpdate,
    MalformedCommand,
    OnboardCustomer,
    OpenAccount,
    PlaceOrder,
    PublishDisclosure,
    Quote,
    RegisterMember,
    ReviewCustomer,
    SetAccountLimits,
    SetLeverage,
    SetMarginMode,
    SetMarketState,
    Tick,
    Withdraw,
    decode_command,
    encode_command,
)
from onshore.core.reasons import Reject

PROTOCOL_COMMANDS = {
    "register_member",
    "open_account",
    "deposit",
    "withdraw",
    "set_leverage",
    "set_margin_mode",
    "place_order",
    "cancel_order",
    "amend_order",
    "cancel_all",
    "index_update",
    "tick",
    "set_market_state",
}
# additions documented in docs/protocol.md (the protocol allows more commands)
BROKER_COMMANDS = {
    "onboard_customer",
    "review_customer",
    "acknowledge_disclosure",
    "publish_disclosure",
    "set_account_limits",
}


def line(**fields: Any) -> str:
    return json.dumps(fields)


def tag_of(cls: type[msgspec.Struct]) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


# ----------------------------------------------------------------------------- valid lines
VALID: list[tuple[dict[str, Any], Command]] = [
    (
        {"type": "register_member", "ts": 1, "member": "fcm-a", "capital": "5000000", "default_fund": "1000000"},
        RegisterMember(ts=1, member="fcm-a", capital="5000000", default_fund="1000000"),
    ),
    (
        {"type": "open_account", "ts": 2, "account": "alice", "member": "fcm-a", "segment": "retail"},
        OpenAccount(ts=2, account="alice", member="fcm-a", segment="retail", owner=None),
    ),
    (
        {
            "type": "open_account",
            "ts": 2,
            "account": "alice-2",
            "member": "fcm-a",
            "segment": "qualified",
            "owner": "alice",
        },
        OpenAccount(ts=2, account="alice-2", member="fcm-a", segment="qualified", owner="alice"),
    ),
    (
        {"type": "deposit", "ts": 3, "account": "alice", "amount": "10000.5", "id": "dep-1"},
        Deposit(ts=3, account="alice", amount="10000.5", id="dep-1"),
    ),
    (
        {"type": "withdraw", "ts": 4, "account": "alice", "amount": "0.000001"},
        Withdraw(ts=4, account="alice", amount="0.000001"),
    ),
    (
        {"type": "set_leverage", "ts": 5, "account": "alice", "market": "BTC-PERP", "leverage": "12.5"},
        SetLeverage(ts=5, account="alice", market="BTC-PERP", leverage="12.5"),
    ),
    (
        {"type": "set_margin_mode", "ts": 6, "account": "alice", "market": "BTC-PERP", "mode": "isolated"},
        SetMarginMode(ts=6, account="alice", market="BTC-PERP", mode="isolated"),
    ),
    (
        {
            "type": "place_order",
            "ts": 7,
            "account": "alice",
            "market": "BTC-PERP",
            "client_order_id": "c-1",
            "side": "sell",
            "order_type": "market",
            "qty": "3",
            "time_in_force": "ioc",
            "post_only": False,
            "reduce_only": True,
            "stp": "cancel_both",
        },
        PlaceOrder(
            ts=7,
            account="alice",
            market="BTC-PERP",
            client_order_id="c-1",
            side="sell",
            order_type="market",
            qty="3",
            time_in_force="ioc",
            reduce_only=True,
            stp="cancel_both",
        ),
    ),
    (
        {"type": "cancel_order", "ts": 8, "account": "alice", "market": "BTC-PERP", "order_id": 42},
        CancelOrder(ts=8, account="alice", market="BTC-PERP", order_id=42),
    ),
    (
        {"type": "cancel_order", "ts": 8, "account": "alice", "market": "BTC-PERP", "client_order_id": "c-1"},
        CancelOrder(ts=8, account="alice", market="BTC-PERP", client_order_id="c-1"),
    ),
    (
        {"type": "amend_order", "ts": 9, "account": "alice", "market": "BTC-PERP", "order_id": 42, "qty": "2"},
        AmendOrder(ts=9, account="alice", market="BTC-PERP", order_id=42, qty="2"),
    ),
    (
        {
            "type": "amend_order",
            "ts": 9,
            "account": "alice",
            "market": "ETH-PERP",
            "client_order_id": "c",
            "price": "3000",
        },
        AmendOrder(ts=9, account="alice", market="ETH-PERP", client_order_id="c", price="3000"),
    ),
    (
        {"type": "cancel_all", "ts": 10, "account": "alice"},
        CancelAll(ts=10, account="alice", market=None),
    ),
    (
        {"type": "cancel_all", "ts": 10, "account": "alice", "market": "ETH-PERP"},
        CancelAll(ts=10, account="alice", market="ETH-PERP"),
    ),
    (
        {
            "type": "index_update",
            "ts": 11,
            "index": "BTC-USD",
            "quotes": [
                {"source": "coinbase", "price": "65000.01", "ts": 10},
                {"source": "kraken", "price": "64999.5", "ts": 11},
            ],
        },
        IndexUpdate(
            ts=11,
            index="BTC-USD",
            quotes=[Quote(source="coinbase", price="65000.01", ts=10), Quote(source="kraken", price="64999.5", ts=11)],
        ),
    ),
    (
        {"type": "index_update", "ts": 11, "index": "ETH-USD", "quotes": []},
        IndexUpdate(ts=11, index="ETH-USD", quotes=[]),
    ),
    ({"type": "tick", "ts": 3_600_000}, Tick(ts=3_600_000)),
    ({"type": "tick", "ts": 12, "id": None}, Tick(ts=12, id=None)),
    (
        {"type": "set_market_state", "ts": 13, "market": "BTC-PERP", "state": "close_only"},
        SetMarketState(ts=13, market="BTC-PERP", state="close_only"),
    ),
    (
        {"type": "onboard_customer", "ts": 14, "account": "dave", "member": "fcm-a", "profile": {"name": "Dave"}},
        OnboardCustomer(ts=14, account="dave", member="fcm-a", profile={"name": "Dave"}),
    ),
    (
        {"type": "review_customer", "ts": 15, "account": "dave", "profile": {"name": "Dave"}},
        ReviewCustomer(ts=15, account="dave", profile={"name": "Dave"}),
    ),
    (
        {"type": "acknowledge_disclosure", "ts": 15, "account": "dave", "document": "d", "version": "1"},
        AcknowledgeDisclosure(ts=15, account="dave", document="d", version="1"),
    ),
    (
        {"type": "publish_disclosure", "ts": 16, "document": "d", "version": "2"},
        PublishDisclosure(ts=16, document="d", version="2"),
    ),
    (
        {"type": "set_account_limits", "ts": 17, "account": "dave", "max_leverage": "3", "markets": ["BTC-PERP"]},
        SetAccountLimits(ts=17, account="dave", max_leverage="3", markets=["BTC-PERP"]),
    ),
]


@pytest.mark.parametrize(("fields", "expected"), VALID, ids=[f"{f['type']}-{i}" for i, (f, _) in enumerate(VALID)])
def test_a_valid_line_decodes_to_its_typed_command(fields: dict[str, Any], expected: Command) -> None:
    command = decode_command(line(**fields))
    assert command == expected
    assert type(command) is type(expected)


def test_every_protocol_command_is_decodable_and_covered_here() -> None:
    assert {tag_of(cls) for cls in COMMAND_TYPES} == PROTOCOL_COMMANDS | BROKER_COMMANDS
    assert {type(cmd) for _, cmd in VALID} == set(COMMAND_TYPES)


def test_decode_accepts_bytes_as_well_as_text() -> None:
    text = line(type="deposit", ts=1, account="alice", amount="5")
    assert decode_command(text.encode()) == decode_command(text) == Deposit(ts=1, account="alice", amount="5")


def test_place_order_fills_in_the_protocol_defaults() -> None:
    command = decode_command(
        line(type="place_order", ts=1, account="alice", market="BTC-PERP", client_order_id="c-1", side="buy", qty="1")
    )
    assert isinstance(command, PlaceOrder)
    assert command.order_type == "limit"
    assert command.time_in_force == "gtc"
    assert command.post_only is False
    assert command.reduce_only is False
    assert command.stp == "cancel_resting"
    assert command.price is None
    assert command.id is None


def test_optional_fields_default_to_none() -> None:
    opened = decode_command(line(type="open_account", ts=1, account="a", member="m", segment="retail"))
    cancel = decode_command(line(type="cancel_order", ts=1, account="a", market="BTC-PERP", order_id=1))
    assert isinstance(opened, OpenAccount)
    assert opened.owner is None
    assert isinstance(cancel, CancelOrder)
    assert cancel.client_order_id is None


def test_commands_are_frozen() -> None:
    command = decode_command(line(type="deposit", ts=1, account="alice", amount="5"))
    with pytest.raises(AttributeError):
        command.amount = "5000000"  # type: ignore[misc,union-attr]


# ----------------------------------------------------------------------------- malformed lines
PLACE = {"type": "place_order", "ts": 1, "account": "a", "market": "BTC-PERP", "client_order_id": "c", "side": "buy"}
PLACE_OK = {**PLACE, "qty": "1"}

MALFORMED: list[tuple[str, str | bytes, str]] = [
    # name, line, a word the detail must contain
    ("truncated JSON", '{"type": "tick", "ts": 1', "JSON"),
    ("not JSON at all", "tick 1", "JSON"),
    ("empty line", "", "JSON"),
    ("trailing garbage", '{"type": "tick", "ts": 1} x', "JSON"),
    ("invalid UTF-8", b'{"type": "deposit", "ts": 1, "account": "\xff", "amount": "1"}', "JSON"),
    ("array, not object", "[]", "object"),
    ("string, not object", '"tick"', "object"),
    ("null", "null", "object"),
    ("no type", line(ts=1), "type"),
    ("type not a string", line(type=5, ts=1), "type"),
    ("missing ts", line(type="tick"), "ts"),
    ("missing amount", line(type="deposit", ts=1, account="alice"), "amount"),
    ("missing qty", line(**PLACE), "qty"),
    (
        "missing quote price",
        line(type="index_update", ts=1, index="BTC-USD", quotes=[{"source": "s", "ts": 1}]),
        "price",
    ),
    ("ts as string", line(type="tick", ts="1"), "ts"),
    ("ts as float", line(type="tick", ts=1.5), "ts"),
    ("ts as whole float", '{"type": "tick", "ts": 1.0}', "ts"),
    ("ts in exponent form", '{"type": "tick", "ts": 1e3}', "ts"),
    ("ts as bool", line(type="tick", ts=True), "ts"),
    ("amount as number", line(type="deposit", ts=1, account="alice", amount=100), "amount"),
    ("amount as float", line(type="deposit", ts=1, account="alice", amount=0.1), "amount"),
    ("account null", line(type="deposit", ts=1, account=None, amount="1"), "account"),
    ("qty as number", line(**{**PLACE, "qty": 1}), "qty"),
    ("post_only as string", line(**{**PLACE_OK, "post_only": "false"}), "post_only"),
    ("post_only as 0", line(**{**PLACE_OK, "post_only": 0}), "post_only"),
    ("order_id as string", line(type="cancel_order", ts=1, account="a", market="m", order_id="7"), "order_id"),
    ("quotes not a list", line(type="index_update", ts=1, index="BTC-USD", quotes={"source": "s"}), "quotes"),
    ("unknown field", line(type="tick", ts=1, foo=1), "foo"),
    ("unknown order field", line(**{**PLACE_OK, "leverage": "10"}), "leverage"),
    (
        "unknown quote field",
        line(type="index_update", ts=1, index="BTC-USD", quotes=[{"source": "s", "price": "1", "ts": 1, "venue": "x"}]),
        "venue",
    ),
    ("side long", line(**{**PLACE_OK, "side": "long"}), "side"),
    ("side upper case", line(**{**PLACE_OK, "side": "BUY"}), "side"),
    ("order type stop", line(**{**PLACE_OK, "order_type": "stop"}), "order_type"),
    ("time in force day", line(**{**PLACE_OK, "time_in_force": "day"}), "time_in_force"),
    ("stp none", line(**{**PLACE_OK, "stp": "none"}), "stp"),
    ("margin mode portfolio", line(type="set_margin_mode", ts=1, account="a", market="m", mode="portfolio"), "mode"),
    ("market state closed", line(type="set_market_state", ts=1, market="m", state="closed"), "state"),
]


@pytest.mark.parametrize(("line_", "word"), [(m[1], m[2]) for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_a_malformed_line_raises_malformed_command(line_: str | bytes, word: str) -> None:
    with pytest.raises(MalformedCommand) as caught:
        decode_command(line_)
    assert caught.value.reason == Reject.MALFORMED_COMMAND.value == "malformed_command"
    assert word in caught.value.detail
    assert str(caught.value) == caught.value.detail


@pytest.mark.parametrize("type_", ["place_orders", "PlaceOrder", "Tick", "", "order", "withdrawal", "trade"])
def test_an_unknown_type_raises_unknown_command(type_: str) -> None:
    with pytest.raises(MalformedCommand) as caught:
        decode_command(line(type=type_, ts=1))
    assert caught.value.reason == Reject.UNKNOWN_COMMAND.value == "unknown_command"
    assert repr(type_) in caught.value.detail


def test_malformed_command_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        decode_command("{")


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    "command", [cmd for _, cmd in VALID], ids=[f"{tag_of(type(c))}-{i}" for i, (_, c) in enumerate(VALID)]
)
def test_encode_then_decode_gives_the_same_command(command: Command) -> None:
    encoded = encode_command(command)
    assert decode_command(encoded) == command
    assert json.loads(encoded)["type"] == tag_of(type(command))
    assert b"\n" not in encoded


texts = st.text(max_size=20)
decimal_texts = st.from_regex(r"-?(0|[1-9][0-9]{0,8})(\.[0-9]{1,6})?", fullmatch=True)


@given(
    st.builds(
        PlaceOrder,
        ts=st.integers(min_value=0, max_value=2**63 - 1),
        id=st.none() | texts,
        account=texts,
        market=texts,
        client_order_id=texts,
        side=st.sampled_from(["buy", "sell"]),
        qty=decimal_texts,
        order_type=st.sampled_from(["limit", "market"]),
        price=st.none() | decimal_texts,
        time_in_force=st.sampled_from(["gtc", "ioc", "fok"]),
        post_only=st.booleans(),
        reduce_only=st.booleans(),
        stp=st.sampled_from(["cancel_resting", "cancel_incoming", "cancel_both"]),
    )
)
def test_any_place_order_survives_a_round_trip(command: PlaceOrder) -> None:
    assert decode_command(encode_command(command)) == command


@given(
    st.builds(
        IndexUpdate,
        ts=st.integers(min_value=0, max_value=2**63 - 1),
        index=texts,
        quotes=st.lists(st.builds(Quote, source=texts, price=decimal_texts, ts=st.integers(0, 2**63 - 1)), max_size=5),
    )
)
def test_any_index_update_survives_a_round_trip(command: IndexUpdate) -> None:
    assert decode_command(encode_command(command)) == command


# ----------------------------------------------------------------------------- events
def test_a_trade_encodes_to_json_with_its_type_tag() -> None:
    trade = ev.Trade(
        seq=17,
        ts=1_700_000_000_000,
        cmd=9,
        trade_id="9-1",
        market="BTC-PERP",
        price="65000.5",
        qty="3",
        aggressor_side="buy",
        maker_order_id=4,
        taker_order_id=5,
        maker_account="bob",
        taker_account="alice",
        maker_fee="0.195001",
        taker_fee="0.780006",
    )
    assert json.loads(ev.encode_event(trade)) == {
        "type": "trade",
        "seq": 17,
        "ts": 1_700_000_000_000,
        "cmd": 9,
        "trade_id": "9-1",
        "market": "BTC-PERP",
        "price": "65000.5",
        "qty": "3",
        "aggressor_side": "buy",
        "maker_order_id": 4,
        "taker_order_id": 5,
        "maker_account": "bob",
        "taker_account": "alice",
        "maker_fee": "0.195001",
        "taker_fee": "0.780006",
    }


def test_a_rejection_encodes_its_optional_fields_as_null() -> None:
    rejected = ev.CommandRejected(seq=1, ts=5, cmd=1, reason="malformed_command", detail="not valid JSON")
    decoded = json.loads(ev.encode_event(rejected))
    assert decoded == {
        "type": "command_rejected",
        "seq": 1,
        "ts": 5,
        "cmd": 1,
        "reason": "malformed_command",
        "detail": "not valid JSON",
        "command": None,
        "line": None,
    }
    assert ev.event_to_dict(rejected) == decoded


def test_event_tags_are_the_protocol_names() -> None:
    deposit = ev.DepositMade(seq=2, ts=5, cmd=2, account="alice", amount="10")
    index = ev.IndexPrice(seq=3, ts=5, cmd=3, index="BTC-USD", price="65000", sources_used=["coinbase", "kraken"])
    state = ev.MarketStateChanged(seq=4, ts=5, cmd=4, market="BTC-PERP", state="halted")
    assert ev.event_to_dict(deposit)["type"] == "deposit"
    assert json.loads(ev.encode_event(index))["sources_used"] == ["coinbase", "kraken"]
    assert json.loads(ev.encode_event(state))["type"] == "market_state"


def test_events_are_frozen() -> None:
    deposit = ev.DepositMade(seq=2, ts=5, cmd=2, account="alice", amount="10")
    with pytest.raises(AttributeError):
        deposit.amount = "1000"  # type: ignore[misc]


PROTOCOL_EVENTS: dict[str, set[str]] = {
    "command_rejected": {"reason", "detail"},
    "member_registered": set(),
    "account_opened": set(),
    "deposit": set(),
    "withdrawal": set(),
    "order_accepted": {"order_id", "client_order_id", "account", "market", "side", "price", "qty"},
    "order_cancelled": {"order_id", "reason"},
    "order_amended": set(),
    "trade": {
        "trade_id",
        "market",
        "price",
        "qty",
        "aggressor_side",
        "maker_order_id",
        "taker_order_id",
        "maker_account",
        "taker_account",
        "maker_fee",
        "taker_fee",
    },
    "index_price": {"index", "price", "sources_used"},
    "mark_price": {"market", "price"},
    "funding_rate": {"market", "rate", "rate_8h", "premium", "interest"},
    "funding_payment": {"account", "market", "amount"},
    "settlement": {"market", "price", "account", "amount"},
    "margin_call": {"account", "equity", "maintenance"},
    "liquidation": {"account", "market", "qty", "price", "stage"},
    "loss_absorbed": {"layer", "amount", "account", "member"},
    "auto_deleverage": {"account", "counterparty", "market", "qty", "price"},
    "member_default": {"member"},
    "market_state": {"market", "state"},
}


def _event_classes() -> dict[str, type[ev.Event]]:
    classes = [c for c in vars(ev).values() if isinstance(c, type) and issubclass(c, ev.Event) and c is not ev.Event]
    return {tag_of(c): c for c in classes}


def test_every_protocol_event_exists_with_its_fields() -> None:
    classes = _event_classes()
    missing = set(PROTOCOL_EVENTS) - set(classes)
    assert not missing
    for tag, fields in PROTOCOL_EVENTS.items():
        assert set(classes[tag].__struct_fields__) >= fields | {"seq", "ts", "cmd"}, tag


def test_event_tags_are_unique() -> None:
    classes = [c for c in vars(ev).values() if isinstance(c, type) and issubclass(c, ev.Event) and c is not ev.Event]
    assert len({tag_of(c) for c in classes}) == len(classes)
