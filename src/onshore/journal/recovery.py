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
- With ``parallel``, forked processes check the chain (:class:`_ParallelCheck`) while this
  one restores and replays; what they find wrong sends recovery back to the one-by-one
  check, so the answer and the message are the same as without them.
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


def snapshot_with_hash(venue: Venue) -> tuple[str, bytes | None]:
    """``(venue.state_hash(), take_snapshot(venue))``, the client-order-id registry encoded once for both."""
    if not snapshots_supported():
        return venue.state_hash(), None
    from onshore.venue.snapshot import snapshot_and_hash

    return snapshot_and_hash(venue)


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
    """The parallel check failed: check the entries one by one, replaying as they pass, to say where."""


class _ParallelCheck:
    """Check entries 1 … ``last`` in forked processes (and this one) while this one restores and replays.

    With a snapshot, ``end_hash`` is the chain hash it recorded at ``last``: the forked
    processes take the first ranges (with their own connections) and this process the last
    one once it has replayed the tail (``own_share``, :meth:`join`). Without a snapshot
    (``end_hash`` None) this process is busy replaying every entry, so the forked processes
    take all of them and the chain may end at any hash. Each range is checked on its own
    (:func:`check_range`) and the ranges must then link: the first to ``genesis``, each to
    the one before, the last to ``end_hash``. ``keys`` then holds every entry's key, if
    asked for.
    """

    def __init__(
        self,
        journal: Journal,
        open_journal: Callable[[], Journal],
        genesis: bytes,
        last: int,
        end_hash: bytes | None,
        workers: int,
        *,
        own_share: float,
        collect_keys: bool,
    ) -> None:
        self.journal = journal
        self.genesis = genesis
        self.end_hash = end_hash
        self.last_hash = genesis
        self.collect_keys = collect_keys
        self.keys: list[Key] = []
        forked = max(0, workers - 1) if own_share else max(1, workers)
        shares = [1.0] * forked + ([own_share] if own_share else [])
        total = sum(shares)
        bounds = [1] + [1 + round(last * sum(shares[: i + 1]) / total) for i in range(len(shares) - 1)] + [last + 1]
        self.ranges = [(lo, hi - 1) for lo, hi in itertools.pairwise(bounds) if hi > lo]
        self._own = self.ranges[-1] if own_share and self.ranges else None
        context = multiprocessing.get_context("fork")
        self._jobs: list[tuple[multiprocessing.process.BaseProcess, int]] = []
        for lo, hi in self.ranges[:-1] if own_share else self.ranges:
            read_end, write_end = os.pipe()
            job = context.Process(
                target=_check_range_main, args=(open_journal, lo, hi, collect_keys, write_end), daemon=True
            )
            job.start()
            os.close(write_end)
            self._jobs.append((job, read_end))

    def join(self) -> bool:
        """Check this process's range, wait for the others; True when all hold and link from genesis to the end."""
        own_keys: list[Key] = []
        own = None
        if self._own is not None:
            lo, hi = self._own
            own = check_range(self.journal.scan_links(lo, hi), lo, hi, own_keys if self.collect_keys else None)
        results: list[tuple[bool, bytes, bytes]] = []
        for job, read_end in self._jobs:
            with os.fdopen(read_end, "rb") as f:
                data = f.read()
            job.join()
            if data and job.exitcode == 0:
                ok, first_prev, last_hash, keys = _range_result.decode(data)
                results.append((ok, first_prev, last_hash))
                self.keys.extend(keys)
            else:
                results.append((False, b"", b""))
        if own is not None:
            results.append(own)
            self.keys.extend(own_keys)
        prev = self.genesis
        for ok, first_prev, last_hash in results:
            if not ok or first_prev != prev:
                return False
            prev = last_hash
        self.last_hash = prev
        return self.end_hash is None or prev == self.end_hash


_range_result = msgspec.msgpack.Decoder(tuple[bool, bytes, bytes, list[Key]])


def _check_range_main(open_journal: Callable[[], Journal], first: int, last: int, collect_keys: bool, out: int) -> None:
    try:
        journal = open_journal()
        keys: list[Key] = []
        ok, first_prev, last_hash = check_range(
            journal.scan_links(first, last), first, last, keys if collect_keys else None
        )
        journal.close()
        write_all(out, msgspec.msgpack.encode((ok, first_prev, last_hash, keys)))
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
    ``parallel`` opens another connection to the same journal: then the chain is checked
    by forked processes while this one restores and replays. With a snapshot, ``workers -
    1`` forked processes and this one (after the tail) check the entries before it; without
    one, ``workers - 1`` forked processes check every entry while this one replays them.
    If they find anything wrong, recovery starts again checking one entry at a time, to
    name the first bad one (or to discard a torn tail).
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
    fork = parallel is not None and hasattr(os, "fork")
    for snap in candidates:
        check = None
        if fork and parallel is not None:
            if snap is not None:
                check = _ParallelCheck(
                    journal,
                    parallel,
                    genesis,
                    snap.seq,
                    snap.entry_hash,
                    workers,
                    own_share=0.7,
                    collect_keys=collect_keys,
                )
            elif (last := journal.last()) is not None:
                check = _ParallelCheck(
                    journal, parallel, genesis, last[0], None, workers - 1, own_share=0.0, collect_keys=collect_keys
                )
        venue = _start(journal, config, snap, notes)
        if venue is None:
            if check is not None:
                check.join()
            continue
        try:
            try:
                recovered = _replay(
                    journal, config, genesis, venue, snap, notes, discard_torn_tail, collect_keys, check
                )
            except _CheckAgain:
                venue = _start(journal, config, snap, [])
                assert venue is not None
                recovered = _replay(journal, config, genesis, venue, snap, notes, discard_torn_tail, collect_keys, None)
            recovered.notes = notes
            return recovered
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


def _apply_entry(venue: Venue, seq: int, entry: bytes) -> None:
    """Apply a journaled entry again; it must come out with its own command number."""
    _, _, command, _ = decode_entry(entry)
    try:
        if type(command) is UnparsedLine:
            venue.reject_line(command.reason, command.detail, command.line)
        else:
            venue.apply(command)  # type: ignore[arg-type]
    except VenueStopped as exc:
        raise JournalError(f"replaying entry {seq} stopped the venue: {exc}") from exc
    if venue.cmd != seq:
        raise JournalError(f"replaying entry {seq} numbered it {venue.cmd}: the journal does not match this build")


def _replay(
    journal: Journal,
    config: VenueConfig,
    genesis: bytes,
    venue: Venue,
    snap: SnapshotRecord | None,
    notes: list[str],
    discard_torn_tail: bool,
    collect_keys: bool,
    parallel: _ParallelCheck | None,
) -> Recovered:
    if parallel is not None and snap is None:
        return _replay_while_checked(journal, config, genesis, venue, parallel)
    start = snap.seq if snap is not None else 0
    if parallel is not None:
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
    try:
        for seq, key, entry, _prev, _hash in check.entries(rows):
            if collect_keys:
                add_key(key)
            if seq <= start:
                continue
            if (
                seq == start + 1
                and snap is not None
                and parallel is None
                and check.hashes.get(start) != snap.entry_hash
            ):
                raise _SnapshotUnusable(f"journal: snapshot at seq {start} is not bound to this chain: not used")
            _apply_entry(venue, seq, entry)
            replayed += 1
            last_entry = entry
    finally:
        parallel_ok = parallel.join() if parallel is not None else True
    if not parallel_ok:
        raise _CheckAgain()
    if parallel is None and snap is not None:
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
    if collect_keys and parallel is not None:
        keys.update(parallel.keys)
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


def _replay_while_checked(
    journal: Journal, config: VenueConfig, genesis: bytes, venue: Venue, parallel: _ParallelCheck
) -> Recovered:
    """Replay every entry while forked processes check the chain; any doubt: :class:`_CheckAgain`.

    The entries are applied before they are known to be good, so nothing here is trusted
    until the check has passed: a failure of the check, or of replay while the check
    fails too, sends recovery back to the one-by-one check, which names the first bad
    entry (or discards a torn tail) and replays only what passed.
    """
    last = parallel.ranges[-1][1]
    expected = 1
    last_entry: bytes | None = None
    try:
        for rows in journal.scan_links(1, last):
            for _key, entry, _prev, _hash in rows:
                _apply_entry(venue, expected, entry)
                last_entry = entry
                expected += 1
    except Exception as exc:
        if parallel.join():
            raise
        raise _CheckAgain() from exc
    if not parallel.join() or expected != last + 1:
        raise _CheckAgain()
    if last_entry is not None:
        _check_last_events(venue, last_entry)
    return Recovered(
        venue=venue,
        config=config,
        genesis=genesis,
        last_seq=last,
        last_hash=parallel.last_hash,
        snapshot_seq=None,
        replayed=last,
        notes=[],
        keys=set(parallel.keys),
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
    "snapshot_with_hash",
    "snapshots_supported",
    "take_snapshot",
]
