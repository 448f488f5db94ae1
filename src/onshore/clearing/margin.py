"""Margin requirements: pure functions of exact integers (see docs/clearing.md).

These are the rules written once: the Venue applies them account by account and the
stress lab applies the same functions to arrays. Every requirement rounds up (owed).
"""

from __future__ import annotations

from onshore.core.spec import LEVERAGE_SCALE, MarketSpec
from onshore.core.units import div_ceil


def initial_margin(spec: MarketSpec, notional_micros: int, leverage: int) -> int:
    """Initial margin of an absolute notional at ``leverage`` (hundredths).

    ``IM = max(⌈N / L⌉, tier initial(N))``: the account's chosen leverage, but never more
    leverage than the tier the notional falls in allows.
    """
    n = abs(notional_micros)
    if n == 0:
        return 0
    by_leverage = div_ceil(n * LEVERAGE_SCALE, leverage)
    by_tier = spec.tier_for(n).initial_micros(n)
    return by_leverage if by_leverage > by_tier else by_tier


def maintenance_margin(spec: MarketSpec, notional_micros: int) -> int:
    """Maintenance margin of an absolute notional, from the market's tiers."""
    n = abs(notional_micros)
    if n == 0:
        return 0
    return spec.tier_for(n).maintenance_micros(n)


def max_leverage_at(spec: MarketSpec, notional_micros: int) -> int:
    """The highest leverage (hundredths) the tier holding ``notional_micros`` allows."""
    return spec.tier_for(abs(notional_micros)).max_leverage


def unrealized_pnl(qty_lots: int, cost_micros: int, mark_ticks: int, micros_per_tick_lot: int) -> int:
    """Unrealized PnL of a position at the mark: ``qty × M × K − cost``."""
    return qty_lots * mark_ticks * micros_per_tick_lot - cost_micros


def market_requirement(
    spec: MarketSpec,
    leverage: int,
    qty_lots: int,
    mark_ticks: int | None,
    buy_lots: int,
    buy_notional_micros: int,
    sell_lots: int,
    sell_notional_micros: int,
) -> int:
    """Initial margin an account needs in one market for its position and open orders.

    The worse of two cases: every open buy fills (position ``qty + B``, priced at the
    higher of the mark and the average buy price, plus the loss of buying above the
    mark) or every open sell fills (position ``qty − S``, likewise). Open orders are
    valued at their limit prices. With no mark yet (no trade and no index), order
    prices stand in for it. Runtime complexity: O(tiers).
    """
    k = spec.micros_per_tick_lot
    best = 0
    if buy_lots or qty_lots > 0:
        avg = div_ceil(buy_notional_micros, buy_lots * k) if buy_lots else 0
        price = avg if mark_ticks is None or avg > mark_ticks else mark_ticks
        loss = 0 if mark_ticks is None else buy_notional_micros - buy_lots * mark_ticks * k
        need = initial_margin(spec, abs(qty_lots + buy_lots) * price * k, leverage) + (loss if loss > 0 else 0)
        best = need
    if sell_lots or qty_lots < 0:
        avg = div_ceil(sell_notional_micros, sell_lots * k) if sell_lots else 0
        price = avg if mark_ticks is None or avg > mark_ticks else mark_ticks
        loss = 0 if mark_ticks is None else sell_lots * mark_ticks * k - sell_notional_micros
        need = initial_margin(spec, abs(qty_lots - sell_lots) * price * k, leverage) + (loss if loss > 0 else 0)
        if need > best:
            best = need
    return best


def worst_case_notional(
    spec: MarketSpec,
    qty_lots: int,
    mark_ticks: int | None,
    buy_lots: int,
    buy_notional_micros: int,
    sell_lots: int,
    sell_notional_micros: int,
) -> int:
    """The larger notional of the two cases of :func:`market_requirement` (for position limits)."""
    k = spec.micros_per_tick_lot
    best = 0
    for lots, orders, notional in (
        (qty_lots + buy_lots, buy_lots, buy_notional_micros),
        (qty_lots - sell_lots, sell_lots, sell_notional_micros),
    ):
        avg = div_ceil(notional, orders * k) if orders else 0
        price = avg if mark_ticks is None or avg > mark_ticks else mark_ticks
        value = abs(lots) * price * k
        if value > best:
            best = value
    return best
