"""Fixtures: a seeded normal trading day, and a day with every pattern planted, each run through surveillance.

The normal day's alert count (every alert on it is a false positive) is reported at the end
of the test run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from onshore.core.commands import IndexUpdate
from onshore.surveillance.config import SurveillanceConfig, venue_facts
from onshore.surveillance.engine import Surveillance, SurveillanceResult

from .generator import (
    T0,
    Accumulator,
    Flasher,
    FundingManipulator,
    QuoteDistorter,
    Simulation,
    Spoofer,
    WashTrader,
    normal_day,
    planted,
    sample_times,
)

NORMAL_SEED = 7
PLANTED_SEED = 11
H = 3_600_000


@dataclass
class Run:
    """A simulated day and what surveillance made of it."""

    sim: Simulation
    result: SurveillanceResult


def surveil(sim: Simulation, config: SurveillanceConfig | None = None) -> SurveillanceResult:
    """Run surveillance over a simulation's events, with its index updates as the quote source."""
    engine = Surveillance(config, venue_facts(sim.venue.config))
    engine.quotes_from((n, cmd) for n, cmd in enumerate(sim.commands, start=1) if type(cmd) is IndexUpdate)
    engine.run(sim.events)
    return engine.finish()


PLANTED_AGENTS = {
    "washer": lambda: WashTrader(times=tuple(T0 + 2 * H + k * 600_000 for k in range(6))),
    "spoofer": lambda: Spoofer(times=tuple(T0 + 4 * H + 7_300 + k * 900_000 for k in range(5))),
    "fund-manip": lambda: FundingManipulator(
        order_samples=sample_times(T0 + 6 * H + 60_000, 10), trade_samples=sample_times(T0 + 8 * H + 60_000, 6)
    ),
    "gemini": lambda: QuoteDistorter(start=T0 + 10 * H, end=T0 + 10 * H + 600_000),
    "whale": lambda: Accumulator(start=T0 + 12 * H),
    "flasher": lambda: Flasher(start=T0 + 14 * H),
}


@pytest.fixture(scope="session")
def normal_run() -> Run:
    """A seeded normal day: three market makers, 26 ordinary traders (one owner with two accounts)."""
    sim = normal_day(NORMAL_SEED)
    return Run(sim, surveil(sim))


@pytest.fixture(scope="session")
def planted_run() -> Run:
    """The normal population of another seed, with every planted agent at its own hours."""
    sim = planted(PLANTED_SEED, *(make() for make in PLANTED_AGENTS.values()))
    return Run(sim, surveil(sim))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for key, value in getattr(report, "user_properties", []):
            if key == "surveillance_false_positives":
                terminalreporter.write_line(f"surveillance: {value}")
