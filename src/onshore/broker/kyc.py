"""Know your customer: every reason a profile cannot be onboarded, found at once.

:func:`kyc_findings` runs every check on every field and returns all findings, in
the order of :data:`~onshore.broker.profile.PROFILE_FIELDS`, so that an applicant
fixes everything in one round trip. :func:`check_profile` also returns the
:class:`~onshore.broker.profile.VerifiedProfile` when there is nothing to report.
Pure: the date is the UTC date of the command's ``ts_ms``; no clock is read.

The checks (docs/broker.md gives each its source):

* every field present, not null and not blank (NFA Rule 2-30(c) lists name, address,
  occupation, income, net worth, age and experience); ``products_traded`` may be an
  empty list (no experience is an answer), ``objectives`` may not;
* text within its length limit, a name with at least one letter or digit;
* ``date_of_birth`` a real ``YYYY-MM-DD`` date, not after the command's date, and an
  age not above ``broker.kyc.maximum_age``;
* age on the command's UTC date at least ``broker.kyc.minimum_age`` (``under_age``
  says the date the applicant becomes eligible); see :mod:`onshore.broker.dates`
  for the 29 February rule;
* ``country`` two letters (ISO 3166-1 alpha-2, case-insensitive), on
  ``broker.kyc.permitted_countries``;
* the name not on ``broker.kyc.sanctioned_names`` under the normalisation of
  :mod:`onshore.broker.names` (case, accents, punctuation, spacing, word order). The
  finding does not say which entry matched: what a screening hit was is for the
  compliance desk, not for the applicant;
* amounts exact USD decimals with at most six decimals, none negative except
  ``net_worth`` (debts can exceed assets);
* ``experience_years`` not negative and not more than the applicant's age;
* products, objectives and risk tolerance from their vocabularies.
"""

from __future__ import annotations

import msgspec

from onshore.broker.config import RISK_TOLERANCES, BrokerConfig
from onshore.broker.dates import CivilDate, age_on, date_of_age, parse_iso_date, utc_date_of
from onshore.broker.findings import Finding, Reason
from onshore.broker.names import name_key
from onshore.broker.profile import AMOUNT_FIELDS, CustomerProfile, VerifiedProfile
from onshore.core.units import BadDecimalError, Money, OffGridError

MAX_TEXT_CHARS = {"name": 200, "address": 500, "occupation": 200}
"""The longest ``name``, ``address`` and ``occupation`` accepted, in characters."""

_HINTS = {
    "name": "the applicant's full legal name",
    "date_of_birth": "the date of birth as YYYY-MM-DD",
    "country": 'the country of residence as an ISO 3166-1 alpha-2 code such as "US"',
    "address": "the residential address",
    "occupation": "the principal occupation or business",
    "annual_income": 'the estimated annual income in USD, such as "85000"',
    "net_worth": 'the estimated net worth in USD, such as "250000" (negative if debts exceed assets)',
    "liquid_assets": 'the liquid assets in USD, such as "40000"',
    "invested_assets": 'the amounts invested on a discretionary basis in USD ("0" if none)',
    "experience_years": "the years of trading experience (0 if none)",
    "products_traded": "the products traded before, as a list ([] if none)",
    "objectives": "the trading objectives, as a non-empty list",
    "risk_tolerance": "the risk tolerance: low, medium or high",
}


class KycRejected(ValueError):
    """A profile that failed KYC; ``findings`` lists every reason."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__("; ".join(f"{f.reason}: {f.detail}" for f in findings))
        self.findings = findings


def kyc_findings(profile: CustomerProfile, ts_ms: int, config: BrokerConfig) -> list[Finding]:
    """Return every reason ``profile`` cannot be onboarded on the UTC date of ``ts_ms``.

    An empty list means the profile passed. Deterministic; O(size of the profile).
    """
    return check_profile(profile, ts_ms, config)[1]


def verify_profile(profile: CustomerProfile, ts_ms: int, config: BrokerConfig) -> VerifiedProfile:
    """Return the verified form of ``profile``, or raise :class:`KycRejected` with every finding."""
    verified, findings = check_profile(profile, ts_ms, config)
    if verified is None:
        raise KycRejected(findings)
    return verified


def check_profile(
    profile: CustomerProfile, ts_ms: int, config: BrokerConfig
) -> tuple[VerifiedProfile | None, list[Finding]]:
    """Run every KYC check; return ``(verified profile or None, findings)``."""
    checker = _Checker(ts_ms, config)
    name = checker.text("name", profile.name)
    if name is not None:
        checker.screen_name(name)
    birth, age = checker.date_of_birth(profile.date_of_birth)
    country = checker.country(profile.country)
    address = checker.text("address", profile.address)
    occupation = checker.text("occupation", profile.occupation)
    amounts = {field: checker.amount(field, getattr(profile, field)) for field in AMOUNT_FIELDS}
    experience = checker.experience_years(profile.experience_years, age)
    products = checker.vocabulary(
        "products_traded", profile.products_traded, config.kyc.products, Reason.INVALID_PRODUCT, allow_empty=True
    )
    objectives = checker.vocabulary(
        "objectives", profile.objectives, config.kyc.objectives, Reason.INVALID_OBJECTIVE, allow_empty=False
    )
    tolerance = checker.risk_tolerance(profile.risk_tolerance)
    if checker.findings:
        return None, checker.findings
    assert name is not None and birth is not None and age is not None and country is not None
    assert address is not None and occupation is not None and experience is not None
    assert products is not None and objectives is not None and tolerance is not None
    annual_income, net_worth, liquid_assets, invested_assets = (amounts[field] for field in AMOUNT_FIELDS)
    assert annual_income is not None and net_worth is not None
    assert liquid_assets is not None and invested_assets is not None
    verified = VerifiedProfile(
        name=name,
        date_of_birth=birth.isoformat(),
        age_years=age,
        verified_on=checker.today.isoformat(),
        country=country,
        address=address,
        occupation=occupation,
        annual_income_micros=annual_income,
        net_worth_micros=net_worth,
        liquid_assets_micros=liquid_assets,
        invested_assets_micros=invested_assets,
        experience_years=experience,
        products_traded=products,
        objectives=objectives,
        risk_tolerance=tolerance,
    )
    return verified, []


class _Checker:
    """Collects findings field by field; each method returns the clean value or ``None``."""

    def __init__(self, ts_ms: int, config: BrokerConfig) -> None:
        self.today: CivilDate = utc_date_of(ts_ms)
        self.rules = config.kyc
        self.findings: list[Finding] = []

    def add(self, reason: Reason, field: str, detail: str) -> None:
        self.findings.append(Finding(reason=reason, field=field, detail=detail))

    def missing(self, field: str) -> None:
        self.add(Reason.MISSING_FIELD, field, f"{field} is required: {_HINTS[field]}")

    def text(self, field: str, value: str | None) -> str | None:
        if value is None or not value.strip():
            self.missing(field)
            return None
        clean = " ".join(value.split())
        limit = MAX_TEXT_CHARS[field]
        if len(clean) > limit:
            self.add(Reason.FIELD_TOO_LONG, field, f"{field} has {len(clean)} characters; at most {limit} are accepted")
            return None
        if field == "name" and not name_key(clean):
            self.add(Reason.INVALID_NAME, field, "name has no letters or digits: give the full legal name")
            return None
        return clean

    def screen_name(self, name: str) -> None:
        if name_key(name) in self.rules.sanctioned_name_keys:
            self.add(
                Reason.SANCTIONED_NAME,
                "name",
                "the name matches an entry on the sanctions list: the account cannot be opened; "
                "the member's compliance desk reviews the match",
            )

    def date_of_birth(self, value: str | None) -> tuple[CivilDate | None, int | None]:
        field = "date_of_birth"
        if value is None or not value.strip():
            self.missing(field)
            return None, None
        try:
            birth = parse_iso_date(value.strip())
        except ValueError as exc:
            self.add(Reason.INVALID_DATE_OF_BIRTH, field, f"{exc}: give {_HINTS[field]}")
            return None, None
        if birth > self.today:
            self.add(
                Reason.INVALID_DATE_OF_BIRTH,
                field,
                f"{birth.isoformat()} is after today's date {self.today.isoformat()}: check the date of birth",
            )
            return None, None
        age = age_on(birth, self.today)
        if age > self.rules.maximum_age:
            self.add(
                Reason.INVALID_DATE_OF_BIRTH,
                field,
                f"{birth.isoformat()} gives an age of {age}, above the plausible {self.rules.maximum_age}: "
                "check the date of birth",
            )
            return None, None
        if age < self.rules.minimum_age:
            eligible = date_of_age(birth, self.rules.minimum_age)
            self.add(
                Reason.UNDER_AGE,
                field,
                f"the applicant is {age} on {self.today.isoformat()}; the minimum age is {self.rules.minimum_age}, "
                f"reached on {eligible.isoformat()}",
            )
            return birth, age
        return birth, age

    def country(self, value: str | None) -> str | None:
        field = "country"
        if value is None or not value.strip():
            self.missing(field)
            return None
        code = value.strip().upper()
        if len(code) != 2 or not ("A" <= code[0] <= "Z" and "A" <= code[1] <= "Z"):
            self.add(Reason.INVALID_COUNTRY, field, f"{value!r} is not {_HINTS[field]}")
            return None
        if code not in self.rules.permitted_countries:
            permitted = ", ".join(sorted(self.rules.permitted_countries))
            self.add(
                Reason.JURISDICTION_NOT_PERMITTED,
                field,
                f"customers resident in {code} cannot be onboarded (permitted: {permitted})",
            )
            return None
        return code

    def amount(self, field: str, value: str | None) -> int | None:
        if value is None or not value.strip():
            self.missing(field)
            return None
        try:
            micros = int(Money.parse(value))
        except OffGridError:
            self.add(Reason.INVALID_AMOUNT, field, f"{field} {value!r} has more than six decimals of USD")
            return None
        except BadDecimalError:
            self.add(Reason.INVALID_AMOUNT, field, f"{field} {value!r} is not a plain decimal: give {_HINTS[field]}")
            return None
        if micros < 0 and field != "net_worth":
            self.add(Reason.INVALID_AMOUNT, field, f"{field} {value} is negative: give {_HINTS[field]}")
            return None
        return micros

    def experience_years(self, value: int | None, age: int | None) -> int | None:
        field = "experience_years"
        if value is None:
            self.missing(field)
            return None
        if value < 0:
            self.add(
                Reason.INVALID_EXPERIENCE_YEARS, field, f"experience_years {value} is negative: give {_HINTS[field]}"
            )
            return None
        ceiling = age if age is not None else self.rules.maximum_age
        if value > ceiling:
            what = f"the applicant's age of {age}" if age is not None else f"the plausible age of {ceiling}"
            self.add(Reason.INVALID_EXPERIENCE_YEARS, field, f"experience_years {value} is more than {what}")
            return None
        return value

    def vocabulary(
        self,
        field: str,
        value: tuple[str, ...] | None,
        vocabulary: tuple[str, ...],
        reason: Reason,
        *,
        allow_empty: bool,
    ) -> tuple[str, ...] | None:
        if value is None or (not value and not allow_empty):
            self.missing(field)
            return None
        items = {item.strip().lower() for item in value}
        unknown = sorted(item for item in items if item not in vocabulary)
        if unknown:
            self.add(reason, field, f"{field} has unknown {', '.join(map(repr, unknown))}; use {', '.join(vocabulary)}")
            return None
        return tuple(sorted(items))

    def risk_tolerance(self, value: str | None) -> str | None:
        field = "risk_tolerance"
        if value is None or not value.strip():
            self.missing(field)
            return None
        tolerance = value.strip().lower()
        if tolerance not in RISK_TOLERANCES:
            self.add(
                Reason.INVALID_RISK_TOLERANCE, field, f"{value!r} is not a risk tolerance: use low, medium or high"
            )
            return None
        return tolerance


def profile_from_verified(verified: VerifiedProfile) -> CustomerProfile:
    """Return the wire form of a verified profile (amounts back as decimal strings)."""
    return msgspec.convert(
        {
            "name": verified.name,
            "date_of_birth": verified.date_of_birth,
            "country": verified.country,
            "address": verified.address,
            "occupation": verified.occupation,
            "annual_income": str(Money(verified.annual_income_micros)),
            "net_worth": str(Money(verified.net_worth_micros)),
            "liquid_assets": str(Money(verified.liquid_assets_micros)),
            "invested_assets": str(Money(verified.invested_assets_micros)),
            "experience_years": verified.experience_years,
            "products_traded": list(verified.products_traded),
            "objectives": list(verified.objectives),
            "risk_tolerance": verified.risk_tolerance,
        },
        CustomerProfile,
    )
