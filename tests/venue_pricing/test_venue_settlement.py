"""Variation settlement through the Venue: unrealized PnL into cash, cost basis reset, equity unchanged.

docs/clearing.md explains why ``variation_settlement`` holds minus the realized PnL of all
accounts, which is what the open positions' unrealized PnL nets to: a settlement cycle pays
it out and must bring the account to exactly zero, with no account's equity moving.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from onshore.core import commands as c

from .session import BTC, HOUR, K_BTC, SECOND, T0, Session, of_type, standard_session, ticks, usd

NOON = T0 + 12 * HOUR
MIDNIGHT = T0 + 24 * HOUR


def _equities(s: Session) -> dict[str, int]:
    return {name: usd(a["equity"]) for name, a in s.state()["accounts"].items()}


def _funding(events: list[dict[str, Any]]) -> dict[str, int]:
    paid: dict[str, int] = {}
    for p in of_type(events, "funding_payment"):
        paid[p["account"]] = paid.get(p["account"], 0) + usd(p["amount"])
    return paid


def _settle_at(s: Session, ts: int) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Tick to 1 ms before ``ts`` and then to ``ts``: the state before, the events, the state after."""
    s.tick(ts - 1)
    before = s.state()
    events = s.tick(ts)
    assert not of_type(events, "mark_price"), "the mark moved at the settlement time: the scenario is not quiet"
    return before, events, s.state()


def _positions_session() -> Session:
    """alice long 5 @ 65,010, bob short 3 @ 64,990, dave long 4 @ 65,010 isolated, the maker the rest.

    At 06:00 the index moves to 65,500 and the maker requotes around it.
    """
    s = standard_session()
    s.apply(c.SetMarginMode(ts=s.ts, account="dave", market=BTC, mode="isolated"))
    s.at(T0 + 5 * SECOND)
    s.order("alice", "buy", 5)
    s.order("bob", "sell", 3)
    s.order("dave", "buy", 4)
    s.at(T0 + 6 * HOUR)
    s.index("65500")
    s.cancel_all("mm")
    s.quote_ladder("mm", "65490", "65510")
    return s


def test_settlement_pays_unrealized_pnl_into_cash_and_no_equity_moves() -> None:
    s = _positions_session()
    before, events, after = _settle_at(s, NOON)
    settled = {ev["account"]: ev for ev in of_type(events, "settlement")}
    assert set(settled) == {"alice", "bob", "dave", "mm"}
    assert {ev["price"] for ev in settled.values()} == {"65500"}
    # the amounts: (65,500 − entry) × qty × 0.01 BTC
    assert {a: ev["amount"] for a, ev in settled.items()} == {
        "alice": "24.5",  # (65,500 − 65,010) × 5 × 0.01
        "bob": "-15.3",  # (65,500 − 64,990) × −3 × 0.01
        "dave": "19.6",  # (65,500 − 65,010) × 4 × 0.01, into the isolated margin
        "mm": "-29.4",  # short 6 at an average 65,010 less the 0.6 realized on the way
    }
    funding = _funding(events)
    for name, account in after["accounts"].items():
        was = before["accounts"][name]
        # equity moves by the funding payment of the same tick only
        assert usd(account["equity"]) == usd(was["equity"]) + funding.get(name, 0), name
        for market, position in account["positions"].items():
            old = was["positions"][market]
            assert usd(settled[name]["amount"]) == usd(old["unrealized_pnl"])
            assert position["unrealized_pnl"] == "0"
            assert position["entry_price"] == "65500"
            if position["margin_mode"] == "cross":
                assert usd(account["cash"]) == usd(was["cash"]) + funding[name] + usd(settled[name]["amount"])
    assert before["system"]["variation_settlement"] != "0"
    assert after["system"]["variation_settlement"] == "0"
    assert after["markets"][BTC]["last_settlement_price"] == "65500"


def test_an_isolated_position_settles_into_its_isolated_margin_not_its_cash() -> None:
    s = _positions_session()
    before, events, after = _settle_at(s, NOON)
    was, now = before["accounts"]["dave"], after["accounts"]["dave"]
    (settled,) = [ev for ev in of_type(events, "settlement") if ev["account"] == "dave"]
    margin_before = usd(was["positions"][BTC]["isolated_margin"])
    margin_after = usd(now["positions"][BTC]["isolated_margin"])
    funding = _funding(events)["dave"]
    # the settlement goes to the isolated margin; the funding of the same tick to the margin or to cash
    # (to cash today: see test_venue_pricing_known_bugs.py), and nothing else moves
    assert margin_after - margin_before - usd(settled["amount"]) in (0, funding)
    assert usd(now["cash"]) + margin_after == usd(was["cash"]) + margin_before + funding + usd(settled["amount"])
    assert s.venue.ledger.balance("isolated", f"dave/{BTC}") == usd(now["positions"][BTC]["isolated_margin"])


def test_after_settlement_pnl_is_measured_from_the_settlement_price() -> None:
    s = _positions_session()
    _settle_at(s, NOON)
    # alice sells 2 of her 5 into the maker's 65,490 bid: realized (65,490 − 65,500) × 2 × 0.01 = −0.2
    s.at(NOON + HOUR // 2)
    cash_before = usd(s.state()["accounts"]["alice"]["cash"])
    (trade,) = of_type(s.order("alice", "sell", 2), "trade")
    assert trade["price"] == "65490"
    assert usd(s.state()["accounts"]["alice"]["cash"]) == cash_before - 200_000 - usd(trade["taker_fee"])
    # the maker, short since noon at 65,500, bought the 2 back at 65,490: it realized +0.2, so the
    # pass-through account, minus the realized PnL of all since the reset, is back at zero
    assert s.system("variation_settlement") == 0
    # the second cycle of the day, after the index moves again, brings it back to zero
    s.at(NOON + 6 * HOUR)
    s.index("64800")
    s.cancel_all("mm")
    s.quote_ladder("mm", "64790", "64810")
    _, events, after = _settle_at(s, MIDNIGHT)
    settled = {ev["account"]: usd(ev["amount"]) for ev in of_type(events, "settlement")}
    assert settled["alice"] == (ticks("64800") - ticks("65500")) * 3 * K_BTC  # from 65,500, not from 65,010
    assert after["system"]["variation_settlement"] == "0"
    assert after["markets"][BTC]["last_settlement_price"] == "64800"


def test_settlement_skips_flat_accounts_and_markets_without_a_mark() -> None:
    s = _positions_session()
    _, events, _ = _settle_at(s, NOON)
    assert {ev["market"] for ev in of_type(events, "settlement")} == {BTC}  # ETH-PERP has no mark
    assert "carol" not in {ev["account"] for ev in of_type(events, "settlement")}


# ---------------------------------------------------------------------------------------------- property

MARKETS = {"BTC-PERP": ("BTC-USD", 65_000, 10), "ETH-PERP": ("ETH-USD", 3_200, 100)}  # index, USD, ticks per USD


def _px(usd_ticks: int, per_usd: int) -> str:
    digits = len(str(per_usd)) - 1
    return f"{usd_ticks // per_usd}.{usd_ticks % per_usd:0{digits}d}"


@st.composite
def settlement_cases(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    return {
        "traders": n,
        "isolated": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        "trades": draw(
            st.lists(
                st.tuples(st.integers(0, n - 1), st.sampled_from(sorted(MARKETS)), st.booleans(), st.integers(1, 30)),
                min_size=1,
                max_size=10,
            )
        ),
        "moves_bps": {m: draw(st.integers(-300, 300)) for m in sorted(MARKETS)},
        "closes": draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(sorted(MARKETS))), max_size=4)),
    }


def _ladder(s: Session, market: str, index_usd: int, per_usd: int) -> None:
    mid = index_usd * per_usd
    spread = per_usd * (10 if market == BTC else 1)
    for level in range(3):
        s.order("mm", "buy", 300, _px(mid - spread * (level + 1), per_usd), market=market, post_only=True)
        s.order("mm", "sell", 300, _px(mid + spread * (level + 1), per_usd), market=market, post_only=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(settlement_cases())
def test_settlement_leaves_every_equity_unchanged_and_variation_settlement_at_zero(case: dict[str, Any]) -> None:
    # state: traders (some isolated) trade both markets with the maker; both indices move at 06:00;
    # some close at 09:00 (realizing PnL); both cycles of the day settle
    s = Session()
    s.member()
    s.account("mm", deposit="100000000", segment="market_maker")
    names = [f"t{i}" for i in range(case["traders"])]
    for name, isolated in zip(names, case["isolated"], strict=True):
        s.account(name, deposit="5000000")
        if isolated:
            for market in MARKETS:
                s.apply(c.SetMarginMode(ts=s.ts, account=name, market=market, mode="isolated"))
    for market, (index, price, per_usd) in MARKETS.items():
        s.index(str(price), index=index)
        _ladder(s, market, price, per_usd)
    s.at(T0 + SECOND)
    for who, market, buy, qty in case["trades"]:
        s.order(names[who], "buy" if buy else "sell", qty, market=market)
    s.at(T0 + 6 * HOUR)
    s.cancel_all("mm")
    for market, (index, price, per_usd) in MARKETS.items():
        moved = price * (10_000 + case["moves_bps"][market]) // 10_000
        s.index(str(moved), index=index)
        _ladder(s, market, moved, per_usd)
    s.at(T0 + 9 * HOUR)
    for who, market in case["closes"]:
        h = s.venue.accounts[names[who]].holdings.get(market)
        if h is not None and h.qty:
            s.order(names[who], "sell" if h.qty > 0 else "buy", abs(h.qty), market=market)
    for cycle in (NOON, MIDNIGHT):
        before, events, after = _settle_at(s, cycle)
        # a 50x isolated trader that the move left just above maintenance can be liquidated by this
        # tick's funding (a liquidation moves equity): such a run says nothing about settlement
        assume(not of_type(events, "liquidation"))
        funding = _funding(events)
        for name, account in after["accounts"].items():
            assert usd(account["equity"]) == usd(before["accounts"][name]["equity"]) + funding.get(name, 0)
            assert all(p["unrealized_pnl"] == "0" for p in account["positions"].values())
        assert after["system"]["variation_settlement"] == "0"
        assert len(of_type(events, "settlement")) == sum(1 for a in before["accounts"].values() for _ in a["positions"])
