"""The mark price: a median of three prices, so that one trade cannot move it far.

``mark = median(A, B, C)`` where

- **A** = index + moving average of the basis (``best mid − index`` sampled on a cadence):
  the book's recent level relative to spot, smoothed;
- **B** = impact mid ``(impact bid + impact ask) / 2``, clamped to ``index × (1 ± band)``:
  what the book would pay for a real size now, kept near spot;
- **C** = the last trade price.

A missing component (no basis samples yet, a side that cannot fill the impact notional,
no trade yet) is replaced by the index itself, so the mark falls back toward spot and
never toward an unchecked price. All prices are on one grid: the Venue converts the index
to market ticks first (:func:`onshore.pricing.ticks.convert_price_ticks`, ``"half_even"``).

Why it is robust: the median of three lies between the other two whatever the third is, so
``min(A, B) ≤ mark ≤ max(A, B)`` for *any* last trade price (:func:`mark_bounds_ticks`).
One off-market trade changes C only; it moves the mark at most to the nearer of A and B.

Sources: Binance, "Mark Price in USDⓈ-M/COIN-M Futures"
(https://www.binance.com/en/support/faq/fff6ec1b3f5845d19f1fb924644a0877):
``Mark = median(Price 1, Price 2, Contract Price)``, ``Price 2 = index + moving average of
((bid1 + ask1) / 2 − index)``; Hyperliquid, "Robust price indices"
(https://hyperliquid.gitbook.io/hyperliquid-docs/trading/robust-price-indices): the median
of oracle + 150 s EMA of (mid − oracle), the median of best bid, best ask and last trade,
and external perp prices; BitMEX, "Fair Price Marking"
(https://www.bitmex.com/app/fairPriceMarking): the impact mid compared with the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from onshore.core.units import PPB, div_ceil, div_floor
from onshore.pricing.ticks import clamp, div_half_even


def mid_ticks(bid_ticks: int, ask_ticks: int) -> int:
    """Return ``(bid + ask) / 2`` rounded to the nearest tick, ties to even (neutral)."""
    return div_half_even(bid_ticks + ask_ticks, 2)


def basis_sample_ticks(best_bid_ticks: int | None, best_ask_ticks: int | None, index_ticks: int) -> int | None:
    """Return one basis sample ``(best bid + best ask) / 2 − index`` in ticks, as Binance samples it.

    Rounding: the mid rounds to the nearest tick, ties to even. ``None`` when a side of the
    book is empty (no sample is taken rather than a one-sided one).
    """
    if best_bid_ticks is None or best_ask_ticks is None:
        return None
    return mid_ticks(best_bid_ticks, best_ask_ticks) - index_ticks


def moving_average_basis_ticks(samples_ticks: Sequence[int]) -> int | None:
    """Return the simple moving average of the basis samples given (the caller keeps the window).

    Formula: ``Σ b_i / n`` (Binance: 30 samples 5 s apart over 2.5 minutes for COIN-M; an
    equal-weight window here). Rounding: nearest tick, ties to even. ``None`` when empty.
    """
    if not samples_ticks:
        return None
    return div_half_even(sum(samples_ticks), len(samples_ticks))


def band_ticks(index_ticks: int, band_ppb: int) -> tuple[int, int]:
    """Return ``[index × (1 − band), index × (1 + band)]`` in whole ticks.

    Rounding: inward (low bound up, high bound down), so a price clamped to the band is
    never farther from the index than ``band``.
    """
    if band_ppb < 0:
        raise ValueError(f"a band must not be negative, got {band_ppb}")
    return div_ceil(index_ticks * (PPB - band_ppb), PPB), div_floor(index_ticks * (PPB + band_ppb), PPB)


def median3(a: int, b: int, c: int) -> int:
    """Return the median of three integers."""
    return max(min(a, b), min(max(a, b), c))


@dataclass(frozen=True, slots=True)
class MarkComponents:
    """The three prices the mark is the median of, after fallbacks and clamping, and the mark."""

    index_basis_ticks: int
    impact_mid_ticks: int
    last_trade_ticks: int
    mark_ticks: int


def _smoothed_components(
    index_ticks: int,
    basis_samples_ticks: Sequence[int],
    impact_bid_ticks: int | None,
    impact_ask_ticks: int | None,
    impact_band_ppb: int,
) -> tuple[int, int]:
    average = moving_average_basis_ticks(basis_samples_ticks)
    a = index_ticks + (0 if average is None else average)
    if impact_bid_ticks is None or impact_ask_ticks is None:
        b = index_ticks
    else:
        low, high = band_ticks(index_ticks, impact_band_ppb)
        b = clamp(mid_ticks(impact_bid_ticks, impact_ask_ticks), low, high)
    return a, b


def mark_components(
    *,
    index_ticks: int,
    basis_samples_ticks: Sequence[int],
    impact_bid_ticks: int | None,
    impact_ask_ticks: int | None,
    last_trade_ticks: int | None,
    impact_band_ppb: int,
) -> MarkComponents:
    """Compute the mark and its three components; see the module docstring for the rule.

    Formula: ``A = index + round(mean(basis samples))``, ``B = clamp(round((ib + ia) / 2),
    index × (1 − band), index × (1 + band))``, ``C = last trade``; ``mark = median(A, B, C)``,
    each missing component replaced by ``index``.

    Rounding: the mean and the mid to the nearest tick, ties to even (a mark is neither
    owed nor paid); the band inward. The median itself picks one of the three, no rounding.
    Recommended band: no wider than the tier-1 maintenance rate (1 % in the defaults), so a
    manipulated book and tape together move the mark by less than a maintenance margin.
    """
    if index_ticks <= 0:
        raise ValueError(f"the index must be positive, got {index_ticks}")
    a, b = _smoothed_components(index_ticks, basis_samples_ticks, impact_bid_ticks, impact_ask_ticks, impact_band_ppb)
    c = index_ticks if last_trade_ticks is None else last_trade_ticks
    return MarkComponents(index_basis_ticks=a, impact_mid_ticks=b, last_trade_ticks=c, mark_ticks=median3(a, b, c))


def mark_price_ticks(
    *,
    index_ticks: int,
    basis_samples_ticks: Sequence[int],
    impact_bid_ticks: int | None,
    impact_ask_ticks: int | None,
    last_trade_ticks: int | None,
    impact_band_ppb: int,
) -> int:
    """Return the mark price in ticks: ``median(A, B, C)`` of :func:`mark_components`."""
    return mark_components(
        index_ticks=index_ticks,
        basis_samples_ticks=basis_samples_ticks,
        impact_bid_ticks=impact_bid_ticks,
        impact_ask_ticks=impact_ask_ticks,
        last_trade_ticks=last_trade_ticks,
        impact_band_ppb=impact_band_ppb,
    ).mark_ticks


def mark_bounds_ticks(
    *,
    index_ticks: int,
    basis_samples_ticks: Sequence[int],
    impact_bid_ticks: int | None,
    impact_ask_ticks: int | None,
    impact_band_ppb: int,
) -> tuple[int, int]:
    """Return ``(low, high)``: the range the mark stays in whatever the last trade price is.

    ``low = min(A, B)``, ``high = max(A, B)`` — the median of three never leaves the range
    of the two components a trade does not touch. This is the "one off-market trade cannot
    move the mark beyond the rule" guarantee, as a value a test or a surveillance report can
    check: with an empty basis window and no impact mid the range collapses to the index.
    """
    a, b = _smoothed_components(index_ticks, basis_samples_ticks, impact_bid_ticks, impact_ask_ticks, impact_band_ppb)
    return min(a, b), max(a, b)
