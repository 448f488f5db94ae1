"""The configuration loader: built-in defaults, partial overrides, and every way to get it wrong."""

from __future__ import annotations

import copy
import itertools
import re
import tomllib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.config.load import ConfigError, build_config, default_config, default_toml, load_config
from onshore.core.spec import LEVERAGE_GRID, MarketSpec, VenueConfig
from onshore.core.units import PPB, div_ceil, format_micros, format_ppb

USD = 1_000_000  # micro-dollars per dollar
SOURCES = ("coinbase", "kraken", "bitstamp", "gemini")


@pytest.fixture(scope="module")
def builtin() -> VenueConfig:
    return default_config()


@pytest.fixture(scope="module")
def btc(builtin: VenueConfig) -> MarketSpec:
    return builtin.markets["BTC-PERP"]


# ----------------------------------------------------------------------------- built-in config
def test_builtin_config_lists_the_protocol_markets_indices_and_sources(builtin: VenueConfig) -> None:
    assert set(builtin.markets) == {"BTC-PERP", "ETH-PERP"}
    assert builtin.markets["BTC-PERP"].index == "BTC-USD"
    assert builtin.markets["ETH-PERP"].index == "ETH-USD"
    assert set(builtin.indices) == {"BTC-USD", "ETH-USD"}
    for index in builtin.indices.values():
        assert index.sources == SOURCES
        assert index.min_sources == 2
        assert index.max_age_ms == 30_000
        assert index.weights_ppb == (PPB // 4,) * 4


def test_builtin_config_has_every_segment_and_us_style_clearing(builtin: VenueConfig) -> None:
    assert set(builtin.segments) == {"retail", "qualified", "institutional", "market_maker"}
    assert builtin.segments["retail"].max_leverage == 1000  # 10x in hundredths
    assert builtin.segments["retail"].max_position_notional_micros == 1_000_000 * USD
    assert builtin.clearing.loss_model == "us_clearing"
    assert builtin.clearing.adl_ranking == "pnl_leverage"
    assert builtin.clearing.insurance_fund_micros == 0
    assert builtin.clearing.clearing_house_capital_micros == 10_000_000 * USD


def test_builtin_btc_perp_holds_the_documented_protocol_keys(btc: MarketSpec) -> None:
    assert (btc.contract_size, btc.tick_size, btc.lot_size) == ("0.01", "0.1", "1")
    assert btc.max_order_lots == 5000
    assert btc.price_band_ppb == 50_000_000
    assert btc.market_protection_ppb == 20_000_000
    assert (btc.maker_fee_ppb, btc.taker_fee_ppb) == (100_000, 400_000)
    f = btc.funding
    assert (f.interval_ms, f.premium_sample_ms) == (3_600_000, 60_000)
    assert (f.interest_rate_8h_ppb, f.clamp_ppb, f.cap_ppb) == (100_000, 500_000, 4_000_000)
    assert f.impact_notional_micros == 20_000 * USD


@pytest.mark.parametrize(
    ("market", "micros"),
    [
        ("BTC-PERP", 1000),  # tick 0.1 USD × lot 1 × 0.01 BTC = 0.001 USD
        ("ETH-PERP", 1000),  # tick 0.01 USD × lot 1 × 0.1 ETH = 0.001 USD
    ],
)
def test_micros_per_tick_lot_is_exact(builtin: VenueConfig, market: str, micros: int) -> None:
    assert builtin.markets[market].micros_per_tick_lot == micros


def test_notional_of_three_btc_contracts_at_65000_5_is_exact(btc: MarketSpec) -> None:
    price_ticks = btc.price_grid.parse("65000.5")
    qty_lots = btc.qty_grid.parse("3")
    # 65000.5 USD/BTC × 3 contracts × 0.01 BTC = 1950.015 USD
    assert btc.notional_micros(price_ticks, qty_lots) == 1_950_015_000


def test_builtin_tiers_hold_their_rates(btc: MarketSpec) -> None:
    assert [t.max_leverage for t in btc.tiers] == [5000, 2500, 1000, 500, 200]
    assert [t.initial_rate_ppb for t in btc.tiers] == [20_000_000, 40_000_000, 100_000_000, 200_000_000, 500_000_000]
    assert [t.maintenance_rate_ppb for t in btc.tiers] == [10_000_000, 20_000_000, 50_000_000, 100_000_000, 250_000_000]
    assert [t.floor_micros for t in btc.tiers] == [
        0,
        1_000_000 * USD,
        5_000_000 * USD,
        20_000_000 * USD,
        50_000_000 * USD,
    ]
    assert btc.tiers[-1].cap_micros is None


def test_loading_nothing_is_the_builtin_config() -> None:
    assert load_config(None) == load_config("") == default_config()
    assert "[markets.BTC-PERP]" in default_toml()


# ----------------------------------------------------------------------------- partial overrides
def test_a_partial_file_overrides_one_key_and_keeps_the_rest(builtin: VenueConfig) -> None:
    config = load_config('[markets.BTC-PERP]\ntick_size = "1"\n')
    btc, before = config.markets["BTC-PERP"], builtin.markets["BTC-PERP"]
    assert btc.tick_size == "1"
    assert btc.micros_per_tick_lot == 10_000  # 1 USD × 1 × 0.01 BTC
    assert btc.price_grid.parse("65000") == 65_000
    assert (btc.lot_size, btc.contract_size, btc.max_order_lots) == (before.lot_size, before.contract_size, 5000)
    assert btc.tiers == before.tiers
    assert btc.funding == before.funding
    assert config.markets["ETH-PERP"] == builtin.markets["ETH-PERP"]
    assert config.indices == builtin.indices
    assert config.clearing == builtin.clearing


def test_a_partial_nested_table_merges_key_by_key(builtin: VenueConfig) -> None:
    config = load_config(
        '[markets.ETH-PERP.funding]\ninterest_rate_8h = "0"\n\n[clearing]\nloss_model = "offshore"\n'
        "\n[indices.BTC-USD]\nmin_sources = 3\n"
    )
    eth_funding = config.markets["ETH-PERP"].funding
    assert eth_funding.interest_rate_8h_ppb == 0
    assert eth_funding.cap_ppb == builtin.markets["ETH-PERP"].funding.cap_ppb
    assert config.clearing.loss_model == "offshore"
    assert config.clearing.adl_ranking == "pnl_leverage"
    assert config.indices["BTC-USD"].min_sources == 3
    assert config.indices["BTC-USD"].sources == SOURCES


def test_margin_tiers_in_a_partial_file_replace_the_whole_list() -> None:
    config = load_config('[[markets.BTC-PERP.margin_tiers]]\nmax_leverage = "20"\nmaintenance_rate = "0.025"\n')
    (tier,) = config.markets["BTC-PERP"].tiers
    assert (tier.max_leverage, tier.initial_rate_ppb, tier.maintenance_rate_ppb) == (2000, 50_000_000, 25_000_000)
    assert tier.cap_micros is None


def test_a_new_market_on_a_new_index_can_be_added() -> None:
    sol = """
[indices.SOL-USD]
sources = ["coinbase", "kraken"]
min_sources = 1
max_age_ms = 10000

[markets.SOL-PERP]
index = "SOL-USD"
contract_size = "1"
tick_size = "0.001"
lot_size = "1"
max_order_qty = "100000"
price_band = "0.1"
market_protection = "0.05"
maker_fee = "-0.0001"
taker_fee = "0.0005"

[[markets.SOL-PERP.margin_tiers]]
max_leverage = "10"
maintenance_rate = "0.05"

[markets.SOL-PERP.funding]
interval_ms = 28800000
interest_rate_8h = "0.0001"
clamp = "0.0005"
cap = "0.02"
impact_notional = "5000"
"""
    config = load_config(sol)
    spec = config.markets["SOL-PERP"]
    assert spec.micros_per_tick_lot == 1000
    assert spec.maker_fee_ppb == -100_000
    assert spec.funding.premium_sample_ms == 60_000  # the documented default
    assert config.indices["SOL-USD"].weights_ppb == (PPB // 2, PPB // 2)
    assert config.indices["SOL-USD"].outlier_band_ppb == PPB // 20
    assert set(config.markets) == {"BTC-PERP", "ETH-PERP", "SOL-PERP"}


# ----------------------------------------------------------------------------- invalid configs
INVALID: list[tuple[str, str, str]] = [
    # name, partial TOML, the message's leading field path (and, after "|", words it contains)
    (
        "tick × lot × size off micro-dollars",
        '[markets.BTC-PERP]\ntick_size = "0.0000001"',
        "markets.BTC-PERP.tick_size|micro",
    ),
    ("contract size too fine", '[markets.BTC-PERP]\ncontract_size = "0.000000001"', "markets.BTC-PERP.tick_size|micro"),
    ("tick as float", "[markets.BTC-PERP]\ntick_size = 0.1", "markets.BTC-PERP.tick_size|strings"),
    ("fee as float", "[markets.BTC-PERP]\nmaker_fee = 0.0001", "markets.BTC-PERP.maker_fee|strings"),
    ("funding cap as float", "[markets.ETH-PERP.funding]\ncap = 0.004", "markets.ETH-PERP.funding.cap|strings"),
    ("insurance fund as int", "[clearing]\ninsurance_fund = 0", "clearing.insurance_fund|strings"),
    (
        "tier leverage as int",
        '[[markets.BTC-PERP.margin_tiers]]\nmax_leverage = 20\nmaintenance_rate = "0.01"',
        "markets.BTC-PERP.margin_tiers[0].max_leverage|strings",
    ),
    ("exponent decimal", '[markets.BTC-PERP]\ntick_size = "1e-1"', "markets.BTC-PERP.tick_size|plain decimal"),
    ("zero tick", '[markets.BTC-PERP]\ntick_size = "0"', "markets.BTC-PERP.tick_size|positive"),
    ("overlong decimal", f'[clearing]\ninsurance_fund = "{"1" * 5000}"', "clearing.insurance_fund|characters"),
    (
        "max order off the lot grid",
        '[markets.BTC-PERP]\nmax_order_qty = "0.5"',
        "markets.BTC-PERP.max_order_qty|multiple",
    ),
    ("negative price band", '[markets.BTC-PERP]\nprice_band = "-0.05"', "markets.BTC-PERP.price_band|positive"),
    (
        "zero market protection",
        '[markets.ETH-PERP]\nmarket_protection = "0"',
        "markets.ETH-PERP.market_protection|positive",
    ),
    ("negative funding cap", '[markets.BTC-PERP.funding]\ncap = "-0.004"', "markets.BTC-PERP.funding.cap|positive"),
    ("negative clamp", '[markets.BTC-PERP.funding]\nclamp = "-0.0005"', "markets.BTC-PERP.funding.clamp|at least"),
    ("zero interval", "[markets.BTC-PERP.funding]\ninterval_ms = 0", "markets.BTC-PERP.funding.interval_ms|at least 1"),
    (
        "interval as float",
        "[markets.BTC-PERP.funding]\ninterval_ms = 3600000.0",
        "markets.BTC-PERP.funding.interval_ms|integer",
    ),
    ("rebate above taker fee", '[markets.BTC-PERP]\nmaker_fee = "-0.0005"', "markets.BTC-PERP.maker_fee|rebate"),
    ("unknown loss model", '[clearing]\nloss_model = "bailout"', "clearing.loss_model|us_clearing, offshore"),
    ("unknown adl ranking", '[clearing]\nadl_ranking = "random"', "clearing.adl_ranking|pnl_leverage, pro_rata"),
    ("negative insurance fund", '[clearing]\ninsurance_fund = "-1"', "clearing.insurance_fund|at least 0"),
    ("unknown index", '[markets.BTC-PERP]\nindex = "BTC-EUR"', "markets.BTC-PERP.index|unknown index 'BTC-EUR'"),
    ("index not a string", "[markets.BTC-PERP]\nindex = 1", "markets.BTC-PERP.index|string"),
    (
        "maintenance equal to initial",
        '[[markets.BTC-PERP.margin_tiers]]\nmax_leverage = "50"\nmaintenance_rate = "0.02"',
        "markets.BTC-PERP.margin_tiers[0].maintenance_rate|initial",
    ),
    (
        "maintenance above initial",
        '[[markets.BTC-PERP.margin_tiers]]\nmax_leverage = "10"\nmaintenance_rate = "0.2"',
        "markets.BTC-PERP.margin_tiers[0].maintenance_rate|initial",
    ),
    (
        "leverage below 1x",
        '[[markets.BTC-PERP.margin_tiers]]\nmax_leverage = "0.5"\nmaintenance_rate = "0.1"',
        "markets.BTC-PERP.margin_tiers[0].max_leverage|at least 1",
    ),
    ("no tiers", "[markets.BTC-PERP]\nmargin_tiers = []", "markets.BTC-PERP.margin_tiers|at least one"),
    (
        "tiers that do not grow",
        """
[[markets.BTC-PERP.margin_tiers]]
max_notional = "1000000"
max_leverage = "50"
maintenance_rate = "0.01"
[[markets.BTC-PERP.margin_tiers]]
max_notional = "1000000"
max_leverage = "25"
maintenance_rate = "0.02"
[[markets.BTC-PERP.margin_tiers]]
max_leverage = "10"
maintenance_rate = "0.05"
""",
        "markets.BTC-PERP.margin_tiers[1].max_notional|grow",
    ),
    (
        "tiers that shrink",
        """
[[markets.BTC-PERP.margin_tiers]]
max_notional = "1000000"
max_leverage = "50"
maintenance_rate = "0.01"
[[markets.BTC-PERP.margin_tiers]]
max_notional = "500000"
max_leverage = "25"
maintenance_rate = "0.02"
""",
        "markets.BTC-PERP.margin_tiers[1].max_notional|grow",
    ),
    (
        "leverage that grows with notional",
        """
[[markets.BTC-PERP.margin_tiers]]
max_notional = "1000000"
max_leverage = "20"
maintenance_rate = "0.01"
[[markets.BTC-PERP.margin_tiers]]
max_leverage = "50"
maintenance_rate = "0.01"
""",
        "markets.BTC-PERP.margin_tiers[1]|must not fall",
    ),
    (
        "maintenance that falls with notional",
        """
[[markets.BTC-PERP.margin_tiers]]
max_notional = "1000000"
max_leverage = "20"
maintenance_rate = "0.02"
[[markets.BTC-PERP.margin_tiers]]
max_leverage = "10"
maintenance_rate = "0.01"
""",
        "markets.BTC-PERP.margin_tiers[1]|must not fall",
    ),
    (
        "an uncapped tier before the last",
        """
[[markets.BTC-PERP.margin_tiers]]
max_leverage = "50"
maintenance_rate = "0.01"
[[markets.BTC-PERP.margin_tiers]]
max_leverage = "10"
maintenance_rate = "0.05"
""",
        "markets.BTC-PERP.margin_tiers[0].max_notional|only the last",
    ),
    ("min sources above sources", "[indices.BTC-USD]\nmin_sources = 5", "indices.BTC-USD.min_sources|4 sources"),
    ("min sources as bool", "[indices.BTC-USD]\nmin_sources = true", "indices.BTC-USD.min_sources|integer"),
    (
        "a source twice",
        '[indices.ETH-USD]\nsources = ["coinbase", "coinbase"]\nweights = ["0.5", "0.5"]',
        "indices.ETH-USD.sources|twice",
    ),
    ("no sources", "[indices.ETH-USD]\nsources = []", "indices.ETH-USD.sources|non-empty"),
    ("weights miscounted", '[indices.BTC-USD]\nweights = ["0.5", "0.5"]', "indices.BTC-USD.weights|one weight"),
    ("segment leverage as float", "[segments.retail]\nmax_leverage = 10.0", "segments.retail.max_leverage|strings"),
    ("markets not a table", "markets = 5", "markets|table"),
    ("market not a table", '[markets]\nBTC-PERP = "big"', "markets.BTC-PERP|table"),
    ("new market missing fields", '[markets.SOL-PERP]\nindex = "BTC-USD"', "markets.SOL-PERP.tick_size|missing"),
]


def _expect_config_error(run: Callable[[], object], expected: str) -> ConfigError:
    path, _, words = expected.partition("|")
    with pytest.raises(ConfigError, match="^" + re.escape(path + ":")) as caught:
        run()
    if words:
        assert words in str(caught.value)
    return caught.value


@pytest.mark.parametrize(("toml", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_an_invalid_config_fails_at_load_naming_the_field(toml: str, expected: str) -> None:
    _expect_config_error(lambda: load_config(toml), expected)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("markets", "ETH-PERP", "funding", "interval_ms"), "markets.ETH-PERP.funding.interval_ms|missing"),
        (("markets", "BTC-PERP", "funding"), "markets.BTC-PERP.funding|missing"),
        (("markets", "BTC-PERP", "index"), "markets.BTC-PERP.index|missing"),
        (("indices", "BTC-USD", "max_age_ms"), "indices.BTC-USD.max_age_ms|missing"),
        (("segments", "retail"), "segments.retail|missing"),
        (("segments", "market_maker", "max_position_notional"), "segments.market_maker.max_position_notional|missing"),
        (("clearing", "loss_model"), "clearing.loss_model|missing"),
        (("clearing",), "clearing|missing"),
        (("markets",), "markets|at least one market"),
    ],
)
def test_a_missing_field_fails_naming_its_path(path: tuple[str, ...], expected: str) -> None:
    raw = tomllib.loads(default_toml())
    table = raw
    for key in path[:-1]:
        table = table[key]
    del table[path[-1]]
    _expect_config_error(lambda: build_config(raw), expected)


def test_a_tier_missing_its_maintenance_rate_fails_naming_the_tier() -> None:
    raw = tomllib.loads(default_toml())
    del raw["markets"]["BTC-PERP"]["margin_tiers"][2]["maintenance_rate"]
    _expect_config_error(lambda: build_config(raw), "markets.BTC-PERP.margin_tiers[2].maintenance_rate|missing")


@pytest.mark.parametrize(
    "toml", ["[markets.BTC-PERP", 'tick_size = "0.1"\ntick_size = "1"', "x = ", "[clearing]\nloss_model = offshore"]
)
def test_invalid_toml_is_a_config_error(toml: str) -> None:
    with pytest.raises(ConfigError, match=r"^not valid TOML"):
        load_config(toml)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        load_config('[clearing]\nloss_model = "bailout"')


def test_a_failed_load_leaves_the_builtin_defaults_untouched(builtin: VenueConfig) -> None:
    raw_before = copy.deepcopy(tomllib.loads(default_toml()))
    with pytest.raises(ConfigError):
        load_config('[markets.BTC-PERP]\ntick_size = "0.0000001"')
    assert tomllib.loads(default_toml()) == raw_before
    assert default_config() == builtin


# ----------------------------------------------------------------------------- margin tiers
def test_btc_perp_at_two_million_is_tier_two_two_percent_less_ten_thousand(btc: MarketSpec) -> None:
    notional = 2_000_000 * USD
    tier = btc.tier_for(notional)
    assert tier is btc.tiers[1]
    assert tier.maintenance_rate_ppb == 20_000_000  # 2 %
    # deduction = floor × (2 % − 1 %) = 1,000,000 × 0.01 = 10,000 USD, held in micro-dollar-ppb
    assert tier.maintenance_deduction_micros_ppb == 10_000 * USD * PPB
    assert tier.maintenance_micros(notional) == 30_000 * USD  # 2,000,000 × 2 % − 10,000
    # initial: 25x is 4 %, deduction 1,000,000 × (4 % − 2 %) = 20,000
    assert tier.initial_micros(notional) == 60_000 * USD


def test_btc_perp_at_ten_million_equals_the_sum_over_its_slices(btc: MarketSpec) -> None:
    notional = 10_000_000 * USD
    tier = btc.tier_for(notional)
    assert tier is btc.tiers[2]
    # 1M at 1 % + 4M at 2 % + 5M at 5 %  =  500,000 − (10,000 + 5,000,000 × 3 %)
    assert tier.maintenance_micros(notional) == (10_000 + 80_000 + 250_000) * USD
    # 1M at 2 % + 4M at 4 % + 5M at 10 %
    assert tier.initial_micros(notional) == (20_000 + 160_000 + 500_000) * USD


def test_a_boundary_belongs_to_the_upper_tier_and_both_agree_on_it(btc: MarketSpec) -> None:
    boundary = 1_000_000 * USD
    assert btc.tier_for(boundary - 1) is btc.tiers[0]
    assert btc.tier_for(boundary) is btc.tiers[1]
    assert btc.tier_for(-boundary) is btc.tiers[1]  # a short position's notional counts by size
    assert btc.tiers[0].maintenance_micros(boundary) == btc.tiers[1].maintenance_micros(boundary) == 10_000 * USD
    assert btc.tiers[0].initial_micros(boundary) == btc.tiers[1].initial_micros(boundary) == 20_000 * USD
    assert btc.tier_for(10**9 * USD) is btc.tiers[-1]


def test_a_requirement_rounds_up_against_the_trader(btc: MarketSpec) -> None:
    # 1 micro-dollar at 1 % is 0.01 micro-dollar: owed, so one whole micro-dollar.
    assert btc.tier_for(1).maintenance_micros(1) == 1
    assert btc.tier_for(0).maintenance_micros(0) == 0


def _sliced_micros(spec: MarketSpec, notional: int, rate: Callable[[Any], int]) -> int:
    """The requirement as a sum over the bands: each slice of notional at its own tier's rate."""
    total = 0
    for tier in spec.tiers:
        top = notional if tier.cap_micros is None else min(notional, tier.cap_micros)
        total += max(0, top - tier.floor_micros) * rate(tier)
    return div_ceil(total, PPB)


def _check_tiers(spec: MarketSpec, notionals: list[int]) -> None:
    def mm(n: int) -> int:
        return spec.tier_for(n).maintenance_micros(n)

    def im(n: int) -> int:
        return spec.tier_for(n).initial_micros(n)

    for lower, upper in itertools.pairwise(spec.tiers):
        boundary = upper.floor_micros
        assert lower.cap_micros == boundary
        # continuous: both formulas give the same requirement at the boundary ...
        assert lower.maintenance_micros(boundary) == upper.maintenance_micros(boundary)
        assert lower.initial_micros(boundary) == upper.initial_micros(boundary)
        # ... and one micro-dollar of notional moves it by at most one micro-dollar of rounding
        assert 0 <= mm(boundary) - mm(boundary - 1) <= 1
        assert 0 <= im(boundary) - im(boundary - 1) <= 1
        notionals = [*notionals, boundary - 1, boundary, boundary + 1]
    previous_mm = previous_im = 0
    for n in sorted(notionals):
        assert mm(n) == _sliced_micros(spec, n, lambda t: t.maintenance_rate_ppb)
        assert im(n) == _sliced_micros(spec, n, lambda t: t.initial_rate_ppb)
        assert previous_mm <= mm(n) <= im(n)
        assert previous_im <= im(n)
        previous_mm, previous_im = mm(n), im(n)


notionals_micros = st.lists(st.integers(min_value=0, max_value=200_000_000 * USD), min_size=1, max_size=30)


@pytest.mark.parametrize("market", ["BTC-PERP", "ETH-PERP"])
@given(notionals=notionals_micros)
def test_builtin_requirements_are_continuous_and_never_fall(
    builtin: VenueConfig, market: str, notionals: list[int]
) -> None:
    _check_tiers(builtin.markets[market], notionals)


@st.composite
def tier_tomls(draw: st.DrawFn) -> str:
    """A valid list of margin tiers for BTC-PERP: growing caps, falling leverage, rising rates."""
    count = draw(st.integers(min_value=1, max_value=6))
    caps = sorted(
        draw(st.sets(st.integers(min_value=1, max_value=10**9 * USD), min_size=count - 1, max_size=count - 1))
    )
    leverages = sorted(draw(st.lists(st.integers(min_value=100, max_value=12_500), min_size=count, max_size=count)))
    leverages.reverse()
    lines = []
    maintenance = 1
    for i, leverage in enumerate(leverages):
        initial = div_ceil(PPB * 100, leverage)
        maintenance = draw(st.integers(min_value=maintenance, max_value=initial - 1))
        lines.append("[[markets.BTC-PERP.margin_tiers]]")
        if i < len(caps):
            lines.append(f'max_notional = "{format_micros(caps[i])}"')
        lines.append(f'max_leverage = "{LEVERAGE_GRID.format(leverage)}"')
        lines.append(f'maintenance_rate = "{format_ppb(maintenance)}"')
    return "\n".join(lines)


@given(tiers=tier_tomls(), notionals=st.lists(st.integers(min_value=0, max_value=2 * 10**9 * USD), max_size=20))
def test_any_valid_tiers_give_continuous_never_falling_requirements(tiers: str, notionals: list[int]) -> None:
    spec = load_config(tiers).markets["BTC-PERP"]
    _check_tiers(spec, notionals)
