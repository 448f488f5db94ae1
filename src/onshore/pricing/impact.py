"""Impact bid and ask: the average fill price of the impact notional against the book.

The impact bid is the average price at which a market *sell* of ``impact_notional_micros``
would fill against the bids; the impact ask, a market *buy* against the asks. They feed
the premium (funding) and the impact mid (mark).

Source: Binance, "Introduction to Binance Futures Funding Rates"
(https://www.binance.com/en/support/faq/360033525031): "Impact Bid/Ask Price = the average
fill price to execute the Impact Margin Notional on the Bid/Ask side"; BitMEX's perpetual
contracts guide uses the same construction (https://www.bitmex.com/app/perpetualContractsGuide).

Levels are ``(price_ticks, qty_lots)``, best first (bids descending, asks ascending), as the
book reports them; ``micros_per_tick_lot`` is the market's exact notional of one tick × one
lot (``MarketSpec.micros_per_tick_lot``).
"""

from __future__ import annotations

from collections.abc import Iterable

from onshore.core.units import div_ceil, div_floor


def impact_vwap(
    levels: Iterable[tuple[int, int]], impact_notional_micros: int, micros_per_tick_lot: int
) -> tuple[int, int] | None:
    """Return the exact average fill price of the impact notional as a fraction of ticks.

    Walk the levels best first, taking whole levels while their notional
    ``price × qty × micros_per_tick_lot`` stays below what remains of ``N =
    impact_notional_micros``. The last level is filled *fractionally*: exactly the remaining
    notional ``r``, as if lots were divisible, so the walk buys or sells exactly ``N`` and
    no lot rounding enters. With ``Q`` the whole lots taken before the last level and ``p``
    its price, the filled quantity is ``Q + r / (p × m)`` and

        VWAP = N / (m × (Q + r / (p × m))) = N × p / (m × p × Q + r)     [ticks]

    Return ``(numerator, denominator)`` of that fraction (positive integers), or ``None`` when
    the side's whole depth is worth less than ``N``. A level walked with a non-positive price
    or quantity, or out of order, raises ``ValueError`` (levels past the fill are not read).

    Runtime complexity: O(k) in the number of levels walked.
    """
    if impact_notional_micros <= 0:
        raise ValueError(f"the impact notional must be positive, got {impact_notional_micros}")
    if micros_per_tick_lot <= 0:
        raise ValueError(f"micros_per_tick_lot must be positive, got {micros_per_tick_lot}")
    filled_micros = 0
    filled_lots = 0
    direction = 0  # +1 ascending (asks), -1 descending (bids), 0 unknown yet
    previous: int | None = None
    for price, qty in levels:
        if price <= 0 or qty <= 0:
            raise ValueError(f"a level needs a positive price and quantity, got ({price}, {qty})")
        if previous is not None:
            step = (price > previous) - (price < previous)
            if step == 0 or (direction and step != direction):
                raise ValueError("levels must be strictly ordered best first")
            direction = step
        previous = price
        level_micros = price * qty * micros_per_tick_lot
        remaining = impact_notional_micros - filled_micros
        if level_micros >= remaining:
            return impact_notional_micros * price, micros_per_tick_lot * price * filled_lots + remaining
        filled_micros += level_micros
        filled_lots += qty
    return None


def impact_bid_ticks(
    bids: Iterable[tuple[int, int]], impact_notional_micros: int, micros_per_tick_lot: int
) -> int | None:
    """Return the impact bid in ticks: the VWAP of selling the impact notional into ``bids``.

    Formula: :func:`impact_vwap`. Rounding: **down** (floor) — the seller's worse fill. A lower
    impact bid can only shrink a positive premium, so the rounding never creates funding.
    ``None`` when the bids cannot absorb the notional.
    """
    vwap = impact_vwap(bids, impact_notional_micros, micros_per_tick_lot)
    return None if vwap is None else div_floor(*vwap)


def impact_ask_ticks(
    asks: Iterable[tuple[int, int]], impact_notional_micros: int, micros_per_tick_lot: int
) -> int | None:
    """Return the impact ask in ticks: the VWAP of buying the impact notional from ``asks``.

    Formula: :func:`impact_vwap`. Rounding: **up** (ceil) — the buyer's worse fill. A higher
    impact ask can only shrink a negative premium, so the rounding never creates funding.
    ``None`` when the asks cannot supply the notional.
    """
    vwap = impact_vwap(asks, impact_notional_micros, micros_per_tick_lot)
    return None if vwap is None else div_ceil(*vwap)
