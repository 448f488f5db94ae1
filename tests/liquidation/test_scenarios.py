"""Liquidation scenarios through the Venue, each figure checked by hand (docs/liquidation.md).

Every scenario crashes the index with ``index_update``; the market maker's book is moved
down first where the story needs liquidity. With no basis samples (no ticks) and a book
too thin for the impact notional, the mark is the median of (index, index, last trade):
the new index. Both markets have ``K = 1,000`` micro-dollars per tick-lot; on BTC-PERP one
lot is 0.01 BTC, so a 1-USD price move is worth 0.01 USD a lot.

Cast used throughout: ``fcm-1`` (capital 10,000,000, default fund 1,000,000), a market maker
``mm`` and traders in the ``institutional`` segment (50× by default: initial margin 2 %,
maintenance 1 % in the first tier). Fees: maker 1 bp, taker 4 bp, liquidation 0.5 %.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from onshore.core import commands as c

from .driver import ETH, Run, absorbed, bitmex_venue, dollars, of_type, ticks, usd


def _stages(events: list[dict[str, Any]], account: str | None = None) -> list[tuple[str, str, str, str]]:
    return [
        (ev["account"], ev["stage"], ev["qty"], ev["price"])
        for ev in of_type(events, "liquidation")
        if account is None or ev["account"] == account
    ]


def _trades(events: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(ev["taker_account"], ev["maker_account"], ev["qty"], ev["price"]) for ev in of_type(events, "trade")]


def _alice_long_10_at_65k(r: Run, cash: str, *, taker_fee: str = "2.6") -> None:
    """alice buys 10 lots (0.1 BTC, 6,500 USD) at 65,000 from ``mm`` as taker and keeps ``cash``."""
    r.account("alice", dollars(Fraction(usd(cash) + usd(taker_fee), 1_000_000)))
    r.order("mm", "sell", 10, "65000", post_only=True)
    r.order("alice", "buy", 10, "65000", tif="ioc")
    assert r.cash("alice") == usd(cash)


def _cast(config: str | None = None) -> Run:
    r = Run(config)
    r.member("fcm-1", "10000000", "1000000")
    r.account("mm", "10000000", segment="market_maker")
    r.index("65000")
    return r


# ============================================================================ gap on a thin book
def test_gap_through_the_bankruptcy_price_on_a_thin_book() -> None:
    """alice, 10 lots long at 65,000 with 450 USD, is gapped from 63,000 to 60,000 through a thin book.

    Her bankruptcy price is 65,000 − 450 / (10 × 0.01) = 60,500. At 63,000 she is safe
    (equity 250 ≥ maintenance 63). ``mm`` moves its book down: bids 2 @ 61,000, 4 @ 60,200,
    3 @ 59,900 (5,425 USD in all, under the 20,000 USD impact notional: the mark ignores
    the book). The index gaps to 60,000: equity 450 − 500 = −50 < 0, so she goes straight
    to the ``market`` stage, limited at the market-protection distance, 60,000 × 0.98 = 58,800:

        fills  2 @ 61,000 → −80,  4 @ 60,200 → −192,  3 @ 59,900 → −153:  cash 450 − 425 = 25
        the last lot at the mark 60,000: −50                               equity −25

    The fee is capped at the equity left (none). Her member pays the 25 USD deficit
    (``member_capital``); that leaves no loss to allocate and the book nothing to take, so
    her member takes the last lot into its house account ``@fcm-1`` at the mark (a
    ``takeover``: it carries its customer's position; nobody is torn up, and ``mm`` keeps
    its short); ``trader`` is her 250 USD, her equity at the marks before the gap command (the 200
    she lost from 65,000 to 63,000 was a trading loss). Together 275: her loss from 63,000 at
    the mark, 10 × 0.01 × 3,000 = 300, less what the fills beat the mark by, 2 × 10 + 4 × 2 − 3 × 1 = 25.
    """
    r = _cast()
    _alice_long_10_at_65k(r, "450")
    r.index("63000")
    assert r.equity("alice") == usd("250") and r.maintenance("alice") == usd("63")
    for price, qty in (("61000", 2), ("60200", 4), ("59900", 3)):
        r.order("mm", "buy", qty, price, post_only=True)
    insurance = r.system("insurance_fund")

    events = r.index("60000")

    assert r.mark() == ticks("60000")
    assert _trades(events) == [
        ("alice", "mm", "2", "61000"),
        ("alice", "mm", "4", "60200"),
        ("alice", "mm", "3", "59900"),
        ("alice", "@fcm-1", "1", "60000"),  # takeover: taker is the seller, maker the buyer
    ]
    assert _stages(events) == [("alice", "market", "9", "58800"), ("alice", "takeover", "1", "60000")]
    assert absorbed(events) == [("member_capital", usd("25"), "fcm-1"), ("trader", usd("250"), "alice")]
    assert r.qty("alice") == 0 and r.cash("alice") == 0
    assert r.system("insurance_fund") == insurance  # no equity left, so no liquidation fee
    assert r.capital("fcm-1") == usd("10000000") - usd("25")
    assert r.qty("@fcm-1") == 1 and r.qty("mm") == -1


# ============================================================================ partial liquidation and slices
def _alice_long_100(config: str | None = None) -> Run:
    """alice, 100 lots long at 65,000 (as maker, fee 6.5) with 1,400 USD of cash; a deep book at 64,190 / 64,210.

    At a mark of 64,200: equity 1,400 − 100 × 0.01 × 800 = 600, maintenance 1 % × 64,200 = 642.
    The book has 200 lots a side (128,380 USD, above the impact notional), so the impact mid
    is 64,200 and the mark after the index update is 64,200.
    """
    r = _cast(config)
    r.account("alice", "1406.5")
    r.order("alice", "buy", 100, "65000", post_only=True)
    r.order("mm", "sell", 100, "65000", tif="ioc")
    assert r.cash("alice") == usd("1400")
    r.order("mm", "buy", 200, "64190", post_only=True)
    r.order("mm", "sell", 200, "64210", post_only=True)
    return r


def test_partial_liquidation_restores_maintenance_and_keeps_the_rest() -> None:
    """Only the 14 lots that restore maintenance are sold; alice keeps 86.

    Bankruptcy price 64,200 − 600 / (100 × 0.01) = 63,600. Lots to restore at the mark
    (``lots_to_restore``): 600 − 3.21·c ≥ 6.42·(100 − c) ⇔ c ≥ 13.08…, so 14. The IOC sells
    14 @ 64,190 (limit 63,600): realized 14 × 0.01 × (64,190 − 65,000) = −113.40; fee 0.5 % of
    14 × 641.90 = 44.933. After: cash 1,400 − 113.40 − 44.933 = 1,241.667, uPnL of 86 lots
    at 64,200 = −688, equity 553.667 ≥ maintenance 86 × 6.42 = 552.12. ``trader`` is what the
    liquidation cost her: 600 − 553.667 = 46.333 (slippage 1.40 and the fee).
    """
    r = _alice_long_100()
    events = r.index("64200")
    assert r.mark() == ticks("64200")
    assert _stages(events) == [("alice", "partial", "14", "63600")]
    assert _trades(events) == [("alice", "mm", "14", "64190")]
    assert of_type(events, "trade")[0]["taker_fee"] == "0"  # a liquidation order pays no taker fee
    assert r.qty("alice") == 86
    assert r.cash("alice") == usd("1241.667")
    assert r.equity("alice") == usd("553.667") >= r.maintenance("alice") == usd("552.12")
    assert r.system("insurance_fund") == usd("44.933")
    assert absorbed(events) == [("trader", usd("46.333"), "alice")]


def test_slices_cap_each_liquidation_order() -> None:
    """With ``liquidation_slice = 5,000`` USD each order is at most ⌊5,000 / 642⌋ = 7 lots.

    First slice 7 @ 64,190: equity 600 − 0.70 − 22.4665 = 576.8335 < 93 × 6.42 = 597.06, still
    short; lots to restore are now 576.8335 − 3.21·c ≥ 597.06 − 6.42·c ⇔ c ≥ 6.3…, so 7
    more. Two orders of 7 end where one of 14 did (equity 553.667, 86 lots left).
    """
    r = _alice_long_100('[clearing]\nliquidation_slice = "5000"\n')
    events = r.index("64200")
    # the second limit: 642,000 − ⌊576,833,500 / (93 × 1,000)⌋ = 642,000 − 6,202 ticks = 63,579.8
    assert _stages(events) == [("alice", "partial", "7", "63600"), ("alice", "partial", "7", "63579.8")]
    assert r.qty("alice") == 86
    assert r.equity("alice") == usd("553.667")
    for ev in of_type(events, "trade"):
        assert int(ev["qty"]) * 641.90 <= 5_000


# ============================================================================ cascade
def test_a_cascade_of_several_accounts_runs_inside_one_command() -> None:
    """Three longs of 10 lots at 65,000 with 134, 145 and 152 USD; the book moved down to thin bids.

    ``mm`` bids 5 lots at each of 64,150, 64,000, …, 63,100 and 100 at 62,000, and offers 40 at
    64,400: the impact mid, clamped to the index ± 1 %, is below the index, so once the
    index is 64,300 the mark follows the last trade down as liquidations sell. Maintenance is
    0.001 × mark for 10 lots, equity ``cash − 0.1 × (65,000 − mark)``:

    * at 64,300: a1 64 < 64.30 (below); a2 75 ≥ 64.30; a3 82 ≥ 64.30 — only a1 is;
    * a1 sells 1 lot at 64,150 (64 − 3.215·1 ≥ 6.43 × 9: one lot is enough at the mark), the
      mark follows to 64,150: a2 60 < 64.15 goes under, then a3 as the mark reaches 64,076.

    All inside the one ``index_update``; every account ends above maintenance or flat.
    """
    r = _cast()
    for account, deposit in (("a1", "136.6"), ("a2", "147.6"), ("a3", "154.6")):
        r.account(account, deposit)
    r.order("mm", "sell", 30, "65000", post_only=True)
    for account in ("a1", "a2", "a3"):
        r.order(account, "buy", 10, "65000", tif="ioc")
    for price in ("64150", "64000", "63850", "63700", "63550", "63400", "63250", "63100"):
        r.order("mm", "buy", 5, price, post_only=True)
    r.order("mm", "buy", 100, "62000", post_only=True)
    r.order("mm", "sell", 40, "64400", post_only=True)
    cash = {a: r.cash(a) for a in ("a1", "a2", "a3")}
    assert cash == {"a1": usd("134"), "a2": usd("145"), "a3": usd("152")}
    at_index = ticks("64300")
    for account in ("a2", "a3"):  # above maintenance at the index alone: only the cascade puts them under
        equity = cash[account] + 10 * (at_index - ticks("65000")) * 1_000
        assert equity >= 10 * at_index * 1_000 // 100

    events = r.index("64300")

    order = [ev["account"] for ev in of_type(events, "liquidation")]
    first = {a: order.index(a) for a in ("a1", "a2", "a3")}
    assert first["a1"] < first["a2"] < first["a3"]
    marks = [ev["price"] for ev in of_type(events, "mark_price")]
    assert marks[:3] == ["64300", "64150", "64076"]
    assert _stages(events)[0] == ("a1", "partial", "1", "63660")  # 64,300 − 64 / 0.1
    for account in ("a1", "a2", "a3"):
        assert r.qty(account) == 0 or r.equity(account) >= r.maintenance(account)
    assert r.venue.stopped is None


# ============================================================================ backstop
def test_backstop_accounts_take_the_position_at_the_bankruptcy_price() -> None:
    """alice (10 lots, 150 USD) falls to 63,700 on an empty book; two backstops take her position.

    Equity 150 − 130 = 20 < 63.70; bankruptcy 63,700 − 20 / 0.1 = 63,500; the whole position
    is needed (20 − 3.185·c ≥ 6.37·(10 − c) has no c ≤ 10) and the book has no bid. ``bs-small``
    (50 USD, 50×) can carry c lots while 50 + c × 0.01 × (63,700 − 63,500) ≥ c × 637 × 2 %:
    4 lots (58 ≥ 50.96; 5 would need 63.70 > 60). ``bs-big`` takes the other 6. Both at 63,500,
    no fees; alice's equity ends at exactly 0 and no layer below her pays anything.
    """
    r = _cast('[clearing]\nbackstop_accounts = ["bs-small", "bs-big"]\n')
    r.account("bs-small", "50", segment="market_maker")
    r.account("bs-big", "100000", segment="market_maker")
    _alice_long_10_at_65k(r, "150")
    events = r.index("63700")
    assert _stages(events) == [("alice", "backstop", "4", "63500"), ("alice", "backstop", "6", "63500")]
    assert _trades(events) == [("alice", "bs-small", "4", "63500"), ("alice", "bs-big", "6", "63500")]
    assert all(ev["maker_order_id"] == 0 and ev["taker_fee"] == "0" for ev in of_type(events, "trade"))
    assert r.qty("bs-small") == 4 and r.qty("bs-big") == 6 and r.qty("alice") == 0
    assert r.equity("alice") == 0
    assert absorbed(events) == [("trader", usd("20"), "alice")]
    assert r.equity("bs-small") == usd("58")  # 50 + 4 × 0.01 × 200


# ============================================================================ insurance fund and ADL
def test_insurance_fund_pays_first_then_adl_closes_the_rest_at_the_new_bankruptcy_price() -> None:
    """BitMEX's queue (test_rules) with 5 USD in the fund: it pays 5 of the 20 USD deficit.

    The short's equity becomes −15, its bankruptcy price 660 + ⌊−15 / (20 × 0.1)⌋ = 652.50;
    accounts 2 and 5 close 10 each there, each losing (660 − 652.50) × 10 × 0.1 = 7.50.
    """
    r = bitmex_venue(insurance_fund="5")
    events = r.index("660", market=ETH)
    assert absorbed(events) == [
        ("insurance_fund", usd("5"), None),
        ("adl", usd("7.5"), "account-2"),
        ("adl", usd("7.5"), "account-5"),
        ("trader", usd("100"), "short"),
    ]
    assert [(ev["account"], ev["qty"], ev["price"]) for ev in of_type(events, "auto_deleverage")] == [
        ("account-2", "10", "652.5"),
        ("account-5", "10", "652.5"),
    ]
    assert r.system("insurance_fund") == 0


def test_an_account_with_no_position_never_pays_in_adl() -> None:
    r = bitmex_venue()
    r.account("bystander", "1000000")
    events = r.index("660", market=ETH)
    assert "bystander" not in {ev["account"] for ev in of_type(events, "auto_deleverage")}
    assert r.cash("bystander") == usd("1000000")


# ============================================================================ the US waterfall
WATERFALL = """
[clearing]
clearing_house_capital = "1000"
assessment_multiple = "1"
"""


def _waterfall(config: str = WATERFALL, whale_deposit: str = "2006.499999") -> Run:
    """A whale (fcm-a) 100 lots long at 65,000 against two shorts of other members; no book.

    Members: fcm-a capital 500, default fund 300; fcm-b 10,000,000 / 400; fcm-c
    10,000,000 / 200; the clearing house's own capital 1,000. The whale bids 100 @ 65,000
    (maker fee 6.50) and keeps ``whale_deposit − 6.50`` of cash; s1 (fcm-b) sells 60 and s2
    (fcm-c) 40 into it.
    """
    r = Run(config)
    r.member("fcm-a", "500", "300")
    r.member("fcm-b", "10000000", "400")
    r.member("fcm-c", "10000000", "200")
    r.account("whale", whale_deposit, member="fcm-a")
    r.account("s1", "10000", member="fcm-b")
    r.account("s2", "10000", member="fcm-c")
    r.index("65000")
    r.order("whale", "buy", 100, "65000", post_only=True)
    r.order("s1", "sell", 60, "65000", tif="ioc")
    r.order("s2", "sell", 40, "65000", tif="ioc")
    return r


def test_a_member_default_walks_down_every_layer_to_the_vm_haircut() -> None:
    """The whale's cash is 1,999.999999; the index gaps to 59,000 on an empty book.

    Equity 1,999.999999 − 100 × 0.01 × 6,000 = −4,000.000001: the deficit, walked down:

    | layer | who | amount | deficit left |
    |---|---|---|---|
    | member_capital | fcm-a (all of it; it defaults) | 500 | 3,500.000001 |
    | member_default_fund | fcm-a | 300 | 3,200.000001 |
    | clearing_house_capital | — | 1,000 | 2,200.000001 |
    | mutualised_default_fund | fcm-b, fcm-c (all of 400, 200) | 600 | 1,600.000001 |
    | assessments | fcm-b, fcm-c (cap 1 × 400, 1 × 200) | 600 | 1,000.000001 |
    | vm_haircut | s1, s2 (gains 3,600 and 2,400, pro rata) | 1,000.000001 | 0 |

    The haircut: 1,000,000,001 micros × 3,600 / 6,000 = 600,000,000.6 and × 2,400 / 6,000 =
    400,000,000.4: floors 600,000,000 and 400,000,000, the leftover micro to the larger
    remainder (s1). Then the whale's 100 lots are torn up against s1 and s2, 60 and 40, at
    the mark 59,000. ``trader`` is the whale's 1,999.999999: all layers add up to its loss
    at the mark, 100 × 0.01 × 6,000 = 6,000.
    """
    r = _waterfall()
    assert r.cash("whale") == usd("1999.999999")
    events = r.index("59000")
    assert [ev["member"] for ev in of_type(events, "member_default")] == ["fcm-a"]
    expected = [
        ("member_capital", usd("500"), "fcm-a"),
        ("member_default_fund", usd("300"), "fcm-a"),
        ("clearing_house_capital", usd("1000"), None),
        ("mutualised_default_fund", usd("400"), "fcm-b"),
        ("mutualised_default_fund", usd("200"), "fcm-c"),
        ("assessments", usd("400"), "fcm-b"),
        ("assessments", usd("200"), "fcm-c"),
        ("vm_haircut", usd("600.000001"), "s1"),
        ("vm_haircut", usd("400"), "s2"),
        ("trader", usd("1999.999999"), "whale"),
    ]
    assert absorbed(events) == expected
    kinds = [ev["type"] for ev in events if ev["type"] in ("loss_absorbed", "member_default")]
    assert kinds[:2] == ["loss_absorbed", "member_default"]  # the member pays what it can, then defaults
    assert _stages(events, "whale")[-2:] == [("whale", "tear_up", "60", "59000"), ("whale", "tear_up", "40", "59000")]
    state = r.state()
    assert state["defaulted_members"] == ["fcm-a"]
    assert state["members"] == {
        "fcm-a": {"capital": "0", "default_fund": "0"},
        "fcm-b": {"capital": "9999600", "default_fund": "0"},
        "fcm-c": {"capital": "9999800", "default_fund": "0"},
    }
    assert r.system("clearing_house_capital") == 0
    attribution = r.attribution()
    assert sum(attribution.values()) == usd("6000")
    assert state["uncovered_loss"] == "0"
    assert state["loss_by_segment"] == {"institutional": "6000"}
    # the winners keep their collateral and what is left of their gains: 60 × 0.01 × 6,000 − 600.000001
    assert r.cash("s1") == usd("10000") - usd("15.6") + usd("3600") - usd("600.000001")
    assert r.cash("s2") == usd("10000") - usd("10.4") + usd("2400") - usd("400")
    assert r.qty("whale") == r.qty("s1") == r.qty("s2") == 0
    assert r.cash("whale") == 0


def test_assessments_are_capped_over_the_life_of_the_venue() -> None:
    """Two whales of fcm-a default in one crash; members are assessed at most 1 × their contribution in all.

    w1 (1,999.999999 of cash) uses every layer as above; w2 (same position, 2,500 of cash,
    equity −3,500 at 59,000) finds the member layers empty, the assessments used up, and
    goes straight to the haircut of what is left of the shorts' gains.
    """
    r = Run(WATERFALL)
    r.member("fcm-a", "500", "300")
    r.member("fcm-b", "10000000", "400")
    r.member("fcm-c", "10000000", "200")
    r.account("w1", "2006.499999", member="fcm-a")
    r.account("w2", "2506.5", member="fcm-a")
    r.account("s1", "100000", member="fcm-b")
    r.account("s2", "100000", member="fcm-c")
    r.index("65000")
    r.order("w1", "buy", 100, "65000", post_only=True)
    r.order("w2", "buy", 100, "65000", post_only=True)
    r.order("s1", "sell", 120, "65000", tif="ioc")
    r.order("s2", "sell", 80, "65000", tif="ioc")
    events = r.index("59000")
    per_member: dict[str, int] = {}
    for _layer, amount, member in absorbed(events, "assessments"):
        assert member is not None
        per_member[member] = per_member.get(member, 0) + amount
    assert per_member == {"fcm-b": usd("400"), "fcm-c": usd("200")}
    w2 = [(layer, amount) for layer, amount, _who in _absorbed_for(events, "w2")]
    assert [layer for layer, _ in w2] == ["vm_haircut", "vm_haircut", "trader"]
    assert sum(amount for layer, amount in w2 if layer == "vm_haircut") == usd("3500")
    assert r.state()["uncovered_loss"] == "0"


def _absorbed_for(events: list[dict[str, Any]], account: str) -> list[tuple[str, int, str | None]]:
    """The ``loss_absorbed`` events of one account's liquidation: those up to and including its trader line."""
    pending: list[tuple[str, int, str | None]] = []
    for ev in of_type(events, "loss_absorbed"):
        pending.append((ev["layer"], usd(ev["amount"]), ev.get("account") or ev.get("member")))
        if ev["layer"] == "trader":
            if ev["account"] == account:
                return pending
            pending = []
    return []


# ============================================================================ both loss models, one crash
def test_the_same_crash_under_both_loss_models_attributes_differently_but_totals_the_same() -> None:
    """The whale's crash of the waterfall test, under US clearing and offshore (insurance fund 1,500).

    US clearing: trader 1,999.999999; member 500, its default fund 300, the clearing house
    1,000, the other members 600 + 600, the haircut 1,000.000001 (above).

    Offshore: the fund pays its 1,500; the whale's remaining equity is −2,500.000001: 2,500,000
    whole tick-lots over 100 lots, 25,000 ticks each, so s1 and s2 are closed at 61,500.0 and
    lose (61,500 − 59,000) × 0.01 = 25 a lot against the mark, 2,500 in all; the last
    micro-dollar, below one tick-lot, comes from the ``rounding`` account (an ``adl`` line with
    no account). The winners never pay more than the deficit, and the whale ends at exactly
    zero: its ``trader`` line is its whole 1,999.999999. Both total 6,000.
    """
    us = _waterfall()
    us_events = us.index("59000")
    offshore = _waterfall(WATERFALL + 'loss_model = "offshore"\ninsurance_fund = "1500"\n')
    off_events = offshore.index("59000")

    us_layers = us.attribution()
    off_layers = offshore.attribution()
    assert us_layers["trader"] == usd("1999.999999")
    assert off_layers["trader"] == usd("1999.999999")
    assert {k for k, v in us_layers.items() if v} == {
        "trader",
        "member_capital",
        "member_default_fund",
        "clearing_house_capital",
        "mutualised_default_fund",
        "assessments",
        "vm_haircut",
    }
    assert {k for k, v in off_layers.items() if v} == {"trader", "insurance_fund", "adl"}
    assert off_layers["insurance_fund"] == usd("1500")
    assert off_layers["adl"] == usd("2500.000001")
    adl_lines = absorbed(off_events, "adl")
    assert sorted(adl_lines, key=str) == sorted(
        [("adl", usd("1500"), "s1"), ("adl", usd("1000"), "s2"), ("adl", 1, None)], key=str
    )
    assert {ev["price"] for ev in of_type(off_events, "auto_deleverage")} == {"61500"}
    assert sum(us_layers.values()) == sum(off_layers.values()) == usd("6000")
    adl = {ev["account"]: ev["qty"] for ev in of_type(off_events, "auto_deleverage")}
    assert adl == {"s1": "60", "s2": "40"}
    assert offshore.equity("whale") == 0
    assert not of_type(off_events, "member_default") and of_type(us_events, "member_default")


# ============================================================================ isolated margin
def test_an_isolated_position_is_liquidated_on_its_own_margin() -> None:
    """dave holds BTC-PERP isolated (130 USD of margin, 50×) and 1,000 USD of cash; alice is cross.

    At 64,000 the isolated equity is 130 − 100 = 30 < 64 (maintenance): it is liquidated,
    in full (30 − 3.2·c ≥ 6.4·(10 − c) needs c ≥ 10.6), through bids at 63,990 (its
    bankruptcy price is 64,000 − 30 / 0.1 = 63,700). The account's cash is not drawn on: it
    only gets back what the isolated margin had left (1,000 + 29). His cross cash would have
    kept a cross position alive; alice, cross with the same position and 1,130 USD, is safe.
    """
    r = _cast()
    r.account("dave", "1132.6")
    r.isolated("dave")
    r.account("alice", "1132.6")
    r.order("mm", "sell", 20, "65000", post_only=True)
    r.order("dave", "buy", 10, "65000", tif="ioc")
    r.order("alice", "buy", 10, "65000", tif="ioc")
    r.order("mm", "buy", 100, "63990", post_only=True)
    assert r.cash("dave") == usd("1000")
    assert r.venue.ledger.balance("isolated", "dave/BTC-PERP") == usd("130")
    events = r.index("64000")
    assert _stages(events) == [("dave", "full", "10", "63700")]
    assert r.qty("dave") == 0 and r.qty("alice") == 10
    assert r.cash("dave") >= usd("1000")  # never drawn on
    assert r.venue.ledger.balance("isolated", "dave/BTC-PERP") == 0


# ============================================================================ stale index
def test_no_liquidation_while_the_index_is_stale() -> None:
    """Three of four sources go stale: the index is stale, the mark frozen, nobody is liquidated.

    alice (10 lots, 150 USD) would be under water at 63,700. While only coinbase is fresh
    (``min_sources = 2``), even an update at 60,000 moves nothing, and trades at 60,000 do
    not move the frozen mark. When the index recovers at 63,700 she is liquidated.
    """
    r = _cast()
    _alice_long_10_at_65k(r, "150")
    events = r.index("60000", stale=("kraken", "bitstamp", "gemini"))
    assert [ev["type"] for ev in events] == ["index_stale"]
    r.account("bob", "100000")
    r.account("carol", "100000")
    r.order("bob", "buy", 5, "61800", post_only=True)
    trade = r.order("carol", "sell", 5, "61800", tif="ioc")
    assert of_type(trade, "trade") and not of_type(trade, "mark_price", "liquidation")
    assert r.mark() == ticks("65000")
    assert not of_type(r.events, "liquidation")
    events = r.index("63700")
    assert of_type(events, "liquidation")


def test_no_liquidation_in_a_halted_market() -> None:
    """BTC-PERP is halted; alice (10 lots, 150 USD) is under water at 63,700, 50 lots bid at 63,600.

    Nothing moves while the market is halted; when it reopens she is liquidated through
    the book at once, without waiting for the mark to move.
    """
    r = _cast()
    _alice_long_10_at_65k(r, "150")
    r.order("mm", "buy", 50, "63600", post_only=True)
    r.apply(c.SetMarketState(ts=r.ts, market="BTC-PERP", state="halted"))
    events = r.index("63700")
    assert not of_type(events, "trade", "liquidation") and r.qty("alice") == 10
    events = r.apply(c.SetMarketState(ts=r.ts, market="BTC-PERP", state="open"))
    assert _stages(events) == [("alice", "full", "10", "63500")]  # 65,000 − 150 / 0.1, whatever the mark
    assert _trades(events) == [("alice", "mm", "10", "63600")]


# ============================================================================ the liquidation fee
def test_the_liquidation_fee_is_never_more_than_the_equity_left() -> None:
    """alice (10 lots, 150 USD) at 63,600 has equity 10; a bid 1 tick above her bankruptcy price.

    Bankruptcy 63,600 − 10 / 0.1 = 63,500; the book bids 10 @ 63,500.1. Selling all 10 there
    leaves 10 + 10 × 0.01 × (63,500.1 − 63,600) = 0.01 USD. The fee would be 0.5 % of
    6,350.01 = 31.75005 USD: it is capped at the 0.01 left, which goes to the insurance fund.
    """
    r = _cast()
    _alice_long_10_at_65k(r, "150")
    r.order("mm", "buy", 10, "63500.1", post_only=True)
    events = r.index("63600")
    assert _stages(events) == [("alice", "full", "10", "63500")]
    assert _trades(events) == [("alice", "mm", "10", "63500.1")]
    assert r.system("insurance_fund") == usd("0.01")
    assert r.equity("alice") == 0 and r.qty("alice") == 0
    assert absorbed(events) == [("trader", usd("10"), "alice")]


def test_positions_are_reduced_largest_maintenance_first() -> None:
    """erin is cross in both markets: BTC 10 lots at 65,000 and ETH 5 lots at 3,000; cash 250 after fees.

    At a BTC mark of 63,000 her equity is 250 − 200 = 50 < maintenance 63 (BTC) + 15 (ETH).

    1. BTC first (63 > 15): bankruptcy 63,000 − 50 / 0.1 = 62,500; lots to restore at the
       mark: 50 − 3.15·c ≥ 6.30·(10 − c) + 15 ⇔ c ≥ 8.9…, so 9, sold at 62,900: slippage
       9 × 1 = 9, fee 0.5 % × 9 × 629 = 28.305 → equity 12.695 < 6.30 + 15.
    2. Now ETH has the larger maintenance: bankruptcy 3,000 − ⌊12.695 / 0.5⌋ ticks = 2,974.61;
       12.695 − 1.5·c ≥ 3·(5 − c) + 6.30 needs c ≥ 5.7…: all 5, sold at 2,999: slippage 0.50,
       fee 7.4975 → equity 4.6975 < 6.30.
    3. The last BTC lot: bankruptcy 63,000 − 4.6975 / 0.01 → 62,530.3 (rounded toward the
       mark); sold at 62,900: slippage 1, fee 3.145 → equity 0.5525, flat.
    """
    r = _cast()
    r.index("3000", market=ETH)
    r.account("erin", "253.2")
    r.order("mm", "sell", 10, "65000", post_only=True)
    r.order("mm", "sell", 5, "3000", post_only=True, market=ETH)
    r.order("erin", "buy", 10, "65000", tif="ioc")
    r.order("erin", "buy", 5, "3000", tif="ioc", market=ETH)
    assert r.cash("erin") == usd("250")
    r.order("mm", "buy", 50, "62900", post_only=True)
    r.order("mm", "buy", 50, "2999", post_only=True, market=ETH)
    events = r.index("63000")
    assert _stages(events) == [
        ("erin", "partial", "9", "62500"),
        ("erin", "full", "5", "2974.61"),
        ("erin", "full", "1", "62530.3"),
    ]
    assert r.qty("erin") == 0 and r.qty("erin", ETH) == 0
    assert r.equity("erin") == usd("0.5525")
    assert r.system("insurance_fund") == usd("28.305") + usd("7.4975") + usd("3.145")
    assert absorbed(events) == [("trader", usd("49.4475"), "erin")]


def test_the_accounts_open_orders_are_cancelled_first() -> None:
    """alice's resting sells (one reduce-only) are cancelled, reason ``liquidation``, before her order goes in."""
    r = _cast()
    _alice_long_10_at_65k(r, "150")
    r.order("alice", "sell", 5, "66000", reduce_only=True)
    r.order("alice", "sell", 1, "66500")
    r.order("mm", "buy", 10, "63600", post_only=True)
    events = r.index("63700")
    kinds = [(ev["type"], ev.get("reason") or ev.get("client_order_id")) for ev in events if ev["type"] != "mark_price"]
    assert kinds[:4] == [
        ("index_price", None),
        ("order_cancelled", "liquidation"),
        ("order_cancelled", "liquidation"),
        ("order_accepted", "liquidation-1"),
    ]
    assert _stages(events) == [("alice", "full", "10", "63500")]
    assert r.state()["accounts"]["alice"]["open_orders"] == []


# ============================================================================ takeover
def _short_taken_over(config: str | None) -> Run:
    """alice, 10 lots short at 65,000 with 200 USD, bob long; 66,350 on an empty book: her position is taken over.

    Equity 200 − 135 = 65 < maintenance 66.35; bankruptcy 66,350 + 65 / 0.1 = 67,000.
    """
    r = Run(config)
    r.member("fcm-1", "10000000", "1000000")
    r.account("alice", "200.65")
    r.account("bob", "100000")
    r.index("65000")
    r.order("alice", "sell", 10, "65000", post_only=True)
    r.order("bob", "buy", 10, "65000", tif="ioc")
    events = r.index("66350")
    assert [ev["stage"] for ev in of_type(events, "liquidation")] == ["takeover"]
    return r


def test_the_insurance_fund_pays_the_losses_of_a_position_it_took_over() -> None:
    """Offshore, fund 10,000: the fund's house takes alice's short at 67,000 (her 65 USD with it).

    At 67,500 the house is 10 × 0.01 × 500 = 50 under: with no maintenance of its own it is
    liquidated only now; the book is empty, so the fund pays the 50 (``insurance_fund``, no
    ``trader`` line: that equity was alice's, counted when she lost it) and the house carries
    the position on at zero equity. bob is never touched.
    """
    r = _short_taken_over('[clearing]\nloss_model = "offshore"\ninsurance_fund = "10000"\n')
    assert r.qty("@insurance_fund") == -10 and r.equity("@insurance_fund") == usd("65")
    events = r.index("67500")
    assert absorbed(events) == [("insurance_fund", usd("50"), None)]
    assert r.qty("@insurance_fund") == -10 and r.equity("@insurance_fund") == 0
    assert r.system("insurance_fund") == usd("9950")
    assert r.qty("bob") == 10 and not of_type(events, "auto_deleverage", "trade")


def test_a_member_pays_the_losses_of_its_house_account() -> None:
    """US clearing: fcm-1 takes alice's short into ``@fcm-1`` at 66,350; at 67,000 its house is 65 under.

    The member pays from its capital (``member_capital``); its house keeps the position; alice
    kept her 65 USD, and bob his long.
    """
    r = _short_taken_over(None)
    assert r.qty("@fcm-1") == -10 and r.equity("alice") == usd("65")
    events = r.index("67000")
    assert absorbed(events) == [("member_capital", usd("65"), "fcm-1")]
    assert r.qty("@fcm-1") == -10 and r.equity("@fcm-1") == 0
    assert r.capital("fcm-1") == usd("10000000") - usd("65")
    assert r.qty("bob") == 10
    assert "@fcm-1" not in r.venue.members["fcm-1"].accounts  # not one of its customers


def test_a_customer_cannot_open_a_house_account() -> None:
    r = Run(None)
    r.member("fcm-1", "10000000", "1000000")
    r.apply(c.OpenAccount(ts=r.ts, account="@fcm-1", member="fcm-1", segment="retail"), reject="malformed_command")


def test_a_member_house_works_off_what_it_took_over() -> None:
    """alice's 10-lot short, taken over by fcm-1's house at the mark 66,350 (the book was empty).

    mm then offers 10 lots at 66,310 and the index falls to 66,300: the house is 10 × 50 × K =
    5 USD up, and at the start of the liquidation pass it buys its short back through the book
    at 66,310 (within market protection and above nothing it cannot pay): stage
    ``house_offload``, no fee, the house flat with 4 USD (docs/liquidation.md).
    """
    from .test_known_bugs import _short_at_66350

    r, events = _short_at_66350(None)
    assert r.qty("@fcm-1") == -10
    r.account("mm", "1000000", segment="market_maker")
    r.order("mm", "sell", 10, "66310", post_only=True)
    events = r.index("66300")
    offloads = [ev for ev in of_type(events, "liquidation") if ev["stage"] == "house_offload"]
    assert [(ev["account"], ev["qty"], ev["fee"]) for ev in offloads] == [("@fcm-1", "10", "0")]
    assert [(t["price"], t["qty"]) for t in of_type(events, "trade")] == [("66310", "10")]
    assert r.qty("@fcm-1") == 0 and r.equity("@fcm-1") == usd("4")
    assert r.qty("mm") == -10


def test_a_house_account_gets_no_margin_call() -> None:
    """fcm-1's house carries alice's taken-over short at 0 equity (it has no cash of its own):
    a margin call is a message to a customer and its broker, and the house is neither; alice,
    flat with her 65 USD, gets none either."""
    from .test_known_bugs import _short_at_66350

    r, _events = _short_at_66350(None)
    assert r.qty("@fcm-1") == -10 and r.equity("@fcm-1") == 0
    calls = of_type(r.tick(r.ts + 20_000), "margin_call")
    assert [ev["account"] for ev in calls if ev["account"] in ("@fcm-1", "alice")] == []
