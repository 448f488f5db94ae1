"""KYC: every reason an applicant cannot be onboarded, found at once."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.broker import (
    BrokerConfig,
    CustomerProfile,
    KycRejected,
    Reason,
    broker_config,
    kyc_findings,
    verify_profile,
)
from onshore.broker.kyc import profile_from_verified
from onshore.broker.profile import PROFILE_FIELDS

from .applicants import ALICE_RETAIL, applicant
from .conftest import MS_PER_DAY, TS_2026_01_01, USD, ts_of


def profile_of(raw: dict[str, Any]) -> CustomerProfile:
    return msgspec.convert(raw, CustomerProfile)


def reasons(raw: dict[str, Any], ts_ms: int, config: BrokerConfig) -> list[tuple[str, str | None]]:
    return [(f.reason, f.field) for f in kyc_findings(profile_of(raw), ts_ms, config)]


# ----------------------------------------------------------------------------- a clean applicant
def test_a_complete_valid_profile_has_no_findings_and_verifies_exactly(config: BrokerConfig) -> None:
    raw = applicant(ALICE_RETAIL, products_traded=["Spot", "spot", " futures "], annual_income="85000.5")
    verified = verify_profile(profile_of(raw), TS_2026_01_01, config)
    assert verified.annual_income_micros == 85_000_500_000
    assert verified.net_worth_micros == 150_000 * USD
    assert verified.products_traded == ("futures", "spot")  # normalised, de-duplicated, sorted
    assert (verified.age_years, verified.verified_on) == (35, "2026-01-01")
    assert verified.country == "US"


def test_the_verified_profile_goes_back_to_the_same_wire_profile(config: BrokerConfig) -> None:
    verified = verify_profile(profile_of(ALICE_RETAIL), TS_2026_01_01, config)
    again = verify_profile(profile_from_verified(verified), TS_2026_01_01, config)
    assert again == verified


def test_a_lower_case_country_code_is_read_as_upper_case(config: BrokerConfig) -> None:
    verified = verify_profile(profile_of(applicant(ALICE_RETAIL, country="us")), TS_2026_01_01, config)
    assert verified.country == "US"


def test_negative_net_worth_is_an_answer_not_an_error(config: BrokerConfig) -> None:
    verified = verify_profile(profile_of(applicant(ALICE_RETAIL, net_worth="-25000")), TS_2026_01_01, config)
    assert verified.net_worth_micros == -25_000 * USD


def test_no_trading_experience_is_an_answer_not_a_missing_field(config: BrokerConfig) -> None:
    raw = applicant(ALICE_RETAIL, experience_years=0, products_traded=[])
    assert reasons(raw, TS_2026_01_01, config) == []


# ----------------------------------------------------------------------------- sanctions
@pytest.mark.parametrize(
    "name",
    [
        "Zoë Fictitious",
        "zoe fictitious",  # case and accent
        "FICTITIOUS ZOE",  # word order
        "Fictitious, Zoë",  # punctuation
        "   zoë    fictitious ",  # spacing
        "Zoe\u0308 Fictitious",  # a combining diaeresis instead of a precomposed ë
        "José María Ejemplo Ficticio",
        "ficticio ejemplo JOSE maria",
        "Jose-Maria Ejemplo-Ficticio",
        "Ivan Example Sanctioned",  # the listed hyphen separates words
        "sanctioned.  EXAMPLE, ivan",
        "NOMEN NESCIO",
    ],
)
def test_a_sanctioned_name_is_rejected_however_it_is_written(config: BrokerConfig, name: str) -> None:
    assert reasons(applicant(ALICE_RETAIL, name=name), TS_2026_01_01, config) == [(Reason.SANCTIONED_NAME, "name")]


@pytest.mark.parametrize("name", ["Zoe Fictitiou", "Zoë Fictitious Smith", "Nomen", "Ivan Example"])
def test_a_merely_similar_name_is_not_a_match(config: BrokerConfig, name: str) -> None:
    assert reasons(applicant(ALICE_RETAIL, name=name), TS_2026_01_01, config) == []


def test_the_sanctions_finding_does_not_reveal_the_entry_matched(config: BrokerConfig) -> None:
    (finding,) = kyc_findings(profile_of(applicant(ALICE_RETAIL, name="Nomen Nescio")), TS_2026_01_01, config)
    assert "nescio" not in finding.detail.lower()


# ----------------------------------------------------------------------------- age
@pytest.mark.parametrize(
    ("date_of_birth", "ts_ms", "expected"),
    [
        # The 18th birthday is 2026-01-02: the last millisecond of the day before is refused...
        ("2008-01-02", ts_of(1) - 1, [(Reason.UNDER_AGE, "date_of_birth")]),
        # ...the first millisecond of the birthday is accepted.
        ("2008-01-02", ts_of(1), []),
        # A 29 February birthday: in the common year 2026 the age changes on 1 March.
        ("2008-02-29", ts_of(58), [(Reason.UNDER_AGE, "date_of_birth")]),  # 2026-02-28
        ("2008-02-29", ts_of(59), []),  # 2026-03-01
        ("2010-06-30", TS_2026_01_01, [(Reason.UNDER_AGE, "date_of_birth")]),
    ],
)
def test_the_minimum_age_holds_on_the_commands_utc_date(
    config: BrokerConfig, date_of_birth: str, ts_ms: int, expected: list[tuple[str, str]]
) -> None:
    assert reasons(applicant(ALICE_RETAIL, date_of_birth=date_of_birth), ts_ms, config) == expected


def test_an_under_age_applicant_is_told_when_they_become_eligible(config: BrokerConfig) -> None:
    raw = applicant(ALICE_RETAIL, date_of_birth="2008-02-29")
    (finding,) = kyc_findings(profile_of(raw), ts_of(58), config)
    assert "17 on 2026-02-28" in finding.detail
    assert "reached on 2026-03-01" in finding.detail


def test_the_minimum_age_is_configurable(config: BrokerConfig) -> None:
    strict = broker_config({"kyc": {"minimum_age": 21}})
    raw = applicant(ALICE_RETAIL, date_of_birth="2005-06-01")
    assert reasons(raw, TS_2026_01_01, config) == []
    assert reasons(raw, TS_2026_01_01, strict) == [(Reason.UNDER_AGE, "date_of_birth")]


@pytest.mark.parametrize(
    "date_of_birth",
    ["2026-01-02", "1900-01-01", "1990-02-30", "17/05/1990", "1990-5-17", "yesterday"],
)
def test_an_impossible_date_of_birth_is_refused(config: BrokerConfig, date_of_birth: str) -> None:
    raw = applicant(ALICE_RETAIL, date_of_birth=date_of_birth)
    assert reasons(raw, TS_2026_01_01, config) == [(Reason.INVALID_DATE_OF_BIRTH, "date_of_birth")]


def test_a_birth_on_the_commands_own_date_is_under_age_not_invalid(config: BrokerConfig) -> None:
    raw = applicant(ALICE_RETAIL, date_of_birth="2026-01-01")
    assert reasons(raw, TS_2026_01_01, config) == [
        (Reason.UNDER_AGE, "date_of_birth"),
        (Reason.INVALID_EXPERIENCE_YEARS, "experience_years"),  # 2 years of experience at age 0
    ]


# ----------------------------------------------------------------------------- jurisdiction
@pytest.mark.parametrize("country", ["IR", "KP", "FR", "ZZ", "ir"])
def test_an_applicant_from_a_country_not_permitted_is_rejected(config: BrokerConfig, country: str) -> None:
    raw = applicant(ALICE_RETAIL, country=country)
    assert reasons(raw, TS_2026_01_01, config) == [(Reason.JURISDICTION_NOT_PERMITTED, "country")]


@pytest.mark.parametrize("country", ["PR", "GU", "VI", "AS", "MP", "GB", "CA"])
def test_us_territories_and_listed_jurisdictions_are_permitted(config: BrokerConfig, country: str) -> None:
    assert reasons(applicant(ALICE_RETAIL, country=country), TS_2026_01_01, config) == []


@pytest.mark.parametrize("country", ["USA", "U", "U.S.", "1A", "Ü"])
def test_a_country_that_is_not_an_alpha_2_code_is_invalid(config: BrokerConfig, country: str) -> None:
    assert reasons(applicant(ALICE_RETAIL, country=country), TS_2026_01_01, config) == [
        (Reason.INVALID_COUNTRY, "country")
    ]


# ----------------------------------------------------------------------------- missing and malformed
def test_every_missing_field_is_listed_at_once_in_field_order(config: BrokerConfig) -> None:
    findings = kyc_findings(CustomerProfile(), TS_2026_01_01, config)
    assert [(f.reason, f.field) for f in findings] == [(Reason.MISSING_FIELD, field) for field in PROFILE_FIELDS]
    assert all(f.detail.startswith(f"{f.field} is required: ") for f in findings)


def test_blank_and_empty_values_count_as_missing(config: BrokerConfig) -> None:
    raw = applicant(ALICE_RETAIL, name="   ", address="", occupation=None, annual_income=" ", objectives=[])
    assert reasons(raw, TS_2026_01_01, config) == [
        (Reason.MISSING_FIELD, "name"),
        (Reason.MISSING_FIELD, "address"),
        (Reason.MISSING_FIELD, "occupation"),
        (Reason.MISSING_FIELD, "annual_income"),
        (Reason.MISSING_FIELD, "objectives"),
    ]


def test_every_problem_of_a_bad_application_is_reported_together(config: BrokerConfig) -> None:
    raw = applicant(
        ALICE_RETAIL,
        name="Zoë Fictitious",
        date_of_birth="2009-03-01",
        country="KP",
        occupation=...,
        liquid_assets="40,000",
        risk_tolerance="reckless",
    )
    assert reasons(raw, TS_2026_01_01, config) == [
        (Reason.SANCTIONED_NAME, "name"),
        (Reason.UNDER_AGE, "date_of_birth"),
        (Reason.JURISDICTION_NOT_PERMITTED, "country"),
        (Reason.MISSING_FIELD, "occupation"),
        (Reason.INVALID_AMOUNT, "liquid_assets"),
        (Reason.INVALID_RISK_TOLERANCE, "risk_tolerance"),
    ]
    with pytest.raises(KycRejected) as caught:
        verify_profile(profile_of(raw), TS_2026_01_01, config)
    assert len(caught.value.findings) == 6


@pytest.mark.parametrize("amount", ["85,000", "1e5", "0x10", "+5", "85000.0000001", "NaN", "$85000", "007"])
def test_an_amount_that_is_not_an_exact_usd_decimal_is_refused(config: BrokerConfig, amount: str) -> None:
    raw = applicant(ALICE_RETAIL, annual_income=amount)
    assert reasons(raw, TS_2026_01_01, config) == [(Reason.INVALID_AMOUNT, "annual_income")]


@pytest.mark.parametrize("field", ["annual_income", "liquid_assets", "invested_assets"])
def test_only_net_worth_may_be_negative(config: BrokerConfig, field: str) -> None:
    assert reasons(applicant(ALICE_RETAIL, **{field: "-1"}), TS_2026_01_01, config) == [(Reason.INVALID_AMOUNT, field)]


@pytest.mark.parametrize(("years", "ok"), [(-1, False), (0, True), (35, True), (36, False)])
def test_experience_cannot_be_negative_or_exceed_the_age(config: BrokerConfig, years: int, ok: bool) -> None:
    raw = applicant(ALICE_RETAIL, experience_years=years)  # Alice is 35
    expected = [] if ok else [(Reason.INVALID_EXPERIENCE_YEARS, "experience_years")]
    assert reasons(raw, TS_2026_01_01, config) == expected


def test_vocabulary_fields_accept_only_configured_names(config: BrokerConfig) -> None:
    raw = applicant(ALICE_RETAIL, products_traded=["spot", "nfts", "memecoins"], objectives=["moon"])
    findings = kyc_findings(profile_of(raw), TS_2026_01_01, config)
    assert [(f.reason, f.field) for f in findings] == [
        (Reason.INVALID_PRODUCT, "products_traded"),
        (Reason.INVALID_OBJECTIVE, "objectives"),
    ]
    assert "'memecoins', 'nfts'" in findings[0].detail


def test_text_too_long_and_names_without_letters_are_refused(config: BrokerConfig) -> None:
    raw = applicant(ALICE_RETAIL, name="?!", address="x" * 501, occupation="y" * 200)
    assert reasons(raw, TS_2026_01_01, config) == [
        (Reason.INVALID_NAME, "name"),
        (Reason.FIELD_TOO_LONG, "address"),
    ]


# ----------------------------------------------------------------------------- properties
def _break(field: str) -> st.SearchStrategy[tuple[str, Any, str]]:
    """Ways to make one field invalid, with the reason each must produce."""
    bad: dict[str, list[tuple[Any, str]]] = {
        "name": [(None, Reason.MISSING_FIELD), ("  ", Reason.MISSING_FIELD), ("Nescio  Nomen", Reason.SANCTIONED_NAME)],
        "date_of_birth": [
            (None, Reason.MISSING_FIELD),
            ("2015-01-01", Reason.UNDER_AGE),
            ("1990-02-29", Reason.INVALID_DATE_OF_BIRTH),
            ("2030-01-01", Reason.INVALID_DATE_OF_BIRTH),
        ],
        "country": [
            (None, Reason.MISSING_FIELD),
            ("KP", Reason.JURISDICTION_NOT_PERMITTED),
            ("X", Reason.INVALID_COUNTRY),
        ],
        "address": [(None, Reason.MISSING_FIELD), ("a" * 501, Reason.FIELD_TOO_LONG)],
        "occupation": [(None, Reason.MISSING_FIELD), ("", Reason.MISSING_FIELD)],
        "annual_income": [
            (None, Reason.MISSING_FIELD),
            ("-5", Reason.INVALID_AMOUNT),
            ("1.5e3", Reason.INVALID_AMOUNT),
        ],
        "net_worth": [(None, Reason.MISSING_FIELD), ("0.0000001", Reason.INVALID_AMOUNT)],
        "liquid_assets": [(None, Reason.MISSING_FIELD), ("-0.01", Reason.INVALID_AMOUNT)],
        "invested_assets": [(None, Reason.MISSING_FIELD), ("ten", Reason.INVALID_AMOUNT)],
        "experience_years": [(None, Reason.MISSING_FIELD), (-3, Reason.INVALID_EXPERIENCE_YEARS)],
        "products_traded": [(None, Reason.MISSING_FIELD), (["tulips"], Reason.INVALID_PRODUCT)],
        "objectives": [(None, Reason.MISSING_FIELD), ([], Reason.MISSING_FIELD), (["fun"], Reason.INVALID_OBJECTIVE)],
        "risk_tolerance": [(None, Reason.MISSING_FIELD), ("extreme", Reason.INVALID_RISK_TOLERANCE)],
    }
    return st.sampled_from(bad[field]).map(lambda pair: (field, pair[0], pair[1]))


breakages = st.sampled_from(PROFILE_FIELDS).flatmap(_break)


@given(st.lists(breakages, min_size=1, max_size=6, unique_by=lambda b: b[0]))
def test_findings_are_never_empty_for_an_invalid_profile(breaks: list[tuple[str, Any, str]]) -> None:
    config = BrokerConfig.default()
    raw = applicant(ALICE_RETAIL, **{field: value for field, value, _ in breaks})
    found = {(f.field, f.reason) for f in kyc_findings(profile_of(raw), TS_2026_01_01, config)}
    assert found
    for field, _, reason in breaks:
        assert (field, reason) in found


@given(
    st.integers(min_value=0, max_value=3_000 * 365),
    st.integers(min_value=0, max_value=MS_PER_DAY - 1),
)
def test_kyc_is_deterministic_and_ignores_the_time_of_day(days: int, ms: int) -> None:
    config = BrokerConfig.default()
    profile = profile_of(applicant(ALICE_RETAIL, date_of_birth="2008-02-29", experience_years=0))
    at_midnight = kyc_findings(profile, ts_of(days), config)
    assert kyc_findings(profile, ts_of(days, ms), config) == at_midnight
    assert kyc_findings(profile, ts_of(days), config) == at_midnight
