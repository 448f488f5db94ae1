"""The vectorized stress engine: one rule, two speeds (DESIGN.md, docs/lab.md).

Mark-to-market and the maintenance check run over every account at once (numpy, exact
int64 arithmetic); the few accounts below maintenance at a step are then liquidated one
by one, in account-id order, with the *same* functions the Venue uses
(:mod:`onshore.clearing.liquidation`: bankruptcy price, the lots that restore
maintenance, the ADL ranking, the pro-rata splits) and the same stages and loss layers
(:mod:`onshore.venue.liquidation`). The book is replaced by a liquidity account that
takes liquidation flow: at the mark when price impact is off, or along a linear depth
curve when it is on — a book laid at each step's price, ``depth_lots_per_tick`` lots at
each tick, what the step's liquidations took staying taken. The mark is the step's price,
as the Venue's median mark keeps it (``mark_follows_fills`` moves it to each last fill
instead: a harsher model with no Venue counterpart); the cascade iterates to a fixed point
within the step. Tests hold the engine and the event-driven Venue to the same numbers to
the micro-dollar with impact off and with impact on against a Venue whose book is the
depth curve, and within one tick when that book has two sides (docs/lab.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from onshore.clearing.liquidation import (
    adl_prices,
    adl_score,
    bankruptcy_price,
    capped_pro_rata,
    lots_to_restore,
    pro_rata,
    rank_for_adl,
    take_in_order,
)
from onshore.clearing.margin import Tiers
from onshore.core.events import LOSS_LAYERS
from onshore.core.spec import MarketSpec
from onshore.core.units import PPB, div_ceil, div_floor
from onshore.lab.population import LIQUIDITY, SEGMENTS, Population
from onshore.venue.liquidation import FUND_HOUSE, HOUSE_PREFIX, HOUSE_SEGMENT

LAYERS = LOSS_LAYERS
_E9 = 10**9


@dataclass(frozen=True)
class Policy:
    """The rules under study (defaults: the Venue's built-in configuration)."""

    loss_model: str = "us_clearing"
    adl_ranking: str = "pnl_leverage"
    leverage_cap: int | None = None  # hundredths; None: the segments' own caps
    insurance_fund_micros: int = 0
    clearing_house_capital_micros: int = 10_000_000 * 10**6
    liquidation_fee_ppb: int = 5_000_000
    liquidation_slice_micros: int = 1_000_000 * 10**6
    assessment_multiple_ppb: int = PPB
    price_band_ppb: int = 50_000_000
    market_protection_ppb: int = 20_000_000
    impact: bool = False
    depth_lots_per_tick: int = 50
    mark_follows_fills: bool = False  # with impact: the mark moves to each last fill (harsher than the Venue)
    max_order_lots: int = 5_000


@dataclass
class Liquidated:
    """One liquidation step, for plots and tables."""

    step: int
    account: str
    segment: str
    lots: int
    price_ticks: int
    stage: str


@dataclass
class RunResult:
    """What one scenario under one policy produced (amounts in micro-dollars)."""

    by_layer: dict[str, int]
    by_segment: dict[str, int]
    uncovered: int
    liquidations: list[Liquidated]
    liquidated_accounts: int
    liquidated_notional: int
    adl_count: int
    member_defaults: list[str]
    member_stress_loss: dict[str, int]  # Σ deficits of each member's customers (before any layer)
    insurance_fund_path: list[int]
    mark_path: list[int]
    steps_with_liquidations: list[int] = field(default_factory=list)

    @property
    def total_loss(self) -> int:
        return sum(self.by_layer.values()) + self.uncovered


def maintenance_vec(tiers: Tiers, notional: np.ndarray) -> np.ndarray:
    """Tier maintenance margin of absolute notionals (int64 micro-dollars), exactly as :meth:`Tiers.maintenance`.

    ``⌈(N × rate − deduction) / 10⁹⌉`` in int64 without overflow: N is split into whole
    dollars and micro-dollars so no product exceeds 2⁶³.
    """
    n = np.asarray(notional, dtype=np.int64)
    if n.size and int(n.max()) >= (2**63 - 1) // max(tiers.mm_rate) * 1_000_000:
        raise ValueError("a notional beyond the exact int64 range (about $37bn at a 25 % maintenance rate)")
    caps = np.array(tiers.caps[:-1], dtype=np.int64)
    idx = np.searchsorted(caps, n, side="right")
    rate = np.array(tiers.mm_rate, dtype=np.int64)[idx]
    ded_q = np.array([d // _E9 for d in tiers.mm_deduction], dtype=np.int64)[idx]
    ded_r = np.array([d % _E9 for d in tiers.mm_deduction], dtype=np.int64)[idx]
    a, b = np.divmod(n, 10**6)
    q1, r1 = np.divmod(a * rate, 1000)
    x = r1 * 10**6 + b * rate - ded_r
    mm = (q1 - ded_q) - ((-x) // _E9)
    return np.where(n > 0, mm, 0)


def _fill(qty: int, cost: int, signed: int, price: int, k: int) -> tuple[int, int, int]:
    """:meth:`onshore.clearing.accounts.Holding.apply_fill` on plain ints: (qty, cost, realized)."""
    value = signed * price * k
    if qty == 0 or (qty > 0) == (signed > 0):
        return qty + signed, cost + value, 0
    closing = min(abs(signed), abs(qty))
    removed = -((-cost * closing) // abs(qty))
    realized = (closing if qty > 0 else -closing) * price * k - removed
    cost -= removed
    new_qty = qty + signed
    if (new_qty > 0) != (qty > 0) and new_qty != 0:
        cost = new_qty * price * k
    return new_qty, cost, realized


class Engine:
    """One scenario under one policy, on a copy of a population."""

    def __init__(self, population: Population, market: MarketSpec, policy: Policy) -> None:
        self.pop = population.copy()
        self.market = market
        self.policy = policy
        self.houses = self._add_houses()
        self.tiers = Tiers(market)
        self.k = market.micros_per_tick_lot
        self.ids = self.pop.account_ids
        self.order = sorted(range(len(self.ids)), key=lambda i: self.ids[i])
        self.rank_of = {i: r for r, i in enumerate(self.order)}
        self.liquidity = self.ids.index(LIQUIDITY)
        self.insurance_fund = policy.insurance_fund_micros
        self.ch_capital = policy.clearing_house_capital_micros
        self.contributions = self.pop.member_default_fund.copy()
        self.assessed = np.zeros(len(self.pop.member_ids), np.int64)
        self.defaulted: set[int] = set()
        self.by_layer = dict.fromkeys(LAYERS, 0)
        self.by_segment = dict.fromkeys((*SEGMENTS, LIQUIDITY), 0)
        self.uncovered = 0
        self.liquidations: list[Liquidated] = []
        self.liquidated_accounts: set[int] = set()
        self.liquidated_notional = 0
        self.adl_count = 0
        self.rounding = 0  # the Venue's rounding account: pays the sub-tick-lot remainders of ADL
        self.member_stress = np.zeros(len(self.pop.member_ids), np.int64)
        self.mark = population.entry_ticks
        self.prev_mark = population.entry_ticks  # the mark before the current step (the Venue: before the command)
        self.step = 0
        self.path_price = population.entry_ticks  # where this step's depth curve starts
        self.consumed = {True: 0, False: 0}  # lots taken from the curve this step: sells (bids), buys (asks)

    # ------------------------------------------------------------------ measuring
    def equity_all(self) -> np.ndarray:
        p = self.pop
        equity: np.ndarray = p.cash + p.qty * self.mark * self.k - p.cost
        return equity

    def equity(self, i: int) -> int:
        p = self.pop
        return int(p.cash[i]) + int(p.qty[i]) * self.mark * self.k - int(p.cost[i])

    def maintenance(self, i: int) -> int:
        if i in self.houses:
            return 0  # a house account has no maintenance of its own: it is liquidated at negative equity
        return self.tiers.maintenance(abs(int(self.pop.qty[i])) * self.mark * self.k)

    def _add_houses(self) -> set[int]:
        """Rows for the Venue's house accounts, flat and empty: the insurance fund's (offshore) or
        each member's (US clearing), which take over positions nobody will take (:meth:`_take_over`)."""
        p = self.pop
        if self.policy.loss_model == "offshore":
            houses = [(FUND_HOUSE, 0)]
        else:
            houses = [(HOUSE_PREFIX + m, n) for n, m in enumerate(p.member_ids)]
        first = len(p.account_ids)
        n = len(houses)
        p.account_ids.extend(h for h, _ in houses)
        p.segment = np.append(p.segment, np.full(n, SEGMENTS.index(HOUSE_SEGMENT), p.segment.dtype))
        p.member = np.append(p.member, np.array([m for _, m in houses], p.member.dtype))
        for name in ("qty", "cost", "cash"):
            setattr(p, name, np.append(getattr(p, name), np.zeros(n, getattr(p, name).dtype)))
        p.leverage = np.append(p.leverage, np.full(n, 100, p.leverage.dtype))
        return set(range(first, first + n))

    def below_maintenance(self) -> list[int]:
        """Accounts below maintenance at the current mark, in account-id order (vectorized)."""
        p = self.pop
        equity = self.equity_all()
        mm = maintenance_vec(self.tiers, np.abs(p.qty) * self.mark * self.k)
        mm[sorted(self.houses)] = 0
        idx = np.nonzero((p.qty != 0) & (equity < mm))[0]
        return sorted((int(i) for i in idx if i != self.liquidity), key=lambda i: self.ids[i])

    # ------------------------------------------------------------------ running
    def run(self, path_ticks: np.ndarray) -> RunResult:
        """Mark every account to each price of the path; liquidate and allocate losses as they fall."""
        if_path: list[int] = []
        mark_path: list[int] = []
        steps: list[int] = []
        for step, price in enumerate(path_ticks.tolist()):
            self.step = step
            self.prev_mark = self.mark
            self.mark = self.path_price = int(price)
            self.consumed = {True: 0, False: 0}  # the curve is laid afresh at each step (transient impact)
            self._offload_houses()
            any_liquidation = False
            for _round in range(10_000):
                candidates = self.below_maintenance()
                if not candidates:
                    break
                for i in candidates:
                    if self.equity(i) < self.maintenance(i) and self.pop.qty[i] != 0:
                        any_liquidation = True
                        self.liquidate(i)
            if any_liquidation:
                steps.append(step)
            if_path.append(self.insurance_fund)
            mark_path.append(self.mark)
        p = self.pop
        return RunResult(
            by_layer=dict(self.by_layer),
            by_segment={k: v for k, v in self.by_segment.items() if v},
            uncovered=self.uncovered,
            liquidations=self.liquidations,
            liquidated_accounts=len(self.liquidated_accounts),
            liquidated_notional=self.liquidated_notional,
            adl_count=self.adl_count,
            member_defaults=[p.member_ids[m] for m in sorted(self.defaulted)],
            member_stress_loss={p.member_ids[m]: int(v) for m, v in enumerate(self.member_stress)},
            insurance_fund_path=if_path,
            mark_path=mark_path,
            steps_with_liquidations=steps,
        )

    # ------------------------------------------------------------------ one account
    def liquidate(self, i: int) -> set[int]:
        """The Venue's stages for account ``i`` (cross margin, one market). Returns the accounts touched."""
        touched = {i}
        equity = self.equity(i)
        p = self.pop
        ref = int(p.cash[i]) + int(p.qty[i]) * self.prev_mark * self.k - int(p.cost[i])  # before this step's move
        start = max(ref if equity <= 0 else equity, 0)
        self.liquidated_accounts.add(i)
        for _ in range(10_000):
            qty = int(self.pop.qty[i])
            if not qty:
                break
            equity = self.equity(i)
            if equity >= self.maintenance(i):
                break
            if equity > 0 and self._within_bankruptcy(i, equity):
                continue
            touched |= self._with_loss_model(i)
        end = self.equity(i)
        consumed = start - max(0, end)
        if consumed > 0 and i not in self.houses:  # a house's equity was a trader's, counted then
            self._record("trader", consumed, i)
        if end < 0:
            self.uncovered += -end
            self.by_segment[self.pop.segment_name(i)] += -end
        return touched

    def _within_bankruptcy(self, i: int, equity: int) -> bool:
        qty = int(self.pop.qty[i])
        mark, k = self.mark, self.k
        bankrupt = bankruptcy_price(qty, equity, mark, k)
        need = lots_to_restore(qty, equity, 0, mark, k, self.tiers.maintenance, self.policy.liquidation_fee_ppb)
        slice_lots = max(1, self.policy.liquidation_slice_micros // max(1, mark * k))
        lots = min(need, slice_lots, abs(qty), self.policy.max_order_lots)
        stage = "full" if lots == abs(qty) else "partial"
        return bankrupt > 0 and self._book_close(i, lots, bankrupt, stage) > 0

    def _offload_houses(self) -> None:
        """The Venue's ``offload_houses``: each house row works its position off through the book,
        down (up) to the market-protection limit from the mark or its bankruptcy price, whichever
        is nearer, without a liquidation fee; a house with no equity waits for liquidation."""
        mark = self.mark
        prot = div_floor(mark * self.policy.market_protection_ppb, PPB)
        for h in sorted(self.houses, key=lambda i: self.ids[i]):
            qty = int(self.pop.qty[h])
            equity = self.equity(h)
            if not qty or equity <= 0:
                continue
            left = abs(qty)
            bankrupt = bankruptcy_price(qty, equity, mark, self.k)
            limit = max(mark - prot, bankrupt) if qty > 0 else min(mark + prot, bankrupt)
            while left > 0:
                want = min(left, self.policy.max_order_lots)
                if self._book_close(h, want, limit, "house_offload", fee_due=False) < want:
                    break
                left = abs(int(self.pop.qty[h]))

    def _book_close(self, i: int, lots: int, limit: int, stage: str, fee_due: bool = True) -> int:
        """Sell (buy) through the liquidity account down (up) to ``limit``; the fee (if due); the impact."""
        p = self.pop
        qty = int(p.qty[i])
        sell = qty > 0
        mark = self.mark
        width = div_floor(mark * self.policy.price_band_ppb, PPB)
        limit = max(limit, mark - width) if sell else min(limit, mark + width)
        if limit <= 0 or lots <= 0:
            return 0
        if not self.policy.impact:
            if (sell and mark < limit) or (not sell and mark > limit):
                return 0
            fills = [(mark, lots)]
        else:
            fills = self._walk(lots, limit, sell)
        filled = sum(q for _, q in fills)
        if not filled:
            return 0
        notional = 0
        for price, q in fills:
            self._transfer(i, self.liquidity, q, price)
            notional += price * q * self.k
        fee = min(div_ceil(notional * self.policy.liquidation_fee_ppb, PPB), max(0, self.equity(i))) if fee_due else 0
        if fee > 0:
            p.cash[i] -= fee
            self.insurance_fund += fee
        self.liquidated_notional += notional
        self.liquidations.append(Liquidated(self.step, self.ids[i], p.segment_name(i), filled, limit, stage))
        if self.policy.impact and self.policy.mark_follows_fills:
            self.mark = fills[-1][0]
        return filled

    def _walk(self, lots: int, limit: int, sell: bool) -> list[tuple[int, int]]:
        """Fills along the depth curve: ``depth_lots_per_tick`` lots at each tick from the step's price.

        The curve is a book laid at the step's path price: bids at ``P, P − 1, …`` for sells,
        asks at ``P, P + 1, …`` for buys, ``depth`` lots each. What earlier liquidations of the
        step took stays taken, so the ``n``-th lot sold in a step fills at
        ``P − ⌊(n − 1) / depth⌋`` whatever the order sizes (the kernel's fixed point counts the
        same way).
        """
        depth = self.policy.depth_lots_per_tick
        out: list[tuple[int, int]] = []
        taken = self.consumed[sell]
        step = -1 if sell else 1
        left = lots
        while left > 0:
            level, used = divmod(taken, depth)
            price = self.path_price + step * level
            if price <= 0 or (sell and price < limit) or (not sell and price > limit):
                break
            q = min(left, depth - used)
            out.append((price, q))
            left -= q
            taken += q
        self.consumed[sell] = taken
        return out

    def _transfer(self, i: int, j: int, lots: int, price: int) -> None:
        """Close ``lots`` of account i's position against account j at ``price`` (realized PnL to cash)."""
        p = self.pop
        sign = 1 if p.qty[i] > 0 else -1
        for a, signed in ((i, -sign * lots), (j, sign * lots)):
            q, c, realized = _fill(int(p.qty[a]), int(p.cost[a]), signed, price, self.k)
            p.qty[a], p.cost[a] = q, c
            p.cash[a] += realized

    def _capacity(self, i: int) -> int:
        if self.policy.loss_model == "offshore":
            return max(0, self.insurance_fund)
        p = self.pop
        m = int(p.member[i])
        total = max(0, int(p.member_capital[m])) + max(0, int(p.member_default_fund[m])) + max(0, self.ch_capital)
        for o in self._others(m):
            total += max(0, int(p.member_default_fund[o])) + self._room(o)
        return total

    def _others(self, m: int) -> list[int]:
        names = self.pop.member_ids
        return sorted((o for o in range(len(names)) if o != m and o not in self.defaulted), key=lambda o: names[o])

    def _room(self, o: int) -> int:
        cap = div_floor(int(self.contributions[o]) * self.policy.assessment_multiple_ppb, PPB)
        return max(0, min(cap - int(self.assessed[o]), int(self.pop.member_capital[o])))

    def _with_loss_model(self, i: int) -> set[int]:
        p = self.pop
        touched = {i}
        qty = int(p.qty[i])
        mark, k = self.mark, self.k
        equity = self.equity(i)
        reach = bankruptcy_price(qty, equity + self._capacity(i), mark, k)
        prot = div_floor(mark * self.policy.market_protection_ppb, PPB)
        protection = mark - prot if qty > 0 else mark + prot
        limit = max(reach, protection) if qty > 0 else min(reach, protection)
        left = abs(qty)
        while left > 0:  # in orders of at most the market's maximum order size, as the Venue sends them
            want = min(left, self.policy.max_order_lots)
            if self._book_close(i, want, limit, "market") < want:
                break
            left = abs(int(p.qty[i]))
        if p.qty[i] and int(p.qty[i]) != qty:
            return touched  # the book took part: the caller looks again, as the Venue does
        deficit = -self.equity(i)
        if deficit > 0:
            self.member_stress[int(p.member[i])] += deficit
        self._cover(i)
        if p.qty[i] and self.equity(i) >= 0 and (i in self.houses or self._take_over(i)):
            return touched  # a house carries its position on; or the fund or the member took it over
        if p.qty[i]:
            if self.policy.loss_model == "offshore":
                touched |= self._adl(i)
            else:
                touched |= self._haircut_and_tear_up(i)
        return touched

    def _take_over(self, i: int) -> bool:
        """The Venue's takeover (docs/liquidation.md): the insurance fund at the bankruptcy price
        within its balance (offshore), or the account's member at the mark if its capital covers
        the house's maintenance afterwards (US clearing). False if neither can."""
        p = self.pop
        qty = int(p.qty[i])
        mark, k = self.mark, self.k
        offshore = self.policy.loss_model == "offshore"
        m = int(p.member[i])
        if not offshore and m in self.defaulted:
            return False
        house = self.ids.index(FUND_HOUSE if offshore else HOUSE_PREFIX + p.member_ids[m])
        carried = int(p.qty[house]) + qty
        if offshore:
            if abs(carried) * mark * k > self.insurance_fund:
                return False
        elif int(p.member_capital[m]) < self.tiers.maintenance(abs(carried) * mark * k):
            return False
        lots = abs(qty)
        fills = [(FUND_HOUSE, lots, mark)]
        if offshore:
            room = div_floor(mark * self.policy.market_protection_ppb, PPB)
            equity = min(max(0, self.equity(i)), room * lots * k)
            fills = adl_prices([(FUND_HOUSE, lots)], equity, mark, k, qty < 0)
        for _, q, price in fills:
            self._transfer(i, house, q, price)
            self.liquidations.append(Liquidated(self.step, self.ids[i], p.segment_name(i), q, price, "takeover"))
        return True

    def _record(self, layer: str, amount: int, i: int) -> None:
        self.by_layer[layer] += amount
        self.by_segment[self.pop.segment_name(i)] += amount

    def _cover(self, i: int) -> None:
        p = self.pop
        deficit = -self.equity(i)
        if deficit <= 0:
            return

        def take(layer: str, available: int) -> int:
            nonlocal deficit
            amount = min(deficit, max(0, available))
            if amount > 0:
                p.cash[i] += amount
                deficit -= amount
                self._record(layer, amount, i)
            return amount

        if self.policy.loss_model == "offshore":
            self.insurance_fund -= take("insurance_fund", self.insurance_fund)
            return
        m = int(p.member[i])
        if m not in self.defaulted:
            p.member_capital[m] -= take("member_capital", int(p.member_capital[m]))
            if deficit > 0:
                self.defaulted.add(m)
        p.member_default_fund[m] -= take("member_default_fund", int(p.member_default_fund[m]))
        self.ch_capital -= take("clearing_house_capital", self.ch_capital)
        others = self._others(m)
        if deficit > 0:
            for o, amount in capped_pro_rata(
                [(p.member_ids[o], int(p.member_default_fund[o])) for o in others], deficit
            ):
                oi = p.member_ids.index(o)
                p.member_default_fund[oi] -= take("mutualised_default_fund", amount)
        if deficit > 0:
            for o, amount in capped_pro_rata([(p.member_ids[o], self._room(o)) for o in others], deficit):
                oi = p.member_ids.index(o)
                paid = take("assessments", amount)
                self.assessed[oi] += paid
                p.member_capital[oi] -= paid

    def _opposite(self, i: int) -> list[int]:
        p = self.pop
        sign = 1 if p.qty[i] > 0 else -1
        return [j for j in self.order if j != i and p.qty[j] * sign < 0]

    def _adl(self, i: int) -> set[int]:
        p = self.pop
        qty = int(p.qty[i])
        mark, k = self.mark, self.k
        holders = self._opposite(i)
        if self.policy.adl_ranking == "pro_rata":
            plan = pro_rata([(self.ids[j], abs(int(p.qty[j]))) for j in holders], abs(qty))
        else:
            scored = []
            for j in holders:
                qj, cj = int(p.qty[j]), int(p.cost[j])
                upnl = qj * mark * k - cj
                scored.append((self.ids[j], adl_score(upnl, cj, abs(qj) * mark * k, self.equity(j)), abs(qj)))
            plan = take_in_order(rank_for_adl(scored), abs(qty))
        touched = {i}
        deficit = max(0, -self.equity(i))
        for other_id, lots, price in adl_prices(plan, deficit, mark, k, qty > 0):
            j = self.ids.index(other_id)
            loss = abs(price - mark) * lots * k
            self._transfer(i, j, lots, price)
            self.adl_count += 1
            self.liquidations.append(Liquidated(self.step, self.ids[i], p.segment_name(i), lots, price, "adl"))
            if loss:
                self._record("adl", loss, i)
            touched.add(j)
        crumb = -self.equity(i)
        if deficit and 0 < crumb < k:  # below one tick-lot: the Venue's rounding account pays it
            p.cash[i] += crumb
            self.rounding -= crumb
            self._record("adl", crumb, i)
        return touched

    def _haircut_and_tear_up(self, i: int) -> set[int]:
        p = self.pop
        mark, k = self.mark, self.k
        touched = {i}
        deficit = -self.equity(i)
        holders = self._opposite(i)
        if deficit > 0:
            gains = [(self.ids[j], int(p.qty[j]) * mark * k - int(p.cost[j])) for j in holders]
            for other_id, amount in capped_pro_rata(gains, deficit):
                j = self.ids.index(other_id)
                p.cost[j] += amount
                p.cash[i] += amount
                self._record("vm_haircut", amount, i)
                touched.add(j)
        qty = int(p.qty[i])
        plan = pro_rata([(self.ids[j], abs(int(p.qty[j]))) for j in holders], abs(qty))
        for other_id, lots in plan:
            j = self.ids.index(other_id)
            self._transfer(i, j, lots, mark)
            self.liquidations.append(Liquidated(self.step, self.ids[i], p.segment_name(i), lots, mark, "tear_up"))
            touched.add(j)
        return touched


def run_scenario(population: Population, market: MarketSpec, policy: Policy, path_ticks: np.ndarray) -> RunResult:
    """Run one scenario path under one policy on a copy of ``population``."""
    return Engine(population, market, policy).run(path_ticks)
