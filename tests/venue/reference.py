"""A slow, obviously-correct model of the clearing rules, driven only by the Venue's events.

It reads docs/clearing.md, docs/liquidation.md and the raw configuration (decimal strings,
as a person would), not the Venue's integer specs: exact ``Fraction`` arithmetic, every
rounding written where the documentation names it. Fed the events of every command, it
knows what the state document must say — cash, positions, unrealized PnL, isolated margin,
equity, open orders, every ledger balance, the loss attribution — and what the margin
rules allow (withdrawable collateral, excess over initial margin, the pre-trade check), so
the property tests can compare the Venue with it after every step.

Where the events leave something implicit, the model derives it the documented way: a
liquidation's fee (``liquidation_fee`` on the notional its order filled, capped at the
equity left) and the account a loss layer pays (the account of the liquidation episode
under way, named by its liquidation order) are in no event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

from onshore.core import events as e
from onshore.core.spec import VenueConfig

MICROS = 10**6
MONEY_LAYERS = {
    "insurance_fund",
    "member_capital",
    "member_default_fund",
    "clearing_house_capital",
    "mutualised_default_fund",
    "assessments",
}
LAYERS = (
    "trader",
    "insurance_fund",
    "adl",
    "member_capital",
    "member_default_fund",
    "clearing_house_capital",
    "mutualised_default_fund",
    "assessments",
    "vm_haircut",
)
SYSTEM = ("clearing_house_capital", "fee_income", "insurance_fund", "rounding", "variation_settlement")


@lru_cache(maxsize=1 << 16)
def micros(text: str) -> int:
    """USD decimal string -> integer micro-dollars (must be exact)."""
    value = Fraction(text) * MICROS
    assert value.denominator == 1, f"{text} is not a whole number of micro-dollars"
    return int(value)


def usd(amount_micros: int) -> Fraction:
    return Fraction(amount_micros, MICROS)


@lru_cache(maxsize=1 << 16)
def dec(text: str) -> Fraction:
    """A decimal string as an exact Fraction (cached: the same strings come back every step)."""
    return Fraction(text)


@lru_cache(maxsize=1 << 16)
def average_price(cost: int, qty: int, k: int, tick: Fraction) -> Fraction:
    """Average entry price in USD of a position: cost / (qty × K) ticks."""
    return Fraction(cost, qty * k) * tick


@dataclass
class Tier:
    cap_micros: int | None
    max_leverage: Fraction
    initial_rate: Fraction
    initial_deduction: Fraction  # micro-dollars
    maintenance_rate: Fraction
    maintenance_deduction: Fraction


class MarketModel:
    """One market's grid, fees and margin tiers, read from the raw configuration."""

    def __init__(self, name: str, raw: dict[str, Any], index_raw: dict[str, Any]) -> None:
        self.name = name
        self._ticks: dict[str, int] = {}
        self._lots: dict[str, int] = {}
        self.index = raw["index"]
        self.tick = Fraction(raw["tick_size"])
        self.lot = Fraction(raw["lot_size"])
        self.contract = Fraction(raw["contract_size"])
        k = self.tick * self.lot * self.contract * MICROS
        assert k.denominator == 1
        self.k = int(k)  # micro-dollars per tick-lot
        self.maker_rate = Fraction(raw["maker_fee"])
        self.taker_rate = Fraction(raw["taker_fee"])
        self.price_band = Fraction(raw["price_band"])
        self.market_protection = Fraction(raw["market_protection"])
        self.max_order_lots = self.lots(raw["max_order_qty"])
        self.position_limits = {seg: self.lots(q) for seg, q in raw.get("position_limits", {}).items()}
        self.funding_cap = Fraction(raw["funding"]["cap"])
        self.funding_interval_ms = int(raw["funding"]["interval_ms"])
        self.index_tick = Fraction(index_raw.get("tick_size", "0.01"))
        self.tiers: list[Tier] = []
        floor = 0
        prev_im = prev_mm = Fraction(0)
        im_ded = mm_ded = Fraction(0)
        for t in raw["margin_tiers"]:
            lev = Fraction(t["max_leverage"])
            im = 1 / lev
            mm = Fraction(t["maintenance_rate"])
            im_ded += floor * (im - prev_im)
            mm_ded += floor * (mm - prev_mm)
            cap = micros(t["max_notional"]) if "max_notional" in t else None
            self.tiers.append(Tier(cap, lev, im, im_ded, mm, mm_ded))
            prev_im, prev_mm = im, mm
            floor = cap if cap is not None else floor

    # -------------------------------------------------------------- grids
    def ticks(self, price: str) -> int:
        ticks = self._ticks.get(price)
        if ticks is None:
            value = Fraction(price) / self.tick
            assert value.denominator == 1, f"{price} is off the {self.name} tick grid"
            ticks = self._ticks[price] = int(value)
        return ticks

    def lots(self, qty: str) -> int:
        lots = self._lots.get(qty)
        if lots is None:
            value = Fraction(qty) / self.lot
            assert value.denominator == 1, f"{qty} is off the {self.name} lot grid"
            lots = self._lots[qty] = int(value)
        return lots

    def index_to_ticks(self, index_price: str) -> int:
        """The index in market ticks, rounded to the nearest, ties to even (docs/pricing.md)."""
        return round(Fraction(index_price) / self.tick)

    # -------------------------------------------------------------- margin (docs/clearing.md)
    def tier_for(self, notional: int) -> Tier:
        for tier in self.tiers:
            if tier.cap_micros is None or notional < tier.cap_micros:
                return tier
        return self.tiers[-1]

    def max_leverage_at(self, notional: int) -> Fraction:
        return self.tier_for(abs(notional)).max_leverage

    def initial_margin(self, notional: int, leverage: Fraction) -> int:
        """IM(N) = max(⌈N / L⌉, ⌈N × rate − deduction⌉) of the tier N falls in."""
        n = abs(notional)
        if n == 0:
            return 0
        tier = self.tier_for(n)
        return max(math.ceil(n / leverage), math.ceil(n * tier.initial_rate - tier.initial_deduction))

    def maintenance_margin(self, notional: int) -> int:
        n = abs(notional)
        if n == 0:
            return 0
        tier = self.tier_for(n)
        return math.ceil(n * tier.maintenance_rate - tier.maintenance_deduction)

    def fee(self, notional: int, rate: Fraction) -> int:
        """A fee owed rounds up; a rebate (negative rate) is paid rounded down in magnitude."""
        if rate >= 0:
            return math.ceil(notional * rate)
        return -math.floor(notional * -rate)

    def cases(self, qty: int, mark: int | None, buys: list[tuple[int, int]], sells: list[tuple[int, int]]) -> list[int]:
        """Notionals of the two worst cases: every buy fills, every sell fills.

        The position the case leaves, at the mark (none yet: 0), plus the premium of the lots
        the orders open: the side's orders together pay ``max(0, Σ (price − mark) × lots × K)``
        above the mark, and each of the side's lots carries an equal share of it; the lots
        that only close the position carry none. The share is rounded up.
        """
        m = mark or 0
        out = []
        for sign, orders in ((1, buys), (-1, sells)):
            side = sum(q for _, q in orders)
            closing = min(side, max(0, -sign * qty))
            premium = max(0, sum((p - m) * q * self.k for p, q in orders))
            share = math.ceil(Fraction(premium * (side - closing), side)) if side else 0
            out.append(abs(qty + sign * side) * m * self.k + share)
        return out

    def requirement(
        self, qty: int, leverage: Fraction, mark: int | None, buys: list[tuple[int, int]], sells: list[tuple[int, int]]
    ) -> int:
        """Initial margin of the worse of "every buy fills" and "every sell fills"."""
        return max(self.initial_margin(n, leverage) for n in self.cases(qty, mark, buys, sells))

    def worst_case_notional(
        self, qty: int, mark: int | None, buys: list[tuple[int, int]], sells: list[tuple[int, int]]
    ) -> int:
        return max(self.cases(qty, mark, buys, sells))

    def open_loss(self, side: str, lots: int, price: int, mark: int | None) -> int:
        """What an order locks in by buying above the mark or selling below it, charged at placement."""
        if not mark:
            return 0
        gap = price - mark if side == "buy" else mark - price
        return max(0, gap) * lots * self.k


@dataclass
class HoldingModel:
    leverage: Fraction
    mode: str = "cross"
    qty: int = 0
    cost: int = 0  # signed micro-dollars of the open lots


@dataclass
class AccountModel:
    account: str
    member: str
    segment: str
    owner: str
    max_leverage: Fraction
    max_position: int
    markets: list[str]
    holdings: dict[str, HoldingModel] = field(default_factory=dict)


@dataclass
class OrderModel:
    order_id: int
    account: str
    market: str
    client_order_id: str
    side: str
    price: int | None
    qty: int
    open_qty: int
    reduce_only: bool


class ReferenceClearing:
    """Expected venue state, rebuilt from events alone."""

    def __init__(self, config: VenueConfig) -> None:
        raw: dict[str, Any] = config.raw  # type: ignore[assignment]
        self.markets = {
            name: MarketModel(name, m, raw["indices"][m["index"]]) for name, m in sorted(raw["markets"].items())
        }
        clearing = raw["clearing"]
        # every ledger balance, by (kind, key): cash, isolated, member_capital, member_default_fund, system
        self.balances: dict[tuple[str, str], int] = dict.fromkeys((("system", s) for s in SYSTEM), 0)
        self.balances["system", "clearing_house_capital"] = micros(clearing.get("clearing_house_capital", "0"))
        self.balances["system", "insurance_fund"] = micros(clearing["insurance_fund"])
        self.deposits = 0
        self.withdrawals = 0
        self.paid_in = self.balances["system", "clearing_house_capital"] + self.balances["system", "insurance_fund"]
        self.members: set[str] = set()
        self.accounts: dict[str, AccountModel] = {}
        self.orders: dict[int, OrderModel] = {}
        self.by_holding: dict[tuple[str, str], dict[int, OrderModel]] = {}  # the same orders by (account, market)
        self.client_order_ids: dict[str, set[str]] = {}
        self.segment_markets = {name: seg.get("markets") for name, seg in raw["segments"].items()}
        self.marks: dict[str, int | None] = dict.fromkeys(self.markets)
        self.index_ticks: dict[str, int | None] = dict.fromkeys(self.markets)
        self.index_stale: dict[str, bool] = dict.fromkeys(self.markets, False)
        self.index_prices: dict[str, Fraction] = {}
        self.states: dict[str, str] = dict.fromkeys(self.markets, "open")
        self.funding_rates: dict[str, Fraction] = dict.fromkeys(self.markets, Fraction(0))
        self.funding_mark: dict[str, int] = {}
        self.settled: set[str] = set()
        self.pending: set[tuple[str, str, str]] = set()  # (kind, account, market) owed an event this command
        self.loss_attribution: dict[str, int] = dict.fromkeys(LAYERS, 0)
        self.liquidation_fee = Fraction(clearing["liquidation_fee"])
        self.episode: tuple[str, str] | None = None  # (account, market) of the liquidation under way
        self.iso_liquidation: tuple[str, str] | None = None  # the isolated position being liquidated
        self.signal: str | None = None  # the account the last liquidation event named
        self.liquidation_order: int | None = None
        self.liquidation_notional = 0
        self.liquidated: set[str] = set()  # accounts liquidated by the current command
        self.under_water: set[str] = set()  # accounts below maintenance just before a transfer of this command
        self.liquidations = 0  # liquidation events seen, for statistics
        self.liquidation_orders = 0  # liquidation orders accepted: they are numbered -1, -2, … with no gap
        self.uncovered: set[str] = set()  # accounts left with a loss no layer could absorb
        self.odd_transfers: list[str] = []  # transfers at a price ≤ 0 or beyond half or twice the mark
        self.margin_calls = 0
        self._handlers = {
            e.MemberRegistered: self._member,
            e.AccountOpened: self._account,
            e.AccountLimitsSet: self._limits,
            e.CustomerReviewed: self._reviewed,
            # the broker's paperwork: no money, no position, no limit moves
            e.OnboardingRejected: self._nothing,
            e.ReviewRejected: self._nothing,
            e.DisclosureAcknowledged: self._nothing,
            e.DisclosurePublished: self._nothing,
            e.DepositMade: self._deposit,
            e.Withdrawal: self._withdrawal,
            e.LeverageSet: self._leverage,
            e.MarginModeSet: self._mode,
            e.OrderAccepted: self._accepted,
            e.OrderAmended: self._amended,
            e.OrderCancelled: self._cancelled,
            e.Trade: self._trade,
            e.MarkPrice: self._mark,
            e.IndexPrice: self._index,
            e.IndexStale: self._index_stale,
            e.MarketStateChanged: self._state,
            e.FundingRate: self._funding_rate,
            e.FundingPayment: self._funding_payment,
            e.Settlement: self._settlement,
            e.MarginCall: self._margin_call,
            e.Liquidation: self._liquidation,
            e.LossAbsorbed: self._loss_absorbed,
            e.AutoDeleverage: self._auto_deleverage,
            e.MemberDefault: self._member_default,
            e.LossUncovered: self._loss_uncovered,
        }

    # ================================================================== money
    def move(self, src: tuple[str, str], dst: tuple[str, str], amount: int) -> None:
        self.balances[src] = self.balances.get(src, 0) - amount
        self.balances[dst] = self.balances.get(dst, 0) + amount

    def cash(self, account: str) -> int:
        return self.balances.get(("cash", account), 0)

    def isolated(self, account: str, market: str) -> int:
        return self.balances.get(("isolated", f"{account}/{market}"), 0)

    # ================================================================== events in
    def apply(self, event: e.Event) -> None:
        handler = self._handlers.get(type(event))
        assert handler is not None, f"the reference does not know {type(event).__name__}"
        handler(event)

    def holding(self, account: str, market: str) -> HoldingModel:
        a = self.accounts[account]
        h = a.holdings.get(market)
        if h is None:
            h = a.holdings[market] = HoldingModel(min(a.max_leverage, self.markets[market].tiers[0].max_leverage))
        return h

    def _member(self, ev: e.MemberRegistered) -> None:
        assert ev.member not in self.members
        self.members.add(ev.member)
        self.balances["member_capital", ev.member] = micros(ev.capital)
        self.balances["member_default_fund", ev.member] = micros(ev.default_fund)
        self.paid_in += micros(ev.capital) + micros(ev.default_fund)

    def _account(self, ev: e.AccountOpened) -> None:
        assert ev.account not in self.accounts
        assert ev.member in self.members
        self.accounts[ev.account] = AccountModel(
            ev.account,
            ev.member,
            ev.segment,
            ev.owner,
            Fraction(ev.max_leverage),
            micros(ev.max_position_notional),
            list(ev.markets),
        )
        self.balances["cash", ev.account] = 0

    def _limits(self, ev: e.AccountLimitsSet) -> None:
        """Per-customer limits only tighten; a holding above the new maximum leverage is brought down to it."""
        a = self.accounts[ev.account]
        leverage = Fraction(ev.max_leverage)
        assert leverage <= a.max_leverage and micros(ev.max_position_notional) <= a.max_position
        assert set(ev.markets) <= set(a.markets)
        a.max_leverage = leverage
        a.max_position = micros(ev.max_position_notional)
        a.markets = list(ev.markets)
        for h in a.holdings.values():
            h.leverage = min(h.leverage, leverage)

    def _nothing(self, ev: e.Event) -> None:
        pass

    def _reviewed(self, ev: e.CustomerReviewed) -> None:
        """A yearly review may move the account to another segment, with that segment's limits."""
        a = self.accounts[ev.account]
        a.segment = ev.segment
        a.max_leverage = Fraction(ev.max_leverage)
        a.max_position = micros(ev.max_position_notional)
        a.markets = list(self.segment_markets[ev.segment] or self.markets)
        for h in a.holdings.values():
            h.leverage = min(h.leverage, a.max_leverage)

    def _deposit(self, ev: e.DepositMade) -> None:
        amount = micros(ev.amount)
        assert amount > 0
        self.balances["cash", ev.account] += amount
        self.deposits += amount

    def _withdrawal(self, ev: e.Withdrawal) -> None:
        amount = micros(ev.amount)
        assert amount > 0
        self.balances["cash", ev.account] -= amount
        self.withdrawals += amount

    def _leverage(self, ev: e.LeverageSet) -> None:
        self.holding(ev.account, ev.market).leverage = Fraction(ev.leverage)

    def _mode(self, ev: e.MarginModeSet) -> None:
        h = self.holding(ev.account, ev.market)
        assert h.qty == 0 and not self.orders_of(ev.account, ev.market), "margin mode changed with exposure"
        assert self.isolated(ev.account, ev.market) == 0
        h.mode = ev.mode

    def _accepted(self, ev: e.OrderAccepted) -> None:
        assert ev.order_id not in self.orders
        if ev.order_id < 0:
            assert ev.client_order_id.startswith("liquidation-") and ev.reduce_only and ev.time_in_force == "ioc"
            self.liquidation_orders += 1
            assert ev.order_id == -self.liquidation_orders, f"liquidation order {ev.order_id} out of turn"
            self.liquidated.add(ev.account)
            self.start_episode(ev.account, ev.market)
            self.liquidation_order = ev.order_id
            self.liquidation_notional = 0
        m = self.markets[ev.market]
        self.holding(ev.account, ev.market)
        used = self.client_order_ids.setdefault(ev.account, set())
        assert ev.client_order_id not in used, f"client order id {ev.client_order_id} accepted twice"
        used.add(ev.client_order_id)
        self.add_order(
            OrderModel(
                ev.order_id,
                ev.account,
                ev.market,
                ev.client_order_id,
                ev.side,
                None if ev.price is None else m.ticks(ev.price),
                m.lots(ev.qty),
                m.lots(ev.qty),
                ev.reduce_only,
            )
        )

    def _amended(self, ev: e.OrderAmended) -> None:
        o = self.orders[ev.order_id]
        m = self.markets[ev.market]
        assert o.account == ev.account and o.client_order_id == ev.client_order_id
        assert ev.price is not None
        o.price = m.ticks(ev.price)
        o.qty = m.lots(ev.qty)
        o.open_qty = m.lots(ev.open_qty)
        assert 0 < o.open_qty <= o.qty

    def _cancelled(self, ev: e.OrderCancelled) -> None:
        o = self.remove_order(ev.order_id)
        assert o.account == ev.account and o.client_order_id == ev.client_order_id
        assert o.open_qty == self.markets[ev.market].lots(ev.qty), f"order {ev.order_id}: cancelled qty != open qty"
        if ev.reason == "liquidation":
            self.liquidated.add(ev.account)
            self.signal = ev.account

    def _fill_order(self, order_id: int, lots: int) -> None:
        o = self.orders[order_id]
        assert 0 < lots <= o.open_qty
        o.open_qty -= lots
        if not o.open_qty:
            self.remove_order(order_id)

    def _trade(self, ev: e.Trade) -> None:
        m = self.markets[ev.market]
        price = m.ticks(ev.price)
        lots = m.lots(ev.qty)
        assert lots > 0
        assert ev.maker_account != ev.taker_account, "a self-trade went through"
        buy = lots if ev.aggressor_side == "buy" else -lots
        if ev.maker_order_id == 0 and ev.taker_order_id == 0:
            # a position transfer outside the book (backstop, ADL, tear-up): no orders, no fees
            assert ev.maker_fee == "0" and ev.taker_fee == "0"
            mark = self.marks[ev.market]
            if price <= 0 or (mark and not mark / 2 <= price <= mark * 2):
                self.odd_transfers.append(f"{ev.trade_id}: {ev.qty} {ev.market} at {ev.price}, mark {mark}")
            for party in (ev.maker_account, ev.taker_account):
                if party not in self.liquidated and self.below_maintenance(party):
                    self.under_water.add(party)  # seen under water just before the transfer
            self._settle(ev.maker_account, m, -buy, price, 0)
            self._settle(ev.taker_account, m, buy, price, 0)
            return
        maker = self.orders[ev.maker_order_id]
        taker = self.orders[ev.taker_order_id]
        assert maker.account == ev.maker_account and taker.account == ev.taker_account
        assert taker.side == ev.aggressor_side and maker.side != taker.side
        assert price > 0
        assert price == maker.price, "a resting order filled away from its price"
        if taker.price is not None:
            assert (price <= taker.price) if taker.side == "buy" else (price >= taker.price)
        self._fill_order(ev.maker_order_id, lots)
        self._fill_order(ev.taker_order_id, lots)
        notional = price * lots * m.k
        if ev.taker_order_id < 0:
            assert ev.taker_order_id == self.liquidation_order
            self.liquidation_notional += notional
        maker_fee = m.fee(notional, m.maker_rate)
        taker_fee = 0 if ev.taker_order_id < 0 else m.fee(notional, m.taker_rate)  # liquidation orders pay none
        assert micros(ev.maker_fee) == maker_fee, f"maker fee {ev.maker_fee}, expected {usd(maker_fee)}"
        assert micros(ev.taker_fee) == taker_fee, f"taker fee {ev.taker_fee}, expected {usd(taker_fee)}"
        self._settle(ev.maker_account, m, -buy, price, maker_fee)
        self._settle(ev.taker_account, m, buy, price, taker_fee)

    def _settle(self, account: str, m: MarketModel, signed: int, price: int, fee: int) -> None:
        h = self.holding(account, m.name)
        before = h.qty
        after = before + signed
        cash = ("cash", account)
        pnl_to = cash
        if h.mode == "isolated" and self.iso_liquidation == (account, m.name):
            # an isolated position under liquidation keeps its margin and its PnL in its isolated
            # account until the episode ends (docs/liquidation.md)
            pnl_to = ("isolated", f"{account}/{m.name}")
        elif h.mode == "isolated":
            iso = ("isolated", f"{account}/{m.name}")
            opened = abs(signed)
            if before and (before > 0) != (signed > 0):
                closing = min(abs(signed), abs(before))
                release = math.floor(Fraction(self.balances.get(iso, 0) * closing, abs(before)))  # round down
                self.move(iso, cash, release)
                opened = abs(after) if after and (after > 0) != (before > 0) else 0
            if opened:
                self.move(cash, iso, m.initial_margin(opened * price * m.k, h.leverage))
        # average cost: reducing removes ⌈cost × closed / |qty|⌉; a flip closes all, then opens the rest
        realized = 0
        if before == 0 or (before > 0) == (signed > 0):
            h.cost += signed * price * m.k
        else:
            closing = min(abs(signed), abs(before))
            removed = math.ceil(Fraction(h.cost * closing, abs(before)))
            realized = (closing if before > 0 else -closing) * price * m.k - removed
            h.cost -= removed
            if after and (after > 0) != (before > 0):
                assert h.cost == 0
                h.cost = after * price * m.k
            if after == 0:
                assert h.cost == 0, "a closed position left cost behind"
        h.qty = after
        self.move(("system", "variation_settlement"), pnl_to, realized)
        self.move(cash, ("system", "fee_income"), fee)

    def _mark(self, ev: e.MarkPrice) -> None:
        ticks = self.markets[ev.market].ticks(ev.price)
        assert ticks != self.marks[ev.market], "a mark_price event that does not change the mark"
        assert ticks > 0, f"a mark of {ev.price}"
        self.marks[ev.market] = ticks

    def _index(self, ev: e.IndexPrice) -> None:
        self.index_prices[ev.index] = Fraction(ev.price)
        for name, m in self.markets.items():
            if m.index == ev.index:
                self.index_ticks[name] = m.index_to_ticks(ev.price)
                self.index_stale[name] = False

    def _index_stale(self, ev: e.IndexStale) -> None:
        for name, m in self.markets.items():
            if m.index == ev.index:
                self.index_stale[name] = True

    def _state(self, ev: e.MarketStateChanged) -> None:
        self.states[ev.market] = ev.state

    def holders(self, market: str) -> list[str]:
        return sorted(a for a, acct in self.accounts.items() if market in acct.holdings and acct.holdings[market].qty)

    def _funding_rate(self, ev: e.FundingRate) -> None:
        m = self.markets[ev.market]
        assert not any(kind == "funding" and mk == ev.market for kind, _, mk in self.pending)
        rate = Fraction(ev.rate)
        rate_8h = Fraction(ev.rate_8h)
        assert abs(rate_8h) <= m.funding_cap, f"funding rate {ev.rate_8h} per 8 h beyond the cap"
        share = rate_8h * m.funding_interval_ms / (8 * 3_600_000)
        assert rate == Fraction(math.trunc(share * 10**9), 10**9), f"interval rate {ev.rate} from {ev.rate_8h}"
        assert self.marks[ev.market] == m.ticks(ev.mark_price), "funding at a price other than the mark"
        self.funding_rates[ev.market] = rate
        self.funding_mark[ev.market] = m.ticks(ev.mark_price)
        if rate:
            self.pending |= {("funding", a, ev.market) for a in self.holders(ev.market)}

    def _funding_payment(self, ev: e.FundingPayment) -> None:
        """Longs pay shorts at a positive rate; every payment rounds down (against the trader)."""
        key = ("funding", ev.account, ev.market)
        assert key in self.pending, f"an unexpected funding payment {ev}"
        self.pending.discard(key)
        m = self.markets[ev.market]
        h = self.accounts[ev.account].holdings[ev.market]
        exact = -h.qty * self.funding_mark[ev.market] * m.k * self.funding_rates[ev.market]
        amount = micros(ev.amount)
        assert amount == math.floor(exact), f"funding payment {ev.amount}, expected floor({float(exact)}) micros"
        # paid through variation settlement, into the position's own margin if it is isolated; the
        # rounding remainder of the zero-sum split goes to the rounding account
        dst = ("isolated", f"{ev.account}/{ev.market}") if h.mode == "isolated" else ("cash", ev.account)
        self.move(("system", "rounding"), dst, amount)

    def _settlement(self, ev: e.Settlement) -> None:
        """Variation settlement pays unrealized PnL at the mark and resets the cost basis."""
        m = self.markets[ev.market]
        price = m.ticks(ev.price)
        assert price == self.marks[ev.market], "settlement at a price other than the mark"
        if not any(k == "settle" and mk == ev.market for k, _, mk in self.pending):
            self.pending |= {("settle", a, ev.market) for a in self.holders(ev.market)}
        self.settled.add(ev.market)
        key = ("settle", ev.account, ev.market)
        assert key in self.pending, f"an unexpected settlement {ev}"
        self.pending.discard(key)
        h = self.accounts[ev.account].holdings[ev.market]
        value = h.qty * price * m.k
        amount = micros(ev.amount)
        assert amount == value - h.cost, f"settlement {ev.amount}, expected {usd(value - h.cost)}"
        h.cost = value
        dst = ("isolated", f"{ev.account}/{ev.market}") if h.mode == "isolated" else ("cash", ev.account)
        self.move(("system", "variation_settlement"), dst, amount)

    def _margin_call(self, ev: e.MarginCall) -> None:
        self.margin_calls += 1
        assert micros(ev.equity) == self.cross_equity(ev.account), f"margin call equity {ev.equity}"
        assert micros(ev.maintenance) == self.cross_maintenance(ev.account), f"margin call maintenance {ev.maintenance}"
        assert ev.member == self.accounts[ev.account].member

    def payer(self) -> tuple[str, str]:
        """The ledger account of the liquidation under way: the isolated margin, or the cash."""
        assert self.episode is not None, "a liquidation's money moved before any liquidation order"
        account, market = self.episode
        if self.accounts[account].holdings[market].mode == "isolated":
            return "isolated", f"{account}/{market}"
        return "cash", account

    def deficit_payer(self) -> tuple[str, str]:
        """The account a loss layer pays into: the one in deficit. ``loss_absorbed`` does not name it.

        The episode's own account when it is in deficit; otherwise the one part (cross
        account or isolated position) in deficit, preferring the account whose orders the
        liquidation just cancelled (an episode whose orders all failed to reach the book
        has no liquidation order to name it).
        """
        if self.episode is not None and self.episode_equity() < 0:
            return self.payer()
        deficits = []
        for account, a in self.accounts.items():
            if self.cross_equity(account) < 0:
                deficits.append(("cash", account))
            for name, h in a.holdings.items():
                if h.mode == "isolated" and h.qty and self.isolated(account, name) + self.upnl(h, name) < 0:
                    deficits.append(("isolated", f"{account}/{name}"))
        signalled = [d for d in deficits if d[1].split("/")[0] == self.signal]
        found = signalled or deficits
        assert len(found) == 1, f"a loss layer paid into an account in deficit, but which? {found}"
        return found[0]

    def episode_equity(self) -> int:
        assert self.episode is not None
        account, market = self.episode
        h = self.accounts[account].holdings[market]
        if h.mode == "isolated":
            return self.isolated(account, market) + self.upnl(h, market)
        return self.cross_equity(account)

    def start_episode(self, account: str, market: str) -> None:
        """A liquidation order names the episode under way; an isolated one ends the previous one."""
        if self.episode == (account, market):
            return
        self.finish_isolated_episode()
        self.episode = (account, market)
        self.signal = account
        if self.accounts[account].holdings[market].mode == "isolated":
            self.iso_liquidation = (account, market)

    def finish_isolated_episode(self) -> None:
        """After an isolated liquidation, what is left of a closed position's margin goes back to cash."""
        if self.iso_liquidation is None:
            return
        account, market = self.iso_liquidation
        self.iso_liquidation = None
        left = self.isolated(account, market)
        if not self.accounts[account].holdings[market].qty and left > 0:
            self.move(("isolated", f"{account}/{market}"), ("cash", account), left)

    def _liquidation(self, ev: e.Liquidation) -> None:
        assert ev.stage in (
            "partial", "full", "backstop", "market", "adl", "takeover", "tear_up", "house_offload"
        ), ev.stage  # fmt: skip
        if ev.stage == "house_offload":
            # a house account working off what it took over: through the book, no fee, no episode
            assert ev.account.startswith("@") and micros(ev.fee) == 0, ev
            assert self.liquidation_notional > 0
            self.liquidation_notional = 0
            return
        self.liquidations += 1
        self.liquidated.add(ev.account)
        fee = micros(ev.fee)
        if ev.stage in ("partial", "full", "market"):
            # the fee on the notional the liquidation order filled, never more than the equity left
            assert self.episode == (ev.account, ev.market), (self.episode, ev)
            assert self.liquidation_notional > 0
            expected = math.ceil(self.liquidation_notional * self.liquidation_fee)
            expected = min(expected, max(0, self.episode_equity()))
            assert fee == expected, f"liquidation fee {ev.fee}, expected {usd(expected)}"
            self.move(self.payer(), ("system", "insurance_fund"), fee)
            self.liquidation_notional = 0
        else:
            assert fee == 0, ev
            self.start_episode(ev.account, ev.market)

    def _loss_absorbed(self, ev: e.LossAbsorbed) -> None:
        amount = micros(ev.amount)
        assert amount > 0, ev
        assert ev.layer in LAYERS, ev.layer
        self.loss_attribution[ev.layer] += amount
        member = ev.member
        if ev.layer == "trader":
            self.finish_isolated_episode()  # the account's own loss is tallied as its episode ends
            return
        if ev.layer == "adl":
            if ev.account is None:  # the remainder below one tick-lot, from the rounding account
                self.move(("system", "rounding"), self.deficit_payer(), amount)
            return  # otherwise what deleveraging cost a winner: the trade moved the money
        payer = self.deficit_payer()
        if ev.layer == "insurance_fund":
            self.move(("system", "insurance_fund"), payer, amount)
        elif ev.layer == "clearing_house_capital":
            self.move(("system", "clearing_house_capital"), payer, amount)
        elif ev.layer in ("member_capital", "assessments"):
            assert member is not None
            self.move(("member_capital", member), payer, amount)
        elif ev.layer in ("member_default_fund", "mutualised_default_fund"):
            assert member is not None
            self.move(("member_default_fund", member), payer, amount)
        else:
            assert ev.layer == "vm_haircut" and ev.account is not None
            # the opposite holder's unpaid gain is cut: its cost basis rises by the amount. The event
            # does not name the market: the one where the account in deficit and the holder are opposite
            account = payer[1].split("/")[0]
            other = self.accounts[ev.account].holdings
            markets = [
                name
                for name, mine in self.accounts[account].holdings.items()
                if mine.qty
                and name in other
                and other[name].qty * mine.qty < 0
                and self.upnl(other[name], name) >= amount
            ]
            if self.episode is not None and self.episode[0] == account and self.episode[1] in markets:
                markets = [self.episode[1]]
            assert len(markets) == 1, f"a vm_haircut on {ev.account}: in which market? {markets}"
            market = markets[0]
            h = other[market]
            h.cost += amount
            self.move(("system", "variation_settlement"), payer, amount)

    def _auto_deleverage(self, ev: e.AutoDeleverage) -> None:
        if ev.counterparty not in self.liquidated:
            # an account with no orders to cancel whose liquidation order the book could not take
            # (its limit beyond the price band) is first heard of here: it must have been under
            # water just before the ADL transfer (the trade event before this one)
            assert ev.counterparty in self.under_water, ev
            self.liquidated.add(ev.counterparty)

    def _member_default(self, ev: e.MemberDefault) -> None:
        assert ev.member in self.members

    def _loss_uncovered(self, ev: e.LossUncovered) -> None:
        self.liquidated.add(ev.account)
        self.uncovered.add(ev.account)
        self.finish_isolated_episode()

    # ================================================================== per command
    def begin_command(self) -> None:
        self.liquidated = set()
        self.under_water = set()
        self.episode = None
        self.iso_liquidation = None
        self.liquidation_order = None

    def end_command(self) -> None:
        """After every accepted command: every holder owed a payment or a settlement got one."""
        self.finish_isolated_episode()
        assert not self.pending, f"missing funding payments or settlements: {sorted(self.pending)}"

    # ================================================================== margin questions
    def add_order(self, order: OrderModel) -> None:
        self.orders[order.order_id] = order
        self.by_holding.setdefault((order.account, order.market), {})[order.order_id] = order

    def remove_order(self, order_id: int) -> OrderModel:
        order = self.orders.pop(order_id)
        del self.by_holding[order.account, order.market][order_id]
        return order

    def orders_of(self, account: str, market: str) -> list[OrderModel]:
        return list(self.by_holding.get((account, market), {}).values())

    def upnl(self, h: HoldingModel, market: str) -> int:
        m = self.markets[market]
        return h.qty * (self.marks[market] or 0) * m.k - h.cost

    def cross_upnl(self, account: str) -> int:
        a = self.accounts[account]
        return sum(self.upnl(h, name) for name, h in a.holdings.items() if h.mode == "cross" and h.qty)

    def cross_equity(self, account: str) -> int:
        return self.cash(account) + self.cross_upnl(account)

    def cross_maintenance(self, account: str) -> int:
        a = self.accounts[account]
        return sum(
            self.markets[name].maintenance_margin(h.qty * (self.marks[name] or 0) * self.markets[name].k)
            for name, h in a.holdings.items()
            if h.mode == "cross" and h.qty
        )

    def below_maintenance(self, account: str) -> list[str]:
        """The parts of the account (cross, or an isolated market) below maintenance margin."""
        a = self.accounts[account]
        out = []
        for name, h in a.holdings.items():
            if h.mode == "isolated" and h.qty:
                m = self.markets[name]
                equity = self.isolated(account, name) + self.upnl(h, name)
                if equity < m.maintenance_margin(h.qty * (self.marks[name] or 0) * m.k):
                    out.append(name)
        crossed = any(h.qty and h.mode == "cross" for h in a.holdings.values())
        # a house account (taken-over positions, id "@…") has no maintenance: the fund or its member backs it
        maintenance = 0 if account.startswith("@") else self.cross_maintenance(account)
        if crossed and self.cross_equity(account) < maintenance:
            out.append("cross")
        return out

    def sides(self, account: str, market: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        orders = self.orders_of(account, market)
        buys = [(o.price, o.open_qty) for o in orders if o.side == "buy" and o.price is not None]
        sells = [(o.price, o.open_qty) for o in orders if o.side == "sell" and o.price is not None]
        return buys, sells

    def market_requirement(self, account: str, market: str) -> int:
        h = self.accounts[account].holdings.get(market)
        if h is None:
            return 0
        buys, sells = self.sides(account, market)
        return self.markets[market].requirement(h.qty, h.leverage, self.marks[market], buys, sells)

    def cross_requirement(self, account: str, skip: str | None = None) -> int:
        a = self.accounts[account]
        return sum(
            self.market_requirement(account, name)
            for name, h in a.holdings.items()
            if h.mode == "cross" and name != skip
        )

    def isolated_order_reserve(self, account: str, skip: str | None = None) -> int:
        """The margin the isolated open orders would draw from cash if they filled (docs/clearing.md).

        Per isolated market, the worse side: the initial margin of the lots that would open
        (beyond closing the position), valued as in :meth:`MarketModel.cases` (at the mark
        plus their share of the side's premium above it), the fee of every lot at the higher
        rate and 2 micro-dollars a lot.
        """
        a = self.accounts[account]
        total = 0
        for name, h in a.holdings.items():
            if h.mode != "isolated" or name == skip:
                continue
            total += self.market_order_reserve(account, name, *self.sides(account, name))
        return total

    def market_order_reserve(
        self, account: str, market: str, buys: list[tuple[int, int]], sells: list[tuple[int, int]]
    ) -> int:
        h = self.accounts[account].holdings[market]
        m = self.markets[market]
        mark = self.marks[market]
        rate = max(m.maker_rate, m.taker_rate, 0)
        worst = 0
        for orders, closable in ((buys, max(0, -h.qty)), (sells, max(0, h.qty))):
            n_lots = sum(q for _, q in orders)
            if not n_lots:
                continue
            opening = n_lots - closable
            cost = math.ceil(sum(p * q * m.k for p, q in orders) * rate) + 2 * n_lots
            if opening > 0:
                at = mark or 0
                premium = max(0, sum((p - at) * q * m.k for p, q in orders))
                notional = opening * at * m.k + math.ceil(Fraction(premium * opening, n_lots))
                cost += m.initial_margin(notional, h.leverage)
            worst = max(worst, cost)
        return worst

    def withdrawable(self, account: str) -> int:
        """``cash + min(0, unrealized PnL) − Σ required(markets)`` (docs/clearing.md).

        Required: the initial margin of cross markets, and what isolated open orders would add.
        """
        return (
            self.cash(account)
            + min(0, self.cross_upnl(account))
            - self.cross_requirement(account)
            - self.isolated_order_reserve(account)
        )

    def excess(self, account: str) -> int:
        """Cross equity minus the cross requirement and the isolated orders' reserve."""
        return self.cross_equity(account) - self.cross_requirement(account) - self.isolated_order_reserve(account)

    def best(self, market: str, side: str) -> int | None:
        prices = [o.price for o in self.orders.values() if o.market == market and o.side == side and o.price]
        if not prices:
            return None
        return max(prices) if side == "buy" else min(prices)

    def band(self, market: str) -> tuple[int, int] | None:
        mark = self.marks[market]
        if mark is None:
            return None
        width = math.floor(mark * self.markets[market].price_band)
        return mark - width, mark + width

    def protection_limit(self, market: str, side: str) -> int | None:
        ref = self.marks[market]
        if ref is None:
            ref = self.best(market, "sell" if side == "buy" else "buy")
            if ref is None:
                return None
        width = math.floor(ref * self.markets[market].market_protection)
        return ref + width if side == "buy" else ref - width

    def expected_leverage(self, account: str, market: str, requested: Fraction) -> Fraction:
        """A request above the account's maximum or the position's tier maximum gets the cap."""
        a = self.accounts[account]
        m = self.markets[market]
        h = a.holdings.get(market)
        notional = abs(h.qty if h is not None else 0) * (self.marks[market] or 0) * m.k
        return min(requested, a.max_leverage, m.max_leverage_at(notional))

    def order_failures(
        self,
        account: str,
        market: str,
        side: str,
        order_type: str,
        price: int | None,
        lots: int,
        tif: str,
        post_only: bool,
        reduce_only: bool,
        client_order_id: str,
    ) -> set[str]:
        """Every rule a new order breaks (docs/protocol.md, docs/clearing.md); empty if it must be accepted."""
        m = self.markets[market]
        a = self.accounts[account]
        failures: set[str] = set()
        state = self.states[market]
        if state == "halted":
            failures.add("market_halted")
        if state == "close_only" and not reduce_only:
            failures.add("market_close_only")
        if market not in a.markets and not reduce_only:
            failures.add("market_not_permitted")
        if client_order_id.startswith("liquidation-"):
            failures.add("reserved_client_order_id")
        if lots > m.max_order_lots:
            failures.add("max_order_size")
        if order_type == "limit":
            band = self.band(market)
            if price is not None and band is not None and not band[0] <= price <= band[1]:
                failures.add("price_band")
        elif price is not None:
            failures.add("price_not_allowed")
        if post_only:
            if order_type != "limit" or tif != "gtc":
                failures.add("post_only_not_limit")
            else:
                best = self.best(market, "sell" if side == "buy" else "buy")
                assert price is not None
                if best is not None and (best <= price if side == "buy" else best >= price):
                    failures.add("post_only_would_take")
        if client_order_id in self.client_order_ids.get(account, set()):
            failures.add("duplicate_client_order_id")
        h = a.holdings.get(market) or HoldingModel(min(a.max_leverage, m.tiers[0].max_leverage))
        if reduce_only:
            open_ro = sum(o.open_qty for o in self.orders_of(account, market) if o.reduce_only and o.side == side)
            wrong_side = h.qty >= 0 if side == "buy" else h.qty <= 0
            if wrong_side or lots + open_ro > abs(h.qty):
                failures.add("reduce_only_would_increase")
                return failures
            close_price = price if order_type == "limit" else self.protection_limit(market, side)
            if close_price is not None and self.close_loss(account, market, side, close_price, lots) > self.worth(
                account, market
            ):
                failures.add("insufficient_margin")
            return failures
        limit = m.position_limits.get(a.segment, m.position_limits.get("default"))
        if limit is not None:
            # hard limit in contracts, per owner across its accounts: position plus open orders on the side
            exposure = 0
            for other in self.accounts.values():
                oh = other.holdings.get(market)
                if other.owner != a.owner or oh is None:
                    continue
                open_lots = sum(o.open_qty for o in self.orders_of(other.account, market) if o.side == side)
                exposure += (oh.qty if side == "buy" else -oh.qty) + open_lots
            if exposure + lots > limit:
                failures.add("position_limit")
        check_price = price if order_type == "limit" else self.protection_limit(market, side)
        if check_price is None:
            return failures
        buys, sells = self.sides(account, market)
        mark = self.marks[market]
        before = m.worst_case_notional(h.qty, mark, buys, sells)
        (buys if side == "buy" else sells).append((check_price, lots))
        after = m.worst_case_notional(h.qty, mark, buys, sells)
        if after > a.max_position and after > before:
            failures.add("position_limit")
        notional = lots * check_price * m.k
        rate = max(m.maker_rate, m.taker_rate)
        fee = m.open_loss(side, lots, check_price, mark)
        if h.mode == "cross":
            fee += math.ceil(notional * rate) if rate > 0 else 0
            available = self.cross_equity(account) - self.cross_requirement(account, skip=market)
            need = m.requirement(h.qty, h.leverage, mark, buys, sells)
        else:
            available = self.cash(account) + min(0, self.cross_upnl(account)) - self.cross_requirement(account)
            bid = self.best(market, "buy")
            if side == "sell" and bid is not None and bid > check_price:
                # a sell takes bids at its price or higher: what it can take now is margined at the best bid
                sells[-1] = (bid, lots)
            need = self.market_order_reserve(account, market, buys, sells)
        available -= self.isolated_order_reserve(account, skip=market)
        if available < need + fee:
            failures.add("insufficient_margin")
        return failures

    def close_loss(self, account: str, market: str, side: str, price: int, lots: int) -> int:
        """What a reduce-only order and the account's other ones on its side could cost: open loss and fees."""
        m = self.markets[market]
        mark = self.marks[market]
        rate = max(m.maker_rate, m.taker_rate)
        orders = [(price, lots)] + [
            (o.price, o.open_qty)
            for o in self.orders_of(account, market)
            if o.reduce_only and o.side == side and o.price is not None
        ]
        total = 0
        for p, q in orders:
            total += m.open_loss(side, q, p, mark)
            if rate > 0:
                total += m.fee(q * p * m.k, rate)
        return total

    def worth(self, account: str, market: str) -> int:
        """Cross equity, plus the isolated margin and PnL of ``market`` when it is isolated."""
        h = self.accounts[account].holdings[market]
        total = self.cross_equity(account)
        if h.mode == "isolated":
            total += self.isolated(account, market) + self.upnl(h, market)
        return total

    def reduce_only_excess(self) -> list[str]:
        """Holdings whose open reduce-only orders exceed what they could reduce."""
        bad = []
        for account_id, a in self.accounts.items():
            for name, h in a.holdings.items():
                ro = self.orders_of(account_id, name)
                buys = sum(o.open_qty for o in ro if o.reduce_only and o.side == "buy")
                sells = sum(o.open_qty for o in ro if o.reduce_only and o.side == "sell")
                if buys > max(0, -h.qty) or sells > max(0, h.qty):
                    bad.append(f"{account_id}/{name}: reduce-only buys {buys}, sells {sells}, position {h.qty}")
        return bad

    # ================================================================== the document it predicts
    def compare(self, doc: dict[str, Any]) -> None:
        """Assert that the Venue's state document says what the events imply."""
        check = doc["ledger_check"]
        assert micros(check["deposits"]) == self.deposits
        assert micros(check["withdrawals"]) == self.withdrawals
        assert micros(check["paid_in"]) == self.paid_in
        assert micros(check["sum_of_balances"]) == self.deposits - self.withdrawals + self.paid_in
        assert sum(self.balances.values()) == self.deposits - self.withdrawals + self.paid_in, "the model leaks"
        for name in SYSTEM:
            got = micros(doc["system"][name])
            assert got == self.balances["system", name], (
                f"system {name}: {usd(got)} != {usd(self.balances['system', name])}"
            )
        assert set(doc["members"]) == self.members
        for member, got in doc["members"].items():
            assert micros(got["capital"]) == self.balances["member_capital", member], member
            assert micros(got["default_fund"]) == self.balances["member_default_fund", member], member
        for layer in LAYERS:
            assert micros(doc["loss_attribution"][layer]) == self.loss_attribution[layer], layer
        assert set(doc["accounts"]) == set(self.accounts)
        orders_by_account: dict[str, list[tuple[Any, ...]]] = {}
        for o in sorted(self.orders.values(), key=lambda o: o.order_id):
            orders_by_account.setdefault(o.account, []).append(
                (o.order_id, o.client_order_id, o.market, o.side, o.price, o.qty, o.open_qty, o.reduce_only)
            )
        for account_id, a in self.accounts.items():
            got = doc["accounts"][account_id]
            assert (got["member"], got["segment"], got["owner"]) == (a.member, a.segment, a.owner)
            cash = self.cash(account_id)
            assert micros(got["cash"]) == cash, f"{account_id} cash {got['cash']}, expected {usd(cash)}"
            equity = cash
            expected_positions = {}
            for name, h in sorted(a.holdings.items()):
                iso = self.isolated(account_id, name)
                equity += iso
                if not h.qty:
                    assert iso == 0 or account_id in self.uncovered, (
                        f"{account_id} {name}: margin left on a flat position"
                    )
                    continue
                upnl = self.upnl(h, name)
                equity += upnl
                expected_positions[name] = (h.qty, upnl, h.mode, h.leverage, iso if h.mode == "isolated" else None)
            got_positions = {
                name: (
                    self.markets[name].lots(p["qty"]),
                    micros(p["unrealized_pnl"]),
                    p["margin_mode"],
                    dec(p["leverage"]),
                    micros(p["isolated_margin"]) if "isolated_margin" in p else None,
                )
                for name, p in got["positions"].items()
            }
            assert got_positions == expected_positions, f"{account_id}: {got_positions} != {expected_positions}"
            for name, p in got["positions"].items():
                h = a.holdings[name]
                exact = average_price(h.cost, h.qty, self.markets[name].k, self.markets[name].tick)
                assert abs(dec(p["entry_price"]) - exact) <= Fraction(1, 2 * 10**8)
            assert micros(got["equity"]) == equity, f"{account_id} equity {got['equity']}, expected {usd(equity)}"
            expected_orders = orders_by_account.get(account_id, [])
            got_orders = [
                (
                    o["order_id"],
                    o["client_order_id"],
                    o["market"],
                    o["side"],
                    self.markets[o["market"]].ticks(o["price"]),
                    self.markets[o["market"]].lots(o["qty"]),
                    self.markets[o["market"]].lots(o["open_qty"]),
                    o["reduce_only"],
                )
                for o in got["open_orders"]
            ]
            assert got_orders == expected_orders, f"{account_id} open orders {got_orders} != {expected_orders}"
        for name, m in self.markets.items():
            got = doc["markets"][name]
            mark = self.marks[name]
            index = self.index_ticks[name]
            if mark is None:
                assert got["mark_price"] is None
            else:
                assert m.ticks(got["mark_price"]) == mark
            if index is None:
                assert got["index_price"] is None
            else:  # the index as published, or converted to the market's ticks
                assert dec(got["index_price"]) in (index * m.tick, self.index_prices[m.index]), got

            assert got["state"] == self.states[name]
            assert got["index_stale"] == self.index_stale[name]
            assert dec(got["last_funding_rate"]) == self.funding_rates[name]
            if name in self.settled:
                assert got["last_settlement_price"] is not None
            positions = [a.holdings[name].qty for a in self.accounts.values() if name in a.holdings]
            assert sum(positions) == 0, f"positions in {name} sum to {sum(positions)}"
            assert m.lots(got["open_interest"]) == sum(q for q in positions if q > 0)
