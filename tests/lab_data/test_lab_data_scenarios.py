"""Scenarios (onshore.lab.scenarios): exact ticks, seeded paths, shocks, the real windows, reverse stress."""

from __future__ import annotations

import csv
import math
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.config.load import default_config
from onshore.core.units import Grid
from onshore.lab.data import CRASH_WINDOW_FILES, PriceHistory, load_crash_window
from onshore.lab.scenarios import (
    CRASHES,
    MINUTE_MS,
    Scenario,
    anchored_path,
    builtin_scenarios,
    crash_scenario,
    from_history,
    gap,
    historical_scenarios,
    index_outage,
    load_scenario,
    parametric_crash,
    prices_to_ticks,
    scenario_names,
    smallest_move,
    vol_spike,
)

from .helpers import needs_data, shared, write

BUILTIN_NAMES = [
    "crash_2020_03_12",
    "crash_2021_05_19",
    "crash_2022_11_09",
    "crash_2025_10_10",
    "gap_down_20pct",
    "vol_spike_300pct_24h",
]


def reference_ticks(price: float, tick_size: str) -> int:
    """Obviously-correct reference: the decimal text of the float over the tick, half to even."""
    return int((Decimal(repr(price)) / Decimal(tick_size)).to_integral_value(rounding=ROUND_HALF_EVEN))


# ---------------------------------------------------------------- exact ticks
@pytest.mark.parametrize(
    ("price", "tick", "ticks"),
    [
        (4762.28, "0.01", 476228),  # 4762.28 is 4762.27999999999974534... in binary: still 476228
        (4762.15, "0.1", 47622),  # a tie: 47621.5 → even 47622
        (4762.25, "0.1", 47622),  # a tie: 47622.5 → even 47622
        (4762.35, "0.1", 47624),  # a tie: 47623.5 → even 47624
        (4762.14, "0.1", 47621),
        (65000.05, "0.1", 650000),  # 650000.5 → even 650000
        (65000.15, "0.1", 650002),  # 650001.5 → even 650002
        (101516.5, "0.1", 1015165),
        (0.3, "0.1", 3),  # 0.3 / 0.1 is 2.9999999999999996 in floats
        (2.5, "1", 2),
        (3.5, "1", 4),
        (1.25, "0.5", 2),  # 2.5 ticks of 0.5 → 2
        (1.75, "0.5", 4),  # 3.5 ticks → 4
        (123.456, "0.01", 12346),
        (1e-5, "0.00001", 1),  # repr is scientific notation
        (12345678901.25, "0.1", 123456789012),  # beyond the fast path: exact arithmetic
    ],
)
def test_prices_convert_to_ticks_exactly_half_to_even(price: float, tick: str, ticks: int) -> None:
    assert prices_to_ticks([price], tick).tolist() == [ticks]
    assert reference_ticks(price, tick) == ticks


@given(
    st.lists(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500000"), places=3, allow_nan=False), min_size=1
    ),
    st.sampled_from(["0.1", "0.01", "0.5", "1", "0.25", "0.001"]),
)
def test_the_vectorized_conversion_agrees_with_the_exact_reference(values: list[Decimal], tick: str) -> None:
    prices = [float(v) for v in values]
    assert prices_to_ticks(prices, tick).tolist() == [reference_ticks(p, tick) for p in prices]


def test_a_scenario_gives_int64_ticks_of_the_market_grid() -> None:
    btc = default_config().markets["BTC-PERP"]
    ticks = gap(-0.2).ticks(btc.tick_size)
    assert ticks.dtype == np.int64
    assert ticks[0] == btc.price_grid.parse("100000") and ticks[-1] == btc.price_grid.parse("80000")
    tiny = Scenario("tiny", "", np.array([0, 1]), np.array([0.04, 1.0]), "test")
    with pytest.raises(ValueError, match="rounds to zero ticks"):
        tiny.ticks("0.1")


@needs_data
@pytest.mark.parametrize("date", list(CRASH_WINDOW_FILES))
def test_real_closes_convert_to_exactly_the_ticks_of_their_csv_text(date: str) -> None:
    with open(shared() / CRASH_WINDOW_FILES[date], newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    grid = Grid("0.01")
    from_text = [grid.parse(r[4]) for r in rows]  # the close column, exactly as written
    scenario = historical_scenarios(shared())[list(CRASH_WINDOW_FILES).index(date)]
    assert scenario.ticks("0.01")[1:].tolist() == from_text


# ---------------------------------------------------------------- the value
def test_a_scenario_is_validated_and_immutable() -> None:
    good = Scenario("s", "d", np.array([0, 60_000]), np.array([1.0, 2.0]), "src")
    assert len(good) == 2 and good.index_stale.tolist() == [False, False]
    with pytest.raises(ValueError):
        good.price[0] = 3.0
    with pytest.raises(ValueError, match="increase strictly"):
        Scenario("s", "d", np.array([0, 0]), np.array([1.0, 2.0]), "src")
    with pytest.raises(ValueError, match="positive and finite"):
        Scenario("s", "d", np.array([0, 1]), np.array([1.0, -2.0]), "src")
    with pytest.raises(ValueError, match="one length"):
        Scenario("s", "d", np.array([0, 1]), np.array([1.0]), "src")
    with pytest.raises(ValueError, match="one flag per step"):
        Scenario("s", "d", np.array([0, 1]), np.array([1.0, 2.0]), "src", index_stale=np.array([True]))


# ---------------------------------------------------------------- parametric crashes
@pytest.mark.parametrize(
    ("name", "start", "trough", "drawdown", "legs", "steps"),
    [
        ("crash_2020_03_12", "2020-03-12T10:00:00Z", 3621.81, 0.5074, 2, 1127),
        ("crash_2021_05_19", "2021-05-19", 28688.0, 0.3305, 1, 882),
        ("crash_2022_11_09", "2022-11-09", 15462.6, 0.1662, 2, 1420),
        ("crash_2025_10_10", "2025-10-10", 101516.5, 0.1660, 2, 1325),
    ],
)
def test_a_parametric_crash_passes_through_its_published_anchors(
    name: str, start: str, trough: float, drawdown: float, legs: int, steps: int
) -> None:
    facts = CRASHES[name]
    scenario = crash_scenario(facts, seed=0)
    assert scenario.kind == "parametric" and scenario.summary()["start"] == start
    assert len(scenario) == steps and np.all(np.diff(scenario.ts_ms) == MINUTE_MS)
    for minute, price in facts.anchors:
        assert scenario.price[minute] == price
    assert scenario.price.min() == trough
    assert scenario.price.max() == max(p for _, p in facts.anchors)
    assert facts.drawdown == pytest.approx(drawdown, abs=1e-4)
    assert scenario.price.min() / scenario.price[0] - 1 == pytest.approx(-drawdown, abs=1e-4)
    assert facts.legs == legs
    assert facts.sources and facts.facts


def test_the_2025_facts_carry_the_published_figures() -> None:
    text = " ".join(CRASHES["crash_2025_10_10"].facts)
    for figure in ("1,618,240", "$19.13 bn", "91.09 %", "−13.3 % in 36 minutes", "101,516.5"):
        assert figure in text


GOLDEN_TICK_SUMS = {  # seed 0, tick 0.1: the same numbers on any machine (numpy PCG64 and normals)
    "crash_2020_03_12": 60470303,
    "crash_2021_05_19": 343993823,
    "crash_2022_11_09": 246276678,
    "crash_2025_10_10": 1576758526,
    "gap_down_20pct": 108800000,
    "vol_spike_300pct_24h": 1406672343,
}


def test_builtin_scenarios_are_deterministic_from_the_seed() -> None:
    first, again, other = builtin_scenarios(0), builtin_scenarios(0), builtin_scenarios(1)
    assert [s.name for s in first] == BUILTIN_NAMES
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.price, b.price) and np.array_equal(a.ts_ms, b.ts_ms)
    assert {s.name: int(s.ticks("0.1").sum()) for s in first} == GOLDEN_TICK_SUMS
    differs = [not np.array_equal(a.price, b.price) for a, b in zip(first, other, strict=True)]
    assert differs == [True, True, True, True, False, True]  # the gap has no randomness


def test_the_bridge_noise_has_the_volatility_of_its_regime() -> None:
    vol = 2.0
    path = anchored_path([(0, 100.0), (200_000, 100.0 * math.exp(0.5))], [vol], np.random.default_rng(3))
    # the fold at the anchors' band is rarely hit on a rising line; the realized vol matches σ
    realized = float(np.std(np.diff(np.log(path)))) * math.sqrt(525_600)
    assert realized == pytest.approx(vol, rel=0.05)


def test_a_generic_parametric_crash_has_its_drawdown_legs_and_rebound() -> None:
    crash = parametric_crash("three_legs", 0.30, 60, legs=3, retrace=0.5, rebound=0.5, rebound_min=30, seed=4)
    assert len(crash) == 91
    assert crash.price[0] == 100_000.0 and crash.price[60] == pytest.approx(70_000.0)
    assert crash.price.min() == pytest.approx(70_000.0)
    assert crash.price[-1] == pytest.approx(85_000.0)
    assert crash.max_drawdown() == pytest.approx(0.30)
    with pytest.raises(ValueError, match="at least a minute"):
        parametric_crash("too_fast", 0.3, 3, legs=3)


# ---------------------------------------------------------------- hypothetical shocks
def test_a_gap_jumps_at_once_and_is_flat_around_it() -> None:
    down, up = gap(-0.2), gap(0.15, at_step=10, steps=20)
    assert down.name == "gap_down_20pct" and up.name == "gap_up_15pct"
    assert set(down.price[:60]) == {100_000.0} and set(down.price[60:]) == {80_000.0}
    assert up.price[9] == 100_000.0 and up.price[10] == pytest.approx(115_000.0) and len(up) == 21
    with pytest.raises(ValueError):
        gap(-1.0)


def test_a_vol_spike_is_seeded_gbm() -> None:
    spike = vol_spike(3.0, 100_000, seed=9)
    assert spike.name == "vol_spike_300pct_100000m"
    assert np.array_equal(spike.price, vol_spike(3.0, 100_000, seed=9).price)
    log_steps = np.diff(np.log(spike.price))
    assert float(np.std(log_steps)) * math.sqrt(525_600) == pytest.approx(3.0, rel=0.02)


def test_an_index_outage_flags_steps_and_holds_the_last_good_index() -> None:
    base = parametric_crash("fall", 0.2, 30, seed=1)
    out = index_outage(base, 10, 5)
    assert out.name == "fall_index_outage"
    assert np.flatnonzero(out.index_stale).tolist() == [10, 11, 12, 13, 14]
    assert np.array_equal(out.price, base.price)
    index = out.index_price()
    assert np.all(index[10:15] == base.price[9])
    assert index[15] == base.price[15] and index[9] == base.price[9]
    named = load_scenario("crash_2025_10_10_index_outage")
    assert int(named.index_stale.sum()) == 20 and named.summary()["stale_steps"] == 20


# ---------------------------------------------------------------- historical paths
def bars() -> PriceHistory:
    ts = np.array([0, 60_000, 120_000], dtype=np.int64)
    return PriceHistory(
        "bars",
        ts,
        np.array([10.0, 11.0, 9.0]),
        np.array([12.0, 11.5, 9.5]),
        np.array([9.5, 8.0, 7.0]),
        np.array([11.0, 9.0, 9.2]),
        "test",
    )


def test_the_close_path_has_one_point_per_bar_end() -> None:
    path = from_history(bars())
    assert path.ts_ms.tolist() == [0, 60_000, 120_000, 180_000]
    assert path.price.tolist() == [10.0, 11.0, 9.0, 9.2]


def test_the_wick_path_visits_every_low_half_way_through_the_bar() -> None:
    lows = from_history(bars(), "low")
    assert lows.name == "bars_lows"
    assert lows.ts_ms.tolist() == [0, 30_000, 60_000, 90_000, 120_000, 150_000, 180_000]
    assert lows.price.tolist() == [10.0, 9.5, 11.0, 8.0, 9.0, 7.0, 9.2]
    highs = from_history(bars(), "high")
    assert highs.price[1::2].tolist() == [12.0, 11.5, 9.5]


@needs_data
def test_the_four_real_windows_are_the_historical_scenarios() -> None:
    closes = historical_scenarios(shared())
    lows = historical_scenarios(shared(), wicks="low")
    assert [s.name for s in closes] == [
        "binance_perp_2020_03_13",
        "binance_perp_2021_05_19",
        "binance_perp_2022_11_09",
        "binance_perp_2025_10_10",
    ]
    assert [s.price.min() for s in lows] == [3621.81, 28688.0, 15462.6, 101516.5]
    assert [len(s) for s in closes] == [288, 136, 136, 132]
    assert all(s.kind == "historical" for s in closes + lows)
    by_name = load_scenario("binance_perp_2025_10_10_lows", shared())
    assert np.array_equal(by_name.price, lows[3].price)
    window = load_crash_window("2021-05-19", shared())
    assert window is not None and closes[1].price[-1] == window.close[-1]


def test_without_data_the_builtins_still_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONSHORE_DATA", str(tmp_path / "absent"))
    assert historical_scenarios() == []
    assert [s.name for s in builtin_scenarios()] == BUILTIN_NAMES
    assert not any(n.startswith("binance_perp") for n in scenario_names())
    with pytest.raises(ValueError, match="needs the shared data directory"):
        load_scenario("binance_perp_2020_03_13")


# ---------------------------------------------------------------- load_scenario
def test_load_scenario_by_name_pattern_or_file(tmp_path: Path) -> None:
    for name in BUILTIN_NAMES:
        assert load_scenario(name).name == name
    assert load_scenario("gap_down_7_5pct").price[-1] == pytest.approx(92_500.0)
    assert load_scenario("gap_up_10pct").price[-1] == pytest.approx(110_000.0)
    assert len(load_scenario("vol_spike_150pct_6h")) == 361
    assert len(load_scenario("vol_spike_150pct_90m")) == 91
    path = write(tmp_path / "mine.csv", "date,open,high,low,close", "2024-01-01,1,2,0.5,1.5", "2024-01-02,1.5,3,1,2.5")
    mine = load_scenario(path)
    assert (mine.name, mine.kind, mine.price.tolist()) == ("mine", "file", [1.0, 1.5, 2.5])
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        load_scenario("nope")


# ---------------------------------------------------------------- reverse stress
def test_smallest_move_finds_the_threshold_of_a_monotone_test_by_bisection() -> None:
    calls: list[float] = []

    def exhausts_the_fund(move: float) -> bool:
        calls.append(move)
        return move >= 0.2371

    found = smallest_move(exhausts_the_fund, 0.0, 1.0, 1e-4)
    assert found is not None
    assert 0.2371 <= found < 0.2371 + 1e-4
    assert exhausts_the_fund(found) and not exhausts_the_fund(found - 1e-4)
    assert len(calls) == 2 + math.ceil(math.log2(1.0 / 1e-4)) + 2  # + the two checks above


def test_smallest_move_edges() -> None:
    assert smallest_move(lambda m: False, 0.0, 0.5, 0.01) is None
    assert smallest_move(lambda m: True, 0.1, 0.5, 0.01) == 0.1
    with pytest.raises(ValueError):
        smallest_move(lambda m: True, 0.5, 0.1, 0.01)
