"""The index price: a robust weighted median of constituent spot quotes.

Pipeline (one pass, no state, every step reported in :attr:`IndexResult.left_out`):

1. **Unknown sources** are left out (``"unknown_source"``): only configured constituents count.
2. **One quote per source**: the newest by ``ts_ms`` wins; on equal ``ts_ms`` the later in
   the list wins. The others are left out (``"superseded"``).
3. **Bad prices** (``price_ticks <= 0``) are left out (``"bad_price"``).
4. **Time**: a quote stamped after ``now_ms`` is left out (``"future"``): the Venue cannot
   have seen it. A quote older than ``max_age_ms`` (``now_ms - ts_ms > max_age_ms``) is
   left out (``"stale"``); exactly ``max_age_ms`` old is still fresh.
5. **Outliers**: a quote farther than ``outlier_band_ppb`` from the plain median of all
   fresh quotes is *excluded* (``"outlier"``), not clamped. Exactly on the band is kept.
   With exactly two fresh quotes the median is their midpoint, so the band is halved: the
   two must agree within the band of each other, or both are excluded.
6. **Weighted median** of the survivors with the configured weights.
7. **Staleness**: fewer survivors than ``min_sources`` makes the result ``stale``.

Sources: Binance's Price Index rules (https://www.binance.com/en/support/faq/547ba48141474ab3bddc5d7898f97928:
a source more than 5 % from the median of all sources gets weight zero; a source without
updates for 10 s gets weight zero); Hyperliquid's oracle, a weighted median of spot venues
(https://hyperliquid.gitbook.io/hyperliquid-docs/hypercore/oracle); the CME CF Bitcoin
Reference Rate, a volume-weighted median across constituent exchanges
(https://www.cmegroup.com/education/bitcoin/cme-cf-cryptocurrency-reference-rate-methodology.html);
BitMEX's index rules, as publicly quoted from its index guide: with three or more
constituents a price X % from the median is removed; with two, a price X % / 2 from the
index makes BitMEX republish the last index (here: both are excluded and the index is stale).
docs/pricing.md explains why exclusion rather than clamping, and why the outlier reference
is the median of all fresh quotes rather than of "the others".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from onshore.core.spec import IndexSpec
from onshore.core.units import PPB
from onshore.pricing.ticks import div_half_even

UNKNOWN_SOURCE = "unknown_source"
SUPERSEDED = "superseded"
BAD_PRICE = "bad_price"
FUTURE = "future"
STALE = "stale"
OUTLIER = "outlier"


class Quote(NamedTuple):
    """One constituent quote: a source name, a price in index ticks, the source's time in ms."""

    source: str
    price_ticks: int
    ts_ms: int


@dataclass(frozen=True, slots=True)
class IndexResult:
    """The outcome of one index computation.

    ``price_ticks`` is the weighted median of ``sources_used`` (index ticks), or ``None`` when
    no quote survived. When ``stale`` is true the price is informational only: the Venue
    keeps its last good index, freezes the mark, and pauses premium samples and
    liquidations. ``sources_used`` follows the configured order of sources; ``left_out``
    pairs each rejected quote's source with its reason, in input order.
    """

    price_ticks: int | None
    sources_used: tuple[str, ...]
    stale: bool
    left_out: tuple[tuple[str, str], ...]


def weighted_median_ticks(points: Sequence[tuple[int, int]]) -> int:
    """Return the weighted median of ``(price_ticks, weight)`` points.

    Sort by price; the median is the first price at which the running weight reaches half
    the total (``2 × running ≥ total``). When the running weight lands *exactly* on half,
    the median is the midpoint of that price and the next one, rounded to the nearest
    tick, ties to even (neutral: no side is owed). So four equal weights give the mean of
    the middle two, as an ordinary median does; equal prices never change the result, so
    ties between sources need no further rule.

    Weights must be positive. Runtime complexity: O(n log n) in the number of points.
    """
    if not points:
        raise ValueError("the weighted median of no points is undefined")
    ordered = sorted(points)
    total = 0
    for _, weight in ordered:
        if weight <= 0:
            raise ValueError(f"weights must be positive, got {weight}")
        total += weight
    running = 0
    for i, (price, weight) in enumerate(ordered):
        running += weight
        if 2 * running > total:
            return price
        if 2 * running == total:
            return div_half_even(price + ordered[i + 1][0], 2)
    raise AssertionError("unreachable: the running weight reaches the total")


def _twice_median(prices: Sequence[int]) -> int:
    """Return 2 × the plain median of ``prices`` (exact: no halving of an odd pair sum)."""
    ordered = sorted(prices)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return 2 * ordered[mid]
    return ordered[mid - 1] + ordered[mid]


def is_outlier(price_ticks: int, twice_reference_ticks: int, band_ppb: int, *, pair: bool = False) -> bool:
    """Return whether ``price_ticks`` lies strictly farther than the band from the reference.

    The reference (the median) is passed doubled, ``2m``, so that an even-count median stays
    exact: the test is ``|2p − 2m| × PPB > band × 2m``. With ``pair`` (exactly two fresh
    quotes, whose median is their midpoint) the band is halved — ``|2p − 2m| × 2 × PPB >
    band × 2m`` — so the two must lie within ``band`` of each other, as BitMEX halves its
    band for a two-constituent index. No rounding.
    """
    scale = 2 * PPB if pair else PPB
    return abs(2 * price_ticks - twice_reference_ticks) * scale > band_ppb * twice_reference_ticks


def index_price(
    quotes: Iterable[tuple[str, int, int]],
    *,
    sources: Sequence[str],
    weights_ppb: Sequence[int],
    min_sources: int,
    max_age_ms: int,
    outlier_band_ppb: int,
    now_ms: int,
) -> IndexResult:
    """Compute the index from constituent quotes ``(source, price_ticks, ts_ms)``.

    Formula: ``index = weighted_median{(p_s, w_s) : s fresh, known, within the band}``,
    where *within the band* means ``|p_s − m| ≤ band × m`` for ``m`` the plain median of all
    fresh quotes (``band / 2`` when there are exactly two; :func:`is_outlier`). Weights of
    sources left out simply drop out of the total. ``stale = len(used) < min_sources``.
    Rounding: none, except a weighted median falling exactly between two prices (nearest
    tick, ties to even; see :func:`weighted_median_ticks`). The module docstring lists the
    steps and the sources.

    Runtime complexity: O(n log n) in the number of quotes.
    """
    if len(sources) != len(weights_ppb):
        raise ValueError("one weight per source is required")
    weight_of = dict(zip(sources, weights_ppb, strict=True))
    order = {source: i for i, source in enumerate(sources)}
    left_out: list[tuple[int, str, str]] = []  # (input position, source, reason)

    chosen: dict[str, tuple[int, int, int]] = {}  # source -> (ts_ms, position, price)
    for position, (source, price, ts) in enumerate(quotes):
        if source not in weight_of:
            left_out.append((position, source, UNKNOWN_SOURCE))
            continue
        previous = chosen.get(source)
        if previous is None:
            chosen[source] = (ts, position, price)
        elif ts >= previous[0]:
            left_out.append((previous[1], source, SUPERSEDED))
            chosen[source] = (ts, position, price)
        else:
            left_out.append((position, source, SUPERSEDED))

    fresh: list[tuple[str, int, int]] = []  # (source, price, position)
    for source, (ts, position, price) in chosen.items():
        if price <= 0:
            left_out.append((position, source, BAD_PRICE))
        elif ts > now_ms:
            left_out.append((position, source, FUTURE))
        elif now_ms - ts > max_age_ms:
            left_out.append((position, source, STALE))
        else:
            fresh.append((source, price, position))

    used: list[tuple[str, int]] = []
    if fresh:
        twice_reference = _twice_median([price for _, price, _ in fresh])
        pair = len(fresh) == 2
        for source, price, position in fresh:
            if is_outlier(price, twice_reference, outlier_band_ppb, pair=pair):
                left_out.append((position, source, OUTLIER))
            else:
                used.append((source, price))

    used.sort(key=lambda item: order[item[0]])
    price_ticks = weighted_median_ticks([(p, weight_of[s]) for s, p in used]) if used else None
    left_out.sort()
    return IndexResult(
        price_ticks=price_ticks,
        sources_used=tuple(s for s, _ in used),
        stale=len(used) < min_sources,
        left_out=tuple((source, reason) for _, source, reason in left_out),
    )


def index_price_for(spec: IndexSpec, quotes: Iterable[tuple[str, int, int]], now_ms: int) -> IndexResult:
    """Compute the index of ``spec`` (an :class:`~onshore.core.spec.IndexSpec`); see :func:`index_price`."""
    return index_price(
        quotes,
        sources=spec.sources,
        weights_ppb=spec.weights_ppb,
        min_sources=spec.min_sources,
        max_age_ms=spec.max_age_ms,
        outlier_band_ppb=spec.outlier_band_ppb,
        now_ms=now_ms,
    )
