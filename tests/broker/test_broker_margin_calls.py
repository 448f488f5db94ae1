"""Margin calls: below 1.5 × maintenance, once per episode."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.broker import BrokerConfig, broker_config, is_below_warning, margin_call_step

from .conftest import USD


@pytest.mark.parametrize(
    ("equity", "maintenance", "below"),
    [
        (15_000 * USD, 10_000 * USD, False),  # exactly 1.5x: at the level, not below
        (15_000 * USD - 1, 10_000 * USD, True),  # one micro-dollar under
        (9_000 * USD, 10_000 * USD, True),  # under maintenance itself
        (-5 * USD, 10_000 * USD, True),
        (-5 * USD, 0, False),  # a debit without positions is not a margin call
        (0, 0, False),
    ],
)
def test_the_warning_level_is_exact(config: BrokerConfig, equity: int, maintenance: int, below: bool) -> None:
    assert is_below_warning(equity, maintenance, config) is below


def test_one_call_per_episode(config: BrokerConfig) -> None:
    maintenance = 10_000 * USD
    path = [20_000, 14_000, 12_000, 14_999, 15_000, 16_000, 11_000, 11_000]
    in_episode, calls = False, []
    for equity in path:
        in_episode, call = margin_call_step(in_episode, equity * USD, maintenance, config)
        calls.append(call)
    assert calls == [False, True, False, False, False, False, True, False]


def test_the_level_is_configurable() -> None:
    tight = broker_config({"margin_call": {"warning_ratio": "1.2"}})
    assert not is_below_warning(12_000 * USD, 10_000 * USD, tight)
    assert is_below_warning(11_999 * USD, 10_000 * USD, tight)


@given(st.lists(st.tuples(st.integers(-(10**12), 10**12), st.integers(0, 10**12)), max_size=40))
def test_a_call_is_never_emitted_twice_without_recovery_in_between(path: list[tuple[int, int]]) -> None:
    config = BrokerConfig.default()
    in_episode = False
    for equity, maintenance in path:
        was = in_episode
        in_episode, call = margin_call_step(in_episode, equity, maintenance, config)
        assert in_episode is is_below_warning(equity, maintenance, config)
        assert call is (in_episode and not was)
