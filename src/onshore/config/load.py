"""Load, merge and validate the venue configuration (TOML).

``load_config(text)`` parses a partial TOML document, merges it over the built-in
defaults (``defaults.toml`` beside this file) and returns a validated
:class:`~onshore.core.spec.VenueConfig`. Anything wrong raises :class:`ConfigError`
whose message starts with the dotted path of the offending field, e.g.
``markets.BTC-PERP.tick_size: 0.0000001 × 1 × 0.01 is not a whole number of
micro-dollars``.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

from onshore.broker.config import BrokerConfig, BrokerConfigError, default_broker_table
from onshore.core.spec import (
    LEVERAGE_GRID,
    LEVERAGE_SCALE,
    ClearingSpec,
    FundingSpec,
    IndexSpec,
    MarginTier,
    MarketSpec,
    SegmentSpec,
    VenueConfig,
)
from onshore.core.units import (
    MONEY_GRID,
    PPB,
    RATE_GRID,
    BadDecimalError,
    Grid,
    OffGridError,
    div_ceil,
    split_decimal,
)

SEGMENTS = ("retail", "qualified", "institutional", "market_maker")
LOSS_MODELS = ("us_clearing", "offshore")
ADL_RANKINGS = ("pnl_leverage", "pro_rata")


class ConfigError(ValueError):
    """An invalid configuration; the message names the field."""


def default_toml() -> str:
    """Return the text of the built-in configuration."""
    return resources.files("onshore.config").joinpath("defaults.toml").read_text("utf-8")


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` over ``base``: tables merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(text: str | None = None) -> VenueConfig:
    """Return the built-in configuration, with the partial TOML ``text`` merged over it."""
    try:
        raw = tomllib.loads(default_toml())
        if text:
            raw = merge(raw, tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from exc
    return build_config(raw)


def default_config() -> VenueConfig:
    """Return the built-in configuration (BTC-PERP and ETH-PERP, US-style clearing)."""
    return load_config(None)


# ---------------------------------------------------------------------------- readers
class _Table:
    """A TOML table with its dotted path, for error messages that name the field."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a table")
        self.data: dict[str, Any] = data
        self.path = path

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise ConfigError(f"{self.path}.{key}: missing")
        return self.data[key]

    def decimal(self, key: str, grid: Grid, *, positive: bool = False, minimum: int | None = None) -> int:
        value = self._get(key)
        if not isinstance(value, str):
            raise ConfigError(f'{self.path}.{key}: decimal values are strings (write "{value}"), got {value!r}')
        try:
            units = grid.parse(value)
        except (BadDecimalError, OffGridError) as exc:
            raise ConfigError(f"{self.path}.{key}: {exc}") from exc
        if positive and units <= 0:
            raise ConfigError(f"{self.path}.{key}: must be positive, got {value}")
        if minimum is not None and units < minimum:
            raise ConfigError(f"{self.path}.{key}: must be at least {grid.format(minimum)}")
        return units

    def step(self, key: str) -> Grid:
        value = self._get(key)
        if not isinstance(value, str):
            raise ConfigError(f"{self.path}.{key}: decimal values are strings, got {value!r}")
        try:
            return Grid(value)
        except (BadDecimalError, ValueError) as exc:
            raise ConfigError(f"{self.path}.{key}: {exc}") from exc

    def integer(self, key: str, *, minimum: int = 0) -> int:
        value = self._get(key)
        if type(value) is not int:
            raise ConfigError(f"{self.path}.{key}: expected an integer, got {value!r}")
        if value < minimum:
            raise ConfigError(f"{self.path}.{key}: must be at least {minimum}, got {value}")
        return value

    def text(self, key: str, choices: tuple[str, ...] | None = None) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise ConfigError(f"{self.path}.{key}: expected a string, got {value!r}")
        if choices is not None and value not in choices:
            raise ConfigError(f"{self.path}.{key}: must be one of {', '.join(choices)}; got {value!r}")
        return value

    def table(self, key: str) -> _Table:
        return _Table(self._get(key), f"{self.path}.{key}")

    def ensure_known(self, keys: tuple[str, ...]) -> None:
        """Refuse keys the loader does not know: a misspelt key must not leave a default in force."""
        unknown = sorted(set(self.data) - set(keys))
        if unknown:
            raise ConfigError(f"{self.path}.{unknown[0]}: unknown key (known: {', '.join(keys)})")


# ---------------------------------------------------------------------------- builders
MARKET_KEYS = (
    "index", "contract_size", "tick_size", "lot_size", "max_order_qty", "price_band", "market_protection",
    "maker_fee", "taker_fee", "margin_tiers", "funding", "mark", "position_limits",
)  # fmt: skip
FUNDING_KEYS = ("interval_ms", "interest_rate_8h", "clamp", "cap", "impact_notional", "premium_sample_ms")
MARK_KEYS = ("band", "basis_window")
TIER_KEYS = ("max_notional", "max_leverage", "maintenance_rate")
INDEX_KEYS = ("sources", "weights", "min_sources", "max_age_ms", "hold_ms", "outlier_band", "tick_size")
SEGMENT_KEYS = ("max_leverage", "max_position_notional", "markets")
CLEARING_KEYS = (
    "loss_model", "adl_ranking", "insurance_fund", "clearing_house_capital", "settlement_interval_ms",
    "settlement_offset_ms", "liquidation_fee", "liquidation_slice", "backstop_accounts", "assessment_multiple",
)  # fmt: skip
TOP_KEYS = ("markets", "indices", "segments", "clearing", "broker", "surveillance")


def build_config(raw: dict[str, Any]) -> VenueConfig:
    """Validate a merged configuration dict into a :class:`VenueConfig`."""
    _Table(raw, "config").ensure_known(TOP_KEYS)
    indices_t = _Table(raw.get("indices", {}), "indices")
    indices = {name: _index(name, _Table(v, f"indices.{name}")) for name, v in indices_t.data.items()}
    markets_t = _Table(raw.get("markets", {}), "markets")
    markets = {name: _market(name, _Table(v, f"markets.{name}")) for name, v in markets_t.data.items()}
    if not markets:
        raise ConfigError("markets: at least one market is required")
    for spec in markets.values():
        if spec.index not in indices:
            raise ConfigError(f"markets.{spec.name}.index: unknown index {spec.index!r}")
    segments_t = _Table(raw.get("segments", {}), "segments")
    segments = {name: _segment(name, _Table(v, f"segments.{name}")) for name, v in segments_t.data.items()}
    for name in SEGMENTS:
        if name not in segments:
            raise ConfigError(f"segments.{name}: missing")
    if "clearing" not in raw:
        raise ConfigError("clearing: missing")
    clearing = _clearing(_Table(raw["clearing"], "clearing"))
    for segment in segments.values():
        for name in segment.markets or ():
            if name not in markets:
                raise ConfigError(f"segments.{segment.name}.markets: unknown market {name!r}")
    for spec in markets.values():
        for key in spec.position_limits:
            if key != "default" and key not in segments:
                raise ConfigError(f"markets.{spec.name}.position_limits.{key}: not a segment (or 'default')")
    try:
        broker = BrokerConfig.from_toml_table(merge(default_broker_table(), raw.get("broker", {})))
    except BrokerConfigError as exc:
        raise ConfigError(str(exc) if str(exc).startswith("broker") else f"broker.{exc}") from exc
    return VenueConfig(markets=markets, indices=indices, segments=segments, clearing=clearing, broker=broker, raw=raw)


def _market(name: str, t: _Table) -> MarketSpec:
    t.ensure_known(MARKET_KEYS)
    price_grid = t.step("tick_size")
    qty_grid = t.step("lot_size")
    size = t.step("contract_size")
    # price x qty -> micro-dollars must be exact: tick * lot * contract_size * 1e6 in Z.
    per_unit = _exact_product([price_grid.step, qty_grid.step, size.step, "1000000"])
    if per_unit is None:
        raise ConfigError(
            f"{t.path}.tick_size: {price_grid.step} × {qty_grid.step} × {size.step} "
            "(tick × lot × contract size) is not a whole number of micro-dollars"
        )
    max_order = t.decimal("max_order_qty", qty_grid, positive=True)
    tiers = _tiers(t.path + ".margin_tiers", t.data.get("margin_tiers"))
    funding = _funding(t.table("funding"))
    mark = t.table("mark") if t.has("mark") else _Table({}, f"{t.path}.mark")
    mark.ensure_known(MARK_KEYS)
    maker = t.decimal("maker_fee", RATE_GRID)
    taker = t.decimal("taker_fee", RATE_GRID)
    if maker + taker < 0:
        raise ConfigError(f"{t.path}.maker_fee: the maker rebate exceeds the taker fee")
    return MarketSpec(
        name=name,
        index=t.text("index"),
        contract_size=size.step,
        tick_size=price_grid.step,
        lot_size=qty_grid.step,
        price_grid=price_grid,
        qty_grid=qty_grid,
        micros_per_tick_lot=per_unit,
        max_order_lots=max_order,
        price_band_ppb=t.decimal("price_band", RATE_GRID, positive=True),
        market_protection_ppb=t.decimal("market_protection", RATE_GRID, positive=True),
        maker_fee_ppb=maker,
        taker_fee_ppb=taker,
        tiers=tiers,
        funding=funding,
        mark_band_ppb=mark.decimal("band", RATE_GRID, positive=True)
        if mark.has("band")
        else tiers[0].maintenance_rate_ppb,
        basis_window=mark.integer("basis_window", minimum=1) if mark.has("basis_window") else 30,
        position_limits=_position_limits(t, qty_grid),
    )


def _position_limits(t: _Table, qty_grid: Grid) -> dict[str, int]:
    if not t.has("position_limits"):
        return {}
    table = t.table("position_limits")
    out = {}
    for key in table.data:
        out[key] = table.decimal(key, qty_grid, positive=True)
    return out


def _exact_product(decimals: list[str]) -> int | None:
    mantissa, exponent = 1, 0
    for text in decimals:
        m, e = split_decimal(text)
        mantissa *= m
        exponent += e
    q, r = divmod(mantissa, 10**exponent)
    return None if r else q


def _tiers(path: str, raw: object) -> tuple[MarginTier, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: at least one margin tier is required")
    tiers: list[MarginTier] = []
    floor = 0
    prev_im = prev_mm = 0
    im_ded = mm_ded = 0
    for i, item in enumerate(raw):
        t = _Table(item, f"{path}[{i}]")
        t.ensure_known(TIER_KEYS)
        lev = t.decimal("max_leverage", LEVERAGE_GRID, minimum=LEVERAGE_SCALE)
        mm = t.decimal("maintenance_rate", RATE_GRID, positive=True)
        im = div_ceil(PPB * LEVERAGE_SCALE, lev)
        if mm >= im:
            raise ConfigError(f"{t.path}.maintenance_rate: must be below the initial rate 1/max_leverage")
        if im < prev_im or mm < prev_mm:
            raise ConfigError(f"{t.path}: margin rates must not fall as notional grows")
        cap = t.decimal("max_notional", MONEY_GRID, positive=True) if t.has("max_notional") else None
        last = i == len(raw) - 1
        if cap is None and not last:
            raise ConfigError(f"{t.path}.max_notional: only the last tier may be uncapped")
        if cap is not None and cap <= floor:
            raise ConfigError(f"{t.path}.max_notional: tiers must grow")
        if cap is not None and last:
            raise ConfigError(f"{t.path}.max_notional: the last tier has no cap (it holds every larger notional)")
        im_ded += floor * (im - prev_im)
        mm_ded += floor * (mm - prev_mm)
        tiers.append(MarginTier(floor, cap, lev, im, mm, im_ded, mm_ded))
        prev_im, prev_mm = im, mm
        floor = cap if cap is not None else floor
    return tuple(tiers)


def _funding(t: _Table) -> FundingSpec:
    t.ensure_known(FUNDING_KEYS)
    return FundingSpec(
        interval_ms=t.integer("interval_ms", minimum=1),
        interest_rate_8h_ppb=t.decimal("interest_rate_8h", RATE_GRID),
        clamp_ppb=t.decimal("clamp", RATE_GRID, minimum=0),
        cap_ppb=t.decimal("cap", RATE_GRID, positive=True),
        impact_notional_micros=t.decimal("impact_notional", MONEY_GRID, positive=True),
        premium_sample_ms=t.integer("premium_sample_ms", minimum=1) if t.has("premium_sample_ms") else 60_000,
    )


def _index(name: str, t: _Table) -> IndexSpec:
    t.ensure_known(INDEX_KEYS)
    sources = t._get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"{t.path}.sources: expected a non-empty list of source names")
    if len(set(sources)) != len(sources):
        raise ConfigError(f"{t.path}.sources: a source is listed twice")
    if t.has("weights"):
        weights_raw = t._get("weights")
        if not isinstance(weights_raw, list) or len(weights_raw) != len(sources):
            raise ConfigError(f"{t.path}.weights: one weight per source is required")
        wt = _Table({str(i): w for i, w in enumerate(weights_raw)}, f"{t.path}.weights")
        weights = tuple(wt.decimal(str(i), RATE_GRID, positive=True) for i in range(len(sources)))
    else:
        weights = tuple(div_ceil(PPB, len(sources)) for _ in sources)
    min_sources = t.integer("min_sources", minimum=1)
    if min_sources > len(sources):
        raise ConfigError(f"{t.path}.min_sources: more than the {len(sources)} sources listed")
    return IndexSpec(
        name=name,
        sources=tuple(sources),
        weights_ppb=weights,
        min_sources=min_sources,
        max_age_ms=t.integer("max_age_ms", minimum=1),
        outlier_band_ppb=t.decimal("outlier_band", RATE_GRID, positive=True) if t.has("outlier_band") else PPB // 20,
        price_grid=t.step("tick_size") if t.has("tick_size") else Grid("0.01"),
        hold_ms=t.integer("hold_ms", minimum=1) if t.has("hold_ms") else t.integer("max_age_ms", minimum=1),
    )


def _segment(name: str, t: _Table) -> SegmentSpec:
    t.ensure_known(SEGMENT_KEYS)
    markets = None
    if t.has("markets"):
        value = t.data["markets"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{t.path}.markets: expected a list of market names")
        markets = tuple(value)
    return SegmentSpec(
        name=name,
        max_leverage=t.decimal("max_leverage", LEVERAGE_GRID, minimum=LEVERAGE_SCALE),
        max_position_notional_micros=t.decimal("max_position_notional", MONEY_GRID, positive=True),
        markets=markets,
    )


def _clearing(t: _Table) -> ClearingSpec:
    t.ensure_known(CLEARING_KEYS)
    return ClearingSpec(
        loss_model=t.text("loss_model", LOSS_MODELS),
        adl_ranking=t.text("adl_ranking", ADL_RANKINGS),
        insurance_fund_micros=t.decimal("insurance_fund", MONEY_GRID, minimum=0),
        clearing_house_capital_micros=t.decimal("clearing_house_capital", MONEY_GRID, minimum=0)
        if t.has("clearing_house_capital")
        else 0,
        settlement_interval_ms=t.integer("settlement_interval_ms", minimum=1),
        settlement_offset_ms=t.integer("settlement_offset_ms", minimum=0),
        liquidation_fee_ppb=t.decimal("liquidation_fee", RATE_GRID, minimum=0),
        liquidation_slice_micros=t.decimal("liquidation_slice", MONEY_GRID, positive=True),
        backstop_accounts=_names(t, "backstop_accounts"),
        assessment_multiple_ppb=t.decimal("assessment_multiple", RATE_GRID, minimum=0),
    )


def _names(t: _Table, key: str) -> tuple[str, ...]:
    value = t.data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{t.path}.{key}: expected a list of account ids")
    if len(set(value)) != len(value):
        raise ConfigError(f"{t.path}.{key}: an account is listed twice")
    return tuple(value)
