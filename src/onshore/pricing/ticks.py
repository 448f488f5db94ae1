"""Neutral rounding and conversion of prices between tick grids.

An index is quoted on its own grid (``[indices.*].tick_size``, 0.01 USD by default) and a
market on another (``tick_size``, 0.1 USD for BTC-PERP). Pricing formulas need both in
one unit: :func:`convert_price_ticks` moves a price from one grid to the other with a
named rounding, and :func:`common_grid` gives a grid both convert to exactly.

Prices that nobody pays or receives directly (an index, a mid, a mark) have no trader to
round against; they round to the nearest tick, ties to even (:func:`div_half_even`), so
that no systematic drift favours longs or shorts.
"""

from __future__ import annotations

from typing import Literal

from onshore.core.units import Grid, OffGridError, div_ceil, div_floor, format_scaled, split_decimal

Rounding = Literal["exact", "floor", "ceil", "half_even"]
"""How :func:`convert_price_ticks` rounds: ``"exact"`` raises :class:`OffGridError` rather than round."""


def div_half_even(numerator: int, denominator: int) -> int:
    """Divide, rounding to the nearest integer and a tie to the even one (banker's rounding).

    ``denominator`` must be positive. ``div_half_even(5, 2) == 2``, ``div_half_even(7, 2) == 4``,
    ``div_half_even(-5, 2) == -2``. Used for neutral prices, where no side is owed.
    """
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q & 1):
        return q + 1
    return q


def clamp(value: int, low: int, high: int) -> int:
    """Return ``value`` limited to ``[low, high]``; ``low`` must not exceed ``high``."""
    if low > high:
        raise ValueError(f"empty clamp range [{low}, {high}]")
    return low if value < low else high if value > high else value


def _step(grid: Grid) -> tuple[int, int]:
    mantissa, exponent = split_decimal(grid.step)
    return mantissa, exponent


def convert_price_ticks(price_ticks: int, from_grid: Grid, to_grid: Grid, rounding: Rounding = "exact") -> int:
    """Express ``price_ticks`` of ``from_grid`` in ticks of ``to_grid``.

    Formula: ``to_ticks = price_ticks × from_step / to_step``, computed on integers
    (``step = mantissa / 10**exponent``), with one division rounded as named:
    ``"exact"`` (raise :class:`OffGridError` if the price is off ``to_grid``), ``"floor"``,
    ``"ceil"`` or ``"half_even"`` (nearest, ties to even: the neutral choice for an
    index or a mark).

    ``convert_price_ticks(6_500_012, Grid("0.01"), Grid("0.1"), "half_even") == 650_001``.
    """
    m_from, e_from = _step(from_grid)
    m_to, e_to = _step(to_grid)
    numerator = price_ticks * m_from * 10**e_to
    denominator = m_to * 10**e_from
    if rounding == "exact":
        q, r = divmod(numerator, denominator)
        if r:
            raise OffGridError(f"{from_grid.format(price_ticks)} is not a multiple of {to_grid.step}")
        exact: int = q
        return exact
    if rounding == "floor":
        return div_floor(numerator, denominator)
    if rounding == "ceil":
        return div_ceil(numerator, denominator)
    if rounding == "half_even":
        return div_half_even(numerator, denominator)
    raise ValueError(f"unknown rounding {rounding!r}")


def common_grid(*grids: Grid) -> Grid:
    """Return the coarsest power-of-ten grid that every price on ``grids`` converts to exactly.

    ``common_grid(Grid("0.1"), Grid("0.01")) == Grid("0.01")``; ``common_grid(Grid("0.25"),
    Grid("0.1"))`` is ``Grid("0.01")``. Compute a premium or a basis on it when neither grid
    divides the other.
    """
    if not grids:
        raise ValueError("common_grid() needs at least one grid")
    exponent = max(_step(g)[1] for g in grids)
    return Grid(format_scaled(1, exponent))
