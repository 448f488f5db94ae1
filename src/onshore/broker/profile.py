"""The customer profile: what an applicant tells the FCM, and its verified form.

:class:`CustomerProfile` is the ``profile`` of the ``onboard_customer`` command,
exactly as on the wire: amounts are USD decimal strings, the date of birth is
``YYYY-MM-DD``. Every field may be absent (``None``) so that a profile with several
missing fields decodes, and KYC can list all of them at once
(:func:`onshore.broker.kyc.kyc_findings`). :func:`decode_profile` turns the decoded
JSON object into a profile and reports every unknown field and every wrong JSON type
at once, instead of stopping at the first as a typed decoder would.

:class:`VerifiedProfile` is the internal form KYC returns when it finds nothing
wrong: amounts in integer micro-dollars, products and objectives de-duplicated and
sorted, the age on the verification date. Suitability scores only verified profiles.

The fields are those NFA Rule 2-30(c) asks for (name, address, occupation, income,
net worth, age, trading experience) plus what the venue needs for its own rules
(country, liquid and invested assets, objectives, risk tolerance).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from onshore.broker.findings import Finding, Reason

TEXT_FIELDS = ("name", "address", "occupation")
AMOUNT_FIELDS = ("annual_income", "net_worth", "liquid_assets", "invested_assets")
PROFILE_FIELDS = (
    "name",
    "date_of_birth",
    "country",
    "address",
    "occupation",
    "annual_income",
    "net_worth",
    "liquid_assets",
    "invested_assets",
    "experience_years",
    "products_traded",
    "objectives",
    "risk_tolerance",
)
"""Every field of a profile, in the order findings are reported."""


class CustomerProfile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An applicant's profile as submitted; ``None`` means the field was not given.

    ``annual_income``, ``net_worth``, ``liquid_assets`` and ``invested_assets`` are USD
    decimal strings (``"85000"``, ``"1250000.50"``); ``net_worth`` may be negative.
    ``invested_assets`` means amounts invested on a discretionary basis (the measure of
    the eligible-contract-participant test). ``products_traded`` and ``objectives`` are
    lists of names from the configured vocabularies; ``products_traded`` may be empty
    (no experience), ``objectives`` may not. ``risk_tolerance`` is ``low``, ``medium``
    or ``high``.
    """

    name: str | None = None
    date_of_birth: str | None = None
    country: str | None = None
    address: str | None = None
    occupation: str | None = None
    annual_income: str | None = None
    net_worth: str | None = None
    liquid_assets: str | None = None
    invested_assets: str | None = None
    experience_years: int | None = None
    products_traded: tuple[str, ...] | None = None
    objectives: tuple[str, ...] | None = None
    risk_tolerance: str | None = None


class VerifiedProfile(msgspec.Struct, frozen=True, kw_only=True):
    """A profile that passed KYC: exact amounts and normalised lists.

    ``verified_on`` is the UTC date (``YYYY-MM-DD``) of the command that verified it,
    and ``age_years`` the applicant's age on that date.
    """

    name: str
    date_of_birth: str
    age_years: int
    verified_on: str
    country: str
    address: str
    occupation: str
    annual_income_micros: int
    net_worth_micros: int
    liquid_assets_micros: int
    invested_assets_micros: int
    experience_years: int
    products_traded: tuple[str, ...]
    objectives: tuple[str, ...]
    risk_tolerance: str


_EXPECTED = {
    **{field: "a string" for field in PROFILE_FIELDS},
    **{field: 'a decimal string of USD such as "85000"' for field in AMOUNT_FIELDS},
    "experience_years": "a whole number",
    "products_traded": "a list of strings",
    "objectives": "a list of strings",
}


def _json_type(value: object) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def decode_profile(raw: object) -> tuple[CustomerProfile, list[Finding]]:
    """Build a :class:`CustomerProfile` from a decoded JSON value, never raising.

    Returns the profile and the findings of decoding: ``malformed_profile`` if ``raw``
    is not an object, one ``unknown_field`` per field the protocol does not define, and
    one ``invalid_type`` per field of the wrong JSON type. A field with the wrong type
    is left out of the profile (``None``); :func:`onshore.broker.onboarding.review_application`
    then drops KYC's ``missing_field`` for it, so each field gets one reason.
    Runtime complexity: O(size of ``raw``).
    """
    if isinstance(raw, CustomerProfile):
        return raw, []
    if not isinstance(raw, Mapping):
        return CustomerProfile(), [
            Finding(reason=Reason.MALFORMED_PROFILE, detail=f"the profile must be a JSON object, got {_json_type(raw)}")
        ]
    findings: list[Finding] = []
    for key in sorted(str(k) for k in raw if k not in PROFILE_FIELDS):
        findings.append(
            Finding(
                reason=Reason.UNKNOWN_FIELD,
                field=key,
                detail=f"{key!r} is not a profile field (fields: {', '.join(PROFILE_FIELDS)})",
            )
        )
    types = {info.name: info.type for info in msgspec.structs.fields(CustomerProfile)}
    values: dict[str, Any] = {}
    for field in PROFILE_FIELDS:
        if field not in raw:
            continue
        value = raw[field]
        try:
            values[field] = msgspec.convert(value, types[field])
        except msgspec.ValidationError:
            findings.append(
                Finding(
                    reason=Reason.INVALID_TYPE,
                    field=field,
                    detail=f"{field} must be {_EXPECTED[field]}, got {_json_type(value)}",
                )
            )
    return CustomerProfile(**values), findings
