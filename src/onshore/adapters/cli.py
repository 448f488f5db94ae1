"""The ``onshore`` command line: replay command files, and the demo main job."""

from __future__ import annotations

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


def main() -> None:
    """Entry point of the ``onshore`` command."""
    app()


if __name__ == "__main__":
    main()
