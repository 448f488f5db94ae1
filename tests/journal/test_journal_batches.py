"""Batches between the Venue's thread and the journal's writer: entries found by their lengths, keys of
both kinds, rejections acknowledged as such, and a batch that is not laid out as it says refused."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.adapters.durable import ForkedSnapshot
from onshore.config.load import load_config
from onshore.core.commands import decode_command
from onshore.journal import ChainCheck, JournalError, SQLiteJournal
from onshore.journal.commit import ChainWriter, ProcessCommitter
from onshore.journal.format import encode_entry, genesis_hash, pack_batch, snapshot_hash, unpack_batch
from onshore.journal.recovery import effective_config, new_meta, snapshot_with_hash
from onshore.venue import Venue

from .helpers import stream

keys = st.one_of(st.integers(min_value=1, max_value=2**40), st.text(max_size=12))


def _entries(first: int, batch_keys: list[int | str]) -> list[bytes]:
    return [
        encode_entry(
            (first + i, key, {"type": "deposit", "note": f"entry {i} ]],["}, [{"type": "x", "cmd": first + i}])
        )
        for i, key in enumerate(batch_keys)
    ]


@given(first=st.integers(min_value=1, max_value=10**9), batch_keys=st.lists(keys, max_size=40), data=st.data())
def test_a_packed_batch_unpacks_to_its_entries_keys_and_rejections(
    first: int, batch_keys: list[int | str], data: st.DataObject
) -> None:
    entries = _entries(first, batch_keys)
    seqs = list(range(first, first + len(entries)))
    rejected = data.draw(st.lists(st.sampled_from(seqs), unique=True) if seqs else st.just([]))
    batch = unpack_batch(pack_batch(first, entries, batch_keys, sorted(rejected)))
    assert batch.first_seq == first
    assert batch.keys() == batch_keys
    assert batch.rejected == sorted(rejected)
    assert batch.lengths == [len(e) for e in entries]
    assert bytes(batch.data) == b"".join(entries)


def _journal(tmp_path: Path) -> tuple[SQLiteJournal, bytes]:
    config_json = effective_config(None)
    store = SQLiteJournal(tmp_path / "journal.db")
    store.initialize(new_meta(config_json))
    return store, genesis_hash(config_json)


def test_the_writer_stores_each_entry_byte_for_byte_and_acknowledges_rejections(tmp_path: Path) -> None:
    store, genesis = _journal(tmp_path)
    ack_r, ack_w = os.pipe()
    writer = ChainWriter(store, 0, genesis, ack_w)
    first_keys: list[int | str] = [1, "a]b", 3]
    second_keys: list[int | str] = ['q"x', 5]
    first, second = _entries(1, first_keys), _entries(4, second_keys)
    assert writer.write_batches([pack_batch(1, first, first_keys, [2]), pack_batch(4, second, second_keys, [5])]) == 5
    acks = [json.loads(line) for line in os.read(ack_r, 1 << 16).decode().splitlines()]
    assert acks == [
        {"seq": 1, "status": "accepted"},
        {"seq": 2, "status": "rejected"},
        {"seq": 3, "status": "accepted"},
        {"seq": 4, "status": "accepted"},
        {"seq": 5, "status": "rejected"},
    ]
    check = ChainCheck(genesis)
    stored = list(check.entries(store.scan()))
    assert check.ok and check.last_seq == 5
    assert [(seq, key, entry) for seq, key, entry, _, _ in stored] == list(
        zip(range(1, 6), first_keys + second_keys, first + second, strict=True)
    )
    assert check.last_hash == writer.last_hash
    os.close(ack_r)
    os.close(ack_w)
    store.close()


@pytest.mark.parametrize(
    "case",
    ["starts elsewhere", "first entry numbered wrong", "last entry with another key", "lengths shifted"],
)
def test_a_batch_that_is_not_laid_out_as_it_says_is_refused_and_nothing_is_stored(tmp_path: Path, case: str) -> None:
    store, genesis = _journal(tmp_path)
    writer = ChainWriter(store, 0, genesis)
    batch_keys: list[int | str] = [1, 2, 3]
    entries = _entries(1, batch_keys)
    if case == "starts elsewhere":
        payload = pack_batch(2, _entries(2, batch_keys), batch_keys, [])
    elif case == "first entry numbered wrong":
        payload = pack_batch(1, [_entries(7, [1])[0], *entries[1:]], batch_keys, [])
    elif case == "last entry with another key":
        payload = pack_batch(1, entries, [1, 2, 9], [])
    else:
        payload = pack_batch(1, [entries[0] + entries[1][:5], entries[1][5:], entries[2]], batch_keys, [])
    with pytest.raises(JournalError):
        writer.write_batch(payload)
    assert store.last() is None and writer.last_seq == 0
    store.close()


def test_a_snapshot_the_writer_restores_somewhere_else_stops_the_writer_and_is_not_stored(tmp_path: Path) -> None:
    store, genesis = _journal(tmp_path)
    store.close()
    committer = ProcessCommitter(
        functools.partial(SQLiteJournal, tmp_path / "journal.db"), 0, genesis, None, lambda data: (1, 99, "wrong")
    )
    committer.submit_batch(pack_batch(1, _entries(1, [1]), [1], []))
    committer.submit_snapshot(1, 1, None, b"{}")
    committer.submit_batch(pack_batch(2, _entries(2, [2]), [2], []))
    with pytest.raises(JournalError, match="restores to entry 1, event 99"):
        committer.close()
    stored = SQLiteJournal(tmp_path / "journal.db", readonly=True)
    assert stored.snapshots() == []
    stored.close()


def test_the_writer_stores_a_snapshot_it_restored_bound_to_the_chain_where_it_was_taken(tmp_path: Path) -> None:
    store, genesis = _journal(tmp_path)
    store.close()
    committer = ProcessCommitter(
        functools.partial(SQLiteJournal, tmp_path / "journal.db"), 0, genesis, None, lambda data: (2, 2, "state")
    )
    for seq in (1, 2, 3, 4):
        committer.submit_batch(pack_batch(seq, _entries(seq, [seq]), [seq], []))
        if seq == 2:
            committer.submit_snapshot(2, 2, None, b"{}")
    assert committer.close() == 4
    stored = SQLiteJournal(tmp_path / "journal.db", readonly=True)
    check = ChainCheck(genesis, remember=(2,))
    assert len(list(check.entries(stored.scan()))) == 4
    [snap] = stored.snapshots()
    assert (snap.seq, snap.event_seq, snap.state_hash, snap.entry_hash) == (2, 2, "state", check.hashes[2])
    assert snap.hash == snapshot_hash(2, 2, "state", check.hashes[2], b"{}")
    stored.close()


def test_a_forked_snapshot_is_the_venue_as_it_was_at_the_fork(tmp_path: Path) -> None:
    venue = Venue(load_config(None))
    lines = [line for line in stream(400) if "garbage" not in line and "not a time" not in line]
    for line in lines[:200]:
        venue.apply(decode_command(line))
    expected = (venue.state_hash(), venue.snapshot())
    forked = ForkedSnapshot(venue)
    for line in lines[200:]:
        venue.apply(decode_command(line))
    assert venue.snapshot() != expected[1]  # the Venue moved on while the child wrote
    assert (forked.seq, forked.result(wait=True)) == (200, expected)


def test_the_snapshot_process_encodes_the_registry_once_with_the_same_result() -> None:
    venue = Venue(load_config(None))
    for line in stream(400):
        if "garbage" not in line and "not a time" not in line:
            venue.apply(decode_command(line))
    assert sum(map(len, venue.client_order_ids.values())) > 50  # the registry both share is not empty
    assert snapshot_with_hash(venue) == (venue.state_hash(), venue.snapshot())


def test_a_forked_snapshot_that_fails_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import onshore.adapters.durable as durable

    def broken(venue: Venue) -> tuple[str, bytes]:
        raise RuntimeError("no")

    monkeypatch.setattr(durable, "snapshot_with_hash", broken)
    forked = ForkedSnapshot(Venue(load_config(None)))
    with pytest.raises(JournalError, match="taking the snapshot after entry 0 failed"):
        forked.result(wait=True)
