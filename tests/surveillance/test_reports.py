"""Report contents against figures worked out by hand (scenario.py), and the daily figures event by event."""

from __future__ import annotations

from math import log, sqrt
from typing import Any

import pytest

from onshore.adapters.reports import surveil_lines
from onshore.config.load import load_config
from onshore.core import events as e
from onshore.surveillance.config import MarketFacts, SurveillanceConfig, VenueFacts
from onshore.surveillance.engine import Surveillance, SurveillanceResult

from . import scenario

DAY1 = "2026-01-01"
DAY2 = "2026-01-02"


@pytest.fixture(scope="module")
def session() -> SurveillanceResult:
    return surveil_lines(scenario.lines(), load_config(None), SurveillanceConfig())


def _rows(rows: list[dict[str, Any]], **match: str) -> list[dict[str, Any]]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


# ------------------------------------------------------------------------------ large traders
def test_large_traders_day_one_by_owner_and_reporting_member(session: SurveillanceResult) -> None:
    rows = _rows(session.large_traders, date=DAY1)
    assert [(r["owner"], r["reporting_member"]) for r in rows] == [
        ("alpha", "fcm-a"),  # alpha's two accounts aggregate to 40 long; each member reports its own
        ("alpha", "fcm-b"),
        ("b1", "fcm-b"),  # exactly 25 short: at the level is reportable
        ("maker", "fcm-a"),
    ]
    alpha_a, alpha_b, b1, maker = rows
    assert (alpha_a["accounts"], alpha_a["long_oi"], alpha_a["short_oi"], alpha_a["volume"]) == ("a1", "30", "0", "30")
    assert (alpha_b["accounts"], alpha_b["long_oi"], alpha_b["volume"]) == ("a2", "10", "10")
    assert (alpha_a["owner_long_oi"], alpha_a["owner_short_oi"], alpha_a["owner_volume"]) == ("40", "0", "40")
    assert (b1["short_oi"], b1["long_oi"], b1["volume"]) == ("25", "0", "25")
    assert (maker["short_oi"], maker["volume"]) == ("30", "80")  # 40 + 20 + 5 + 15 contracts traded
    assert {r["reportable_level"] for r in rows} == {"25"}
    assert not _rows(session.large_traders, owner="c5")  # 5 contracts: below the level


def test_large_traders_day_two_carry_positions_and_count_only_the_day_s_volume(session: SurveillanceResult) -> None:
    rows = _rows(session.large_traders, date=DAY2)
    assert [(r["owner"], r["reporting_member"], r["long_oi"], r["short_oi"], r["volume"]) for r in rows] == [
        ("alpha", "fcm-a", "30", "0", "0"),
        ("alpha", "fcm-b", "10", "0", "0"),
        ("maker", "fcm-a", "0", "40", "10"),  # b1 fell to 15 short: no longer reportable
    ]


def test_reportable_level_is_configurable_per_market() -> None:
    config = SurveillanceConfig(reportable_levels={"BTC-PERP": 35})
    result = surveil_lines(scenario.lines(), load_config(None), config)
    assert {r["owner"] for r in _rows(result.large_traders, date=DAY1)} == {"alpha"}


# ------------------------------------------------------------------------------ market report
def test_market_report_day_one(session: SurveillanceResult) -> None:
    (row,) = _rows(session.market, date=DAY1, market="BTC-PERP")
    assert row["trades"] == 9
    assert row["volume"] == "80"
    assert row["notional_volume"] == "52005"
    assert row["open_interest"] == "55"
    assert (row["open"], row["high"], row["low"], row["close"]) == ("65010", "65020", "64990", "65020")
    assert row["top4_long_share"] == "0.945455"  # (40 + 5 + 4 + 3) / 55, six places
    assert row["top8_long_share"] == "1"
    assert row["top4_short_share"] == "1"  # maker 30 and b1 25
    assert (row["default_fund"], row["insurance_fund"], row["balances_source"]) == ("150000", "0", "state")
    assert (row["funding_count"], row["liquidations"], row["adl_events"]) == (0, 0, 0)
    assert row["settlement_source"] == "mark"  # no variation settlement yet: the day's last mark


def test_market_report_day_two_and_the_quiet_market(session: SurveillanceResult) -> None:
    (row,) = _rows(session.market, date=DAY2, market="BTC-PERP")
    assert (row["trades"], row["volume"], row["notional_volume"], row["open_interest"]) == (1, "10", "6510", "55")
    (eth,) = _rows(session.market, date=DAY1, market="ETH-PERP")
    assert (eth["trades"], eth["volume"], eth["open_interest"], eth["open"], eth["top4_long_share"]) == (
        0,
        "0",
        "0",
        None,
        None,
    )


def test_positions_report_aggregates_owners(session: SurveillanceResult) -> None:
    rows = {r["owner"]: r for r in _rows(session.positions, date=DAY1, market="BTC-PERP")}
    assert set(rows) == {"alpha", "b1", "maker", "c1", "c2", "c3", "c4", "c5"}
    assert (rows["alpha"]["accounts"], rows["alpha"]["members"], rows["alpha"]["net"]) == ("a1;a2", "fcm-a;fcm-b", "40")
    assert (rows["maker"]["net"], rows["maker"]["short_oi"], rows["c3"]["long_oi"]) == ("-30", "30", "3")


def test_beneficial_owners(session: SurveillanceResult) -> None:
    owners = {r["owner"]: r for r in session.owners}
    assert owners["alpha"] == {
        "owner": "alpha",
        "accounts": "a1;a2",
        "members": "fcm-a;fcm-b",
        "segments": "institutional",
    }
    assert owners["b1"]["accounts"] == "b1"  # no owner given: the account is its own owner
    assert len(owners) == 8


def test_same_commands_same_report(session: SurveillanceResult) -> None:
    again = surveil_lines(scenario.lines(), load_config(None), SurveillanceConfig())
    assert (again.large_traders, again.market, again.positions) == (
        session.large_traders,
        session.market,
        session.positions,
    )


# ------------------------------------------------------------------------------ figures event by event
T0 = scenario.T0
FACTS = VenueFacts(markets={"X-PERP": MarketFacts("X-PERP", "X-USD", "0.5")}, insurance_fund_micros=500_000_000)


def _run(events: list[e.Event]) -> SurveillanceResult:
    engine = Surveillance(SurveillanceConfig(), FACTS)
    engine.run(events)
    return engine.finish()


def _seq() -> Any:
    n = 0

    def next_seq() -> int:
        nonlocal n
        n += 1
        return n

    return next_seq


def test_daily_figures_from_funding_settlement_liquidation_and_losses() -> None:
    s = _seq()
    m = "X-PERP"
    events: list[e.Event] = [
        e.MemberRegistered(seq=s(), ts=T0, cmd=1, member="m1", capital="1", default_fund="1000"),
        e.MarkPrice(seq=s(), ts=T0 + 1, cmd=2, market=m, price="100"),
        e.MarkPrice(seq=s(), ts=T0 + 300_000, cmd=3, market=m, price="110"),
        e.MarkPrice(seq=s(), ts=T0 + 600_000, cmd=4, market=m, price="99"),
        e.FundingRate(
            seq=s(),
            ts=T0 + 10,
            cmd=5,
            market=m,
            rate="0.0001",
            rate_8h="0.0008",
            premium="0",
            interest="0",
            funding_time=T0,
            mark_price="100",
        ),
        e.FundingRate(
            seq=s(),
            ts=T0 + 11,
            cmd=6,
            market=m,
            rate="-0.00005",
            rate_8h="-0.0004",
            premium="0",
            interest="0",
            funding_time=T0,
            mark_price="100",
        ),
        e.FundingPayment(seq=s(), ts=T0 + 11, cmd=6, account="a", market=m, amount="-1.5"),
        e.FundingPayment(seq=s(), ts=T0 + 11, cmd=6, account="b", market=m, amount="1.5"),
        e.FundingPayment(seq=s(), ts=T0 + 11, cmd=6, account="c", market=m, amount="-2.25"),
        e.Settlement(seq=s(), ts=T0 + 12, cmd=7, market=m, price="101", account="a", amount="1"),
        e.Settlement(seq=s(), ts=T0 + 13, cmd=8, market=m, price="102", account="a", amount="1"),
        e.Liquidation(seq=s(), ts=T0 + 14, cmd=9, account="a", market=m, qty="2", price="100", stage="partial"),
        e.Liquidation(seq=s(), ts=T0 + 14, cmd=9, account="a", market=m, qty="3", price="90", stage="adl"),
        e.AutoDeleverage(seq=s(), ts=T0 + 14, cmd=9, account="b", counterparty="a", market=m, qty="1", price="90"),
        e.LossAbsorbed(seq=s(), ts=T0 + 14, cmd=9, layer="insurance_fund", amount="10"),
        e.LossAbsorbed(seq=s(), ts=T0 + 14, cmd=9, layer="member_default_fund", amount="100", member="m1"),
        e.LossAbsorbed(seq=s(), ts=T0 + 14, cmd=9, layer="mutualised_default_fund", amount="50", member="m1"),
        e.MarkPrice(seq=s(), ts=T0 + 86_400_000, cmd=10, market=m, price="99"),  # the next day
    ]
    result = _run(events)
    day1, day2 = result.market
    assert (day1["date"], day2["date"]) == (DAY1, DAY2)
    assert (day1["funding_count"], day1["funding_rate_sum"], day1["funding_paid"]) == (2, "0.00005", "3.75")
    assert (day1["settlement_price"], day1["settlement_source"]) == ("102", "settlement")
    # liquidation notional: (2·100 + 3·90) · 0.5 contract size
    assert (day1["liquidations"], day1["liquidation_qty"], day1["liquidation_notional"]) == (2, "5", "235")
    assert (day1["adl_events"], day1["adl_qty"]) == (1, "1")
    assert (day1["insurance_fund"], day1["default_fund"], day1["balances_source"]) == ("490", "850", "flows")
    rv = sqrt(log(110 / 100) ** 2 + log(99 / 110) ** 2)  # two 5-minute returns of the last mark
    assert day1["vol_returns"] == 2
    assert day1["realized_vol"] == f"{rv:.6f}".rstrip("0")
    assert day1["realized_vol_annualized"] == f"{rv * sqrt(365):.6f}".rstrip("0")
    assert (day2["settlement_price"], day2["settlement_source"], day2["funding_count"]) == ("99", "mark", 0)
    assert day2["vol_returns"] == 1  # 99 at the end of day 1 to 99: one zero return


def test_gap_days_are_reported_and_last_day_stops_reading() -> None:
    s = _seq()
    events: list[e.Event] = [
        e.MarkPrice(seq=s(), ts=T0, cmd=1, market="X-PERP", price="100"),
        e.MarkPrice(seq=s(), ts=T0 + 3 * 86_400_000, cmd=2, market="X-PERP", price="100"),
    ]
    assert _run(events).days == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
    engine = Surveillance(SurveillanceConfig(), FACTS, last_day=T0 // 86_400_000 + 1)
    engine.run(events)
    assert engine.done and engine.events == 1
    assert engine.finish().days == ["2026-01-01", "2026-01-02"]
