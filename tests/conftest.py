"""Shared test setup.

The hot modules (book, clearing, venue) may be compiled with mypyc (``make build``). A compiled
module older than its source would silently test old code, so the suite refuses to
start until it is rebuilt.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "onshore"


def _stale_compiled_modules() -> list[str]:
    stale = []
    for compiled in SRC.glob("*/*.so"):
        source = compiled.parent / (compiled.name.split(".")[0] + ".py")
        if source.exists() and compiled.stat().st_mtime < source.stat().st_mtime:
            stale.append(compiled.name)
    return stale


def pytest_sessionstart(session: pytest.Session) -> None:
    stale = _stale_compiled_modules()
    if stale:
        pytest.exit(f"compiled modules older than their source: {', '.join(stale)}; run `make build`", returncode=2)
