"""The engine against the event-driven Venue on the same market: a harness for the cross-checks.

A seeded population is loaded into a Venue through its snapshot format (the positions and
cash of :func:`onshore.lab.population.build_population`, accounts and members through
commands). Each step of a price path the liquidity account cancels its orders and lays a
book on the side the move liquidates, then the index moves to the step's price; the Venue
finds, liquidates and allocates as it always does, inside that one command.

* ``depth=None`` (impact off): one deep order at the step's price, so every liquidation
  fills at the mark, as the engine's liquidity account takes it.
* ``depth=d`` (impact on): the engine's depth curve as resting orders, ``d`` lots at each
  tick from the step's price (bids ``P, P − 1, …`` on a fall, asks ``P, P + 1, …`` on a
  rise), enough levels for every position on that side to be sold into them. Consuming
  ``q`` lots of the book moves the fill price ``⌊(q − 1) / d⌋`` ticks, as the engine's
  curve does. ``two_sided`` adds the other side from one tick away, as deep, so the
  Venue's impact mid (one of its mark's three prices) sits within a tick of the index.

:func:`compare` runs both and returns a :class:`Comparison`, whose ``within_tolerance`` is
the documented tolerance (docs/lab.md); :func:`sweep` and ``python -m lab.venue_book`` (from
``tests/``) measure it over many seeded cases.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

import msgspec
import numpy as np

from onshore.config.load import load_config
from onshore.core import commands as c
from onshore.core import events as e
from onshore.core.spec import VenueConfig
from onshore.lab.engine import LAYERS, Engine, Policy, RunResult
from onshore.lab.population import LIQUIDITY, SEGMENTS, Population, PopulationSpec, build_population
from onshore.venue import Venue

T0 = 1_767_225_600_000
USD0 = 60_000  # every position opens at $60,000


def config_text(loss_model: str, *, tick: str = "0.1", mark_band: str = "0.000000001") -> str:
    """The Venue's configuration for a cross-check: wide bands and limits, small money layers.

    ``mark_band`` clamps the impact mid around the index (docs/pricing.md); the default of a
    part per billion makes the mark follow the index exactly, the built-in ``0.01`` lets the
    book move it within 1 %.
    """
    return f"""
[markets.BTC-PERP]
tick_size = "{tick}"
max_order_qty = "100000000"
price_band = "0.9"
[markets.BTC-PERP.mark]
band = "{mark_band}"
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


def population(config: VenueConfig, seed: int = 11, accounts: int = 48, open_interest_usd: float = 3e6) -> Population:
    """A small seeded population over three members with thin money layers (so gaps reach them)."""
    spec = PopulationSpec(
        accounts=accounts,
        seed=seed,
        open_interest_usd=open_interest_usd,
        members=3,
        market_makers=2,
        member_capital_usd=8_000.0,
        member_default_fund_usd=4_000.0,
    )
    market = config.markets["BTC-PERP"]
    return build_population(spec, market, config, entry_ticks(config))


def entry_ticks(config: VenueConfig) -> int:
    ticks = USD0 / Fraction(config.markets["BTC-PERP"].tick_size)
    assert ticks.denominator == 1
    return int(ticks)


def venue_from(pop: Population, config: VenueConfig) -> Venue:
    """A Venue holding the population's positions: commands for the structure, the snapshot format for positions."""
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
    p0 = pop.entry_ticks
    k = config.markets["BTC-PERP"].micros_per_tick_lot
    for i, account in enumerate(pop.account_ids):
        cash[account] = int(pop.cash[i])
        doc["ledger"]["deposits"] += int(pop.cash[i])
        qty, cost, lev = int(pop.qty[i]), int(pop.cost[i]), int(pop.leverage[i])
        assert cost == qty * p0 * k
        doc["accounts"][account]["holdings"]["BTC-PERP"] = [qty, cost, lev, "cross", 0, 0, 0, 0, 0, 0]
    market = doc["markets"]["BTC-PERP"]
    market.update(mark=p0, index_ticks=p0, reference=p0, last_trade=p0)
    return Venue.restore(config, msgspec.json.encode(doc))


def _price_text(ticks: int, tick: Fraction) -> str:
    micros = ticks * tick * 10**6
    assert micros.denominator == 1
    return f"{int(micros) // 10**6}.{int(micros) % 10**6:06d}"


def _open_lots(v: Venue, long: bool) -> int:
    """Σ |position| of the non-liquidity accounts on one side: the most a step can liquidate there."""
    total = 0
    for account_id, account in v.accounts.items():
        h = account.holdings.get("BTC-PERP")
        if account_id != LIQUIDITY and h is not None and (h.qty > 0) == long:
            total += abs(h.qty)
    return total


@dataclass
class Drive:
    """What the Venue did along a path."""

    liquidated: dict[int, set[str]]  # step: the accounts liquidated at it
    slippage: int  # Σ |step price − fill price| × lots × K over the liquidation orders' fills
    mark_offsets: dict[int, set[int]]  # step: every (mark − step price) the step's liquidations could see
    house_starved: bool = False  # a house held a position the one-sided book could not take (the engine's can)


def drive(v: Venue, path: list[int], depth: int | None, two_sided: bool = False) -> Drive:
    """Each step: the liquidity account lays its book at the new price, then the index moves there."""
    tick = Fraction(v.config.markets["BTC-PERP"].tick_size)
    market = v.markets["BTC-PERP"]
    lots = market.qty
    liquidated: dict[int, set[str]] = {}
    offsets: dict[int, set[int]] = {}
    slippage = 0
    starved = False
    for step, (prev, price) in enumerate(itertools.pairwise(path), start=1):
        ts = T0 + step * 1000
        v.apply(c.CancelAll(ts=ts, account=LIQUIDITY))
        falls = price < prev
        if not two_sided:  # a house works off through the book: a long needs bids (laid when the price falls)
            for account_id, account in v.accounts.items():
                h = account.holdings.get("BTC-PERP")
                if account_id.startswith("@") and h is not None and h.qty and (h.qty > 0) != falls:
                    starved = True
        side = "buy" if falls else "sell"
        if depth is None:
            levels = [(side, price, 100_000)]
        else:
            count = _open_lots(v, long=falls) // depth + 2
            prices = range(price, max(0, price - count), -1) if falls else range(price, price + count)
            levels = [(side, p, depth) for p in prices]
            if two_sided:  # the other side from one tick away, as deep: the impact mid sits by the index
                other = "sell" if falls else "buy"
                away = range(price + 1, price + 1 + count) if falls else range(price - 1, max(0, price - 1 - count), -1)
                levels += [(other, p, depth) for p in away]
        for n, (s, p, q) in enumerate(levels):
            events = v.apply(
                c.PlaceOrder(
                    ts=ts, account=LIQUIDITY, market="BTC-PERP", client_order_id=f"q{step}-{n}", side=s,
                    price=_price_text(p, tick), qty=lots.format(q),
                )
            )  # fmt: skip
            assert not [ev for ev in events if isinstance(ev, e.CommandRejected)], events
        quotes = [c.Quote(source=s, price=_price_text(price, tick), ts=ts) for s in ("coinbase", "kraken")]
        before = market.mark
        events = v.apply(c.IndexUpdate(ts=ts, index="BTC-USD", quotes=quotes))
        kinds = [type(ev) for ev in events if isinstance(ev, (e.MarkPrice, e.Trade))]
        marks = {market.price.parse(ev.price) for ev in events if isinstance(ev, e.MarkPrice)}
        if not kinds or kinds[0] is not e.MarkPrice:  # the index update left the mark where it was
            marks.add(before or price)
        offsets[step] = {m - price for m in marks}
        liquidated[step] = {ev.account for ev in events if isinstance(ev, e.Liquidation)}
        for ev in events:
            if isinstance(ev, e.Trade) and ev.taker_order_id < 0:
                slippage += abs(market.price.parse(ev.price) - price) * lots.parse(ev.qty) * market.k
        v.check_invariants()
    return Drive(liquidated, slippage, offsets, starved)


def policy_for(config: VenueConfig, **overrides: object) -> Policy:
    """The engine's policy read from the Venue's configuration (the same rules), with overrides."""
    market = config.markets["BTC-PERP"]
    clearing = config.clearing
    fields: dict[str, object] = {
        "loss_model": clearing.loss_model,
        "adl_ranking": clearing.adl_ranking,
        "insurance_fund_micros": clearing.insurance_fund_micros,
        "clearing_house_capital_micros": clearing.clearing_house_capital_micros,
        "liquidation_fee_ppb": clearing.liquidation_fee_ppb,
        "liquidation_slice_micros": clearing.liquidation_slice_micros,
        "assessment_multiple_ppb": clearing.assessment_multiple_ppb,
        "price_band_ppb": market.price_band_ppb,
        "market_protection_ppb": market.market_protection_ppb,
        "max_order_lots": market.max_order_lots,
    }
    fields.update(overrides)
    return Policy(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Episode:
    """An account's liquidation in the engine, as it began."""

    step: int
    account: str
    lots: int  # |position|
    equity: int  # at the mark


class RecordingEngine(Engine):
    """The engine, noting each liquidation's position and equity as it begins (for the tolerance)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.episodes: list[Episode] = []

    def liquidate(self, i: int) -> set[int]:
        self.episodes.append(Episode(self.step, self.ids[i], abs(int(self.pop.qty[i])), self.equity(i)))
        return super().liquidate(i)


@dataclass
class Comparison:
    """Both sides' results on one population and path, and their differences."""

    venue_by_step: dict[int, set[str]]  # step: the accounts liquidated at it
    engine_by_step: dict[int, set[str]]
    venue_layers: dict[str, int]
    engine_layers: dict[str, int]
    venue_uncovered: int
    engine_uncovered: int
    venue_segments: dict[str, int]
    venue_slippage: int  # what the Venue's liquidation orders paid below (above) the step's price
    k: int  # micro-dollars per tick-lot
    positions: dict[str, int]  # |lots| of each account at the start
    mark_offsets: dict[int, set[int]]  # step: the Venue's (mark − step price) during the step
    path: list[int]
    episodes: list[Episode]
    engine: RunResult
    house_starved: bool = False  # see Drive

    @property
    def venue_total(self) -> int:
        return sum(self.venue_layers.values()) + self.venue_uncovered

    @property
    def engine_total(self) -> int:
        return sum(self.engine_layers.values()) + self.engine_uncovered

    @property
    def venue_steps(self) -> dict[str, int]:
        """Account: the first step it was liquidated at."""
        return first_steps(self.venue_by_step)

    @property
    def engine_steps(self) -> dict[str, int]:
        return first_steps(self.engine_by_step)

    @property
    def pairs_differing(self) -> int:
        """(account, step) liquidations on one side only."""
        venue = {(a, s) for s, accounts in self.venue_by_step.items() for a in accounts}
        engine = {(a, s) for s, accounts in self.engine_by_step.items() for a in accounts}
        return len(venue ^ engine)

    @property
    def only_venue(self) -> set[str]:
        return set(self.venue_steps) - set(self.engine_steps)

    @property
    def only_engine(self) -> set[str]:
        return set(self.engine_steps) - set(self.venue_steps)

    @property
    def moved(self) -> set[str]:
        """Accounts both liquidated, at different steps."""
        both = set(self.venue_steps) & set(self.engine_steps)
        return {a for a in both if self.venue_steps[a] != self.engine_steps[a]}

    @property
    def identical(self) -> bool:
        return (
            self.venue_by_step == self.engine_by_step
            and self.venue_layers == self.engine_layers
            and self.venue_uncovered == self.engine_uncovered
            and self.venue_segments == self.engine.by_segment
        )

    def tick_bound(self) -> int:
        """One tick on the position of every liquidation as it began: ``K × Σ lots``."""
        return sum(ep.lots for ep in self.episodes) * self.k

    def zero_edge_bound(self) -> int:
        """The step's move (and a tick) on the position of every liquidation that began within one tick of zero equity.

        The trader layer measures a liquidation from its equity when that is positive, and
        from its equity at the marks before the command when it is not (docs/liquidation.md);
        one tick of mark can put an account on either side.
        """
        total = 0
        for ep in self.episodes:
            if abs(ep.equity) <= ep.lots * self.k:
                total += ep.lots * (abs(self.path[ep.step] - self.path[ep.step - 1]) + 1)
        return total * self.k

    def layer_diff(self) -> int:
        """Σ |engine − Venue| over the layers and the uncovered loss (micro-dollars)."""
        diff = sum(abs(self.engine_layers[k] - self.venue_layers[k]) for k in LAYERS)
        return diff + abs(self.engine_uncovered - self.venue_uncovered)

    def edge_accounts(self) -> dict[str, int]:
        """Accounts the two liquidated at different steps: the first step where they differ."""
        out = {}
        for account in set(self.venue_steps) | set(self.engine_steps):
            venue = {s for s, accounts in self.venue_by_step.items() if account in accounts}
            engine = {s for s, accounts in self.engine_by_step.items() if account in accounts}
            if venue != engine:
                out[account] = min(venue ^ engine)
        return out

    def step_edge_bound(self) -> int:
        """For an account liquidated at different steps: its position over the largest move from the first of them."""
        lots_ticks = 0
        for account, step in self.edge_accounts().items():
            lots_ticks += self.positions[account] * max(abs(p - self.path[step]) for p in self.path[step:])
        return lots_ticks * self.k

    def bound(self) -> int:
        """The tolerance on the total loss (docs/lab.md): the three terms above."""
        return self.tick_bound() + self.zero_edge_bound() + self.step_edge_bound()

    def within_tolerance(self) -> bool:
        """The documented tolerance of the engine against the Venue with impact on (docs/lab.md).

        The premise: the Venue's mark is never more than one tick from the step's price. Then
        accounts may be liquidated at different steps only where it was off by that tick, and
        the total loss differs by at most :meth:`bound`, the layers by twice that.
        """
        if any(abs(o) > 1 for offsets in self.mark_offsets.values() for o in offsets):
            return False
        for step in self.edge_accounts().values():
            if not self.mark_offsets.get(step, {0}) - {0}:
                return False
        bound = self.bound()
        return abs(self.engine_total - self.venue_total) <= bound and self.layer_diff() <= 2 * bound

    def total_gap(self) -> float:
        """(engine − Venue) / Venue of the total loss."""
        return (self.engine_total - self.venue_total) / max(1, self.venue_total)

    def layer_gap(self) -> float:
        """Σ |engine − Venue| over the layers, over the Venue's total loss."""
        diff = sum(abs(self.engine_layers[k] - self.venue_layers[k]) for k in LAYERS)
        diff += abs(self.engine_uncovered - self.venue_uncovered)
        return diff / max(1, self.venue_total)


def first_steps(by_step: dict[int, set[str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for step in sorted(by_step):
        for account in by_step[step]:
            out.setdefault(account, step)
    return out


def compare(
    loss_model: str,
    path: list[int],
    *,
    depth: int | None,
    seed: int = 11,
    accounts: int = 48,
    open_interest_usd: float = 3e6,
    tick: str = "0.1",
    mark_band: str = "0.000000001",
    two_sided: bool = False,
    **engine: object,
) -> Comparison:
    """Run the Venue with a book of ``depth`` lots per tick and the engine with ``engine`` overrides."""
    config = load_config(config_text(loss_model, tick=tick, mark_band=mark_band))
    pop = population(config, seed, accounts, open_interest_usd)
    venue = venue_from(pop, config)
    driven = drive(venue, path, depth, two_sided)
    by_step = driven.liquidated
    overrides: dict[str, object] = {"impact": depth is not None}
    if depth is not None:
        overrides["depth_lots_per_tick"] = depth
    overrides.update(engine)
    engine_run = RecordingEngine(pop, config.markets["BTC-PERP"], policy_for(config, **overrides))
    result = engine_run.run(np.array(path, np.int64))
    engine_by_step: dict[int, set[str]] = {}
    for liq in result.liquidations:
        engine_by_step.setdefault(liq.step, set()).add(liq.account)
    return Comparison(
        venue_by_step={s: a for s, a in by_step.items() if a},
        engine_by_step=engine_by_step,
        venue_layers={layer: venue.loss_attribution.get(layer, 0) for layer in LAYERS},
        engine_layers=dict(result.by_layer),
        venue_uncovered=venue.uncovered_loss,
        engine_uncovered=result.uncovered,
        venue_segments={k: v for k, v in venue.loss_by_segment.items() if v},
        venue_slippage=driven.slippage,
        mark_offsets=driven.mark_offsets,
        path=list(path),
        episodes=engine_run.episodes,
        k=config.markets["BTC-PERP"].micros_per_tick_lot,
        positions=positions_with_houses(pop),
        engine=result,
        house_starved=driven.house_starved,
    )


def positions_with_houses(pop: Population) -> dict[str, int]:
    """|position| of every account, and for each house account the most it could take over:
    its member's customers' positions (``@{member}``) or everyone's (``@insurance_fund``)."""
    out = {a: abs(int(q)) for a, q in zip(pop.account_ids, pop.qty, strict=True)}
    for m, member in enumerate(pop.member_ids):
        out["@" + member] = sum(abs(int(q)) for q, mm in zip(pop.qty, pop.member, strict=True) if int(mm) == m)
    out["@insurance_fund"] = sum(abs(int(q)) for q in pop.qty)
    return out


def random_path(p0: int, seed: int, steps: int = 12) -> list[int]:
    """A seeded crash path: drifting down with noise, some gaps down (3–12 %) and rebounds (3–8 %)."""
    rng = np.random.default_rng(seed)
    out = [p0]
    for _ in range(steps):
        r = rng.normal(-0.006, 0.012)
        if rng.random() < 0.15:
            r -= rng.uniform(0.03, 0.12)
        if rng.random() < 0.1:
            r += rng.uniform(0.03, 0.08)
        out.append(max(1, round(out[-1] * (1 + r))))
    return out


@dataclass(frozen=True)
class Row:
    """One case of the sweep."""

    tick: str
    seed: int
    loss_model: str
    depth: int
    two_sided: bool
    identical: bool
    within: bool
    liquidated: int  # (account, step) liquidations in the Venue
    edges: int  # accounts liquidated at different steps
    off_steps: int  # steps at which the Venue's mark was one tick off the step's price
    total_ratio: float  # |engine − Venue| total / the bound
    layer_ratio: float  # Σ |engine − Venue| over the layers / the bound
    relative: float  # (engine − Venue) total / the Venue's total
    venue_total: int
    slippage: int
    house_starved: bool


def sweep(seeds: range, depths: dict[str, tuple[int, ...]], **engine: object) -> list[Row]:
    """Every seed × loss model × depth × book (one- and two-sided), at each tick size given."""
    rows = []
    for tick, tick_depths in depths.items():
        p0 = int(USD0 / Fraction(tick))
        for seed in seeds:
            path = random_path(p0, 100 + seed)
            for model in ("us_clearing", "offshore"):
                for depth in tick_depths:
                    for two_sided in (False, True):
                        r = compare(
                            model, path, depth=depth, seed=seed, tick=tick, mark_band="0.01", two_sided=two_sided,
                            **engine,
                        )  # fmt: skip
                        bound = r.bound()
                        diff = abs(r.engine_total - r.venue_total)
                        within = r.within_tolerance()
                        rows.append(
                            Row(
                                tick, seed, model, depth, two_sided, r.identical, within,
                                sum(len(a) for a in r.venue_by_step.values()), len(r.edge_accounts()),
                                sum(1 for o in r.mark_offsets.values() if o - {0}),
                                diff / bound if bound else float(diff > 0), r.layer_diff() / bound if bound else 0.0,
                                (r.engine_total - r.venue_total) / max(1, r.venue_total), r.venue_total,
                                r.venue_slippage, r.house_starved,
                            )
                        )  # fmt: skip
    return rows


def main() -> None:  # pragma: no cover - prints the figures of docs/lab.md
    """``python -m tests.lab.venue_book [seeds]``: the sweep's figures, by tick size and book."""
    import sys
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    follow = len(sys.argv) > 2 and sys.argv[2] == "follow"  # the engine's mark following its fills
    start = time.perf_counter()
    rows = sweep(range(n), {"10": (5, 20, 80), "1": (10, 50, 200)}, **({"mark_follows_fills": True} if follow else {}))
    seconds = time.perf_counter() - start
    for tick in ("10", "1"):
        for two_sided in (False, True):
            sel = [r for r in rows if r.tick == tick and r.two_sided == two_sided]
            print(
                f"tick ${tick} {'two-sided' if two_sided else 'one-sided'}: {len(sel)} cases, "
                f"{sum(r.liquidated for r in sel)} liquidations, slippage ${sum(r.slippage for r in sel) / 1e6:,.0f}, "
                f"identical {sum(r.identical for r in sel)}, within {sum(r.within for r in sel)}, "
                f"steps with the mark a tick off {sum(r.off_steps for r in sel)}, "
                f"cases with accounts at other steps {sum(1 for r in sel if r.edges)}, "
                f"max total/bound {max(r.total_ratio for r in sel):.3f}, "
                f"max layers/bound {max(r.layer_ratio for r in sel):.3f}, "
                f"(engine − Venue)/Venue total from {min(r.relative for r in sel):+.5f} to "
                f"{max(r.relative for r in sel):+.5f}"
            )
    print(f"{len(rows)} cases in {seconds:.1f} s")


if __name__ == "__main__":
    main()
