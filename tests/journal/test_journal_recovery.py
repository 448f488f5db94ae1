"""Recovery: latest valid snapshot + replay reaches the state hash of an uninterrupted run; input already
applied is skipped by idempotency key; acknowledgments follow durability."""

from __future__ import annotations

import functools
import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from onshore.adapters.cli import replay_lines
from onshore.adapters.durable import DurableVenue
from onshore.config.load import load_config
from onshore.core.events import encode_event
from onshore.journal import (
    ChainBroken,
    ConfigMismatch,
    InlineCommitter,
    JournalError,
    JournalLock,
    JournalLocked,
    SQLiteJournal,
    recover,
)
from onshore.journal.format import decode_head, genesis_hash
from onshore.journal.recovery import effective_config, new_meta, snapshots_supported
from onshore.venue import Venue

from .helpers import ROOT, build, replay_state, rows, stream, tamper, write_lines

N = 1200


def recovered(db: Path, **kw: Any) -> Any:
    store = SQLiteJournal(db)
    try:
        return recover(store, **kw)
    finally:
        store.close()


@pytest.mark.parametrize("writer", ["inline", "process"])
@pytest.mark.parametrize("snapshot_every", [0, 250])
def test_a_restart_halfway_reaches_the_uninterrupted_state_hash(
    tmp_path: Path, writer: str, snapshot_every: int
) -> None:
    lines = stream(N)
    db = tmp_path / "journal.db"
    half = write_lines(tmp_path / "half.jsonl", lines[: len(lines) // 2])
    full = write_lines(tmp_path / "full.jsonl", lines)
    build(db, half, writer=writer, snapshot_every=snapshot_every)
    notes: list[str] = []
    last = build(db, full, writer=writer, snapshot_every=snapshot_every, notes=notes)
    assert any(f"skipped {len(lines) // 2} input lines" in n for n in notes)
    commands, state_hash = replay_state(lines)
    assert last == commands
    again = recovered(db)
    assert (again.last_seq, again.venue.state_hash()) == (commands, state_hash)
    if snapshot_every and snapshots_supported():
        assert again.snapshot_seq == commands // snapshot_every * snapshot_every
        assert again.replayed == commands - again.snapshot_seq
    else:
        assert again.snapshot_seq is None and again.replayed == commands


def test_recovery_from_the_snapshot_equals_full_replay(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    build(db, write_lines(tmp_path / "c.jsonl", stream(N)), snapshot_every=300)
    with_snapshot = recovered(db)
    full = recovered(db, use_snapshots=False)
    assert full.snapshot_seq is None
    assert with_snapshot.venue.state_hash() == full.venue.state_hash()
    assert (with_snapshot.venue.cmd, with_snapshot.venue.seq) == (full.venue.cmd, full.venue.seq)


def test_the_same_input_twice_applies_nothing_the_second_time(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    commands = write_lines(tmp_path / "c.jsonl", stream(300))
    first = build(db, commands)
    before = rows(db)
    notes: list[str] = []
    assert build(db, commands, notes=notes) == first
    assert rows(db) == before
    assert any(f"skipped {first} input lines" in n for n in notes)


def test_a_command_id_is_applied_once_wherever_it_comes_again(tmp_path: Path) -> None:
    deposit = '{"type": "deposit", "ts": 1767225600000, "account": "r-0", "amount": "100", "id": "dep-1"}'
    lines = [*stream(100), deposit, deposit]
    db = tmp_path / "journal.db"
    build(db, write_lines(tmp_path / "c.jsonl", lines))
    build(db, write_lines(tmp_path / "d.jsonl", [deposit]))
    keys = [r[1] for r in rows(db)]
    assert keys.count("dep-1") == 1
    assert len(keys) == len(set(keys))


def test_the_inline_and_the_process_writer_write_the_same_journal(tmp_path: Path) -> None:
    commands = write_lines(tmp_path / "c.jsonl", stream(N))
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    build(a, commands, writer="inline", batch=100, snapshot_every=400)
    build(b, commands, writer="process", batch=7, snapshot_every=400)
    assert rows(a) == rows(b)
    sa, sb = SQLiteJournal(a, readonly=True), SQLiteJournal(b, readonly=True)
    assert sa.snapshots() == sb.snapshots()
    sa.close()
    sb.close()


def test_stored_events_are_the_bytes_onshore_replay_prints(tmp_path: Path) -> None:
    """Malformed lines included: the journal replays them to the same rejection."""
    lines = stream(N)
    assert any("garbage" in line for line in lines)
    db = tmp_path / "journal.db"
    build(db, write_lines(tmp_path / "c.jsonl", lines))
    stored = []
    for row in rows(db):
        raw_events = decode_head(row[2])[3]
        stored.extend(json.dumps(ev, separators=(",", ":")).encode() for ev in json.loads(bytes(raw_events)))
    printed = [encode_event(ev) for ev in replay_lines(Venue(load_config(None)), lines)]
    assert stored == printed


def test_a_journal_keeps_its_configuration(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    commands = write_lines(tmp_path / "c.jsonl", stream(100))
    config = '[markets.BTC-PERP]\ntaker_fee = "0.0005"\n'
    build(db, commands, config_text=config)
    build(db, commands, config_text=config)
    build(db, commands)  # without --config: the journal's own
    with pytest.raises(ConfigMismatch):
        build(db, commands, config_text='[markets.BTC-PERP]\ntaker_fee = "0.0006"\n')
    assert recovered(db).venue.state_hash() == replay_state(stream(100), config)[1]


class _Watching:
    """A journal that checks, at each commit, that none of its commands was acknowledged before it."""

    def __init__(self, inner: SQLiteJournal, acks: int) -> None:
        self.inner = inner
        self.acks = acks
        self.acked: list[int] = []
        self.committed: set[int] = set()

    def _read_acks(self) -> None:
        os.set_blocking(self.acks, False)
        try:
            data = os.read(self.acks, 1 << 20)
        except BlockingIOError:
            return
        self.acked.extend(json.loads(line)["seq"] for line in data.decode().splitlines())

    def append(self, batches: Any, snapshots: Any = ()) -> None:
        self._read_acks()
        seqs = {seq for batch in batches for seq in range(batch.first_seq, batch.first_seq + len(batch))}
        assert set(self.acked) <= self.committed
        assert not seqs & set(self.acked)
        self.inner.append(batches, snapshots)
        self.committed.update(seqs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_no_command_is_acknowledged_before_its_transaction_commits(tmp_path: Path) -> None:
    config_json = effective_config(None)
    store = SQLiteJournal(tmp_path / "journal.db")
    store.initialize(new_meta(config_json))
    ack_r, ack_w = os.pipe()
    watching = _Watching(store, ack_r)
    committer = InlineCommitter(watching, 0, genesis_hash(config_json), ack_w)  # type: ignore[arg-type]
    venue = Venue(load_config(None))
    durable = DurableVenue(venue, committer, batch=33, snapshot_every=0)
    from onshore.core.commands import decode_command

    durable.apply_all(
        (i, decode_command(line))
        for i, line in enumerate(stream(200), start=1)
        if "garbage" not in line and "not a time" not in line
    )
    durable.flush()
    watching._read_acks()
    assert sorted(watching.acked) == sorted(watching.committed) == list(range(1, venue.cmd + 1))
    committer.close()
    os.close(ack_r)
    os.close(ack_w)


def test_interactive_input_is_acknowledged_without_waiting_for_a_full_batch(tmp_path: Path) -> None:
    lines = stream(40)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "onshore.adapters.cli",
            "run",
            "--journal",
            str(tmp_path / "j.db"),
            "-",
            "--batch",
            "4096",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for seq, line in enumerate(lines[:5], start=1):
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 20)
            assert ready, f"no acknowledgment for command {seq} within 20 s"
            assert json.loads(proc.stdout.readline()) == {"seq": seq, "status": "accepted"}
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_checking_the_entries_before_the_snapshot_in_parallel_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    build(db, write_lines(tmp_path / "c.jsonl", stream(N)), snapshot_every=300)
    again = functools.partial(SQLiteJournal, db, readonly=True)
    parallel = recovered(db, parallel=again, workers=3)
    alone = recovered(db)
    assert (parallel.last_seq, parallel.last_hash, parallel.venue.state_hash()) == (
        alone.last_seq,
        alone.last_hash,
        alone.venue.state_hash(),
    )
    assert parallel.snapshot_seq == alone.snapshot_seq


@pytest.mark.parametrize("bad", [1, 150, 299, 300])
def test_a_bad_entry_before_the_snapshot_is_named_when_checked_in_parallel(tmp_path: Path, bad: int) -> None:
    db = tmp_path / "journal.db"
    build(db, write_lines(tmp_path / "c.jsonl", stream(N)), snapshot_every=300)
    tamper(db, "UPDATE entries SET hash = zeroblob(32) WHERE seq = ?", bad)
    with pytest.raises(ChainBroken) as info:
        recovered(db, parallel=functools.partial(SQLiteJournal, db, readonly=True))
    assert info.value.seq == bad


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    first = JournalLock(tmp_path / "journal.db", timeout_s=0.1)
    first.acquire()
    try:
        with pytest.raises(JournalLocked, match="another process is writing"):
            JournalLock(tmp_path / "journal.db", timeout_s=0.1).acquire()
    finally:
        first.release()
    with JournalLock(tmp_path / "journal.db", timeout_s=0.1):
        pass


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the droids you are looking for" * 100)
    with pytest.raises(JournalError, match="not a readable journal"):
        build(path, write_lines(tmp_path / "c.jsonl", stream(10)))


def _outcome(db: Path, **kw: Any) -> tuple[Any, ...]:
    """What recovery reached, or the chain break it named (journals are copied: a torn tail gets discarded)."""
    try:
        r = recovered(db, collect_keys=True, **kw)
    except ChainBroken as exc:
        return ("broken", exc.seq, exc.torn_tail, str(exc))
    return (r.last_seq, r.last_hash, r.venue.state_hash(), r.snapshot_seq, sorted(map(str, r.keys)), r.notes)


@pytest.mark.parametrize("snapshot_every", [0, 300])
def test_checking_the_chain_in_parallel_reaches_the_same_state_and_keys(tmp_path: Path, snapshot_every: int) -> None:
    db = tmp_path / "journal.db"
    build(db, write_lines(tmp_path / "c.jsonl", stream(N)), snapshot_every=snapshot_every)
    again = functools.partial(SQLiteJournal, db, readonly=True)
    for use_snapshots in (True, False):
        alone = _outcome(db, use_snapshots=use_snapshots)
        assert len(alone[4]) == alone[0] == len(rows(db))  # every entry's key, and the replay got to the end
        for workers in (1, 2, 3):
            assert _outcome(db, use_snapshots=use_snapshots, parallel=again, workers=workers) == alone


DAMAGE = {
    "a changed event": (
        "UPDATE entries SET entry = CAST(replace(CAST(entry AS TEXT), '\"seq\":', '\"seq\": ') AS BLOB) WHERE seq = 400"
    ),
    "a removed entry": "DELETE FROM entries WHERE seq = 700",
    "a renumbered entry": "UPDATE entries SET seq = 5000 WHERE seq = 900",
    "a changed prev_hash": "UPDATE entries SET prev_hash = zeroblob(32) WHERE seq = 2",
    "a key that is not the entry's": "UPDATE entries SET key = 99999 WHERE seq = 650 AND typeof(key) = 'integer'",
    "a torn tail": "UPDATE entries SET entry = substr(entry, 1, 20) WHERE seq > 1190",
    "a torn last entry": "UPDATE entries SET entry = substr(entry, 1, 20) WHERE seq = (SELECT max(seq) FROM entries)",
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_replay_checked_in_parallel_finds_what_the_one_by_one_check_finds(tmp_path: Path, damage: str) -> None:
    built = tmp_path / "built.db"
    build(built, write_lines(tmp_path / "c.jsonl", stream(N)), snapshot_every=0)
    tamper(built, DAMAGE[damage])
    outcomes = []
    for how in ("alone", "parallel"):
        db = tmp_path / f"{how}.db"
        db.write_bytes(built.read_bytes())
        kw: dict[str, Any] = (
            {"parallel": functools.partial(SQLiteJournal, db, readonly=True)} if how == "parallel" else {}
        )
        outcomes.append(_outcome(db, **kw))
    assert outcomes[0] == outcomes[1]
    if "torn" in damage:
        assert outcomes[0][0] < len(rows(built)) and "torn tail discarded" in outcomes[0][-1][0]
    else:
        assert outcomes[0][0] == "broken" and not outcomes[0][2]


@pytest.mark.parametrize("writer", ["inline", "process"])
def test_a_finished_run_leaves_the_whole_journal_in_its_one_file(tmp_path: Path, writer: str) -> None:
    """The writer's connection is the last one, so closing it folds the write-ahead log back into the
    file: a copy of that file alone holds every entry (no connection may cross the writer's fork)."""
    db = tmp_path / "journal.db"
    commands = write_lines(tmp_path / "c.jsonl", stream(300))
    last = build(db, commands, writer=writer, snapshot_every=100)
    build(db, commands, writer=writer, snapshot_every=100)  # recovers, applies nothing new
    assert not Path(f"{db}-wal").exists()
    copy = tmp_path / "copy.db"
    copy.write_bytes(db.read_bytes())
    assert [r[0] for r in rows(copy)] == list(range(1, last + 1))
