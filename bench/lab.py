"""Benchmark: 1,000 shock scenarios × 100,000 accounts, without and with the liquidation cascade.

Each scenario is an instantaneous price shock applied to a seeded population: mark to
market, the maintenance check, each liquidated account's shortfall and the attribution
(US-clearing waterfall and offshore insurance fund / ADL). Three computations of the same
numbers are timed on the same data in the same run and checked against each other: the
sorted-threshold book (each account's exact liquidation and bankruptcy prices sorted once,
then prefix sums: O(log n) per scenario), the per-account compiled scan (numba, parallel
over scenarios), and plain numpy (the baseline).

    python bench/lab.py [--scenarios 1000] [--accounts 100000]

Ends with one JSON line. A benchmark, not a test: it never fails because the machine
is slow; it exits non-zero only if the two computations disagree.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from _workload import peak_rss_mb
from onshore.clearing.margin import Tiers
from onshore.config.load import default_config
from onshore.lab.kernel import (
    ShockBook,
    attribute_offshore,
    attribute_us_clearing,
    shock_losses,
    shock_losses_numpy,
    shock_sorted,
)
from onshore.lab.population import PopulationSpec, build_population


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=1_000)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--depth", type=int, default=2_000, help="lots per tick of the depth curve (cascade run)")
    args = ap.parse_args()
    config = default_config()
    market = config.markets["BTC-PERP"]
    tiers = Tiers(market)
    p0 = 1_000_000  # $100,000
    pop = build_population(
        PopulationSpec(accounts=args.accounts, open_interest_usd=2_000_000_000.0), market, config, p0
    )
    shocks = np.linspace(-0.40, 0.40, args.scenarios)
    prices = np.maximum(1, np.round(p0 * (1 + shocks))).astype(np.int64)
    members = len(pop.member_ids)
    n_pairs = args.scenarios * len(pop.qty)

    shock_losses(pop.qty, pop.cost, pop.cash, pop.member, prices[:2], tiers, members)  # compile once
    top = int(prices.max()) * 4
    t0 = time.perf_counter()
    book = ShockBook(pop.qty, pop.cost, pop.cash, pop.member, tiers, top, members)
    build_s = time.perf_counter() - t0
    liq, trader, shortfall, _, _ = shock_sorted(book, prices)
    us = attribute_us_clearing(shortfall, pop.member_capital, pop.member_default_fund, 10_000_000 * 10**6)
    off = attribute_offshore(shortfall, 0)
    fused_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    liq_scan, trader_scan, shortfall_scan, _, _ = shock_losses(
        pop.qty, pop.cost, pop.cash, pop.member, prices, tiers, members
    )
    scan_s = time.perf_counter() - t0
    if not (
        np.array_equal(liq, liq_scan)
        and np.array_equal(trader, trader_scan)
        and np.array_equal(shortfall, shortfall_scan)
    ):
        print("the sorted thresholds and the per-account scan disagree", file=sys.stderr)
        return 1

    t0 = time.perf_counter()
    liq_np, trader_np, shortfall_np = shock_losses_numpy(
        pop.qty, pop.cost, pop.cash, pop.member, prices, tiers, members
    )
    attribute_us_clearing(shortfall_np, pop.member_capital, pop.member_default_fund, 10_000_000 * 10**6)
    numpy_s = time.perf_counter() - t0
    if not (
        np.array_equal(liq, liq_np) and np.array_equal(trader, trader_np) and np.array_equal(shortfall, shortfall_np)
    ):
        print("the compiled kernel and numpy disagree", file=sys.stderr)
        return 1

    t0 = time.perf_counter()
    liq_c, _, shortfall_c, final, rounds = shock_sorted(book, prices, args.depth)
    cascade_s = time.perf_counter() - t0 + build_s  # the same book build counted again
    check = shock_losses(pop.qty, pop.cost, pop.cash, pop.member, prices[::50], tiers, members, args.depth)
    if not (np.array_equal(check[0], liq_c[::50]) and np.array_equal(check[2], shortfall_c[::50])):
        print("the cascade disagrees with the per-account scan", file=sys.stderr)
        return 1

    print(f"{args.scenarios:,} scenarios × {len(pop.qty):,} accounts = {n_pairs:,} account-scenarios")
    print(f"{'computation':<40}{'seconds':>10}{'account-scenarios/s':>22}")
    print(f"{'sorted thresholds (no cascade)':<40}{fused_s:>10.3f}{n_pairs / fused_s:>22,.0f}")
    print(f"{'  of which building the sorted book':<40}{build_s:>10.3f}")
    print(f"{'per-account compiled scan (numba)':<40}{scan_s:>10.3f}{n_pairs / scan_s:>22,.0f}")
    print(f"{'plain numpy baseline (no cascade)':<40}{numpy_s:>10.3f}{n_pairs / numpy_s:>22,.0f}")
    print(f"{'sorted thresholds with the cascade':<40}{cascade_s:>10.3f}{n_pairs / cascade_s:>22,.0f}")
    worst = int(np.argmax(shortfall.sum(axis=1)))
    total = shortfall[worst].sum() / 1e6
    print(f"worst shock {shocks[worst]:+.0%}: {int(liq[worst]):,} liquidated, shortfall ${total:,.0f}")
    print(f"  members pay ${us['member_capital'][worst] / 1e6:,.0f}; offshore ADL ${off['adl'][worst] / 1e6:,.0f}")
    cascade = f"{int(liq_c[worst]):,} liquidated, price {final[worst] / 10:,.1f} after {int(rounds[worst])} rounds"
    print(f"  with the cascade: {cascade}")
    print(
        json.dumps(
            {
                "account_scenarios_per_s": round(n_pairs / fused_s),
                "no_cascade_s": round(fused_s, 4),
                "cascade_s": round(cascade_s, 4),
                "scan_no_cascade_s": round(scan_s, 4),
                "numpy_no_cascade_s": round(numpy_s, 4),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
