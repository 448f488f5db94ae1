"""The regulator's view of the journal: verify it, trace an order or an account, export it.

- :func:`verify_journal` checks the hash chain, replays every entry from scratch and
  compares what it gets — each command's events, byte for byte, and each snapshot's state
  hash — with what the journal holds. It ends at the state hash that ``onshore replay
  --state-out`` reports for the same commands.
- :func:`order_history` and :func:`account_history` reconstruct a lifecycle from the
  stored events: entry, amendments, fills and cancellation of an order; deposits,
  withdrawals, orders and trades of an account.
- :func:`export_journal` writes a ``commands`` and an ``events`` table (CSV or Parquet)
  with a manifest, for a regulator's own tools.

All of it reads the journal only.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from onshore.core.hashing import canonical_json
from onshore.journal.base import Journal, JournalError, SnapshotRecord
from onshore.journal.chain import ChainCheck, check_range
from onshore.journal.commit import die_with_parent, write_all
from onshore.journal.format import EntryRow, UnparsedLine, decode_entry, decode_head, encode, snapshot_hash
from onshore.journal.recovery import apply_entry, read_header, restore_venue, snapshots_supported
from onshore.venue import Venue
from onshore.venue.errors import VenueStopped

_ACCOUNT_FIELDS = ("account", "maker_account", "taker_account", "counterparty")
_ORDER_FIELDS = ("order_id", "maker_order_id", "taker_order_id")


# ------------------------------------------------------------------------------------ verify
@dataclass
class VerifyResult:
    """What ``audit verify`` found. ``seq``/``state_hash``: the last good entry and the state after it."""

    ok: bool
    seq: int
    state_hash: str | None
    head_hash: str = ""
    entries: int = 0
    snapshots_checked: int = 0
    first_bad: int | None = None
    problem: str | None = None
    torn_tail: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The closing JSON line: ``{"seq", "state_hash"}``, plus where it failed if it did."""
        out: dict[str, Any] = {"seq": self.seq, "state_hash": self.state_hash}
        if not self.ok:
            out.update(ok=False, first_bad_seq=self.first_bad, problem=self.problem)
        return out


def verify_journal(journal: Journal, *, parallel: Callable[[], Journal] | None = None) -> VerifyResult:
    """Check the chain, replay from scratch, compare events and snapshots.

    With ``parallel`` (it opens another connection to the same journal), a forked process
    checks the chain and restores the stored snapshots while this one replays: the
    longer of the two rather than their sum. Any doubt on that path, and the journal is
    verified again one entry at a time, which names the first bad entry; a sound journal
    gets the same result either way. Runtime complexity: O(entries) — every entry is
    hashed, decoded, applied and its events re-encoded; one state hash per snapshot.
    """
    if parallel is not None and hasattr(os, "fork"):
        fast = _verify_in_parallel(journal, parallel)
        if fast is not None:
            return fast
    return _verify_in_order(journal)


def _verify_in_order(journal: Journal) -> VerifyResult:
    """:func:`verify_journal` in one process: check each entry, then replay it; stop at the first bad one."""
    config, _config_json, genesis = read_header(journal)
    snaps = {s.seq: s for s in journal.snapshots()}
    check = ChainCheck(genesis, remember=snaps)
    venue = Venue(config)
    result = VerifyResult(ok=True, seq=0, state_hash=None)
    bad: tuple[int, str] | None = None
    for seq, _key, entry, _prev, digest in check.entries(journal.scan()):
        try:
            _, _, command, raw_events = decode_entry(entry)
        except msgspec.DecodeError as exc:
            bad = (seq, f"it cannot be decoded as an entry ({exc})")
            break
        try:
            events = apply_entry(venue, command)
        except VenueStopped as exc:
            bad = (seq, f"replaying it stopped the venue ({exc})")
            break
        if venue.cmd != seq:
            bad = (seq, f"replay numbered it {venue.cmd}")
            break
        if encode(events) != bytes(raw_events):
            bad = (seq, "replaying it gives other events than the journal holds for it")
            break
        result.entries += 1
        result.seq = seq
        result.head_hash = digest.hex()
        snap = snaps.get(seq)
        if snap is not None:
            problem = _check_snapshot(journal, config, venue, snap.seq, check.hashes[seq])
            if problem is not None:
                bad = (seq, problem)
                break
            result.snapshots_checked += 1
    if bad is None and not check.ok:
        assert check.first_bad is not None and check.problem is not None
        bad = (check.first_bad, check.problem)
        result.torn_tail = check.torn_tail
    if bad is None:
        beyond = sorted(s for s in snaps if s > result.seq)
        if beyond:
            bad = (beyond[0], f"a snapshot is recorded after entry {beyond[0]}, which the journal does not hold")
    if bad is not None:
        result.ok = False
        result.first_bad, result.problem = bad
    exact = venue.cmd == result.seq and venue.stopped is None  # the venue holds the state after the last good entry
    result.state_hash = venue.state_hash() if exact else None
    return result


def _verify_in_parallel(journal: Journal, open_journal: Callable[[], Journal]) -> VerifyResult | None:
    """The result of :func:`_verify_in_order` for a sound journal, or None at the first doubt.

    This process replays entries 1 … last (as the journal stood when it began) and compares
    their events, and at each snapshot its event counter, its state hash and its entry hash
    (the stored hash of its entry, which the chain check vouches for). A forked process
    checks the chain of the same entries from the genesis hash, then each snapshot's own
    hash and its restore.
    """
    config, _config_json, genesis = read_header(journal)
    snaps = sorted(journal.snapshots(), key=lambda s: s.seq)
    last_row = journal.last()
    last = last_row[0] if last_row is not None else 0
    if any(s.seq > last for s in snaps):
        return None
    try:
        checker = _ForkedCheck(open_journal, config, genesis, last, snaps)
    except OSError:  # no process to spare: check in this one
        return None
    at = {s.seq: s for s in snaps}
    venue = Venue(config)
    head = b""
    expected = 1
    sound = False
    try:
        for seq, _key, entry, _prev, digest in journal.scan(1, last):
            if seq != expected:
                break
            _, _, command, raw_events = decode_entry(entry)
            events = apply_entry(venue, command)
            if venue.cmd != seq or encode(events) != bytes(raw_events):
                break
            snap = at.get(seq)
            if snap is not None and (
                snap.entry_hash != digest or snap.event_seq != venue.seq or snap.state_hash != venue.state_hash()
            ):
                break
            head = digest
            expected += 1
        else:
            sound = True
    except (msgspec.DecodeError, VenueStopped):
        pass
    finally:
        checked = checker.join(stop=not sound)
    if not (sound and checked and expected == last + 1):
        return None
    return VerifyResult(
        ok=True,
        seq=last,
        state_hash=venue.state_hash() if venue.stopped is None else None,
        head_hash=head.hex(),
        entries=last,
        snapshots_checked=len(snaps),
    )


class _ForkedCheck:
    """Check the chain of entries 1 … ``last`` and the snapshots ``snaps`` in a forked process."""

    def __init__(
        self, open_journal: Callable[[], Journal], config: Any, genesis: bytes, last: int, snaps: list[SnapshotRecord]
    ) -> None:
        read_end, write_end = os.pipe()
        context = multiprocessing.get_context("fork")
        self._job = context.Process(
            target=_forked_check_main, args=(open_journal, config, genesis, last, snaps, write_end), daemon=True
        )
        self._job.start()
        os.close(write_end)
        self._read_end = read_end

    def join(self, *, stop: bool = False) -> bool:
        """Wait for the check (or stop it); True when the chain and every snapshot held."""
        if stop and self._job.is_alive():
            self._job.kill()
        with os.fdopen(self._read_end, "rb") as f:
            answer = f.read()
        self._job.join()
        return answer == b"sound" and self._job.exitcode == 0


def _forked_check_main(
    open_journal: Callable[[], Journal], config: Any, genesis: bytes, last: int, snaps: list[SnapshotRecord], out: int
) -> None:
    try:
        die_with_parent()
        journal = open_journal()
        sound = True
        if last:
            ok, first_prev, _ = check_range(journal.scan_links(1, last), 1, last)
            sound = ok and first_prev == genesis
        for snap in snaps if sound else ():
            data = journal.snapshot_data(snap.seq)
            if snapshot_hash(snap.seq, snap.event_seq, snap.state_hash, snap.entry_hash, data) != snap.hash:
                sound = False
                break
            if data is not None and snapshots_supported():
                try:
                    restored = restore_venue(config, data)
                except Exception:
                    sound = False
                    break
                if restored.state_hash() != snap.state_hash:
                    sound = False
                    break
        journal.close()
        write_all(out, b"sound" if sound else b"doubt")
    except BaseException:
        os._exit(1)
    os._exit(0)


def _check_snapshot(journal: Journal, config: Any, venue: Venue, seq: int, chain_hash: bytes) -> str | None:
    snap = next(s for s in journal.snapshots() if s.seq == seq)
    data = journal.snapshot_data(seq)
    if snap.entry_hash != chain_hash:
        return f"the snapshot after entry {seq} is not bound to the chain (its entry hash differs)"
    if snapshot_hash(seq, snap.event_seq, snap.state_hash, snap.entry_hash, data) != snap.hash:
        return f"the snapshot after entry {seq} fails its own hash"
    if snap.event_seq != venue.seq:
        return f"the snapshot after entry {seq} records event {snap.event_seq}, replay reached event {venue.seq}"
    if snap.state_hash != venue.state_hash():
        return f"the snapshot after entry {seq} records another state hash than replay reaches"
    if data is not None and snapshots_supported():
        try:
            restored = restore_venue(config, data)
        except Exception as exc:
            return f"the snapshot after entry {seq} does not restore ({type(exc).__name__}: {exc})"
        if restored.state_hash() != snap.state_hash:
            return f"the snapshot after entry {seq} restores to another state hash than it records"
    return None


# ------------------------------------------------------------------------------------ lifecycles
def _entry_record(row: EntryRow) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    _seq, _key, raw_command, raw_events = decode_head(row[2])
    command: dict[str, Any] = json.loads(bytes(raw_command))
    events: list[dict[str, Any]] = json.loads(bytes(raw_events))
    return command, events


def _record(row: EntryRow, command: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cmd": row[0], "key": row[1], "ts": command.get("ts"), "command": command, "events": events}


def order_history(journal: Journal, order: str, *, account: str | None = None) -> list[dict[str, Any]]:
    """Every entry that touched an order, with the events about it, ending with a summary record.

    ``order`` is a venue order id (digits) or a client order id (then ``account`` narrows
    it). Runtime complexity: one filtered pass over the journal per order found.
    """
    targets: list[tuple[int | None, str | None, str | None]] = []  # (order_id, account, client_order_id)
    if order.removeprefix("-").isdigit():  # liquidation orders have negative ids
        oid = int(order)
        for row in journal.find(b'_id":%d' % oid):
            _, events = _entry_record(row)
            for ev in events:
                if ev.get("type") == "order_accepted" and ev.get("order_id") == oid:
                    targets.append((oid, ev.get("account"), ev.get("client_order_id")))
        if not targets:
            targets.append((oid, None, None))
    else:
        for row in journal.find(encode(order)):
            _, events = _entry_record(row)
            for ev in events:
                if (
                    ev.get("type") == "order_accepted"
                    and ev.get("client_order_id") == order
                    and (account is None or ev.get("account") == account)
                ):
                    targets.append((ev.get("order_id"), ev.get("account"), order))
        if not targets:
            targets.append((None, account, order))
    out: list[dict[str, Any]] = []
    for target_id, target_account, target_coid in targets:
        out.extend(_one_order(journal, target_id, target_account, target_coid))
    return out


def _one_order(journal: Journal, oid: int | None, account: str | None, coid: str | None) -> list[dict[str, Any]]:
    def about(ev: dict[str, Any]) -> bool:
        if oid is not None and any(ev.get(f) == oid for f in _ORDER_FIELDS):
            return True
        return coid is not None and ev.get("client_order_id") == coid and ev.get("account") == account

    def commands_it(command: dict[str, Any]) -> bool:
        if command.get("account") != account and account is not None:
            return False
        if oid is not None and command.get("order_id") == oid:
            return True
        return coid is not None and command.get("client_order_id") == coid

    needles = [b'_id":%d' % oid] if oid is not None else []
    if coid is not None:
        needles.append(encode(coid))
    seen: set[int] = set()
    rows: list[tuple[EntryRow, dict[str, Any], list[dict[str, Any]]]] = []
    for needle in needles:
        for row in journal.find(needle):
            if row[0] in seen:
                continue
            command, events = _entry_record(row)
            relevant = [ev for ev in events if about(ev)]
            if relevant or commands_it(command):
                seen.add(row[0])
                rows.append((row, command, relevant or events))
    rows.sort(key=lambda r: r[0][0])
    records = [_record(row, command, events) for row, command, events in rows]
    records.append(_order_summary(oid, account, coid, records))
    return records


def _order_summary(
    oid: int | None, account: str | None, coid: str | None, records: list[dict[str, Any]]
) -> dict[str, Any]:
    summary: dict[str, Any] = {"summary": "order", "order_id": oid, "account": account, "client_order_id": coid}
    filled = Decimal(0)
    fills = amendments = 0
    for record in records:
        for ev in record["events"]:
            kind = ev.get("type")
            if kind == "order_accepted" and ev.get("order_id") == oid:
                summary.update(
                    market=ev.get("market"), side=ev.get("side"), price=ev.get("price"), qty=ev.get("qty"),
                    entered_cmd=record["cmd"], entered_ts=ev.get("ts"),
                )  # fmt: skip
            elif kind == "trade" and oid in (ev.get("maker_order_id"), ev.get("taker_order_id")):
                fills += 1
                filled += Decimal(ev["qty"])
            elif kind == "order_amended" and ev.get("order_id") == oid:
                amendments += 1
                summary["price"] = ev.get("price")
            elif kind == "order_cancelled" and ev.get("order_id") == oid:
                summary["cancelled"] = {"cmd": record["cmd"], "ts": ev.get("ts"), "reason": ev.get("reason")}
    summary.update(fills=fills, filled_qty=str(filled), amendments=amendments)
    summary["found"] = "entered_cmd" in summary
    return summary


def account_history(journal: Journal, account: str) -> list[dict[str, Any]]:
    """Every entry that touched an account: its commands and the events that name it, then a summary.

    Runtime complexity: one pass over the entries that contain the account's name.
    """
    records: list[dict[str, Any]] = []
    deposits = withdrawals = Decimal(0)
    orders = trades = rejected = 0
    for row in journal.find(encode(account)):
        command, events = _entry_record(row)
        own = command.get("account") == account
        relevant = [ev for ev in events if any(ev.get(f) == account for f in _ACCOUNT_FIELDS)]
        if not own and not relevant:
            continue
        if own and not relevant:
            relevant = events
        for ev in relevant:
            kind = ev.get("type")
            if kind == "deposit":
                deposits += Decimal(ev["amount"])
            elif kind == "withdrawal":
                withdrawals += Decimal(ev["amount"])
            elif kind == "order_accepted":
                orders += 1
            elif kind == "trade":
                trades += 1
            elif kind == "command_rejected" and own:
                rejected += 1
        records.append(_record(row, command, relevant))
    records.append(
        {
            "summary": "account",
            "account": account,
            "entries": len(records),
            "deposits": str(deposits),
            "withdrawals": str(withdrawals),
            "orders_accepted": orders,
            "trades": trades,
            "commands_rejected": rejected,
        }
    )
    return records


# ------------------------------------------------------------------------------------ export
COMMAND_COLUMNS = (
    "seq", "key", "key_kind", "type", "ts", "account", "market", "status", "command", "prev_hash", "hash",
)  # fmt: skip
EVENT_COLUMNS = ("seq", "cmd", "ts", "type", "account", "market", "order_id", "event")
_INT_COLUMNS = {"seq", "ts", "cmd", "order_id"}


def _export_rows(journal: Journal, check: ChainCheck) -> Iterator[tuple[list[Any], list[list[Any]]]]:
    for seq, key, entry, prev_hash, digest in check.entries(journal.scan()):
        _, _, raw_command, raw_events = decode_head(entry)
        command: dict[str, Any] = json.loads(bytes(raw_command))
        events: list[dict[str, Any]] = json.loads(bytes(raw_events))
        rejected = len(events) == 1 and events[0].get("type") == "command_rejected"
        kind = command.get("type")
        commands_row = [
            seq, str(key), "id" if isinstance(key, str) else "line", kind,
            command.get("ts") if kind != UnparsedLine.__struct_config__.tag else (events[0]["ts"] if events else None),
            command.get("account"), command.get("market"), "rejected" if rejected else "accepted",
            bytes(raw_command).decode(), prev_hash.hex(), digest.hex(),
        ]  # fmt: skip
        event_rows = [
            [
                ev.get("seq"), ev.get("cmd"), ev.get("ts"), ev.get("type"),
                ev.get("account") or ev.get("taker_account"), ev.get("market"),
                ev.get("order_id") if ev.get("order_id") is not None else ev.get("taker_order_id"),
                encode(ev).decode(),
            ]
            for ev in events
        ]  # fmt: skip
        yield commands_row, event_rows


def export_journal(journal: Journal, fmt: str, out_dir: Path, *, chunk_rows: int = 65_536) -> dict[str, Any]:
    """Write ``commands`` and ``events`` tables and ``manifest.json`` into ``out_dir``.

    Only entries that pass the chain check are exported; the manifest says whether the
    chain held and where it broke. Returns the manifest. Parquet needs ``pyarrow``.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}: use csv or parquet")
    meta = journal.meta()
    _config, _config_json, genesis = read_header(journal)
    out_dir.mkdir(parents=True, exist_ok=True)
    check = ChainCheck(genesis)
    rows = _export_rows(journal, check)
    commands_path = out_dir / f"commands.{fmt}"
    events_path = out_dir / f"events.{fmt}"
    if fmt == "csv":
        counts = _write_csv(rows, commands_path, events_path)
    else:
        counts = _write_parquet(rows, commands_path, events_path, chunk_rows)
    manifest: dict[str, Any] = {
        "format": meta.get("format"),
        "created_by": meta.get("created_by"),
        "genesis": meta.get("genesis"),
        "config": json.loads(meta.get("config", "{}")),
        "last_seq": check.last_seq,
        "last_hash": check.last_hash.hex(),
        "chain_intact": check.ok,
        "first_bad_seq": check.first_bad,
        "problem": check.problem,
        "commands": counts[0],
        "events": counts[1],
        "files": {p.name: _sha256_file(p) for p in (commands_path, events_path)},
    }
    (out_dir / "manifest.json").write_bytes(canonical_json(manifest) + b"\n")
    return manifest


def _write_csv(
    rows: Iterator[tuple[list[Any], list[list[Any]]]], commands_path: Path, events_path: Path
) -> tuple[int, int]:
    n_commands = n_events = 0
    with (
        commands_path.open("w", newline="", encoding="utf-8") as cf,
        events_path.open("w", newline="", encoding="utf-8") as ef,
    ):
        cw, ew = csv.writer(cf), csv.writer(ef)
        cw.writerow(COMMAND_COLUMNS)
        ew.writerow(EVENT_COLUMNS)
        for command_row, event_rows in rows:
            cw.writerow(command_row)
            ew.writerows(event_rows)
            n_commands += 1
            n_events += len(event_rows)
    return n_commands, n_events


def _write_parquet(
    rows: Iterator[tuple[list[Any], list[list[Any]]]], commands_path: Path, events_path: Path, chunk_rows: int
) -> tuple[int, int]:
    try:
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise JournalError("Parquet export needs pyarrow (pip install pyarrow); or use --format csv") from exc

    def schema(columns: tuple[str, ...]) -> Any:
        return pa.schema([(c, pa.int64() if c in _INT_COLUMNS else pa.string()) for c in columns])

    c_schema, e_schema = schema(COMMAND_COLUMNS), schema(EVENT_COLUMNS)
    n_commands = n_events = 0
    c_buf: list[list[Any]] = []
    e_buf: list[list[Any]] = []

    def flush(writer: Any, buf: list[list[Any]], columns: tuple[str, ...], sch: Any) -> None:
        if buf:
            writer.write_table(pa.Table.from_arrays([pa.array(col) for col in zip(*buf, strict=True)], schema=sch))
            buf.clear()

    with pq.ParquetWriter(commands_path, c_schema) as cw, pq.ParquetWriter(events_path, e_schema) as ew:
        for command_row, event_rows in rows:
            c_buf.append(command_row)
            e_buf.extend(event_rows)
            n_commands += 1
            n_events += len(event_rows)
            if len(c_buf) >= chunk_rows:
                flush(cw, c_buf, COMMAND_COLUMNS, c_schema)
            if len(e_buf) >= chunk_rows:
                flush(ew, e_buf, EVENT_COLUMNS, e_schema)
        flush(cw, c_buf, COMMAND_COLUMNS, c_schema)
        flush(ew, e_buf, EVENT_COLUMNS, e_schema)
    return n_commands, n_events


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
