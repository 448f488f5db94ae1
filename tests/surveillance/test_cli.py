"""``onshore report``: from a command file and from a journal, in every format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onshore.adapters.cli import app
from onshore.surveillance.tables import read_parquet

from . import scenario

runner = CliRunner()


@pytest.fixture(scope="module")
def commands_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "session.jsonl"
    path.write_text("\n".join(scenario.lines()) + "\n", "utf-8")
    return path


@pytest.fixture(scope="module")
def journal_file(commands_file: Path) -> Path:
    path = commands_file.parent / "journal.db"
    result = runner.invoke(app, ["run", str(commands_file), "--journal", str(path)])
    assert result.exit_code == 0, result.output
    return path


def _report(*args: str) -> str:
    result = runner.invoke(app, ["report", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_large_traders_csv_from_commands(commands_file: Path) -> None:
    text = _report("large-traders", "--commands", str(commands_file), "--date", "2026-01-01")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["owner"], r["reporting_member"], r["long_oi"], r["short_oi"]) for r in rows] == [
        ("alpha", "fcm-a", "30", "0"),
        ("alpha", "fcm-b", "10", "0"),
        ("b1", "fcm-b", "0", "25"),
        ("maker", "fcm-a", "0", "30"),
    ]
    assert text.splitlines()[0].startswith("date,market,owner,reporting_member,accounts,long_oi,short_oi,volume")


@pytest.mark.parametrize("report", ["large-traders", "market", "positions", "alerts", "owners"])
def test_journal_and_commands_give_the_same_report(commands_file: Path, journal_file: Path, report: str) -> None:
    from_journal = [
        json.loads(x) for x in _report(report, "--journal", str(journal_file), "--format", "json").splitlines()
    ]
    from_commands = [
        json.loads(x) for x in _report(report, "--commands", str(commands_file), "--format", "json").splitlines()
    ]
    for row in from_journal + from_commands:
        row.pop("balances_source", None)  # the journal's balances come from flows, the replay's from the state
    assert from_journal == from_commands
    if report != "alerts":
        assert from_journal


def test_parquet_round_trip(journal_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "market.parquet"
    _report("market", "--journal", str(journal_file), "--format", "parquet", "--out", str(out))
    rows = read_parquet(out)
    as_json = [
        json.loads(x) for x in _report("market", "--journal", str(journal_file), "--format", "json").splitlines()
    ]
    assert rows == as_json
    again = tmp_path / "again.parquet"
    _report("market", "--journal", str(journal_file), "--format", "parquet", "--out", str(again))
    assert out.read_bytes() == again.read_bytes()  # deterministic


def test_alerts_parquet_keeps_evidence_and_figures(commands_file: Path, tmp_path: Path) -> None:
    config = tmp_path / "tight.toml"
    config.write_text("[surveillance]\naccountability_level = 30\n", "utf-8")
    out = tmp_path / "alerts.parquet"
    _report(
        "alerts", "--commands", str(commands_file), "--config", str(config), "--format", "parquet", "--out", str(out)
    )
    rows = read_parquet(out)
    # maker passes 30 short on day 1, falls back to 15, passes again on day 2 (re-armed below the level)
    assert [(r["date"], r["owner"]) for r in rows] == [
        ("2026-01-01", "alpha"),
        ("2026-01-01", "maker"),
        ("2026-01-02", "maker"),
    ]
    assert {r["kind"] for r in rows} == {"accountability_level"}
    assert rows[0]["evidence"] == [{"first": rows[0]["evidence"][0]["first"], "last": rows[0]["evidence"][0]["first"]}]
    assert {f["key"]: f["value"] for f in rows[0]["figures"]}["level"] == "30"
    text = _report("alerts", "--commands", str(commands_file), "--config", str(config))
    first = next(csv.DictReader(io.StringIO(text)))
    assert json.loads(first["figures"])["qty"] == "40" and first["evidence"].isdigit()


def test_out_file_and_date_filter(journal_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "positions.csv"
    _report("positions", "--journal", str(journal_file), "--date", "2026-01-02", "--out", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8"))))
    assert {r["date"] for r in rows} == {"2026-01-02"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --journal"),
        (["--journal", "x.db", "--commands", "y.jsonl"], "exactly one of --journal"),
        (["--commands", "nope.jsonl"], "no such command file"),
        (["--commands", "{cmds}", "--format", "xml"], "use one of"),
        (["--commands", "{cmds}", "--format", "parquet"], "give --out"),
        (["--commands", "{cmds}", "--date", "01/02/2026"], "not a date"),
    ],
)
def test_usage_errors(commands_file: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["report", "market", *[a.replace("{cmds}", str(commands_file)) for a in args]])
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_surveillance_key_is_a_usage_error(commands_file: Path, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[surveillance]\nwash_trades = 3\n", "utf-8")
    result = runner.invoke(app, ["report", "alerts", "--commands", str(commands_file), "--config", str(config)])
    assert result.exit_code == 2
    assert "surveillance.wash_trades: unknown key" in result.output


def test_a_missing_journal_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "market", "--journal", str(tmp_path / "none.db")])
    assert result.exit_code == 2
    assert "no journal" in result.output


def test_a_tampered_journal_is_refused(journal_file: Path, tmp_path: Path) -> None:
    import shutil
    import sqlite3

    copy = tmp_path / "tampered.db"
    shutil.copy(journal_file, copy)
    con = sqlite3.connect(copy)
    (entry,) = con.execute("SELECT entry FROM entries WHERE seq = 25").fetchone()
    con.execute("UPDATE entries SET entry = ? WHERE seq = 25", (bytes(entry).replace(b'"qty":"20"', b'"qty":"21"', 1),))
    con.commit()
    con.close()
    result = runner.invoke(app, ["report", "large-traders", "--journal", str(copy)])
    assert result.exit_code == 2
    assert "chain breaks at entry 25" in result.output
    assert "alpha" not in result.stdout
