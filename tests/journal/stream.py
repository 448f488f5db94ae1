"""A realistic command stream for the journal's tests: members, accounts, deposits, a moving index,
many resting orders, crossing IOCs and market orders, cancels, amendments, withdrawals, ticks across a
funding interval, a few commands with idempotency ids and a few malformed lines.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same lines.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

T0 = 1_767_225_600_000
MARKETS = {
    # market: (index, price ticks per USD, starting mid in ticks, max spread offset in ticks)
    "BTC-PERP": ("BTC-USD", 10, 650_000, 300),
    "ETH-PERP": ("ETH-USD", 100, 320_000, 400),
}
SOURCES = ("coinbase", "kraken", "bitstamp", "gemini")
ACCOUNTS = (
    [(f"mm-{i}", "fcm-a", "market_maker", "5000000") for i in range(4)]
    + [(f"inst-{i}", "fcm-b", "institutional", "1000000") for i in range(4)]
    + [(f"q-{i}", "fcm-a" if i % 2 else "fcm-b", "qualified", "200000") for i in range(8)]
    + [(f"r-{i}", "fcm-b" if i % 2 else "fcm-a", "retail", "20000") for i in range(12)]
)


def _price(ticks: int, per_usd: int) -> str:
    digits = len(str(per_usd)) - 1
    return f"{ticks // per_usd}.{ticks % per_usd:0{digits}d}"


def _dump(command: dict[str, Any]) -> str:
    return json.dumps(command, separators=(", ", ": "))


def generate_stream(n: int, seed: int = 7) -> list[str]:
    """Return about ``n`` JSON lines (after a setup of members, accounts and deposits)."""
    rng = np.random.default_rng(seed)
    ts = T0
    lines: list[str] = [
        _dump(
            {"type": "register_member", "ts": ts, "member": "fcm-a", "capital": "50000000", "default_fund": "5000000"}
        ),
        _dump(
            {"type": "register_member", "ts": ts, "member": "fcm-b", "capital": "30000000", "default_fund": "3000000"}
        ),
    ]
    for account, member, segment, amount in ACCOUNTS:
        lines.append(
            _dump({"type": "open_account", "ts": ts, "account": account, "member": member, "segment": segment})
        )
        lines.append(_dump({"type": "deposit", "ts": ts, "account": account, "amount": amount}))
    lines.append(_dump({"type": "set_leverage", "ts": ts, "account": "r-0", "market": "BTC-PERP", "leverage": "5"}))
    mids = {m: spec[2] for m, spec in MARKETS.items()}
    resting: dict[str, list[tuple[str, str]]] = {a[0]: [] for a in ACCOUNTS}  # account -> [(market, coid)]
    counter = 0

    def index_updates() -> None:
        for market, (index, per_usd, _start, _spread) in MARKETS.items():
            mids[market] += int(rng.normal(0, 3 * per_usd))
            quotes = []
            for source in SOURCES:
                index_ticks = mids[market] * (100 // per_usd) + int(rng.integers(-50, 51))
                quotes.append({"source": source, "price": _price(index_ticks, 100), "ts": ts})
            lines.append(_dump({"type": "index_update", "ts": ts, "index": index, "quotes": quotes}))

    index_updates()
    for i in range(n):
        ts += int(rng.integers(1, 400))
        if i % 60 == 0:
            index_updates()
            continue
        if i % 150 == 1:
            lines.append(_dump({"type": "tick", "ts": ts}))
            continue
        account, _member, segment, _amount = ACCOUNTS[int(rng.integers(len(ACCOUNTS)))]
        if segment == "market_maker" or rng.random() < 0.3:
            account = f"mm-{int(rng.integers(4))}"
        market = "BTC-PERP" if rng.random() < 0.7 else "ETH-PERP"
        _index, per_usd, _start, spread = MARKETS[market]
        mid = mids[market]
        big = account.startswith(("mm", "inst"))
        qty = str(int(rng.integers(1, 40 if big else 8)))
        side = "buy" if rng.random() < 0.5 else "sell"
        r = rng.random()
        command: dict[str, Any]
        if r < 0.42 or r >= 0.90:
            counter += 1
            coid = f"c{counter}"
            offset = int(rng.integers(1, spread))
            price = mid - offset if side == "buy" else mid + offset
            command = {"type": "place_order", "ts": ts, "account": account, "market": market, "client_order_id": coid,
                       "side": side, "price": _price(price, per_usd), "qty": qty}  # fmt: skip
            if r >= 0.90 and r < 0.915:
                command["id"] = f"req-{counter}"
            resting[account].append((market, coid))
        elif r < 0.60:
            counter += 1
            offset = int(rng.integers(0, spread))
            price = mid + offset if side == "buy" else mid - offset
            command = {"type": "place_order", "ts": ts, "account": account, "market": market,
                       "client_order_id": f"c{counter}", "side": side, "price": _price(price, per_usd), "qty": qty,
                       "time_in_force": "ioc"}  # fmt: skip
        elif r < 0.63:
            counter += 1
            command = {"type": "place_order", "ts": ts, "account": account, "market": market,
                       "client_order_id": f"c{counter}", "side": side, "order_type": "market", "qty": qty}  # fmt: skip
        elif r < 0.78 and resting[account]:
            market, coid = resting[account].pop(int(rng.integers(len(resting[account]))))
            command = {"type": "cancel_order", "ts": ts, "account": account, "market": market, "client_order_id": coid}
        elif r < 0.84 and resting[account]:
            market, coid = resting[account][int(rng.integers(len(resting[account])))]
            command = {"type": "amend_order", "ts": ts, "account": account, "market": market, "client_order_id": coid,
                       "qty": str(int(rng.integers(1, 5)))}  # fmt: skip
        elif r < 0.845:
            resting[account].clear()
            command = {"type": "cancel_all", "ts": ts, "account": account}
        elif r < 0.87:
            command = {"type": "deposit", "ts": ts, "account": account, "amount": str(int(rng.integers(100, 5000)))}
        elif r < 0.885:
            command = {"type": "withdraw", "ts": ts, "account": account, "amount": str(int(rng.integers(10, 500)))}
        elif r < 0.89:
            lines.append('{"type": "place_order", "ts": "not a time"' if rng.random() < 0.5 else "garbage line")
            continue
        else:
            command = {"type": "cancel_order", "ts": ts, "account": account, "market": market, "order_id": 10**9}
        lines.append(_dump(command))
    return lines
