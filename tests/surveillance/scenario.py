"""A small two-day session whose report figures are worked out by hand (see test_reports.py).

Day 1 (2026-01-01), BTC-PERP, contract 0.01 BTC:

====  =====================================  ==========  ======
ts    what                                   price       qty
====  =====================================  ==========  ======
+11   a1 (owner alpha) buys from mm          65010       30
+12   a2 (owner alpha) buys from mm          65010       10
+14   b1 sells to mm                         64990       20
+16   mm buys from b1's resting offer        65000        5
+21…  c1…c5 buy 1…5 from mm's offer          65020       15
====  =====================================  ==========  ======

End of day 1: a1 +30, a2 +10 (alpha long 40), b1 −25, mm (owner maker) −30, c1…c5 +1…+5.
Open interest 55; volume 80; notional 40·650.10 + 20·649.90 + 5·650.00 + 15·650.20 = 52,005.

Day 2: mm sells 10 to b1 at 65100 (b1 −15, maker −40); volume 10, notional 6,510.
"""

from __future__ import annotations

import json

T0 = 1_767_225_600_000
T1 = T0 + 86_400_000


def _index(ts: int, price: str) -> dict[str, object]:
    quotes = [{"source": s, "price": price, "ts": ts} for s in ("coinbase", "kraken", "bitstamp", "gemini")]
    return {"type": "index_update", "ts": ts, "index": "BTC-USD", "quotes": quotes}


def _order(ts: int, account: str, side: str, qty: str, price: str | None = None, **extra: object) -> dict[str, object]:
    cmd: dict[str, object] = {
        "type": "place_order",
        "ts": ts,
        "account": account,
        "market": "BTC-PERP",
        "client_order_id": f"{account}-{ts}",
        "side": side,
        "qty": qty,
    }
    if price is None:
        cmd.update(order_type="market", time_in_force="ioc")
    else:
        cmd["price"] = price
    cmd.update(extra)
    return cmd


def commands() -> list[dict[str, object]]:
    """The session's commands, in order."""
    out: list[dict[str, object]] = [
        {"type": "register_member", "ts": T0, "member": "fcm-a", "capital": "1000000", "default_fund": "100000"},
        {"type": "register_member", "ts": T0, "member": "fcm-b", "capital": "500000", "default_fund": "50000"},
    ]
    accounts = [
        ("a1", "fcm-a", "institutional", "alpha"),
        ("a2", "fcm-b", "institutional", "alpha"),
        ("b1", "fcm-b", "qualified", None),
        ("mm", "fcm-a", "market_maker", "maker"),
    ] + [(f"c{i}", "fcm-b", "retail", None) for i in range(1, 6)]
    for account, member, segment, owner in accounts:
        cmd: dict[str, object] = {
            "type": "open_account",
            "ts": T0,
            "account": account,
            "member": member,
            "segment": segment,
        }
        if owner is not None:
            cmd["owner"] = owner
        out.append(cmd)
        out.append({"type": "deposit", "ts": T0, "account": account, "amount": "1000000"})
    out += [
        _index(T0 + 1, "65000.00"),
        _order(T0 + 10, "mm", "sell", "40", "65010.0", post_only=True),
        _order(T0 + 11, "a1", "buy", "30"),
        _order(T0 + 12, "a2", "buy", "10", "65010.0", time_in_force="ioc"),
        _order(T0 + 13, "mm", "buy", "20", "64990.0", post_only=True),
        _order(T0 + 14, "b1", "sell", "20"),
        _order(T0 + 15, "b1", "sell", "5", "65000.0", post_only=True),
        _order(T0 + 16, "mm", "buy", "5", "65000.0", time_in_force="ioc"),
        _order(T0 + 20, "mm", "sell", "15", "65020.0", post_only=True),
    ]
    out += [_order(T0 + 20 + i, f"c{i}", "buy", str(i)) for i in range(1, 6)]
    out += [
        _index(T1 + 1, "65100.00"),
        _order(T1 + 10, "mm", "sell", "10", "65100.0", post_only=True),
        _order(T1 + 11, "b1", "buy", "10"),
    ]
    return out


def lines() -> list[str]:
    """The session as JSON Lines."""
    return [json.dumps(cmd) for cmd in commands()]
