"""Write tests/scenarios/funding_two_days.commands.jsonl: two days of hourly funding, settlement twice a day.

    python tests/venue_pricing/make_funding_two_days.py

Then regenerate the expected events and final state with the golden runner,
``ONSHORE_REGEN_GOLDEN=1 pytest tests/scenarios -k funding_two_days``, and review the diff
against funding_two_days.md.

The scenario (funding_two_days.md has the timeline and the hand-checked arithmetic):
a market maker quotes one 60-lot level each side around an index that drifts up 25 USD
an hour on day 1 (the book 100–120 USD above it: longs pay) and down 40 USD an hour on
day 2 (100–120 USD below: shorts pay); four traders open, add to, close and flip
positions, one of them isolated; one hour has an outlier source, and on day 2 the index
goes stale from 13:55 to 15:05, so the 15:00 funding is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC
MINUTE = 60_000
HOUR = 3_600_000
OUT = Path(__file__).resolve().parent.parent / "scenarios" / "funding_two_days.commands.jsonl"
SPREAD = {"coinbase": 1, "kraken": -1, "bitstamp": -2, "gemini": 2}  # USD around the base: the median is the base
STALE_FROM, STALE_TO = T0 + 37 * HOUR + 55 * MINUTE, T0 + 39 * HOUR + 5 * MINUTE


def base(hour: int) -> int:
    """The index in USD during hour ``hour`` (0–47): up 25 an hour on day 1, down 40 an hour on day 2."""
    return 65_000 + 25 * hour if hour < 24 else 65_600 - 40 * (hour - 24)


def quotes(ts: int, hour: int) -> list[dict[str, Any]]:
    out = []
    for source, offset in SPREAD.items():
        price = base(hour) + offset
        age = 2_000
        if hour == 5 and source == "gemini":
            price = base(hour) + 3_000  # 4.6 % off: left out as an outlier
        if STALE_FROM <= ts < STALE_TO and source != "coinbase":
            age = 60_000  # older than max_age_ms = 30 s: only coinbase is fresh, below min_sources = 2
        out.append({"source": source, "price": f"{price}.00", "ts": ts - age})
    return out


def index_update(ts: int, hour: int) -> dict[str, Any]:
    return {"type": "index_update", "ts": ts, "index": "BTC-USD", "quotes": quotes(ts, hour)}


def market_order(ts: int, account: str, coid: str, side: str, qty: int) -> dict[str, Any]:
    return {"type": "place_order", "ts": ts, "account": account, "market": "BTC-PERP", "client_order_id": coid,
            "side": side, "order_type": "market", "qty": str(qty)}  # fmt: skip


TRADES = [  # (ms after T0, account, side, qty)
    (30_000, "alice", "buy", 8),
    (40_000, "bob", "sell", 5),
    (3 * HOUR + 30 * MINUTE, "carol", "buy", 10),
    (6 * HOUR + 30_000, "dave", "buy", 6),
    (15 * HOUR + 20 * MINUTE, "alice", "sell", 3),
    (20 * HOUR + 10 * MINUTE, "bob", "buy", 5),
    (26 * HOUR + 30_000, "bob", "sell", 7),
    (30 * HOUR + 15 * MINUTE, "carol", "sell", 10),
    (33 * HOUR + 30_000, "dave", "sell", 10),
    (38 * HOUR + 30 * MINUTE, "carol", "buy", 2),
    (41 * HOUR + 30_000, "alice", "buy", 2),
    (45 * HOUR + 30_000, "carol", "sell", 4),
]


def commands() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"type": "register_member", "ts": T0, "member": "fcm-alpha", "capital": "5000000", "default_fund": "1000000"},
        {"type": "register_member", "ts": T0, "member": "fcm-beta", "capital": "3000000", "default_fund": "750000"},
    ]
    accounts = [("mm", "fcm-alpha", "market_maker", "5000000"), ("alice", "fcm-alpha", "retail", "50000"),
                ("bob", "fcm-beta", "qualified", "100000"), ("carol", "fcm-beta", "institutional", "500000"),
                ("dave", "fcm-alpha", "retail", "20000")]  # fmt: skip
    for account, member, segment, _ in accounts:
        out.append({"type": "open_account", "ts": T0, "account": account, "member": member, "segment": segment})
    for account, _, _, amount in accounts:
        out.append({"type": "deposit", "ts": T0, "account": account, "amount": amount})
    out.append({"type": "set_margin_mode", "ts": T0, "account": "dave", "market": "BTC-PERP", "mode": "isolated"})

    timed: list[tuple[int, int, dict[str, Any]]] = []  # (ts, order within the same ts, command)
    for hour in range(48):
        ts = T0 + hour * HOUR
        b = base(hour)
        bid, ask = (b + 100, b + 120) if hour < 24 else (b - 120, b - 100)
        if hour:
            timed.append((ts, 0, {"type": "cancel_all", "ts": ts, "account": "mm", "market": "BTC-PERP"}))
        for side, price in (("buy", bid), ("sell", ask)):
            order = {"type": "place_order", "ts": ts, "account": "mm", "market": "BTC-PERP",
                     "client_order_id": f"mm-{side[0]}{hour}", "side": side, "price": f"{price}.0", "qty": "60",
                     "post_only": True}  # fmt: skip
            timed.append((ts, 1, order))
        timed.append((ts, 2, index_update(ts, hour)))
    for ts in (STALE_FROM, STALE_TO):
        timed.append((ts, 2, index_update(ts, (ts - T0) // HOUR)))
    for step in range(1, 48 * 6 + 1):
        ts = T0 + step * 10 * MINUTE
        timed.append((ts, 3, {"type": "tick", "ts": ts}))
    for n, (offset, account, side, qty) in enumerate(TRADES, start=1):
        timed.append((T0 + offset, 4, market_order(T0 + offset, account, f"{account}-{n}", side, qty)))
    timed.sort(key=lambda item: (item[0], item[1]))
    out.extend(command for _, _, command in timed)
    return out


def text() -> str:
    """The commands file's content."""
    return "".join(json.dumps(cmd, separators=(", ", ": ")) + "\n" for cmd in commands())


def main() -> None:
    OUT.write_text(text(), "utf-8")


if __name__ == "__main__":
    main()
