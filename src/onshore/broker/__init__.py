"""The broker layer: who may trade what, and how much leverage (docs/broker.md).

Pure and deterministic: no clock (dates come from the command's ``ts``), no floats
for money, no I/O except reading this package's data files (``defaults.toml`` and
the disclosure texts). It imports nothing of the Venue, the book, clearing or any
adapter, so the Venue composes it and the lab or a compliance tool can use it alone.

Modules: :mod:`~onshore.broker.profile` (the customer profile),
:mod:`~onshore.broker.config` (the ``[broker]`` table), :mod:`~onshore.broker.kyc`,
:mod:`~onshore.broker.suitability`, :mod:`~onshore.broker.disclosures`,
:mod:`~onshore.broker.onboarding` (the whole application, and the order gates),
:mod:`~onshore.broker.margin_calls`, :mod:`~onshore.broker.segregation`.
"""

from onshore.broker.config import BrokerConfig, BrokerConfigError, broker_config, default_broker_table
from onshore.broker.disclosures import (
    PERPETUAL_FUTURES_ADDENDUM,
    RISK_DISCLOSURE_STATEMENT,
    DisclosureError,
    DisclosureReason,
    DisclosureRegistry,
    DisclosureText,
    can_open_or_increase,
    can_reduce,
)
from onshore.broker.findings import Finding, Reason
from onshore.broker.kyc import KycRejected, check_profile, kyc_findings, verify_profile
from onshore.broker.margin_calls import MarginCallStep, is_below_warning, margin_call_step
from onshore.broker.onboarding import (
    Approved,
    Refusal,
    Rejected,
    TradingReason,
    is_review_current,
    opening_refusal,
    reducing_refusal,
    review_application,
    review_due_ms,
)
from onshore.broker.profile import CustomerProfile, VerifiedProfile, decode_profile
from onshore.broker.segregation import (
    CustomerFunds,
    MemberFunds,
    SegregationStatement,
    segregation_report,
    segregation_statement,
)
from onshore.broker.suitability import (
    INSTITUTIONAL,
    QUALIFIED,
    RETAIL,
    Assessment,
    Factor,
    assess,
    effective_max_leverage,
)

__all__ = [
    "INSTITUTIONAL",
    "PERPETUAL_FUTURES_ADDENDUM",
    "QUALIFIED",
    "RETAIL",
    "RISK_DISCLOSURE_STATEMENT",
    "Approved",
    "Assessment",
    "BrokerConfig",
    "BrokerConfigError",
    "CustomerFunds",
    "CustomerProfile",
    "DisclosureError",
    "DisclosureReason",
    "DisclosureRegistry",
    "DisclosureText",
    "Factor",
    "Finding",
    "KycRejected",
    "MarginCallStep",
    "MemberFunds",
    "Reason",
    "Refusal",
    "Rejected",
    "SegregationStatement",
    "TradingReason",
    "VerifiedProfile",
    "assess",
    "broker_config",
    "can_open_or_increase",
    "can_reduce",
    "check_profile",
    "decode_profile",
    "default_broker_table",
    "effective_max_leverage",
    "is_below_warning",
    "is_review_current",
    "kyc_findings",
    "margin_call_step",
    "opening_refusal",
    "reducing_refusal",
    "review_application",
    "review_due_ms",
    "segregation_report",
    "segregation_statement",
    "verify_profile",
]
