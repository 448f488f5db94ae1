"""Shared helpers for the journal's tests: build journals, run the CLI, read entries back."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from onshore.adapters.cli import app, replay_lines
from onshore.adapters.durable import run_journal
from onshore.config.load import load_config
from onshore.journal import SQLiteJournal
from onshore.venue import Venue

from .stream import generate_stream

ROOT = Path(__file__).resolve().parents[2]


@cache
def stream(n: int, seed: int = 7) -> tuple[str, ...]:
    """The generated stream (cached: the tests share a few sizes)."""
    return tuple(generate_stream(n, seed))


def write_lines(path: Path, lines: tuple[str, ...] | list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def replay_state(lines: tuple[str, ...] | list[str], config: str | None = None) -> tuple[int, str]:
    """``(commands, state hash)`` of a clean, uninterrupted in-memory run."""
    venue = Venue(load_config(config))
    for _ in replay_lines(venue, lines):
        pass
    return venue.cmd, venue.state_hash()


def build(
    journal: Path, commands: Path, *, batch: int = 64, snapshot_every: int = 0, writer: str = "inline", **kw: Any
) -> int:
    """Run ``onshore run`` in this process (no acknowledgments written); return the last durable seq."""
    notes: list[str] = kw.pop("notes", [])
    return run_journal(
        journal,
        commands,
        batch=batch,
        snapshot_every=snapshot_every,
        writer=writer,
        ack_fd=None,
        log=notes.append,
        **kw,
    )


def cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``onshore`` in a subprocess and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "onshore.adapters.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def onshore(*args: str | Path) -> Outcome:
    """Run an ``onshore`` command in this process (faster than a subprocess; not for ``run``, whose
    acknowledgments go straight to file descriptor 1)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def last_json_line(text: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    return result


def rows(journal: Path) -> list[tuple[Any, ...]]:
    store = SQLiteJournal(journal, readonly=True)
    try:
        return list(store.scan())
    finally:
        store.close()


def tamper(journal: Path, sql: str, *params: Any, many: list[tuple[Any, ...]] | None = None) -> None:
    """Change the journal behind its back (what an attacker or a bad disk would do)."""
    con = sqlite3.connect(journal)
    try:
        with con:
            if many is not None:
                con.executemany(sql, many)
            else:
                con.execute(sql, params)
    finally:
        con.close()
