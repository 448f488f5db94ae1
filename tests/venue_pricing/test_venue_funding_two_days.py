"""The hand-checked figures of tests/scenarios/funding_two_days.md, in a replay and in the expected events.

The golden runner (tests/scenarios/test_golden.py) compares the whole files; these tests hold
the arithmetic written out in the scenario's notes to the Venue, and checks the scenario's
properties at every settlement cycle: variation settlement back to zero, every equity unchanged
but for the same tick's funding.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from onshore.adapters.cli import replay_lines
from onshore.config.load import load_config
from onshore.core.events import encode_event, event_to_dict
from onshore.venue import Venue

from . import make_funding_two_days
from .session import HOUR, K_BTC, MINUTE, PPB, T0, usd

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
NAME = "funding_two_days"


def _file(suffix: str) -> Path:
    return SCENARIOS / f"{NAME}.{suffix}"


@pytest.fixture(scope="module")
def replay() -> dict[str, Any]:
    """Replay the commands once, keeping the events and the state document around every settlement tick."""
    venue = Venue(load_config(_file("config.toml").read_text("utf-8")))
    events: list[dict[str, Any]] = []
    encoded: list[bytes] = []
    cycles: list[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]] = []
    for line in _file("commands.jsonl").read_text("utf-8").splitlines():
        command = json.loads(line)
        settling = command["type"] == "tick" and (command["ts"] - T0) % (12 * HOUR) == 0
        before = venue.state_document() if settling else None
        out = list(replay_lines(venue, [line]))
        venue.check_invariants()
        encoded += [encode_event(ev) for ev in out]
        batch = [event_to_dict(ev) for ev in out]
        events += batch
        if before is not None:
            cycles.append((before, batch, venue.state_document()))
    return {"events": events, "encoded": encoded, "cycles": cycles, "state": venue.state_document()}


def test_the_commands_file_is_what_its_generator_writes() -> None:
    assert make_funding_two_days.text() == _file("commands.jsonl").read_text("utf-8")


def test_the_replay_matches_the_expected_files(replay: dict[str, Any]) -> None:
    assert [json.loads(ev) for ev in replay["encoded"]] == _expected_events()
    assert json.loads(_file("state.json").read_text("utf-8")) == replay["state"]


def _expected_events() -> list[dict[str, Any]]:
    return [json.loads(line) for line in _file("events.jsonl").read_text("utf-8").splitlines()]


@pytest.mark.parametrize("source", ["replay", "file"])
def test_hand_check_1_the_funding_at_01_00(replay: dict[str, Any], source: str) -> None:
    events = replay["events"] if source == "replay" else _expected_events()
    at_one = [ev for ev in events if ev["ts"] == T0 + HOUR and ev["type"].startswith("funding")]
    rate, *payments = at_one
    # the samples: five at 1,538,461 ppb (00:10 … 00:50), one at 1,537,870 (01:00, after the requote)
    assert (1_000 * PPB) // 650_000 == 1_538_461 and (1_000 * PPB) // 650_250 == 1_537_870
    premium = (5 * 1_538_461 + 1_537_870) // 6
    rate_8h = premium + max(-500_000, min(500_000, 100_000 - premium))
    hourly = rate_8h * 3_600_000 // 28_800_000
    assert (premium, rate_8h, hourly) == (1_538_362, 1_038_362, 129_795)
    assert (rate["premium"], rate["rate_8h"], rate["rate"]) == ("0.001538362", "0.001038362", "0.000129795")
    assert (rate["mark_price"], rate["funding_time"]) == ("65135", T0 + HOUR)
    paid = {p["account"]: usd(p["amount"]) for p in payments}
    for account, qty, exact_micros, floor_micros in [
        ("alice", 8, "-676335.786", -676_336),
        ("bob", -5, "422709.86625", 422_709),
        ("mm", -3, "253625.91975", 253_625),
    ]:
        numerator = -qty * 651_350 * K_BTC * hourly
        assert Fraction(numerator, PPB) == Fraction(exact_micros)
        assert numerator // PPB == floor_micros == paid[account]
    assert sum(paid.values()) == -2  # the 2 micro-dollars go to `rounding`


@pytest.mark.parametrize("source", ["replay", "file"])
def test_hand_check_2_the_settlement_at_12_00(replay: dict[str, Any], source: str) -> None:
    events = replay["events"] if source == "replay" else _expected_events()
    settled = {ev["account"]: ev for ev in events if ev["type"] == "settlement" and ev["ts"] == T0 + 12 * HOUR}
    assert {ev["price"] for ev in settled.values()} == {"65410"}
    assert {a: ev["amount"] for a, ev in settled.items()} == {
        "alice": "23.2",
        "bob": "-15.5",
        "carol": "21.5",
        "dave": "8.4",
        "mm": "-38.6",
    }
    # mm: −5,209.6 + 3,256.0 − 6,519.5 − 3,916.2 = −12,389.3 of cost for −19 lots, worth −19 × 654.1
    assert -19 * 654_100 * K_BTC - (-5_209_600_000 + 3_256_000_000 - 6_519_500_000 - 3_916_200_000) == -38_600_000
    before, _, after = replay["cycles"][0]
    assert before["system"]["variation_settlement"] == "-1"
    assert after["system"]["variation_settlement"] == "0"
    alice_before, alice_after = before["accounts"]["alice"], after["accounts"]["alice"]
    assert (alice_before["cash"], alice_before["equity"]) == ("49990.473356", "50013.673356")
    assert (alice_after["cash"], alice_after["equity"]) == ("50012.998403", "50012.998403")
    # his isolated margin pays his funding (five hours of it by 11:00: 391.62 − 2.532488) and takes the
    # 12:00 funding (−0.506215) and the settlement (+8.4): 389.087512 − 0.506215 + 8.4 = 396.981297
    assert before["accounts"]["dave"]["positions"]["BTC-PERP"]["isolated_margin"] == "389.087512"
    assert after["accounts"]["dave"]["positions"]["BTC-PERP"]["isolated_margin"] == "396.981297"


def test_every_cycle_zeroes_variation_settlement_and_moves_no_equity_but_by_funding(replay: dict[str, Any]) -> None:
    cycles = replay["cycles"]
    assert [after["ts"] for _, _, after in cycles] == [T0 + h * HOUR for h in (12, 24, 36, 48)]
    for before, batch, after in cycles:
        funding = {ev["account"]: usd(ev["amount"]) for ev in batch if ev["type"] == "funding_payment"}
        assert after["system"]["variation_settlement"] == "0"
        for name, account in after["accounts"].items():
            assert usd(account["equity"]) == usd(before["accounts"][name]["equity"]) + funding.get(name, 0), name
            for position in account["positions"].values():
                assert position["unrealized_pnl"] == "0"
    assert [{ev["price"] for ev in b if ev["type"] == "settlement"} for _, b, _ in cycles] == [
        {"65410"},
        {"65620"},
        {"65010"},
        {"64570"},
    ]


def test_the_stale_hour_has_no_funding_and_the_outlier_is_left_out(replay: dict[str, Any]) -> None:
    events = replay["events"]
    times = [ev["funding_time"] for ev in events if ev["type"] == "funding_rate"]
    assert times == [T0 + h * HOUR for h in range(1, 49) if h != 39]  # day 2 15:00 skipped
    stale = [ev["ts"] for ev in events if ev["type"] == "index_stale"]
    assert stale == [T0 + 37 * HOUR + 55 * MINUTE, T0 + 38 * HOUR, T0 + 39 * HOUR]
    (outlier,) = [ev for ev in events if ev["type"] == "index_price" and ev["ts"] == T0 + 5 * HOUR]
    assert (outlier["price"], outlier["sources_used"]) == ("65124", ["bitstamp", "coinbase", "kraken"])
    # the mark is frozen while stale: carol's 14:30 trade emits no mark_price
    frozen = [
        ev
        for ev in events
        if ev["type"] == "mark_price" and T0 + 37 * HOUR + 55 * MINUTE <= ev["ts"] < T0 + 39 * HOUR + 5 * MINUTE
    ]
    assert frozen == []
    assert replay["state"]["system"]["rounding"] == "0.0001"
