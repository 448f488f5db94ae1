"""The [broker] table: the built-in values, overrides, and every way to get it wrong."""

from __future__ import annotations

import re
from typing import Any

import pytest

from onshore.broker import BrokerConfig, BrokerConfigError, broker_config, default_broker_table
from onshore.broker.names import name_key

from .conftest import USD


def test_builtin_values_are_the_documented_ones(config: BrokerConfig) -> None:
    assert config.review_period_days == 365
    assert (config.kyc.minimum_age, config.kyc.maximum_age) == (18, 120)
    assert {"US", "PR", "GU", "VI", "AS", "MP"} <= config.kyc.permitted_countries
    assert config.margin_call_warning_ratio_ppb == 1_500_000_000  # 1.5
    assert config.disclosure_versions == {"perpetual_futures_addendum": "1", "risk_disclosure_statement": "1"}
    assert config.suitability.max_score == 17
    assert config.suitability.risk_tolerance_max_leverage == {"low": 200}  # 2x in hundredths
    assert config.institutional.discretionary_investments_over_micros == 10_000_000 * USD
    assert config.institutional.hedging_discretionary_investments_over_micros == 5_000_000 * USD
    assert config.qualified.min_score == 11


def test_builtin_sanctioned_names_are_obviously_fictitious(config: BrokerConfig) -> None:
    markers = ("example", "fictitious", "ficticio", "nescio")
    assert config.kyc.sanctioned_names
    for name in config.kyc.sanctioned_names:
        assert any(marker in name_key(name) for marker in markers), name


def test_the_default_table_is_a_fresh_copy_each_time() -> None:
    table = default_broker_table()
    table["kyc"]["minimum_age"] = 99
    table["kyc"]["permitted_countries"].append("ZZ")
    assert default_broker_table()["kyc"]["minimum_age"] == 18
    assert "ZZ" not in default_broker_table()["kyc"]["permitted_countries"]


def test_overrides_merge_tables_and_replace_lists() -> None:
    config = broker_config({"kyc": {"minimum_age": 21, "permitted_countries": ["GB"]}})
    assert config.kyc.minimum_age == 21
    assert config.kyc.maximum_age == 120  # untouched keys keep their defaults
    assert config.kyc.permitted_countries == frozenset({"GB"})


def test_an_empty_sanctions_list_is_allowed() -> None:
    assert broker_config({"kyc": {"sanctioned_names": []}}).kyc.sanctioned_name_keys == frozenset()


BAD_TABLES: list[tuple[dict[str, Any], str]] = [
    ({"extra": 1}, "broker.extra: unknown key"),
    ({"review_period_days": 0}, "broker.review_period_days: must be at least 1"),
    ({"kyc": {"minimum_age": "18"}}, "broker.kyc.minimum_age: expected an integer"),
    ({"kyc": {"minimum_age": True}}, "broker.kyc.minimum_age: expected an integer"),
    ({"kyc": {"minimum_ag": 18}}, "broker.kyc.minimum_ag: unknown key"),
    ({"kyc": {"maximum_age": 18}}, "broker.kyc.maximum_age: must be at least 19"),
    ({"kyc": {"permitted_countries": ["us"]}}, "broker.kyc.permitted_countries[0]: 'us' is not of the form"),
    ({"kyc": {"permitted_countries": []}}, "broker.kyc.permitted_countries: must not be empty"),
    ({"kyc": {"permitted_countries": ["US", "US"]}}, "broker.kyc.permitted_countries[1]: 'US' is listed twice"),
    ({"kyc": {"permitted_countries": "US"}}, "broker.kyc.permitted_countries: expected a list"),
    ({"kyc": {"sanctioned_names": ["--"]}}, "broker.kyc.sanctioned_names[0]: '--' has no letters"),
    ({"kyc": {"products": ["Spot"]}}, "broker.kyc.products[0]"),
    ({"suitability": {"annual_income_steps": ["100000", "50000"]}}, "annual_income_steps[1]: steps must increase"),
    ({"suitability": {"annual_income_steps": [50000]}}, "annual_income_steps[0]: decimal values are strings"),
    ({"suitability": {"net_worth_steps": ["1e6"]}}, "broker.suitability.net_worth_steps[0]: not a plain decimal"),
    ({"suitability": {"liquid_assets_steps": ["-1"]}}, "liquid_assets_steps[0]: must not be negative"),
    ({"suitability": {"experience_years_steps": [1, 1]}}, "experience_years_steps[1]: steps must increase"),
    ({"suitability": {"product_points": {"crypto": 1}}}, "broker.suitability.product_points.crypto: not a product"),
    ({"suitability": {"risk_tolerance_points": {"high": 0}}}, "risk_tolerance_points.high: must not score below"),
    ({"suitability": {"risk_tolerance_points": {"extreme": 3}}}, "risk_tolerance_points.extreme: unknown key"),
    ({"suitability": {"risk_tolerance_max_leverage": {"low": "0.5"}}}, "max_leverage.low: leverage must be at least 1"),
    ({"suitability": {"risk_tolerance_max_leverage": {"low": "2.001"}}}, "max_leverage.low: 2.001 is not a multiple"),
    ({"qualified": {"derivatives": ["crypto"]}}, "broker.qualified.derivatives[0]: 'crypto' is not a product"),
    ({"qualified": {"risk_tolerances": ["extreme"]}}, "broker.qualified.risk_tolerances[0]: must be one of"),
    ({"qualified": {"min_net_worth": "5e5"}}, "broker.qualified.min_net_worth: not a plain decimal"),
    ({"institutional": {"hedging_objective": "yolo"}}, "broker.institutional.hedging_objective: 'yolo' is not"),
    (
        {"institutional": {"discretionary_investments_over": "-1"}},
        "discretionary_investments_over: must not be negative",
    ),
    ({"margin_call": {"warning_ratio": "1"}}, "broker.margin_call.warning_ratio: must be above 1"),
    ({"margin_call": {"warning_ratio": 1.5}}, "broker.margin_call.warning_ratio: decimal values are strings"),
    ({"disclosures": {"terms_of_service": "1"}}, "broker.disclosures.terms_of_service: unknown document"),
    ({"disclosures": {"risk_disclosure_statement": 2}}, "broker.disclosures.risk_disclosure_statement: a version"),
    ({"disclosures": {"risk_disclosure_statement": "two words"}}, "risk_disclosure_statement: a version is a string"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_TABLES)
def test_a_bad_value_is_refused_naming_its_field(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(BrokerConfigError, match=re.escape(message)):
        broker_config(overrides)


def test_a_missing_key_is_refused_naming_it() -> None:
    table = default_broker_table()
    del table["qualified"]["min_score"]
    with pytest.raises(BrokerConfigError, match=re.escape("broker.qualified.min_score: missing")):
        BrokerConfig.from_toml_table(table)


def test_the_error_is_a_value_error_and_a_non_table_is_refused() -> None:
    assert issubclass(BrokerConfigError, ValueError)
    with pytest.raises(BrokerConfigError, match="broker: expected a table"):
        BrokerConfig.from_toml_table([])  # type: ignore[arg-type]
    table = default_broker_table()
    table["kyc"] = "strict"
    with pytest.raises(BrokerConfigError, match=re.escape("broker.kyc: expected a table")):
        BrokerConfig.from_toml_table(table)
