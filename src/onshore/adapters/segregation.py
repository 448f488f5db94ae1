"""``onshore segregation-report``: each clearing member's daily segregation computation, from a Venue.

    onshore segregation-report (--commands FILE | --journal PATH) [--config FILE]
        [--date YYYY-MM-DD | --daily] [--format json|csv] [--out FILE]

The figures are those of 17 CFR 1.32 as :mod:`onshore.broker.segregation` computes them
(docs/broker.md, "Segregation" and "Segregation report"). This module reads them off a
Venue, account by account:

- **customer cash**: the account's ledger cash plus the isolated margin it holds (both
  are the customer's money that the venue holds for the member);
- **equity**: cash plus the unrealized PnL of every position, cross-margined
  (:meth:`Venue.equity`) and isolated;
- **margin**: the initial margin of positions and open orders, cross-margined
  (:meth:`Venue.requirement`) and isolated, which is what the member owes the clearing
  house for that customer;
- **member capital**: the ledger balance ``member_capital`` of the member.

Every account a member carries counts as a customer account (market makers included):
the Venue keeps no house accounts. ``--commands`` replays a JSON Lines file in memory
(:func:`onshore.adapters.cli.replay_lines`, with ``--config`` merged over the built-in
configuration); ``--journal`` replays a journal from its first entry, with the
configuration it records, checking every entry's place in the hash chain (a broken chain
is an error: nothing is reported). The statement is taken after the last command
(default), after the last command dated on or before ``--date`` (UTC), or, with
``--daily``, after the last command of each UTC date that has commands.

Output: JSON Lines (one statement per member and date, members in id order) or CSV, to
standard output or ``--out``. Decimal values are strings, as everywhere in Onshore.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import typer

from onshore.broker.dates import days_from_civil, parse_iso_date, utc_date_of
from onshore.broker.segregation import CustomerFunds, MemberFunds, SegregationStatement, segregation_statement
from onshore.clearing.accounts import CROSS
from onshore.clearing.ledger import ISOLATED, MEMBER_CAPITAL
from onshore.config.load import ConfigError, load_config
from onshore.venue import Venue

DAY_MS: Final = 86_400_000
FORMATS: Final = ("json", "csv")
COLUMNS: Final = (
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
)
"""The report's fields, in order: the statement of :meth:`SegregationStatement.to_report` with its date."""


# ------------------------------------------------------------------------------- from a Venue
def customer_funds(venue: Venue, account_id: str) -> CustomerFunds:
    """The segregation inputs of one account: cash (isolated margin included), equity and margin, exactly.

    Runtime complexity: O(markets the account holds).
    """
    account = venue.accounts[account_id]
    cash = venue.ledger.cash(account_id)
    equity = venue.equity(account)
    margin = venue.requirement(account)
    for name, h in account.holdings.items():
        if h.mode == CROSS:
            continue
        market = venue.markets[name]
        mark = market.mark or 0
        held = venue.ledger.balance(ISOLATED, f"{account_id}/{name}")
        cash += held
        equity += held + (h.qty * mark * market.k - h.cost if h.qty else 0)
        if h.qty or h.buy_lots or h.sell_lots:
            # the whole requirement of the isolated position and its orders, in place of the
            # part of it (its orders' new margin) that ``requirement`` already counted
            args = (h.leverage, h.qty, mark, h.buy_lots, h.buy_notional, h.sell_lots, h.sell_notional)
            margin += market.tiers.requirement(*args) - market.tiers.isolated_orders(*args)
    return CustomerFunds(account=account_id, cash_micros=cash, equity_micros=equity, margin_micros=margin)


def member_funds(venue: Venue) -> list[MemberFunds]:
    """Every member's inputs, in member-id order (deficits not netted: :meth:`MemberFunds.from_accounts`).

    Runtime complexity: O(accounts × markets held).
    """
    return [
        MemberFunds.from_accounts(
            member_id,
            [customer_funds(venue, account_id) for account_id in sorted(venue.members[member_id].accounts)],
            venue.ledger.balance(MEMBER_CAPITAL, member_id),
        )
        for member_id in sorted(venue.members)
    ]


def statements(venue: Venue) -> list[SegregationStatement]:
    """Every member's segregation statement now, in member-id order."""
    return [segregation_statement(funds) for funds in member_funds(venue)]


def report_rows(venue: Venue, day: int | None = None) -> list[dict[str, Any]]:
    """The statements as report rows: date (UTC day ``day``, else the venue's), venue time, accounts, figures."""
    date = utc_date_of(venue.ts if day is None else day * DAY_MS).isoformat()
    rows = []
    for statement in statements(venue):
        row: dict[str, Any] = {
            "date": date,
            "ts": venue.ts,
            "member": statement.member,
            "accounts": len(venue.members[statement.member].accounts),
        }
        row.update(statement.to_report())
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------- replays
def day_of_date(date: str) -> int:
    """The day number (days since 1970-01-01, UTC) of a ``YYYY-MM-DD`` date; ``ValueError`` if it is not one."""
    return days_from_civil(parse_iso_date(date))


def _line_ts(line: str | bytes) -> int | None:
    """The ``ts`` of a command line, if it has an integer one (a malformed line has none)."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    ts = value.get("ts") if isinstance(value, dict) else None
    return ts if type(ts) is int else None


class _Days:
    """Cut a stream of commands at UTC day boundaries and take the statements there.

    :meth:`before` runs before each command: at the first command of a later date it takes
    the statements of the date before (``daily``), and past ``last_day`` it stops the stream.
    :meth:`finish` takes the last ones. A command without a ``ts`` (a malformed line) or with
    an older one (a stale command) belongs to the date being read.
    """

    def __init__(self, venue: Venue, last_day: int | None, daily: bool) -> None:
        self.venue = venue
        self.last_day = last_day
        self.daily = daily
        self.day: int | None = None
        self.rows: list[dict[str, Any]] = []
        self.done = False

    def before(self, ts: int | None) -> bool:
        """Called before each command; False when the stream must stop (past ``--date``)."""
        if ts is None:
            return True
        day = ts // DAY_MS
        if self.last_day is not None and day > self.last_day:
            self.done = True
            return False
        if self.daily and self.day is not None and day > self.day:
            self.rows.extend(report_rows(self.venue, self.day))
        if self.day is None or day > self.day:
            self.day = day
        return True

    def finish(self) -> list[dict[str, Any]]:
        """Add the last statement: as of ``--date``, else as of the last day read."""
        self.rows.extend(report_rows(self.venue, self.last_day if self.last_day is not None else self.day))
        return self.rows


def rows_from_lines(
    lines: Iterable[str | bytes], config_text: str | None = None, *, date: str | None = None, daily: bool = False
) -> list[dict[str, Any]]:
    """Replay command lines in memory and return the report rows (see the module docstring).

    Raises ``ValueError`` for a bad ``date`` and :class:`~onshore.config.load.ConfigError`.
    """
    from onshore.adapters.cli import replay_lines

    venue = Venue(load_config(config_text))
    days = _Days(venue, day_of_date(date) if date is not None else None, daily)

    def until_cut() -> Iterator[str | bytes]:
        for line in lines:
            if not days.before(_line_ts(line)):
                return
            yield line

    for _ in replay_lines(venue, until_cut()):
        pass
    return days.finish()


def rows_from_journal(path: Path, *, date: str | None = None, daily: bool = False) -> list[dict[str, Any]]:
    """Replay a journal from its first entry (checking the hash chain) and return the report rows.

    Raises :class:`~onshore.journal.JournalError` if the journal cannot be read or its chain
    breaks before the point where reading stopped, ``ValueError`` for a bad ``date``.
    """
    from onshore.journal import ChainCheck, JournalError, open_journal
    from onshore.journal.format import UnparsedLine, decode_entry
    from onshore.journal.recovery import apply_entry, read_header

    last_day = day_of_date(date) if date is not None else None
    journal = open_journal(str(path), readonly=True)
    try:
        config, _config_json, genesis = read_header(journal)
        venue = Venue(config)
        days = _Days(venue, last_day, daily)
        check = ChainCheck(genesis)
        for _seq, _key, entry, _prev, _hash in check.entries(journal.scan()):
            _, _, command, _events = decode_entry(entry)
            if not days.before(None if isinstance(command, UnparsedLine) else command.ts):
                break
            apply_entry(venue, command)
        if not days.done and not check.ok:
            raise JournalError(f"the journal's chain breaks at entry {check.first_bad}: {check.problem}")
    finally:
        journal.close()
    return days.finish()


# ------------------------------------------------------------------------------- output
def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV with a header line (booleans as ``true``/``false``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_text(row[column]) for column in COLUMNS])
    return buffer.getvalue()


def to_json_lines(rows: list[dict[str, Any]]) -> str:
    """The rows as JSON Lines, fields in :data:`COLUMNS` order."""
    return "".join(json.dumps({column: row[column] for column in COLUMNS}) + "\n" for row in rows)


RENDER: Final[dict[str, Callable[[list[dict[str, Any]]], str]]] = {"json": to_json_lines, "csv": to_csv}


# ------------------------------------------------------------------------------- the command
def run_report(
    commands: Path | None,
    journal: Path | None,
    config: Path | None,
    date: str | None,
    daily: bool,
    fmt: str,
    out: Path | None,
) -> None:
    """The ``segregation-report`` command: check the options, compute, write.

    Usage errors raise :class:`typer.BadParameter`; an unreadable or broken journal
    exits with status 2 after saying why on standard error.
    """
    from onshore.journal import JournalError

    if (commands is None) == (journal is None):
        raise typer.BadParameter("give exactly one of --commands and --journal")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}", param_hint="--format")
    if date is not None and daily:
        raise typer.BadParameter("--date and --daily exclude each other")
    if date is not None:
        try:
            day_of_date(date)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--date") from exc
    if journal is not None:
        if config is not None:
            raise typer.BadParameter("a journal carries its own configuration", param_hint="--config")
        try:
            rows = rows_from_journal(journal, date=date, daily=daily)
        except JournalError as exc:
            print(f"onshore segregation-report: {exc}", file=sys.stderr)
            raise typer.Exit(2) from exc
    else:
        assert commands is not None
        rows = _rows_from_file(commands, config, date, daily)
    text = RENDER[fmt](rows)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        out.write_text(text, "utf-8")


def _rows_from_file(commands: Path, config: Path | None, date: str | None, daily: bool) -> list[dict[str, Any]]:
    if str(commands) != "-" and not commands.is_file():
        raise typer.BadParameter(f"no such command file: {commands}", param_hint="--commands")
    try:
        config_text = config.read_text("utf-8") if config is not None else None
        load_config(config_text)
    except (OSError, ConfigError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from exc
    stream = sys.stdin.buffer if str(commands) == "-" else commands.open("rb")
    with stream:
        return rows_from_lines(stream, config_text, date=date, daily=daily)
