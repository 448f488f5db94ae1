"""Group commit: many commands per durable transaction, and no acknowledgment before it.

The Venue's thread applies commands and hands the journal one **batch** at a time: the
entries ``[seq, key, command, events]`` of many commands, each encoded right after it was
applied, packed back to back with their lengths, keys and which were rejected
(:func:`~onshore.journal.format.pack_batch`). A :class:`ChainWriter` then

1. finds the entries by their lengths (no JSON is parsed on the way),
2. hash-chains them (``hash = SHA-256(prev_hash ‖ entry)``),
3. appends them all in one transaction, which returns only once SQLite has synced it,
4. and only then acknowledges each command: ``{"seq": …, "status": "accepted"|"rejected"}``.

A crash at any point loses only commands that were never acknowledged; their input is
still with the sender, who submits it again, and the idempotency key makes that safe.

Two committers drive a ChainWriter:

- :class:`InlineCommitter` runs it in the caller's thread: simple, the Venue waits for
  every commit.
- :class:`ProcessCommitter` runs it in a forked writer process, so the Venue applies the
  next batch while the previous one is hashed, stored and synced: the Venue's own speed
  is then the limit. The writer dies with its parent (``PR_SET_PDEATHSIG``); a batch is
  either committed whole or not at all, whatever moment the pair is killed.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import ctypes
import gc
import hashlib
import itertools
import multiprocessing
import os
import queue
import signal
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Final, Protocol

import msgspec

from onshore.journal.base import EntryBatch, Journal, JournalError, SnapshotRecord
from onshore.journal.format import HASH_SIZE, entry_prefix, snapshot_hash, unpack_batch

_ACCEPTED: Final = b'{"seq": %d, "status": "accepted"}\n'
_REJECTED: Final = b'{"seq": %d, "status": "rejected"}\n'


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class ChainWriter:
    """Hash-chain batches of entries, append each in one durable transaction, then acknowledge.

    ``ack_fd`` receives one JSON line per command after its transaction has committed
    (None: no acknowledgments are written). Runtime complexity: O(batch bytes) per batch,
    plus one sync.
    """

    def __init__(
        self,
        journal: Journal,
        last_seq: int,
        last_hash: bytes,
        ack_fd: int | None = None,
        snapshot_state: SnapshotState | None = None,
    ) -> None:
        self.journal = journal
        self.last_seq = last_seq
        self.last_hash = last_hash
        self.ack_fd = ack_fd
        self.snapshot_state = snapshot_state

    def write_batch(self, payload: bytes) -> int:
        """Store a batch durably, acknowledge its commands and return the last sequence number."""
        return self.write_batches([payload])

    def write_batches(self, payloads: list[bytes], snapshots: Sequence[SnapshotRecord] = ()) -> int:
        """Store batches (and ``snapshots``) in one durable transaction, then acknowledge; return the last seq."""
        batches: list[EntryBatch] = []
        acks: list[bytes] | None = [] if self.ack_fd is not None else None
        expected, prev = self.last_seq + 1, self.last_hash
        for payload in payloads:
            batch = _chain_batch(payload, expected, prev, acks)
            if len(batch):
                batches.append(batch)
                expected += len(batch)
                prev = batch.hashes[-HASH_SIZE:]
        if not batches:
            if snapshots:
                self.journal.append([], snapshots)
            return self.last_seq
        self.journal.append(batches, snapshots)
        self.last_seq, self.last_hash = expected - 1, prev
        if self.ack_fd is not None and acks:
            write_all(self.ack_fd, b"".join(acks))
        return self.last_seq

    def ensure_at(self, seq: int) -> None:
        """Raise unless entry ``seq`` is the last one written (a snapshot taken after it comes now)."""
        if seq != self.last_seq:
            raise JournalError(f"snapshot after entry {seq}, but the journal ends at entry {self.last_seq}")

    def write_snapshot(
        self, seq: int, event_seq: int, state_hash: str | None, data: bytes | None, chain_hash: bytes | None = None
    ) -> None:
        """Store a snapshot taken after entry ``seq``, bound to the chain hash there.

        Without ``chain_hash``, entry ``seq`` must be the last one written. Without
        ``state_hash``, restore the snapshot here (``snapshot_state``) to learn it.
        """
        if chain_hash is None:
            self.ensure_at(seq)
            chain_hash = self.last_hash
        if state_hash is None:
            if data is None or self.snapshot_state is None:
                raise JournalError(f"the snapshot after entry {seq} comes without its state hash")
            state_hash = restored_hash(seq, event_seq, self.snapshot_state(data))
        self.journal.append([], [snapshot_record(seq, event_seq, state_hash, chain_hash, data)])


def restored_hash(seq: int, event_seq: int, restored: tuple[int, int, str]) -> str:
    """The state hash of a restored snapshot ``(cmd, seq, state_hash)``, checked to be where it was taken."""
    if restored[:2] != (seq, event_seq):
        raise JournalError(f"the snapshot after entry {seq} restores to entry {restored[0]}, event {restored[1]}")
    return restored[2]


def snapshot_record(seq: int, event_seq: int, state_hash: str, chain_hash: bytes, data: bytes | None) -> SnapshotRecord:
    """The record of a snapshot taken after entry ``seq``, whose chain hash is ``chain_hash``."""
    digest = snapshot_hash(seq, event_seq, state_hash, chain_hash, data)
    return SnapshotRecord(seq, event_seq, state_hash, chain_hash, digest, data)


class _SnapshotHasher:
    """Restore snapshots on a thread of the writer process, so that its commits never wait for one.

    Restoring a snapshot of a large state takes a few tenths of a second; done between two
    commits it would hold up every batch behind it (and then the Venue, once the pipe is
    full). On this thread it runs while the writer waits for the disk, and its record goes
    into the first transaction after it is ready (:meth:`ready`), bound to the chain hash the
    journal had when the snapshot came.
    """

    def __init__(self, snapshot_state: SnapshotState) -> None:
        self._state = snapshot_state
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="onshore-snapshot")
        self._pending: collections.deque[tuple[concurrent.futures.Future[tuple[int, int, str]], int, int, bytes, bytes]]
        self._pending = collections.deque()

    def submit(self, seq: int, event_seq: int, data: bytes, chain_hash: bytes) -> None:
        self._pending.append((self._pool.submit(self._state, data), seq, event_seq, data, chain_hash))

    def ready(self, *, wait: bool = False) -> list[SnapshotRecord]:
        """The records of the snapshots restored so far, in order (all of them with ``wait``)."""
        records = []
        while self._pending and (wait or self._pending[0][0].done()):
            future, seq, event_seq, data, chain_hash = self._pending.popleft()
            state_hash = restored_hash(seq, event_seq, future.result())
            records.append(snapshot_record(seq, event_seq, state_hash, chain_hash, data))
        return records


def _chain_batch(payload: bytes, expected: int, prev: bytes, acks: list[bytes] | None) -> EntryBatch:
    """Find the entries of a packed batch and hash-chain them onto ``prev``; add their acknowledgments.

    The entries are found by their lengths (no JSON is parsed); each must start with its
    own sequence number and key, so a batch that is not laid out as it says is refused
    before anything is stored. Runtime complexity: O(batch bytes); one SHA-256 per entry.
    """
    try:
        batch = unpack_batch(payload)
    except ValueError as exc:
        raise JournalError(f"a batch is not laid out as it says: {exc}") from exc
    first, lengths = batch.first_seq, batch.lengths
    if first != expected:
        raise JournalError(f"batch starts at entry {first}, but the journal ends at entry {expected - 1}")
    keys = batch.keys()
    if len(keys) != len(lengths):
        raise JournalError(f"a batch of {len(lengths)} entries comes with {len(keys)} keys")
    ends = list(itertools.accumulate(lengths))
    data, base = batch.data, batch.data_start
    sha256 = hashlib.sha256
    digests: list[bytes] = []
    append = digests.append
    start_hash = prev
    start = 0
    seq = first
    for end, key in zip(ends, keys, strict=True):
        if not payload.startswith(
            b"[%d,%d," % (seq, key) if type(key) is int else entry_prefix(seq, key), base + start
        ):
            raise JournalError(f"entry {seq} of a batch does not start with its own sequence number and key")
        h = sha256(prev)
        h.update(data[start:end])
        prev = h.digest()
        append(prev)
        start = end
        seq += 1
    if acks is not None:
        rejected = set(batch.rejected)
        acks.extend([(_REJECTED if seq in rejected else _ACCEPTED) % seq for seq in range(first, first + len(ends))])
    return EntryBatch(first, data, ends, keys, batch.keys_json, start_hash, b"".join(digests))


SnapshotState = Callable[[bytes], tuple[int, int, str]]
"""Restore snapshot bytes and return the Venue's ``(cmd, seq, state_hash)``."""


class Committer(Protocol):
    """Takes batches and snapshots from the Venue's thread and makes them durable.

    ``hashes_snapshots``: the committer works out a snapshot's state hash itself (off the
    Venue's thread), so :meth:`submit_snapshot` may be given ``state_hash=None``.
    """

    hashes_snapshots: bool

    def submit_batch(self, payload: bytes) -> None:
        """Hand over a batch; its acknowledgments follow once it is durable."""
        ...

    def submit_snapshot(self, seq: int, event_seq: int, state_hash: str | None, data: bytes | None) -> None:
        """Hand over a snapshot taken after the last entry submitted."""
        ...

    def durable_seq(self) -> int:
        """The highest sequence number known to be durable."""
        ...

    def close(self) -> int:
        """Make everything submitted durable, stop, and return the last durable sequence number."""
        ...


class InlineCommitter:
    """Run the :class:`ChainWriter` in the caller's thread: each submit returns once durable."""

    hashes_snapshots = False

    def __init__(self, journal: Journal, last_seq: int, last_hash: bytes, ack_fd: int | None = None) -> None:
        self.writer = ChainWriter(journal, last_seq, last_hash, ack_fd)

    def submit_batch(self, payload: bytes) -> None:
        self.writer.write_batch(payload)

    def submit_snapshot(self, seq: int, event_seq: int, state_hash: str | None, data: bytes | None) -> None:
        self.writer.write_snapshot(seq, event_seq, state_hash, data)

    def durable_seq(self) -> int:
        return self.writer.last_seq

    def close(self) -> int:
        self.writer.journal.close()
        return self.writer.last_seq


# ------------------------------------------------------------------------------ writer process
_FRAME: Final = struct.Struct("<cQ")  # kind, payload length
_BATCH: Final = b"B"
_SNAPSHOT: Final = b"S"
_CLOSE: Final = b"C"
_START: Final = b"P"  # the position (last seq, last hash) of a writer forked without one
_MARK: Final = b"M"  # a snapshot is being taken after the last entry sent: remember the chain hash there
_DURABLE: Final = b"D"  # replies: durable through seq (the length field)
_ERROR: Final = b"E"  # replies: an error message of that length follows
_READ_CHUNK: Final = 1 << 20
_QUEUED_FRAMES: Final = 16  # batches waiting for the writer at most (the Venue blocks beyond)
_snapshot_message = msgspec.msgpack.Decoder(tuple[int, int, str | None, bytes | None])
_start_message = msgspec.msgpack.Decoder(tuple[int, bytes])
_mark_message = msgspec.msgpack.Decoder(int)


class ProcessCommitter:
    """Run the :class:`ChainWriter` in a forked writer process (Linux and other POSIX systems).

    ``open_journal`` is called in the child to open its own connection to the journal
    (connections must not cross a fork). The Venue's thread only encodes batches and
    writes them to a pipe; the writer reports back what is durable. With ``snapshot_state``
    the writer also restores each snapshot to learn its state hash, which then costs the
    Venue's thread nothing.

    Without ``last_seq`` and ``last_hash`` the writer is forked at once but opens the journal
    only when :meth:`start` tells it where the journal ends. ``onshore run`` forks it before
    recovery, while this process is still small: every page the two processes share after a
    fork costs the Venue's thread a page fault and a copy the first time it writes to it, so
    a writer forked after recovery would make the Venue pay once for every page of its state.
    """

    def __init__(
        self,
        open_journal: Callable[[], Journal],
        last_seq: int | None,
        last_hash: bytes | None,
        ack_fd: int | None = None,
        snapshot_state: SnapshotState | None = None,
    ) -> None:
        self.hashes_snapshots = snapshot_state is not None
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        _grow_pipe(to_child_w)
        context = multiprocessing.get_context("fork")
        self._process = context.Process(
            target=_writer_main,
            args=(
                open_journal,
                last_seq,
                last_hash,
                ack_fd,
                snapshot_state,
                to_child_r,
                from_child_w,
                (to_child_w, from_child_r),
            ),
            name="onshore-journal-writer",
            daemon=True,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        self._process.start()
        os.close(to_child_r)
        os.close(from_child_w)
        self._out = to_child_w
        self._in = from_child_r
        os.set_blocking(self._in, False)
        self._durable = last_seq if last_seq is not None else 0
        self._replies = b""
        self._error: str | None = None
        self._closed = False
        self._started = last_seq is not None

    def start(self, last_seq: int, last_hash: bytes) -> None:
        """Tell a writer forked without a position where the journal ends; it then opens the journal."""
        if self._started:
            raise JournalError("the journal writer has started already")
        self._started = True
        self._durable = last_seq
        self._send(_START, msgspec.msgpack.encode((last_seq, last_hash)))

    def submit_batch(self, payload: bytes) -> None:
        self._send(_BATCH, payload)

    def submit_snapshot(self, seq: int, event_seq: int, state_hash: str | None, data: bytes | None) -> None:
        self._send(_SNAPSHOT, msgspec.msgpack.encode((seq, event_seq, state_hash, data)))

    def mark_snapshot(self, seq: int) -> None:
        """Say that a snapshot is being taken after entry ``seq`` (the last one submitted); its bytes come later.

        The writer remembers the chain hash at ``seq``, so that :meth:`submit_snapshot` may
        come any number of batches later.
        """
        self._send(_MARK, msgspec.msgpack.encode(seq))

    def durable_seq(self) -> int:
        self._read_replies(block=False)
        return self._durable

    def wait_durable(self, seq: int) -> None:
        """Block until entry ``seq`` is durable."""
        while self._durable < seq:
            if not self._read_replies(block=True):
                self._fail(f"the journal writer stopped before entry {seq} was durable")

    def close(self) -> int:
        if self._closed:
            return self._durable
        self._closed = True
        with contextlib.suppress(BrokenPipeError):
            self._send_frame(_CLOSE, b"")
        os.close(self._out)
        while self._read_replies(block=True):
            pass
        os.close(self._in)
        self._process.join()
        if self._error is not None:
            raise JournalError(f"journal writer failed: {self._error}")
        if self._process.exitcode != 0:
            raise JournalError(f"journal writer exited with code {self._process.exitcode}")
        return self._durable

    def abort(self) -> None:
        """Stop the writer at once; whatever it has committed stays committed."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()

    # ---------------------------------------------------------------- plumbing
    def _send(self, kind: bytes, payload: bytes) -> None:
        if self._closed:
            raise JournalError("the journal is closed")
        self._read_replies(block=False)
        try:
            self._send_frame(kind, payload)
        except BrokenPipeError:
            while self._read_replies(block=True):
                pass
            self._fail("the journal writer stopped")

    def _send_frame(self, kind: bytes, payload: bytes) -> None:
        write_all(self._out, _FRAME.pack(kind, len(payload)))
        if payload:
            write_all(self._out, payload)

    def _read_replies(self, *, block: bool) -> bool:
        """Read what the writer said; return False once it has closed its end."""
        os.set_blocking(self._in, block)
        try:
            chunk = os.read(self._in, 1 << 16)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        self._replies += chunk
        while len(self._replies) >= _FRAME.size:
            kind, value = _FRAME.unpack_from(self._replies)
            if kind == _DURABLE:
                self._durable = max(self._durable, value)
                self._replies = self._replies[_FRAME.size :]
            elif kind == _ERROR:
                if len(self._replies) < _FRAME.size + value:
                    break
                self._error = self._replies[_FRAME.size : _FRAME.size + value].decode("utf-8", "replace")
                self._replies = self._replies[_FRAME.size + value :]
            else:
                self._fail(f"unexpected reply {kind!r} from the journal writer")
        if self._error is not None:
            self._fail(self._error)
        return True

    def _fail(self, why: str) -> None:
        self._closed = True
        self.abort()
        raise JournalError(f"journal writer failed: {self._error or why}")


def _grow_pipe(fd: int) -> None:
    """Let the pipe to the writer hold 1 MiB (Linux), so fewer writes block."""
    import fcntl

    f_setpipe_sz: int | None = getattr(fcntl, "F_SETPIPE_SZ", None)
    if f_setpipe_sz is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, f_setpipe_sz, _READ_CHUNK)


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _writer_main(
    open_journal: Callable[[], Journal],
    last_seq: int | None,
    last_hash: bytes | None,
    ack_fd: int | None,
    snapshot_state: SnapshotState | None,
    inbox: int,
    reply: int,
    parent_ends: tuple[int, int],
) -> None:
    parent = os.getppid()
    die_with_parent()
    for fd in parent_ends:
        os.close(fd)
    if os.getppid() != parent:
        os._exit(0)
    gc.freeze()  # the parent's objects, inherited by the fork: never scan (or copy) them
    try:
        frames: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue(maxsize=_QUEUED_FRAMES)
        threading.Thread(target=_read_frames, args=(inbox, frames), daemon=True).start()
        if last_seq is None or last_hash is None:
            first = frames.get()
            if first is None or first[0] == _CLOSE:  # closed (or gone) before it started: nothing to do
                os._exit(0)
            if first[0] != _START:
                raise JournalError(f"the journal writer got {first[0]!r} before its start")
            last_seq, last_hash = _start_message.decode(first[1])
        journal = open_journal()
        writer = ChainWriter(journal, last_seq, last_hash, ack_fd, snapshot_state)
        hasher = _SnapshotHasher(snapshot_state) if snapshot_state is not None else None
        marks: dict[int, bytes] = {}  # chain hashes where snapshots are being taken
        backlog: collections.deque[tuple[bytes, bytes] | None] = collections.deque()
        while True:
            frame = backlog.popleft() if backlog else frames.get()
            if frame is None:  # the parent went away without closing: stop here
                os._exit(0)
            kind, payload = frame
            if kind == _BATCH:
                # group commit: the batches already waiting go into the same transaction
                payloads = [payload]
                while len(payloads) < _QUEUED_FRAMES:
                    try:
                        waiting = frames.get_nowait()
                    except queue.Empty:
                        break
                    if waiting is None or waiting[0] != _BATCH:
                        backlog.append(waiting)
                        break
                    payloads.append(waiting[1])
                done = hasher.ready() if hasher is not None else []
                write_all(reply, _FRAME.pack(_DURABLE, writer.write_batches(payloads, done)))
            elif kind == _MARK:
                seq = _mark_message.decode(payload)
                writer.ensure_at(seq)
                marks[seq] = writer.last_hash
            elif kind == _SNAPSHOT:
                seq, event_seq, state_hash, data = _snapshot_message.decode(payload)
                chain_hash = marks.pop(seq, None)
                if chain_hash is None:
                    writer.ensure_at(seq)
                    chain_hash = writer.last_hash
                if state_hash is None and data is not None and hasher is not None:
                    hasher.submit(seq, event_seq, data, chain_hash)
                else:
                    writer.write_snapshot(seq, event_seq, state_hash, data, chain_hash)
            elif kind == _CLOSE:
                break
            else:
                raise JournalError(f"unexpected frame {kind!r}")
        if hasher is not None and (done := hasher.ready(wait=True)):
            writer.write_batches([], done)
        journal.close()
        write_all(reply, _FRAME.pack(_DURABLE, writer.last_seq))
    except BaseException as exc:  # report anything, then stop: the parent decides what to do
        message = f"{type(exc).__name__}: {exc}".encode()
        with contextlib.suppress(OSError):
            write_all(reply, _FRAME.pack(_ERROR, len(message)) + message)
        os._exit(1)
    os._exit(0)


def _read_frames(fd: int, frames: queue.Queue[tuple[bytes, bytes] | None]) -> None:
    def read_exactly(n: int) -> bytes | None:
        parts: list[bytes] = []
        while n:
            chunk = os.read(fd, min(n, _READ_CHUNK))
            if not chunk:
                return None
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    while True:
        header = read_exactly(_FRAME.size)
        if header is None:
            frames.put(None)
            return
        kind, length = _FRAME.unpack(header)
        payload = read_exactly(length) if length else b""
        if payload is None:
            frames.put(None)
            return
        frames.put((kind, payload))
        if kind == _CLOSE:
            return
