"""The ``onshore`` command line, run as a subprocess exactly as a user runs it.

``onshore replay FILE [--config partial.toml] [--state-out STATE.json]`` prints the events
as JSON Lines and writes the state document of docs/protocol.md; ``onshore demo`` replays
the built-in sample session.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

ONSHORE = Path(sys.executable).with_name("onshore")
STATE_KEYS = {"ts", "accounts", "members", "markets", "system", "ledger_check", "loss_attribution", "state_hash"}
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def cmd(type_: str, ts: int, **fields: Any) -> str:
    return json.dumps({"type": type_, "ts": T0 + ts, **fields})


SESSION = [
    cmd("register_member", 0, member="fcm-alpha", capital="1000000", default_fund="100000"),
    cmd("open_account", 1, account="alice", member="fcm-alpha", segment="retail"),
    cmd("open_account", 1, account="bob", member="fcm-alpha", segment="qualified"),
    cmd("open_account", 1, account="mm-1", member="fcm-alpha", segment="market_maker"),
    cmd("deposit", 2, account="alice", amount="10000"),
    cmd("deposit", 2, account="bob", amount="5000"),
    cmd("deposit", 2, account="mm-1", amount="100000"),
    cmd(
        "index_update",
        3,
        index="BTC-USD",
        quotes=[
            {"source": "coinbase", "price": "65000.00", "ts": T0 + 3},
            {"source": "kraken", "price": "65000.00", "ts": T0 + 3},
        ],
    ),
    cmd(
        "place_order", 4, account="mm-1", market="BTC-PERP", client_order_id="a1", side="sell", price="65000.1", qty="3"
    ),
    cmd("place_order", 4, account="mm-1", market="BTC-PERP", client_order_id="b1", side="buy", price="64990", qty="3"),
    cmd(
        "place_order", 5, account="alice", market="BTC-PERP", client_order_id="x1", side="buy", price="65000.1", qty="1"
    ),
    cmd("set_margin_mode", 6, account="bob", market="BTC-PERP", mode="isolated"),
    cmd("place_order", 7, account="bob", market="BTC-PERP", client_order_id="y1", side="buy", price="65000.1", qty="1"),
    cmd("withdraw", 8, account="alice", amount="100"),
]


def run(*args: str | Path, cwd: Path, hash_seed: str = "0", stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "240", "NO_COLOR": "1", "TERM": "dumb", "PYTHONHASHSEED": hash_seed}
    return subprocess.run(
        [str(ONSHORE), *map(str, args)], cwd=cwd, env=env, input=stdin, capture_output=True, timeout=120, check=False
    )


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), "utf-8")
    return path


def events_of(result: subprocess.CompletedProcess) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr.decode()
    return [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]


def replay(tmp_path: Path, lines: list[str], *extra: str, name: str = "session") -> tuple[list[dict[str, Any]], dict]:
    commands = write_lines(tmp_path / f"{name}.jsonl", lines)
    state = tmp_path / f"{name}.state.json"
    events = events_of(run("replay", commands, "--state-out", state, *extra, cwd=tmp_path))
    return events, json.loads(state.read_text("utf-8"))


def plain(text: bytes) -> str:
    """Terminal text without Rich's box drawing and line wrapping, for matching messages."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text.decode("utf-8")).split())


def test_the_onshore_command_is_installed_beside_the_interpreter() -> None:
    assert ONSHORE.is_file() and os.access(ONSHORE, os.X_OK)


# ============================================================================ events
def test_replay_prints_every_event_as_one_json_line_with_a_gap_free_seq(tmp_path: Path) -> None:
    events, _ = replay(tmp_path, SESSION)
    assert [ev["seq"] for ev in events] == list(range(1, len(events) + 1))
    for ev in events:
        assert {"seq", "ts", "type", "cmd"} <= set(ev)
        assert type(ev["ts"]) is int and type(ev["cmd"]) is int
    assert [ev["cmd"] for ev in events] == sorted(ev["cmd"] for ev in events)
    assert {ev["cmd"] for ev in events} == set(range(1, len(SESSION) + 1))  # every command answered
    trades = [ev for ev in events if ev["type"] == "trade"]
    assert [(t["taker_account"], t["maker_account"], t["price"], t["qty"]) for t in trades] == [
        ("alice", "mm-1", "65000.1", "1"),
        ("bob", "mm-1", "65000.1", "1"),
    ]
    assert (trades[0]["taker_fee"], trades[0]["maker_fee"]) == ("0.260001", "0.065001")  # 4 bp / 1 bp, up
    assert not [ev for ev in events if ev["type"] == "command_rejected"]


MALFORMED = [
    pytest.param("{not json", "malformed_command", "not valid JSON", id="bad JSON"),
    pytest.param(
        json.dumps({"type": "deposit", "ts": T0 + 9, "account": "alice"}),
        "malformed_command",
        "amount",
        id="missing field",
    ),
    pytest.param(json.dumps({"type": "teleport", "ts": T0 + 9}), "unknown_command", "teleport", id="unknown type"),
    pytest.param(json.dumps({"ts": T0 + 9}), "malformed_command", "type", id="no type"),
    pytest.param("[1, 2]", "malformed_command", "object", id="not an object"),
    pytest.param(
        json.dumps({"type": "deposit", "ts": T0 + 9, "account": "alice", "amount": 10}),
        "malformed_command",
        "amount",
        id="number where a decimal string is due",
    ),
    pytest.param(
        json.dumps({"type": "tick", "ts": T0 + 9, "extra": True}), "malformed_command", "extra", id="unknown field"
    ),
]


@pytest.mark.parametrize(("bad_line", "reason", "named"), MALFORMED)
def test_a_malformed_line_becomes_a_rejection_naming_it_and_the_run_goes_on(
    tmp_path: Path, bad_line: str, reason: str, named: str
) -> None:
    after = [cmd("deposit", 10, account="alice", amount="3"), cmd("withdraw", 11, account="alice", amount="2")]
    lines = [*SESSION[:2], "", bad_line, *after]  # the bad command is on line 4 of the file; line 3 is blank
    events, _ = replay(tmp_path, lines)
    rejected = [ev for ev in events if ev["type"] == "command_rejected"]
    assert len(rejected) == 1
    (rejection,) = rejected
    assert rejection["reason"] == reason
    assert rejection["line"] == 4
    assert rejection["detail"].startswith("line 4: ")
    assert named in rejection["detail"]
    assert rejection["cmd"] == 3  # commands are numbered in the order applied; the blank line is not one
    later = events[events.index(rejection) + 1 :]
    assert [(ev["type"], ev["cmd"], ev["amount"]) for ev in later] == [("deposit", 4, "3"), ("withdrawal", 5, "2")]
    assert [ev["seq"] for ev in events] == list(range(1, len(events) + 1))


@pytest.mark.parametrize(
    "rejected",
    [
        pytest.param("{oops", id="malformed line"),
        pytest.param(cmd("withdraw", 9, account="alice", amount="1000000"), id="venue rejection"),
        pytest.param(cmd("deposit", 1, account="alice", amount="5"), id="stale timestamp"),
    ],
)
def test_a_rejected_command_changes_nothing_in_the_state(tmp_path: Path, rejected: str) -> None:
    """The state and its hash are as if the line were not there. (Order ids come from command
    numbers, which rejected commands also take, so the line goes last to keep later ids equal.)"""
    _, clean = replay(tmp_path, SESSION, name="clean")
    events, dirty = replay(tmp_path, [*SESSION, rejected], name="dirty")
    assert events[-1]["type"] == "command_rejected"
    assert events[-1]["cmd"] == len(SESSION) + 1
    assert dirty == clean


def test_a_venue_rejection_is_one_event_and_the_run_goes_on(tmp_path: Path) -> None:
    lines = [
        *SESSION[:2],
        cmd("withdraw", 3, account="alice", amount="1"),  # nothing deposited yet
        cmd("deposit", 4, account="alice", amount="5"),
    ]
    events, state = replay(tmp_path, lines)
    assert [(ev["type"], ev.get("reason"), ev["cmd"]) for ev in events[2:]] == [
        ("command_rejected", "insufficient_funds", 3),
        ("deposit", None, 4),
    ]
    assert state["accounts"]["alice"]["cash"] == "5"


def test_commands_can_come_from_stdin(tmp_path: Path) -> None:
    from_file = run("replay", write_lines(tmp_path / "s.jsonl", SESSION), cwd=tmp_path)
    from_stdin = run("replay", "-", cwd=tmp_path, stdin="".join(line + "\n" for line in SESSION).encode())
    assert from_stdin.returncode == from_file.returncode == 0
    assert from_stdin.stdout == from_file.stdout
    assert from_stdin.stdout.count(b"\n") > len(SESSION)


# ============================================================================ state document
def test_the_state_document_has_the_protocol_keys_and_its_books_balance(tmp_path: Path) -> None:
    _, state = replay(tmp_path, SESSION)
    # the protocol fixes these keys and allows more; the extras must be the documented ones
    assert set(state) >= STATE_KEYS
    assert set(state) - STATE_KEYS == {"loss_by_segment", "uncovered_loss", "defaulted_members"}
    assert re.fullmatch(r"[0-9a-f]{64}", state["state_hash"])
    assert state["ts"] == T0 + 8

    alice, bob, mm = (state["accounts"][a] for a in ("alice", "bob", "mm-1"))
    assert alice["cash"] == "9899.739999"  # 10,000 − 0.260001 taker fee − 100 withdrawn
    assert alice["positions"]["BTC-PERP"]["qty"] == "1"
    assert alice["positions"]["BTC-PERP"]["entry_price"] == "65000.1"
    assert bob["positions"]["BTC-PERP"]["margin_mode"] == "isolated"
    assert Decimal(bob["positions"]["BTC-PERP"]["isolated_margin"]) > 0
    assert mm["positions"]["BTC-PERP"]["qty"] == "-2"
    assert [o["client_order_id"] for o in mm["open_orders"]] == ["a1", "b1"]
    assert state["members"] == {"fcm-alpha": {"capital": "1000000", "default_fund": "100000"}}
    assert state["system"]["fee_income"] == "0.650004"  # two trades: 2 × (0.260001 + 0.065001)
    assert state["markets"]["BTC-PERP"]["open_interest"] == "2"

    check = {k: Decimal(v) for k, v in state["ledger_check"].items()}
    assert check["deposits"] == 115_000
    assert check["withdrawals"] == 100
    assert check["paid_in"] == 1_100_000 + 10_000_000  # the member's capital and fund, the DCO's capital
    assert check["sum_of_balances"] == check["deposits"] - check["withdrawals"] + check["paid_in"]
    held = (
        sum(Decimal(a["cash"]) for a in state["accounts"].values())
        + sum(
            Decimal(p.get("isolated_margin", "0")) for a in state["accounts"].values() for p in a["positions"].values()
        )
        + sum(Decimal(m["capital"]) + Decimal(m["default_fund"]) for m in state["members"].values())
        + sum(Decimal(v) for v in state["system"].values())
    )
    assert held == check["sum_of_balances"]
    for value in [*state["ledger_check"].values(), *state["system"].values(), *state["loss_attribution"].values()]:
        assert isinstance(value, str)


def test_two_runs_of_the_same_file_agree_byte_for_byte(tmp_path: Path) -> None:
    commands = write_lines(tmp_path / "s.jsonl", [*SESSION[:4], "{bad", *SESSION[4:]])
    first = run("replay", commands, "--state-out", tmp_path / "1.json", cwd=tmp_path, hash_seed="1")
    second = run("replay", commands, "--state-out", tmp_path / "2.json", cwd=tmp_path, hash_seed="4242")
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
    assert (tmp_path / "1.json").read_bytes() == (tmp_path / "2.json").read_bytes()
    one = json.loads((tmp_path / "1.json").read_text("utf-8"))
    assert one["state_hash"] == json.loads((tmp_path / "2.json").read_text("utf-8"))["state_hash"]


def test_a_different_session_has_a_different_state_hash(tmp_path: Path) -> None:
    _, state = replay(tmp_path, SESSION, name="a")
    _, other = replay(tmp_path, [*SESSION[:-1], cmd("withdraw", 8, account="alice", amount="101")], name="b")
    assert state["state_hash"] != other["state_hash"]


# ============================================================================ --config
def test_a_partial_config_is_merged_over_the_defaults(tmp_path: Path) -> None:
    partial = tmp_path / "partial.toml"
    partial.write_text('[clearing]\ninsurance_fund = "250000"\n\n[markets.BTC-PERP]\ntaker_fee = "0.001"\n', "utf-8")
    events, state = replay(tmp_path, SESSION, "--config", str(partial))
    assert state["system"]["insurance_fund"] == "250000"
    assert state["ledger_check"]["paid_in"] == "11350000"
    taker_fees = [ev["taker_fee"] for ev in events if ev["type"] == "trade"]
    assert taker_fees == ["0.650001", "0.650001"]  # 10 bp of 650.001, rounded up
    assert [ev["maker_fee"] for ev in events if ev["type"] == "trade"] == ["0.065001", "0.065001"]  # untouched
    assert state["markets"]["ETH-PERP"]["tick_size"] == "0.01"  # the rest of the defaults stay


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        pytest.param("[markets.BTC-PERP\ntick_size =\n", "not valid TOML", id="not TOML"),
        pytest.param('[clearing]\nloss_model = "bogus"\n', "clearing.loss_model", id="unknown choice"),
        pytest.param("[markets.BTC-PERP]\ntick_size = 0.1\n", "markets.BTC-PERP.tick_size", id="float, not string"),
        pytest.param('[segments.retail]\nmax_leverage = "0.5"\n', "segments.retail.max_leverage", id="below 1x"),
        pytest.param(
            '[markets.BTC-PERP]\ntick_size = "0.0000001"\n', "markets.BTC-PERP.tick_size", id="off the micro grid"
        ),
        pytest.param(
            '[[markets.BTC-PERP.margin_tiers]]\nmax_leverage = "10"\nmaintenance_rate = "0.2"\n',
            "markets.BTC-PERP.margin_tiers[0].maintenance_rate",
            id="maintenance above initial",
        ),
        pytest.param(
            '[markets.BTC-PERP.funding]\ninterval_ms = "3600000"\n',
            "markets.BTC-PERP.funding.interval_ms",
            id="string where an integer is due",
        ),
    ],
)
def test_an_invalid_config_exits_non_zero_naming_the_field(tmp_path: Path, toml: str, named: str) -> None:
    partial = tmp_path / "partial.toml"
    partial.write_text(toml, "utf-8")
    commands = write_lines(tmp_path / "s.jsonl", SESSION)
    state = tmp_path / "state.json"
    result = run("replay", commands, "--config", partial, "--state-out", state, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stdout == b""  # no event is printed under a configuration that was refused
    assert not state.exists()
    message = plain(result.stderr)
    assert "--config" in message
    assert named in message
    assert "Traceback" not in message


def test_a_missing_config_file_exits_non_zero_naming_it(tmp_path: Path) -> None:
    commands = write_lines(tmp_path / "s.jsonl", SESSION)
    result = run("replay", commands, "--config", tmp_path / "absent.toml", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stdout == b""
    assert "absent.toml" in plain(result.stderr)


def test_a_missing_command_file_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    result = run("replay", tmp_path / "absent.jsonl", cwd=tmp_path)
    assert result.returncode != 0
    assert "absent.jsonl" in plain(result.stderr)
    assert "Traceback" not in plain(result.stderr)


# ============================================================================ demo
def test_demo_runs_and_prints_a_balanced_ledger_check(tmp_path: Path) -> None:
    result = run("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    text = plain(result.stdout)
    found = re.search(
        r"Ledger: Σ balances (-?[\d.]+) = deposits ([\d.]+) − withdrawals ([\d.]+) \+ paid-in ([\d.]+)", text
    )
    assert found, text[-2_000:]
    total, deposits, withdrawals, paid_in = map(Decimal, found.groups())
    assert total == deposits - withdrawals + paid_in
    assert deposits > 0
    assert re.search(r"State hash: [0-9a-f]{64}", text)
    assert "Trades" in text and "Rejected commands" in text
