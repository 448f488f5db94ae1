"""Funding through the Venue: sign, amounts, zero-sum to the micro-dollar, and the tick rule.

docs/pricing.md §3 gives the formulas; here the Venue samples the premium from its own book,
pays funding on the positions its trades built, and books the rounding remainder.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onshore.core import commands as c

from .session import (
    BTC,
    HOUR,
    K_BTC,
    MINUTE,
    PPB,
    SECOND,
    T0,
    Session,
    of_type,
    rate_ppb,
    standard_session,
    ticks,
    usd,
)


def _floor_payment(qty_lots: int, mark_ticks: int, rate: int) -> int:
    """The funding an account receives, micro-dollars: ⌊−qty × mark × K × rate / 10⁹⌋ (negative: paid)."""
    return (-qty_lots * mark_ticks * K_BTC * rate) // PPB


# ---------------------------------------------------------------------------------------------- sign


@pytest.mark.parametrize(
    ("book", "rate", "mark", "payments"),
    [
        pytest.param(
            ("65100", "65120"),
            # premium (65,100 − 65,000) / 65,000 = 0.1538461 %; + clamp(0.01 % − P, ±0.05 %) = 0.1038461 % per 8 h
            {"premium": "0.001538461", "rate_8h": "0.001038461", "rate": "0.000129807"},
            "65110",
            # alice long 5 pays ⌈5 × 651.1 USD × 0.0129807 %⌉; bob (short 3) and the maker (short 2) receive, floored
            {"alice": "-0.422587", "bob": "0.253552", "mm": "0.169034"},
            id="book-above-the-index:-longs-pay-shorts",
        ),
        pytest.param(
            ("64880", "64900"),
            # premium −(65,000 − 64,900) / 65,000 = −0.1538461 %; + 0.05 % = −0.1038461 % per 8 h
            {"premium": "-0.001538461", "rate_8h": "-0.001038461", "rate": "-0.000129807"},
            "64890",
            {"alice": "0.421158", "bob": "-0.252696", "mm": "-0.168464"},
            id="book-below-the-index:-shorts-pay-longs",
        ),
        pytest.param(
            ("64990", "65010"),
            # no premium either way: the rate is the interest rate, 0.01 % per 8 h, an eighth per hour
            {"premium": "0", "rate_8h": "0.0001", "rate": "0.0000125"},
            "65000",
            {"alice": "-0.040625", "bob": "0.024375", "mm": "0.01625"},
            id="book-around-the-index:-the-interest-rate",
        ),
    ],
)
def test_funding_sign_and_amounts(
    book: tuple[str, str], rate: dict[str, str], mark: str, payments: dict[str, str]
) -> None:
    # state: alice long 5 and bob short 3 against the market maker (short 2), one hour of minute samples
    s = standard_session(bid=book[0], ask=book[1])
    s.at(T0 + 5 * SECOND)
    s.order("alice", "buy", 5)
    s.order("bob", "sell", 3)
    events = s.tick(T0 + HOUR)
    (funding,) = of_type(events, "funding_rate")
    assert {key: funding[key] for key in rate} == rate
    assert funding["interest"] == "0.0001"
    assert (funding["mark_price"], funding["funding_time"]) == (mark, T0 + HOUR)
    paid = {p["account"]: p["amount"] for p in of_type(events, "funding_payment")}
    assert paid == payments
    qty = {"alice": 5, "bob": -3, "mm": -2}
    for account, amount in paid.items():
        assert usd(amount) == _floor_payment(qty[account], ticks(mark), rate_ppb(rate["rate"]))
    # zero-sum: what the payers paid beyond what the receivers got is the rounding account's
    assert sum(usd(a) for a in paid.values()) + s.system("rounding") == 0
    assert s.state()["markets"][BTC]["last_funding_rate"] == rate["rate"]


def test_funding_payments_follow_the_funding_rate_and_go_through_variation_settlement() -> None:
    s = standard_session(bid="65100", ask="65120")
    s.at(T0 + 5 * SECOND)
    s.order("alice", "buy", 5)
    vs_before = s.system("variation_settlement")
    cash_before = usd(s.state()["accounts"]["alice"]["cash"])
    events = s.tick(T0 + HOUR)
    types = [ev["type"] for ev in events if ev["type"] != "mark_price"]
    assert types == ["funding_rate", "funding_payment", "funding_payment"]  # alice, mm: by account id
    (alice,) = [p for p in of_type(events, "funding_payment") if p["account"] == "alice"]
    assert usd(s.state()["accounts"]["alice"]["cash"]) == cash_before + usd(alice["amount"])
    # the payments and the remainder leave variation_settlement where it was
    assert s.system("variation_settlement") == vs_before


# ---------------------------------------------------------------------------------------------- zero-sum


def _fmt(price_ticks: int) -> str:
    return f"{price_ticks // 10}.{price_ticks % 10}"


@st.composite
def funded_books(draw: Any) -> dict[str, Any]:
    """An index, a book at a premium or discount to it, and trades among traders and the market maker."""
    traders = draw(st.integers(2, 6))
    return {
        "index_cents": draw(st.integers(500_000, 15_000_000)),  # 5,000 to 150,000 USD
        "premium_bps": draw(st.integers(-150, 150)),
        "traders": traders,
        "trades": draw(
            st.lists(
                st.tuples(
                    st.integers(0, traders - 1),  # taker
                    st.integers(-1, traders - 1),  # maker: -1 the market maker's ladder, else a trader in the spread
                    st.sampled_from(("buy", "sell")),  # the taker's side
                    st.integers(1, 40),  # lots
                    st.integers(1, 199),  # the maker's price: ticks above the best bid (inside the 20 USD spread)
                ),
                min_size=1,
                max_size=12,
            )
        ),
    }


def _build(case: dict[str, Any]) -> tuple[Session, dict[str, int]]:
    s = Session()
    s.member()
    s.account("mm", deposit="100000000", segment="market_maker")
    names = [f"t{i}" for i in range(case["traders"])]
    for name in names:
        s.account(name, deposit="10000000")
    cents = case["index_cents"]
    s.index(f"{cents // 100}.{cents % 100:02d}")
    mid = (cents * (10_000 + case["premium_bps"]) // 10_000) // 10  # market ticks (0.1 USD)
    bid, ask = mid - 100, mid + 100
    lots = max(60, -(-30_000_000_000 // (bid * K_BTC)))  # each level worth at least 30,000 USD
    for level in range(4):
        s.order("mm", "buy", lots, _fmt(bid - 10 * level), post_only=True)
        s.order("mm", "sell", lots, _fmt(ask + 10 * level), post_only=True)
    positions = dict.fromkeys(["mm", *names], 0)
    s.at(T0 + SECOND)
    for taker_i, maker_i, side, qty, offset in case["trades"]:
        taker = names[taker_i]
        sign = 1 if side == "buy" else -1
        if maker_i >= 0:
            maker = names[maker_i if maker_i != taker_i else (maker_i + 1) % len(names)]
            s.order(maker, "sell" if side == "buy" else "buy", qty, _fmt(bid + offset), post_only=True)
        else:
            maker = "mm"
        traded = s.order(taker, side, qty)
        assert sum(int(t["qty"]) for t in of_type(traded, "trade")) == qty
        assert {t["maker_account"] for t in of_type(traded, "trade")} == {maker}
        positions[taker] += sign * qty
        positions[maker] -= sign * qty
    return s, positions


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(funded_books())
def test_funding_is_zero_sum_to_the_micro_dollar_with_the_rounding_account(case: dict[str, Any]) -> None:
    s, positions = _build(case)
    vs_before = s.system("variation_settlement")
    events = s.tick(T0 + HOUR)
    (funding,) = of_type(events, "funding_rate")
    rate = rate_ppb(funding["rate"])
    mark = ticks(funding["mark_price"])
    paid = {p["account"]: usd(p["amount"]) for p in of_type(events, "funding_payment")}
    holders = {a for a, q in positions.items() if q}
    if rate == 0:
        assert paid == {}
    else:
        assert set(paid) == holders
    # each payment is the floor formula at the published rate and mark ...
    for account, amount in paid.items():
        assert amount == _floor_payment(positions[account], mark, rate)
        # ... and its sign: a long pays when the rate is positive, a short when it is negative
        direction = positions[account] * rate
        assert (amount < 0) if direction > 0 else (amount >= 0)
    # zero-sum: payments + the remainder booked to `rounding` = 0, the remainder below one micro per payer
    rounding = s.system("rounding")
    assert sum(paid.values()) + rounding == 0
    assert 0 <= rounding < max(1, len(paid))
    assert s.system("variation_settlement") == vs_before
    s.venue.check_invariants()


# ---------------------------------------------------------------------------------------------- the tick rule


def _premium_session() -> Session:
    s = standard_session(bid="65100", ask="65120")
    s.at(T0 + 5 * SECOND)
    s.order("alice", "buy", 5)
    s.order("bob", "sell", 3)
    return s


def test_a_tick_that_jumps_several_hours_runs_every_interval_in_order() -> None:
    s = _premium_session()
    events = s.tick(T0 + 5 * HOUR + 30 * SECOND)
    rates = of_type(events, "funding_rate")
    assert [r["funding_time"] for r in rates] == [T0 + h * HOUR for h in range(1, 6)]
    # each funding_rate is followed by its own payments, before the next interval's rate
    kinds = [ev["type"] for ev in events if ev["type"] in ("funding_rate", "funding_payment")]
    assert kinds == ["funding_rate", "funding_payment", "funding_payment", "funding_payment"] * 5
    assert all(ev["ts"] == T0 + 5 * HOUR + 30 * SECOND for ev in events)  # events carry the tick's time
    assert not of_type(events, "settlement")

    # on past noon: funding at 06:00 … 13:00, and the 12:00 settlement after the 12:00 funding
    events = s.tick(T0 + 13 * HOUR)
    scheduled = [(ev["type"], ev.get("funding_time")) for ev in events if ev["type"] in ("funding_rate", "settlement")]
    expected = [("funding_rate", T0 + h * HOUR) for h in range(6, 13)]
    expected += [("settlement", None)] * 3  # alice, bob, mm
    expected += [("funding_rate", T0 + 13 * HOUR)]
    assert scheduled == expected


def test_work_that_fell_due_runs_at_the_next_tick_on_the_state_of_that_tick() -> None:
    # docs/pricing.md, "The tick rule": a later ts on another command runs nothing; drivers send ticks
    s = _premium_session()
    s.tick(T0 + HOUR - MINUTE)
    s.at(T0 + HOUR + 30 * SECOND)  # past the 01:00 boundary, but no tick yet
    events = s.order("alice", "sell", 5)  # alice closes her long
    assert not of_type(events, "funding_rate", "funding_payment")
    assert s.venue.ts == T0 + HOUR + 30 * SECOND
    events = s.tick(T0 + HOUR + MINUTE)
    (rate,) = of_type(events, "funding_rate")
    assert rate["funding_time"] == T0 + HOUR
    assert "alice" not in {p["account"] for p in of_type(events, "funding_payment")}


def _timeless(events: list[Any]) -> list[dict[str, Any]]:
    out = []
    for ev in events:
        d = dict(ev)
        for key in ("seq", "ts", "cmd"):
            d.pop(key)
        out.append(d)
    return out


def test_one_long_tick_pays_the_same_as_a_tick_every_minute() -> None:
    one = _premium_session()
    n = len(one.events)
    one.tick(T0 + 13 * HOUR)
    many = _premium_session()
    for minute in range(1, 13 * 60 + 1):
        many.tick(T0 + minute * MINUTE)
    assert _timeless(one.events[n:]) == _timeless(many.events[n:])
    assert one.venue.state_hash() == many.venue.state_hash()


@pytest.mark.parametrize(
    ("first_ts", "first_sample", "first_funding", "first_settlement"),
    [
        pytest.param(T0, T0 + MINUTE, T0 + HOUR, T0 + 12 * HOUR, id="on-a-boundary:-the-next-one"),
        pytest.param(
            T0 + 17 * MINUTE + 42_123,
            T0 + 18 * MINUTE,
            T0 + HOUR,
            T0 + 12 * HOUR,
            id="between-boundaries:-aligned-to-the-interval",
        ),
        pytest.param(T0 + 12 * HOUR + 1, T0 + 12 * HOUR + MINUTE, T0 + 13 * HOUR, T0 + 24 * HOUR, id="just-after-noon"),
    ],
)
def test_schedules_start_at_the_first_accepted_command_aligned_to_their_intervals(
    first_ts: int, first_sample: int, first_funding: int, first_settlement: int
) -> None:
    s = Session(start_ts=first_ts - 5)
    s.apply(c.Deposit(ts=first_ts - 5, account="nobody", amount="1"), reject="unknown_account")
    assert s.venue.clock_started is False  # a rejected command starts nothing
    s.at(first_ts)
    s.member()
    market = s.venue.markets[BTC]
    assert (market.next_sample_ms, market.next_funding_ms) == (first_sample, first_funding)
    assert s.venue.next_settlement_ms == first_settlement
