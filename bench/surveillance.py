"""Benchmark: every surveillance detector and daily report over 5,000,000 events, beside a plain loop.

The events come from the seeded simulation of tests/surveillance/generator.py run over as
many days as it takes (market makers, ordinary traders, and the planted abusers on every
day, so that every detector has work), replayed through the real Venue once and cached
under bench/.cache as msgpack. Each run then decodes the cache (timed apart), and measures
in CPU seconds, alternately:

- the baseline: a plain loop over the same event structs that only looks at each one's type;
- the surveillance pass: :class:`onshore.surveillance.engine.Surveillance` over the same
  events, with the index updates as its quote source, then ``finish()`` (every day's
  large-trader, position and market rows, every alert).

    python bench/surveillance.py [--events 5000000] [--seed 42] [--repeat 3] [--profile]

Ends with one JSON line ``{"events", "seconds", "events_per_s", …}``: ``seconds`` is the
median CPU time of the surveillance pass. A benchmark, not a test: it never fails because
the machine is slow.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Union

import msgspec

from _workload import CACHE, peak_rss_mb
from onshore.config.load import load_config
from onshore.core import events as ev_types
from onshore.core.commands import IndexUpdate
from onshore.core.events import Event
from onshore.surveillance.config import SurveillanceConfig, venue_facts
from onshore.surveillance.engine import Surveillance, SurveillanceResult

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests" / "surveillance"
FRAME = 100_000
DAY_MS = 86_400_000
EVENTS_PER_DAY = 600_000  # about what the simulated population makes in a day (to size the run)

EVENT_TYPES = tuple(
    cls for cls in vars(ev_types).values() if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event
)
AnyEvent = Union[EVENT_TYPES]  # type: ignore[valid-type]  # noqa: UP007


# ---------------------------------------------------------------------------- the cached stream
def _cache_path(n: int, seed: int) -> Path:
    return CACHE / f"surveillance_{n}_{seed}.msgpack"


def generate(n: int, seed: int) -> tuple[list[Event], list[tuple[int, IndexUpdate]]]:
    """Run the simulation until it has made ``n`` events; return them and the index updates."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import generator as g

    days = n // EVENTS_PER_DAY + 1
    hour = 3_600_000
    t0 = g.T0
    every_day = range(days)
    agents = [
        g.WashTrader(times=tuple(t0 + d * DAY_MS + 2 * hour + k * 600_000 for d in every_day for k in range(6))),
        g.Spoofer(times=tuple(t0 + d * DAY_MS + 4 * hour + 7_300 + k * 900_000 for d in every_day for k in range(5))),
        g.FundingManipulator(
            order_samples=tuple(s for d in every_day for s in g.sample_times(t0 + d * DAY_MS + 6 * hour + 60_000, 10)),
            trade_samples=tuple(s for d in every_day for s in g.sample_times(t0 + d * DAY_MS + 8 * hour + 60_000, 6)),
        ),
        g.Flasher(start=t0 + 14 * hour),
        g.Accumulator(start=t0 + 12 * hour),
    ]
    agents += [
        g.QuoteDistorter(start=t0 + d * DAY_MS + 10 * hour, end=t0 + d * DAY_MS + 10 * hour + 600_000)
        for d in every_day
    ]
    started = time.perf_counter()
    sim = g.planted(seed, *agents, duration_ms=days * DAY_MS)
    print(
        f"generated {len(sim.commands):,} commands -> {len(sim.events):,} events over {days} days "
        f"in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    events = sim.events[:n]
    last_cmd = events[-1].cmd
    updates = [(i, cmd) for i, cmd in enumerate(sim.commands[:last_cmd], start=1) if type(cmd) is IndexUpdate]
    return events, updates


def save(path: Path, events: list[Event], updates: list[tuple[int, IndexUpdate]]) -> None:
    encoder = msgspec.msgpack.Encoder()
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        for blob in [encoder.encode(updates)] + [
            encoder.encode(events[i : i + FRAME]) for i in range(0, len(events), FRAME)
        ]:
            f.write(struct.pack("<Q", len(blob)))
            f.write(blob)
    tmp.replace(path)


def load(path: Path) -> tuple[list[Event], list[tuple[int, IndexUpdate]], float]:
    """Decode the cache; return the events, the index updates and the CPU seconds decoding took."""
    events_decoder = msgspec.msgpack.Decoder(list[AnyEvent])  # type: ignore[valid-type]
    updates_decoder = msgspec.msgpack.Decoder(list[tuple[int, IndexUpdate]])
    events: list[Event] = []
    data = path.read_bytes()
    t0 = time.process_time()
    pos = 0
    (size,) = struct.unpack_from("<Q", data, pos)
    updates = updates_decoder.decode(data[pos + 8 : pos + 8 + size])
    pos += 8 + size
    while pos < len(data):
        (size,) = struct.unpack_from("<Q", data, pos)
        events.extend(events_decoder.decode(data[pos + 8 : pos + 8 + size]))
        pos += 8 + size
    return events, updates, time.process_time() - t0


# ---------------------------------------------------------------------------- the runs
def baseline(events: list[Event]) -> int:
    """A plain loop over the events: what iterating alone costs."""
    trades = 0
    trade = ev_types.Trade
    for ev in events:
        if type(ev) is trade:
            trades += 1
    return trades


def surveil(events: list[Event], updates: list[tuple[int, IndexUpdate]], facts: Any) -> SurveillanceResult:
    engine = Surveillance(SurveillanceConfig(), facts)
    engine.quotes_from(updates)
    engine.run(events)
    return engine.finish()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one surveillance pass instead")
    args = ap.parse_args()
    CACHE.mkdir(exist_ok=True)
    path = _cache_path(args.events, args.seed)
    if not path.exists():
        events, updates = generate(args.events, args.seed)
        save(path, events, updates)
        del events, updates
        gc.collect()
    gc.disable()  # event structs are not tracked by the collector; the pass allocates few containers
    events, updates, decode_s = load(path)
    facts = venue_facts(load_config(None))
    n = len(events)
    if args.profile:
        import cProfile
        import pstats

        cProfile.runctx("surveil(events, updates, facts)", globals(), locals(), "/tmp/surveillance.prof")
        pstats.Stats("/tmp/surveillance.prof").sort_stats("tottime").print_stats(25)
        return 0
    clock = time.process_time
    ours: list[float] = []
    base: list[float] = []
    wall: list[float] = []
    result: SurveillanceResult | None = None
    for _ in range(args.repeat):
        t0 = clock()
        baseline(events)
        base.append(clock() - t0)
        w0 = time.perf_counter()
        t0 = clock()
        result = surveil(events, updates, facts)
        ours.append(clock() - t0)
        wall.append(time.perf_counter() - w0)
    assert result is not None
    ours_s = statistics.median(ours)
    base_s = statistics.median(base)
    kinds = Counter(type(ev).__name__ for ev in events)
    alerts = Counter(a.kind for a in result.alerts)
    print(f"{'pass':<34}{'events/s':>14}{'median s':>10}   runs (CPU s)")
    print(f"{'surveillance (all detectors)':<34}{n / ours_s:>14,.0f}{ours_s:>10.3f}   {[round(x, 3) for x in ours]}")
    print(f"{'baseline (plain loop)':<34}{n / base_s:>14,.0f}{base_s:>10.3f}   {[round(x, 3) for x in base]}")
    print(f"{'decoding the cache (not counted)':<34}{n / decode_s:>14,.0f}{decode_s:>10.3f}")
    print(f"wall clock of the surveillance pass: {[round(x, 3) for x in wall]} s")
    print(f"{n:,} events over {len(result.days)} days: " + ", ".join(f"{k} {v:,}" for k, v in kinds.most_common(6)))
    print(
        f"rows: {len(result.large_traders):,} large-trader, {len(result.market):,} market, "
        f"{len(result.positions):,} positions; alerts: {dict(sorted(alerts.items()))}"
    )
    print(
        json.dumps(
            {
                "events": n,
                "seconds": round(ours_s, 3),
                "events_per_s": round(n / ours_s),
                "baseline_events_per_s": round(n / base_s),
                "alerts": sum(alerts.values()),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
