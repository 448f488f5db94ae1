"""Surveillance thresholds (a ``[surveillance]`` TOML table) and the venue facts reports need.

Every threshold has a documented default (docs/surveillance.md gives each its source).
Quantities are in contracts, money in USD, shares and fractions as decimal strings, as
everywhere in Onshore::

    [surveillance]
    reportable_level = 25                 # contracts, every market
    accountability_level = 5000           # contracts, every market and segment
    concentration_share = "0.4"

    [surveillance.reportable_levels]      # per market
    ETH-PERP = 50

    [surveillance.accountability_levels.BTC-PERP]   # per market, per segment ("default": the rest)
    default = 5000
    retail = 1000

:class:`VenueFacts` carries what the events do not repeat (contract sizes, the premium
sampling schedule, the impact notional, the insurance fund's opening balance). The
adapter builds it from the Venue's configuration with :func:`venue_facts`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from onshore.core.units import MICROS_PER_USD, split_decimal
from onshore.surveillance.decimals import NANO, to_units

if TYPE_CHECKING:
    from onshore.core.spec import VenueConfig

DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1)


@lru_cache(maxsize=4096)
def date_of_day(day: int) -> str:
    """The UTC date (``YYYY-MM-DD``) of day number ``day`` since the Unix epoch."""
    return (_EPOCH + timedelta(days=day)).isoformat()


def date_of_ms(ts: int) -> str:
    """The UTC date of venue time ``ts`` (ms since the epoch)."""
    return date_of_day(ts // DAY_MS)


def day_of_date(text: str) -> int:
    """The day number of a ``YYYY-MM-DD`` date."""
    return (date.fromisoformat(text) - _EPOCH).days


class SurveillanceConfigError(ValueError):
    """An invalid ``[surveillance]`` table; the message names the key."""


@dataclass(frozen=True, slots=True)
class SurveillanceConfig:
    """Thresholds of the reports and detectors. Contracts are whole or decimal contracts of each market."""

    # ---- large-trader reporting (17 CFR Part 17, 15.03)
    reportable_level: int = 25
    """Contracts, long or short, at the end of a day that make an owner reportable (CFTC 15.03: 25 bitcoin futures)."""
    reportable_levels: dict[str, int] = field(default_factory=dict)
    """Per-market overrides of ``reportable_level``."""

    # ---- accountability levels (17 CFR 150.5)
    accountability_level: int = 5000
    """Contracts, long or short, aggregated by owner: above it, an alert for review."""
    accountability_levels: dict[str, dict[str, int]] = field(default_factory=dict)
    """market -> segment (or ``default``) -> contracts; overrides ``accountability_level``."""

    # ---- wash trading
    wash_min_trades: int = 1
    """Trades with the same owner on both sides, per owner, market and day, that raise an alert."""
    wash_high_trades: int = 5
    """From this many such trades the alert is ``high``."""

    # ---- spoofing and layering
    spoof_min_notional: str = "100000"
    """USD: an order at least this large (price × qty × contract size) is watched."""
    spoof_min_distance_bps: int = 5
    """An order at least this far behind the reference (last trade, else mark) counts as away from the touch."""
    spoof_max_lifetime_ms: int = 10_000
    """A watched order cancelled within this time of its placement, without any fill, is a candidate."""
    spoof_size_ratio: str = "3"
    """The cancelled order is at least this multiple of what the owner traded on the other side meanwhile."""
    spoof_min_episodes: int = 2
    """Episodes per owner, market and day that raise an alert."""

    # ---- manipulation around funding
    funding_window_before_ms: int = 5_000
    """An order placed, or a trade taken, this close before a premium sample is around it."""
    funding_window_after_ms: int = 5_000
    """… and reversed (cancelled, or traded back) this close after it."""
    funding_quiet_ms: int = 30_000
    """… and the owner had no other such order on that side for this long before it, nor places one this soon after:
    the order is a transient presence at the sample, not continuous quoting."""
    funding_min_impact_fraction: str = "0.5"
    """The order or trade is at least this fraction of the market's impact notional (it can move the impact price)."""
    funding_reversal_fraction: str = "0.8"
    """A round trip: the trades after the sample undo at least this fraction of those before it."""
    funding_min_samples: int = 3
    """Premium samples straddled per owner, market and funding interval that raise an alert."""

    # ---- index manipulation
    index_deviation_bps: int = 50
    """A constituent quote this far from the median of the other quotes of the same update."""
    index_min_quotes: int = 3
    """Deviating quotes per source, index and day that raise an alert (one that entered the index always does)."""

    # ---- concentration
    concentration_share: str = "0.4"
    """An owner holding more than this share of a market's open interest (long or short) at the end of a day."""
    concentration_min_oi: int = 100
    """Contracts of open interest below which concentration is not assessed."""

    # ---- cancel ratios
    cancel_min_orders: int = 500
    """Orders per owner, market and day below which ratios are not assessed."""
    cancel_ratio: str = "0.95"
    """Cancelled / placed at or above this …"""
    cancel_order_to_trade: int = 100
    """… and (placed + amended) / fills at or above this raise an alert."""

    # ---- the daily market report
    volatility_interval_ms: int = 300_000
    """Sampling interval of the realized-volatility estimator (last mark of each interval)."""
    evidence_max_ranges: int = 50
    """Sequence ranges kept as an alert's evidence (the alert's figures count them all)."""

    def reportable_lots(self, market: str) -> int:
        """The reportable level of ``market`` in nano-contracts."""
        return self.reportable_levels.get(market, self.reportable_level) * NANO

    def accountability_lots(self, market: str, segment: str) -> int:
        """The accountability level of ``market`` for ``segment`` in nano-contracts."""
        levels = self.accountability_levels.get(market, {})
        return levels.get(segment, levels.get("default", self.accountability_level)) * NANO


_INT_KEYS = {f.name for f in fields(SurveillanceConfig) if f.type == "int"}
_DECIMAL_KEYS = {f.name for f in fields(SurveillanceConfig) if f.type == "str"}


def surveillance_config_from_table(table: dict[str, Any]) -> SurveillanceConfig:
    """Build a configuration from a ``[surveillance]`` table over the defaults; unknown keys are errors."""
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"surveillance.{key}"
        if key in _INT_KEYS:
            values[key] = _non_negative_int(value, where)
        elif key in _DECIMAL_KEYS:
            if not isinstance(value, str):
                raise SurveillanceConfigError(f'{where}: decimal values are strings (write "{value}")')
            try:
                mantissa, _ = split_decimal(value)
            except ValueError as exc:
                raise SurveillanceConfigError(f"{where}: {exc}") from exc
            if mantissa < 0:
                raise SurveillanceConfigError(f"{where}: must not be negative")
            values[key] = value
        elif key == "reportable_levels":
            values[key] = {str(m): _non_negative_int(v, f"{where}.{m}") for m, v in _table(value, where).items()}
        elif key == "accountability_levels":
            values[key] = {
                str(m): {str(s): _non_negative_int(v, f"{where}.{m}.{s}") for s, v in _table(t, f"{where}.{m}").items()}
                for m, t in _table(value, where).items()
            }
        else:
            known = sorted(f.name for f in fields(SurveillanceConfig))
            raise SurveillanceConfigError(f"{where}: unknown key; known keys are {', '.join(known)}")
    return replace(SurveillanceConfig(), **values)


def load_surveillance_config(text: str | None) -> SurveillanceConfig:
    """The defaults, with the ``[surveillance]`` table of the TOML ``text`` (if any) over them."""
    if not text:
        return SurveillanceConfig()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SurveillanceConfigError(f"not valid TOML: {exc}") from exc
    return surveillance_config_from_table(_table(raw.get("surveillance", {}), "surveillance"))


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SurveillanceConfigError(f"{where}: expected a table")
    return value


def _non_negative_int(value: object, where: str) -> int:
    if type(value) is not int or value < 0:
        raise SurveillanceConfigError(f"{where}: expected a non-negative integer, got {value!r}")
    return value


# ------------------------------------------------------------------------- venue facts
@dataclass(frozen=True, slots=True)
class MarketFacts:
    """What surveillance needs to know of one market that its events do not carry."""

    name: str
    index: str
    contract_size: str
    premium_sample_ms: int = 60_000
    funding_interval_ms: int = 3_600_000
    impact_notional_micros: int = 20_000 * MICROS_PER_USD

    @property
    def contract_nano(self) -> int:
        """The contract size in nano base units."""
        return to_units(self.contract_size, 9)


@dataclass(frozen=True, slots=True)
class VenueFacts:
    """The markets and the insurance fund's opening balance (micro-dollars)."""

    markets: dict[str, MarketFacts]
    insurance_fund_micros: int = 0
    index_max_age_ms: dict[str, int] = field(default_factory=dict)
    """Per index: quotes older than this at the update are stale (not compared)."""

    def market(self, name: str) -> MarketFacts:
        """The facts of ``name``; an unknown market gets a contract size of one (notional = price × qty)."""
        found = self.markets.get(name)
        return found if found is not None else MarketFacts(name=name, index="", contract_size="1")


def venue_facts(config: VenueConfig) -> VenueFacts:
    """Take the facts from the Venue's configuration."""
    markets = {
        name: MarketFacts(
            name=name,
            index=spec.index,
            contract_size=spec.contract_size,
            premium_sample_ms=spec.funding.premium_sample_ms,
            funding_interval_ms=spec.funding.interval_ms,
            impact_notional_micros=spec.funding.impact_notional_micros,
        )
        for name, spec in config.markets.items()
    }
    return VenueFacts(
        markets=markets,
        insurance_fund_micros=config.clearing.insurance_fund_micros,
        index_max_age_ms={name: spec.max_age_ms for name, spec in config.indices.items()},
    )


def usd_to_micros(text: str) -> int:
    """A USD decimal string in micro-dollars."""
    return to_units(text, 6)
