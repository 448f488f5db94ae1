"""The ``onshore`` command line: replay command files, and the demo main job."""

from __future__ import annotations

import functools
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from onshore.adapters.reports import report_app
from onshore.adapters.stress import stress
from onshore.config.load import ConfigError, load_config
from onshore.core.commands import MalformedCommand, decode_command
from onshore.core.events import Event, encode_event
from onshore.venue import Venue

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Onshore: an open venue for perpetual futures.")


def _load_venue(config: Path | None) -> Venue:
    try:
        text = config.read_text("utf-8") if config is not None else None
        return Venue(load_config(text))
    except (OSError, ConfigError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from exc


def replay_lines(venue: Venue, lines: Iterable[str | bytes]) -> Iterator[Event]:
    """Apply JSON Lines commands; a line that is not a valid command becomes a rejection naming it."""
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if number == 1:  # a UTF-8 byte-order mark is not part of the command
            line = line.removeprefix(b"\xef\xbb\xbf") if isinstance(line, bytes) else line.removeprefix("\ufeff")
        if not line:
            continue
        try:
            command = decode_command(line)
        except MalformedCommand as exc:
            yield from venue.reject_line(exc.reason, f"line {number}: {exc.detail}", number)
            continue
        yield from venue.apply(command)


@app.command()
def replay(
    commands: Annotated[Path, typer.Argument(help="JSON Lines file of commands ('-' for stdin)")],
    config: Annotated[Path | None, typer.Option(help="partial TOML merged over the built-in configuration")] = None,
    state_out: Annotated[Path | None, typer.Option("--state-out", help="write the final state document here")] = None,
) -> None:
    """Apply a command file and print the events as JSON Lines."""
    if str(commands) != "-" and not commands.is_file():
        raise typer.BadParameter(f"no such command file: {commands}", param_hint="COMMANDS")
    venue = _load_venue(config)
    out: BinaryIO = sys.stdout.buffer
    stream = sys.stdin.buffer if str(commands) == "-" else commands.open("rb")
    with stream:
        for event in replay_lines(venue, stream):
            out.write(encode_event(event))
            out.write(b"\n")
    out.flush()
    if state_out is not None:
        state_out.write_text(json.dumps(venue.state_document(), indent=2) + "\n", "utf-8")


def _sample_lines() -> list[str]:
    text = resources.files("onshore.scenarios").joinpath("sample_session.jsonl").read_text("utf-8")
    return text.splitlines()


@app.command()
def demo() -> None:
    """Replay the built-in sample session through the Venue and summarise it."""
    console = Console()
    venue = Venue(load_config(None))
    events = list(replay_lines(venue, _sample_lines()))
    venue.check_invariants()
    state = venue.state_document()
    counts = Counter(type(ev).__struct_config__.tag for ev in events)
    console.print("[bold]Onshore[/bold] — sample session: members, accounts, quotes, trades, a flip, rejections\n")
    console.print(
        f"{venue.cmd} commands → {len(events)} events: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    )

    trades = Table(title="Trades")
    for col in ("id", "market", "price", "qty", "aggressor", "maker", "taker", "maker fee", "taker fee"):
        trades.add_column(col)
    for ev in events:
        d: dict[str, Any] = msgspec.to_builtins(ev)
        if d["type"] == "trade":
            trades.add_row(
                d["trade_id"], d["market"], d["price"], d["qty"], d["aggressor_side"],
                d["maker_account"], d["taker_account"], d["maker_fee"], d["taker_fee"],
            )  # fmt: skip
    console.print(trades)

    rejected = Table(title="Rejected commands (each changed nothing)")
    for col in ("cmd", "command", "reason", "detail"):
        rejected.add_column(col)
    for ev in events:
        d = msgspec.to_builtins(ev)
        if d["type"] == "command_rejected":
            rejected.add_row(str(d["cmd"]), str(d.get("command") or "-"), d["reason"], d["detail"])
    console.print(rejected)

    accounts = Table(title="Accounts")
    for col in ("account", "segment", "member", "cash", "equity", "positions"):
        accounts.add_column(col)
    for name, a in state["accounts"].items():
        pos = "; ".join(
            f"{m} {p['qty']} @ {p['entry_price']} ({p['margin_mode']}, uPnL {p['unrealized_pnl']})"
            for m, p in a["positions"].items()
        )
        accounts.add_row(name, a["segment"], a["member"], a["cash"], a["equity"], pos or "-")
    console.print(accounts)

    check = state["ledger_check"]
    console.print(
        f"Ledger: Σ balances {check['sum_of_balances']} = deposits {check['deposits']} − withdrawals "
        f"{check['withdrawals']} + paid-in {check['paid_in']}"
    )
    console.print(f"System accounts: {state['system']}")
    console.print(f"State hash: {state['state_hash']}")


# ------------------------------------------------------------------ durability: onshore run, onshore audit
# (docs/journal.md) The commands import their modules when they run, so the other commands start as fast as before.
@app.command()
def run(
    commands: Annotated[Path, typer.Argument(help="JSON Lines file of commands ('-' for stdin)")],
    journal: Annotated[Path, typer.Option("--journal", help="the journal (an SQLite file); created if missing")],
    config: Annotated[
        Path | None,
        typer.Option(
            help="partial TOML merged over the built-in configuration (a journal keeps the one it began with)"
        ),
    ] = None,
    snapshot_every: Annotated[
        int, typer.Option("--snapshot-every", min=0, help="take a snapshot every N commands (0: never)")
    ] = 100_000,
    batch: Annotated[int, typer.Option("--batch", min=1, help="at most N commands per durable transaction")] = 4096,
    writer: Annotated[
        str, typer.Option(help="'process': a forked writer commits while the venue goes on; 'inline': one thread")
    ] = "process",
) -> None:
    """Apply commands durably; print one acknowledgment per command, only once it is durable.

    On a journal that already holds commands, recover first (latest valid snapshot + replay),
    then skip the input lines already applied (idempotency key: the command's id, else its line
    number) and continue.
    """
    from onshore.adapters.durable import run_journal
    from onshore.journal import JournalError
    from onshore.venue.errors import VenueStopped

    try:
        config_text = config.read_text("utf-8") if config is not None else None
        run_journal(
            journal, commands, config_text=config_text, snapshot_every=snapshot_every, batch=batch, writer=writer
        )
    except (OSError, ConfigError) as exc:
        print(f"onshore run: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    except JournalError as exc:
        print(f"onshore run: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    except VenueStopped as exc:
        print(f"onshore run: the venue stopped: {exc}; everything before it is durable", file=sys.stderr)
        raise typer.Exit(3) from exc


audit_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="The audit trail: verify the journal, trace orders and accounts."
)
app.add_typer(audit_app, name="audit")

_JournalOption = Annotated[Path, typer.Option("--journal", help="the journal (an SQLite file)")]


def _open_for_audit(journal: Path) -> Any:
    from onshore.journal import JournalError, SQLiteJournal

    try:
        return SQLiteJournal(journal, readonly=True)
    except JournalError as exc:
        print(f"onshore audit: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc


def _print_json_lines(records: Iterable[dict[str, Any]]) -> None:
    out = sys.stdout
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


@audit_app.command("verify")
def audit_verify(journal: _JournalOption) -> None:
    """Check the hash chain, replay from scratch, compare events and snapshots; end with {"seq", "state_hash"}."""
    from onshore.adapters.audit import verify_journal
    from onshore.journal import JournalError, SQLiteJournal

    store = _open_for_audit(journal)
    try:
        result = verify_journal(store, parallel=functools.partial(SQLiteJournal, journal, readonly=True))
    except JournalError as exc:
        print(f"onshore audit verify: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    if result.ok:
        print(
            f"audit: chain intact and replay reproduces every entry: {result.entries} entries, "
            f"{result.snapshots_checked} snapshots checked; head hash {result.head_hash or '-'}",
            file=sys.stderr,
        )
    else:
        tail = " (a torn tail: `onshore run` would discard it)" if result.torn_tail else ""
        print(f"audit: entry {result.first_bad} is bad: {result.problem}{tail}", file=sys.stderr)
    _print_json_lines([result.summary()])
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("order")
def audit_order(
    order: Annotated[str, typer.Argument(help="venue order id, or a client order id")],
    journal: _JournalOption,
    account: Annotated[str | None, typer.Option(help="the account, to narrow a client order id")] = None,
) -> None:
    """An order's lifecycle from the journal: entry, amendments, fills, cancellation (JSON Lines)."""
    from onshore.adapters.audit import order_history

    store = _open_for_audit(journal)
    try:
        records = order_history(store, order, account=account)
    finally:
        store.close()
    _print_json_lines(records)
    if not any(r.get("found") for r in records):
        print(f"onshore audit order: no order {order} in the journal", file=sys.stderr)
        raise typer.Exit(1)


@audit_app.command("account")
def audit_account(
    account: Annotated[str, typer.Argument(help="account id")],
    journal: _JournalOption,
) -> None:
    """An account's history from the journal: deposits, withdrawals, orders, trades (JSON Lines)."""
    from onshore.adapters.audit import account_history

    store = _open_for_audit(journal)
    try:
        records = account_history(store, account)
    finally:
        store.close()
    _print_json_lines(records)
    if len(records) == 1:
        print(f"onshore audit account: no entry names account {account}", file=sys.stderr)
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    journal: _JournalOption,
    out: Annotated[Path, typer.Option("--out", help="directory to write commands, events and manifest.json into")],
    format: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
) -> None:
    """Export the commands and events tables (Parquet or CSV) with a manifest, for a regulator."""
    from onshore.adapters.audit import export_journal
    from onshore.journal import JournalError

    if format not in ("parquet", "csv"):
        raise typer.BadParameter("use parquet or csv", param_hint="--format")
    store = _open_for_audit(journal)
    try:
        manifest = export_journal(store, format, out)
    except JournalError as exc:
        print(f"onshore audit export: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    finally:
        store.close()
    print(f"audit: exported {manifest['commands']} commands and {manifest['events']} events to {out}", file=sys.stderr)
    _print_json_lines([{k: manifest[k] for k in ("last_seq", "last_hash", "chain_intact", "commands", "events")}])
    if not manifest["chain_intact"]:
        print(f"audit: the chain breaks at entry {manifest['first_bad_seq']}: {manifest['problem']}", file=sys.stderr)
        raise typer.Exit(1)


app.command("stress")(stress)
app.add_typer(report_app, name="report")


@report_app.command("segregation")
def report_segregation(
    commands: Annotated[
        Path | None, typer.Option("--commands", help="a JSON Lines command file to replay in memory ('-': stdin)")
    ] = None,
    journal: Annotated[Path | None, typer.Option("--journal", help="a journal (SQLite file) to replay")] = None,
    config: Annotated[
        Path | None, typer.Option(help="partial TOML merged over the built-in configuration (--commands)")
    ] = None,
    date: Annotated[
        str | None, typer.Option("--date", help="as of the close of this UTC date, YYYY-MM-DD (default: the end)")
    ] = None,
    daily: Annotated[bool, typer.Option("--daily", help="one statement per UTC date that has commands")] = False,
    format: Annotated[str, typer.Option("--format", help="json (JSON Lines) or csv")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="write here (default: standard output)")] = None,
) -> None:
    """Per member: customer funds in segregation, what is owed to customers, the excess or deficit (17 CFR 1.32)."""
    from onshore.adapters.segregation import run_report

    run_report(commands, journal, config, date, daily, format, out)


def main() -> None:
    """Entry point of the ``onshore`` command."""
    app()


if __name__ == "__main__":
    main()
