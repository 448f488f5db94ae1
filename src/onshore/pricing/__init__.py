"""Onshore pricing: index, impact prices, mark, premium and funding — pure integer functions.

No state, no I/O, no clock: every input arrives as a plain value (ints, tuples, lists of
``(price_ticks, qty_lots)`` levels), so the Venue and the vectorized lab call the same
functions. Prices are integer ticks, money integer micro-dollars, rates integer ppb.
docs/pricing.md gives every formula with its units, its rounding and its public source.
"""

from onshore.pricing.funding import (
    EIGHT_HOURS_MS,
    FundingDistribution,
    FundingRate,
    average_premium_ppb,
    distribute_funding,
    funding_payment_micros,
    funding_rate_8h_ppb,
    funding_rate_for,
    interval_rate_ppb,
    max_funding_cap_ppb,
    premium_ppb,
    time_weighted_premium_ppb,
)
from onshore.pricing.impact import impact_ask_ticks, impact_bid_ticks, impact_vwap
from onshore.pricing.index import IndexResult, Quote, index_price, index_price_for, weighted_median_ticks
from onshore.pricing.mark import (
    MarkComponents,
    band_ticks,
    basis_sample_ticks,
    mark_bounds_ticks,
    mark_components,
    mark_price_ticks,
    median3,
    mid_ticks,
    moving_average_basis_ticks,
)
from onshore.pricing.ticks import clamp, common_grid, convert_price_ticks, div_half_even

__all__ = [
    "EIGHT_HOURS_MS",
    "FundingDistribution",
    "FundingRate",
    "IndexResult",
    "MarkComponents",
    "Quote",
    "average_premium_ppb",
    "band_ticks",
    "basis_sample_ticks",
    "clamp",
    "common_grid",
    "convert_price_ticks",
    "distribute_funding",
    "div_half_even",
    "funding_payment_micros",
    "funding_rate_8h_ppb",
    "funding_rate_for",
    "impact_ask_ticks",
    "impact_bid_ticks",
    "impact_vwap",
    "index_price",
    "index_price_for",
    "interval_rate_ppb",
    "mark_bounds_ticks",
    "mark_components",
    "mark_price_ticks",
    "max_funding_cap_ppb",
    "median3",
    "mid_ticks",
    "moving_average_basis_ticks",
    "premium_ppb",
    "time_weighted_premium_ppb",
    "weighted_median_ticks",
]
