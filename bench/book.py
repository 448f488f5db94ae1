"""Benchmark: the standard workload through Onshore's order book, beside the reference.

Runs the seed-42, 1,000,000-event stream of ../shared/bench through
``onshore.book.OrderBook`` (full validation, every outcome an event, client order id
registry, price band and self-trade prevention active) and through the reference
``baseline_book.SimpleBook`` in the same process, in alternating chunks of 50,000
events, timing CPU seconds, and reports the median of the runs. Orders are spread
over two accounts, one per side, so that self-trade prevention never fires and the
fills can be compared with the known answer.

    python bench/book.py [--n 1000000] [--repeat 3]

Ends with one JSON line of the figures. This is a benchmark, not a test: it never
fails because the machine is slow; it exits non-zero only if the fills are wrong.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time

from _workload import KNOWN_FILLED_LOTS, KNOWN_TRADES, load, peak_rss_mb, run_baseline, shared_module
from onshore.book import OrderBook
from onshore.book.events import Fill
from onshore.book.records import GTC, IOC, LIMIT

CHUNK = 50_000


def run_paired(w: dict[str, list[int]], coids: list[str]) -> dict[str, float | int | OrderBook]:
    """Run both engines over the stream in alternating chunks; return their CPU seconds.

    Alternating chunks of the same stream (rather than one whole run after the other)
    makes the comparison hold on a machine whose speed drifts: a slow stretch hits both.
    """
    ours = OrderBook("BENCH", max_order_lots=1_000_000, price_band_ppb=50_000_000, market_protection_ppb=20_000_000)
    place, cancel = ours.place, ours.cancel
    base = shared_module("baseline_book").SimpleBook()
    accounts = ("bench-buyer", "bench-seller")
    clock = time.process_time
    trades = filled = 0
    t_ours = t_base = 0.0
    n = len(w["et"])
    for start in range(0, n, CHUNK):
        sl = slice(start, start + CHUNK)
        rows = list(zip(w["et"][sl], w["es"][sl], w["eo"][sl], w["ep"][sl], w["eq"][sl], coids[sl], strict=True))
        t_base += run_baseline(base, [row[:5] for row in rows])
        t1 = clock()
        for et, es, eo, ep, eq, coid in rows:
            if et == 1:
                events = cancel(accounts[es], eo)
            else:
                events = place(eo, accounts[es], coid, es, ep, eq, LIMIT, GTC if et == 0 else IOC)
            for ev in events:
                if type(ev) is Fill:
                    trades += 1
                    filled += ev.qty
        t2 = clock()
        t_ours += t2 - t1
    return {
        "ours_s": t_ours,
        "base_s": t_base,
        "trades": trades,
        "filled": filled,
        "base_trades": base.trades,
        "base_filled": base.fill_qty,
        "book": ours,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    w = load(args.n, args.seed)
    coids = [str(o) for o in w["eo"]]
    n = len(w["et"])
    ours: list[float] = []
    base: list[float] = []
    trades = filled = 0
    for _ in range(args.repeat):
        gc.collect()
        r = run_paired(w, coids)
        ours.append(float(r["ours_s"]))
        base.append(float(r["base_s"]))
        trades, filled = int(r["trades"]), int(r["filled"])
        book = r["book"]
        assert isinstance(book, OrderBook)
        book.check_invariants()
        if (trades, filled) != (r["base_trades"], r["base_filled"]):
            print(
                f"fills differ from the reference: {trades}/{filled} vs {r['base_trades']}/{r['base_filled']}",
                file=sys.stderr,
            )
            return 1
        del book, r
    eps = n / statistics.median(ours)
    beps = n / statistics.median(base)
    print(f"{'engine':<28}{'events/s':>14}{'median s':>10}   runs")
    for name, rate, runs in (("onshore OrderBook", eps, ours), ("baseline_book.SimpleBook", beps, base)):
        print(f"{name:<28}{rate:>14,.0f}{statistics.median(runs):>10.3f}   {[round(x, 3) for x in runs]}")
    known = f"{KNOWN_TRADES:,} / {KNOWN_FILLED_LOTS:,}"
    print(f"trades {trades:,}  filled lots {filled:,}  (known answer for seed 42, n=1M: {known})")
    if args.n == 1_000_000 and args.seed == 42 and (trades, filled) != (KNOWN_TRADES, KNOWN_FILLED_LOTS):
        print("fills differ from the known answer", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "events_per_s": round(eps),
                "baseline_events_per_s": round(beps),
                "ratio": round(eps / beps, 3),
                "trades": trades,
                "filled_lots": filled,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
