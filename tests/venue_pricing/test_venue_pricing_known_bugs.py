"""Pricing bugs reported by the tests and fixed: each one's minimal reproduction, kept as a regression test."""

from __future__ import annotations

from onshore.core import commands as c
from onshore.pricing.funding import premium_ppb

from .session import BTC, HOUR, SECOND, T0, of_type, standard_session, usd


def test_the_premium_is_measured_against_the_exact_index() -> None:
    # docs/pricing.md, "Two grids": the premium converts the impact prices to the index grid exactly,
    # no rounding at all. An index of 65,000.04 (index grid 0.01) rounds to 65,000.0 on the market grid.
    s = standard_session(index="65000.04", bid="65100", ask="65120")
    s.at(T0 + 5 * SECOND)
    s.order("alice", "buy", 1)
    (rate,) = of_type(s.tick(T0 + HOUR), "funding_rate")
    exact = premium_ppb(6_500_004, 6_510_000, 6_512_000)  # all three on the index grid
    assert exact == 1_537_845
    assert rate["premium"] == "0.001537845"  # the Venue publishes 0.001538461: (651,000 − 650,000) / 650,000


def test_an_index_with_no_fresh_quote_for_an_hour_is_stale_and_that_hour_pays_no_funding() -> None:
    # issue 4: a quote older than max_age_ms (30 s) is stale and left out; fewer valid sources than
    # min_sources make the index stale, which freezes the mark and pauses samples and funding.
    # Here the last quotes arrive at 00:00; by 01:00:30 every one of them is an hour old. (The
    # venue-pricing sessions hold an index for a week unless told otherwise: this one keeps the
    # default 30 s hold of a live feed.)
    s = standard_session(config_toml="[indices.BTC-USD]\nhold_ms = 30000\n")
    s.at(T0 + 5 * SECOND)
    s.order("alice", "buy", 1)
    s.tick(T0 + HOUR + 30 * SECOND)
    events = s.tick(T0 + 2 * HOUR)
    assert not of_type(events, "funding_rate")  # the Venue pays the 02:00 funding on 65,000 quoted at 00:00


def test_funding_of_an_isolated_position_comes_out_of_its_isolated_margin() -> None:
    # erin holds only an isolated long and no free cash; her funding payment should come out of the
    # position's isolated margin (which settlement pays into, and liquidation looks at). Today it is
    # taken from her cash, which goes to −0.33807: a debt no margin check or liquidation sees.
    s = standard_session(bid="65100", ask="65120")
    s.apply(c.OpenAccount(ts=s.ts, account="erin", member="fcm-1", segment="institutional"))
    s.apply(c.SetMarginMode(ts=s.ts, account="erin", market=BTC, mode="isolated"))
    s.apply(c.Deposit(ts=s.ts, account="erin", amount="57.937928"))  # initial margin + open loss + fee + 2 µ$ a lot
    s.at(T0 + 5 * SECOND)
    s.order("erin", "buy", 4, "65120")
    s.apply(c.Withdraw(ts=s.ts, account="erin", amount="4.8"))  # everything free but the 8 µ$ of rounding slack
    margin_before = usd(s.state()["accounts"]["erin"]["positions"][BTC]["isolated_margin"])
    events = s.tick(T0 + HOUR)
    (paid,) = [p for p in of_type(events, "funding_payment") if p["account"] == "erin"]
    erin = s.state()["accounts"]["erin"]
    assert usd(erin["cash"]) == 8
    assert usd(erin["positions"][BTC]["isolated_margin"]) == margin_before + usd(paid["amount"])
