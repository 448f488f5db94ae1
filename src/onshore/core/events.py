"""Events: what happened, in past tense (docs/protocol.md).

Every event carries ``seq`` (gap-free over all events), ``ts`` (venue time once the
command that caused it was applied: a rejected command does not advance it) and ``cmd``
(that command's sequence number). Decimal values
are strings, as on the wire. Events are frozen msgspec Structs: cheap to build,
impossible to change, and encoded to JSON Lines by :func:`encode_event`.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Event(msgspec.Struct, frozen=True, tag_field="type", kw_only=True, gc=False):
    """Base of every event."""

    seq: int
    ts: int
    cmd: int


class CommandRejected(Event, frozen=True, tag="command_rejected"):
    reason: str
    detail: str
    command: str | None = None
    line: int | None = None


class MemberRegistered(Event, frozen=True, tag="member_registered"):
    member: str
    capital: str
    default_fund: str


class Disclosure(msgspec.Struct, frozen=True):
    document: str
    version: str


class AccountOpened(Event, frozen=True, tag="account_opened"):
    account: str
    member: str
    segment: str
    owner: str
    max_leverage: str
    max_position_notional: str
    markets: list[str]
    disclosures: list[Disclosure] = msgspec.field(default_factory=list)
    review_due: int | None = None
    assessment: list[str] = msgspec.field(default_factory=list)


class OnboardingFinding(msgspec.Struct, frozen=True):
    reason: str
    detail: str
    field: str | None = None


class OnboardingRejected(Event, frozen=True, tag="onboarding_rejected"):
    account: str
    member: str
    findings: list[OnboardingFinding]


class CustomerReviewed(Event, frozen=True, tag="customer_reviewed"):
    account: str
    segment: str
    max_leverage: str
    max_position_notional: str
    review_due: int
    assessment: list[str]


class ReviewRejected(Event, frozen=True, tag="review_rejected"):
    account: str
    findings: list[OnboardingFinding]


class DisclosureAcknowledged(Event, frozen=True, tag="disclosure_acknowledged"):
    account: str
    document: str
    version: str
    sha256: str | None


class DisclosurePublished(Event, frozen=True, tag="disclosure_published"):
    document: str
    version: str
    sha256: str | None


class AccountLimitsSet(Event, frozen=True, tag="account_limits_set"):
    account: str
    max_leverage: str
    max_position_notional: str
    markets: list[str]


class DepositMade(Event, frozen=True, tag="deposit"):
    account: str
    amount: str


class Withdrawal(Event, frozen=True, tag="withdrawal"):
    account: str
    amount: str


class LeverageSet(Event, frozen=True, tag="leverage_set"):
    account: str
    market: str
    leverage: str
    requested: str | None = None
    capped_by: str | None = None  # "account" (segment or customer cap) or "tier"


class MarginModeSet(Event, frozen=True, tag="margin_mode_set"):
    account: str
    market: str
    mode: str


class OrderAccepted(Event, frozen=True, tag="order_accepted"):
    order_id: int
    client_order_id: str
    account: str
    market: str
    side: str
    price: str | None
    qty: str
    order_type: str
    time_in_force: str
    post_only: bool
    reduce_only: bool


class OrderCancelled(Event, frozen=True, tag="order_cancelled"):
    order_id: int
    client_order_id: str
    account: str
    market: str
    reason: str
    qty: str


class OrderAmended(Event, frozen=True, tag="order_amended"):
    order_id: int
    client_order_id: str
    account: str
    market: str
    price: str | None
    qty: str
    open_qty: str
    kept_priority: bool


class Trade(Event, frozen=True, tag="trade"):
    trade_id: str
    market: str
    price: str
    qty: str
    aggressor_side: str
    maker_order_id: int
    taker_order_id: int
    maker_account: str
    taker_account: str
    maker_fee: str
    taker_fee: str


class IndexPrice(Event, frozen=True, tag="index_price"):
    index: str
    price: str
    sources_used: list[str]


class IndexStale(Event, frozen=True, tag="index_stale"):
    index: str
    sources_used: list[str]
    left_out: list[str]


class MarkPrice(Event, frozen=True, tag="mark_price"):
    market: str
    price: str


class FundingRate(Event, frozen=True, tag="funding_rate"):
    market: str
    rate: str
    rate_8h: str
    premium: str
    interest: str
    funding_time: int
    mark_price: str


class FundingPayment(Event, frozen=True, tag="funding_payment"):
    account: str
    market: str
    amount: str


class Settlement(Event, frozen=True, tag="settlement"):
    market: str
    price: str
    account: str
    amount: str


class MarginCall(Event, frozen=True, tag="margin_call"):
    account: str
    equity: str
    maintenance: str
    member: str | None = None


class Liquidation(Event, frozen=True, tag="liquidation"):
    account: str
    market: str
    qty: str
    price: str
    stage: str
    fee: str = "0"  # the liquidation fee this step paid into the insurance fund


LOSS_LAYERS: tuple[str, ...] = (
    "trader",
    "insurance_fund",
    "adl",
    "member_capital",
    "member_default_fund",
    "clearing_house_capital",
    "mutualised_default_fund",
    "assessments",
    "vm_haircut",
)
"""The layers a loss can be absorbed by (``loss_absorbed.layer``), in the protocol's order."""


class LossAbsorbed(Event, frozen=True, tag="loss_absorbed"):
    layer: str
    amount: str
    account: str | None = None
    member: str | None = None


class LossUncovered(Event, frozen=True, tag="loss_uncovered"):
    account: str
    amount: str


class AutoDeleverage(Event, frozen=True, tag="auto_deleverage"):
    account: str
    counterparty: str
    market: str
    qty: str
    price: str


class MemberDefault(Event, frozen=True, tag="member_default"):
    member: str


class MarketStateChanged(Event, frozen=True, tag="market_state"):
    market: str
    state: str


_encoder = msgspec.json.Encoder()


def encode_event(event: Event) -> bytes:
    """Encode one event as a JSON object (no newline)."""
    return _encoder.encode(event)


def event_to_dict(event: Event) -> dict[str, Any]:
    """Return the event as a plain dict, ``type`` included."""
    result: dict[str, Any] = msgspec.to_builtins(event)
    return result
