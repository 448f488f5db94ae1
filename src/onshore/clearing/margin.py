"""Margin requirements: pure functions of exact integers (see docs/clearing.md).

These are the rules written once: the Venue applies them account by account and the
stress lab applies the same formulas to arrays. Every requirement rounds up (owed).

:class:`Tiers` is a market's tier table in flat integer lists, built once per market,
so that a requirement is a short loop over plain ints; the functions taking a
:class:`~onshore.core.spec.MarketSpec` are the same rules for callers that hold a spec.
"""

from __future__ import annotations

from typing import Final

from onshore.core import spec as _spec
from onshore.core.spec import MarketSpec

_PPB: Final = 1_000_000_000
_LEVERAGE_SCALE: Final = _spec.LEVERAGE_SCALE  # a C static in the compiled module, not a globals lookup


class Tiers:
    """A market's margin tiers and its micro-dollars per tick-lot, as flat integers."""

    __slots__ = (
        "caps",
        "fee_ppb",
        "im_deduction",
        "im_deduction_q",
        "im_deduction_r",
        "im_rate",
        "k",
        "max_leverage",
        "mm_deduction",
        "mm_deduction_q",
        "mm_deduction_r",
        "mm_rate",
    )

    def __init__(self, spec: MarketSpec) -> None:
        top = 1 << 126
        self.caps: list[int] = [t.cap_micros if t.cap_micros is not None else top for t in spec.tiers]
        self.im_rate: list[int] = [t.initial_rate_ppb for t in spec.tiers]
        self.mm_rate: list[int] = [t.maintenance_rate_ppb for t in spec.tiers]
        self.im_deduction: list[int] = [t.initial_deduction_micros_ppb for t in spec.tiers]
        self.mm_deduction: list[int] = [t.maintenance_deduction_micros_ppb for t in spec.tiers]
        self.max_leverage: list[int] = [t.max_leverage for t in spec.tiers]
        # Each deduction D (micro-dollars × 10⁹) split as q·10⁹ + r, 0 ≤ r < 10⁹, and each notional
        # likewise, so that ⌈(N·rate − D) / 10⁹⌉ is computed in machine-size integers: N·rate and
        # the deductions of the upper tiers pass 2⁶² (compiled code would fall back to big integers)
        self.im_deduction_q: list[int] = [d // _PPB for d in self.im_deduction]
        self.im_deduction_r: list[int] = [d % _PPB for d in self.im_deduction]
        self.mm_deduction_q: list[int] = [d // _PPB for d in self.mm_deduction]
        self.mm_deduction_r: list[int] = [d % _PPB for d in self.mm_deduction]
        self.k: int = spec.micros_per_tick_lot
        # the highest fee a fill can be charged (none if both rates are rebates): for reserves
        self.fee_ppb: int = max(spec.maker_fee_ppb, spec.taker_fee_ppb, 0)

    def index(self, notional_micros: int) -> int:
        """Index of the tier whose band holds ``notional_micros`` (≥ 0). O(tiers)."""
        caps = self.caps
        i = 0
        last = len(caps) - 1
        while i < last and notional_micros >= caps[i]:
            i += 1
        return i

    def initial(self, notional_micros: int, leverage: int) -> int:
        """``max(⌈N / L⌉, tier initial(N))`` for an absolute notional ``N``."""
        n = notional_micros
        if n <= 0:
            return 0
        i = self.index(n)
        # ⌈(N·rate − D) / 10⁹⌉ with N = a·10⁹ + b and D = q·10⁹ + r: a·rate − q + ⌈(b·rate − r) / 10⁹⌉
        rate = self.im_rate[i]
        a = n // _PPB
        by_tier = a * rate - self.im_deduction_q[i] - ((self.im_deduction_r[i] - (n - a * _PPB) * rate) // _PPB)
        by_leverage = -((-n * _LEVERAGE_SCALE) // leverage)
        return by_leverage if by_leverage > by_tier else by_tier

    def maintenance(self, notional_micros: int) -> int:
        """Tier maintenance requirement of an absolute notional, rounded up."""
        n = notional_micros
        if n <= 0:
            return 0
        i = self.index(n)
        rate = self.mm_rate[i]
        a = n // _PPB  # split as in initial(): machine-size integers throughout
        return a * rate - self.mm_deduction_q[i] - ((self.mm_deduction_r[i] - (n - a * _PPB) * rate) // _PPB)

    def leverage_cap(self, notional_micros: int) -> int:
        """The highest leverage (hundredths) the tier holding ``notional_micros`` allows."""
        return self.max_leverage[self.index(notional_micros)]

    def requirement(
        self,
        leverage: int,
        qty_lots: int,
        mark_ticks: int,
        buy_lots: int,
        buy_notional_micros: int,
        sell_lots: int,
        sell_notional_micros: int,
    ) -> int:
        """Initial margin for a position and its open orders: the worse of two cases.

        Every open buy fills (position ``qty + B``) or every open sell fills (``qty − S``).
        Each case's notional is :func:`case_notional`: the lots left of the position at the
        mark, plus the lots the orders open at the mark and their share of what the side pays
        above it. Adding an order to either side never lowers the requirement. The open loss
        of an order (buying above the mark, selling below it) is charged once, when the order
        is placed (:func:`open_loss`), as Binance's "order cost" does. ``mark_ticks`` 0 means
        no mark yet: the position counts for nothing and the orders at their own prices.
        Runtime complexity: O(tiers).
        """
        k = self.k
        best = 0
        if buy_lots or qty_lots > 0:
            best = self.initial(case_notional(qty_lots, mark_ticks, buy_lots, buy_notional_micros, k), leverage)
        if sell_lots or qty_lots < 0:
            need = self.initial(case_notional(-qty_lots, mark_ticks, sell_lots, sell_notional_micros, k), leverage)
            if need > best:
                best = need
        return best

    def isolated_orders(
        self,
        leverage: int,
        qty_lots: int,
        mark_ticks: int,
        buy_lots: int,
        buy_notional_micros: int,
        sell_lots: int,
        sell_notional_micros: int,
    ) -> int:
        """Cash the open orders of an isolated position hold back: the worse side's cost.

        An isolated position's own margin already sits in its isolated account; when its open
        orders fill, cash still pays the initial margin of the lots they *add* (every buy of a
        long or of a flat position, only the part of the buys beyond a short's size, likewise
        for sells) and the fees of every lot. Per side: the margin of those lots valued as
        :meth:`requirement` values them (:func:`opening_notional`), plus the fee at the higher
        of the two rates on the side's notional, plus 2 micro-dollars a lot — each fill rounds
        its margin and its fee up by less than one micro-dollar each, so however the side
        fills, cash never goes below zero. The worse side counts. Adding an order never lowers
        it. Runtime complexity: O(tiers).
        """
        k = self.k
        fee = self.fee_ppb
        best = 0
        if buy_lots:
            grow = buy_lots if qty_lots >= 0 else buy_lots + qty_lots
            need = (
                self.initial(opening_notional(grow, mark_ticks, buy_lots, buy_notional_micros, k), leverage)
                if grow > 0
                else 0
            )
            best = need - ((-buy_notional_micros * fee) // _PPB) + 2 * buy_lots
        if sell_lots:
            grow = sell_lots if qty_lots <= 0 else sell_lots - qty_lots
            need = (
                self.initial(opening_notional(grow, mark_ticks, sell_lots, sell_notional_micros, k), leverage)
                if grow > 0
                else 0
            )
            need += -((-sell_notional_micros * fee) // _PPB) + 2 * sell_lots
            if need > best:
                best = need
        return best

    def worst_notional(
        self,
        qty_lots: int,
        mark_ticks: int,
        buy_lots: int,
        buy_notional_micros: int,
        sell_lots: int,
        sell_notional_micros: int,
    ) -> int:
        """The larger notional of the two cases of :meth:`requirement` (for position limits)."""
        k = self.k
        long_case = case_notional(qty_lots, mark_ticks, buy_lots, buy_notional_micros, k)
        short_case = case_notional(-qty_lots, mark_ticks, sell_lots, sell_notional_micros, k)
        return long_case if long_case > short_case else short_case


def opening_notional(opening_lots: int, mark_ticks: int, side_lots: int, side_notional_micros: int, k: int) -> int:
    """Notional of ``opening_lots`` of a side's orders: at the mark, plus their share of the premium.

    The side's premium is what its orders pay above the mark taken together,
    ``max(0, side notional − side lots × M × K)``: the one part of Σ (price − M) × lots × K
    the side's totals give exactly. ``opening_lots`` (at most ``side_lots``) carry
    ``opening / side lots`` of it, rounded up (owed): every lot of the side carries the same
    share. A side all at or above the mark thus carries exactly what it pays above it.
    """
    premium = side_notional_micros - side_lots * mark_ticks * k
    if premium <= 0:
        return opening_lots * mark_ticks * k
    if opening_lots != side_lots:
        premium = -((-opening_lots * premium) // side_lots)
    return opening_lots * mark_ticks * k + premium


def case_notional(toward_lots: int, mark_ticks: int, side_lots: int, side_notional_micros: int, k: int) -> int:
    """Notional of one worst case: a position after every order of one side has filled.

    ``toward_lots`` is the position signed toward the side (the quantity for buys, minus it for
    sells), so the case's position is ``toward + side`` lots. The orders open all their lots
    from a flat position or one on the side's own side, and only those beyond its size from one
    on the other side. The lots that close it carry no premium: the position is margined at
    the mark, and what closing costs above the mark is a loss that :func:`open_loss` charges
    at placement (a buy closing a short) or a gain (a sell closing a long)::

        opened   = side − min(side, max(0, −toward))
        notional = |toward + side| × M × K + ⌈opened × max(0, side notional − side × M × K) / side⌉

    Adding an order to the side never lowers the larger of a position's two cases (the
    property tests hold it to that). Runtime complexity: O(1).
    """
    after = toward_lots + side_lots
    if after < 0:  # every order of the side closes part of the position: none opens
        return -after * mark_ticks * k
    if toward_lots >= 0:  # every lot of the side opens
        kept = toward_lots * mark_ticks * k
        return kept + opening_notional(side_lots, mark_ticks, side_lots, side_notional_micros, k)
    return opening_notional(after, mark_ticks, side_lots, side_notional_micros, k)


_TIERS: dict[MarketSpec, Tiers] = {}


def tiers_of(spec: MarketSpec) -> Tiers:
    """The :class:`Tiers` of a spec (built once, then cached)."""
    tiers = _TIERS.get(spec)
    if tiers is None:
        tiers = _TIERS[spec] = Tiers(spec)
    return tiers


def initial_margin(spec: MarketSpec, notional_micros: int, leverage: int) -> int:
    """Initial margin of an absolute notional at ``leverage`` (hundredths).

    ``IM = max(⌈N / L⌉, tier initial(N))``: the account's chosen leverage, but never less
    margin than the tiers ask. The tier requirement is in the cumulative-deduction form,
    so each tier's rate applies to the slice of notional inside it (as Binance and
    Hyperliquid do): a $2M BTC-PERP position at 50× needs $60,000, 33× overall.
    """
    return tiers_of(spec).initial(abs(notional_micros), leverage)


def maintenance_margin(spec: MarketSpec, notional_micros: int) -> int:
    """Maintenance margin of an absolute notional, from the market's tiers."""
    return tiers_of(spec).maintenance(abs(notional_micros))


def max_leverage_at(spec: MarketSpec, notional_micros: int) -> int:
    """The highest leverage (hundredths) the tier holding ``notional_micros`` allows."""
    return tiers_of(spec).leverage_cap(abs(notional_micros))


def open_loss(side_is_buy: bool, qty_lots: int, price_ticks: int, mark_ticks: int, k: int) -> int:
    """The loss an order locks in on filling at its price rather than the mark (0 if none).

    Buying above the mark or selling below it; charged when the order is placed. With no
    mark yet (``mark_ticks`` 0) there is none.
    """
    if not mark_ticks:
        return 0
    gap = price_ticks - mark_ticks if side_is_buy else mark_ticks - price_ticks
    return gap * qty_lots * k if gap > 0 else 0


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

    See :meth:`Tiers.requirement`; ``mark_ticks`` None means no mark yet.
    """
    return tiers_of(spec).requirement(
        leverage, qty_lots, mark_ticks or 0, buy_lots, buy_notional_micros, sell_lots, sell_notional_micros
    )


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
    return tiers_of(spec).worst_notional(
        qty_lots, mark_ticks or 0, buy_lots, buy_notional_micros, sell_lots, sell_notional_micros
    )
