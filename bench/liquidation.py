"""Benchmark: one mark move puts 1 % of 100,000 accounts below maintenance; detect and liquidate them.

The state is built through the public snapshot format (``onshore.venue.snapshot``): a small
template Venue, driven by commands, supplies the document's shape and a real order book —
a market maker quoting 40,000 lots bid from 63,699.5 down to 63,690 and as many offered from
63,700.5 up (the book "moved down first", ahead of the index) — then 100,000 accounts under one
clearing member get cross BTC-PERP positions (1–50 lots, long or short, seeded, netting to
zero) at entry prices within ±0.5 % of 65,000, and cash such that at a mark of 63,700
exactly 1,000 longs (1 %) have equity between 10 % and 45 % of their maintenance margin (so
each is liquidated in full; ``--partial`` raises that to 95 %, for a mix of partial and full
liquidations) and every other account at least 1.3 times it. ``Venue.restore(config, bytes)`` brings it to
life at a mark of 65,000; then one ``index_update`` to 63,700 (−2 %) is applied.

Measured (CPU time of this process, wall time beside it):

* **detect** — finding the candidates: on a second copy restored from the same bytes, the
  index update's mark change is applied by the Venue's own handler (``_index_update``, no
  liquidation pass), then the detection alone is timed: ``_refresh_triggers()`` and
  ``_pop_candidates()`` (the per-market trigger heaps), plus the exact equity-vs-maintenance
  check of each candidate (``is_below_maintenance``). The engine does not expose the split,
  so this is how detection is isolated.
* **process** — the whole ``Venue.apply(index_update)`` on the first copy (index, mark,
  detection, then every liquidation through the book: cancels, IOC orders, fills, fees,
  events), minus the detection time above: the liquidations themselves. The total is
  printed too.
* **baseline**, in the same run: a plain-Python scan computing equity (cash + uPnL) against
  the tier maintenance margin for all 100,000 accounts — what detection without trigger
  heaps would cost on every mark move — and the same scan vectorized with numpy.

    python bench/liquidation.py [--accounts 100000] [--risky 0.01] [--seed 7]

Ends with one JSON line ``{"accounts": …, "liquidated": …, "detect_ms": …, "process_ms": …}``.
A benchmark, not a test: it never fails because the machine is slow; it exits non-zero only
if the outcome is wrong (the wrong accounts liquidated, one left below maintenance, the
ledger or the positions out of balance).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from typing import Any

import msgspec
import numpy as np

from onshore.clearing.margin import Tiers
from onshore.config.load import load_config
from onshore.core import commands as c
from onshore.core import events as e
from onshore.venue import Venue
from onshore.venue.liquidation import is_below_maintenance

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
MARKET = "BTC-PERP"
INDEX = "BTC-USD"
SOURCES = ("coinbase", "kraken", "bitstamp", "gemini")
START_TICKS = 650_000  # 65,000.0 USD on the 0.1 grid
CRASH_TICKS = 637_000  # 63,700.0: −2 %
LEVELS = 20  # per side, 2,000 lots each, 0.5 USD apart: within every liquidated account's bankruptcy price
LEVEL_LOTS = 2_000


def quotes(price: str, ts: int) -> list[c.Quote]:
    return [c.Quote(source=s, price=price, ts=ts) for s in SOURCES]


# ---------------------------------------------------------------------------------------------- the state


def template() -> tuple[dict[str, Any], Any]:
    """A real snapshot of a small Venue: a member, a market maker's book, one account with a BTC-PERP holding."""
    config = load_config(None)
    venue = Venue(config)
    commands: list[c.Command] = [
        c.RegisterMember(ts=T0, member="fcm-1", capital="50000000", default_fund="10000000"),
        c.OpenAccount(ts=T0, account="mm", member="fcm-1", segment="market_maker"),
        c.Deposit(ts=T0, account="mm", amount="100000000"),
        c.OpenAccount(ts=T0, account="template", member="fcm-1", segment="institutional"),
        c.SetLeverage(ts=T0, account="template", market=MARKET, leverage="50"),
        c.IndexUpdate(ts=T0, index=INDEX, quotes=quotes("65000.00", T0)),
    ]
    for i in range(LEVELS):  # the book, moved down ahead of the index: bids 63,690 …, asks 63,710 …
        bid, ask = CRASH_TICKS - 5 * (i + 1), CRASH_TICKS + 5 * (i + 1)
        for side, price in (("buy", bid), ("sell", ask)):
            commands.append(
                c.PlaceOrder(
                    ts=T0,
                    account="mm",
                    market=MARKET,
                    client_order_id=f"{side}-{i}",
                    side=side,  # type: ignore[arg-type]
                    qty=str(LEVEL_LOTS),
                    price=f"{price // 10}.{price % 10}",
                    post_only=True,
                )
            )
    for command in commands:
        for event in venue.apply(command):
            assert not isinstance(event, e.CommandRejected), event
    doc: dict[str, Any] = msgspec.json.decode(venue.snapshot())
    return doc, config


def population(n: int, risky: int, seed: int, k: int, maintenance: Any, top_ratio: float) -> dict[str, Any]:
    """Signed lots netting to zero, entry prices, and cash placing exactly ``risky`` longs under water at the crash."""
    rng = np.random.default_rng(seed)
    qty = rng.integers(1, 51, n) * rng.choice(np.array([-1, 1]), n)
    net = int(qty.sum())
    while net:  # take one lot off as many positions on the heavier side as the surplus
        side = np.flatnonzero((np.sign(qty) == np.sign(net)) & (np.abs(qty) > 1))[: abs(net)]
        if len(side) == 0:
            qty[-1] -= net
            break
        qty[side] -= np.sign(net)
        net = int(qty.sum())
    assert int(qty.sum()) == 0 and not (qty == 0).any()
    entry = START_TICKS + rng.integers(-3_250, 3_251, n)
    longs = np.flatnonzero(qty > 0)
    under = set(rng.choice(longs, risky, replace=False).tolist())
    ratio_under = rng.uniform(0.10, top_ratio, n)  # equity / maintenance at the crash mark
    ratio_safe = rng.uniform(1.3, 30.0, n)
    ids = [f"a{i:06d}" for i in range(n)]
    cash: list[int] = []
    for i, (q, p) in enumerate(zip(qty.tolist(), entry.tolist(), strict=True)):
        mm = maintenance(abs(q) * CRASH_TICKS * k)
        upnl = q * (CRASH_TICKS - p) * k
        ratio = ratio_under[i] if i in under else ratio_safe[i]
        target = int(mm * ratio) - upnl  # cash giving that equity at the crash
        floor = -(-abs(q) * p * k // 50)  # at least the initial margin at 50× at entry
        cash.append(max(target, floor) if i not in under else target)
    for i in under:  # positive equity below maintenance at the crash, above it now
        q, p = int(qty[i]), int(entry[i])
        assert 0 < cash[i] + q * (CRASH_TICKS - p) * k < maintenance(q * CRASH_TICKS * k)
        assert cash[i] + q * (START_TICKS - p) * k >= maintenance(q * START_TICKS * k)
    return {"ids": ids, "qty": qty.tolist(), "entry": entry.tolist(), "cash": cash, "under": {ids[i] for i in under}}


def build_snapshot(n: int, risky: int, seed: int, top_ratio: float) -> tuple[bytes, dict[str, Any]]:
    doc, config = template()
    spec = config.markets[MARKET]
    k = spec.micros_per_tick_lot
    tiers = Tiers(spec)
    pop = population(n, risky, seed, k, tiers.maintenance, top_ratio)
    shape = doc["accounts"]["template"]
    holding = shape["holdings"][MARKET]  # [qty, cost, leverage, mode, order totals …]
    accounts: dict[str, Any] = {"mm": doc["accounts"]["mm"]}
    cash_book: dict[str, int] = {"mm": doc["ledger"]["balances"]["cash"]["mm"]}
    total_cost = 0
    for aid, q, p, cash in zip(pop["ids"], pop["qty"], pop["entry"], pop["cash"], strict=True):
        row = list(holding)
        row[0], row[1] = q, q * p * k
        total_cost += row[1]
        accounts[aid] = {**shape, "owner": aid, "holdings": {MARKET: row}}
        cash_book[aid] = cash
    doc["accounts"] = accounts
    doc["members"] = {"fcm-1": ["mm", *pop["ids"]]}
    for value in doc["venue_state"].values():  # per-account records (e.g. the broker's): one each
        if isinstance(value, dict) and "template" in value:
            record = value.pop("template")
            if isinstance(record, dict):
                value.update(dict.fromkeys(pop["ids"], record))
    doc["client_order_ids"].pop("template", None)
    ledger = doc["ledger"]
    ledger["balances"]["cash"] = cash_book
    # variation_settlement holds minus the realized PnL of all: the open positions' uPnL at one mark, −Σ cost
    ledger["balances"]["system"]["variation_settlement"] = -total_cost
    total = sum(sum(book.values()) for book in ledger["balances"].values())
    ledger["deposits"] = total - ledger["paid_in"] + ledger["withdrawals"]
    pop["k"] = k
    pop["tiers"] = tiers
    return msgspec.json.encode(doc), pop


# ---------------------------------------------------------------------------------------------- baseline


def baseline_scan(venue: Venue, mark: int) -> tuple[float, int]:
    """CPU seconds of a plain-Python equity-vs-maintenance scan of every account at ``mark``."""
    ledger = venue.ledger
    market = venue.markets[MARKET]
    tiers, k = market.tiers, market.k
    rows = [(aid, a.holdings[MARKET]) for aid, a in venue.accounts.items() if MARKET in a.holdings]
    gc.collect()
    t0 = time.process_time()
    below = 0
    for aid, h in rows:
        equity = ledger.cash(aid) + h.qty * mark * k - h.cost
        if equity < tiers.maintenance(abs(h.qty) * mark * k):
            below += 1
    return time.process_time() - t0, below


def baseline_numpy(pop: dict[str, Any], mark: int) -> tuple[float, int]:
    """The same scan vectorized (first tier only: every position here is below 1,000,000 USD)."""
    qty = np.array(pop["qty"], dtype=np.int64)
    cost = qty * np.array(pop["entry"], dtype=np.int64) * pop["k"]
    cash = np.array(pop["cash"], dtype=np.int64)
    t0 = time.process_time()
    notional = np.abs(qty) * mark * pop["k"]
    maintenance = -((-notional * 10_000_000) // 1_000_000_000)  # 1 %, rounded up
    below = int(np.count_nonzero(cash + qty * mark * pop["k"] - cost < maintenance))
    return time.process_time() - t0, below


# ---------------------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--risky", type=float, default=0.01, help="share of accounts put below maintenance")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--partial",
        action="store_true",
        help="equity up to 95 %% of maintenance (many partial liquidations); by default up to 45 %%, all full",
    )
    args = ap.parse_args()
    n, risky = args.accounts, max(1, round(args.accounts * args.risky))

    w0 = time.perf_counter()
    data, pop = build_snapshot(n, risky, args.seed, 0.95 if args.partial else 0.45)
    w1 = time.perf_counter()
    config = load_config(None)
    venue = Venue.restore(config, data)
    w2 = time.perf_counter()
    probe = Venue.restore(config, data)
    del data
    venue.ledger.check_invariants()
    print(f"state: {n:,} accounts with positions, {risky:,} set to fall below maintenance at 63,700; "
          f"snapshot built in {w1 - w0:.1f} s, restored in {w2 - w1:.1f} s (trigger heaps included)")  # fmt: skip

    ts = T0 + 1_000
    crash = c.IndexUpdate(ts=ts, index=INDEX, quotes=quotes("63700.00", ts))

    # ---- detection alone, on the probe copy
    probe._out = []
    probe._index_update(crash)
    assert probe.markets[MARKET].mark == CRASH_TICKS, probe.markets[MARKET].mark
    gc.collect()
    d_wall, d0 = time.perf_counter(), time.process_time()
    probe._refresh_triggers()
    candidates = probe._pop_candidates()
    below = {aid for aid in candidates if is_below_maintenance(probe, probe.accounts[aid])}
    detect_s, detect_wall_s = time.process_time() - d0, time.perf_counter() - d_wall
    assert below == pop["under"], (len(below), len(pop["under"]))
    del probe

    # ---- the whole command, on the venue
    gc.collect()
    p_wall, p0 = time.perf_counter(), time.process_time()
    try:
        events = venue.apply(crash)
    except Exception as exc:  # the Venue stopped: report why rather than a traceback
        print(f"the Venue stopped during the liquidations: {venue.stopped or exc!r}", file=sys.stderr)
        return 1
    total_s, total_wall_s = time.process_time() - p0, time.perf_counter() - p_wall
    process_s, process_wall_s = max(0.0, total_s - detect_s), max(0.0, total_wall_s - detect_wall_s)

    # ---- the outcome must be right
    liquidated = {ev.account for ev in events if isinstance(ev, e.Liquidation)}
    assert liquidated == pop["under"], f"liquidated {len(liquidated)}, expected {len(pop['under'])}"
    stages: dict[str, int] = {}
    for ev in events:
        if isinstance(ev, e.Liquidation):
            stages[ev.stage] = stages.get(ev.stage, 0) + 1
    assert set(stages) <= {"partial", "full"}, f"the book should absorb everything: {stages}"
    market = venue.markets[MARKET]
    for aid in liquidated:
        h = venue.accounts[aid].holdings[MARKET]
        assert not h.qty or venue.equity(venue.accounts[aid]) >= market.tiers.maintenance(
            abs(h.qty) * (market.mark or 0) * market.k
        ), aid
    venue.check_invariants()
    lots = sum(int(ev.qty) for ev in events if isinstance(ev, e.Trade))
    flat = sum(1 for aid in liquidated if not venue.accounts[aid].holdings[MARKET].qty)

    base_s, base_below = baseline_scan(venue, CRASH_TICKS)
    base_np_s, np_below = baseline_numpy(pop, CRASH_TICKS)
    assert np_below == risky, np_below
    del base_below  # after the liquidations nobody is below: the scan's count is not the point

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("CPU time of this process (wall time in brackets):")
    print(f"detect   {len(candidates):,} candidates popped, {len(below):,} below maintenance: "
          f"{detect_s * 1e3:8.1f} ms [{detect_wall_s * 1e3:.0f}]")  # fmt: skip
    print(f"process  {len(liquidated):,} accounts liquidated ({flat:,} flat, {len(liquidated) - flat:,} partially; "
          f"stages {stages}), {lots:,} lots through the book, {len(events):,} events: "
          f"{process_s * 1e3:8.1f} ms [{process_wall_s * 1e3:.0f}]")  # fmt: skip
    print(f"total    apply(index_update): {total_s * 1e3:8.1f} ms [{total_wall_s * 1e3:.0f}]; "
          f"{total_s / len(liquidated) * 1e6:.0f} µs per liquidated account")  # fmt: skip
    print(f"baseline plain-Python scan of {n:,} accounts (equity vs maintenance): {base_s * 1e3:8.1f} ms   "
          f"detect / scan = {detect_s / base_s:.3f}")  # fmt: skip
    print(f"baseline numpy scan of {n:,} accounts: {base_np_s * 1e3:8.1f} ms")
    print(f"peak RSS {rss_mb:,.0f} MB; ledger balanced, positions net to zero, every liquidated account "
          "at or above maintenance or flat")  # fmt: skip
    print(
        json.dumps(
            {
                "accounts": n,
                "liquidated": len(liquidated),
                "detect_ms": round(detect_s * 1e3, 1),
                "process_ms": round(process_s * 1e3, 1),
                "total_ms": round(total_s * 1e3, 1),
                "baseline_scan_ms": round(base_s * 1e3, 1),
                "baseline_numpy_ms": round(base_np_s * 1e3, 1),
                "detect_wall_ms": round(detect_wall_s * 1e3, 1),
                "process_wall_ms": round(process_wall_s * 1e3, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
