"""The streaming pass: its positions are the Venue's, it is deterministic, and chunking does not matter."""

from __future__ import annotations

from decimal import Decimal

import pytest

from onshore.core.events import Event
from onshore.surveillance.alerts import merge_ranges, seq_ranges
from onshore.surveillance.config import (
    SurveillanceConfig,
    SurveillanceConfigError,
    date_of_ms,
    day_of_date,
    load_surveillance_config,
    venue_facts,
)
from onshore.surveillance.decimals import NANO, DecimalCache, float_text, ratio, to_units
from onshore.surveillance.engine import Surveillance

from .conftest import Run, surveil


def test_positions_and_open_interest_match_the_venue_s_state(normal_run: Run) -> None:
    engine = Surveillance(None, venue_facts(normal_run.sim.venue.config))
    engine.run(normal_run.sim.events)
    state = normal_run.sim.venue.state_document()
    theirs = {
        (account, market): to_units(p["qty"], 9)
        for account, doc in state["accounts"].items()
        for market, p in doc["positions"].items()
    }
    assert engine.positions_now() == theirs
    result = engine.finish()
    for market, doc in state["markets"].items():
        (row,) = [r for r in result.market if r["market"] == market]
        assert row["open_interest"] == doc["open_interest"]


def test_same_events_same_result(normal_run: Run) -> None:
    again = surveil(normal_run.sim)
    first = normal_run.result
    assert again.market == first.market
    assert again.large_traders == first.large_traders
    assert again.positions == first.positions
    assert again.alerts == first.alerts


def test_feeding_one_by_one_or_in_chunks_is_the_same(planted_run: Run) -> None:
    events = planted_run.sim.events
    facts = venue_facts(planted_run.sim.venue.config)
    # push mode: each command, then its events one by one, as the adapters do
    engine = Surveillance(None, facts)
    by_cmd: dict[int, list[Event]] = {}
    for ev in events:
        by_cmd.setdefault(ev.cmd, []).append(ev)
    for number, command in enumerate(planted_run.sim.commands, start=1):
        engine.feed_command(number, command)
        for ev in by_cmd.get(number, []):
            engine.feed(ev)
    one_by_one = engine.finish()
    assert one_by_one.alerts == planted_run.result.alerts
    assert one_by_one.market == planted_run.result.market
    assert one_by_one.large_traders == planted_run.result.large_traders


# ------------------------------------------------------------------------------ configuration
def test_surveillance_table_over_the_defaults() -> None:
    config = load_surveillance_config(
        """
[markets.BTC-PERP]
tick_size = "0.1"

[surveillance]
reportable_level = 50
concentration_share = "0.25"

[surveillance.reportable_levels]
ETH-PERP = 100

[surveillance.accountability_levels.BTC-PERP]
default = 3000
retail = 1000
"""
    )
    assert config.reportable_lots("BTC-PERP") == 50 * NANO
    assert config.reportable_lots("ETH-PERP") == 100 * NANO
    assert config.accountability_lots("BTC-PERP", "retail") == 1000 * NANO
    assert config.accountability_lots("BTC-PERP", "institutional") == 3000 * NANO
    assert config.accountability_lots("ETH-PERP", "retail") == 5000 * NANO
    assert config.concentration_share == "0.25"
    assert config.wash_high_trades == SurveillanceConfig().wash_high_trades
    assert load_surveillance_config(None) == SurveillanceConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[surveillance]\nspoof_size_ratio = 3\n", 'decimal values are strings (write "3")'),
        ("[surveillance]\nreportable_level = -1\n", "non-negative integer"),
        ('[surveillance]\nreportable_level = "25"\n', "non-negative integer"),
        ('[surveillance]\ncancel_ratio = "-0.5"\n', "must not be negative"),
        ('[surveillance]\nconcentration_share = "40%"\n', "not a plain decimal"),
        ("[surveillance]\nreportable_levels = 3\n", "expected a table"),
        ("[surveillance]\nnope = 1\n", "surveillance.nope: unknown key"),
        ("[surveillance\n", "not valid TOML"),
    ],
)
def test_bad_surveillance_tables_name_the_key(text: str, message: str) -> None:
    with pytest.raises(SurveillanceConfigError) as info:
        load_surveillance_config(text)
    assert message in str(info.value)


# ------------------------------------------------------------------------------ small parts
def test_decimal_cache_is_exact() -> None:
    cache = DecimalCache(9)
    for text in ("0", "7", "-7", "65000.1", "-0.000000001", "3199.50"):
        assert Decimal(cache[text]) / NANO == Decimal(text)
    with pytest.raises(ValueError, match="more than 9 decimals"):
        _ = cache["0.0000000001"]
    with pytest.raises(ValueError, match="plain decimal"):
        _ = cache["1e5"]


def test_ratio_rounds_half_to_even() -> None:
    assert ratio(1, 3) == "0.333333"
    assert ratio(52, 55) == "0.945455"
    assert ratio(1, 8, 2) == "0.12"  # 0.125 -> even
    assert ratio(3, 8, 2) == "0.38"  # 0.375 -> even
    assert ratio(5, 0) == ""
    assert float_text(0.1234567) == "0.123457"
    assert float_text(-0.0000001) == "0"


def test_sequence_ranges() -> None:
    assert seq_ranges([9, 3, 4, 5, 5]) == ((3, 5), (9, 9))
    assert seq_ranges([1, 3, 5], limit=2) == ((1, 1), (3, 3))
    assert merge_ranges([(5, 9), (1, 2), (3, 4), (20, 21)]) == ((1, 9), (20, 21))


def test_utc_dates() -> None:
    assert date_of_ms(1_767_225_600_000) == "2026-01-01"
    assert date_of_ms(1_767_225_599_999) == "2025-12-31"
    assert day_of_date("2026-01-01") * 86_400_000 == 1_767_225_600_000
