"""Premium, funding rate and funding payments.

Rates are integer parts per billion (``*_ppb``, 1e-9), quoted per 8 hours as venues quote
them; money is integer micro-dollars (``*_micros``); prices are integer ticks and, where a
formula mixes an index and a book price, both must be on one grid
(:func:`onshore.pricing.ticks.convert_price_ticks`).

Sources:

- Binance, "Introduction to Binance Futures Funding Rates"
  (https://www.binance.com/en/support/faq/360033525031): premium index, impact prices,
  ``F = P + clamp(I − P, 0.05 %, −0.05 %)``, interest 0.01 % per 8 h, a time-weighted
  average of 5-second premium samples.
- Hyperliquid, "Funding" (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/funding):
  the same formula on an 8-hour rate paid hourly at one eighth, premium sampled every
  5 seconds and averaged over the hour; the worked example impact bid 10,100 vs oracle
  10,000 → premium 1 % → rate 0.95 %.
- BitMEX, "Perpetual Contracts Guide" (https://www.bitmex.com/app/perpetualContractsGuide):
  the premium sampled every minute, an 8-hour TWAP, and a cap of 75 % × (initial margin −
  maintenance margin) so a position at maximum leverage is not liquidated by funding alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from onshore.core.spec import FundingSpec
from onshore.core.units import PPB, div_floor, div_trunc
from onshore.pricing.ticks import clamp

EIGHT_HOURS_MS = 8 * 60 * 60 * 1000
"""Rates are quoted per 8 hours whatever the interval: 28,800,000 ms."""


def premium_ppb(index_ticks: int, impact_bid_ticks: int | None, impact_ask_ticks: int | None) -> int:
    """Return the premium index of one sample, in ppb.

    Formula (Binance, Hyperliquid, BitMEX):
    ``P = (max(0, impact_bid − index) − max(0, index − impact_ask)) / index``, all three
    prices on one grid. A side without an impact price (the book cannot fill the impact
    notional) contributes 0: it gives no evidence of a premium or a discount.

    Rounding: toward zero (``div_trunc``): the sample is never larger in magnitude than the
    book shows, so rounding never creates funding in either direction.
    """
    if index_ticks <= 0:
        raise ValueError(f"the index must be positive, got {index_ticks}")
    above = max(0, impact_bid_ticks - index_ticks) if impact_bid_ticks is not None else 0
    below = max(0, index_ticks - impact_ask_ticks) if impact_ask_ticks is not None else 0
    return div_trunc((above - below) * PPB, index_ticks)


def average_premium_ppb(samples_ppb: Sequence[int]) -> int | None:
    """Return the sample mean of the premium samples taken over one funding interval, in ppb.

    Formula: ``P̄ = Σ P_i / n``. Samples are taken on a fixed cadence
    (``FundingSpec.premium_sample_ms``), so the sample mean *is* the time-weighted mean of
    the premium over the sampled time (Hyperliquid: 5-second samples averaged over the
    hour; BitMEX: minute samples, 8-hour TWAP). Samples skipped while the index was stale
    are simply absent: a paused stretch carries no weight rather than a made-up value.

    Rounding: toward zero (``div_trunc``). ``None`` when there are no samples.
    """
    if not samples_ppb:
        return None
    return div_trunc(sum(samples_ppb), len(samples_ppb))


def time_weighted_premium_ppb(samples: Sequence[tuple[int, int]]) -> int | None:
    """Return the time-weighted mean of ``(premium_ppb, duration_ms)`` samples, in ppb.

    Formula: ``P̄ = Σ P_i × d_i / Σ d_i``, for a premium that held for ``d_i`` ms. With equal
    durations it equals :func:`average_premium_ppb`; use it when samples are irregular.
    Durations must be non-negative. Rounding: toward zero. ``None`` when ``Σ d_i = 0``.
    """
    total_ms = 0
    weighted = 0
    for premium, duration_ms in samples:
        if duration_ms < 0:
            raise ValueError(f"a duration must not be negative, got {duration_ms}")
        total_ms += duration_ms
        weighted += premium * duration_ms
    if total_ms == 0:
        return None
    return div_trunc(weighted, total_ms)


def funding_rate_8h_ppb(average_premium_ppb: int, interest_rate_8h_ppb: int, clamp_ppb: int, cap_ppb: int) -> int:
    """Return the funding rate per 8 hours, in ppb.

    Formula: ``F = clamp(P̄ + clamp(I − P̄, −c, +c), −cap, +cap)`` (Binance, Hyperliquid,
    BitMEX). Whenever ``I − c ≤ P̄ ≤ I + c`` the rate is exactly ``I``: with the defaults
    (I = 0.01 %, c = 0.05 %) any average premium in [−0.04 %, +0.06 %] gives 0.01 %.

    Rounding: none (integer arithmetic). ``|F| ≤ cap`` always.
    """
    if clamp_ppb < 0 or cap_ppb < 0:
        raise ValueError("clamp and cap must not be negative")
    rate = average_premium_ppb + clamp(interest_rate_8h_ppb - average_premium_ppb, -clamp_ppb, clamp_ppb)
    return clamp(rate, -cap_ppb, cap_ppb)


def interval_rate_ppb(rate_8h_ppb: int, interval_ms: int) -> int:
    """Return the rate applied to one funding interval, in ppb.

    Formula: ``F_interval = F_8h × interval_ms / 28,800,000`` (Hyperliquid: "paid every hour
    at one eighth of the computed 8-hour rate"). Hourly: an exact eighth
    (0.01 % = 100,000 ppb → 12,500 ppb).

    Rounding: toward zero (``div_trunc``), so the published rate is the applied rate and its
    magnitude never exceeds the exact share.
    """
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive, got {interval_ms}")
    return div_trunc(rate_8h_ppb * interval_ms, EIGHT_HOURS_MS)


def max_funding_cap_ppb(initial_rate_ppb: int, maintenance_rate_ppb: int) -> int:
    """Return BitMEX's ceiling for the funding cap: ``75 % × (IM − MM)``, in ppb per 8 hours.

    Formula: ``cap_max = 3 × (IM − MM) / 4``; with the default tier 1 (IM 2 %, MM 1 %) it
    is 0.75 %, above the configured 0.4 %. Rounding: down (floor), the safe side of a
    ceiling.
    """
    return div_floor(3 * (initial_rate_ppb - maintenance_rate_ppb), 4)


@dataclass(frozen=True, slots=True)
class FundingRate:
    """The rate of one funding interval and its parts, as the ``funding_rate`` event shows them.

    ``premium_ppb`` is the interval's average premium (0 when ``samples`` is 0),
    ``interest_ppb`` the configured interest per 8 h, ``rate_8h_ppb`` the clamped and capped
    8-hour rate and ``rate_ppb`` the share applied to the interval.
    """

    premium_ppb: int
    interest_ppb: int
    rate_8h_ppb: int
    rate_ppb: int
    samples: int


def funding_rate_for(spec: FundingSpec, premium_samples_ppb: Sequence[int]) -> FundingRate:
    """Compute the funding rate of one interval of a market from its premium samples.

    Chains :func:`average_premium_ppb`, :func:`funding_rate_8h_ppb` and
    :func:`interval_rate_ppb` with ``spec``'s interest, clamp, cap and interval. With no
    samples (the index was stale the whole interval) the premium is taken as 0, so the rate
    is the interest rate (clamped and capped); the Venue may choose to skip the interval.
    """
    average = average_premium_ppb(premium_samples_ppb)
    premium = 0 if average is None else average
    rate_8h = funding_rate_8h_ppb(premium, spec.interest_rate_8h_ppb, spec.clamp_ppb, spec.cap_ppb)
    return FundingRate(
        premium_ppb=premium,
        interest_ppb=spec.interest_rate_8h_ppb,
        rate_8h_ppb=rate_8h,
        rate_ppb=interval_rate_ppb(rate_8h, spec.interval_ms),
        samples=len(premium_samples_ppb),
    )


def funding_payment_micros(qty_lots: int, mark_price_ticks: int, micros_per_tick_lot: int, rate_ppb: int) -> int:
    """Return the funding an account receives (positive) or pays (negative), in micro-dollars.

    Formula: ``payment = −sign(qty) × |qty| × mark × micros_per_tick_lot × rate / 1e9``
    ``= −qty × mark × m × rate / 1e9`` with ``qty`` signed (long > 0). A positive rate makes
    longs pay and shorts receive; a negative rate the reverse.

    Rounding: **down** (floor), against the trader on both sides: a payer's amount rounds up
    in magnitude, a receiver's rounds down. The shortfall across a market is the venue's
    rounding remainder (:func:`distribute_funding`).
    """
    return div_floor(-qty_lots * mark_price_ticks * micros_per_tick_lot * rate_ppb, PPB)


@dataclass(frozen=True, slots=True)
class FundingDistribution:
    """Funding payments of one market, zero-sum once the remainder is booked.

    ``payments_micros[i]`` belongs to the i-th position given (negative: paid);
    ``rounding_micros`` is the amount the venue's rounding account receives, so that
    ``sum(payments_micros) + rounding_micros == 0``. It is never negative and is less than
    the number of non-flat positions (each floor loses less than one micro-dollar).
    """

    payments_micros: tuple[int, ...]
    rounding_micros: int


def distribute_funding(
    positions_lots: Sequence[int], mark_price_ticks: int, micros_per_tick_lot: int, rate_ppb: int
) -> FundingDistribution:
    """Compute every position's funding payment and the rounding remainder the venue books.

    ``positions_lots`` are signed position sizes of one market (long > 0), which sum to zero
    as the clearing house's positions do (``ValueError`` otherwise). Each payment is
    :func:`funding_payment_micros` (rounded down, against the trader); the exact payments
    sum to zero, so the rounded ones sum to ``−rounding_micros ≤ 0`` and the remainder goes
    to the rounding account: zero-sum to the micro-dollar.

    Runtime complexity: O(n) in the number of positions.
    """
    if sum(positions_lots) != 0:
        raise ValueError("positions of one market must sum to zero")
    payments = tuple(
        funding_payment_micros(qty, mark_price_ticks, micros_per_tick_lot, rate_ppb) for qty in positions_lots
    )
    return FundingDistribution(payments_micros=payments, rounding_micros=-sum(payments))
