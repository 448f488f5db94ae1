"""Suitability: score a verified profile and assign its customer segment.

The segment decides the leverage and position limits the venue allows
(``[segments.*]`` of the venue configuration). :func:`assess` is deterministic and
integer-only; every number it uses comes from ``[broker.suitability]``,
``[broker.qualified]`` and ``[broker.institutional]``.

**Score.** The sum of six factors (17 points with the defaults):

==================  ==========================================================
factor              points
==================  ==========================================================
annual income       one per step reached ("at least"): $50k, $100k, $250k
net worth           one per step reached: $100k, $500k, $1M
liquid assets       one per step reached: $25k, $100k, $250k
experience years    one per step reached: 1, 3, 5 years
products traded     the sum of each product's points (futures, options,
                    perpetuals, swaps 2; margin, forex 1; others 0), capped at 3
risk tolerance      low 0, medium 1, high 2
==================  ==========================================================

**Segment**, the first that applies:

1. ``institutional`` if the customer is an eligible contract participant under
   7 U.S.C. 1a(18)(A)(xi), the individual test: amounts invested on a discretionary
   basis (the profile's ``invested_assets``) in excess of $10,000,000; or in excess of
   $5,000,000 when the customer enters the contract to manage the risk of an asset
   owned or a liability incurred, or reasonably likely to be, which Onshore reads
   from the ``hedging`` objective. "In excess of" is strict: exactly $10M is not over.
2. ``qualified`` if every condition of ``[broker.qualified]`` holds (defaults): score
   at least 11, at least 2 years of experience, annual income at least $100k, net
   worth at least $500k, liquid assets at least $100k, at least one leveraged
   derivative traded (futures, options, perpetuals or swaps), and a medium or high
   risk tolerance.
3. ``retail`` otherwise.

**Per-customer leverage cap.** ``[broker.suitability.risk_tolerance_max_leverage]``
gives a cap for a stated risk tolerance (2× for ``low`` by default); the assessment's
``max_leverage`` carries it, and the venue applies the lower of it and the segment's
cap. A cap may only tighten the segment's limits, never loosen them.

Monotone by construction: more income, net worth, liquid or invested assets, more
years or more products, or a higher risk tolerance never lower the score or the
segment (a test holds it).
"""

from __future__ import annotations

from typing import Final

import msgspec

from onshore.broker.config import BrokerConfig
from onshore.broker.profile import VerifiedProfile
from onshore.core.spec import LEVERAGE_GRID
from onshore.core.units import format_micros

RETAIL: Final = "retail"
QUALIFIED: Final = "qualified"
INSTITUTIONAL: Final = "institutional"
SEGMENTS: Final = (RETAIL, QUALIFIED, INSTITUTIONAL)
"""The segments onboarding assigns, from least to most permissive."""
SEGMENT_RANK: Final = {segment: rank for rank, segment in enumerate(SEGMENTS)}


class Factor(msgspec.Struct, frozen=True, kw_only=True):
    """One factor of the score: its points out of its maximum, and why."""

    name: str
    points: int
    max_points: int
    detail: str


class Assessment(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of :func:`assess`.

    ``reasons`` explains the score factor by factor, then the segment decision, in
    sentences. ``max_leverage`` is a per-customer cap in hundredths (``200`` = 2×) that
    the venue applies on top of the segment's, or ``None`` for no extra cap.
    """

    segment: str
    score: int
    max_score: int
    factors: tuple[Factor, ...]
    reasons: tuple[str, ...]
    eligible_contract_participant: bool
    max_leverage: int | None = None


def _usd(micros: int) -> str:
    return f"${format_micros(micros)}"


def _steps_reached(value: int, steps: tuple[int, ...]) -> int:
    return sum(1 for step in steps if value >= step)


def _amount_factor(name: str, value_micros: int, steps: tuple[int, ...]) -> Factor:
    points = _steps_reached(value_micros, steps)
    listed = ", ".join(_usd(step) for step in steps)
    return Factor(
        name=name,
        points=points,
        max_points=len(steps),
        detail=f"{name} {_usd(value_micros)} reaches {points} of the steps {listed}: {points} of {len(steps)} points",
    )


def score_factors(profile: VerifiedProfile, config: BrokerConfig) -> tuple[Factor, ...]:
    """Return the six factors of the score of ``profile``, in a fixed order."""
    rules = config.suitability
    years_steps = rules.experience_years_steps
    years = _steps_reached(profile.experience_years, years_steps)
    product_raw = sum(rules.product_points.get(product, 0) for product in profile.products_traded)
    products = min(product_raw, rules.products_max_points)
    traded = ", ".join(profile.products_traded) or "none"
    tolerance = rules.risk_tolerance_points[profile.risk_tolerance]
    tolerance_max = max(rules.risk_tolerance_points.values())
    return (
        _amount_factor("annual_income", profile.annual_income_micros, rules.annual_income_steps_micros),
        _amount_factor("net_worth", profile.net_worth_micros, rules.net_worth_steps_micros),
        _amount_factor("liquid_assets", profile.liquid_assets_micros, rules.liquid_assets_steps_micros),
        Factor(
            name="experience_years",
            points=years,
            max_points=len(years_steps),
            detail=(
                f"experience_years {profile.experience_years} reaches {years} of the steps "
                f"{', '.join(map(str, years_steps))}: {years} of {len(years_steps)} points"
            ),
        ),
        Factor(
            name="products_traded",
            points=products,
            max_points=rules.products_max_points,
            detail=(
                f"products_traded ({traded}) are worth {product_raw} points, "
                f"capped at {rules.products_max_points}: {products} points"
            ),
        ),
        Factor(
            name="risk_tolerance",
            points=tolerance,
            max_points=tolerance_max,
            detail=f"risk_tolerance {profile.risk_tolerance}: {tolerance} of {tolerance_max} points",
        ),
    )


def is_eligible_contract_participant(profile: VerifiedProfile, config: BrokerConfig) -> bool:
    """Return whether ``profile`` meets the individual ECP test of 7 U.S.C. 1a(18)(A)(xi).

    Amounts invested on a discretionary basis in excess of the general threshold, or
    in excess of the hedging threshold together with the hedging objective.
    """
    rules = config.institutional
    invested = profile.invested_assets_micros
    if invested > rules.discretionary_investments_over_micros:
        return True
    return invested > rules.hedging_discretionary_investments_over_micros and rules.hedging_objective in (
        profile.objectives
    )


def _ecp_reason(profile: VerifiedProfile, config: BrokerConfig, eligible: bool) -> str:
    rules = config.institutional
    invested = _usd(profile.invested_assets_micros)
    general = _usd(rules.discretionary_investments_over_micros)
    hedging = _usd(rules.hedging_discretionary_investments_over_micros)
    if eligible:
        if profile.invested_assets_micros > rules.discretionary_investments_over_micros:
            why = f"invested_assets {invested} is over {general}"
        else:
            why = f"invested_assets {invested} is over {hedging} and the objectives include {rules.hedging_objective}"
        return f"institutional: an eligible contract participant under 7 U.S.C. 1a(18)(A)(xi), as {why}"
    return (
        f"not an eligible contract participant: invested_assets {invested} is not over {general}, "
        f"nor over {hedging} with the {rules.hedging_objective} objective"
    )


def _qualified_shortfalls(profile: VerifiedProfile, score: int, config: BrokerConfig) -> list[str]:
    rules = config.qualified
    short: list[str] = []
    if score < rules.min_score:
        short.append(f"score {score} is below {rules.min_score}")
    if profile.experience_years < rules.min_experience_years:
        short.append(f"experience_years {profile.experience_years} is below {rules.min_experience_years}")
    for name, value, minimum in (
        ("annual_income", profile.annual_income_micros, rules.min_annual_income_micros),
        ("net_worth", profile.net_worth_micros, rules.min_net_worth_micros),
        ("liquid_assets", profile.liquid_assets_micros, rules.min_liquid_assets_micros),
    ):
        if value < minimum:
            short.append(f"{name} {_usd(value)} is below {_usd(minimum)}")
    if not set(profile.products_traded) & set(rules.derivatives):
        short.append(f"no experience of {', '.join(rules.derivatives)}")
    if profile.risk_tolerance not in rules.risk_tolerances:
        short.append(f"risk_tolerance {profile.risk_tolerance} is not {' or '.join(rules.risk_tolerances)}")
    return short


def effective_max_leverage(segment_max_leverage: int, assessment: Assessment) -> int:
    """Return the leverage cap (hundredths) of a customer: the segment's, tightened by the assessment's.

    ``segment_max_leverage`` is the venue's ``segments.<segment>.max_leverage``. A
    per-customer cap only ever lowers it.
    """
    if assessment.max_leverage is None:
        return segment_max_leverage
    return min(segment_max_leverage, assessment.max_leverage)


def assess(profile: VerifiedProfile, config: BrokerConfig) -> Assessment:
    """Score ``profile`` and assign its segment (see the module docstring for the rules).

    Deterministic and pure. Runtime complexity: O(number of products and steps).
    """
    factors = score_factors(profile, config)
    score = sum(factor.points for factor in factors)
    max_score = config.suitability.max_score
    reasons = [factor.detail for factor in factors]
    reasons.append(f"score {score} of {max_score}")
    eligible = is_eligible_contract_participant(profile, config)
    reasons.append(_ecp_reason(profile, config, eligible))
    if eligible:
        segment = INSTITUTIONAL
    else:
        short = _qualified_shortfalls(profile, score, config)
        if short:
            segment = RETAIL
            reasons.append(f"retail: not qualified, as {'; '.join(short)}")
        else:
            segment = QUALIFIED
            reasons.append("qualified: meets every condition of [broker.qualified]")
    cap = config.suitability.risk_tolerance_max_leverage.get(profile.risk_tolerance)
    if cap is not None:
        reasons.append(
            f"risk_tolerance {profile.risk_tolerance} caps leverage at {LEVERAGE_GRID.format(cap)}x "
            "(or the segment's cap if lower)"
        )
    return Assessment(
        segment=segment,
        score=score,
        max_score=max_score,
        factors=factors,
        reasons=tuple(reasons),
        eligible_contract_participant=eligible,
        max_leverage=cap,
    )
