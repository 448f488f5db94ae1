"""One writer per journal: an exclusive lock held for as long as the journal is being written.

``onshore run`` takes the lock before recovery and keeps it until its writer has stopped.
The lock is a ``flock`` on ``<journal>.lock``, shared with the forked writer process, so
it is free again only when both have exited (SIGKILL included): a restart can never
recover while a previous writer might still commit.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from onshore.journal.base import JournalLocked


class JournalLock:
    """An exclusive lock on ``<path>.lock``; waits up to ``timeout_s`` for it."""

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(f"{path}.lock")
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`JournalLocked` after ``timeout_s``."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise JournalLocked(f"another process is writing the journal ({self.path} is locked)") from None
                time.sleep(0.02)
                continue
            self._fd = fd
            return

    def release(self) -> None:
        """Let the lock go."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> JournalLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
