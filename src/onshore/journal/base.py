"""The storage interface every journal implements (SQLite now, PostgreSQL later), and its errors.

A journal stores three things: a header (``meta``: the format, the Venue configuration
and the genesis hash), the hash-chained entries (:data:`~onshore.journal.format.EntryRow`)
and the snapshots (:class:`SnapshotRecord`). It knows nothing of the Venue: hashing,
verification and replay live in :mod:`~onshore.journal.chain` and
:mod:`~onshore.journal.recovery` and work on any implementation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from onshore.journal.format import HASH_SIZE, EntryRow, Key, LinkRow


@dataclass(frozen=True, slots=True)
class EntryBatch:
    """Consecutive entries as they arrived: their bytes back to back, with their chain hashes.

    Entry ``i`` is ``data[ends[i - 1] : ends[i]]`` (from 0 for entry 0), its sequence number
    ``first_seq + i``, its key ``keys[i]`` (``keys_json``: the same keys as a JSON array),
    its hash ``hashes[32 i : 32 i + 32]`` and its ``prev_hash`` the hash before it
    (``prev_hash`` for entry 0). A store may insert it row by row (:meth:`rows`) or hand
    the whole batch to the database in one statement.
    """

    first_seq: int
    data: bytes | memoryview
    ends: list[int]
    keys: list[Key]
    keys_json: bytes
    prev_hash: bytes
    hashes: bytes

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def prev_hashes(self) -> bytes:
        """The ``prev_hash`` of every entry, concatenated."""
        return self.prev_hash + self.hashes[:-HASH_SIZE]

    def rows(self) -> Iterator[EntryRow]:
        """The entries as ``(seq, key, entry, prev_hash, hash)`` rows."""
        data, hashes, prev = self.data, self.hashes, self.prev_hash
        start = 0
        for i, (end, key) in enumerate(zip(self.ends, self.keys, strict=True)):
            digest = hashes[HASH_SIZE * i : HASH_SIZE * (i + 1)]
            yield self.first_seq + i, key, bytes(data[start:end]), prev, digest
            prev = digest
            start = end


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """A snapshot of the Venue after entry ``seq``; ``data`` is None when not loaded or not taken."""

    seq: int
    event_seq: int
    state_hash: str
    entry_hash: bytes
    hash: bytes
    data: bytes | None = None


class Journal(Protocol):
    """A hash-chained, append-only store of entries and snapshots.

    ``append`` is the only write in normal operation and must be durable when it returns:
    the caller acknowledges the commands it holds right after. ``discard_from`` exists only
    for recovery, to drop a torn tail that was never acknowledged.
    """

    def meta(self) -> dict[str, str]:
        """The header: ``format``, ``config`` (canonical JSON) and ``genesis`` (hex); empty if new."""
        ...

    def initialize(self, meta: dict[str, str]) -> None:
        """Write the header of a new journal (durably)."""
        ...

    def append(self, batches: Sequence[EntryBatch], snapshots: Sequence[SnapshotRecord] = ()) -> None:
        """Store batches of entries and snapshots in one transaction, durable when this returns."""
        ...

    def scan(self, first_seq: int = 1, last_seq: int | None = None) -> Iterator[EntryRow]:
        """The entries from ``first_seq`` (to ``last_seq``), in sequence order. Runtime complexity: O(n) streamed."""
        ...

    def scan_links(self, first_seq: int, last_seq: int) -> Iterator[list[LinkRow]]:
        """The rows ``(key, entry, prev_hash, hash)`` of entries ``first_seq`` … ``last_seq`` in order, in lists.

        What checking the chain needs, and no more: the fewer objects per row, the faster
        a journal is checked. Runtime complexity: O(n) streamed.
        """
        ...

    def find(self, needle: bytes) -> Iterator[EntryRow]:
        """The entries whose canonical bytes contain ``needle``, in sequence order (a prefilter)."""
        ...

    def last(self) -> EntryRow | None:
        """The entry with the highest sequence number, or None."""
        ...

    def keys(self) -> Iterator[Key]:
        """The idempotency keys of all entries."""
        ...

    def snapshots(self) -> list[SnapshotRecord]:
        """All snapshot records, newest first, without their data."""
        ...

    def snapshot_data(self, seq: int) -> bytes | None:
        """The bytes of the snapshot taken after entry ``seq``."""
        ...

    def discard_from(self, seq: int) -> int:
        """Delete entries and snapshots from ``seq`` on, durably; return how many entries went."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


class JournalError(Exception):
    """The journal cannot be used as it is; the message says why and where."""


class ChainBroken(JournalError):
    """The hash chain is broken: the venue must not start on this journal as it is."""

    def __init__(self, seq: int, problem: str, *, torn_tail: bool = False) -> None:
        where = (
            "every entry from there to the end fails its own hash (a torn tail)"
            if torn_tail
            else "entries after it are intact, so this is not a torn tail"
        )
        super().__init__(f"journal chain broken at entry {seq}: {problem}; {where}")
        self.seq = seq
        self.problem = problem
        self.torn_tail = torn_tail


class JournalLocked(JournalError):
    """Another process is writing this journal."""


class ConfigMismatch(JournalError):
    """The configuration given differs from the one the journal was created with."""
