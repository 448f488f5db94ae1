"""Benchmark: one funding payment and one settlement cycle over 1,000,000 open positions, through the Venue.

Building a million positions through commands would take longer than what is measured, so
the state is built through the public snapshot format (``onshore.venue.snapshot``): a
template Venue supplies the document's shape, then a million accounts under one clearing
member get BTC-PERP positions (1–50 lots long or short, seeded; one account in ten
isolated) that net to zero, with cost bases at entry prices within ±2 % of the mark, a
ledger that balances, an index and a mark of 65,000, and an hour's premium samples.
``Venue.restore(config, bytes)`` brings it to life at 11:59, and two ticks are timed:

* ``Tick(12:00)``: one premium sample, then the 12:00 funding (every position pays or
  receives, the remainder to ``rounding``);
* ``Tick(12:01)``: one premium sample, then the variation settlement, due at 12:01 because the
  configuration sets ``settlement_offset_ms = 60000`` so that each tick triggers exactly one
  of the two;
* and, for scale, a tick one millisecond later with nothing due: what every tick costs anyway.

Times are CPU seconds of this process (``time.process_time``), with wall time beside them. The
baseline, measured in the same run on the same positions, is a plain-Python loop doing
the same number of integer multiply-and-transfers into a dict: the floor of
``−qty × mark × K × rate / 10⁹`` added to a cash dict (funding), ``qty × mark × K − cost``
added and the cost reset (settlement). The ratio is what to compare across machines.

    python bench/funding.py [--accounts 1000000] [--seed 42]

Ends with one JSON line ``{"accounts": …, "funding_ms": …, "settlement_ms": …}``. A benchmark,
not a test: it never fails because the machine is slow; it exits non-zero only if the
ledger, the zero-sum of funding or the settlement check is wrong.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from typing import Any

import msgspec
import numpy as np

from _workload import peak_rss_mb
from onshore.config.load import load_config
from onshore.core import commands as c
from onshore.core import events as e
from onshore.venue import Venue

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
MINUTE = 60_000
HOUR = 3_600_000
START = T0 + 11 * HOUR + 59 * MINUTE  # the snapshot's venue time
FUNDING_AT = T0 + 12 * HOUR
SETTLEMENT_AT = T0 + 12 * HOUR + MINUTE
MARKET = "BTC-PERP"
MARK_TICKS = 650_000  # 65,000.0 USD on the 0.1 grid
INDEX_UNITS = 6_500_000  # 65,000.00 USD on the index's 0.01 grid
PREMIUM_PPB = 1_538_461  # each of the hour's samples: a book 100 USD above the index
PPB = 1_000_000_000
CASH_MICROS = 100_000 * 1_000_000  # 100,000 USD per account
CONFIG = """
[clearing]
settlement_offset_ms = 60000    # settle at 00:01 and 12:01: one minute after the 12:00 funding
"""


# ---------------------------------------------------------------------------------------------- the state


def template(config_text: str) -> dict[str, Any]:
    """A real snapshot of a small Venue at START: one member, one account with a BTC-PERP holding."""
    venue = Venue(load_config(config_text))
    for cmd in (
        c.RegisterMember(ts=START, member="fcm-1", capital="50000000", default_fund="10000000"),
        c.OpenAccount(ts=START, account="template", member="fcm-1", segment="institutional"),
        c.Deposit(ts=START, account="template", amount="100000"),
        c.SetLeverage(ts=START, account="template", market=MARKET, leverage="10"),
    ):
        (event,) = venue.apply(cmd)
        assert not isinstance(event, e.CommandRejected), event
    doc: dict[str, Any] = msgspec.json.decode(venue.snapshot())
    return doc


def positions(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed lots (non-zero, netting to zero), entry prices in ticks, and which are isolated."""
    rng = np.random.default_rng(seed)
    qty = rng.integers(1, 51, n) * rng.choice(np.array([-1, 1]), n)
    # net to zero without one giant balancing position (which would sit below maintenance and be
    # liquidated): take one lot off as many positions on the heavier side as the surplus
    net = int(qty.sum())
    while net:
        side = np.flatnonzero((np.sign(qty) == np.sign(net)) & (np.abs(qty) > 1))[: abs(net)]
        if len(side) == 0:  # only a handful of accounts: let the last one take the rest
            qty[-1] -= net
            break
        qty[side] -= np.sign(net)
        net = int(qty.sum())
    assert int(qty.sum()) == 0 and not (qty == 0).any()
    entry = MARK_TICKS + rng.integers(-13_000, 13_001, n)
    isolated = rng.random(n) < 0.1
    return qty, entry, isolated


def build_snapshot(n: int, seed: int) -> tuple[bytes, dict[str, Any]]:
    """The snapshot bytes of a Venue with ``n`` open positions, and facts for the checks."""
    doc = template(CONFIG)
    config = load_config(CONFIG)
    k = config.markets[MARKET].micros_per_tick_lot
    qty_a, entry_a, iso_a = positions(n, seed)
    qty, entry, iso = qty_a.tolist(), entry_a.tolist(), iso_a.tolist()
    shape = doc["accounts"]["template"]
    holding = shape["holdings"][MARKET]  # [qty, cost, leverage, mode, order totals …]
    ids = [f"a{i:07d}" for i in range(n)]
    accounts: dict[str, Any] = {}
    cash: dict[str, int] = {}
    isolated_margin: dict[str, int] = {}
    total_cost = 0
    for aid, q, p, is_iso in zip(ids, qty, entry, iso, strict=True):
        cost = q * p * k
        total_cost += cost
        row = list(holding)
        row[0], row[1] = q, cost
        if is_iso:
            row[3] = "isolated"
            isolated_margin[f"{aid}/{MARKET}"] = -(-abs(cost) // 10)  # the initial margin at 10x, rounded up
        accounts[aid] = {**shape, "owner": aid, "holdings": {MARKET: row}}
        cash[aid] = CASH_MICROS
    doc["accounts"] = accounts
    doc["members"] = {"fcm-1": ids}
    # venue-level records kept per account (e.g. the broker's customer records): one per account,
    # shaped like the template's; per-account caches (e.g. last seen equity) are left to rebuild
    for key, value in doc["venue_state"].items():
        if isinstance(value, dict) and "template" in value:
            record = value.pop("template")
            if isinstance(record, dict):
                doc["venue_state"][key] = {aid: record for aid in ids}
    ledger = doc["ledger"]
    balances = ledger["balances"]
    balances["cash"] = cash
    balances["isolated"] = isolated_margin
    # variation_settlement holds minus the realized PnL of all, which the open positions' unrealized PnL nets to
    balances["system"]["variation_settlement"] = -total_cost
    total = sum(sum(book.values()) for book in balances.values())
    ledger["deposits"] = total - ledger["paid_in"] + ledger["withdrawals"]
    market = doc["markets"][MARKET]
    market.update({"reference": MARK_TICKS, "mark": MARK_TICKS, "index_ticks": MARK_TICKS})
    market["pricing"].update(
        {
            "premium_samples": [PREMIUM_PPB] * 59,  # 11:00 … 11:59; the 12:00 sample comes with the tick
            "basis_samples": [],
            "mark_a": MARK_TICKS,
            "mark_b": MARK_TICKS,
        }
    )
    assert market["pricing"]["next_sample_ms"] == FUNDING_AT and market["pricing"]["next_funding_ms"] == FUNDING_AT
    assert doc["venue_state"]["next_settlement_ms"] == SETTLEMENT_AT
    doc["index_prices"] = {"BTC-USD": INDEX_UNITS}
    facts = {"ids": ids, "qty": qty, "k": k, "total_cost": total_cost, "n_isolated": len(isolated_margin)}
    return msgspec.json.encode(doc), facts


# ---------------------------------------------------------------------------------------------- baseline


def baseline(ids: list[str], qty: list[int], k: int, rate_ppb: int) -> tuple[float, float]:
    """CPU seconds for the same number of multiply-and-transfers in plain Python: funding, then settlement."""
    cash = dict.fromkeys(ids, CASH_MICROS)
    costs = dict.fromkeys(ids, 0)
    gc.collect()
    t0 = time.process_time()
    pool = 0
    for aid, q in zip(ids, qty, strict=True):
        amount = (-q * MARK_TICKS * k * rate_ppb) // PPB
        cash[aid] += amount
        pool -= amount
    t1 = time.process_time()
    for aid, q in zip(ids, qty, strict=True):
        value = q * MARK_TICKS * k
        amount = value - costs[aid]
        costs[aid] = value
        cash[aid] += amount
        pool -= amount
    t2 = time.process_time()
    return t1 - t0, t2 - t1


# ---------------------------------------------------------------------------------------------- checks


def micros(text: str) -> int:
    """Micro-dollars of an event's decimal string (exact)."""
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    value = int(whole) * 1_000_000 + int(frac.ljust(6, "0") or "0")
    return -value if negative else value


def check_funding(venue: Venue, events: list[e.Event], facts: dict[str, Any], vs_before: int) -> dict[str, int]:
    rates = [ev for ev in events if isinstance(ev, e.FundingRate)]
    assert len(rates) == 1 and rates[0].funding_time == FUNDING_AT, rates
    rate = rates[0]
    payments = [ev for ev in events if isinstance(ev, e.FundingPayment)]
    assert len(payments) == len(facts["ids"]), (len(payments), len(facts["ids"]))
    total = sum(micros(ev.amount) for ev in payments)
    rounding = venue.ledger.system("rounding")
    assert total + rounding == 0, f"funding is not zero-sum: payments {total}, rounding {rounding}"
    assert 0 <= rounding < len(payments)
    assert venue.ledger.system("variation_settlement") == vs_before
    rate_ppb = round(float(rate.rate) * PPB)
    mark = round(float(rate.mark_price) * 10)
    by_id = dict(zip(facts["ids"], facts["qty"], strict=True))
    for ev in payments[:: max(1, len(payments) // 1000)]:
        assert micros(ev.amount) == (-by_id[ev.account] * mark * facts["k"] * rate_ppb) // PPB, ev
    return {"rate_ppb": rate_ppb, "rounding_micros": rounding}


def check_settlement(venue: Venue, events: list[e.Event], facts: dict[str, Any], vs_before: int) -> None:
    settled = [ev for ev in events if isinstance(ev, e.Settlement)]
    assert len(settled) == len(facts["ids"])
    assert sum(micros(ev.amount) for ev in settled) == vs_before
    assert venue.ledger.system("variation_settlement") == 0, "variation_settlement did not come back to zero"
    mark = venue.markets[MARKET].mark
    assert mark is not None
    for aid in facts["ids"][:: max(1, len(facts["ids"]) // 1000)]:
        h = venue.accounts[aid].holdings[MARKET]
        assert h.cost == h.qty * mark * facts["k"]


# ---------------------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    n = args.accounts

    t0 = time.perf_counter()
    data, facts = build_snapshot(n, args.seed)
    t1 = time.perf_counter()
    config = load_config(CONFIG)
    venue = Venue.restore(config, data)
    t2 = time.perf_counter()
    del data
    venue.ledger.check_invariants()
    print(f"state: {n:,} accounts, {facts['n_isolated']:,} isolated; snapshot built in {t1 - t0:.1f} s, "
          f"restored in {t2 - t1:.1f} s")  # fmt: skip

    vs_before = venue.ledger.system("variation_settlement")
    gc.collect()
    w0, t0 = time.perf_counter(), time.process_time()
    funding_events = venue.apply(c.Tick(ts=FUNDING_AT))
    funding_s, funding_wall_s = time.process_time() - t0, time.perf_counter() - w0
    funded = check_funding(venue, funding_events, facts, vs_before)
    del funding_events

    vs_before = venue.ledger.system("variation_settlement")
    gc.collect()
    w0, t0 = time.perf_counter(), time.process_time()
    settlement_events = venue.apply(c.Tick(ts=SETTLEMENT_AT))
    settlement_s, settlement_wall_s = time.process_time() - t0, time.perf_counter() - w0
    check_settlement(venue, settlement_events, facts, vs_before)
    assert not any(isinstance(ev, e.FundingPayment) for ev in settlement_events)
    del settlement_events

    # a tick with nothing due (no sample, funding or settlement): the fixed cost of any tick
    gc.collect()
    t0 = time.process_time()
    idle_events = venue.apply(c.Tick(ts=SETTLEMENT_AT + 1))
    idle_s = time.process_time() - t0
    assert not any(isinstance(ev, (e.FundingRate, e.FundingPayment, e.Settlement)) for ev in idle_events)
    venue.ledger.check_invariants()
    net = sum(a.holdings[MARKET].qty for a in venue.accounts.values())
    assert net == 0, f"positions net to {net}"

    base_funding_s, base_settlement_s = baseline(facts["ids"], facts["qty"], facts["k"], funded["rate_ppb"])
    print("CPU time of this process (wall time in brackets):")
    print(f"funding    (1 sample + {n:,} payments): {funding_s * 1e3:9.1f} ms [{funding_wall_s * 1e3:.0f}]   "
          f"baseline loop {base_funding_s * 1e3:7.1f} ms   ratio {funding_s / base_funding_s:5.1f}x   "
          f"rate {funded['rate_ppb']} ppb, {funded['rounding_micros']} micro-dollars to rounding")  # fmt: skip
    print(f"settlement (1 sample + {n:,} positions): {settlement_s * 1e3:8.1f} ms [{settlement_wall_s * 1e3:.0f}]   "
          f"baseline loop {base_settlement_s * 1e3:7.1f} ms   ratio {settlement_s / base_settlement_s:5.1f}x   "
          "variation_settlement back to 0")  # fmt: skip
    print(f"a tick with nothing due: {idle_s * 1e3:.1f} ms")
    print(f"peak RSS {peak_rss_mb():,.0f} MB; ledger balanced; funding zero-sum to the micro-dollar")
    print(
        json.dumps(
            {
                "accounts": n,
                "funding_ms": round(funding_s * 1e3, 1),
                "settlement_ms": round(settlement_s * 1e3, 1),
                "baseline_funding_ms": round(base_funding_s * 1e3, 1),
                "baseline_settlement_ms": round(base_settlement_s * 1e3, 1),
                "funding_wall_ms": round(funding_wall_s * 1e3, 1),
                "settlement_wall_ms": round(settlement_wall_s * 1e3, 1),
                "idle_tick_ms": round(idle_s * 1e3, 1),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
