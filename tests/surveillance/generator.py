"""A seeded simulation that writes command streams: market makers, ordinary traders, and planted abusers.

Agents act on a clock of steps (``step_ms``) and may schedule actions in between; every
command goes through a real :class:`~onshore.venue.Venue` as it is generated, and the
agents learn their fills from the trade events, as clients of a venue do. The result is
the command stream (JSON Lines ready) and the events it caused.

Everything random comes from ``numpy.random.default_rng(seed)``: the same seed gives the
same commands and the same events.

A *normal day* is 24 hours from 2026-01-01 00:00 UTC: index quotes from four sources
and a ``tick`` every step, market makers requoting three levels a side with inventory
skew, and ordinary traders sending market orders and passive limit orders that they later
cancel. The planted agents (:class:`WashTrader`, :class:`Spoofer`,
:class:`FundingManipulator`, :class:`QuoteDistorter`, :class:`Accumulator`,
:class:`Flasher`) each show one pattern the detectors look for.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onshore.config.load import load_config
from onshore.core import commands as c
from onshore.core.commands import encode_command
from onshore.core.events import Event, Trade
from onshore.venue import Venue

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC
DAY_MS = 86_400_000
SOURCES = ("coinbase", "kraken", "bitstamp", "gemini")


@dataclass(frozen=True)
class MarketModel:
    """A market's price process and grid, for generating orders on it."""

    name: str
    index: str
    start: float
    daily_vol: float
    tick: float
    contract: float  # base units per contract

    def price(self, value: float) -> str:
        """``value`` on the market's tick grid, as a decimal string."""
        ticks = round(value / self.tick)
        decimals = max(0, -math.floor(math.log10(self.tick) + 1e-9))
        return f"{ticks * self.tick:.{decimals}f}"


MARKETS = (
    MarketModel("BTC-PERP", "BTC-USD", 65_000.0, 0.03, 0.1, 0.01),
    MarketModel("ETH-PERP", "ETH-USD", 3_200.0, 0.04, 0.01, 0.1),
)
BY_NAME = {m.name: m for m in MARKETS}


class Simulation:
    """The clock, the Venue, the fair prices, and the agents. ``run()`` fills ``commands`` and ``events``."""

    def __init__(self, seed: int, *, start_ms: int = T0, duration_ms: int = DAY_MS, step_ms: int = 10_000) -> None:
        self.rng = np.random.default_rng(seed)
        self.start_ms = start_ms
        self.end_ms = start_ms + duration_ms
        self.step_ms = step_ms
        self.venue = Venue(load_config(None))
        self.commands: list[c.Command] = []
        self.events: list[Event] = []
        self.fair = {m.name: m.start for m in MARKETS}
        self.agents: list[Agent] = []
        self.positions: dict[tuple[str, str], int] = {}
        self.quote_bias: list[tuple[str, str, int, int, float]] = []  # (index, source, from, to, relative bias)
        self._queue: list[tuple[int, int, Callable[[int], None]]] = []
        self._n = 0
        self._order_no = 0
        self.now = start_ms
        self.apply(c.RegisterMember(ts=start_ms, member="fcm-1", capital="50000000", default_fund="5000000"))
        self.apply(c.RegisterMember(ts=start_ms, member="fcm-2", capital="30000000", default_fund="3000000"))
        self.apply(c.RegisterMember(ts=start_ms, member="fcm-3", capital="20000000", default_fund="2000000"))

    # ------------------------------------------------------------------ plumbing
    def apply(self, command: c.Command) -> list[Event]:
        """Apply one command now; learn fills from its trades."""
        self.commands.append(command)
        out = self.venue.apply(command)
        self.events.extend(out)
        for ev in out:
            if type(ev) is Trade:
                q = int(ev.qty)
                buyer, seller = (
                    (ev.taker_account, ev.maker_account)
                    if ev.aggressor_side == "buy"
                    else (ev.maker_account, ev.taker_account)
                )
                self.positions[(buyer, ev.market)] = self.positions.get((buyer, ev.market), 0) + q
                self.positions[(seller, ev.market)] = self.positions.get((seller, ev.market), 0) - q
        return out

    def at(self, ts: int, action: Callable[[int], None]) -> None:
        """Run ``action(ts)`` at ``ts`` (not before the current time)."""
        self._n += 1
        heapq.heappush(self._queue, (max(ts, self.now), self._n, action))

    def coid(self, prefix: str) -> str:
        """A fresh client order id."""
        self._order_no += 1
        return f"{prefix}-{self._order_no}"

    def open(self, account: str, member: str, segment: str, owner: str | None, deposit: str) -> None:
        """Open and fund an account now."""
        self.apply(c.OpenAccount(ts=self.now, account=account, member=member, segment=segment, owner=owner))
        self.apply(c.Deposit(ts=self.now, account=account, amount=deposit))

    def position(self, account: str, market: str) -> int:
        """The account's position in contracts, as learnt from the trades."""
        return self.positions.get((account, market), 0)

    def order(
        self,
        ts: int,
        account: str,
        market: str,
        side: str,
        qty: int,
        price: float | None = None,
        *,
        tif: str = "gtc",
        post_only: bool = False,
        coid: str | None = None,
    ) -> str:
        """Place an order now (a market IOC order when ``price`` is None); return its client order id."""
        cid = coid or self.coid(account)
        model = BY_NAME[market]
        self.apply(
            c.PlaceOrder(
                ts=ts,
                account=account,
                market=market,
                client_order_id=cid,
                side=side,  # type: ignore[arg-type]
                qty=str(qty),
                order_type="limit" if price is not None else "market",
                price=model.price(price) if price is not None else None,
                time_in_force=tif if price is not None else "ioc",  # type: ignore[arg-type]
                post_only=post_only,
            )
        )
        return cid

    def cancel(self, ts: int, account: str, market: str, coid: str) -> None:
        """Cancel an order by client order id (rejected harmlessly if it is gone)."""
        self.apply(c.CancelOrder(ts=ts, account=account, market=market, client_order_id=coid))

    # ------------------------------------------------------------------ the clock
    def _step(self, ts: int) -> None:
        dt_days = self.step_ms / DAY_MS
        for m in MARKETS:
            shock = float(self.rng.normal(0.0, m.daily_vol * math.sqrt(dt_days)))
            self.fair[m.name] *= math.exp(shock)
            quotes = []
            for source in SOURCES:
                bias = 0.0
                for index, src, t0, t1, b in self.quote_bias:
                    if index == m.index and src == source and t0 <= ts < t1:
                        bias += b
                noise = float(self.rng.normal(0.0, 0.00015))
                quotes.append(
                    c.Quote(source=source, price=f"{self.fair[m.name] * (1 + noise + bias):.2f}", ts=ts - 200)
                )
            self.apply(c.IndexUpdate(ts=ts, index=m.index, quotes=quotes))
        self.apply(c.Tick(ts=ts))
        for agent in self.agents:
            agent.step(self, ts)
        if ts + self.step_ms < self.end_ms:
            self.at(ts + self.step_ms, self._step)

    def run(self) -> Simulation:
        """Set up every agent, then run the clock to the end; return self."""
        for agent in self.agents:
            agent.setup(self)
        self.at(self.start_ms, self._step)
        while self._queue:
            ts, _, action = heapq.heappop(self._queue)
            if ts >= self.end_ms:
                break
            self.now = ts
            action(ts)
        return self

    def lines(self) -> list[bytes]:
        """The command stream as JSON Lines."""
        return [encode_command(cmd) for cmd in self.commands]


class Agent:
    """Something that trades: ``setup`` once (accounts, money), ``step`` on every clock step."""

    def setup(self, sim: Simulation) -> None:
        """Open accounts and deposit (at the start)."""

    def step(self, sim: Simulation, ts: int) -> None:
        """Act at ``ts``; may schedule later actions with ``sim.at``."""


# ============================================================================ normal agents
@dataclass
class MarketMaker(Agent):
    """Quotes ``levels`` a side, requoting when the price moved or it was filled; skewed against its inventory,
    one-sided past ``max_inventory``."""

    account: str
    member: str
    owner: str
    seed: int
    levels: int = 3
    half_spread_bps: float = 2.0
    gap_bps: float = 2.0
    requote_bps: float = 1.0
    max_inventory: dict[str, int] = field(default_factory=lambda: {"BTC-PERP": 300, "ETH-PERP": 600})

    def setup(self, sim: Simulation) -> None:
        sim.open(self.account, self.member, "market_maker", self.owner, "50000000")
        self.rng = np.random.default_rng(self.seed)
        self.quoted: dict[str, tuple[float, int]] = {}

    def step(self, sim: Simulation, ts: int) -> None:
        for m in MARKETS:
            inv = sim.position(self.account, m.name)
            cap = self.max_inventory[m.name]
            fair = sim.fair[m.name] * (1 - 1.5e-4 * inv / cap)
            last = self.quoted.get(m.name)
            if last is not None and last[1] == inv and abs(fair / last[0] - 1) < self.requote_bps / 10_000:
                continue  # quotes still good: nothing filled, the price has not moved enough
            self.quoted[m.name] = (fair, inv)
            sim.apply(c.CancelAll(ts=ts, account=self.account, market=m.name))
            base = 5 if m.name == "BTC-PERP" else 8
            for level in range(self.levels):
                off = (self.half_spread_bps + level * self.gap_bps) / 10_000
                size = int(base + self.rng.integers(0, 2 * base))
                if inv < cap:
                    sim.order(ts, self.account, m.name, "buy", size, fair * (1 - off), post_only=True)
                if inv > -cap:
                    sim.order(ts, self.account, m.name, "sell", size, fair * (1 + off), post_only=True)


@dataclass
class Trader(Agent):
    """An ordinary trader in one market: market orders and passive limit orders it cancels a while later."""

    account: str
    member: str
    segment: str
    market: str
    seed: int
    owner: str | None = None
    activity: float = 0.25  # chance of acting on a step
    max_position: int = 60

    def setup(self, sim: Simulation) -> None:
        sim.open(self.account, self.member, self.segment, self.owner, "2000000")
        self.rng = np.random.default_rng(self.seed)

    def step(self, sim: Simulation, ts: int) -> None:
        rng = self.rng
        if rng.random() >= self.activity:
            return
        at = ts + int(rng.integers(1, sim.step_ms))
        sim.at(at, lambda t: self._act(sim, t))

    def _act(self, sim: Simulation, ts: int) -> None:
        rng = self.rng
        pos = sim.position(self.account, self.market)
        if abs(pos) > self.max_position:
            side = "sell" if pos > 0 else "buy"
        else:
            side = "buy" if rng.random() < 0.5 else "sell"
        size = int(rng.integers(1, 9)) if rng.random() < 0.9 else int(rng.integers(9, 20))
        fair = sim.fair[self.market]
        if rng.random() < 0.55:
            sim.order(ts, self.account, self.market, side, size)
        else:
            off = float(rng.uniform(0.5, 12)) / 10_000
            price = fair * (1 - off) if side == "buy" else fair * (1 + off)
            cid = sim.order(ts, self.account, self.market, side, size, price)
            life = int(rng.integers(20_000, 240_000))
            sim.at(ts + life, lambda t, cid=cid: sim.cancel(t, self.account, self.market, cid))


def normal_population(sim: Simulation, seed: int, *, makers: int = 3, traders: int = 24) -> None:
    """Market makers and ordinary traders (one owner runs two accounts, one per market)."""
    members = ("fcm-1", "fcm-2", "fcm-3")
    segments = ("qualified", "institutional", "qualified", "retail")
    for i in range(makers):
        sim.agents.append(MarketMaker(f"mm-{i}", members[i % 3], f"mm-firm-{i}", seed * 1000 + i))
    for i in range(traders):
        market = MARKETS[i % 2].name
        sim.agents.append(Trader(f"t-{i}", members[i % 3], segments[i % 4], market, seed * 1000 + 100 + i))
    for j, market in enumerate(("BTC-PERP", "ETH-PERP")):
        sim.agents.append(
            Trader(f"fund-a-{j}", members[j], "institutional", market, seed * 1000 + 200 + j, owner="fund-a")
        )


def normal_day(seed: int, **kwargs: Any) -> Simulation:
    """A seeded normal trading day (no planted pattern), already run."""
    sim = Simulation(seed, **kwargs)
    normal_population(sim, seed)
    return sim.run()


# ============================================================================ planted patterns
@dataclass
class WashTrader(Agent):
    """One owner, two accounts at two members, trading with itself: a resting sell at the mid, then an IOC buy."""

    market: str = "BTC-PERP"
    times: tuple[int, ...] = ()
    qty: int = 10

    def setup(self, sim: Simulation) -> None:
        sim.open("wash-a", "fcm-1", "institutional", "washer", "2000000")
        sim.open("wash-b", "fcm-2", "institutional", "washer", "2000000")
        for t in self.times:
            sim.at(t, lambda ts, sim=sim: self._cross(sim, ts))

    def _cross(self, sim: Simulation, ts: int) -> None:
        price = sim.fair[self.market]
        sim.order(ts, "wash-a", self.market, "sell", self.qty, price, post_only=True)
        sim.order(ts, "wash-b", self.market, "buy", self.qty, price, tif="ioc")


@dataclass
class Spoofer(Agent):
    """Large bids layered below the touch, a small sell into the book, the bids cancelled half a second later."""

    market: str = "BTC-PERP"
    times: tuple[int, ...] = ()
    size: int = 200
    layers: int = 3

    def setup(self, sim: Simulation) -> None:
        sim.open("spoof-1", "fcm-3", "institutional", "spoofer", "5000000")
        for t in self.times:
            sim.at(t, lambda ts, sim=sim: self._episode(sim, ts))

    def _episode(self, sim: Simulation, ts: int) -> None:
        fair = sim.fair[self.market]
        ids = [
            sim.order(ts, "spoof-1", self.market, "buy", self.size, fair * (1 - (10 + 5 * i) / 10_000), post_only=True)
            for i in range(self.layers)
        ]
        sim.at(ts + 100, lambda t: sim.order(t, "spoof-1", self.market, "sell", 5))
        for cid in ids:
            sim.at(ts + 600, lambda t, cid=cid: sim.cancel(t, "spoof-1", self.market, cid))


@dataclass
class FundingManipulator(Agent):
    """Short, then bids near the touch placed just before premium samples and cancelled just after (and round trips)."""

    market: str = "BTC-PERP"
    order_samples: tuple[int, ...] = ()  # sample times (ms) to straddle with a bid
    trade_samples: tuple[int, ...] = ()  # sample times to straddle with a buy then a sell
    size: int = 100
    trade_size: int = 30

    def setup(self, sim: Simulation) -> None:
        sim.open("fm-1", "fcm-2", "institutional", "fund-manip", "5000000")
        sim.at(sim.start_ms + 60_000, lambda ts: sim.order(ts, "fm-1", self.market, "sell", 40))
        for b in self.order_samples:
            sim.at(b - 2_000, lambda ts, b=b: self._bid(sim, ts, b))
        for b in self.trade_samples:
            sim.at(b - 1_500, lambda ts: sim.order(ts, "fm-1", self.market, "buy", self.trade_size))
            sim.at(b + 500, lambda ts: sim.order(ts, "fm-1", self.market, "sell", self.trade_size))

    def _bid(self, sim: Simulation, ts: int, b: int) -> None:
        cid = sim.order(
            ts, "fm-1", self.market, "buy", self.size, sim.fair[self.market] * (1 - 1 / 10_000), post_only=True
        )
        sim.at(b + 1_000, lambda t: sim.cancel(t, "fm-1", self.market, cid))


@dataclass
class QuoteDistorter(Agent):
    """One constituent source quotes ``bias`` away from the others for a while (planted in the index quotes)."""

    index: str = "BTC-USD"
    source: str = "gemini"
    start: int = 0
    end: int = 0
    bias: float = 0.015

    def setup(self, sim: Simulation) -> None:
        sim.quote_bias.append((self.index, self.source, self.start, self.end, self.bias))


@dataclass
class Accumulator(Agent):
    """One owner builds a large long across several accounts against a liquidity provider's offers.

    ``per_account`` contracts in each of ``accounts`` accounts (each below the owner's
    thresholds alone), bought in clips from offers the provider posts just above the fair price.
    """

    owner: str = "whale"
    market: str = "BTC-PERP"
    accounts: int = 3
    per_account: int = 2000
    clip: int = 500
    start: int = 0
    every_ms: int = 60_000

    def setup(self, sim: Simulation) -> None:
        sim.open(f"{self.owner}-lp", "fcm-1", "market_maker", f"{self.owner}-lp-bank", "50000000")
        for i in range(self.accounts):
            sim.open(f"{self.owner}-{i}", ("fcm-1", "fcm-2", "fcm-3")[i % 3], "institutional", self.owner, "5000000")
        t = self.start
        for i in range(self.accounts):
            done = 0
            while done < self.per_account:
                clip = min(self.clip, self.per_account - done)
                sim.at(t, lambda ts, i=i, clip=clip: self._clip(sim, ts, i, clip))
                done += clip
                t += self.every_ms

    def _clip(self, sim: Simulation, ts: int, i: int, clip: int) -> None:
        sim.order(ts, f"{self.owner}-lp", self.market, "sell", clip, sim.fair[self.market] * (1 + 5 / 10_000))
        sim.order(ts, f"{self.owner}-{i}", self.market, "buy", clip)


@dataclass
class Flasher(Agent):
    """Floods the book with small orders far from the touch and cancels them all: an abnormal cancel ratio."""

    market: str = "ETH-PERP"
    start: int = 0
    orders: int = 800
    every_ms: int = 2_000

    def setup(self, sim: Simulation) -> None:
        sim.open("flash-1", "fcm-3", "qualified", "flasher", "2000000")
        for k in range(self.orders):
            sim.at(self.start + k * self.every_ms, lambda ts: self._flash(sim, ts))

    def _flash(self, sim: Simulation, ts: int) -> None:
        fair = sim.fair[self.market]
        cid = sim.order(ts, "flash-1", self.market, "buy", 2, fair * (1 - 40 / 10_000), post_only=True)
        sim.at(ts + 300, lambda t: sim.cancel(t, "flash-1", self.market, cid))


def sample_times(first_ms: int, count: int, every_ms: int = 60_000) -> tuple[int, ...]:
    """``count`` premium-sample times from ``first_ms`` on."""
    return tuple(first_ms + k * every_ms for k in range(count))


def planted(seed: int, *agents: Agent, **kwargs: Any) -> Simulation:
    """A normal day with the given planted agents, already run."""
    sim = Simulation(seed, **kwargs)
    normal_population(sim, seed)
    sim.agents.extend(agents)
    return sim.run()


def iter_commands(sim: Simulation) -> Iterator[c.Command]:
    """The commands of a run, in order."""
    yield from sim.commands
