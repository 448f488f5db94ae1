"""The journal's format: entries, the hash chain over them, and the hashes of snapshots.

An **entry** is one applied command with everything it caused, as the JSON array

    [seq, key, command, events]

- ``seq``: the Venue's command number (1, 2, 3, … with no gap);
- ``key``: the idempotency key: the command's ``id`` (a string) or, without one, the
  number of its input line (an integer);
- ``command``: the command in the protocol's own encoding (msgspec: fields in declaration
  order, every field present, no whitespace); a line that did not decode as a command is
  kept as an ``unparsed_line`` record (:class:`UnparsedLine`) with the rejection it got;
- ``events``: the events the command caused, each encoded exactly as ``onshore replay``
  prints it.

These bytes are the canonical content of the entry: they are stored as they are and
never re-encoded, so a verifier needs no knowledge of the encoder to check them.

The **hash chain**: ``hash = SHA-256(prev_hash ‖ entry)``, where ``prev_hash`` is the hash
of the previous entry, and for entry 1 the journal's genesis hash, which covers the
format name and the Venue configuration. Changing, removing, inserting or reordering any
byte of any entry changes every hash from there on.

A **snapshot** is bound to the chain by the hash of the entry it was taken after; its own
hash covers its sequence number, event counter, state hash, that entry hash and the
SHA-256 of its bytes (:func:`snapshot_hash`).
"""

from __future__ import annotations

import array
import hashlib
import struct
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from onshore.core.commands import AnyCommand
from onshore.core.hashing import canonical_json

FORMAT: Final = "onshore-journal/1"
HASH_SIZE: Final = 32

Key = int | str
"""An idempotency key: a command's ``id``, else the number of its input line."""

EntryRow = tuple[int, Key, bytes, bytes, bytes]
"""One stored entry: ``(seq, key, entry, prev_hash, hash)``; hashes are 32 raw bytes."""

LinkRow = tuple[Key, bytes, bytes, bytes]
"""What checking an entry's place in the chain reads: ``(key, entry, prev_hash, hash)``."""


class UnparsedLine(msgspec.Struct, frozen=True, tag_field="type", tag="unparsed_line", kw_only=True):
    """An input line that did not decode as a command, kept with the rejection it received.

    Replaying it calls ``Venue.reject_line(reason, detail, line)`` again, which numbers it
    and yields the same ``command_rejected`` event.
    """

    line: int
    text: str
    reason: str
    detail: str


Journaled = AnyCommand | UnparsedLine
"""What the command slot of an entry holds."""

_encoder: Final = msgspec.json.Encoder()
_entry_decoder: Final = msgspec.json.Decoder(tuple[int, Key, Journaled, msgspec.Raw])
_head_decoder: Final = msgspec.json.Decoder(tuple[int, Key, msgspec.Raw, msgspec.Raw])
_keys_decoder: Final = msgspec.json.Decoder(list[Key])

REJECTED_PREFIX: Final = b'[{"type":"command_rejected"'
"""How the events of a rejected command begin: its one ``command_rejected`` event."""

encode_entry: Final = _encoder.encode
"""Encode one entry ``(seq, key, command, events)``: its canonical bytes (one C call)."""


def encode(value: Any) -> bytes:
    """Encode ``value`` as the journal does (msgspec JSON: compact, structs in declaration order)."""
    return _encoder.encode(value)


# A batch on its way from the Venue's thread to the journal's writer, in one buffer:
#
#     header (first seq, entries, rejected, bytes of keys) | lengths (uint32 each) | rejected seqs (uint64 each)
#     | keys (a JSON array) | the entries' canonical bytes, back to back
#
# The writer finds every entry by its length, without parsing any JSON; native byte order
# (both ends are the same machine).
_BATCH_HEADER: Final = struct.Struct("=QIII")


@dataclass(frozen=True, slots=True)
class PackedBatch:
    """A batch unpacked by :func:`unpack_batch`: the entries are back to back from ``payload[data_start]``."""

    first_seq: int
    payload: bytes
    data_start: int
    lengths: list[int]
    keys_json: bytes
    rejected: list[int]

    @property
    def data(self) -> memoryview:
        """The entries, back to back (a view, no copy)."""
        return memoryview(self.payload)[self.data_start :]

    def keys(self) -> list[Key]:
        """The entries' idempotency keys."""
        keys: list[Key] = _keys_decoder.decode(self.keys_json)
        return keys


def pack_batch(first_seq: int, entries: list[bytes], keys: list[Key], rejected: list[int]) -> bytes:
    """Pack encoded entries (:data:`encode_entry`) ``first_seq``, ``first_seq + 1``, … for the writer.

    ``rejected`` lists the sequence numbers of the rejected commands among them (their
    acknowledgments say so). Runtime complexity: O(total size), a few C calls.
    """
    if len(keys) != len(entries):
        raise ValueError(f"{len(entries)} entries but {len(keys)} keys")
    keys_json = _encoder.encode(keys)
    return b"".join(
        [
            _BATCH_HEADER.pack(first_seq, len(entries), len(rejected), len(keys_json)),
            array.array("I", map(len, entries)).tobytes(),
            array.array("Q", rejected).tobytes(),
            keys_json,
            *entries,
        ]
    )


def unpack_batch(payload: bytes) -> PackedBatch:
    """Read a :func:`pack_batch` buffer back; the entries stay where they are (a view, no copy)."""
    first, count, rejected_count, keys_size = _BATCH_HEADER.unpack_from(payload)
    view = memoryview(payload)
    at = _BATCH_HEADER.size
    lengths = view[at : at + 4 * count].cast("I").tolist()
    at += 4 * count
    rejected = view[at : at + 8 * rejected_count].cast("Q").tolist()
    at += 8 * rejected_count
    keys_end = at + keys_size
    if len(payload) - keys_end != sum(lengths):
        raise ValueError(
            f"a batch of {count} entries holds {len(payload) - keys_end} bytes of entries, not {sum(lengths)}"
        )
    return PackedBatch(first, payload, keys_end, lengths, bytes(view[at:keys_end]), rejected)


def decode_entry(entry: bytes) -> tuple[int, Key, Journaled, msgspec.Raw]:
    """Decode an entry for replay: ``(seq, key, command or UnparsedLine, raw events)``."""
    result: tuple[int, Key, Journaled, msgspec.Raw] = _entry_decoder.decode(entry)
    return result


def decode_head(entry: bytes) -> tuple[int, Key, msgspec.Raw, msgspec.Raw]:
    """Decode an entry without building the command: ``(seq, key, raw command, raw events)``."""
    return _head_decoder.decode(entry)


def entry_prefix(seq: int, key: Key) -> bytes:
    """The bytes every entry with this ``seq`` and ``key`` starts with."""
    if type(key) is int:
        return b"[%d,%d," % (seq, key)
    return b"[%d,%s," % (seq, _encoder.encode(key))


def genesis_hash(config_json: bytes) -> bytes:
    """The ``prev_hash`` of entry 1: SHA-256 of the format name and the canonical configuration."""
    return hashlib.sha256(FORMAT.encode() + b"\n" + config_json).digest()


def entry_hash(prev_hash: bytes, entry: bytes) -> bytes:
    """SHA-256 of ``prev_hash`` followed by the entry's canonical bytes."""
    h = hashlib.sha256(prev_hash)
    h.update(entry)
    return h.digest()


def snapshot_hash(seq: int, event_seq: int, state_hash: str, chain_hash: bytes, data: bytes | None) -> bytes:
    """The hash of a snapshot record, binding it to the chain at entry ``seq``."""
    record = {
        "format": FORMAT,
        "seq": seq,
        "event_seq": event_seq,
        "state_hash": state_hash,
        "entry_hash": chain_hash.hex(),
        "data_sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
    }
    return hashlib.sha256(canonical_json(record)).digest()


def is_rejection(raw_events: bytes | msgspec.Raw) -> bool:
    """True when the events of an entry are a rejection (its one ``command_rejected`` event)."""
    return bytes(memoryview(raw_events)[: len(REJECTED_PREFIX)]) == REJECTED_PREFIX
