"""The applicants of docs/broker.md's segments, as the profile arrives in ``onboard_customer``.

Shared by the broker layer's own tests (tests/broker) and the broker scenarios through the
Venue (tests/broker_venue). Each applicant is a plain dict; tests copy one with
:func:`applicant`, change what they test and keep the rest valid.
"""

from __future__ import annotations

import copy
from typing import Any

ALICE_RETAIL: dict[str, Any] = {
    "name": "Alice Martin",
    "date_of_birth": "1990-05-17",
    "country": "US",
    "address": "12 Elm Street, Springfield, IL 62701",
    "occupation": "nurse",
    "annual_income": "85000",
    "net_worth": "150000",
    "liquid_assets": "40000",
    "invested_assets": "20000",
    "experience_years": 2,
    "products_traded": ["spot"],
    "objectives": ["growth"],
    "risk_tolerance": "medium",
}
"""A first-time derivatives trader: retail."""

BOB_QUALIFIED: dict[str, Any] = {
    "name": "Bob Okafor",
    "date_of_birth": "1978-11-02",
    "country": "US",
    "address": "400 Lake Shore Drive, Chicago, IL 60611",
    "occupation": "commodities trader",
    "annual_income": "320000",
    "net_worth": "2400000",
    "liquid_assets": "600000",
    "invested_assets": "1500000",
    "experience_years": 12,
    "products_traded": ["spot", "futures", "options"],
    "objectives": ["speculation", "growth"],
    "risk_tolerance": "high",
}
"""Experienced and wealthy, not an ECP: qualified (score 17 of 17)."""

CAROL_ECP: dict[str, Any] = {
    **BOB_QUALIFIED,
    "name": "Carol Lindqvist",
    "net_worth": "30000000",
    "invested_assets": "12000000",
}
"""Over $10M invested on a discretionary basis: an eligible contract participant."""

DAVE_HEDGER: dict[str, Any] = {
    **ALICE_RETAIL,
    "name": "Dave Ranchero",
    "occupation": "bitcoin miner",
    "net_worth": "9000000",
    "invested_assets": "6000000",
    "objectives": ["hedging"],
    "risk_tolerance": "low",
}
"""Over $5M invested and hedging his mining output: an ECP under the $5M hedging test."""


def applicant(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Return a copy of ``base`` with ``changes``; a change to ``...`` removes the field."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out
