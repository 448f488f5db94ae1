"""Clearing members, customer accounts and their per-market state.

Records only: balances live in the ledger. A :class:`Holding` is one account's state in
one market: its position (signed lots and signed cost basis), its leverage and margin
mode, and running totals of its open orders, kept up to date as orders rest, fill and
leave so that a margin check is O(markets) rather than O(orders).
"""

from __future__ import annotations

CROSS = "cross"
ISOLATED = "isolated"


class Member:
    """A clearing member (FCM). Its capital and default fund live in the ledger."""

    __slots__ = ("accounts", "member_id")

    def __init__(self, member_id: str) -> None:
        self.member_id = member_id
        self.accounts: list[str] = []


class Holding:
    """One account's position, settings and open-order totals in one market."""

    __slots__ = (
        "buy_lots",
        "buy_notional",
        "cost",
        "leverage",
        "mode",
        "qty",
        "ro_buy_lots",
        "ro_sell_lots",
        "sell_lots",
        "sell_notional",
    )

    def __init__(self, leverage: int) -> None:
        self.qty = 0  # signed lots, long positive
        self.cost = 0  # signed micro-dollars: Σ signed qty × price × K of the open lots
        self.leverage = leverage  # hundredths
        self.mode = CROSS
        self.buy_lots = 0
        self.buy_notional = 0
        self.sell_lots = 0
        self.sell_notional = 0
        self.ro_buy_lots = 0  # open reduce-only lots, per side
        self.ro_sell_lots = 0

    def has_orders(self) -> bool:
        """Whether any order of the account rests in this market."""
        return bool(self.buy_lots or self.sell_lots)

    def apply_fill(self, signed_qty: int, price_ticks: int, micros_per_tick_lot: int) -> int:
        """Apply a fill of ``signed_qty`` lots (buy positive) at ``price_ticks``.

        Returns the realized PnL in micro-dollars. Reducing removes
        ``⌈cost × closed / |qty|⌉`` of the cost basis, so realized PnL is never rounded
        in the trader's favour; a flip closes the whole position and opens the rest at
        the fill price. Average-cost accounting, as perpetual venues use.
        """
        qty = self.qty
        value = signed_qty * price_ticks * micros_per_tick_lot
        if qty == 0 or (qty > 0) == (signed_qty > 0):
            self.qty = qty + signed_qty
            self.cost += value
            return 0
        size = qty if qty > 0 else -qty  # not abs(): a generic call in compiled code
        closing = min(signed_qty if signed_qty > 0 else -signed_qty, size)
        removed = -((-self.cost * closing) // size)  # div_ceil: never in the trader's favour
        closed_value = (closing if qty > 0 else -closing) * price_ticks * micros_per_tick_lot
        realized = closed_value - removed
        self.cost -= removed
        new_qty = qty + signed_qty
        if (new_qty > 0) != (qty > 0) and new_qty != 0:
            # flip: the whole old position closed (cost is now zero), the rest opens
            self.cost = new_qty * price_ticks * micros_per_tick_lot
        self.qty = new_qty
        return realized


class Account:
    """A customer account carried by a clearing member."""

    __slots__ = ("account_id", "holdings", "member", "owner", "segment", "watch_version")

    def __init__(self, account_id: str, member: str, segment: str, owner: str) -> None:
        self.account_id = account_id
        self.member = member
        self.segment = segment
        self.owner = owner
        self.holdings: dict[str, Holding] = {}
        # the Venue's liquidation detection: the version of this account's entries in the
        # trigger heaps (an entry of another version is stale); not state, never saved
        self.watch_version = 0
