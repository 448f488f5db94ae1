"""The SQLite journal: one file, WAL mode, ``synchronous=FULL``.

In WAL mode with ``synchronous=FULL`` SQLite syncs the write-ahead log at every commit,
so a transaction that has committed survives a crash of the process or of the machine.
A transaction holds a whole group of entries (group commit): one sync covers thousands
of commands, and none of them is acknowledged before it.

Tables::

    meta       (name TEXT PRIMARY KEY, value TEXT)               format, config, genesis
    entries    (seq INTEGER PRIMARY KEY, key, entry BLOB,        one row per command
                prev_hash BLOB, hash BLOB)
    snapshots  (seq INTEGER PRIMARY KEY, event_seq INTEGER,      one row per snapshot
                state_hash TEXT, entry_hash BLOB, data BLOB, hash BLOB)

``key`` has no declared type, so an ``id`` ``"5"`` (text) and line number ``5`` (integer)
stay distinct. The events of a command are inside its entry, linked to it by ``seq``
(each event also carries ``cmd = seq``); JSON functions reach them in SQL, e.g.
``SELECT seq FROM entries WHERE json_extract(entry, '$[2].type') = 'withdraw'``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from onshore.journal.base import EntryBatch, JournalError, SnapshotRecord
from onshore.journal.format import EntryRow, Key, LinkRow

# SQLite's largest page: entries of ~700 bytes fill 90 to a page, and the writer's inserts and
# commits took 1.65-1.99 s of CPU a million entries against 2.34-2.55 s with 16 KiB pages (4 KiB: 2.8).
PAGE_SIZE: Final = 65536
WAL_AUTOCHECKPOINT_PAGES: Final = 1024  # 64 MiB of log between checkpoints

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    key NOT NULL,
    entry BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY,
    event_seq INTEGER NOT NULL,
    state_hash TEXT NOT NULL,
    entry_hash BLOB NOT NULL,
    data BLOB,
    hash BLOB NOT NULL
);
"""

_INSERT_ENTRY: Final = "INSERT INTO entries (seq, key, entry, prev_hash, hash) VALUES (?, ?, ?, ?, ?)"
# A whole batch in one statement: SQLite cuts the entries out of the batch's bytes itself. ?3 holds
# 0 and then where each entry ends, in fixed-width decimal fields of _FIELD bytes: row i runs from
# field i (exclusive) to field i + 1, so no Python runs per row.
_FIELD: Final = 12
_FIELD_FORMAT: Final = b"%%0%dd" % _FIELD
_INSERT_BATCH: Final = f"""
INSERT INTO entries (seq, key, entry, prev_hash, hash)
SELECT ?1 + k.key, k.value, substr(?2, s + 1, e - s), substr(?4, 32 * k.key + 1, 32), substr(?5, 32 * k.key + 1, 32)
FROM (
    SELECT key, value,
           CAST(substr(?3, {_FIELD} * key + 1, {_FIELD}) AS INTEGER) AS s,
           CAST(substr(?3, {_FIELD} * key + {_FIELD + 1}, {_FIELD}) AS INTEGER) AS e
    FROM json_each(?6)
) AS k
"""
_INSERT_SNAPSHOT: Final = (
    "INSERT OR REPLACE INTO snapshots (seq, event_seq, state_hash, entry_hash, data, hash) VALUES (?, ?, ?, ?, ?, ?)"
)
_SELECT_ENTRIES: Final = "SELECT seq, key, entry, prev_hash, hash FROM entries"
_SELECT_LINKS: Final = "SELECT key, entry, prev_hash, hash FROM entries WHERE seq BETWEEN ? AND ? ORDER BY seq"


class SQLiteJournal:
    """A :class:`~onshore.journal.base.Journal` in one SQLite file.

    ``readonly`` opens an existing journal for reading only (the audit commands); it
    never creates a file or changes one.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise JournalError(f"no journal at {self.path}")
        new = not self.path.exists() or self.path.stat().st_size == 0
        try:
            self._con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            con = self._con
            if readonly:
                con.execute("PRAGMA query_only = ON")
            else:
                if new:
                    con.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise JournalError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
                con.execute("PRAGMA synchronous = FULL")
                con.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
                con.executescript(_SCHEMA)
            con.execute("PRAGMA cache_size = -65536")
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            try:
                con.execute("SELECT json_valid('[]')")
                self._json = True
            except sqlite3.OperationalError:  # SQLite without its JSON functions: one row at a time
                self._json = False
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path}: not a readable journal ({exc})") from exc
        if not {"meta", "entries", "snapshots"} <= tables:
            raise JournalError(f"{self.path}: not an Onshore journal (tables {sorted(tables)})")

    # ------------------------------------------------------------------ header
    def meta(self) -> dict[str, str]:
        return {str(name): str(value) for name, value in self._con.execute("SELECT name, value FROM meta")}

    def initialize(self, meta: dict[str, str]) -> None:
        with self._transaction():
            self._con.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", sorted(meta.items()))

    # ------------------------------------------------------------------ writing
    def append(self, batches: Sequence[EntryBatch], snapshots: Sequence[SnapshotRecord] = ()) -> None:
        with self._transaction():
            for batch in batches:
                if not len(batch):
                    continue
                if self._json:
                    cursor = self._con.execute(
                        _INSERT_BATCH,
                        (
                            batch.first_seq,
                            batch.data,
                            b"".join([_FIELD_FORMAT % end for end in [0, *batch.ends]]),
                            batch.prev_hashes,
                            batch.hashes,
                            batch.keys_json,
                        ),
                    )
                    if cursor.rowcount != len(batch):
                        raise JournalError(f"stored {cursor.rowcount} of the {len(batch)} entries of a batch")
                else:
                    self._con.executemany(_INSERT_ENTRY, batch.rows())
            for s in snapshots:
                self._con.execute(_INSERT_SNAPSHOT, (s.seq, s.event_seq, s.state_hash, s.entry_hash, s.data, s.hash))

    def discard_from(self, seq: int) -> int:
        with self._transaction():
            removed = self._con.execute("DELETE FROM entries WHERE seq >= ?", (seq,)).rowcount
            self._con.execute("DELETE FROM snapshots WHERE seq >= ?", (seq,))
        return int(removed)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._con)

    # ------------------------------------------------------------------ reading
    def scan(self, first_seq: int = 1, last_seq: int | None = None) -> Iterator[EntryRow]:
        last = last_seq if last_seq is not None else 1 << 62
        cursor = self._con.execute(_SELECT_ENTRIES + " WHERE seq BETWEEN ? AND ? ORDER BY seq", (first_seq, last))
        cursor.arraysize = 4096
        while rows := cursor.fetchmany():
            yield from rows

    def scan_links(self, first_seq: int, last_seq: int) -> Iterator[list[LinkRow]]:
        cursor = self._con.execute(_SELECT_LINKS, (first_seq, last_seq))
        cursor.arraysize = 4096
        while rows := cursor.fetchmany():
            yield rows

    def find(self, needle: bytes) -> Iterator[EntryRow]:
        cursor = self._con.execute(_SELECT_ENTRIES + " WHERE instr(entry, ?) > 0 ORDER BY seq", (needle,))
        yield from cursor

    def last(self) -> EntryRow | None:
        row: EntryRow | None = self._con.execute(_SELECT_ENTRIES + " ORDER BY seq DESC LIMIT 1").fetchone()
        return row

    def keys(self) -> Iterator[Key]:
        for (key,) in self._con.execute("SELECT key FROM entries"):
            yield key

    def snapshots(self) -> list[SnapshotRecord]:
        rows = self._con.execute(
            "SELECT seq, event_seq, state_hash, entry_hash, hash FROM snapshots ORDER BY seq DESC"
        ).fetchall()
        return [SnapshotRecord(seq, event_seq, sh, eh, h) for seq, event_seq, sh, eh, h in rows]

    def snapshot_data(self, seq: int) -> bytes | None:
        row = self._con.execute("SELECT data FROM snapshots WHERE seq = ?", (seq,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def close(self) -> None:
        self._con.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (durable on exit), rolled back on any exception."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def __enter__(self) -> None:
        self._con.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._con.execute("COMMIT")
        elif self._con.in_transaction:
            self._con.execute("ROLLBACK")
