"""Synthetic trader populations: seeded, by segment, scaled to an open interest.

A :class:`Population` is a set of accounts with exact positions (lots), cost bases and
cash (micro-dollars), each carried by a clearing member and labelled with its segment.
It always nets to zero: market makers hold the opposite of the directional traders'
net position, as a venue's liquidity providers end up doing, plus one deep
``liquidity`` account that stands for the rest of the book (it takes liquidation
flow at the mark when price impact is off).

Defaults (docs/lab.md) are drawn from public figures where they exist: in the crash of
2025-10-10 about 1.6 million traders were liquidated across venues and on the largest
venue about 91 % of the liquidated notional was long, so directional traders lean
long; leverage is lognormal around values typical of each segment and capped by the
policy under study (and never above the segment's own cap).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from onshore.clearing.margin import Tiers
from onshore.core.spec import LEVERAGE_SCALE, MarketSpec, VenueConfig

SEGMENTS = ("retail", "qualified", "institutional", "market_maker")
LIQUIDITY = "liquidity"


@dataclass(frozen=True)
class SegmentProfile:
    """How one segment's traders are drawn."""

    share: float  # of directional accounts
    long_share: float  # probability an account is long
    leverage_median: float  # × (lognormal median)
    leverage_sigma: float
    collateral_median_usd: float  # lognormal median
    collateral_sigma: float


DEFAULT_PROFILES: dict[str, SegmentProfile] = {
    "retail": SegmentProfile(0.80, 0.75, 8.0, 0.6, 4_000.0, 1.2),
    "qualified": SegmentProfile(0.15, 0.65, 6.0, 0.5, 60_000.0, 1.0),
    "institutional": SegmentProfile(0.05, 0.55, 3.0, 0.5, 2_000_000.0, 0.8),
}


@dataclass(frozen=True)
class PopulationSpec:
    """Parameters of a synthetic population (all defaults documented in docs/lab.md)."""

    accounts: int = 2_000
    seed: int = 7
    open_interest_usd: float = 250_000_000.0
    members: int = 5
    market_makers: int = 4
    market_maker_leverage: float = 2.0
    profiles: dict[str, SegmentProfile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))
    member_capital_usd: float = 25_000_000.0
    member_default_fund_usd: float = 5_000_000.0


@dataclass
class Population:
    """Accounts as parallel arrays (index = account number), plus members."""

    account_ids: list[str]
    segment: np.ndarray  # int8 index into SEGMENTS, -1 for the liquidity account
    member: np.ndarray  # int32 index into member_ids
    qty: np.ndarray  # int64 lots, long > 0
    cost: np.ndarray  # int64 micro-dollars (signed)
    cash: np.ndarray  # int64 micro-dollars
    leverage: np.ndarray  # int64 hundredths (the account's chosen leverage)
    member_ids: list[str]
    member_capital: np.ndarray  # int64 micro-dollars
    member_default_fund: np.ndarray  # int64 micro-dollars
    entry_ticks: int

    def copy(self) -> Population:
        """A deep copy (runs mutate their population)."""
        return Population(
            list(self.account_ids),
            self.segment.copy(),
            self.member.copy(),
            self.qty.copy(),
            self.cost.copy(),
            self.cash.copy(),
            self.leverage.copy(),
            list(self.member_ids),
            self.member_capital.copy(),
            self.member_default_fund.copy(),
            self.entry_ticks,
        )

    def segment_name(self, i: int) -> str:
        s = int(self.segment[i])
        return LIQUIDITY if s < 0 else SEGMENTS[s]


def _fit_initial_margin(
    lots: np.ndarray, cash: np.ndarray, leverage: np.ndarray, price_ticks: int, market: MarketSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Every account must meet initial margin at entry (at its leverage and the notional tiers).

    Positions too large for their collateral shrink to the largest that fits; an account too
    small for one lot gets exactly the collateral one lot needs (it sits at its cap). So no
    account starts above its segment's or its tier's leverage, or below maintenance.
    """
    tiers = Tiers(market)
    k = market.micros_per_tick_lot
    lots = np.maximum(lots, 1)
    cash = cash.copy()
    for i in range(len(lots)):
        lev = int(leverage[i])
        if tiers.initial(int(lots[i]) * price_ticks * k, lev) <= cash[i]:
            continue
        lo, hi = 0, int(lots[i])
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if tiers.initial(mid * price_ticks * k, lev) <= cash[i]:
                lo = mid
            else:
                hi = mid - 1
        if lo == 0:
            lo = 1
            cash[i] = tiers.initial(price_ticks * k, lev)
        lots[i] = lo
    return lots, cash


def build_population(
    spec: PopulationSpec,
    market: MarketSpec,
    config: VenueConfig,
    price_ticks: int,
    leverage_cap: int | None = None,
) -> Population:
    """Draw a population at ``price_ticks`` (entry price of every position).

    ``leverage_cap`` (hundredths) is the policy under study; each account's leverage is
    drawn from its segment's profile and capped by the lower of it and the segment's
    configured maximum (market makers too), and every position meets initial margin at
    entry under the notional tiers. The larger directional side is scaled to
    ``open_interest_usd``. Deterministic for a given spec.
    """
    rng = np.random.default_rng(spec.seed)
    k = market.micros_per_tick_lot
    lot_usd = price_ticks * k / 1e6  # USD notional of one lot at entry
    names = [n for n in SEGMENTS if n in spec.profiles]
    shares = np.array([spec.profiles[n].share for n in names], dtype=float)
    shares /= shares.sum()
    n = spec.accounts
    seg_idx = rng.choice(len(names), size=n, p=shares)
    segment = np.array([SEGMENTS.index(names[i]) for i in seg_idx], dtype=np.int8)
    lev = np.empty(n)
    coll = np.empty(n)
    side = np.empty(n)
    for j, name in enumerate(names):
        prof = spec.profiles[name]
        mask = seg_idx == j
        m = int(mask.sum())
        lev[mask] = prof.leverage_median * np.exp(prof.leverage_sigma * rng.standard_normal(m))
        coll[mask] = prof.collateral_median_usd * np.exp(prof.collateral_sigma * rng.standard_normal(m))
        side[mask] = np.where(rng.random(m) < prof.long_share, 1.0, -1.0)
    caps = np.array([config.segments[SEGMENTS[s]].max_leverage / LEVERAGE_SCALE for s in segment])
    if leverage_cap is not None:
        caps = np.minimum(caps, leverage_cap / LEVERAGE_SCALE)
    lev = np.clip(lev, 1.0, caps)
    notional = coll * lev
    # scale so that the larger directional side's notional is about the target open interest
    biggest = max(notional[side > 0].sum(), notional[side < 0].sum())
    scale = spec.open_interest_usd / biggest if biggest > 0 else 1.0
    coll *= scale
    leverage = np.floor(lev * LEVERAGE_SCALE).astype(np.int64)
    for _ in range(3):  # fitting to initial margin trims positions: rescale toward the target and refit
        lots = np.floor(coll * lev / lot_usd).astype(np.int64)
        cash_micros = np.floor(coll * 1e6).astype(np.int64)
        lots, cash_micros = _fit_initial_margin(lots, cash_micros, leverage, price_ticks, market)
        achieved = max(lots[side > 0].sum(), lots[side < 0].sum()) * lot_usd
        if achieved <= 0 or abs(achieved / spec.open_interest_usd - 1) < 0.002:
            break
        coll *= spec.open_interest_usd / achieved
    qty = (side * lots).astype(np.int64)

    # market makers take the other side of the directional net, split evenly
    net = int(qty.sum())
    mm_count = spec.market_makers
    mm_qty = [(-net) // mm_count + (1 if i < (-net) % mm_count else 0) for i in range(mm_count)]
    mm_leverage = spec.market_maker_leverage
    if leverage_cap is not None:
        mm_leverage = min(mm_leverage, leverage_cap / LEVERAGE_SCALE)
    mm_cash = [int(abs(q) * lot_usd / mm_leverage * 1e6) + 1_000_000 for q in mm_qty]
    ids = [f"{SEGMENTS[s][:4]}-{i:06d}" for i, s in enumerate(segment)]
    ids += [f"mm-{i:03d}" for i in range(mm_count)]
    ids.append(LIQUIDITY)
    segment = np.concatenate([segment, np.full(mm_count, SEGMENTS.index("market_maker"), np.int8), [-1]]).astype(
        np.int8
    )
    qty = np.concatenate([qty, np.array(mm_qty, np.int64), [0]]).astype(np.int64)
    cash = np.concatenate([cash_micros, np.array(mm_cash, np.int64), [10**15]]).astype(np.int64)
    mm_lev = int(mm_leverage * LEVERAGE_SCALE)
    leverage = np.concatenate([leverage, np.full(mm_count, mm_lev, np.int64), [LEVERAGE_SCALE]]).astype(np.int64)
    cost = qty * price_ticks * k
    members = spec.members
    member = np.concatenate([rng.integers(0, members, size=n), np.arange(mm_count) % members, [0]]).astype(np.int32)
    member_ids = [f"fcm-{j + 1}" for j in range(members)]
    return Population(
        account_ids=ids,
        segment=segment,
        member=member,
        qty=qty,
        cost=cost.astype(np.int64),
        cash=cash,
        leverage=leverage,
        member_ids=member_ids,
        member_capital=np.full(members, int(spec.member_capital_usd * 1e6), np.int64),
        member_default_fund=np.full(members, int(spec.member_default_fund_usd * 1e6), np.int64),
        entry_ticks=price_ticks,
    )
