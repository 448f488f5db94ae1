"""Studies: the same numbers whoever runs them, Cover-n stated exactly, the JSON summary in the issue's shape.

State: the study population at 200 accounts (seed 3), two built-in scenarios, both loss
models, price impact on (the CLI's default), a 10× policy cap.
Parameters: in-process, two local worker processes, a local Dask cluster.
Expectations: identical summaries in the specs' order; ``cover()`` states "covered" or
"short by $X" to the micro-dollar; ``as_json()`` has the keys issue 8 fixes, amounts as
decimal strings that add up.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from onshore.config.load import load_config
from onshore.lab.population import PopulationSpec
from onshore.lab.scenarios import load_scenario
from onshore.lab.study import RunSpec, RunSummary, cover, execute, leverage, money, run_all
from onshore.venue.state import LOSS_LAYERS

MARKET = load_config(None).markets["BTC-PERP"]
USD = 10**6
POPULATION = PopulationSpec(accounts=200, seed=3)
PROTOCOL_LAYERS = (
    "trader",
    "insurance_fund",
    "adl",
    "member_capital",
    "member_default_fund",
    "clearing_house_capital",
    "mutualised_default_fund",
    "assessments",
    "vm_haircut",
)
DECIMAL = re.compile(r"-?\d+(\.\d{1,6})?\Z")


def path_of(name: str) -> tuple[int, ...]:
    return tuple(int(x) for x in load_scenario(name).ticks(MARKET.tick_size))


SPECS = [
    RunSpec(name, path_of(name), model, leverage(10), POPULATION, impact=True, keep_detail=True)
    for name in ("gap_down_20pct", "gap_up_20pct")
    for model in ("us_clearing", "offshore")
]


@pytest.fixture(scope="module")
def in_process() -> list[RunSummary]:
    ticks: list[int] = []
    out = run_all(SPECS, progress=ticks.append)
    assert ticks == [1] * len(SPECS)
    return out


# ============================================================================ whoever runs it
def test_in_process_runs_are_real_and_in_order(in_process: list[RunSummary]) -> None:
    assert [(r.scenario, r.loss_model, r.leverage_cap) for r in in_process] == [
        (s.scenario, s.loss_model, s.leverage_cap) for s in SPECS
    ]
    assert all(r.total_loss > 0 and r.liquidated_accounts > 0 for r in in_process)
    assert all(len(r.mark_path) == len(s.path_ticks) for r, s in zip(in_process, SPECS, strict=True))
    assert in_process[0] == execute(SPECS[0])  # deterministic


def test_local_processes_give_identical_summaries(in_process: list[RunSummary]) -> None:
    ticks: list[int] = []
    assert run_all(SPECS, workers=2, progress=ticks.append) == in_process
    assert sum(ticks) == len(SPECS)


def test_a_local_dask_cluster_gives_identical_summaries(in_process: list[RunSummary]) -> None:
    pytest.importorskip("dask.distributed")
    ticks: list[int] = []
    assert run_all(SPECS, workers=2, dask="local", progress=ticks.append) == in_process
    assert sum(ticks) == len(SPECS)


# ============================================================================ Cover-1 and Cover-2
CAPITAL = {"fcm-1": 20 * USD, "fcm-2": 5 * USD, "fcm-3": 1 * USD, "fcm-4": 0}


@pytest.mark.parametrize(
    ("stress", "available", "n", "required", "statement"),
    [
        # exposures beyond capital: fcm-1 30, fcm-2 25.000001, fcm-3 0 (a loss within capital), fcm-4 0
        ({"fcm-1": 50 * USD, "fcm-2": 30 * USD + 1, "fcm-3": USD // 2, "fcm-4": 0}, 40 * USD, 1, "30", "covered"),
        ({"fcm-1": 50 * USD, "fcm-2": 30 * USD + 1, "fcm-3": USD // 2, "fcm-4": 0}, 40 * USD, 2, "55.000001",
         "short by $15.000001"),
        ({"fcm-1": 50 * USD, "fcm-2": 30 * USD + 1, "fcm-3": USD // 2, "fcm-4": 0}, 55 * USD + 1, 2, "55.000001",
         "covered"),  # exactly enough
        ({"fcm-1": 50 * USD, "fcm-2": 30 * USD + 1, "fcm-3": USD // 2, "fcm-4": 0}, 55 * USD, 2, "55.000001",
         "short by $0.000001"),
        ({"fcm-1": 20 * USD, "fcm-2": 0, "fcm-3": 0, "fcm-4": 0}, 0, 2, "0", "covered"),  # within its own capital
        ({"fcm-1": 0, "fcm-2": 0, "fcm-3": 0, "fcm-4": 7_500_000 * USD}, 1_234_567_890_123, 1, "7500000",
         "short by $6265432.109877"),
        ({"fcm-1": 21 * USD, "fcm-2": 6 * USD, "fcm-3": 2 * USD, "fcm-4": 0}, 2 * USD, 3, "3", "short by $1"),
    ],
)  # fmt: skip
def test_cover_states_covered_or_short_by_the_exact_amount(
    stress: dict[str, int], available: int, n: int, required: str, statement: str
) -> None:
    out = cover(stress, CAPITAL, available, n)
    assert out == {
        "required": required,
        "available": money(available),
        "covered": statement == "covered",
        "statement": statement,
    }
    assert Decimal(out["required"]) * USD == sum(
        sorted((max(0, stress[m] - CAPITAL[m]) for m in stress), reverse=True)[:n]
    )


def test_cover_2_never_requires_less_than_cover_1() -> None:
    stress = {"fcm-1": 50 * USD, "fcm-2": 30 * USD, "fcm-3": 9 * USD, "fcm-4": 3 * USD}
    one, two = cover(stress, CAPITAL, 40 * USD, 1), cover(stress, CAPITAL, 40 * USD, 2)
    assert Decimal(two["required"]) >= Decimal(one["required"]) == 30
    assert one["covered"] and not two["covered"]


# ============================================================================ the JSON summary
def test_the_json_summary_has_the_keys_the_issue_fixes(in_process: list[RunSummary]) -> None:
    assert set(PROTOCOL_LAYERS) == set(LOSS_LAYERS)
    for r in in_process:
        j = r.as_json()
        assert {"scenario", "loss_model", "leverage_cap", "total_loss", "by_layer", "by_segment", "liquidations",
                "cover_1", "cover_2"} <= set(j)  # fmt: skip
        assert (j["scenario"], j["loss_model"], j["leverage_cap"]) == (r.scenario, r.loss_model, "10")
        assert list(j["by_layer"]) == list(PROTOCOL_LAYERS)
        assert set(j["by_segment"]) <= {"retail", "qualified", "institutional", "market_maker", "liquidity"}
        assert j["by_segment"]
        assert {"count", "notional"} <= set(j["liquidations"])
        assert isinstance(j["liquidations"]["count"], int) and j["liquidations"]["count"] > 0
        for key in ("cover_1", "cover_2"):
            assert {"required", "available", "covered"} <= set(j[key])
            assert isinstance(j[key]["covered"], bool)
            assert DECIMAL.match(j[key]["required"]) and DECIMAL.match(j[key]["available"])
        amounts = [j["total_loss"], j["uncovered"], j["liquidations"]["notional"], *j["by_layer"].values()]
        amounts += list(j["by_segment"].values())
        assert all(isinstance(a, str) and DECIMAL.match(a) for a in amounts), amounts
        total = Decimal(j["total_loss"])
        assert total * USD == r.total_loss
        assert sum(Decimal(v) for v in j["by_layer"].values()) + Decimal(j["uncovered"]) == total
        assert sum(Decimal(v) for v in j["by_segment"].values()) == total


def test_a_run_at_the_segments_own_caps_has_a_null_leverage_cap() -> None:
    spec = RunSpec("gap_down_20pct", path_of("gap_down_20pct"), "offshore", None, PopulationSpec(accounts=60, seed=2))
    j = execute(spec).as_json()
    assert j["leverage_cap"] is None
    assert j["by_layer"]["member_capital"] == "0"  # offshore
    assert leverage(2.5) == 250 and leverage(100) == 10_000


def test_money_is_an_exact_decimal_string() -> None:
    assert [money(x) for x in (0, 1, 1_500_000, -5, 12_345_678_901_234_567)] == [
        "0", "0.000001", "1.5", "-0.000005", "12345678901.234567"
    ]  # fmt: skip
