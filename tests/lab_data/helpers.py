"""Shared helpers of the lab data tests: the real data directory, and small file writers."""

from __future__ import annotations

from pathlib import Path

import pytest

from onshore.lab.data import data_dir

DATA = data_dir()

needs_data = pytest.mark.skipif(
    DATA is None,
    reason="the shared data directory (../shared/data, or $ONSHORE_DATA) is absent: real-data test skipped",
)


def shared() -> Path:
    """The shared data directory (only inside a ``needs_data`` test)."""
    assert DATA is not None
    return DATA


def write(path: Path, *lines: str) -> Path:
    """Write ``lines`` as a text file and return its path."""
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
