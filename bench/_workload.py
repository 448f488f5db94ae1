"""Load the standard order-book workload of ../shared/bench (cached under bench/.cache)."""

from __future__ import annotations

import importlib
import os
import resource
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# numpy's OpenBLAS spins worker threads that process CPU time would count: the
# benchmarks use no BLAS, so keep it to one thread.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED_BENCH = Path(os.environ.get("ONSHORE_SHARED_BENCH", HERE.parent.parent / "shared" / "bench"))
CACHE = HERE / ".cache"

KNOWN_TRADES = 365_431
KNOWN_FILLED_LOTS = 2_982_052


def shared_module(name: str) -> Any:
    """Import a module of ../shared/bench (the workload generator or the baseline book)."""
    if not SHARED_BENCH.is_dir():
        sys.exit(f"the standard workload is not at {SHARED_BENCH}; set ONSHORE_SHARED_BENCH")
    if str(SHARED_BENCH) not in sys.path:
        sys.path.insert(0, str(SHARED_BENCH))
    return importlib.import_module(name)


def load(n: int = 1_000_000, seed: int = 42) -> dict[str, list[int]]:
    """Return the stream as Python lists: et (0 add, 1 cancel, 2 IOC), es, eo, ep, eq."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"lob_events_{n}_{seed}.npz"
    if not path.exists():
        workload = shared_module("workload")
        arrays, _stats = workload.generate(n, seed)
        np.savez(path, **{k: arrays[k] for k in ("et", "es", "eo", "ep", "eq")})
    data = np.load(path)
    return {k: data[k].tolist() for k in ("et", "es", "eo", "ep", "eq")}


def run_baseline(book: Any, rows: Iterable[tuple[int, int, int, int, int]]) -> float:
    """CPU seconds the reference book ``book`` takes for ``rows`` of ``(et, es, eo, ep, eq)``."""
    limit, ioc, cancel = book.limit, book.ioc, book.cancel
    clock = time.process_time
    t0 = clock()
    for et, es, eo, ep, eq in rows:
        if et == 0:
            limit(eo, es, ep, eq)
        elif et == 1:
            cancel(eo)
        else:
            ioc(eo, es, ep, eq)
    return clock() - t0


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
