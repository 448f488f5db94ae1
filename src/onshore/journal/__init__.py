"""Onshore journal: write-ahead command log, snapshots, recovery and the audit trail's hash chain.

- :mod:`~onshore.journal.format`: an entry's canonical bytes and the hashes over them;
- :mod:`~onshore.journal.base`: the :class:`Journal` storage interface;
- :mod:`~onshore.journal.sqlite`: :class:`SQLiteJournal` (WAL, ``synchronous=FULL``);
- :mod:`~onshore.journal.chain`: checking the chain, torn tail or broken middle;
- :mod:`~onshore.journal.commit`: group commit, acknowledgments after durability;
- :mod:`~onshore.journal.recovery`: snapshot + replay back to the same state hash.

The journal imports the core and the Venue; they never import it. See docs/journal.md.
"""

from onshore.journal.base import ChainBroken, ConfigMismatch, Journal, JournalError, JournalLocked, SnapshotRecord
from onshore.journal.chain import ChainCheck
from onshore.journal.commit import ChainWriter, Committer, InlineCommitter, ProcessCommitter
from onshore.journal.format import FORMAT, EntryRow, Key, UnparsedLine
from onshore.journal.lock import JournalLock
from onshore.journal.recovery import Recovered, recover
from onshore.journal.sqlite import SQLiteJournal


def open_journal(target: str, *, readonly: bool = False) -> Journal:
    """Open the journal at ``target``: a file path (SQLite); other stores plug in here."""
    if target.startswith(("postgres://", "postgresql://")):
        raise JournalError("a PostgreSQL journal is not implemented yet: use a file path (SQLite)")
    return SQLiteJournal(target, readonly=readonly)


__all__ = [
    "FORMAT",
    "ChainBroken",
    "ChainCheck",
    "ChainWriter",
    "Committer",
    "ConfigMismatch",
    "EntryRow",
    "InlineCommitter",
    "Journal",
    "JournalError",
    "JournalLock",
    "JournalLocked",
    "Key",
    "ProcessCommitter",
    "Recovered",
    "SQLiteJournal",
    "SnapshotRecord",
    "UnparsedLine",
    "open_journal",
    "recover",
]
