"""Shared people, dates and configuration for the broker tests.

Timestamps are UTC midnights written out as integers (the broker layer reads no clock).
Each applicant is a plain dict, as the profile arrives inside the ``onboard_customer``
command; tests copy and change one and keep the rest valid.
"""

from __future__ import annotations

import pytest

from onshore.broker import BrokerConfig, DisclosureRegistry

MS_PER_DAY = 86_400_000
USD = 1_000_000  # micro-dollars per dollar

TS_2026_01_01 = 1_767_225_600_000
"""2026-01-01T00:00:00Z, the day most scenarios onboard on."""


def ts_of(days_after_2026_01_01: int, ms: int = 0) -> int:
    """Return the venue time ``days`` after 2026-01-01 midnight UTC, plus ``ms``."""
    return TS_2026_01_01 + days_after_2026_01_01 * MS_PER_DAY + ms


@pytest.fixture(scope="session")
def config() -> BrokerConfig:
    return BrokerConfig.default()


@pytest.fixture
def registry(config: BrokerConfig) -> DisclosureRegistry:
    return DisclosureRegistry.builtin(config.disclosure_versions, "us_clearing")
