"""The audit commands: verify reaches ``onshore replay``'s state hash; an order's and an account's
lifecycle come back from the journal; the export holds every command and event."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import build, cli, last_json_line, onshore, rows, stream, tamper, write_lines

T0 = 1_767_225_600_000


def cmd(kind: str, ts: int, **fields: Any) -> str:
    return json.dumps({"type": kind, "ts": T0 + ts, **fields})


def place(ts: int, account: str, client_order_id: str, side: str, price: str, qty: str, **fields: Any) -> str:
    return cmd(
        "place_order", ts, account=account, market="BTC-PERP", client_order_id=client_order_id, side=side,
        price=price, qty=qty, **fields,
    )  # fmt: skip


def quotes(price: str) -> list[dict[str, Any]]:
    return [{"source": s, "price": price, "ts": T0} for s in ("coinbase", "kraken", "bitstamp", "gemini")]


# seq: what happens to the maker's resting ask (order id 7, the command number of its placement)
SCENARIO = [
    cmd("register_member", 0, member="fcm-1", capital="1000000", default_fund="100000"),  # 1
    cmd("open_account", 0, account="maker", member="fcm-1", segment="market_maker"),  # 2
    cmd("open_account", 0, account="taker", member="fcm-1", segment="qualified"),  # 3
    cmd("deposit", 1, account="maker", amount="500000"),  # 4
    cmd("deposit", 1, account="taker", amount="100000"),  # 5
    cmd("index_update", 2, index="BTC-USD", quotes=quotes("65000.00")),  # 6
    place(3, "maker", "ask-1", "sell", "65010.0", "10"),  # 7
    place(3, "maker", "bid-1", "buy", "64990.0", "10"),  # 8
    cmd("amend_order", 4, account="maker", market="BTC-PERP", client_order_id="ask-1", qty="8"),  # 9: keeps priority
    place(5, "taker", "t-1", "buy", "65010.0", "3", time_in_force="ioc"),  # 10
    cmd("withdraw", 6, account="taker", amount="1000"),  # 11
    place(7, "taker", "t-2", "buy", "65020.0", "2", time_in_force="ioc"),  # 12
    cmd("cancel_order", 8, account="maker", market="BTC-PERP", client_order_id="ask-1"),  # 13
    cmd("cancel_order", 9, account="maker", market="BTC-PERP", order_id=7),  # 14: already cancelled
]  # fmt: skip


@pytest.fixture(scope="module")
def scenario_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("scenario")
    db = tmp_path / "journal.db"
    done = cli("run", "--journal", db, write_lines(tmp_path / "scenario.jsonl", SCENARIO))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["status"] for line in done.stdout.splitlines()] == ["accepted"] * 13 + ["rejected"]
    return db


def records(done: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_verify_ends_with_the_state_hash_that_onshore_replay_writes(tmp_path: Path) -> None:
    config = write_lines(tmp_path / "fees.toml", ["[markets.BTC-PERP]", 'taker_fee = "0.0005"'])
    commands = write_lines(tmp_path / "commands.jsonl", stream(1500))
    db = tmp_path / "journal.db"
    run = cli("run", "--journal", db, commands, "--config", config, "--snapshot-every", "500", "--batch", "100")
    assert run.returncode == 0, run.stderr
    verify = onshore("audit", "verify", "--journal", db)
    assert verify.returncode == 0, verify.stderr
    state = tmp_path / "state.json"
    assert onshore("replay", commands, "--config", config, "--state-out", state).returncode == 0
    expected = {"seq": len(run.stdout.splitlines()), "state_hash": json.loads(state.read_text())["state_hash"]}
    assert last_json_line(verify.stdout) == expected
    assert "3 snapshots checked" in verify.stderr


def test_an_orders_lifecycle_entry_amendment_fills_and_cancellation(scenario_journal: Path) -> None:
    done = onshore("audit", "order", "7", "--journal", scenario_journal)
    assert done.returncode == 0, done.stderr
    *steps, summary = records(done)
    assert [s["cmd"] for s in steps] == [7, 9, 10, 12, 13, 14]
    kinds = [[ev["type"] for ev in s["events"]] for s in steps]
    assert kinds == [
        ["order_accepted"],
        ["order_amended"],
        ["trade"],
        ["trade"],
        ["order_cancelled"],
        ["command_rejected"],
    ]
    assert [ev["maker_order_id"] for s in steps[2:4] for ev in s["events"]] == [7, 7]
    assert summary == {
        "summary": "order", "order_id": 7, "account": "maker", "client_order_id": "ask-1", "market": "BTC-PERP",
        "side": "sell", "price": "65010", "qty": "10", "entered_cmd": 7, "entered_ts": T0 + 3,
        "cancelled": {"cmd": 13, "ts": T0 + 8, "reason": "user"}, "fills": 2, "filled_qty": "5",
        "amendments": 1, "found": True,
    }  # fmt: skip
    by_client_id = onshore("audit", "order", "ask-1", "--account", "maker", "--journal", scenario_journal)
    assert records(by_client_id) == records(done)


def test_an_unknown_order_is_an_error(scenario_journal: Path) -> None:
    done = onshore("audit", "order", "999", "--journal", scenario_journal)
    assert done.returncode == 1
    assert "no order 999" in done.stderr


def test_an_accounts_history_deposits_withdrawals_orders_trades(scenario_journal: Path) -> None:
    done = onshore("audit", "account", "taker", "--journal", scenario_journal)
    assert done.returncode == 0, done.stderr
    *steps, summary = records(done)
    assert [s["cmd"] for s in steps] == [3, 5, 10, 11, 12]
    assert summary == {
        "summary": "account", "account": "taker", "entries": 5, "deposits": "100000", "withdrawals": "1000",
        "orders_accepted": 2, "trades": 2, "commands_rejected": 0,
    }  # fmt: skip
    maker = records(onshore("audit", "account", "maker", "--journal", scenario_journal))
    assert [s["cmd"] for s in maker[:-1]] == [2, 4, 7, 8, 9, 10, 12, 13, 14]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_export_holds_every_command_and_event(tmp_path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    commands = write_lines(tmp_path / "commands.jsonl", stream(800))
    db = tmp_path / "journal.db"
    build(db, commands)
    out = tmp_path / "export"
    done = onshore("audit", "export", "--journal", db, "--format", fmt, "--out", out)
    assert done.returncode == 0, done.stderr
    journal_rows = rows(db)
    n_events = sum(len(json.loads(bytes(r[2]))[3]) for r in journal_rows)
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["commands"], manifest["events"], manifest["chain_intact"]) == (len(journal_rows), n_events, True)
    assert manifest["last_hash"] == journal_rows[-1][4].hex()
    if fmt == "csv":
        with (out / "commands.csv").open(newline="") as f:
            commands_table = list(csv.DictReader(f))
        with (out / "events.csv").open(newline="") as f:
            events_table = list(csv.DictReader(f))
        hashes = [r["hash"] for r in commands_table]
    else:
        import pyarrow.parquet as pq

        commands_table = pq.read_table(out / "commands.parquet").to_pylist()
        events_table = pq.read_table(out / "events.parquet").to_pylist()
        hashes = [r["hash"] for r in commands_table]
    assert len(commands_table) == len(journal_rows) and len(events_table) == n_events
    assert hashes == [r[4].hex() for r in journal_rows]
    assert {r["type"] for r in events_table} >= {"order_accepted", "trade", "order_cancelled", "command_rejected"}


def test_the_export_of_a_broken_journal_stops_at_the_break_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    build(db, write_lines(tmp_path / "c.jsonl", stream(300)))
    tamper(db, "DELETE FROM entries WHERE seq = 100")
    out = tmp_path / "export"
    done = onshore("audit", "export", "--journal", db, "--format", "csv", "--out", out)
    assert done.returncode == 1
    assert "breaks at entry 100" in done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["chain_intact"], manifest["first_bad_seq"], manifest["commands"]) == (False, 100, 99)
