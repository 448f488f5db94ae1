"""Crash tests: ``onshore run`` killed with SIGKILL at random (seeded) moments, restarted each time.

After every kill: every acknowledged command is in the journal (with the status it was
acknowledged with), sequence numbers run 1, 2, 3, … without a gap, every entry holds its
whole command and all its events (no half-applied command), and the commands journaled are
exactly the input lines, in order, each once. At the end the state hash equals a clean
``onshore replay`` of the same file. The writer process dies with the Venue's: the lock is
free again at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest

from onshore.core.commands import MalformedCommand, decode_command, encode_command
from onshore.journal import ChainCheck, JournalLock, SQLiteJournal
from onshore.journal.format import decode_head, is_rejection
from onshore.journal.recovery import read_header

from .helpers import ROOT, last_json_line, onshore, stream, write_lines


class _EventStamp(msgspec.Struct):
    seq: int
    cmd: int
    type: str


_events = msgspec.json.Decoder(list[_EventStamp])


def expected_entries(lines: tuple[str, ...]) -> list[tuple[object, bytes]]:
    """What the journal must hold, in order: (idempotency key, command bytes or their prefix)."""
    out: list[tuple[object, bytes]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            command = decode_command(line)
        except MalformedCommand:
            out.append((number, b'{"type":"unparsed_line","line":%d,' % number))
            continue
        out.append((command.id if command.id is not None else number, encode_command(command)))
    return out


class Checked:
    """How far the journal has been checked entry by entry (the chain check covers all of it each time)."""

    def __init__(self) -> None:
        self.seq = 0
        self.next_event = 1


def check_journal(db: Path, acked: dict[int, str], expected: list[tuple[object, bytes]], checked: Checked) -> int:
    """Check everything a crash must not break; return the number of entries."""
    store = SQLiteJournal(db, readonly=True)
    try:
        _config, _json, genesis = read_header(store)
        chain = ChainCheck(genesis)
        entries = [e for e in chain.entries(store.scan()) if e[0] > checked.seq]
    finally:
        store.close()
    assert chain.ok, f"chain broken at {chain.first_bad}: {chain.problem}"
    n = chain.last_seq
    assert n >= checked.seq, f"the journal shrank from {checked.seq} to {n} entries"
    assert [e[0] for e in entries] == list(range(checked.seq + 1, n + 1)), "sequence numbers are not contiguous"
    assert not acked or max(acked) <= n, f"acknowledged {max(acked)} but the journal ends at {n}"
    for (seq, key, entry, _prev, _hash), (want_key, want_command) in zip(
        entries, expected[checked.seq :], strict=False
    ):
        _, _, raw_command, raw_events = decode_head(entry)
        assert key == want_key, f"entry {seq} holds input key {key!r}, expected {want_key!r}"
        assert bytes(raw_command).startswith(want_command), f"entry {seq} holds another command"
        events = _events.decode(bytes(raw_events))
        assert all(ev.cmd == seq for ev in events), f"entry {seq} holds events of another command"
        first = checked.next_event
        assert [ev.seq for ev in events] == list(range(first, first + len(events))), f"events of entry {seq}"
        checked.next_event += len(events)
        rejected = is_rejection(raw_events)
        assert not rejected or len(events) == 1
    for seq, status in acked.items():
        if seq > checked.seq:
            raw_events = decode_head(entries[seq - checked.seq - 1][2])[3]
            assert status == ("rejected" if is_rejection(raw_events) else "accepted"), (
                f"entry {seq} acknowledged {status}"
            )
    checked.seq = n
    return n


def _complete_acks(data: bytes, acked: dict[int, str]) -> None:
    """Record every complete acknowledgment line (a line cut by the kill was never an acknowledgment)."""
    for line in data.split(b"\n")[:-1]:
        ack = json.loads(line)
        assert ack["seq"] not in acked or acked[ack["seq"]] == ack["status"]
        acked[ack["seq"]] = ack["status"]


def crash_and_restart(tmp_path: Path, *, kills: int, n: int, seed: int) -> None:
    """Kill ``onshore run`` ``kills`` times, checking the journal after each; then let it finish and compare.

    On a fast machine a run may finish the whole file before its kill comes: that journal is
    checked to the end like the others, and the kills go on with a new one.
    """
    lines = stream(n, seed)
    commands = write_lines(tmp_path / "commands.jsonl", lines)
    expected = expected_entries(lines)
    rng = np.random.default_rng(seed)
    killed = 0
    for episode in range(1, 100):
        db = tmp_path / f"journal-{episode}.db"
        acked: dict[int, str] = {}
        checked = Checked()
        args = [sys.executable, "-m", "onshore.adapters.cli", "run", "--journal", str(db), str(commands)]
        args += ["--batch", "64", "--snapshot-every", "700"]
        while killed < kills:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
            assert proc.stdout is not None and proc.stderr is not None
            seen = b""
            if rng.random() < 0.2:  # any moment: start-up, recovery, or applying
                time.sleep(float(rng.uniform(0.05, 0.7)))
            else:  # while applying: after a random number of acknowledgments
                for _ in range(int(rng.integers(1, 500))):
                    line = proc.stdout.readline()
                    if not line:
                        break
                    seen += line
                time.sleep(float(rng.uniform(0, 0.01)))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            rest, err = proc.stdout.read(), proc.stderr.read()
            proc.stdout.close()
            proc.stderr.close()
            _complete_acks(seen + rest, acked)
            lock = JournalLock(db, timeout_s=5)
            lock.acquire()  # the writer process died with the Venue's process
            lock.release()
            if db.exists():
                check_journal(db, acked, expected, checked)
            if proc.returncode == 0:  # it finished before the kill came
                break
            assert proc.returncode == -signal.SIGKILL, err.decode()
            killed += 1
        else:
            done = subprocess.run(args, capture_output=True, timeout=120, cwd=ROOT)
            assert done.returncode == 0, done.stderr.decode()
            _complete_acks(done.stdout, acked)
        total = check_journal(db, acked, expected, checked)
        assert total == len(expected)
        assert_same_state_as_replay(tmp_path, db, commands, total)
        if killed >= kills:
            return
    raise AssertionError(f"only {killed} of {kills} kills landed before the runs finished")


def assert_same_state_as_replay(tmp_path: Path, db: Path, commands: Path, total: int) -> None:
    verify = onshore("audit", "verify", "--journal", db)
    assert verify.returncode == 0, verify.stderr
    state_out = tmp_path / "state.json"
    replay = onshore("replay", commands, "--state-out", state_out)
    assert replay.returncode == 0, replay.stderr
    assert last_json_line(verify.stdout) == {
        "seq": total,
        "state_hash": json.loads(state_out.read_text())["state_hash"],
    }


def test_sigkill_at_random_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    crash_and_restart(tmp_path, kills=22, n=12_000, seed=20260101)


@pytest.mark.slow
def test_sigkill_many_times_on_a_long_stream(tmp_path: Path) -> None:
    crash_and_restart(tmp_path, kills=60, n=30_000, seed=20260102)


def test_the_writer_process_dies_with_the_venue(tmp_path: Path) -> None:
    """Kill only the Venue's process: its forked writer must not outlive it and keep committing."""
    commands = write_lines(tmp_path / "commands.jsonl", stream(4000))
    db = tmp_path / "journal.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "onshore.adapters.cli", "run", "--journal", str(db), str(commands), "--batch", "16"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    children = _children(proc.pid)
    assert children, "no writer process"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{c}").exists() and "Z" not in _state(c) for c in children):
        assert time.monotonic() < deadline, "the writer process outlived the Venue's process"
        time.sleep(0.01)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(")")[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"
