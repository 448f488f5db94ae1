"""Write tests/scenarios/onboarding_flow.commands.jsonl: the broker layer's paths end to end.

    .venv/bin/python tests/broker_venue/make_onboarding_flow.py

Then regenerate the expected events and final state from the current code and check them
against tests/scenarios/onboarding_flow.md before keeping them:

    ONSHORE_REGEN_GOLDEN=1 .venv/bin/pytest tests/scenarios -k onboarding_flow -p no:cacheprovider

The story is told, with the arithmetic, in onboarding_flow.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

try:
    from broker.applicants import ALICE_RETAIL, CAROL_ECP
except ModuleNotFoundError:  # run as a script: put tests/ on the path, as pytest does
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from broker.applicants import ALICE_RETAIL, CAROL_ECP

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC
SECOND = 1_000
YEAR = 365 * 86_400_000
OUT = Path(__file__).resolve().parents[1] / "scenarios" / "onboarding_flow.commands.jsonl"
SOURCES = ("coinbase", "kraken", "bitstamp", "gemini")

ALICE = ALICE_RETAIL
CAROL = CAROL_ECP
SANCTIONED = {**ALICE, "name": "NESCIO, Nomen", "country": "KP"}
TEEN = {**ALICE, "name": "Tom Young", "date_of_birth": "2008-01-02"}


def cmd(kind: str, ts: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "ts": ts, **fields}


def order(ts: int, account: str, coid: str, side: str, qty: int, price: str, **more: Any) -> dict[str, Any]:
    return cmd("place_order", ts, account=account, market="BTC-PERP", client_order_id=coid, side=side,
               qty=str(qty), price=price, **more)  # fmt: skip


def move(ts: int, price: int, n: int) -> list[dict[str, Any]]:
    """mm requotes price ± 10 (100 lots a side), then the four sources quote ``price``."""
    quotes = [{"source": s, "price": str(price), "ts": ts} for s in SOURCES]
    return [
        cmd("cancel_all", ts, account="mm", market="BTC-PERP"),
        order(ts, "mm", f"mm-b{n}", "buy", 100, str(price - 10), post_only=True),
        order(ts, "mm", f"mm-s{n}", "sell", 100, str(price + 10), post_only=True),
        cmd("index_update", ts, index="BTC-USD", quotes=quotes),
    ]


def ack(ts: int, account: str, document: str, version: str) -> dict[str, Any]:
    return cmd("acknowledge_disclosure", ts, account=account, document=document, version=version)


def commands() -> list[dict[str, Any]]:
    t = T0
    out = [
        cmd("register_member", t, member="fcm-1", capital="5000000", default_fund="500000"),
        cmd("open_account", t, account="mm", member="fcm-1", segment="market_maker"),
        cmd("deposit", t, account="mm", amount="5000000"),
        cmd("onboard_customer", t, account="alice", member="fcm-1", profile=ALICE),
        cmd("onboard_customer", t, account="carol", member="fcm-1", profile=CAROL),
        cmd("onboard_customer", t, account="nomen", member="fcm-1", profile=SANCTIONED),
        cmd("onboard_customer", t, account="tom", member="fcm-1", profile=TEEN),
        *move(t, 65_000, 1),
        cmd("deposit", t, account="alice", amount="10000"),
        cmd("set_leverage", t, account="alice", market="BTC-PERP", leverage="50"),
        order(t, "alice", "a1", "buy", 10, "65010"),  # no acknowledgment yet
        ack(t, "alice", "risk_disclosure_statement", "1"),
        order(t, "alice", "a2", "buy", 10, "65010"),  # the addendum is still missing
        ack(t, "alice", "perpetual_futures_addendum", "1"),
        order(t, "alice", "a3", "buy", 10, "65010"),
        cmd(
            "place_order",
            t,
            account="alice",
            market="ETH-PERP",
            client_order_id="a4",
            side="buy",
            qty="1",
            price="3000",
        ),  # retail may trade BTC-PERP only
        cmd("deposit", t, account="carol", amount="1000"),
        ack(t, "carol", "risk_disclosure_statement", "1"),
        ack(t, "carol", "perpetual_futures_addendum", "1"),
        cmd("set_leverage", t, account="carol", market="BTC-PERP", leverage="50"),
        order(t, "carol", "c1", "buy", 40, "65010"),
        cmd("publish_disclosure", t, document="risk_disclosure_statement", version="2"),
        order(t, "alice", "a5", "buy", 1, "65010"),  # not acknowledged: reduce-only now
        order(t, "alice", "a6", "sell", 4, "64990", reduce_only=True),
        ack(t, "alice", "risk_disclosure_statement", "1"),  # not the current version
        ack(t, "alice", "risk_disclosure_statement", "2"),
        order(t, "alice", "a7", "buy", 2, "65010"),
    ]
    # margin calls: carol (50×) into the warning zone and back, twice
    out += move(T0 + 10 * SECOND, 63_400, 2)
    out += [cmd("tick", T0 + 20 * SECOND), cmd("tick", T0 + 30 * SECOND)]
    out += move(T0 + 40 * SECOND, 65_000, 3)
    out += [cmd("tick", T0 + 41 * SECOND)]
    out += move(T0 + 42 * SECOND, 63_400, 4)
    out += [cmd("tick", T0 + 43 * SECOND)]
    # a year on: the review is due
    t = T0 + YEAR
    out += [
        order(t, "alice", "a8", "buy", 1, "63410"),
        order(t, "alice", "a9", "sell", 1, "63390", reduce_only=True),
        cmd("review_customer", t, account="alice", profile={**ALICE, "net_worth": "160000"}),
        order(t, "alice", "a10", "buy", 1, "63410"),
        cmd("set_account_limits", t, account="alice", max_leverage="20"),
        cmd("set_account_limits", t, account="alice", max_leverage="5"),
        cmd("set_leverage", t, account="alice", market="BTC-PERP", leverage="10"),
    ]
    return out


def main() -> None:
    OUT.write_text("".join(json.dumps(c, separators=(", ", ": ")) + "\n" for c in commands()), "utf-8")


if __name__ == "__main__":
    main()
