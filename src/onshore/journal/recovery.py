"""Start-up: rebuild the Venue from the latest valid snapshot and the journal after it.

:func:`recover` makes one pass over the journal. It checks every entry's place in the
hash chain (:class:`~onshore.journal.chain.ChainCheck`), skips the entries the snapshot
already covers and replays the rest through ``Venue.apply``, exactly as they were applied
the first time. The state hash reached equals an uninterrupted run's, because the Venue is
deterministic and the journal holds every command it applied, in order.

- A snapshot is used only if its own hash holds, it is bound to the chain (the entry hash
  it records is the chain's hash at its sequence number), and the Venue restored from it
  has the state hash it records. Otherwise recovery says so and tries an older one, and in
  the end replays from the first entry. Until ``Venue.snapshot()``/``Venue.restore()``
  exist, recovery always replays from the first entry.
- A torn tail is discarded (and reported in ``notes``); a chain broken in the middle
  raises :class:`~onshore.journal.base.ChainBroken` naming the first bad entry.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import multiprocessing
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from onshore.config.load import build_config, default_toml, merge
from onshore.core.commands import Command
from onshore.core.events import Event
from onshore.core.hashing import canonical_json
from onshore.core.spec import VenueConfig
from onshore.journal.base import ChainBroken, Journal, JournalError, SnapshotRecord
from onshore.journal.chain import ChainCheck, check_range
from onshore.journal.commit import write_all
from onshore.journal.format import FORMAT, Key, UnparsedLine, decode_entry, genesis_hash, snapshot_hash
from onshore.venue import Venue
from onshore.venue.errors import VenueStopped


# ---------------------------------------------------------------------------- configuration
def effective_config(text: str | None) -> bytes:
    """The canonical JSON of the whole configuration: the built-in one with ``text`` merged over it.

    The journal stores this, not the partial file, so that it replays the same way even if
    the built-in defaults change later.
    """
    raw = tomllib.loads(default_toml())
    if text:
        raw = merge(raw, tomllib.loads(text))
    return canonical_json(raw)


def config_from_json(config_json: bytes | str) -> VenueConfig:
    """Build the Venue configuration a journal recorded."""
    raw: dict[str, Any] = json.loads(config_json)
    return build_config(raw)


def new_meta(config_json: bytes) -> dict[str, str]:
    """The header of a new journal for this configuration (``created_by``: the build, for the record)."""
    try:
        build = f"onshore {importlib.metadata.version('onshore')}"
    except importlib.metadata.PackageNotFoundError:
        build = "onshore (not installed)"
    return {
        "format": FORMAT,
        "config": config_json.decode(),
        "genesis": genesis_hash(config_json).hex(),
        "created_by": build,
    }


def read_header(journal: Journal) -> tuple[VenueConfig, bytes, bytes]:
    """Return ``(config, config_json, genesis)`` of a journal, checking that the header is intact."""
    meta = journal.meta()
    if not meta:
        raise JournalError("the journal has no header (it was never initialized)")
    if meta.get("format") != FORMAT:
        raise JournalError(f"unknown journal format {meta.get('format')!r}; this build reads {FORMAT}")
    config_json = meta["config"].encode()
    genesis = genesis_hash(config_json)
    if meta.get("genesis") != genesis.hex():
        raise JournalError("the journal header was altered: its configuration does not match its genesis hash")
    return config_from_json(config_json), config_json, genesis


# ---------------------------------------------------------------------------- snapshots of the Venue
def snapshots_supported() -> bool:
    """True when the Venue can snapshot and restore itself (``Venue.snapshot``/``Venue.restore``)."""
    return callable(getattr(Venue, "snapshot", None)) and callable(getattr(Venue, "restore", None))


def take_snapshot(venue: Venue) -> bytes | None:
    """The Venue's snapshot bytes, or None while the Venue cannot take one."""
    snap: Callable[[], bytes] | None = getattr(venue, "snapshot", None)
    return snap() if snap is not None and snapshots_supported() else None


def restore_venue(config: VenueConfig, data: bytes) -> Venue:
    """A Venue restored from snapshot bytes."""
    restore: Callable[[VenueConfig, bytes], Venue] = getattr(Venue, "restore")  # noqa: B009
    return restore(config, data)


def snapshot_state(config: VenueConfig, data: bytes) -> tuple[int, int, str]:
    """Restore snapshot bytes and return the Venue's ``(cmd, seq, state_hash)`` (for the journal's writer)."""
    venue = restore_venue(config, data)
    return venue.cmd, venue.seq, venue.state_hash()


# ---------------------------------------------------------------------------- replay
def apply_entry(venue: Venue, command: Command | UnparsedLine) -> list[Event]:
    """Apply one journaled command again and return its events."""
    if type(command) is UnparsedLine:
        return venue.reject_line(command.reason, command.detail, command.line)
    assert isinstance(command, Command)
    return venue.apply(command)


@dataclass
class Recovered:
    """What :func:`recover` rebuilt, and what it found on the way."""

    venue: Venue
    config: VenueConfig
    genesis: bytes
    last_seq: int
    last_hash: bytes
    snapshot_seq: int | None
    replayed: int
    notes: list[str] = field(default_factory=list)
    keys: set[Key] = field(default_factory=set)


class _SnapshotUnusable(Exception):
    pass


class _CheckAgain(Exception):
    """The parallel check of the entries before the snapshot failed: check them one by one to say where."""


class _PrefixCheck:
    """Check entries 1 … ``last`` in forked processes and this one, while this one restores and replays the tail.

    The forked processes take the first ranges (with their own connections), this process
    the last range once it has replayed the tail (:meth:`join`); each range is checked on
    its own (:func:`check_range`) and the ranges must then link: the first to ``genesis``,
    each to the one before, the last to ``end_hash`` (the chain hash the snapshot recorded).
    """

    def __init__(
        self,
        journal: Journal,
        open_journal: Callable[[], Journal],
        genesis: bytes,
        last: int,
        end_hash: bytes,
        workers: int,
    ) -> None:
        self.journal = journal
        self.genesis = genesis
        self.end_hash = end_hash
        # this process restores the snapshot first, so it takes a smaller share
        shares = [1.0] * (workers - 1) + [0.7]
        total = sum(shares)
        bounds = [1] + [1 + round(last * sum(shares[: i + 1]) / total) for i in range(workers - 1)] + [last + 1]
        self.ranges = [(lo, hi - 1) for lo, hi in itertools.pairwise(bounds) if hi > lo]
        context = multiprocessing.get_context("fork")
        self._jobs: list[tuple[multiprocessing.process.BaseProcess, int]] = []
        for lo, hi in self.ranges[:-1]:
            read_end, write_end = os.pipe()
            job = context.Process(target=_check_range_main, args=(open_journal, lo, hi, write_end), daemon=True)
            job.start()
            os.close(write_end)
            self._jobs.append((job, read_end))

    def join(self) -> bool:
        """Check the last range here, wait for the others; True when all hold and link from genesis to the end."""
        lo, hi = self.ranges[-1]
        own = check_range(self.journal.scan(lo, hi), lo, hi)
        results = []
        for job, read_end in self._jobs:
            with os.fdopen(read_end, "rb") as f:
                data = f.read()
            job.join()
            results.append(_range_result.decode(data) if data and job.exitcode == 0 else (False, b"", b""))
        results.append(own)
        prev = self.genesis
        for ok, first_prev, last_hash in results:
            if not ok or first_prev != prev:
                return False
            prev = last_hash
        return prev == self.end_hash


_range_result = msgspec.msgpack.Decoder(tuple[bool, bytes, bytes])


def _check_range_main(open_journal: Callable[[], Journal], first: int, last: int, out: int) -> None:
    try:
        journal = open_journal()
        result = check_range(journal.scan(first, last), first, last)
        journal.close()
        write_all(out, msgspec.msgpack.encode(result))
    except BaseException:
        os._exit(1)
    os._exit(0)


def recover(
    journal: Journal,
    *,
    use_snapshots: bool = True,
    discard_torn_tail: bool = True,
    collect_keys: bool = False,
    parallel: Callable[[], Journal] | None = None,
    workers: int = 2,
) -> Recovered:
    """Rebuild the Venue from ``journal``: latest valid snapshot + replay of the entries after it.

    ``collect_keys`` also gathers every entry's idempotency key (for ``onshore run``).
    ``parallel`` opens another connection to the same journal: then the entries before the
    snapshot are checked by ``workers`` forked processes while this one restores the
    snapshot and replays the rest (if they find anything wrong, the check is done again
    one entry at a time, to name the first bad one).
    Raises :class:`ChainBroken` when the chain is broken before its tail (or, with
    ``discard_torn_tail=False``, anywhere) and :class:`JournalError` when replay does not
    reproduce the journal. Runtime complexity: O(entries) to check the chain plus the
    cost of applying the entries after the snapshot.
    """
    config, _config_json, genesis = read_header(journal)
    notes: list[str] = []
    candidates: list[SnapshotRecord | None] = []
    if use_snapshots and snapshots_supported():
        candidates.extend(journal.snapshots())
    candidates.append(None)
    for snap in candidates:
        prefix = None
        if snap is not None and parallel is not None and hasattr(os, "fork"):
            prefix = _PrefixCheck(journal, parallel, genesis, snap.seq, snap.entry_hash, max(1, workers))
        venue = _start(journal, config, snap, notes)
        if venue is None:
            if prefix is not None:
                prefix.join()
            continue
        try:
            try:
                return _replay(journal, config, genesis, venue, snap, notes, discard_torn_tail, collect_keys, prefix)
            except _CheckAgain:
                venue = _start(journal, config, snap, [])
                assert venue is not None
                return _replay(journal, config, genesis, venue, snap, notes, discard_torn_tail, collect_keys, None)
        except _SnapshotUnusable as why:
            notes.append(str(why))
    raise AssertionError("unreachable: recovery without a snapshot always returns or raises")


def _start(journal: Journal, config: VenueConfig, snap: SnapshotRecord | None, notes: list[str]) -> Venue | None:
    if snap is None:
        return Venue(config)
    data = journal.snapshot_data(snap.seq)
    if data is None:
        return None
    if snapshot_hash(snap.seq, snap.event_seq, snap.state_hash, snap.entry_hash, data) != snap.hash:
        notes.append(f"journal: snapshot at seq {snap.seq} fails its own hash: not used")
        return None
    try:
        venue = restore_venue(config, data)
    except Exception as exc:
        notes.append(f"journal: snapshot at seq {snap.seq} does not restore ({type(exc).__name__}: {exc}): not used")
        return None
    if venue.cmd != snap.seq or venue.state_hash() != snap.state_hash:
        notes.append(f"journal: snapshot at seq {snap.seq} restores to a different state: not used")
        return None
    return venue


def _replay(
    journal: Journal,
    config: VenueConfig,
    genesis: bytes,
    venue: Venue,
    snap: SnapshotRecord | None,
    notes: list[str],
    discard_torn_tail: bool,
    collect_keys: bool,
    prefix: _PrefixCheck | None,
) -> Recovered:
    start = snap.seq if snap is not None else 0
    if prefix is not None:
        assert snap is not None
        check = ChainCheck(snap.entry_hash, first_seq=start + 1)
        rows = journal.scan(start + 1)
    else:
        check = ChainCheck(genesis, remember=(start,) if start else ())
        rows = journal.scan()
    keys: set[Key] = set()
    add_key = keys.add
    replayed = 0
    last_entry: bytes | None = None
    apply, reject_line = venue.apply, venue.reject_line
    try:
        for seq, key, entry, _prev, _hash in check.entries(rows):
            if collect_keys:
                add_key(key)
            if seq <= start:
                continue
            if seq == start + 1 and snap is not None and prefix is None and check.hashes.get(start) != snap.entry_hash:
                raise _SnapshotUnusable(f"journal: snapshot at seq {start} is not bound to this chain: not used")
            _, _, command, _ = decode_entry(entry)
            try:
                if type(command) is UnparsedLine:
                    reject_line(command.reason, command.detail, command.line)
                else:
                    apply(command)  # type: ignore[arg-type]
            except VenueStopped as exc:
                raise JournalError(f"replaying entry {seq} stopped the venue: {exc}") from exc
            if venue.cmd != seq:
                raise JournalError(
                    f"replaying entry {seq} numbered it {venue.cmd}: the journal does not match this build"
                )
            replayed += 1
            last_entry = entry
    finally:
        prefix_ok = prefix.join() if prefix is not None else True
    if not prefix_ok:
        raise _CheckAgain()
    if prefix is None and snap is not None:
        if check.last_seq < start:
            raise _SnapshotUnusable(f"journal: snapshot at seq {start} lies beyond the valid journal: not used")
        if start and check.hashes.get(start) != snap.entry_hash:
            raise _SnapshotUnusable(f"journal: snapshot at seq {start} is not bound to this chain: not used")
    if not check.ok:
        assert check.first_bad is not None and check.problem is not None
        if not (check.torn_tail and discard_torn_tail):
            raise ChainBroken(check.first_bad, check.problem, torn_tail=check.torn_tail)
        removed = journal.discard_from(check.first_bad)
        notes.append(
            f"journal: torn tail discarded: {removed} entr{'y' if removed == 1 else 'ies'} from seq {check.first_bad} "
            f"({check.problem}); recovered through seq {check.last_seq}"
        )
    if last_entry is not None:
        _check_last_events(venue, last_entry)
    if collect_keys and prefix is not None:
        keys.update(journal.keys())
    return Recovered(
        venue=venue,
        config=config,
        genesis=genesis,
        last_seq=check.last_seq,
        last_hash=check.last_hash,
        snapshot_seq=snap.seq if snap is not None else None,
        replayed=replayed,
        notes=notes,
        keys=keys,
    )


def _check_last_events(venue: Venue, entry: bytes) -> None:
    """The event counter after replay must be where the journal's last stored event left it."""
    seq, _, _, raw_events = decode_entry(entry)
    stored: list[dict[str, Any]] = json.loads(bytes(raw_events))
    if stored and stored[-1]["seq"] != venue.seq:
        raise JournalError(
            f"replay reached event {venue.seq} but entry {seq} recorded event {stored[-1]['seq']}: "
            "the journal does not match this build"
        )


__all__ = [
    "Recovered",
    "apply_entry",
    "config_from_json",
    "effective_config",
    "new_meta",
    "read_header",
    "recover",
    "restore_venue",
    "snapshot_state",
    "snapshots_supported",
    "take_snapshot",
]
