"""``onshore report segregation`` on a small scenario whose figures are worked out by hand below.

Day 1, 2026-01-01 (``T0``). Two members: ``fcm-a`` (capital $200,000) carries the market
maker ``mm`` ($2,000,000), ``alice`` (retail, $10,000) and ``carol`` (institutional,
$1,000); ``fcm-b`` (capital $1,000) carries ``erin`` (institutional, $1,000) and ``frank``
(retail, $3,000, no position). ``mm`` quotes 200 lots at 64,990 / 65,010 around an index
of 65,000. ``alice`` buys 10 lots, ``carol`` and ``erin`` 40 lots each, all at 65,010
(taker fee 4 bp, maker fee 1 bp). The mark stays at 65,000: median of index 65,000,
impact mid 65,000 and last trade 65,010.

Day 2, 01:00. BTC-PERP is halted (no liquidation in a halted market) and the index falls
to 60,000. The impact mid (65,000) is clamped to index + 1 % = 60,600, and the mark is
the median of 60,000, 60,600 and 65,010: **60,600**, down 4,410 from the entry price.

Per account on day 2 (0.01 BTC a lot; initial margin at the account's leverage, 50× for
``mm``, ``carol``, ``erin`` and 10× for ``alice``). ``mm``'s worst case is all 110 of its
remaining asks filling: 200 lots short at the mark, 200 × 606 = 121,200, plus what the asks
get above it, 110 × (650.1 − 606) = 4,851: 126,051, at 50× 2,521.02 (its bids filling
instead would leave it long 110, less). On day 1, at the 65,000 mark: 200 × 650 + 110 × 0.1
= 130,011, at 50× 2,600.22.

============  ==============  ==========  ==============  ========
account       cash            uPnL        equity          margin
============  ==============  ==========  ==============  ========
mm            1,999,994.1491  +3,969      2,003,963.1491  2,521.02
alice         9,997.3996      −441        9,556.3996      606
carol         989.5984        −1,764      −774.4016       484.8
erin          989.5984        −1,764      −774.4016       484.8
frank         3,000           0           3,000           0
============  ==============  ==========  ==============  ========

``mm`` paid maker fees of 0.6501 + 2 × 2.6004; ``alice`` paid 6,501 × 0.0004 =
2.6004, ``carol`` and ``erin`` 26,004 × 0.0004 = 10.4016 each.

``fcm-a``: funds 2,010,981.1471 + 1,764 = 2,012,745.1471; requirement (positive
equities only) 2,003,963.1491 + 9,556.3996 = 2,013,519.5487; **excess −774.4016**
(carol's deficit, not netted); clearing-house margin 2,521.02 + 606 + 484.8 = 3,611.82
(day 1: 2,600.22 + 650 + 520 = 3,770.22); carol's margin uncovered
by her equity 484.8; residual interest 774.4016 + 484.8 = **1,259.2016**; capital after
cover 198,740.7984.

``fcm-b``: funds 3,989.5984 − 1,764 = 2,225.5984; requirement 3,000 (frank's); excess
**−774.4016** (netting erin's deficit against frank would have shown 0); margin 484.8,
all of it uncovered; residual 1,259.2016 against capital 1,000: **−259.2016**, the member
cannot cover its customers.

On day 1 every account is above water and margined: excess 0, nothing uncovered.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from onshore.adapters.cli import app, replay_lines
from onshore.adapters.segregation import customer_funds, report_rows, rows_from_journal, rows_from_lines
from onshore.config.load import load_config
from onshore.venue import Venue

from .driver import DAY, HOUR, SOURCES, T0, usd

DAY2 = T0 + DAY + HOUR


def _commands() -> list[dict[str, Any]]:
    def cmd(kind: str, ts: int = T0, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "ts": ts, **fields}

    def buy(account: str, qty: int) -> dict[str, Any]:
        return cmd("place_order", account=account, market="BTC-PERP", client_order_id=f"{account}-1", side="buy",
                   qty=str(qty), price="65010")  # fmt: skip

    out = [
        cmd("register_member", member="fcm-a", capital="200000", default_fund="50000"),
        cmd("register_member", member="fcm-b", capital="1000", default_fund="1000"),
    ]
    cast = [("mm", "fcm-a", "market_maker", "2000000"), ("alice", "fcm-a", "retail", "10000"),
            ("carol", "fcm-a", "institutional", "1000"), ("erin", "fcm-b", "institutional", "1000"),
            ("frank", "fcm-b", "retail", "3000")]  # fmt: skip
    for account, member, segment, amount in cast:
        out.append(cmd("open_account", account=account, member=member, segment=segment))
        out.append(cmd("deposit", account=account, amount=amount))
    for side, price in (("buy", "64990"), ("sell", "65010")):
        out.append(cmd("place_order", account="mm", market="BTC-PERP", client_order_id=f"mm-{side}", side=side,
                       qty="200", price=price, post_only=True))  # fmt: skip
    quotes = [{"source": s, "price": "65000", "ts": T0} for s in SOURCES]
    out.append(cmd("index_update", index="BTC-USD", quotes=quotes))
    out += [buy("alice", 10), buy("carol", 40), buy("erin", 40)]
    out.append(cmd("set_market_state", DAY2, market="BTC-PERP", state="halted"))
    quotes = [{"source": s, "price": "60000", "ts": DAY2} for s in SOURCES]
    out.append(cmd("index_update", DAY2, index="BTC-USD", quotes=quotes))
    return out


LINES = [json.dumps(command) for command in _commands()]

DAY1 = {
    "fcm-a": {
        "accounts": 3,
        "funds_in_segregation": "2010985.1471",
        "requirement": "2010985.1471",
        "excess": "0",
        "clearing_house_margin": "3770.22",
        "uncovered_margin": "0",
        "residual_interest_required": "0",
        "member_capital": "200000",
        "capital_after_cover": "200000",
        "deficient": False,
        "member_short": False,
    },
    "fcm-b": {
        "accounts": 2,
        "funds_in_segregation": "3985.5984",
        "requirement": "3985.5984",
        "excess": "0",
        "clearing_house_margin": "520",
        "uncovered_margin": "0",
        "residual_interest_required": "0",
        "member_capital": "1000",
        "capital_after_cover": "1000",
        "deficient": False,
        "member_short": False,
    },
}
DAY2_FIGURES = {
    "fcm-a": {
        "accounts": 3,
        "funds_in_segregation": "2012745.1471",
        "requirement": "2013519.5487",
        "excess": "-774.4016",
        "clearing_house_margin": "3611.82",
        "uncovered_margin": "484.8",
        "residual_interest_required": "1259.2016",
        "member_capital": "200000",
        "capital_after_cover": "198740.7984",
        "deficient": True,
        "member_short": False,
    },
    "fcm-b": {
        "accounts": 2,
        "funds_in_segregation": "2225.5984",
        "requirement": "3000",
        "excess": "-774.4016",
        "clearing_house_margin": "484.8",
        "uncovered_margin": "484.8",
        "residual_interest_required": "1259.2016",
        "member_capital": "1000",
        "capital_after_cover": "-259.2016",
        "deficient": True,
        "member_short": True,
    },
}


def _figures(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["member"]: {k: v for k, v in row.items() if k not in ("member", "date", "ts")} for row in rows}


def test_each_account_s_funds_match_the_table() -> None:
    venue = Venue(load_config(None))
    for _ in replay_lines(venue, LINES):
        pass
    assert venue.markets["BTC-PERP"].mark == 606_000
    table = {
        "mm": ("1999994.1491", "2003963.1491", "2521.02"),
        "alice": ("9997.3996", "9556.3996", "606"),
        "carol": ("989.5984", "-774.4016", "484.8"),
        "erin": ("989.5984", "-774.4016", "484.8"),
        "frank": ("3000", "3000", "0"),
    }
    for account, (cash, equity, margin) in table.items():
        funds = customer_funds(venue, account)
        assert (funds.cash_micros, funds.equity_micros, funds.margin_micros) == (usd(cash), usd(equity), usd(margin))
        assert venue.state_document()["accounts"][account]["equity"] == equity
    assert not any(h.qty == 0 for h in venue.accounts["carol"].holdings.values()), "halted: no liquidation"


def test_the_statements_at_the_end_match_the_hand_figures() -> None:
    rows = rows_from_lines(LINES)
    assert [(row["member"], row["date"], row["ts"]) for row in rows] == [
        ("fcm-a", "2026-01-02", DAY2),
        ("fcm-b", "2026-01-02", DAY2),
    ]
    assert _figures(rows) == DAY2_FIGURES


def test_daily_gives_the_close_of_each_date() -> None:
    rows = rows_from_lines(LINES, daily=True)
    assert [(row["date"], row["member"]) for row in rows] == [
        ("2026-01-01", "fcm-a"),
        ("2026-01-01", "fcm-b"),
        ("2026-01-02", "fcm-a"),
        ("2026-01-02", "fcm-b"),
    ]
    assert _figures(rows[:2]) == DAY1
    assert _figures(rows[2:]) == DAY2_FIGURES
    assert _figures(rows_from_lines(LINES, date="2026-01-01")) == DAY1
    late = rows_from_lines(LINES, date="2026-03-01")  # after the last command: the same state, that date
    assert {row["date"] for row in late} == {"2026-03-01"} and _figures(late) == DAY2_FIGURES


def test_deficits_are_not_netted_within_a_member() -> None:
    """Netting erin's −774.4016 against frank's 3,000 would show fcm-b with no deficit at all."""
    (row,) = [row for row in rows_from_lines(LINES) if row["member"] == "fcm-b"]
    netted = usd("-774.4016") + usd("3000")
    assert usd(row["funds_in_segregation"]) == netted
    assert usd(row["requirement"]) == usd("3000") and usd(row["excess"]) < 0


# ------------------------------------------------------------------------------- the command
@pytest.fixture
def commands_file(tmp_path: Path) -> Path:
    path = tmp_path / "crash.jsonl"
    path.write_text("\n".join(LINES) + "\n", "utf-8")
    return path


def test_the_command_prints_json_lines(commands_file: Path) -> None:
    result = CliRunner().invoke(app, ["report", "segregation", "--commands", str(commands_file)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert _figures(rows) == DAY2_FIGURES
    assert list(rows[0]) == [
        "date",
        "ts",
        "member",
        "accounts",
        "funds_in_segregation",
        "requirement",
        "excess",
        "clearing_house_margin",
        "uncovered_margin",
        "residual_interest_required",
        "member_capital",
        "capital_after_cover",
        "deficient",
        "member_short",
    ]


def test_the_command_writes_csv(commands_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "seg.csv"
    args = ["report", "segregation", "--commands", str(commands_file), "--format", "csv", "--daily", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8"))))
    assert [(r["date"], r["member"], r["excess"], r["member_short"]) for r in rows] == [
        ("2026-01-01", "fcm-a", "0", "false"),
        ("2026-01-01", "fcm-b", "0", "false"),
        ("2026-01-02", "fcm-a", "-774.4016", "false"),
        ("2026-01-02", "fcm-b", "-774.4016", "true"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --commands and --journal"),
        (["--format", "xml"], "use one of json, csv"),
        (["--date", "2026-02-30"], "not a day of the calendar"),
        (["--date", "2026-01-01", "--daily"], "exclude each other"),
    ],
)
def test_usage_errors_say_what_to_do(commands_file: Path, args: list[str], message: str) -> None:
    base = ["report", "segregation"] + (["--commands", str(commands_file)] if args else [])
    result = CliRunner().invoke(app, base + args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split()).replace("│", "").replace("  ", " ")


def test_a_journal_gives_the_same_figures(commands_file: Path, tmp_path: Path) -> None:
    from onshore.adapters.durable import run_journal

    db = tmp_path / "journal.db"
    run_journal(db, commands_file, writer="inline", ack_fd=None, snapshot_every=0, log=lambda _: None)
    assert rows_from_journal(db) == rows_from_lines(LINES)
    assert rows_from_journal(db, daily=True) == rows_from_lines(LINES, daily=True)
    result = CliRunner().invoke(app, ["report", "segregation", "--journal", str(db), "--date", "2026-01-01"])
    assert result.exit_code == 0, result.output
    assert _figures([json.loads(line) for line in result.stdout.splitlines()]) == DAY1
    result = CliRunner().invoke(app, ["report", "segregation", "--journal", str(tmp_path / "missing.db")])
    assert result.exit_code == 2


def test_a_venue_with_isolated_margin_counts_it_as_customer_cash() -> None:
    """Zed holds 10 lots isolated at 10×: $650.1 moved from his cash to the position's isolated margin.

    Customer funds are unchanged by the move (cash 9,347.2996 + isolated 650.1 = 9,997.3996
    after the 2.6004 fee), and his margin requirement at the mark of 65,000 is $650.
    """
    lines = [
        *LINES[:15],
        json.dumps({"type": "open_account", "ts": T0, "account": "zed", "member": "fcm-b", "segment": "retail"}),
        json.dumps({"type": "deposit", "ts": T0, "account": "zed", "amount": "10000"}),
        json.dumps({"type": "set_margin_mode", "ts": T0, "account": "zed", "market": "BTC-PERP", "mode": "isolated"}),
        json.dumps({"type": "place_order", "ts": T0, "account": "zed", "market": "BTC-PERP", "client_order_id": "z",
                    "side": "buy", "qty": "10", "price": "65010"}),
    ]  # fmt: skip
    venue = Venue(load_config(None))
    for _ in replay_lines(venue, lines):
        pass
    assert venue.ledger.cash("zed") == usd("9347.2996")
    funds = customer_funds(venue, "zed")
    assert (funds.cash_micros, funds.equity_micros, funds.margin_micros) == (
        usd("9997.3996"),
        usd("9996.3996"),
        usd("650"),
    )
    (row,) = [row for row in report_rows(venue) if row["member"] == "fcm-b"]
    assert (row["funds_in_segregation"], row["requirement"], row["excess"]) == ("13996.3996", "13996.3996", "0")
