"""Checking the hash chain, entry by entry, and telling a torn tail from a broken middle.

:class:`ChainCheck` sits between a journal's :meth:`~onshore.journal.base.Journal.scan`
and whoever consumes the entries (recovery, ``audit verify``): it yields each entry only
after checking it, stops yielding at the first bad one and reads on to classify the
damage:

- **torn tail**: every entry from the first bad one to the end fails its own hash. That
  is what a write cut short looks like; those entries were never acknowledged (an
  acknowledgment waits for the commit that makes them whole), so recovery discards them.
- **broken middle**: some entry at or after the first bad one is intact by itself (its
  hash matches its content): entries were changed, removed or reordered before the end.
  Nothing after the break can be trusted to follow from what came before, so the venue
  refuses to start.

An entry is good when its ``seq`` is the next number, its ``prev_hash`` is the hash of
the entry before it (the genesis hash for entry 1), its ``hash`` is
``SHA-256(prev_hash ‖ entry)`` and its content starts with its own ``seq`` and ``key``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence

from onshore.journal.format import EntryRow, Key, LinkRow, entry_prefix


class ChainCheck:
    """Verify a stream of entries against the chain that starts at ``genesis``.

    After the stream is consumed: ``last_seq``/``last_hash`` describe the last good entry;
    ``first_bad`` (a sequence number) and ``problem`` the first bad one, if any;
    ``torn_tail`` says whether the damage is confined to the tail. ``hashes`` holds the
    chain hash after each sequence number listed in ``remember`` (to check snapshots).
    Runtime complexity: O(total bytes); one SHA-256 per entry.
    """

    def __init__(self, genesis: bytes, *, first_seq: int = 1, remember: Iterable[int] = ()) -> None:
        self.last_seq = first_seq - 1
        self.last_hash = genesis
        self.first_bad: int | None = None
        self.problem: str | None = None
        self.bad_entries = 0
        self.intact_after_break = False
        self.hashes: dict[int, bytes] = {}
        self._remember = frozenset(remember)

    @property
    def ok(self) -> bool:
        """True when no bad entry was found."""
        return self.first_bad is None

    @property
    def torn_tail(self) -> bool:
        """True when there is damage and all of it is a tail of entries that fail their own hash."""
        return self.first_bad is not None and not self.intact_after_break

    def entries(self, rows: Iterable[EntryRow]) -> Iterator[EntryRow]:
        """Yield each good entry in order; stop yielding at the first bad one, but read to the end."""
        sha256 = hashlib.sha256
        remember = self._remember
        prev = self.last_hash
        expected = self.last_seq + 1
        it = iter(rows)
        for row in it:
            seq, key, entry, prev_hash, stored = row
            h = sha256(prev_hash)
            h.update(entry)
            digest = h.digest()
            if seq == expected and prev_hash == prev and digest == stored and entry.startswith(entry_prefix(seq, key)):
                prev = stored
                expected += 1
                if seq in remember:
                    self.hashes[seq] = stored
                yield row
                continue
            self.last_seq, self.last_hash = expected - 1, prev
            self._first_bad(expected, row, digest)
            self._classify(it)
            return
        self.last_seq, self.last_hash = expected - 1, prev

    def _first_bad(self, expected: int, row: EntryRow, digest: bytes) -> None:
        seq, key, _entry, prev_hash, stored = row
        self.bad_entries = 1
        if seq != expected:
            self.first_bad = expected
            self.problem = (
                f"entry {expected} is missing (the next entry stored is {seq})"
                if seq > expected
                else f"entry {seq} appears again after entry {expected - 1}"
            )
            self.intact_after_break = True
        elif digest != stored:
            self.first_bad = seq
            self.problem = "its stored hash does not match its content (the entry was changed or torn)"
            self.intact_after_break = False
        elif prev_hash != self.last_hash:
            self.first_bad = seq
            self.problem = f"its prev_hash is not the hash of entry {seq - 1} (an entry was removed, replaced or moved)"
            self.intact_after_break = True
        else:
            self.first_bad = seq
            self.problem = f"its content does not start with its own sequence number {seq} and key {key!r}"
            self.intact_after_break = True

    def _classify(self, rest: Iterator[EntryRow]) -> None:
        sha256 = hashlib.sha256
        for _seq, _key, entry, prev_hash, stored in rest:
            self.bad_entries += 1
            if not self.intact_after_break:
                h = sha256(prev_hash)
                h.update(entry)
                if h.digest() == stored:
                    self.intact_after_break = True


def check_range(
    chunks: Iterable[Sequence[LinkRow]], first: int, last: int, keys: list[Key] | None = None
) -> tuple[bool, bytes, bytes]:
    """Check entries ``first`` … ``last`` on their own: ``(ok, prev_hash of the first, hash of the last)``.

    ``chunks`` are the rows ``(key, entry, prev_hash, hash)`` in sequence order, a list at a
    time (:meth:`~onshore.journal.base.Journal.scan_links`); ``keys``, if given, receives
    every entry's key. The same checks as :class:`ChainCheck`, without naming what is
    wrong: the caller links the ranges it split a journal into (each range's first
    ``prev_hash`` must be the hash before it) and goes back to :class:`ChainCheck` to name
    the first bad entry. The sequence numbers are not read: the rows come from
    ``first … last`` in order, so exactly ``last - first + 1`` of them, each starting with
    its own number, are those entries. Runtime complexity: O(bytes in the range).
    """
    sha256 = hashlib.sha256
    seq = first
    first_prev = prev = b""
    for rows in chunks:
        if seq == first and rows:
            first_prev = prev = rows[0][2]
        for key, entry, prev_hash, stored in rows:
            h = sha256(prev)
            h.update(entry)
            if (
                h.digest() != stored
                or prev_hash != prev
                or not entry.startswith(b"[%d,%d," % (seq, key) if type(key) is int else entry_prefix(seq, key))
            ):
                return False, first_prev, prev
            prev = stored
            seq += 1
        if keys is not None:
            keys.extend([row[0] for row in rows])
    return seq == last + 1, first_prev, prev
