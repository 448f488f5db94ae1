"""The hand-checked figures of the two liquidation golden scenarios (tests/scenarios/liquidation_*.md).

The golden runner (tests/scenarios/test_golden.py) compares the whole event and state files;
this test holds the arithmetic written out in each scenario's notes to a fresh replay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from onshore.adapters.cli import replay_lines
from onshore.config.load import load_config
from onshore.core.events import event_to_dict
from onshore.venue import Venue

from .driver import absorbed, of_type, usd

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _replay(name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    venue = Venue(load_config((SCENARIOS / f"{name}.config.toml").read_text("utf-8")))
    lines = (SCENARIOS / f"{name}.commands.jsonl").read_text("utf-8").splitlines()
    events = [event_to_dict(ev) for ev in replay_lines(venue, lines)]
    venue.check_invariants()
    return events, venue.state_document()


@pytest.fixture(scope="module")
def waterfall() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return _replay("liquidation_waterfall")


@pytest.fixture(scope="module")
def offshore() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return _replay("liquidation_offshore_adl")


def _cash(state: dict[str, Any]) -> dict[str, int]:
    return {a: usd(v["cash"]) for a, v in state["accounts"].items()}


def test_the_waterfall_layers_are_as_worked_by_hand(waterfall: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    events, _state = waterfall
    assert not of_type(events, "command_rejected")
    crash = [ev for ev in events if ev["cmd"] == events[-1]["cmd"]]
    order = of_type(crash, "order_accepted")
    assert [(o["client_order_id"], o["side"], o["price"], o["qty"]) for o in order] == [
        ("liquidation-1", "sell", "60300", "100")  # where the deficit would equal the layers' 2,700
    ]
    assert absorbed(crash) == [
        ("member_capital", usd("500"), "fcm-a"),
        ("member_default_fund", usd("300"), "fcm-a"),
        ("clearing_house_capital", usd("1000"), None),
        ("mutualised_default_fund", usd("400"), "fcm-b"),
        ("mutualised_default_fund", usd("200"), "fcm-c"),
        ("assessments", usd("200"), "fcm-b"),
        ("assessments", usd("100"), "fcm-c"),
        ("vm_haircut", usd("780"), "s1"),
        ("vm_haircut", usd("520"), "s2"),
        ("trader", usd("2000"), "whale"),
    ]
    assert [ev["member"] for ev in of_type(crash, "member_default")] == ["fcm-a"]
    assert [(ev["stage"], ev["qty"], ev["price"]) for ev in of_type(crash, "liquidation")] == [
        ("tear_up", "60", "59000"),
        ("tear_up", "40", "59000"),
    ]


def test_the_waterfall_final_state_is_as_worked_by_hand(
    waterfall: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    _events, state = waterfall
    assert _cash(state) == {
        "bystander": usd("5000"),
        "s1": usd("12804.4"),
        "s2": usd("11869.6"),
        "whale": 0,
    }
    assert state["members"] == {
        "fcm-a": {"capital": "0", "default_fund": "0"},
        "fcm-b": {"capital": "9999800", "default_fund": "0"},
        "fcm-c": {"capital": "9999900", "default_fund": "0"},
    }
    assert state["system"]["clearing_house_capital"] == "0"
    assert state["system"]["fee_income"] == "32.5"
    assert state["system"]["variation_settlement"] == "0"
    assert state["ledger_check"] == {
        "deposits": "27006.5",
        "withdrawals": "0",
        "paid_in": "20002400",
        "sum_of_balances": "20029406.5",
    }
    layers = {k: usd(v) for k, v in state["loss_attribution"].items()}
    assert sum(layers.values()) == usd("6000")
    assert sum(layers.values()) - layers["trader"] == usd("4000")
    assert state["loss_by_segment"] == {"institutional": "6000"}
    assert state["defaulted_members"] == ["fcm-a"]
    assert state["uncovered_loss"] == "0"


def test_the_offshore_queue_is_bitmexs(offshore: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    """early drains the fund; short is deleveraged against accounts 2 and 5 at 650 (BitMEX's example)."""
    events, state = offshore
    assert not of_type(events, "command_rejected")
    crash = [ev for ev in events if ev["cmd"] == events[-1]["cmd"]]
    assert absorbed(crash) == [
        ("insurance_fund", usd("15"), None),
        ("trader", usd("16"), "early"),  # its equity at 630, the mark before the crash command
        ("adl", usd("10"), "account-2"),
        ("adl", usd("10"), "account-5"),
        ("trader", usd("40"), "short"),
    ]
    assert [
        (ev["account"], ev["counterparty"], ev["qty"], ev["price"]) for ev in of_type(crash, "auto_deleverage")
    ] == [
        ("account-2", "short", "10", "650"),
        ("account-5", "short", "10", "650"),
    ]
    fills = [(ev["taker_account"], ev["maker_account"], ev["qty"], ev["price"]) for ev in of_type(crash, "trade")]
    assert fills[0] == ("early", "mm", "10", "661")
    assert _cash(state) == {
        "account-1": usd("160"),
        "account-2": usd("100"),
        "account-3": usd("1200"),
        "account-4": usd("315"),
        "account-5": usd("194"),
        "account-6": usd("270"),
        "early": 0,
        "mm": usd("99998.2539"),
        "short": 0,
    }
    positions = {a: v["positions"].get("ETH-PERP", {}).get("qty") for a, v in state["accounts"].items()}
    assert positions == {
        "account-1": "10",
        "account-2": None,
        "account-3": "20",
        "account-4": "30",
        "account-5": "10",
        "account-6": "10",
        "early": None,
        "mm": "-80",
        "short": None,
    }
    assert state["accounts"]["mm"]["equity"] == "99579.2539"
    assert state["system"]["insurance_fund"] == "0"
    assert state["system"]["fee_income"] == "3.0661"
    assert state["system"]["variation_settlement"] == "61"
    assert state["ledger_check"]["sum_of_balances"] == "21102301.32"
    layers = {k: usd(v) for k, v in state["loss_attribution"].items()}
    assert layers["trader"] == usd("56") and layers["insurance_fund"] == usd("15") and layers["adl"] == usd("20")
    assert sum(layers.values()) == usd("91")  # the losses from the marks before the crash command


@pytest.mark.parametrize("name", ["liquidation_waterfall", "liquidation_offshore_adl"])
def test_the_golden_files_are_what_the_venue_prints(name: str) -> None:
    """The frozen files agree with a fresh replay (the golden runner checks this too, and more)."""
    events, state = _replay(name)
    frozen = [json.loads(line) for line in (SCENARIOS / f"{name}.events.jsonl").read_text("utf-8").splitlines()]
    assert frozen == events
    assert json.loads((SCENARIOS / f"{name}.state.json").read_text("utf-8")) == state
