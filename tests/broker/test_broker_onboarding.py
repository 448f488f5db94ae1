"""Onboarding end to end, and the gates an onboarded account's orders pass."""

from __future__ import annotations

import msgspec
import pytest

from onshore.broker import (
    QUALIFIED,
    RETAIL,
    Approved,
    BrokerConfig,
    CustomerProfile,
    DisclosureRegistry,
    Reason,
    Rejected,
    TradingReason,
    is_review_current,
    opening_refusal,
    reducing_refusal,
    review_application,
    review_due_ms,
)
from onshore.broker.dates import parse_iso_date, utc_date_of
from onshore.broker.disclosures import PERPETUAL_FUTURES_ADDENDUM, RISK_DISCLOSURE_STATEMENT

from .applicants import ALICE_RETAIL, BOB_QUALIFIED, applicant
from .conftest import MS_PER_DAY, TS_2026_01_01, ts_of

ALL_ACKNOWLEDGED = {RISK_DISCLOSURE_STATEMENT: "1", PERPETUAL_FUTURES_ADDENDUM: "1"}


def approved(result: Approved | Rejected) -> Approved:
    assert isinstance(result, Approved), result
    return result


def rejected(result: Approved | Rejected) -> list[tuple[str, str | None]]:
    assert isinstance(result, Rejected), result
    return [(f.reason, f.field) for f in result.findings]


# ----------------------------------------------------------------------------- the application
def test_a_valid_application_is_approved_with_segment_review_date_and_disclosures(
    config: BrokerConfig, registry: DisclosureRegistry
) -> None:
    result = approved(review_application(ALICE_RETAIL, TS_2026_01_01, config, registry))
    assert result.assessment.segment == RETAIL
    assert result.profile.name == "Alice Martin"
    assert utc_date_of(result.review_due_ms).isoformat() == "2027-01-01"
    assert result.disclosures == ((PERPETUAL_FUTURES_ADDENDUM, "1"), (RISK_DISCLOSURE_STATEMENT, "1"))


def test_the_application_can_come_straight_from_a_json_line(config: BrokerConfig, registry: DisclosureRegistry) -> None:
    line = msgspec.json.encode({"type": "onboard_customer", "profile": BOB_QUALIFIED})
    raw = msgspec.json.decode(line)["profile"]
    from_json = approved(review_application(raw, TS_2026_01_01, config, registry))
    typed = msgspec.convert(BOB_QUALIFIED, CustomerProfile)
    assert approved(review_application(typed, TS_2026_01_01, config, registry)) == from_json
    assert from_json.assessment.segment == QUALIFIED
    # Both outcomes encode as JSON, ready to become events.
    assert msgspec.json.decode(msgspec.json.encode(from_json))["assessment"]["segment"] == QUALIFIED


def test_unknown_fields_and_wrong_types_are_reported_with_the_kyc_findings(
    config: BrokerConfig, registry: DisclosureRegistry
) -> None:
    raw = applicant(
        ALICE_RETAIL,
        occupation=...,
        annual_income=85000,  # a number, not a decimal string
        experience_years="2",
        products_traded="spot",
        country="KP",
        dob="1990-05-17",
    )
    assert rejected(review_application(raw, TS_2026_01_01, config, registry)) == [
        (Reason.UNKNOWN_FIELD, "dob"),
        (Reason.INVALID_TYPE, "annual_income"),
        (Reason.INVALID_TYPE, "experience_years"),
        (Reason.INVALID_TYPE, "products_traded"),
        (Reason.JURISDICTION_NOT_PERMITTED, "country"),
        (Reason.MISSING_FIELD, "occupation"),  # a mistyped field is not also reported missing
    ]


@pytest.mark.parametrize("raw", [None, [], "Alice", 42])
def test_a_profile_that_is_not_an_object_is_malformed(
    config: BrokerConfig, registry: DisclosureRegistry, raw: object
) -> None:
    assert rejected(review_application(raw, TS_2026_01_01, config, registry)) == [(Reason.MALFORMED_PROFILE, None)]


def test_an_empty_object_lists_every_missing_field(config: BrokerConfig, registry: DisclosureRegistry) -> None:
    findings = rejected(review_application({}, TS_2026_01_01, config, registry))
    assert len(findings) == 13
    assert {reason for reason, _ in findings} == {Reason.MISSING_FIELD}


# ----------------------------------------------------------------------------- the yearly review
def test_the_profile_review_falls_due_after_365_days(config: BrokerConfig) -> None:
    due = review_due_ms(TS_2026_01_01, config)
    assert due == TS_2026_01_01 + 365 * MS_PER_DAY
    assert is_review_current(due, due - 1)
    assert not is_review_current(due, due)


def test_a_review_on_a_leap_day_is_due_on_28_february(config: BrokerConfig) -> None:
    leap_day = ts_of(789)  # 2028-02-29
    assert utc_date_of(leap_day) == parse_iso_date("2028-02-29")
    assert utc_date_of(review_due_ms(leap_day, config)).isoformat() == "2029-02-28"


# ----------------------------------------------------------------------------- the gates
def test_the_issue_scenario_from_onboarding_to_reduce_only_and_back(
    config: BrokerConfig, registry: DisclosureRegistry
) -> None:
    onboarded = approved(review_application(ALICE_RETAIL, TS_2026_01_01, config, registry))
    due, acknowledged = onboarded.review_due_ms, dict[str, str]()
    now = ts_of(1)

    refusal = opening_refusal(acknowledged, registry, due, now)
    assert refusal is not None and refusal.reason == TradingReason.DISCLOSURE_NOT_ACKNOWLEDGED
    assert "perpetual_futures_addendum version 1, risk_disclosure_statement version 1" in refusal.detail

    for document, version in onboarded.disclosures:
        registry.ensure_acknowledgeable(document, version)
        acknowledged[document] = version
    assert opening_refusal(acknowledged, registry, due, now) is None

    registry.publish(PERPETUAL_FUTURES_ADDENDUM, "2")
    refusal = opening_refusal(acknowledged, registry, due, now)
    assert refusal is not None and refusal.reason == TradingReason.DISCLOSURE_NOT_ACKNOWLEDGED
    assert "perpetual_futures_addendum version 2" in refusal.detail
    assert "reduce-only orders remain accepted" in refusal.detail
    assert reducing_refusal(acknowledged, registry) is None

    acknowledged[PERPETUAL_FUTURES_ADDENDUM] = "2"
    assert opening_refusal(acknowledged, registry, due, now) is None


def test_an_overdue_review_blocks_opening_but_not_reducing(registry: DisclosureRegistry) -> None:
    due = ts_of(365)
    assert opening_refusal(ALL_ACKNOWLEDGED, registry, due, due - 1) is None
    refusal = opening_refusal(ALL_ACKNOWLEDGED, registry, due, due)
    assert refusal is not None and refusal.reason == TradingReason.PROFILE_REVIEW_DUE
    assert "was due on 2027-01-01" in refusal.detail
    assert reducing_refusal(ALL_ACKNOWLEDGED, registry) is None


def test_an_account_that_never_acknowledged_cannot_even_reduce(registry: DisclosureRegistry) -> None:
    refusal = reducing_refusal({}, registry)
    assert refusal is not None and refusal.reason == TradingReason.DISCLOSURE_NOT_ACKNOWLEDGED
