"""Liquidation and loss allocation: pure functions of exact integers (docs/liquidation.md).

The Venue applies them account by account; the stress lab applies the same rules to
arrays. Prices are ticks, quantities lots, money micro-dollars; ``k`` is the market's
micro-dollars per tick-lot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

from onshore.core.units import PPB, div_ceil, div_floor


def bankruptcy_price(qty_lots: int, equity_micros: int, mark_ticks: int, k: int) -> int:
    """The price at which closing the whole position leaves the account's equity at zero.

    Long: ``P_b = M − E / (q·K)``, rounded up; short: ``P_b = M + E / (|q|·K)``, rounded down.
    Either rounding moves the price toward the mark, so a fill at or better than ``P_b``
    never leaves negative equity. With ``E < 0`` the bankruptcy price lies beyond the mark.
    Runtime complexity: O(1).
    """
    if qty_lots > 0:
        return mark_ticks - div_floor(equity_micros, qty_lots * k)
    return mark_ticks + div_floor(equity_micros, -qty_lots * k)


def trigger_price(qty_lots: int, excess_micros: int, mark_ticks: int, k: int, top_rate_ppb: int = 0) -> int:
    """A conservative liquidation trigger: the highest (lowest) mark at which a long (short) could be under.

    Assumes only this market moves. A long's excess falls by at most ``q·K`` per tick down
    (its maintenance falls with the price); a short's by at most ``|q|·K·(1 + top rate)`` per
    tick up (its maintenance rises, by at most the highest maintenance rate of the tiers).
    The trigger is strictly beyond the mark while the excess is not negative, so a safe
    account is never a candidate at the mark it was filed at; the real trigger is never
    beyond it.
    """
    if qty_lots > 0:
        return mark_ticks - div_floor(excess_micros, qty_lots * k) - 1
    return mark_ticks + div_floor(excess_micros * PPB, -qty_lots * k * (PPB + top_rate_ppb)) + 1


def lots_to_restore(
    qty_lots: int,
    equity_micros: int,
    other_maintenance_micros: int,
    mark_ticks: int,
    k: int,
    maintenance: Callable[[int], int],
    fee_rate_ppb: int,
) -> int:
    """The fewest lots to close at the mark so that equity covers maintenance again.

    After closing ``c`` lots the account needs ``E − fee(c) ≥ MM(|q| − c) + MM(other)``,
    the liquidation fee rounded up. Monotone in ``c``, so a binary search finds the least
    ``c``; if no ``c`` below ``|q|`` suffices, the whole position. O(log |q| × tiers).
    """
    size = abs(qty_lots)

    def ok(c: int) -> bool:
        fee = div_ceil(c * mark_ticks * k * fee_rate_ppb, 1_000_000_000)
        return equity_micros - fee >= maintenance((size - c) * mark_ticks * k) + other_maintenance_micros

    lo, hi = 1, size
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def adl_score(upnl_micros: int, cost_micros: int, notional_micros: int, equity_micros: int) -> Fraction:
    """The auto-deleveraging priority: profit ratio × effective leverage, exactly.

    ``profit = uPnL / |cost|`` and ``leverage = notional / equity`` (BitMEX's published
    ranking, "ADL ranking = PNL percentage × effective leverage" when profitable; an
    unprofitable position ranks by its profit ratio ÷ leverage, below every profitable one).
    An account with non-positive equity ranks last.
    """
    if cost_micros == 0 or equity_micros <= 0:
        return Fraction(-(10**30))
    profit = Fraction(upnl_micros, abs(cost_micros))
    leverage = Fraction(abs(notional_micros), equity_micros)
    return profit * leverage if profit > 0 else profit / leverage


def rank_for_adl(candidates: Sequence[tuple[str, Fraction, int]]) -> list[tuple[str, int]]:
    """Order ``(account, score, lots)`` by score, highest first; ties by account id.

    Returns ``(account, lots)`` in the order they are deleveraged.
    """
    ordered = sorted(candidates, key=lambda c: (-c[1], c[0]))
    return [(account, lots) for account, _score, lots in ordered]


def take_in_order(ranked: Sequence[tuple[str, int]], needed: int) -> list[tuple[str, int]]:
    """Take ``needed`` lots from the ranked positions, each up to its whole size, in order."""
    out: list[tuple[str, int]] = []
    for account, lots in ranked:
        if needed <= 0:
            break
        take = min(lots, needed)
        if take > 0:
            out.append((account, take))
            needed -= take
    return out


def pro_rata(weights: Sequence[tuple[str, int]], total: int) -> list[tuple[str, int]]:
    """Split ``total`` in proportion to the weights, exactly, by the largest-remainder method.

    Each share is ``⌊total × w / Σw⌋``; the units left over go one each to the largest
    remainders (ties by key). Shares never exceed ``total`` and sum to it exactly when the
    weights are positive. Keys with zero weight get nothing.
    """
    positive = [(key, w) for key, w in weights if w > 0]
    weight_sum = sum(w for _, w in positive)
    if total <= 0 or weight_sum <= 0:
        return []
    amounts: dict[str, int] = {}
    remainders: list[tuple[int, str]] = []
    given = 0
    for key, w in positive:
        q, r = divmod(total * w, weight_sum)
        amounts[key] = q
        remainders.append((-r, key))
        given += q
    for _r, key in sorted(remainders)[: total - given]:
        amounts[key] += 1
    return [(key, amounts[key]) for key, _ in positive if amounts[key] > 0]


def capped_pro_rata(caps: Sequence[tuple[str, int]], total: int) -> list[tuple[str, int]]:
    """Split ``total`` in proportion to the caps, never above any cap (for haircuts and assessments)."""
    available = sum(c for _, c in caps if c > 0)
    take = min(total, available)
    if take <= 0:
        return []
    if take == available:
        return [(key, c) for key, c in caps if c > 0]
    return pro_rata(caps, take)


def adl_prices(
    plan: Sequence[tuple[str, int]], deficit_micros: int, mark_ticks: int, k: int, long: bool
) -> list[tuple[str, int, int]]:
    """Split the ADL closes so that the deleveraged pay the deficit, never more.

    The exact bankruptcy price of the ``n`` lots left, ``M ± D / (n·K)``, is rarely on the
    tick grid. Rounding it toward the mark (as :func:`bankruptcy_price` does for a trader who
    still has equity) would leave the bankrupt account up to ``n·K − 1`` micro-dollars and
    charge them to the winners. Here the winners pay ``⌊D / K⌋`` tick-lots in total: every lot
    closes ``b = ⌊D / (K·n)⌋`` ticks beyond the mark, and the first ``⌊D / K⌋ − b·n`` lots in
    the plan's order (the highest ranked first) one tick more. The winners pay ``D − (D mod K)``:
    the deficit exactly when it is a whole number of tick-lots, otherwise less than one
    tick-lot (``K`` micro-dollars) less, which the caller reports. A price is never below one
    tick (a short's bankruptcy price cannot go lower). ``long``: the bankrupt position is long
    (it sells above the mark). Returns ``(account, lots, price)`` in the plan's order, an
    account with lots at two prices appearing twice. O(len(plan)).
    """
    lots_total = sum(lots for _, lots in plan)
    if lots_total <= 0:
        return []
    tick_lots = max(0, deficit_micros) // k
    base, extra = divmod(tick_lots, lots_total)
    sign = 1 if long else -1
    out: list[tuple[str, int, int]] = []
    for account, lots in plan:
        worse = min(lots, extra)
        extra -= worse
        for count, offset in ((worse, base + 1), (lots - worse, base)):
            if count > 0:
                out.append((account, count, max(1, mark_ticks + sign * offset)))
    return out
