"""Running the Venue durably: every command journaled, acknowledged only once it is durable.

:class:`DurableVenue` wraps a Venue and a :class:`~onshore.journal.commit.Committer`.
It applies each command at once (the Venue is ahead of the disk, as in LMAX's design)
and gathers the entries into batches; a batch goes to the journal when it is full, when
the input runs dry, or when a snapshot falls due. The acknowledgments come from the
journal's writer after the batch's transaction has committed.

:func:`run_journal` is ``onshore run``: take the journal's lock, recover (latest valid
snapshot + replay), skip the input lines already applied (by idempotency key), apply the
rest durably.
"""

from __future__ import annotations

import functools
import gc
import os
import select
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from onshore.config.load import ConfigError
from onshore.core.commands import Command, MalformedCommand, decode_command
from onshore.core.events import CommandRejected, Event
from onshore.core.spec import VenueConfig
from onshore.journal.base import ConfigMismatch, JournalError
from onshore.journal.commit import Committer, InlineCommitter, ProcessCommitter, die_with_parent, write_all
from onshore.journal.format import Key, UnparsedLine, encode_entry, pack_batch
from onshore.journal.lock import JournalLock
from onshore.journal.recovery import (
    config_from_json,
    effective_config,
    new_meta,
    read_header,
    recover,
    snapshot_state,
    snapshot_with_hash,
    snapshots_supported,
    take_snapshot,
)
from onshore.journal.sqlite import SQLiteJournal
from onshore.venue import Venue
from onshore.venue.errors import VenueStopped

DEFAULT_BATCH = 4096
DEFAULT_SNAPSHOT_EVERY = 100_000


class DurableVenue:
    """A Venue whose every command is journaled in batches (group commit).

    ``batch`` caps the commands per transaction; ``snapshot_every`` (0: never) takes a
    snapshot after every multiple of that many commands. Events returned by
    :meth:`apply` are not durable yet: durability is the committer's to report.

    Each entry is encoded right after its command is applied (its objects are still in the
    CPU's caches and die young); a batch is the encoded entries, their keys and the
    sequence numbers of the rejected ones (:func:`~onshore.journal.format.pack_batch`).
    """

    def __init__(self, venue: Venue, committer: Committer, *, batch: int = DEFAULT_BATCH, snapshot_every: int = 0):
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.venue = venue
        self.committer = committer
        self.batch = batch
        self.snapshot_every = snapshot_every
        self._entries: list[bytes] = []  # encoded, not yet handed to the journal
        self._keys: list[Key] = []
        self._rejected: list[int] = []
        self._forked: ForkedSnapshot | None = None  # a snapshot being taken in a forked process
        self._first = venue.cmd + 1  # the first seq of the batch being gathered
        self._next_snapshot = (venue.cmd // snapshot_every + 1) * snapshot_every if snapshot_every > 0 else 1 << 62
        self._flush_at = self._limit()

    def _limit(self) -> int:
        return min(self.venue.cmd + self.batch, self._next_snapshot)

    def apply(self, command: Command, key: Key) -> list[Event]:
        """Apply one command and queue its entry for the journal; return its events."""
        events = self.venue.apply(command)
        self._queue(key, command, events)
        return events

    def apply_all(self, commands: Iterable[tuple[Key, Command]]) -> None:
        """Apply many commands; the same as :meth:`apply` for each, with less overhead per command."""
        venue = self.venue
        apply = venue.apply
        add_entry = self._entries.append
        add_key = self._keys.append
        add_rejected = self._rejected.append
        flush_at = self._flush_at
        for key, command in commands:
            events = apply(command)
            seq = venue.cmd
            add_entry(encode_entry((seq, key, command, events)))
            add_key(key)
            if events and type(events[0]) is CommandRejected:
                add_rejected(seq)
            if seq >= flush_at:
                self.flush()
                flush_at = self._flush_at

    def reject_line(self, number: int, line: bytes, error: MalformedCommand) -> list[Event]:
        """Number and journal an input line that is not a command, as ``onshore replay`` does."""
        detail = f"line {number}: {error.detail}"
        events = self.venue.reject_line(error.reason, detail, number)
        text = line.decode("utf-8", "backslashreplace")
        self._queue(number, UnparsedLine(line=number, text=text, reason=error.reason, detail=detail), events)
        return events

    def _queue(self, key: Key, record: Any, events: list[Event]) -> None:
        seq = self.venue.cmd
        self._entries.append(encode_entry((seq, key, record, events)))
        self._keys.append(key)
        if events and type(events[0]) is CommandRejected:
            self._rejected.append(seq)
        if seq >= self._flush_at:
            self.flush()

    def flush(self) -> None:
        """Hand the entries gathered so far to the journal, and take a snapshot if one is due."""
        if self._entries:
            payload = pack_batch(self._first, self._entries, self._keys, self._rejected)
            self._entries.clear()
            self._keys.clear()
            self._rejected.clear()
            self.committer.submit_batch(payload)
        venue = self.venue
        self._first = venue.cmd + 1
        if self._forked is not None:
            self._maybe_submit_forked(wait=False)
        if venue.cmd >= self._next_snapshot and venue.stopped is None:
            committer = self.committer
            if isinstance(committer, ProcessCommitter) and snapshots_supported() and hasattr(os, "fork"):
                self._maybe_submit_forked(wait=True)  # one at a time
                committer.mark_snapshot(venue.cmd)
                self._forked = ForkedSnapshot(venue)
            else:
                data = take_snapshot(venue)
                state_hash = None if data is not None and committer.hashes_snapshots else venue.state_hash()
                committer.submit_snapshot(venue.cmd, venue.seq, state_hash, data)
            while self._next_snapshot <= venue.cmd:
                self._next_snapshot += self.snapshot_every
        self._flush_at = self._limit()

    def _maybe_submit_forked(self, *, wait: bool) -> None:
        forked = self._forked
        if forked is None:
            return
        done = forked.result(wait=wait)
        if done is not None:
            self._forked = None
            state_hash, data = done
            self.committer.submit_snapshot(forked.seq, forked.event_seq, state_hash, data)

    def close(self) -> int:
        """Flush, wait until everything is durable, stop the writer; return the last durable seq."""
        self.flush()
        self._maybe_submit_forked(wait=True)
        return self.committer.close()


class ForkedSnapshot:
    """Take the Venue's snapshot in a forked copy of this process, so that the Venue's thread pays only the fork.

    The child serializes the Venue as it was at the fork (``seq``, ``event_seq``) and hashes
    its state (``Venue.state_hash``, the live state's, which recovery then checks the restored
    snapshot against) into an unnamed temporary file, and exits; :meth:`result` collects
    ``(state_hash, bytes)`` once it has. The child dies with this process
    (``PR_SET_PDEATHSIG``). While it runs, the pages the Venue writes cost a fault and a copy
    each (they were shared at the fork): far less than the snapshot would take on this thread.
    """

    def __init__(self, venue: Venue) -> None:
        self.seq, self.event_seq = venue.cmd, venue.seq
        self._file = tempfile.TemporaryFile(prefix="onshore-snapshot-")  # noqa: SIM115 (closed by result())
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: write the snapshot and go, whatever happens
            code = 1
            try:
                # No collections in the child: it lives for one snapshot, and a collection would
                # write to the header of every object it inherited, copying those pages for nothing.
                gc.disable()
                die_with_parent()
                state_hash, data = snapshot_with_hash(venue)
                write_all(self._file.fileno(), state_hash.encode() + b"\n" + (data or b""))
                code = 0
            finally:
                os._exit(code)
        self._pid = pid

    def result(self, *, wait: bool) -> tuple[str, bytes] | None:
        """``(state_hash, bytes)`` once the child has written them (None while it has not, unless ``wait``)."""
        pid, status = os.waitpid(self._pid, 0 if wait else os.WNOHANG)
        if pid == 0:
            return None
        with self._file:
            if os.waitstatus_to_exitcode(status) != 0:
                raise JournalError(f"the process taking the snapshot after entry {self.seq} failed ({status})")
            self._file.seek(0)
            state_hash, _, data = self._file.read().partition(b"\n")
            return state_hash.decode(), data


# ---------------------------------------------------------------------------------- onshore run
def input_lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """Yield the stream's lines; yield None whenever no further input is ready yet.

    A None tells the caller to commit what it holds, so that an interactive sender gets
    its acknowledgments without waiting for a full batch. Files never pause.
    """
    fd = stream.fileno()
    if stat.S_ISREG(os.fstat(fd).st_mode):
        yield from stream
        return
    buffered = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            yield None
            select.select([fd], [], [])
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        lines = (buffered + chunk).split(b"\n")
        buffered = lines.pop()
        yield from lines
    if buffered:
        yield buffered


def open_committer(
    path: Path, config: VenueConfig, last_seq: int | None, last_hash: bytes | None, ack_fd: int | None, writer: str
) -> Committer:
    """A committer for the journal at ``path``: ``process`` (forked writer) or ``inline``.

    A process writer may be opened before recovery, without ``last_seq`` and ``last_hash``,
    and then started (:meth:`ProcessCommitter.start`); an inline one needs them.
    """
    if writer == "process" and hasattr(os, "fork"):
        hasher = functools.partial(snapshot_state, config) if snapshots_supported() else None
        return ProcessCommitter(lambda: SQLiteJournal(path), last_seq, last_hash, ack_fd, hasher)
    if writer not in ("process", "inline"):
        raise ValueError(f"unknown writer {writer!r}: use 'process' or 'inline'")
    if last_seq is None or last_hash is None:
        raise ValueError("an inline writer needs the journal's last seq and hash")
    return InlineCommitter(SQLiteJournal(path), last_seq, last_hash, ack_fd)


def run_journal(
    journal_path: Path,
    commands: Path,
    *,
    config_text: str | None = None,
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
    batch: int = DEFAULT_BATCH,
    writer: str = "process",
    ack_fd: int | None = 1,
    log: Callable[[str], None] | None = None,
) -> int:
    """``onshore run``: recover from the journal, then apply the new commands of ``commands`` durably.

    Returns the last durable sequence number. Raises :class:`JournalError` (and its
    subclasses) when the journal cannot be used, :class:`ConfigError` for a bad
    configuration and :class:`VenueStopped` when a command breaks an invariant (after
    making everything before it durable).
    """
    say = log if log is not None else _stderr
    stream = sys.stdin.buffer if str(commands) == "-" else commands.open("rb")  # a missing file: before any change
    lock = JournalLock(journal_path)
    try:
        lock.acquire()
    except BaseException:
        stream.close()
        raise
    early: ProcessCommitter | None = None
    try:
        try:
            journal = SQLiteJournal(journal_path)
            try:
                config_json = effective_config(config_text) if config_text is not None else None
                meta = journal.meta()
                if not meta:
                    config_json = config_json if config_json is not None else effective_config(None)
                    config_from_json(config_json)  # validate before anything is written
                    journal.initialize(new_meta(config_json))
                elif config_json is not None and config_json.decode() != meta.get("config"):
                    read_header(journal)
                    raise ConfigMismatch(
                        f"{journal_path} was created with a different configuration; run it without --config "
                        "(it keeps its own) or start a new journal"
                    )
                config = read_header(journal)[0]
            finally:
                journal.close()
            started = time.perf_counter()
            if writer == "process" and hasattr(os, "fork"):
                # forked now, while this process is small and holds no connection (see ProcessCommitter),
                # started once recovery has found where the journal ends
                opened = open_committer(journal_path, config, None, None, ack_fd, writer)
                assert isinstance(opened, ProcessCommitter)
                early = opened
            journal = SQLiteJournal(journal_path)
            try:
                recovered = recover(
                    journal, collect_keys=True, parallel=functools.partial(SQLiteJournal, journal_path, readonly=True)
                )
                for note in recovered.notes:
                    say(note)
                if recovered.last_seq:
                    how = (
                        f"snapshot at seq {recovered.snapshot_seq} + {recovered.replayed} entries"
                        if recovered.snapshot_seq is not None
                        else f"full replay of {recovered.replayed} entries"
                    )
                    say(
                        f"journal: recovered through seq {recovered.last_seq} ({how}) "
                        f"in {time.perf_counter() - started:.2f} s"
                    )
            finally:
                journal.close()
            committer: Committer
            if early is not None:
                early.start(recovered.last_seq, recovered.last_hash)
                committer = early
            else:
                committer = open_committer(
                    journal_path, recovered.config, recovered.last_seq, recovered.last_hash, ack_fd, writer
                )
        except BaseException:
            if early is not None:
                early.abort()
            raise
        durable = DurableVenue(recovered.venue, committer, batch=batch, snapshot_every=snapshot_every)
        skipped = 0
        try:
            skipped = _apply_lines(durable, input_lines(stream), recovered.keys)
        except VenueStopped:
            durable.close()
            raise
        except BaseException:
            abort = getattr(committer, "abort", None)
            if abort is not None:
                abort()
            raise
        last = durable.close()
        if skipped:
            say(f"journal: skipped {skipped} input lines already in the journal (by idempotency key)")
        return last
    finally:
        stream.close()
        lock.release()


def _apply_lines(durable: DurableVenue, lines: Iterator[bytes | None], keys: set[Key]) -> int:
    skipped = 0
    number = 0
    for raw in lines:
        if raw is None:
            durable.flush()
            continue
        number += 1
        line = raw.strip()
        if not line:
            continue
        try:
            command = decode_command(line)
        except MalformedCommand as exc:
            if number in keys:
                skipped += 1
            else:
                durable.reject_line(number, line, exc)
            continue
        key: Key = command.id if command.id is not None else number
        if key in keys:
            skipped += 1
            continue
        if command.id is not None:
            keys.add(command.id)
        durable.apply(command, key)
    return skipped


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_SNAPSHOT_EVERY",
    "ConfigError",
    "DurableVenue",
    "JournalError",
    "input_lines",
    "open_committer",
    "run_journal",
]
