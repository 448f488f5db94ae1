"""``onshore report``: the regulator's reports and the surveillance alerts, from a journal or a command file.

    onshore report large-traders|market|alerts|positions|owners
        (--journal PATH | --commands FILE) [--date YYYY-MM-DD]
        [--format csv|json|parquet] [--out FILE] [--config FILE] [--state FILE]

``--commands`` replays a JSON Lines command file through a Venue in memory (with
``--config`` merged over the built-in configuration) and reads its events; at the end of
every UTC day it takes the Venue's state document, so the insurance fund and default fund
balances are the Venue's own. ``--journal`` reads the events stored in a journal, after
checking its hash chain (a broken chain is an error: nothing is reported); the balances
then come from the registered amounts and the ``loss_absorbed`` flows, unless ``--state``
gives a final state document (``onshore replay --state-out``) for the last day.

``--config`` may carry a ``[surveillance]`` table of thresholds (docs/surveillance.md).
``--date`` reports one UTC date (and stops reading after it). Without ``--out`` CSV and
JSON Lines go to standard output; Parquet needs ``--out``.

The replay lives here, in the adapter: :mod:`onshore.surveillance` reads events only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Final, Union

import msgspec
import typer

from onshore.config.load import ConfigError, load_config
from onshore.core import events as ev_types
from onshore.core.commands import MalformedCommand, decode_command
from onshore.core.events import Event
from onshore.core.spec import VenueConfig
from onshore.core.units import Money
from onshore.surveillance.config import (
    DAY_MS,
    SurveillanceConfig,
    SurveillanceConfigError,
    day_of_date,
    load_surveillance_config,
    venue_facts,
)
from onshore.surveillance.engine import Surveillance, SurveillanceResult
from onshore.surveillance.tables import (
    ALERTS,
    FORMATS,
    LARGE_TRADERS,
    MARKET,
    OWNERS,
    POSITIONS,
    Column,
    alert_rows,
    filter_date,
    to_text,
    write_parquet,
)
from onshore.venue import Venue

report_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="The regulator's view: large-trader, position and daily market reports, and surveillance alerts.",
)

EVENT_TYPES: Final[tuple[type[Event], ...]] = tuple(
    cls
    for cls in vars(ev_types).values()
    if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event and cls.__struct_config__.tag
)
"""Every event type of the protocol (the tagged structs of :mod:`onshore.core.events`)."""

_event_decoder: Final[msgspec.json.Decoder[Any]] = msgspec.json.Decoder(Union[EVENT_TYPES])  # noqa: UP007
_raw_list: Final = msgspec.json.Decoder(list[msgspec.Raw])


def decode_events(raw: bytes | msgspec.Raw) -> list[Event]:
    """The events of a journal entry; an event type this build does not know is skipped."""
    out: list[Event] = []
    decode = _event_decoder.decode
    for item in _raw_list.decode(raw):
        try:
            out.append(decode(item))
        except msgspec.ValidationError:
            continue
    return out


# ------------------------------------------------------------------------------------ the passes
def surveil_lines(
    lines: Iterable[str | bytes],
    venue_config: VenueConfig,
    config: SurveillanceConfig,
    *,
    last_day: int | None = None,
) -> SurveillanceResult:
    """Replay JSON Lines commands through a Venue in memory and run surveillance over the events.

    At each change of UTC day (and at the end) the Venue's state document gives the
    insurance fund and default fund balances.
    """
    venue = Venue(venue_config)
    engine = Surveillance(config, venue_facts(venue_config), last_day=last_day)
    day_end = -1
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf") if isinstance(line, bytes) else line.removeprefix("\ufeff")
        if not line:
            continue
        try:
            command = decode_command(line)
        except MalformedCommand as exc:
            engine.run(venue.reject_line(exc.reason, f"line {number}: {exc.detail}", number))
            continue
        ts = command.ts
        if type(ts) is int and ts >= day_end:
            if day_end >= 0:
                _snapshot(engine, venue)
            day_end = (ts // DAY_MS + 1) * DAY_MS
        engine.feed_command(venue.cmd + 1, command)
        engine.run(venue.apply(command))
        if engine.done:
            break
    if not engine.done:
        _snapshot(engine, venue)
    return engine.finish()


def _snapshot(engine: Surveillance, venue: Venue) -> None:
    doc = venue.state_document()
    engine.snapshot_balances(*balances_of(doc))


def balances_of(state: dict[str, Any]) -> tuple[int, int]:
    """The insurance fund and the members' default fund contributions (micro-dollars) of a state document."""
    insurance = Money.parse(str(state.get("system", {}).get("insurance_fund", "0")))
    default_fund = sum(Money.parse(str(m.get("default_fund", "0"))) for m in state.get("members", {}).values())
    return int(insurance), int(default_fund)


def surveil_journal(
    path: Path,
    config: SurveillanceConfig,
    *,
    last_day: int | None = None,
    state: dict[str, Any] | None = None,
) -> SurveillanceResult:
    """Run surveillance over the events a journal holds, after checking each entry's place in the hash chain.

    Raises :class:`~onshore.journal.JournalError` if the journal cannot be read or its
    chain is broken before the point where reading stopped.
    """
    from onshore.journal import ChainCheck, JournalError, open_journal
    from onshore.journal.format import decode_entry
    from onshore.journal.recovery import read_header

    journal = open_journal(str(path), readonly=True)
    try:
        venue_config, _config_json, genesis = read_header(journal)
        engine = Surveillance(config, venue_facts(venue_config), last_day=last_day)
        check = ChainCheck(genesis)
        for seq, _key, entry, _prev, _hash in check.entries(journal.scan()):
            _, _, command, raw_events = decode_entry(entry)
            engine.feed_command(seq, command)
            engine.run(decode_events(raw_events))
            if engine.done:
                break
        if not engine.done and not check.ok:
            raise JournalError(f"the journal's chain breaks at entry {check.first_bad}: {check.problem}")
    finally:
        journal.close()
    if state is not None and not engine.done:
        engine.snapshot_balances(*balances_of(state))
    return engine.finish()


# ------------------------------------------------------------------------------------ the CLI
_Journal = Annotated[Path | None, typer.Option("--journal", help="a journal (SQLite file) to read the events from")]
_Commands = Annotated[
    Path | None, typer.Option("--commands", help="a JSON Lines command file to replay in memory ('-': stdin)")
]
_Date = Annotated[str | None, typer.Option("--date", help="one UTC date, YYYY-MM-DD (default: every day)")]
_Format = Annotated[str, typer.Option("--format", help="csv, json (JSON Lines) or parquet")]
_Out = Annotated[Path | None, typer.Option("--out", help="write here (default: standard output)")]
_Config = Annotated[
    Path | None,
    typer.Option("--config", help="TOML: the Venue's configuration for --commands, and a [surveillance] table"),
]
_State = Annotated[
    Path | None, typer.Option("--state", help="a final state document (--journal): the last day's fund balances")
]


def _run(
    journal: Path | None,
    commands: Path | None,
    date: str | None,
    fmt: str,
    out: Path | None,
    config: Path | None,
    state: Path | None,
) -> tuple[SurveillanceResult, str | None]:
    if (journal is None) == (commands is None):
        raise typer.BadParameter("give exactly one of --journal PATH or --commands FILE", param_hint="--journal")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}", param_hint="--format")
    if fmt == "parquet" and out is None:
        raise typer.BadParameter("Parquet is binary: give --out FILE", param_hint="--out")
    last_day = None
    if date is not None:
        try:
            last_day = day_of_date(date)
        except ValueError as exc:
            raise typer.BadParameter(f"not a date YYYY-MM-DD: {date!r}", param_hint="--date") from exc
    text = None
    if config is not None:
        try:
            text = config.read_text("utf-8")
        except OSError as exc:
            raise typer.BadParameter(str(exc), param_hint="--config") from exc
    try:
        surv_config = load_surveillance_config(text)
    except SurveillanceConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from exc
    if commands is not None:
        if str(commands) != "-" and not commands.is_file():
            raise typer.BadParameter(f"no such command file: {commands}", param_hint="--commands")
        try:
            venue_config = load_config(text)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="--config") from exc
        stream = sys.stdin.buffer if str(commands) == "-" else commands.open("rb")
        with stream:
            return surveil_lines(stream, venue_config, surv_config, last_day=last_day), date
    assert journal is not None
    state_doc = None
    if state is not None:
        try:
            state_doc = json.loads(state.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(f"not a readable state document: {exc}", param_hint="--state") from exc
    from onshore.journal import JournalError

    try:
        return surveil_journal(journal, surv_config, last_day=last_day, state=state_doc), date
    except JournalError as exc:
        print(f"onshore report: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc


def _emit(rows: list[dict[str, Any]], columns: tuple[Column, ...], fmt: str, out: Path | None) -> None:
    if fmt == "parquet":
        assert out is not None
        write_parquet(rows, columns, out)
        return
    text = to_text(rows, columns, fmt)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        out.write_text(text, "utf-8")


def _dated(rows: list[dict[str, Any]], date: str | None) -> list[dict[str, Any]]:
    return filter_date(rows, date)


def _report(
    name: str,
    help_text: str,
    rows_of: Callable[[SurveillanceResult], list[dict[str, Any]]],
    columns: tuple[Column, ...],
    dated: bool,
) -> None:
    """Register ``onshore report NAME``: every report reads the same sources and writes the same formats."""

    def command(
        journal: _Journal = None,
        commands: _Commands = None,
        date: _Date = None,
        format: _Format = "csv",
        out: _Out = None,
        config: _Config = None,
        state: _State = None,
    ) -> None:
        result, day = _run(journal, commands, date, format, out, config, state)
        rows = rows_of(result)
        _emit(_dated(rows, day) if dated else rows, columns, format, out)

    command.__doc__ = help_text
    command.__name__ = name.replace("-", "_")
    report_app.command(name)(command)


_report(
    "large-traders",
    "Owners at or above the reportable level, per day and market, by reporting member (17 CFR Part 17, 15.03).",
    lambda result: result.large_traders,
    LARGE_TRADERS,
    dated=True,
)
_report(
    "market",
    "The daily market report per market: volume, open interest, prices, funding, liquidations, funds, shares.",
    lambda result: result.market,
    MARKET,
    dated=True,
)
_report(
    "alerts",
    "Surveillance alerts with severity, owner, market and evidence (event sequence ranges).",
    lambda result: alert_rows(result.alerts),
    ALERTS,
    dated=True,
)
_report(
    "positions",
    "Every owner's end-of-day position per market, aggregated over its accounts.",
    lambda result: result.positions,
    POSITIONS,
    dated=True,
)
_report(
    "owners",
    "The beneficial owners: each with its accounts, their members and segments (as of the end of --date).",
    lambda result: result.owners,
    OWNERS,
    dated=False,
)
