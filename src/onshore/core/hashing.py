"""Canonical encoding and hashing of state, for determinism checks and the audit trail."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder(order="sorted")


def canonical_json(value: Any) -> bytes:
    """Encode ``value`` as JSON with sorted keys and no insignificant whitespace."""
    return _encoder.encode(value)


def sha256_hex(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def state_hash(state: Any) -> str:
    """Return the SHA-256 of the canonical JSON of ``state``."""
    return sha256_hex(canonical_json(state))
