"""Findings: why an application cannot go ahead, one reason code and one sentence each.

A :class:`Finding` has the shape of a rejection in the protocol: ``reason`` is a
stable snake_case code (its meaning never changes once published), ``detail`` is a
sentence the applicant or the member's compliance desk can act on, and ``field``
names the profile field concerned (``None`` for the profile as a whole).
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Reason(StrEnum):
    """Why onboarding was refused (``onboarding_rejected.findings[].reason``)."""

    MALFORMED_PROFILE = "malformed_profile"
    """The profile is not a JSON object."""
    UNKNOWN_FIELD = "unknown_field"
    """The profile holds a field the protocol does not define (often a misspelling)."""
    INVALID_TYPE = "invalid_type"
    """A field has the wrong JSON type (a number where a decimal string is expected, ...)."""
    MISSING_FIELD = "missing_field"
    """A required field is absent, null or blank."""
    FIELD_TOO_LONG = "field_too_long"
    """A text field is longer than the protocol allows."""
    INVALID_NAME = "invalid_name"
    """The name has no letters or digits."""
    INVALID_DATE_OF_BIRTH = "invalid_date_of_birth"
    """Not a real ``YYYY-MM-DD`` date, in the future, or an implausible age."""
    UNDER_AGE = "under_age"
    """Younger than the configured minimum age on the command's UTC date."""
    INVALID_COUNTRY = "invalid_country"
    """Not two letters of an ISO 3166-1 alpha-2 code."""
    JURISDICTION_NOT_PERMITTED = "jurisdiction_not_permitted"
    """The country is not on the list of permitted jurisdictions."""
    SANCTIONED_NAME = "sanctioned_name"
    """The name matches an entry of the configured sanctions list."""
    INVALID_AMOUNT = "invalid_amount"
    """Not a plain decimal string of USD with at most six decimals, or negative."""
    INVALID_EXPERIENCE_YEARS = "invalid_experience_years"
    """Negative, or more years of trading experience than years of age."""
    INVALID_PRODUCT = "invalid_product"
    """A product outside the configured list of product names."""
    INVALID_OBJECTIVE = "invalid_objective"
    """An objective outside the configured list of objectives."""
    INVALID_RISK_TOLERANCE = "invalid_risk_tolerance"
    """Not one of ``low``, ``medium``, ``high``."""


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One reason an application was refused."""

    reason: str
    detail: str
    field: str | None = None
