"""One rule, two speeds: the vectorized engine and the event-driven Venue agree to the micro-dollar.

State: a seeded population of a few dozen accounts over three clearing members, with
positions opened at $60,000, loaded into a Venue through its snapshot format.
Parameters: a price path with gaps down and up; price impact off — the Venue's book holds
a deep liquidity order exactly at each new price (the engine's liquidity account takes
liquidation flow at the mark), and the mark follows the index exactly (a mark band of
one part per billion). Expectation: the same accounts are liquidated at the same steps,
and the losses by layer, by segment and uncovered are identical, under both loss models.
"""

from __future__ import annotations

import itertools

import msgspec
import numpy as np
import pytest

from onshore.config.load import load_config
from onshore.core import commands as c
from onshore.core import events as e
from onshore.lab.engine import LAYERS, Policy, run_scenario
from onshore.lab.population import LIQUIDITY, SEGMENTS, Population, PopulationSpec, build_population
from onshore.venue import Venue

T0 = 1_767_225_600_000
P0 = 600_000  # $60,000 in 0.1 ticks
PATH = [P0, 570_000, 480_000, 470_000, 520_000, 610_000, 640_000, 500_000, 455_000]


def config_text(loss_model: str) -> str:
    return f"""
[markets.BTC-PERP]
max_order_qty = "100000000"
price_band = "0.9"
[markets.BTC-PERP.mark]
band = "0.000000001"
[markets.BTC-PERP.position_limits]
default = "1000000000"
[segments.market_maker]
max_position_notional = "1000000000000"
[segments.institutional]
max_position_notional = "1000000000000"
[segments.qualified]
max_position_notional = "1000000000000"
[segments.retail]
max_position_notional = "1000000000000"
[clearing]
loss_model = "{loss_model}"
insurance_fund = "3000"
clearing_house_capital = "20000"
"""


def population() -> Population:
    config = load_config(config_text("us_clearing"))
    spec = PopulationSpec(
        accounts=48,
        seed=11,
        open_interest_usd=3_000_000.0,
        members=3,
        market_makers=2,
        member_capital_usd=8_000.0,
        member_default_fund_usd=4_000.0,
    )
    return build_population(spec, config.markets["BTC-PERP"], config, P0)


def venue_from(pop: Population, loss_model: str) -> Venue:
    """A Venue holding the population's positions: commands for the structure, the snapshot format for positions."""
    config = load_config(config_text(loss_model))
    v = Venue(config)
    for m, member in enumerate(pop.member_ids):
        capital = int(pop.member_capital[m])
        fund = int(pop.member_default_fund[m])
        v.apply(c.RegisterMember(ts=T0, member=member, capital=str(capital // 10**6), default_fund=str(fund // 10**6)))
    for i, account in enumerate(pop.account_ids):
        segment = "market_maker" if account == LIQUIDITY else SEGMENTS[int(pop.segment[i])]
        member = pop.member_ids[int(pop.member[i])]
        v.apply(c.OpenAccount(ts=T0, account=account, member=member, segment=segment))
    doc = msgspec.json.decode(v.snapshot())
    cash = doc["ledger"]["balances"]["cash"]
    k = config.markets["BTC-PERP"].micros_per_tick_lot
    for i, account in enumerate(pop.account_ids):
        cash[account] = int(pop.cash[i])
        doc["ledger"]["deposits"] += int(pop.cash[i])
        qty, cost, lev = int(pop.qty[i]), int(pop.cost[i]), int(pop.leverage[i])
        assert cost == qty * P0 * k
        doc["accounts"][account]["holdings"]["BTC-PERP"] = [qty, cost, lev, "cross", 0, 0, 0, 0, 0, 0]
    market = doc["markets"]["BTC-PERP"]
    market.update(mark=P0, index_ticks=P0, reference=P0, last_trade=P0)
    return Venue.restore(config, msgspec.json.encode(doc))


def drive(v: Venue, path: list[int]) -> dict[int, set[str]]:
    """Each step: the liquidity account quotes at the new price on the side liquidations need, then the index moves."""
    liquidated: dict[int, set[str]] = {}
    for step, (prev, price) in enumerate(itertools.pairwise(path), start=1):
        ts = T0 + step * 1000
        v.apply(c.CancelAll(ts=ts, account=LIQUIDITY))
        side = "buy" if price < prev else "sell"
        usd = f"{price // 10}.{price % 10}"
        events = v.apply(
            c.PlaceOrder(
                ts=ts, account=LIQUIDITY, market="BTC-PERP", client_order_id=f"q{step}", side=side, price=usd,
                qty="100000",
            )
        )  # fmt: skip
        assert not [ev for ev in events if isinstance(ev, e.CommandRejected)], events
        quotes = [c.Quote(source=s, price=usd, ts=ts) for s in ("coinbase", "kraken")]
        events = v.apply(c.IndexUpdate(ts=ts, index="BTC-USD", quotes=quotes))
        assert v.markets["BTC-PERP"].mark == price
        liquidated[step] = {ev.account for ev in events if isinstance(ev, e.Liquidation)}
        v.check_invariants()
    return liquidated


@pytest.mark.parametrize("loss_model", ["us_clearing", "offshore"])
def test_the_engine_and_the_venue_agree_to_the_micro_dollar(loss_model: str) -> None:
    pop = population()
    venue = venue_from(pop, loss_model)
    venue_liquidated = drive(venue, PATH)

    config = load_config(config_text(loss_model))
    market = config.markets["BTC-PERP"]
    clearing = config.clearing
    policy = Policy(
        loss_model=loss_model,
        adl_ranking=clearing.adl_ranking,
        insurance_fund_micros=clearing.insurance_fund_micros,
        clearing_house_capital_micros=clearing.clearing_house_capital_micros,
        liquidation_fee_ppb=clearing.liquidation_fee_ppb,
        liquidation_slice_micros=clearing.liquidation_slice_micros,
        assessment_multiple_ppb=clearing.assessment_multiple_ppb,
        price_band_ppb=market.price_band_ppb,
        market_protection_ppb=market.market_protection_ppb,
        impact=False,
        max_order_lots=market.max_order_lots,
    )
    result = run_scenario(pop, market, policy, np.array(PATH, dtype=np.int64))

    engine_liquidated: dict[int, set[str]] = {}
    for liq in result.liquidations:
        engine_liquidated.setdefault(liq.step, set()).add(liq.account)
    assert {s: a for s, a in venue_liquidated.items() if a} == engine_liquidated
    assert sum(len(a) for a in engine_liquidated.values()) > 5  # the path does liquidate

    venue_layers = {layer: venue.loss_attribution.get(layer, 0) for layer in LAYERS}
    assert venue_layers == result.by_layer
    assert {k: v for k, v in venue.loss_by_segment.items() if v} == result.by_segment
    assert venue.uncovered_loss == result.uncovered
    deficit_layers = sum(v for k, v in result.by_layer.items() if k != "trader")
    assert deficit_layers > 0  # the gaps reach the loss model's layers
