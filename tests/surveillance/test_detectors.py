"""Each detector fires on the day its pattern is planted in, and nothing fires on a normal day.

The planted day runs every planted agent at its own hours over a normal population of
market makers and ordinary traders; each test checks its detector names the planted owner,
in the right market, with evidence that points at that owner's own events.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from onshore.core import events as e
from onshore.surveillance.alerts import (
    ACCOUNTABILITY_LEVEL,
    CANCEL_RATIO,
    CONCENTRATION,
    FUNDING_MANIPULATION,
    HIGH,
    INDEX_MANIPULATION,
    SPOOFING,
    WASH_TRADING,
    Alert,
)

from .conftest import NORMAL_SEED, Run


def _alerts(run: Run, kind: str) -> list[Alert]:
    return [a for a in run.result.alerts if a.kind == kind]


def _events_in(run: Run, alert: Alert) -> list[e.Event]:
    by_seq = {ev.seq: ev for ev in run.sim.events}
    return [by_seq[s] for first, last in alert.evidence for s in range(first, last + 1) if s in by_seq]


def _accounts_of(ev: e.Event) -> set[str]:
    out = set()
    for name in ("account", "maker_account", "taker_account"):
        value = getattr(ev, name, None)
        if value is not None:
            out.add(value)
    return out


def _each_range_starts_and_ends_with(run: Run, alert: Alert, account: str) -> None:
    """Each evidence range opens and closes on an event of ``account`` (what lies between is context)."""
    by_seq = {ev.seq: ev for ev in run.sim.events}
    for first, last in alert.evidence:
        assert account in _accounts_of(by_seq[first]), by_seq[first]
        assert account in _accounts_of(by_seq[last]), by_seq[last]


# ------------------------------------------------------------------------------ normal day
def test_a_normal_day_raises_no_alert(normal_run: Run, record_property: Any) -> None:
    alerts = normal_run.result.alerts
    trades = sum(1 for ev in normal_run.sim.events if type(ev) is e.Trade)
    orders = sum(1 for ev in normal_run.sim.events if type(ev) is e.OrderAccepted)
    kinds = f": {dict(Counter(a.kind for a in alerts))}" if alerts else ""
    record_property(
        "surveillance_false_positives",
        f"{len(alerts)} false positive(s) on the normal day (seed {NORMAL_SEED}: {len(normal_run.sim.events)} events, "
        f"{orders} orders, {trades} trades, 29 accounts){kinds}",
    )
    assert alerts == [], [a.detail for a in alerts]


def test_the_normal_day_is_busy_enough_to_mean_something(normal_run: Run) -> None:
    counts = Counter(type(ev).__name__ for ev in normal_run.sim.events)
    assert counts["Trade"] > 20_000
    assert counts["OrderCancelled"] > 100_000
    assert counts["FundingRate"] == 46  # 23 hourly fundings in each of two markets after the first hour
    reportable = {(r["owner"], r["market"]) for r in normal_run.result.large_traders}
    assert len(reportable) >= 5  # owners above 25 contracts exist: the level is not what keeps it quiet


# ------------------------------------------------------------------------------ planted day
def test_planted_day_flags_only_the_planted_owners(planted_run: Run) -> None:
    owners = {a.owner for a in planted_run.result.alerts}
    assert owners <= {"washer", "spoofer", "fund-manip", "whale", "whale-lp-bank", "flasher", None}
    assert {a.kind for a in planted_run.result.alerts} == {
        WASH_TRADING,
        SPOOFING,
        FUNDING_MANIPULATION,
        INDEX_MANIPULATION,
        CONCENTRATION,
        CANCEL_RATIO,
        ACCOUNTABILITY_LEVEL,
    }


def test_wash_trading_same_owner_on_both_sides(planted_run: Run) -> None:
    (alert,) = _alerts(planted_run, WASH_TRADING)
    assert (alert.owner, alert.market) == ("washer", "BTC-PERP")
    trades = _events_in(planted_run, alert)
    assert trades and all(type(ev) is e.Trade for ev in trades)
    assert all({ev.maker_account, ev.taker_account} == {"wash-a", "wash-b"} for ev in trades)  # type: ignore[attr-defined]
    assert int(alert.figures["trades"]) == len(trades)


def test_spoofing_layered_bids_cancelled_after_a_sell(planted_run: Run) -> None:
    (alert,) = _alerts(planted_run, SPOOFING)
    assert (alert.owner, alert.market, alert.severity) == ("spoofer", "BTC-PERP", HIGH)
    assert int(alert.figures["episodes"]) >= 10
    assert int(alert.figures["layered_episodes"]) >= 5
    evidence = _events_in(planted_run, alert)
    placed = [ev for ev in evidence if type(ev) is e.OrderAccepted and ev.account == "spoof-1"]
    cancelled = [ev for ev in evidence if type(ev) is e.OrderCancelled and ev.account == "spoof-1"]
    sold = [ev for ev in evidence if type(ev) is e.Trade and ev.taker_account == "spoof-1"]
    assert placed and cancelled and sold
    assert {(ev.side, ev.qty) for ev in placed} == {("buy", "200"), ("sell", "5")}
    assert {ev.reason for ev in cancelled} == {"user"}
    assert all(ev.aggressor_side == "sell" for ev in sold)
    _each_range_starts_and_ends_with(planted_run, alert, "spoof-1")


def test_funding_manipulation_by_orders_and_by_round_trips(planted_run: Run) -> None:
    alerts = _alerts(planted_run, FUNDING_MANIPULATION)
    assert {(a.owner, a.market) for a in alerts} == {("fund-manip", "BTC-PERP")}
    by_orders = [a for a in alerts if int(a.figures["orders"]) >= 3]
    by_trades = [a for a in alerts if int(a.figures["trades"]) >= 3]
    assert by_orders and by_trades
    for alert in alerts:
        assert alert.severity == HIGH  # the owner is short and pushed the premium up: it is paid by it
        assert int(alert.figures["net_position"]) < 0
        _each_range_starts_and_ends_with(planted_run, alert, "fm-1")


def test_index_manipulation_one_source_far_from_the_others(planted_run: Run) -> None:
    (alert,) = _alerts(planted_run, INDEX_MANIPULATION)
    assert (alert.market, alert.figures["source"], alert.severity) == ("BTC-USD", "gemini", HIGH)
    assert int(alert.figures["quotes"]) == 60  # ten minutes of updates every ten seconds
    assert all(type(ev) is e.IndexPrice and ev.index == "BTC-USD" for ev in _events_in(planted_run, alert))


def test_concentration_and_accountability_aggregate_the_owner_s_accounts(planted_run: Run) -> None:
    conc = {a.owner: a for a in _alerts(planted_run, CONCENTRATION)}
    assert set(conc) == {"whale", "whale-lp-bank"}
    assert conc["whale"].figures["side"] == "long"
    assert conc["whale-lp-bank"].figures["side"] == "short"
    acc = {a.owner: a for a in _alerts(planted_run, ACCOUNTABILITY_LEVEL)}
    assert "whale" in acc
    whale = acc["whale"]
    assert whale.figures["level"] == "5000" and int(whale.figures["qty"]) > 5000
    # neither of the whale's accounts is above the level alone: the alert is the aggregate's
    positions = planted_run.sim.positions
    assert all(positions[(f"whale-{i}", "BTC-PERP")] <= 2500 for i in range(3))
    ((seq, _),) = whale.evidence
    (crossing,) = [ev for ev in planted_run.sim.events if ev.seq == seq]
    assert type(crossing) is e.Trade and crossing.taker_account.startswith("whale-")


def test_abnormal_cancel_ratio(planted_run: Run) -> None:
    (alert,) = _alerts(planted_run, CANCEL_RATIO)
    assert (alert.owner, alert.market, alert.severity) == ("flasher", "ETH-PERP", HIGH)
    assert alert.figures["placed"] == "800" and alert.figures["cancelled"] == "800"
    assert alert.figures["order_to_trade"] == "inf"


@pytest.mark.parametrize("kind", [WASH_TRADING, SPOOFING, FUNDING_MANIPULATION, CANCEL_RATIO, INDEX_MANIPULATION])
def test_evidence_ranges_are_sorted_and_inside_the_stream(planted_run: Run, kind: str) -> None:
    last = planted_run.sim.events[-1].seq
    for alert in _alerts(planted_run, kind):
        assert alert.evidence
        assert list(alert.evidence) == sorted(alert.evidence)
        assert all(1 <= a <= b <= last for a, b in alert.evidence)
