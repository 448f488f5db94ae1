"""The hand-checked figures of tests/scenarios/onboarding_flow.md, in a fresh replay and in the expected files.

The golden runner (tests/scenarios/test_golden.py) compares the whole files; this test holds
the story and the arithmetic written out in the scenario's notes to both, and checks that
the commands file is what ``make_onboarding_flow.py`` writes.
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

from . import make_onboarding_flow
from .driver import SECOND, T0, YEAR_OF_REVIEW, of_type, usd

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
NAME = "onboarding_flow"


def _file(suffix: str) -> Path:
    return SCENARIOS / f"{NAME}.{suffix}"


@pytest.fixture(scope="module")
def replay() -> dict[str, Any]:
    venue = Venue(load_config(_file("config.toml").read_text("utf-8")))
    lines = _file("commands.jsonl").read_text("utf-8").splitlines()
    events = [event_to_dict(ev) for ev in replay_lines(venue, lines)]
    venue.check_invariants()
    return {"events": events, "state": venue.state_document()}


def _sources(replay: dict[str, Any]) -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
    expected = [json.loads(line) for line in _file("events.jsonl").read_text("utf-8").splitlines() if line]
    return [(replay["events"], replay["state"]), (expected, json.loads(_file("state.json").read_text("utf-8")))]


def test_the_commands_file_is_the_generator_s() -> None:
    lines = [json.loads(line) for line in _file("commands.jsonl").read_text("utf-8").splitlines()]
    assert lines == make_onboarding_flow.commands()
    assert len(lines) == 53


def test_onboarding_outcomes(replay: dict[str, Any]) -> None:
    for events, _ in _sources(replay):
        opened = {ev["account"]: ev for ev in of_type(events, "account_opened")}
        assert {a: (ev["segment"], ev["max_leverage"], ev["markets"]) for a, ev in opened.items()} == {
            "mm": ("market_maker", "50", ["BTC-PERP", "ETH-PERP"]),
            "alice": ("retail", "10", ["BTC-PERP"]),
            "carol": ("institutional", "50", ["BTC-PERP", "ETH-PERP"]),
        }
        assert opened["alice"]["review_due"] == T0 + YEAR_OF_REVIEW == 1_798_761_600_000
        rejected = {
            ev["account"]: [f["reason"] for f in ev["findings"]] for ev in of_type(events, "onboarding_rejected")
        }
        assert rejected == {"nomen": ["sanctioned_name", "jurisdiction_not_permitted"], "tom": ["under_age"]}


def test_the_gates_and_the_cap(replay: dict[str, Any]) -> None:
    for events, _ in _sources(replay):
        reasons = [ev["reason"] for ev in of_type(events, "command_rejected")]
        assert reasons == [
            "disclosure_not_acknowledged",  # before any acknowledgment
            "disclosure_not_acknowledged",  # the addendum still missing
            "market_not_permitted",  # retail: BTC-PERP only
            "disclosure_not_acknowledged",  # statement version 2 published
            "not_current_version",  # version 1 is no longer current
            "profile_review_due",  # a year on
            "limit_would_loosen",  # 20× above the account's 10×
        ]
        levers = [
            (ev["account"], ev["leverage"], ev["requested"], ev["capped_by"]) for ev in of_type(events, "leverage_set")
        ]
        assert levers == [
            ("alice", "10", "50", "account"),
            ("carol", "50", "50", None),
            ("alice", "5", "10", "account"),
        ]
        fills = [
            (ev["taker_account"], ev["aggressor_side"], ev["qty"], ev["price"], ev["taker_fee"])
            for ev in of_type(events, "trade")
        ]
        assert fills == [
            ("alice", "buy", "10", "65010", "2.6004"),
            ("carol", "buy", "40", "65010", "10.4016"),
            ("alice", "sell", "4", "64990", "1.03984"),  # reduce-only while version 2 is unacknowledged
            ("alice", "buy", "2", "65010", "0.52008"),
            ("alice", "sell", "1", "63390", "0.25356"),  # reduce-only while the review is due
            ("alice", "buy", "1", "63410", "0.25364"),  # after the review
        ]
        (reviewed,) = of_type(events, "customer_reviewed")
        assert (reviewed["segment"], reviewed["review_due"]) == ("retail", T0 + 2 * YEAR_OF_REVIEW)


def test_margin_calls_once_per_episode(replay: dict[str, Any]) -> None:
    for events, _ in _sources(replay):
        calls = [(ev["ts"], ev["account"], ev["equity"], ev["maintenance"]) for ev in of_type(events, "margin_call")]
        assert calls == [
            (T0 + 20 * SECOND, "carol", "345.5984", "253.6"),
            (T0 + 43 * SECOND, "carol", "345.5984", "253.6"),
        ]
        # 989.5984 − 0.4 × (65,010 − 63,400) and 1 % of 0.4 × 63,400; the warning level is 1.5 × 253.6 = 380.4
        assert usd("989.5984") - 4 * 1_610 * 100_000 == usd("345.5984") < usd("380.4")


def test_the_final_state(replay: dict[str, Any]) -> None:
    for _, state in _sources(replay):
        accounts = state["accounts"]
        rows = {
            name: (
                a["cash"],
                a["equity"],
                a["positions"]["BTC-PERP"]["qty"],
                a["positions"]["BTC-PERP"]["unrealized_pnl"],
            )
            for name, a in accounts.items()
        }
        assert rows == {
            "alice": ("9978.33248", "9865.53248", "8", "-112.8"),
            "carol": ("989.5984", "345.5984", "40", "-644"),
            "mm": ("5000013.23272", "5000770.03272", "-48", "756.8"),
        }
        assert accounts["alice"]["positions"]["BTC-PERP"]["leverage"] == "5"
        assert accounts["alice"]["positions"]["BTC-PERP"]["entry_price"] == "64810"
        assert usd("10000") - sum(
            map(usd, ["2.6004", "0.8", "1.03984", "0.52008", "16.2", "0.25356", "0.25364"])
        ) == usd("9978.33248")
        assert state["system"]["fee_income"] == "18.8364"
        assert state["ledger_check"]["sum_of_balances"] == "20511000"
        assert state["markets"]["BTC-PERP"]["open_interest"] == "48"
