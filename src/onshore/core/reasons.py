"""Stable reason codes: the ``reason`` of every rejection and cancellation.

Codes are snake_case and never change meaning once published; docs/protocol.md lists
each with what a person can do about it. New codes may be added.
"""

from enum import StrEnum


class Reject(StrEnum):
    """Why a command was rejected (``command_rejected.reason``). Nothing changed."""

    MALFORMED_COMMAND = "malformed_command"
    UNKNOWN_COMMAND = "unknown_command"
    STALE_TIMESTAMP = "stale_timestamp"
    BAD_DECIMAL = "bad_decimal"
    OFF_GRID = "off_grid"
    NON_POSITIVE = "non_positive"
    UNKNOWN_MARKET = "unknown_market"
    UNKNOWN_ACCOUNT = "unknown_account"
    UNKNOWN_MEMBER = "unknown_member"
    UNKNOWN_INDEX = "unknown_index"
    UNKNOWN_ORDER = "unknown_order"
    DUPLICATE_MEMBER = "duplicate_member"
    DUPLICATE_ACCOUNT = "duplicate_account"
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    UNKNOWN_SEGMENT = "unknown_segment"
    MARKET_HALTED = "market_halted"
    MARKET_CLOSE_ONLY = "market_close_only"
    PRICE_REQUIRED = "price_required"
    PRICE_NOT_ALLOWED = "price_not_allowed"
    PRICE_BAND = "price_band"
    MAX_ORDER_SIZE = "max_order_size"
    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    POST_ONLY_NOT_LIMIT = "post_only_not_limit"
    AMEND_NOTHING = "amend_nothing"
    AMEND_QTY_NOT_ABOVE_FILLED = "amend_qty_not_above_filled"
    ORDER_ID_REQUIRED = "order_id_required"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    REDUCE_ONLY_WOULD_INCREASE = "reduce_only_would_increase"
    POSITION_LIMIT = "position_limit"
    MARGIN_MODE_LOCKED = "margin_mode_locked"
    INVALID_STATE = "invalid_state"
    MARKET_NOT_PERMITTED = "market_not_permitted"
    LIMIT_WOULD_LOOSEN = "limit_would_loosen"
    DISCLOSURE_NOT_ACKNOWLEDGED = "disclosure_not_acknowledged"
    PROFILE_REVIEW_DUE = "profile_review_due"
    RESERVED_CLIENT_ORDER_ID = "reserved_client_order_id"
    NOT_ONBOARDED = "not_onboarded"


class Cancel(StrEnum):
    """Why an order left the book without filling (``order_cancelled.reason``)."""

    USER = "user"
    CANCEL_ALL = "cancel_all"
    IOC_REMAINDER = "ioc_remainder"
    FOK_NOT_FILLED = "fok_not_filled"
    MARKET_PROTECTION = "market_protection"
    NO_LIQUIDITY = "no_liquidity"
    STP_RESTING = "self_trade_resting"
    STP_INCOMING = "self_trade_incoming"
    LIQUIDATION = "liquidation"
