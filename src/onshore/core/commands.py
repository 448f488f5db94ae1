"""Commands: what adapters ask the Venue to do (docs/protocol.md).

Each command is a frozen msgspec Struct whose ``type`` tag is its protocol name.
Decimal values stay decimal strings here, exactly as on the wire; the Venue converts
them to integer units with the market's grid and rejects anything off the grid.
``decode_command`` turns one JSON line into a command or raises
:class:`MalformedCommand` with a sentence a person can act on.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class Command(msgspec.Struct, frozen=True, tag_field="type", kw_only=True, forbid_unknown_fields=True):
    """Base of every command: venue time in ms and an optional idempotency key."""

    ts: int
    id: str | None = None


# ----------------------------------------------------------------- members and accounts
class RegisterMember(Command, frozen=True, tag="register_member"):
    member: str
    capital: str
    default_fund: str


class OpenAccount(Command, frozen=True, tag="open_account"):
    account: str
    member: str
    segment: str
    owner: str | None = None


class OnboardCustomer(Command, frozen=True, tag="onboard_customer"):
    account: str
    member: str
    profile: dict[str, Any]
    owner: str | None = None


class ReviewCustomer(Command, frozen=True, tag="review_customer"):
    account: str
    profile: dict[str, Any]


class AcknowledgeDisclosure(Command, frozen=True, tag="acknowledge_disclosure"):
    account: str
    document: str
    version: str


class PublishDisclosure(Command, frozen=True, tag="publish_disclosure"):
    document: str
    version: str


class SetAccountLimits(Command, frozen=True, tag="set_account_limits"):
    account: str
    max_leverage: str | None = None
    max_position_notional: str | None = None
    markets: list[str] | None = None


class Deposit(Command, frozen=True, tag="deposit"):
    account: str
    amount: str


class Withdraw(Command, frozen=True, tag="withdraw"):
    account: str
    amount: str


class SetLeverage(Command, frozen=True, tag="set_leverage"):
    account: str
    market: str
    leverage: str


class SetMarginMode(Command, frozen=True, tag="set_margin_mode"):
    account: str
    market: str
    mode: Literal["cross", "isolated"]


# ----------------------------------------------------------------------------- trading
Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market"]
TimeInForce = Literal["gtc", "ioc", "fok"]
Stp = Literal["cancel_resting", "cancel_incoming", "cancel_both"]


class PlaceOrder(Command, frozen=True, tag="place_order"):
    account: str
    market: str
    client_order_id: str
    side: Side
    qty: str
    order_type: OrderType = "limit"
    price: str | None = None
    time_in_force: TimeInForce = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    stp: Stp = "cancel_resting"


class CancelOrder(Command, frozen=True, tag="cancel_order"):
    account: str
    market: str
    order_id: int | None = None
    client_order_id: str | None = None


class AmendOrder(Command, frozen=True, tag="amend_order"):
    account: str
    market: str
    order_id: int | None = None
    client_order_id: str | None = None
    price: str | None = None
    qty: str | None = None


class CancelAll(Command, frozen=True, tag="cancel_all"):
    account: str
    market: str | None = None


# ---------------------------------------------------------------------- prices and time
class Quote(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    source: str
    price: str
    ts: int


class IndexUpdate(Command, frozen=True, tag="index_update"):
    index: str
    quotes: list[Quote]


class Tick(Command, frozen=True, tag="tick"):
    pass


class SetMarketState(Command, frozen=True, tag="set_market_state"):
    market: str
    state: Literal["open", "halted", "close_only"]


AnyCommand = (
    RegisterMember
    | OpenAccount
    | OnboardCustomer
    | ReviewCustomer
    | AcknowledgeDisclosure
    | PublishDisclosure
    | SetAccountLimits
    | Deposit
    | Withdraw
    | SetLeverage
    | SetMarginMode
    | PlaceOrder
    | CancelOrder
    | AmendOrder
    | CancelAll
    | IndexUpdate
    | Tick
    | SetMarketState
)

COMMAND_TYPES: tuple[type[Command], ...] = (
    RegisterMember,
    OpenAccount,
    OnboardCustomer,
    ReviewCustomer,
    AcknowledgeDisclosure,
    PublishDisclosure,
    SetAccountLimits,
    Deposit,
    Withdraw,
    SetLeverage,
    SetMarginMode,
    PlaceOrder,
    CancelOrder,
    AmendOrder,
    CancelAll,
    IndexUpdate,
    Tick,
    SetMarketState,
)

_decoder = msgspec.json.Decoder(AnyCommand)


class MalformedCommand(ValueError):
    """A line that is not a valid command. ``reason`` is a stable reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def decode_command(line: str | bytes) -> AnyCommand:
    """Decode one JSON line into a typed command, or raise :class:`MalformedCommand`."""
    try:
        command: AnyCommand = _decoder.decode(line)
        return command
    except msgspec.ValidationError as exc:
        text = str(exc)
        if "Invalid value" in text and "`$.type`" in text:
            return _raise("unknown_command", f"unknown command type: {text}")
        return _raise("malformed_command", text)
    except msgspec.DecodeError as exc:
        return _raise("malformed_command", f"not valid JSON: {exc}")
    except UnicodeDecodeError as exc:  # msgspec raises it for bad bytes inside a JSON string
        return _raise("malformed_command", f"not valid JSON: not UTF-8 ({exc})")


def _raise(reason: str, detail: str) -> AnyCommand:
    raise MalformedCommand(reason, detail)


def encode_command(command: Command) -> bytes:
    """Encode a command as one JSON object (no newline)."""
    return msgspec.json.encode(command)
