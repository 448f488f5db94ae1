"""Margin calls: a warning to the customer and its member before liquidation.

An account is *below the warning level* when it holds positions (maintenance margin
above zero) and its equity is below ``broker.margin_call.warning_ratio`` times its
maintenance margin (1.5 by default):

    equity_micros × 10⁹ < maintenance_micros × warning_ratio_ppb

Exact integers, no division. An *episode* starts when the account falls below the
level and ends when it is back at or above it (or holds no positions): one
``margin_call`` per episode, however many ticks it lasts. An account with no
positions and a negative balance owes a debit, which is its member's business, not a
margin call.

The pure step :func:`margin_call_step` takes whether the account was already in an
episode and returns whether it is in one now and whether to emit ``margin_call``; the
Venue keeps the flag per account.
"""

from __future__ import annotations

from typing import NamedTuple

from onshore.broker.config import BrokerConfig
from onshore.core.units import PPB


class MarginCallStep(NamedTuple):
    """The outcome of one check: the episode flag to keep, and whether to call now."""

    in_episode: bool
    call: bool


def is_below_warning(equity_micros: int, maintenance_micros: int, config: BrokerConfig) -> bool:
    """Return whether equity is below the warning level of an account with positions."""
    if maintenance_micros <= 0:
        return False
    return equity_micros * PPB < maintenance_micros * config.margin_call_warning_ratio_ppb


def margin_call_step(
    in_episode: bool, equity_micros: int, maintenance_micros: int, config: BrokerConfig
) -> MarginCallStep:
    """Advance the margin-call episode of one account; ``call`` is true once per episode."""
    below = is_below_warning(equity_micros, maintenance_micros, config)
    return MarginCallStep(in_episode=below, call=below and not in_episode)
