"""Benchmark: the standard workload as commands through the whole Venue, beside the reference.

The seed-42, 1,000,000-event stream of ../shared/bench becomes ``place_order`` (GTC or
IOC limit orders on BTC-PERP) and ``cancel_order`` commands spread over 1,000 funded
accounts (buyers and sellers apart, so self-trade prevention never fires). Every
command goes through the full Venue: decimal parsing, validation, the worst-case
margin check, matching, position and ledger updates with fees, and protocol events.
The reference ``baseline_book.SimpleBook`` runs the same stream in the same process, in
alternating chunks of 50,000 commands; CPU seconds are compared.

    python bench/venue.py [--n 1000000] [--repeat 3]

Ends with one JSON line. A benchmark, not a test: it never fails because the machine
is slow; it exits non-zero only if the Venue's books or ledger are inconsistent.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from typing import Any

from _workload import load, peak_rss_mb, run_baseline, shared_module
from onshore.config.load import load_config
from onshore.core import commands as c
from onshore.core.events import Trade
from onshore.venue import Venue

CHUNK = 50_000
ACCOUNTS = 1_000
T0 = 1_767_225_600_000


def setup_commands() -> list[c.Command]:
    cmds: list[c.Command] = [c.RegisterMember(ts=T0, member="fcm-1", capital="100000000", default_fund="10000000")]
    for i in range(ACCOUNTS):
        cmds.append(c.OpenAccount(ts=T0, account=f"acct-{i}", member="fcm-1", segment="market_maker"))
        cmds.append(c.Deposit(ts=T0, account=f"acct-{i}", amount="10000000"))
    return cmds


def stream_commands(w: dict[str, list[int]], first_cmd: int) -> list[c.Command]:
    """Map the workload onto commands; order ids are the command numbers of the placements."""
    venue_id: dict[int, int] = {}
    out: list[c.Command] = []
    for i, (et, es, eo, ep, eq) in enumerate(zip(w["et"], w["es"], w["eo"], w["ep"], w["eq"], strict=True)):
        account = f"acct-{(eo % (ACCOUNTS // 2)) * 2 + es}"
        ts = T0 + 1 + i
        if et == 1:
            out.append(c.CancelOrder(ts=ts, account=account, market="BTC-PERP", order_id=venue_id[eo]))
        else:
            venue_id[eo] = first_cmd + i
            out.append(
                c.PlaceOrder(
                    ts=ts,
                    account=account,
                    market="BTC-PERP",
                    client_order_id=str(eo),
                    side="buy" if es == 0 else "sell",
                    qty=str(eq),
                    price=f"{ep // 10}.{ep % 10}",
                    time_in_force="gtc" if et == 0 else "ioc",
                )
            )
    return out


def run_paired(w: dict[str, list[int]], setup: list[c.Command], cmds: list[c.Command]) -> dict[str, Any]:
    venue = Venue(load_config('[markets.BTC-PERP]\nmax_order_qty = "100000"\n'))
    for cmd in setup:
        venue.apply(cmd)
    apply = venue.apply
    base = shared_module("baseline_book").SimpleBook()
    # The harness holds the whole stream (a million command objects) in memory, which a
    # venue fed over the wire never does; left in the collector's generations, every full
    # collection would walk them on the engines' time. Freeze what exists now (the stream
    # and the funded, empty Venue); both engines are measured with the collector on.
    gc.collect()
    gc.freeze()
    clock = time.process_time
    t_ours = t_base = 0.0
    trades = 0
    events_total = 0
    n = len(cmds)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        cols = [w[key][start:stop] for key in ("et", "es", "eo", "ep", "eq")]
        rows = list(zip(*cols, strict=True))
        t_base += run_baseline(base, rows)
        t1 = clock()
        for cmd in cmds[start:stop]:
            events = apply(cmd)
            events_total += len(events)
            for ev in events:
                if type(ev) is Trade:
                    trades += 1
        t2 = clock()
        t_ours += t2 - t1
    gc.unfreeze()
    return {"ours_s": t_ours, "base_s": t_base, "trades": trades, "events": events_total, "venue": venue}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one Venue run instead")
    args = ap.parse_args()
    w = load(args.n, args.seed)
    setup = setup_commands()
    cmds = stream_commands(w, len(setup) + 1)
    if args.profile:
        import cProfile
        import pstats

        venue = Venue(load_config('[markets.BTC-PERP]\nmax_order_qty = "100000"\n'))
        for cmd in setup:
            venue.apply(cmd)
        cProfile.runctx("for cmd in cmds: apply(cmd)", {"cmds": cmds, "apply": venue.apply}, {}, "/tmp/venue.prof")
        pstats.Stats("/tmp/venue.prof").sort_stats("tottime").print_stats(25)
        return 0
    ours: list[float] = []
    base: list[float] = []
    result: dict[str, Any] = {}
    for _ in range(args.repeat):
        gc.collect()
        result = run_paired(w, setup, cmds)
        ours.append(result["ours_s"])
        base.append(result["base_s"])
        result["venue"].check_invariants()
        del result["venue"]
    n = len(cmds)
    cps = n / statistics.median(ours)
    beps = n / statistics.median(base)
    print(f"{'engine':<28}{'per s':>14}{'median s':>10}   runs")
    for name, rate, runs in (("onshore Venue (commands)", cps, ours), ("baseline_book (events)", beps, base)):
        print(f"{name:<28}{rate:>14,.0f}{statistics.median(runs):>10.3f}   {[round(x, 3) for x in runs]}")
    print(f"{n:,} commands, {result['events']:,} events, {result['trades']:,} trades, {ACCOUNTS} accounts")
    print(
        json.dumps(
            {
                "commands_per_s": round(cps),
                "baseline_events_per_s": round(beps),
                "ratio": round(cps / beps, 3),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
