"""Contract specifications and venue parameters, as exact integer values.

These are the validated, immutable form of the TOML configuration
(``onshore.config`` loads and checks it). Units are in the names: ``*_ppb`` rates,
``*_micros`` money, ``*_lots`` quantities, ``*_ms`` durations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onshore.core.units import PPB, Grid, div_ceil

LEVERAGE_GRID = Grid("0.01")
"""Leverage is held in hundredths: ``"12.5"`` -> 1250."""

LEVERAGE_SCALE = 100


@dataclass(frozen=True, slots=True)
class MarginTier:
    """One band of position notional with its margin rates.

    Requirements use the cumulative-deduction form so they are continuous across tier
    boundaries: ``requirement = notional * rate - deduction`` where the deduction of
    tier *i* is ``deduction[i-1] + floor[i] * (rate[i] - rate[i-1])``.
    """

    floor_micros: int
    cap_micros: int | None
    max_leverage: int  # hundredths
    initial_rate_ppb: int
    maintenance_rate_ppb: int
    initial_deduction_micros_ppb: int
    maintenance_deduction_micros_ppb: int

    def initial_micros(self, notional_micros: int) -> int:
        """Initial margin of ``notional_micros`` in this tier, rounded up (owed)."""
        return div_ceil(notional_micros * self.initial_rate_ppb - self.initial_deduction_micros_ppb, PPB)

    def maintenance_micros(self, notional_micros: int) -> int:
        """Maintenance margin of ``notional_micros`` in this tier, rounded up (owed)."""
        return div_ceil(
            notional_micros * self.maintenance_rate_ppb - self.maintenance_deduction_micros_ppb,
            PPB,
        )


@dataclass(frozen=True, slots=True)
class FundingSpec:
    """Funding parameters of one market. Rates are per 8 hours, as venues quote them."""

    interval_ms: int
    interest_rate_8h_ppb: int
    clamp_ppb: int
    cap_ppb: int
    impact_notional_micros: int
    premium_sample_ms: int


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A perpetual contract: its grids, protections, fees and margin tiers."""

    name: str
    index: str
    contract_size: str
    tick_size: str
    lot_size: str
    price_grid: Grid
    qty_grid: Grid
    micros_per_tick_lot: int
    max_order_lots: int
    price_band_ppb: int
    market_protection_ppb: int
    maker_fee_ppb: int
    taker_fee_ppb: int
    tiers: tuple[MarginTier, ...]
    funding: FundingSpec
    mark_band_ppb: int
    basis_window: int
    position_limits: dict[str, int] = field(default_factory=dict, compare=False)  # segment -> lots; "default"

    def notional_micros(self, price_ticks: int, qty_lots: int) -> int:
        """Exact notional: price × qty × contract size, in micro-dollars."""
        return price_ticks * qty_lots * self.micros_per_tick_lot

    def tier_for(self, notional_micros: int) -> MarginTier:
        """Return the tier whose band holds ``notional_micros`` (absolute value).

        Runtime complexity: O(number of tiers), a handful.
        """
        n = abs(notional_micros)
        for tier in self.tiers:
            if tier.cap_micros is None or n < tier.cap_micros:
                return tier
        return self.tiers[-1]


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """A spot index and the venues that quote it."""

    name: str
    sources: tuple[str, ...]
    weights_ppb: tuple[int, ...]
    min_sources: int
    max_age_ms: int
    outlier_band_ppb: int
    price_grid: Grid
    hold_ms: int = 30_000  # how long a computed index stays usable without a new update


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    """Limits of a customer segment."""

    name: str
    max_leverage: int  # hundredths
    max_position_notional_micros: int
    markets: tuple[str, ...] | None = None  # permitted markets; None: all


@dataclass(frozen=True, slots=True)
class ClearingSpec:
    """Clearing-house parameters."""

    loss_model: str
    adl_ranking: str
    insurance_fund_micros: int
    clearing_house_capital_micros: int
    settlement_interval_ms: int
    settlement_offset_ms: int
    liquidation_fee_ppb: int
    liquidation_slice_micros: int
    backstop_accounts: tuple[str, ...]
    assessment_multiple_ppb: int


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """The whole validated configuration of one Venue."""

    markets: dict[str, MarketSpec]
    indices: dict[str, IndexSpec]
    segments: dict[str, SegmentSpec]
    clearing: ClearingSpec
    broker: Any = field(default=None, compare=False, repr=False)  # onshore.broker.BrokerConfig
    raw: dict[str, object] = field(default_factory=dict, compare=False, repr=False)
