"""Onboarding end to end, and the gates an account's orders pass afterwards.

:func:`review_application` is the whole pure part of the ``onboard_customer``
command: decode the profile, run KYC, assess suitability, set the next profile
review date, list the disclosures to acknowledge. The Venue turns an
:class:`Approved` into ``account_opened`` (segment, limits, ``disclosures``) and a
:class:`Rejected` into ``onboarding_rejected`` with every finding.

After onboarding, :func:`opening_refusal` and :func:`reducing_refusal` say why an
order must be refused, or ``None`` when it may go ahead:

* an order that opens or increases a position needs every current disclosure
  acknowledged (17 CFR 1.55(a)) and a profile review that is not overdue (NFA Rule
  2-30(b): individual customers' information is re-verified at least yearly);
* an order that only reduces needs an acknowledged 1.55 statement, of any version
  (:func:`onshore.broker.disclosures.can_reduce`); an overdue review does not block it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import msgspec

from onshore.broker.config import BrokerConfig
from onshore.broker.dates import MS_PER_DAY, utc_date_of
from onshore.broker.disclosures import DisclosureRegistry, can_open_or_increase, can_reduce
from onshore.broker.findings import Finding, Reason
from onshore.broker.kyc import check_profile
from onshore.broker.profile import VerifiedProfile, decode_profile
from onshore.broker.suitability import Assessment, assess


class Approved(msgspec.Struct, frozen=True, kw_only=True):
    """A profile that passed KYC, with its assessment.

    ``review_due_ms``: from this venue time on, the account may not open or increase
    positions until its profile is reviewed again. ``disclosures``: the
    ``(document, version)`` pairs the customer must acknowledge before trading.
    """

    profile: VerifiedProfile
    assessment: Assessment
    review_due_ms: int
    disclosures: tuple[tuple[str, str], ...]


class Rejected(msgspec.Struct, frozen=True, kw_only=True):
    """A refused application; ``findings`` holds every reason, in field order."""

    findings: tuple[Finding, ...]


class TradingReason(StrEnum):
    """Why the broker layer refuses an order of an onboarded account (``command_rejected.reason``)."""

    DISCLOSURE_NOT_ACKNOWLEDGED = "disclosure_not_acknowledged"
    """A current disclosure version is not acknowledged: only reducing orders are accepted."""
    PROFILE_REVIEW_DUE = "profile_review_due"
    """The yearly profile review is overdue: only reducing orders are accepted."""


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why an order is refused: a stable code and a sentence the customer can act on."""

    reason: str
    detail: str


def review_application(
    profile: object,
    ts_ms: int,
    config: BrokerConfig,
    registry: DisclosureRegistry,
) -> Approved | Rejected:
    """Run onboarding's checks on ``profile`` at venue time ``ts_ms``.

    ``profile`` is a :class:`~onshore.broker.profile.CustomerProfile` or the decoded JSON value of the
    command's ``profile``. Decoding findings (unknown fields, wrong types) and KYC
    findings are reported together; a field with the wrong type is not also reported
    missing. Deterministic and pure.
    """
    decoded, findings = decode_profile(profile)
    if any(finding.reason == Reason.MALFORMED_PROFILE for finding in findings):
        return Rejected(findings=tuple(findings))
    mistyped = {finding.field for finding in findings if finding.reason == Reason.INVALID_TYPE}
    verified, kyc = check_profile(decoded, ts_ms, config)
    findings += [f for f in kyc if not (f.reason == Reason.MISSING_FIELD and f.field in mistyped)]
    if findings or verified is None:
        return Rejected(findings=tuple(findings))
    return Approved(
        profile=verified,
        assessment=assess(verified, config),
        review_due_ms=review_due_ms(ts_ms, config),
        disclosures=tuple(registry.required({})),
    )


def review_due_ms(ts_ms: int, config: BrokerConfig) -> int:
    """Return the venue time at which a profile reviewed at ``ts_ms`` falls due again.

    ``review_period_days`` whole days of 86,400,000 ms later (365 days by default:
    a profile reviewed on 29 February is due on 28 February of the next year).
    """
    return ts_ms + config.review_period_days * MS_PER_DAY


def is_review_current(review_due_ms: int, ts_ms: int) -> bool:
    """Return whether a profile due at ``review_due_ms`` is still current at ``ts_ms``."""
    return ts_ms < review_due_ms


def opening_refusal(
    acknowledged: Mapping[str, str],
    registry: DisclosureRegistry,
    review_due_ms: int,
    ts_ms: int,
) -> Refusal | None:
    """Return why an order that opens or increases a position is refused, or ``None``.

    Disclosures are checked first: they are what the customer can fix at once.
    """
    missing = registry.required(acknowledged)
    if not can_open_or_increase(acknowledged, registry):
        todo = ", ".join(f"{document} version {version}" for document, version in missing)
        return Refusal(
            reason=TradingReason.DISCLOSURE_NOT_ACKNOWLEDGED,
            detail=f"acknowledge {todo} (acknowledge_disclosure) before opening or increasing a position; "
            "reduce-only orders remain accepted",
        )
    if not is_review_current(review_due_ms, ts_ms):
        due = utc_date_of(review_due_ms).isoformat()
        return Refusal(
            reason=TradingReason.PROFILE_REVIEW_DUE,
            detail=f"the yearly review of the customer profile was due on {due}: confirm or update the profile "
            "with the member to open or increase positions; reduce-only orders remain accepted",
        )
    return None


def reducing_refusal(acknowledged: Mapping[str, str], registry: DisclosureRegistry) -> Refusal | None:
    """Return why an order that only reduces a position is refused, or ``None``."""
    if can_reduce(acknowledged, registry):
        return None
    todo = ", ".join(f"{document} version {version}" for document, version in registry.required(acknowledged))
    return Refusal(
        reason=TradingReason.DISCLOSURE_NOT_ACKNOWLEDGED,
        detail=f"acknowledge {todo} (acknowledge_disclosure) before trading",
    )
