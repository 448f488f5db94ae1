"""The hash chain: a changed, removed or reordered byte is detected and the first bad entry named;
a torn tail is discarded with one log line; a chain broken in the middle refuses to start."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from onshore.adapters.audit import _verify_in_parallel, verify_journal
from onshore.journal import ChainBroken, ChainCheck, JournalError, SQLiteJournal, recover
from onshore.journal.format import entry_hash

from .helpers import ROOT, build, cli, last_json_line, onshore, replay_state, rows, stream, tamper, write_lines

N = 500
MIDDLE = 300


@pytest.fixture
def journal(tmp_path: Path) -> tuple[Path, Path]:
    commands = write_lines(tmp_path / "commands.jsonl", stream(N))
    db = tmp_path / "journal.db"
    build(db, commands, batch=50, snapshot_every=200)
    return db, commands


def verify(db: Path):  # type: ignore[no-untyped-def]
    """``audit verify``'s result, which must be the same in one process and with the forked check."""
    store = SQLiteJournal(db, readonly=True)
    try:
        in_order = verify_journal(store)
        in_parallel = verify_journal(store, parallel=functools.partial(SQLiteJournal, db, readonly=True))
    finally:
        store.close()
    assert in_parallel == in_order
    return in_order


def entry_of(db: Path, seq: int) -> bytes:
    return next(bytes(r[2]) for r in rows(db) if r[0] == seq)


def flip_byte(data: bytes, needle: bytes) -> bytes:
    """Change the byte right after ``needle`` (a digit becomes another digit, so the JSON stays valid)."""
    at = data.index(needle) + len(needle)
    digit = data[at : at + 1]
    assert digit.isdigit(), data
    return data[:at] + (b"7" if digit != b"7" else b"8") + data[at + 1 :]


# ---------------------------------------------------------------------------- an untouched journal
def test_an_untouched_journal_verifies_to_the_clean_replays_state(journal: tuple[Path, Path]) -> None:
    db, _ = journal
    result = verify(db)
    assert result.ok, result
    assert (result.seq, result.state_hash) == replay_state(stream(N))
    assert result.snapshots_checked == len(stream(N)) // 200


def test_the_forked_check_vouches_for_a_sound_journal_and_doubts_one_only_it_can_see(
    journal: tuple[Path, Path],
) -> None:
    """The parallel path answers by itself for a sound journal, and leaves a broken link to the one-by-one check.

    A zeroed ``prev_hash`` leaves every entry's content, events and stored hash as they were
    (the stored hash then no longer matches ``SHA-256(prev_hash ‖ entry)``): only the chain
    check, in the forked process, sees it.
    """
    db, _ = journal
    again = functools.partial(SQLiteJournal, db, readonly=True)
    with contextlib.closing(SQLiteJournal(db, readonly=True)) as store:
        fast = _verify_in_parallel(store, again)
        assert fast is not None and fast.snapshots_checked == N // 200
        assert fast == verify_journal(store)
    tamper(db, "UPDATE entries SET prev_hash = zeroblob(32) WHERE seq = ?", MIDDLE)
    with contextlib.closing(SQLiteJournal(db, readonly=True)) as store:
        assert _verify_in_parallel(store, again) is None
    result = verify(db)
    assert (result.ok, result.first_bad) == (False, MIDDLE)
    assert "hash does not match its content" in (result.problem or "")


# ---------------------------------------------------------------------------- tampering is named
def test_a_changed_byte_of_a_command_is_named(journal: tuple[Path, Path]) -> None:
    db, _ = journal
    seq = next(r[0] for r in rows(db) if r[0] >= MIDDLE and b'"qty":"' in bytes(r[2]))
    tamper(db, "UPDATE entries SET entry = ? WHERE seq = ?", flip_byte(entry_of(db, seq), b'"qty":"'), seq)
    result = verify(db)
    assert (result.ok, result.first_bad, result.torn_tail) == (False, seq, False)
    assert "hash does not match its content" in (result.problem or "")


def test_a_changed_byte_of_an_event_is_named(journal: tuple[Path, Path]) -> None:
    db, _ = journal
    seq = next(r[0] for r in rows(db) if r[0] >= MIDDLE and b'"type":"trade"' in bytes(r[2]))
    entry = entry_of(db, seq)
    trade = entry.index(b'"type":"trade"')
    tampered = entry[:trade] + flip_byte(entry[trade:], b'"price":"')
    tamper(db, "UPDATE entries SET entry = ? WHERE seq = ?", tampered, seq)
    assert verify(db).first_bad == seq


def test_a_removed_entry_is_named(journal: tuple[Path, Path]) -> None:
    db, _ = journal
    tamper(db, "DELETE FROM entries WHERE seq = ?", MIDDLE)
    result = verify(db)
    assert (result.ok, result.first_bad) == (False, MIDDLE)
    assert "missing" in (result.problem or "")


@pytest.mark.parametrize("columns", ["entry, prev_hash, hash", "entry"], ids=["whole rows", "contents only"])
def test_two_swapped_entries_are_named(journal: tuple[Path, Path], columns: str) -> None:
    db, _ = journal
    a, b = MIDDLE, MIDDLE + 1
    cols = [c.strip() for c in columns.split(",")]
    sets = ", ".join(
        f"{c} = (SELECT {c} FROM entries WHERE seq = CASE WHEN e.seq = {a} THEN {b} ELSE {a} END)" for c in cols
    )
    tamper(db, f"UPDATE entries AS e SET {sets} WHERE e.seq IN ({a}, {b})")
    assert entry_of(db, a).startswith(b"[%d," % b)
    result = verify(db)
    assert (result.ok, result.first_bad, result.torn_tail) == (False, a, False)


def test_a_changed_command_with_its_hashes_recomputed_is_caught_by_replay(journal: tuple[Path, Path]) -> None:
    """An attacker who rewrites the whole chain after the change still cannot make replay agree."""
    db, _ = journal
    seq = next(
        r[0]
        for r in rows(db)
        if r[0] >= MIDDLE and b'"type":"place_order"' in bytes(r[2]) and b'"qty":"' in bytes(r[2])
    )
    all_rows = rows(db)
    prev = all_rows[seq - 2][4]
    rewritten = []
    for s, _key, entry, _prev, _hash in all_rows[seq - 1 :]:
        data = flip_byte(bytes(entry), b'"qty":"') if s == seq else bytes(entry)
        digest = entry_hash(prev, data)
        rewritten.append((data, prev, digest, s))
        prev = digest
    tamper(db, "UPDATE entries SET entry = ?, prev_hash = ?, hash = ? WHERE seq = ?", many=rewritten)
    result = verify(db)
    assert result.first_bad == seq
    assert "other events" in (result.problem or "")


# ---------------------------------------------------------------------------- the command line
def test_audit_verify_exits_non_zero_naming_the_first_bad_entry(journal: tuple[Path, Path]) -> None:
    db, _ = journal
    tamper(db, "DELETE FROM entries WHERE seq = ?", MIDDLE)
    done = onshore("audit", "verify", "--journal", db)
    assert done.returncode == 1
    assert f"entry {MIDDLE} is bad" in done.stderr
    assert last_json_line(done.stdout)["first_bad_seq"] == MIDDLE


def test_a_journal_broken_in_the_middle_refuses_to_start(journal: tuple[Path, Path]) -> None:
    db, commands = journal
    tamper(db, "UPDATE entries SET hash = zeroblob(32) WHERE seq = ?", MIDDLE)
    before = rows(db)
    with pytest.raises(ChainBroken) as info:
        build(db, commands)
    assert info.value.seq == MIDDLE and not info.value.torn_tail
    done = cli("run", "--journal", db, commands)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"chain broken at entry {MIDDLE}" in done.stderr
    assert rows(db) == before  # nothing discarded, nothing appended


# ---------------------------------------------------------------------------- torn tails
@pytest.mark.parametrize("torn", [1, 3])
def test_a_torn_tail_is_reported_in_one_line_and_discarded(journal: tuple[Path, Path], torn: int) -> None:
    db, commands = journal
    last = rows(db)[-1][0]
    tamper(db, "UPDATE entries SET entry = substr(entry, 1, length(entry) / 2) WHERE seq > ?", last - torn)
    result = verify(db)
    assert (result.ok, result.first_bad, result.torn_tail) == (False, last - torn + 1, True)

    notes: list[str] = []
    assert build(db, commands, notes=notes) == last  # the torn commands come again from the input
    torn_notes = [n for n in notes if "torn tail" in n]
    assert len(torn_notes) == 1
    assert f"{torn} entr" in torn_notes[0] and f"from seq {last - torn + 1}" in torn_notes[0]
    after = verify(db)
    assert after.ok and (after.seq, after.state_hash) == replay_state(stream(N))


def test_the_cli_reports_a_torn_tail_on_stderr_and_goes_on(journal: tuple[Path, Path]) -> None:
    db, commands = journal
    last = rows(db)[-1][0]
    tamper(db, "UPDATE entries SET entry = substr(entry, 1, 10) WHERE seq = ?", last)
    done = cli("run", "--journal", db, commands)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "torn tail" in line] == [
        f"journal: torn tail discarded: 1 entry from seq {last} (its stored hash does not match its content "
        f"(the entry was changed or torn)); recovered through seq {last - 1}"
    ]
    assert done.stdout.splitlines() == [f'{{"seq": {last}, "status": "accepted"}}']


# ---------------------------------------------------------------------------- snapshots and the header
def test_a_tampered_snapshot_is_passed_over_by_recovery_and_named_by_verify(journal: tuple[Path, Path]) -> None:
    db, _ = journal
    snap_seq = 400
    tamper(db, "UPDATE snapshots SET state_hash = ? WHERE seq = ?", "0" * 64, snap_seq)
    store = SQLiteJournal(db)
    try:
        recovered = recover(store)
    finally:
        store.close()
    assert recovered.venue.state_hash() == replay_state(stream(N))[1]
    assert recovered.snapshot_seq != snap_seq
    assert any(f"snapshot at seq {snap_seq}" in n for n in recovered.notes)
    result = verify(db)
    assert (result.ok, result.first_bad) == (False, snap_seq)


def test_an_altered_configuration_in_the_header_refuses(journal: tuple[Path, Path]) -> None:
    db, commands = journal
    tamper(db, "UPDATE meta SET value = replace(value, '\"0.0004\"', '\"0.0001\"') WHERE name = 'config'")
    with pytest.raises(JournalError, match="header was altered"):
        build(db, commands)


# ---------------------------------------------------------------------------- the classifier on its own
def _chain(n: int) -> list[tuple[int, int, bytes, bytes, bytes]]:
    prev = hashlib.sha256(b"genesis").digest()
    out = []
    for seq in range(1, n + 1):
        entry = b"[%d,%d,{},[]]" % (seq, seq)
        digest = entry_hash(prev, entry)
        out.append((seq, seq, entry, prev, digest))
        prev = digest
    return out


@pytest.mark.parametrize(
    ("damage", "first_bad", "torn"),
    [
        ("none", None, False),
        ("truncate last", 10, True),
        ("truncate last two", 9, True),
        ("truncate middle", 5, False),
        ("drop middle", 5, False),
        ("drop first", 1, False),
        ("swap middle", 5, False),
        ("duplicate", 6, False),
    ],
)
def test_chain_check_tells_a_torn_tail_from_a_broken_middle(damage: str, first_bad: int | None, torn: bool) -> None:
    chain = _chain(10)
    cut = lambda r: (r[0], r[1], r[2][:5], r[3], r[4])  # noqa: E731
    if damage == "truncate last":
        chain[9] = cut(chain[9])
    elif damage == "truncate last two":
        chain[8], chain[9] = cut(chain[8]), cut(chain[9])
    elif damage == "truncate middle":
        chain[4] = cut(chain[4])
    elif damage == "drop middle":
        del chain[4]
    elif damage == "drop first":
        del chain[0]
    elif damage == "swap middle":
        chain[4], chain[5] = (5, *chain[5][1:]), (6, *chain[4][1:])  # type: ignore[assignment]
    elif damage == "duplicate":
        chain.insert(5, chain[4])
    check = ChainCheck(hashlib.sha256(b"genesis").digest())
    good = [r[0] for r in check.entries(chain)]
    assert check.first_bad == first_bad
    assert check.torn_tail is torn
    assert good == list(range(1, (first_bad or 11)))
    assert check.last_seq == (first_bad or 11) - 1


def test_a_torn_write_ahead_log_leaves_a_whole_prefix_and_the_run_goes_on(tmp_path: Path) -> None:
    """Below the chain, SQLite checks its own log: a torn last frame loses that transaction whole, never part."""
    lines = stream(3000)
    commands = write_lines(tmp_path / "commands.jsonl", lines)
    db = tmp_path / "journal.db"
    args = [sys.executable, "-m", "onshore.adapters.cli", "run", "--journal", str(db), str(commands), "--batch", "50"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    assert proc.stdout is not None
    acked = [proc.stdout.readline() for _ in range(1500)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    assert all(acked)
    wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
    assert wal.stat().st_size > 0
    with wal.open("r+b") as f:  # the machine went down while the last frame was being written
        f.truncate(wal.stat().st_size - 100)
    shm.unlink(missing_ok=True)
    store = SQLiteJournal(db)
    try:
        recovered = recover(store)
    finally:
        store.close()
    assert recovered.last_seq > 0  # a whole prefix: the chain holds to its end (recover raises otherwise)
    assert not recovered.notes
    done = cli("run", "--journal", db, commands)
    assert done.returncode == 0, done.stderr
    after = verify(db)
    assert after.ok and (after.seq, after.state_hash) == replay_state(lines)
