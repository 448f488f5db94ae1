"""The surveillance pass: one streaming consumer of events that keeps every report and detector.

:class:`Surveillance` reads events in sequence order (and, optionally, the commands that
caused them, for the index quotes) and changes nothing outside itself. Each event costs
O(1) work: a dispatch on its type, a few dict lookups and integer updates on the records
of :mod:`~onshore.surveillance.records`. Work proportional to the number of owners happens
once per UTC day, when the day closes (the large-trader, position and market rows, the
concentration and cancel-ratio checks).

Days are UTC dates of the events' ``ts``. A day closes when the first event of a later day
arrives, or at :meth:`Surveillance.finish` (the last day then reports as of the end of the
stream). Days without events in between are reported too (positions carry over).

Runtime complexity: O(1) per event; O(owners × markets) per day closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from math import log, sqrt
from typing import Any, Final

from onshore.core import commands as c
from onshore.core import events as e
from onshore.surveillance.alerts import Alert
from onshore.surveillance.config import (
    DAY_MS,
    SurveillanceConfig,
    VenueFacts,
    date_of_day,
)
from onshore.surveillance.decimals import (
    MICROS_EXP,
    NANO,
    DecimalCache,
    fast_units,
    float_text,
    fmt_micros,
    fmt_nano,
    ratio,
    to_units,
)
from onshore.surveillance.detectors import (
    FundingManipulation,
    IndexManipulation,
    OwnerDay,
    Spoofing,
    WashTrades,
    accountability_alert,
    cancel_ratio_alert,
    concentration_alert,
)
from onshore.surveillance.records import (
    FundingCandidate,
    Holding,
    LargeOrder,
    MarketState,
    OwnerInfo,
    OwnerMarket,
)

OWNER_CANCELS: Final = frozenset({"user", "cancel_all"})
"""Cancellation reasons that are the owner's choice (not IOC remainders, self-trade prevention or liquidation)."""
DEFAULT_FUND_LAYERS: Final = frozenset({"member_default_fund", "mutualised_default_fund"})
PRICE_QTY_TO_MICROS: Final = 10**21
"""price (nano) × qty (nano) × contract size (nano) / 10**21 = micro-dollars."""
MAX_GAP_DAYS: Final = 366
"""Empty days reported between two events at most; a longer gap jumps."""
SQRT_365: Final = sqrt(365.0)


@dataclass(slots=True)
class SurveillanceResult:
    """What one pass produced: report rows (typed values, decimal strings) and alerts, in deterministic order."""

    large_traders: list[dict[str, Any]] = field(default_factory=list)
    market: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    owners: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0
    days: list[str] = field(default_factory=list)


class Surveillance:
    """Feed events (``feed`` or ``run``), optionally commands (``feed_command``), then ``finish``.

    ``last_day`` (a UTC day number) stops the pass once that day has closed: reports for a
    single date need not read the rest of the stream.
    """

    def __init__(
        self,
        config: SurveillanceConfig | None = None,
        facts: VenueFacts | None = None,
        *,
        last_day: int | None = None,
    ) -> None:
        self.config = config if config is not None else SurveillanceConfig()
        self.facts = facts if facts is not None else VenueFacts(markets={})
        self.last_day = last_day
        self.done = False
        self.events = 0
        self._n = DecimalCache(9)  # prices, quantities, rates (ppb)
        self._m = DecimalCache(MICROS_EXP)  # money
        self._owners: dict[str, OwnerInfo] = {}
        self._account_owner: dict[str, tuple[str, str, str]] = {}  # account -> (owner, member, segment)
        self._holdings = _ByMarket()  # market -> account -> Holding
        self._oms: dict[tuple[str, str], OwnerMarket] = {}
        self._markets: dict[str, MarketState] = {}
        self._large: dict[int, LargeOrder] = {}
        self._touched: list[Holding] = []
        self._day = -1
        self._day_end = -1  # first ms of the next day: an event at or after it closes the day
        self._first_day = -1
        self._pending_quotes: dict[int, list[tuple[str, int]]] = {}
        self._quote_source: Iterator[tuple[int, c.IndexUpdate]] | None = None
        # balances: registered amounts and flows, or the Venue's state when the adapter supplies it
        self._insurance_fund = self.facts.insurance_fund_micros
        self._default_fund = 0
        self._balances_from_state = False
        self.loss_by_layer: dict[str, int] = {}
        # detectors
        cfg = self.config
        self.wash = WashTrades(cfg)
        self.spoofing = Spoofing(cfg)
        self.funding = FundingManipulation(cfg)
        self.index = IndexManipulation(cfg)
        self._fund_num, self._fund_den = to_units(cfg.funding_reversal_fraction, 9), NANO
        self._fund_before = cfg.funding_window_before_ms
        self._fund_after = cfg.funding_window_after_ms
        self.result = SurveillanceResult()
        self._dispatch: dict[type, Callable[[Any], None]] = {
            e.OrderAmended: self._order_amended,
            e.AccountOpened: self._account_opened,
            e.MemberRegistered: self._member_registered,
            e.IndexPrice: self._index_price,
            e.IndexStale: self._index_stale,
            e.FundingRate: self._funding_rate,
            e.FundingPayment: self._funding_payment,
            e.Settlement: self._settlement,
            e.Liquidation: self._liquidation,
            e.AutoDeleverage: self._auto_deleverage,
            e.LossAbsorbed: self._loss_absorbed,
        }
        for name in sorted(self.facts.markets):
            self._market(name)

    # ================================================================== input
    def run(self, events: Iterable[e.Event]) -> None:
        """Feed every event of ``events`` (stops early once ``last_day`` has closed).

        The four most frequent events (orders accepted and cancelled, marks, trades) are
        handled inline with local names: this loop is the hot path of every report.
        """
        if self.done:
            return
        rare = self._dispatch.get
        holdings = self._holdings
        new_holding = self._holding
        markets = self._markets
        large = self._large
        num = self._n
        touched = self._touched.append
        watch = self._watch
        trade = self._trade
        unwatch = self._unwatch
        watched_cancelled = self._watched_cancelled
        vol_step = self._vol_step
        vol_ms = self.config.volatility_interval_ms
        own_cancels = OWNER_CANCELS
        order_accepted = e.OrderAccepted
        order_cancelled = e.OrderCancelled
        trade_type = e.Trade
        mark_type = e.MarkPrice
        day = self._day
        day_end = self._day_end
        count = 0
        stream: Iterable[Any] = events
        for ev in stream:
            if ev.ts >= day_end:
                if not self._roll(ev.ts):
                    break
                day = self._day
                day_end = self._day_end
            count += 1
            t = type(ev)
            if t is order_accepted:
                market = ev.market
                h = holdings[market].get(ev.account)
                if h is None:
                    h = new_holding(ev.account, market)
                seq = ev.seq
                if h.day != day:
                    h.reset_day(day, seq)
                    touched(h)
                h.placed += 1
                h.last_seq = seq
                price = ev.price
                if price is not None:
                    q = num[ev.qty]
                    p = num[price]
                    ms = markets[market]
                    if p * q >= ms.watch_pq:
                        watch(ev.order_id, h, ms, 1 if ev.side == "buy" else -1, q, p, seq, ev.ts)
            elif t is order_cancelled:
                h = holdings[ev.market].get(ev.account)
                if h is None:
                    h = new_holding(ev.account, ev.market)
                seq = ev.seq
                if h.day != day:
                    h.reset_day(day, seq)
                    touched(h)
                h.last_seq = seq
                own = ev.reason in own_cancels
                if own:
                    h.cancelled += 1
                if large:
                    lo = large.get(ev.order_id)
                    if lo is not None:
                        unwatch(lo, ev.ts)
                        if own:
                            watched_cancelled(lo, ev)
            elif t is mark_type:
                ms = markets.get(ev.market) or self._market(ev.market)
                p = num[ev.price]
                ms.mark = p
                bucket = ev.ts // vol_ms
                if bucket != ms.vol_bucket:
                    if ms.vol_last:
                        vol_step(ms)
                    ms.vol_bucket = bucket
                ms.vol_last = p
            elif t is trade_type:
                trade(ev)
            else:
                handler = rare(t)
                if handler is not None:
                    handler(ev)
        self.events += count

    def feed(self, ev: e.Event) -> None:
        """Feed one event."""
        self.run((ev,))

    def feed_command(self, number: int, command: object) -> None:
        """Feed the command numbered ``number`` before its events (only ``index_update`` is read)."""
        if type(command) is c.IndexUpdate:
            self._pending_quotes.clear()
            self._pending_quotes[number] = self._quotes_of(command)

    def quotes_from(self, updates: Iterable[tuple[int, c.IndexUpdate]]) -> None:
        """Take index updates ``(command number, command)`` lazily, in order, as their events arrive."""
        self._quote_source = iter(updates)

    def finish(self) -> SurveillanceResult:
        """Close the last day, flush every detector, and return the result (sorted)."""
        if self._day >= 0 and not self.done:
            self._close_day()
        self.done = True
        alerts = self.result.alerts
        self._confirm_pending(None)
        self.funding.close(None, alerts)
        alerts.sort(key=lambda a: (*a.sort_key(), a.detail))
        self.result.owners = self.owner_rows()
        self.result.events = self.events
        _sort_rows(self.result.large_traders, ("date", "market", "owner", "reporting_member"))
        _sort_rows(self.result.market, ("date", "market"))
        _sort_rows(self.result.positions, ("date", "owner", "market"))
        return self.result

    def snapshot_balances(self, insurance_fund_micros: int, default_fund_micros: int) -> None:
        """Adopt the Venue's balances as of now (from its state document); later flows adjust them."""
        self._insurance_fund = insurance_fund_micros
        self._default_fund = default_fund_micros
        self._balances_from_state = True

    # ================================================================== records
    def _market(self, name: str) -> MarketState:
        ms = self._markets.get(name)
        if ms is None:
            f = self.facts.market(name)
            contract = f.contract_nano
            cfg = self.config
            spoof_micros = to_units(cfg.spoof_min_notional, 6)
            fund_micros = -(-f.impact_notional_micros * to_units(cfg.funding_min_impact_fraction, 9) // NANO)
            ms = self._markets[name] = MarketState(
                name,
                contract,
                f.premium_sample_ms,
                f.funding_interval_ms,
                -(-spoof_micros * PRICE_QTY_TO_MICROS // contract),
                -(-fund_micros * PRICE_QTY_TO_MICROS // contract),
            )
        return ms

    def _holding(self, account: str, market: str) -> Holding:
        """The record of ``account`` in ``market``, created on first sight. An unknown account is its own owner."""
        h = self._holdings[market].get(account)
        if h is not None:
            return h
        owner, member, segment = self._account_owner.get(account, (account, "", ""))
        om = self._oms.get((owner, market))
        if om is None:
            om = self._oms[(owner, market)] = OwnerMarket(owner, market)
        self._market(market)
        h = self._holdings[market][account] = Holding(
            account, market, member, segment, om, self.config.accountability_lots(market, segment)
        )
        om.holdings.append(h)
        return h

    def _touch(self, h: Holding, seq: int) -> None:
        h.reset_day(self._day, seq)
        self._touched.append(h)

    # ================================================================== accounts and money
    def _account_opened(self, ev: e.AccountOpened) -> None:
        owner = ev.owner or ev.account
        self._account_owner[ev.account] = (owner, ev.member, ev.segment)
        info = self._owners.get(owner)
        if info is None:
            info = self._owners[owner] = OwnerInfo(owner)
        info.accounts[ev.account] = (ev.member, ev.segment)

    def _member_registered(self, ev: e.MemberRegistered) -> None:
        self._default_fund += self._m[ev.default_fund]

    def _loss_absorbed(self, ev: e.LossAbsorbed) -> None:
        amount = self._m[ev.amount]
        layer = ev.layer
        self.loss_by_layer[layer] = self.loss_by_layer.get(layer, 0) + amount
        if layer == "insurance_fund":
            self._insurance_fund -= amount
        elif layer in DEFAULT_FUND_LAYERS:
            self._default_fund -= amount

    # ================================================================== orders
    def _watch(self, order_id: int, h: Holding, ms: MarketState, side: int, q: int, p: int, seq: int, ts: int) -> None:
        """Consider a large order: spoofing-sized ones are watched; funding-sized ones when placed just before a
        premium sample after a quiet spell (no such order of the owner on that side for ``funding_quiet_ms``)."""
        pq = p * q
        om = h.om
        funding = False
        if pq >= ms.fund_pq:
            cfg = self.config
            last = om.fund_last[side]
            om.fund_last[side] = ts
            pending = om.fund_pending[side]
            if pending is not None:
                om.fund_pending[side] = None
                if ts > pending.deadline:
                    self._confirm(om, pending)
            s = ms.sample_ms
            funding = s - ts % s <= cfg.funding_window_before_ms and ts - last >= cfg.funding_quiet_ms
        big = pq >= ms.spoof_pq
        if not (big or funding):
            return
        lo = LargeOrder(order_id, h, side, q, p, seq, ts)
        lo.funding = funding
        if big:
            lo.big = True
            lo.opp0 = om.sold if side > 0 else om.bought
            ref = ms.last_price or ms.mark
            d = self.config.spoof_min_distance_bps
            lo.away = ref > 0 and (p * 10_000 <= ref * (10_000 - d) if side > 0 else p * 10_000 >= ref * (10_000 + d))
            if side > 0:
                om.big_buy += 1
                lo.spoof = lo.away and om.big_sell == 0
                if lo.spoof:
                    om.resting_buy += 1
                    lo.layers = om.resting_buy
            else:
                om.big_sell += 1
                lo.spoof = lo.away and om.big_buy == 0
                if lo.spoof:
                    om.resting_sell += 1
                    lo.layers = om.resting_sell
        self._large[order_id] = lo

    def _unwatch(self, lo: LargeOrder, ts: int) -> None:
        del self._large[lo.order_id]
        if lo.big:
            om = lo.hb.om
            if lo.side > 0:
                om.big_buy -= 1
                if lo.spoof:
                    om.resting_buy -= 1
            else:
                om.big_sell -= 1
                if lo.spoof:
                    om.resting_sell -= 1

    def _confirm(self, om: OwnerMarket, cand: FundingCandidate) -> None:
        self.funding.record(
            om.owner,
            om.market,
            cand.interval_end,
            cand.b,
            cand.side,
            (cand.first, cand.last),
            cand.position,
            cand.ts,
            True,
        )

    def _confirm_pending(self, until_ms: int | None) -> None:
        """Confirm the straddles whose quiet period ended by ``until_ms`` (all when None)."""
        for om in self._oms.values():
            pend = om.fund_pending
            for side in (1, -1):
                cand = pend[side]
                if cand is not None and (until_ms is None or cand.deadline < until_ms):
                    pend[side] = None
                    self._confirm(om, cand)

    def _watched_cancelled(self, lo: LargeOrder, ev: e.OrderCancelled) -> None:
        """A watched order left the book by its owner's cancel: a spoofing episode, a funding straddle, or nothing."""
        cfg = self.config
        om = lo.hb.om
        ts = ev.ts
        if lo.spoof and lo.filled == 0 and ts - lo.ts <= cfg.spoof_max_lifetime_ms:
            other_side_big = om.big_sell if lo.side > 0 else om.big_buy
            other = (om.sold if lo.side > 0 else om.bought) - lo.opp0
            spoofing = self.spoofing
            if other > 0 and not other_side_big and lo.qty * spoofing.ratio_den >= spoofing.ratio_num * other:
                spoofing.record(om.owner, om.market, lo.seq, ev.seq, lo.qty, other, lo.layers >= 2)
        if lo.funding and 2 * lo.filled < lo.qty:
            ms = self._markets[om.market]
            s = ms.sample_ms
            b = (lo.ts // s + 1) * s
            if b <= ts and b - lo.ts <= cfg.funding_window_before_ms and ts - b <= cfg.funding_window_after_ms:
                interval = ms.interval_ms
                om.fund_pending[lo.side] = FundingCandidate(
                    ts + cfg.funding_quiet_ms,
                    -(-b // interval) * interval,
                    b,
                    lo.side,
                    lo.seq,
                    ev.seq,
                    om.long - om.short,
                    lo.ts,
                )

    def _order_amended(self, ev: e.OrderAmended) -> None:
        market = ev.market
        h = self._holdings[market].get(ev.account)
        if h is None:
            h = self._holding(ev.account, market)
        if h.day != self._day:
            self._touch(h, ev.seq)
        h.amended += 1
        h.last_seq = ev.seq
        lo = self._large.get(ev.order_id) if self._large else None
        if lo is None:
            return  # the event does not give the side: an order that grows large by amendment is not watched
        self._unwatch(lo, ev.ts)
        n = self._n
        open_qty = n[ev.open_qty]
        if open_qty > 0 and ev.price is not None:
            p = n[ev.price]
            ms = self._markets[market]
            if p * open_qty >= ms.watch_pq:
                self._watch(ev.order_id, h, ms, lo.side, open_qty, p, ev.seq, ev.ts)

    # ================================================================== trades and positions
    def _trade(self, ev: e.Trade) -> None:
        market = ev.market
        n = self._n
        q = n[ev.qty]
        p = n[ev.price]
        by_account = self._holdings[market]
        hm = by_account.get(ev.maker_account)
        if hm is None:
            hm = self._holding(ev.maker_account, market)
        ht = by_account.get(ev.taker_account)
        if ht is None:
            ht = self._holding(ev.taker_account, market)
        taker_buys = ev.aggressor_side == "buy"
        if taker_buys:
            hb, hs = ht, hm
        else:
            hb, hs = hm, ht
        seq = ev.seq
        ms = self._markets[market]
        # positions: the buyer's up by q, the seller's down; owners' gross long and short and open interest follow
        omb = hb.om
        oms = hs.om
        old = hb.qty
        new = old + q
        hb.qty = new
        hb.last_trade = seq
        if old >= 0:
            omb.long += q
            ms.oi += q
        elif new <= 0:
            omb.short -= q
        else:
            omb.short += old
            omb.long += new
            ms.oi += new
        old = hs.qty
        new = old - q
        hs.qty = new
        hs.last_trade = seq
        if old <= 0:
            oms.short += q
        elif new >= 0:
            oms.long -= q
            ms.oi -= q
        else:
            oms.long -= old
            ms.oi -= old
            oms.short -= new
        if omb.long > hb.level or omb.over_long or omb.short > hb.level or omb.over_short:
            self._check_level(hb, seq)
        if oms.long > hs.level or oms.over_long or oms.short > hs.level or oms.over_short:
            self._check_level(hs, seq)
        if ev.maker_order_id == 0 and ev.taker_order_id == 0:
            return  # a transfer outside the book (backstop, ADL, tear-up): positions only
        day = self._day
        if hb.day != day:
            self._touch(hb, seq)
        if hs.day != day:
            self._touch(hs, seq)
        hb.fills += 1
        hb.bought += q
        hb.last_seq = seq
        if not hb.first_trade:
            hb.first_trade = seq
        hs.fills += 1
        hs.sold += q
        hs.last_seq = seq
        if not hs.first_trade:
            hs.first_trade = seq
        omb.bought += q
        oms.sold += q
        if omb is oms:
            self.wash.record(omb.owner, market, seq, q, hb.account, hs.account)
        # the market's day
        if not ms.trades:
            ms.open = ms.high = ms.low = p
        elif p > ms.high:
            ms.high = p
        elif p < ms.low:
            ms.low = p
        ms.close = p
        ms.last_price = p
        ms.trades += 1
        ms.volume += q
        ms.pq += p * q
        # watched orders
        large = self._large
        if large:
            lo = large.get(ev.maker_order_id)
            if lo is not None:
                lo.filled += q
                lo.open -= q
                if lo.open <= 0:
                    self._unwatch(lo, ev.ts)
            lo = large.get(ev.taker_order_id)
            if lo is not None:
                lo.filled += q
                lo.open -= q
                if lo.open <= 0:
                    self._unwatch(lo, ev.ts)
        # round trips around premium samples (the taker moves the price)
        ts = ev.ts
        sample_ms = ms.sample_ms
        r = ts % sample_ms
        if r <= self._fund_after or sample_ms - r <= self._fund_before:
            self._funding_trade(ht.om, ms, ts, r, q if taker_buys else -q, p, seq)

    def _check_level(self, h: Holding, seq: int) -> None:
        """Alert when the owner's long or short passes the accountability level of ``h``'s segment; re-arm below it."""
        om = h.om
        level = h.level
        if om.long > level:
            if not om.over_long:
                om.over_long = True
                self._over(h, "long", om.long, seq)
        elif om.over_long:
            om.over_long = False
        if om.short > level:
            if not om.over_short:
                om.over_short = True
                self._over(h, "short", om.short, seq)
        elif om.over_short:
            om.over_short = False

    def _over(self, h: Holding, side: str, qty: int, seq: int) -> None:
        om = h.om
        self.result.alerts.append(
            accountability_alert(
                self.config,
                date_of_day(self._day),
                om.owner,
                om.market,
                h.segment or "default",
                side,
                qty,
                h.level,
                seq,
            )
        )

    def _funding_trade(self, om: OwnerMarket, ms: MarketState, ts: int, r: int, signed: int, p: int, seq: int) -> None:
        """A taker trade near a premium sample: part of the run before it, or of the reversal after it."""
        cfg = self.config
        s = ms.sample_ms
        if r and s - r <= cfg.funding_window_before_ms:
            b = ts - r + s
            if om.fund_b != b:
                om.fund_b = b
                om.fund_pre = 0
                om.fund_post = 0
                om.fund_seqs = []
                om.fund_done = False
            om.fund_pre += signed
            om.fund_seqs.append(seq)
            return
        b = ts - r
        pre = om.fund_pre
        if om.fund_b != b or om.fund_done or not pre or (pre > 0) == (signed > 0):
            return
        om.fund_post += -signed if signed < 0 else signed
        om.fund_seqs.append(seq)
        size = pre if pre > 0 else -pre
        if size * p < ms.fund_pq or om.fund_post * self._fund_den < self._fund_num * size:
            return
        om.fund_done = True
        interval = ms.interval_ms
        self.funding.record(
            om.owner,
            om.market,
            -(-b // interval) * interval,
            b,
            1 if pre > 0 else -1,
            (om.fund_seqs[0], seq),
            om.long - om.short,
            ts,
            False,
        )

    # ================================================================== prices
    def _vol_step(self, ms: MarketState) -> None:
        """Close the current volatility interval: one log return from the previous close."""
        last = ms.vol_last
        if last:
            prev = ms.vol_prev
            if prev:
                r = log(last / prev)
                ms.vol_sumsq += r * r
                ms.vol_n += 1
            ms.vol_prev = last
            ms.vol_last = 0

    def _quotes_of(self, cmd: c.IndexUpdate) -> list[tuple[str, int]]:
        """The fresh quotes of an update, the latest per source, as nano prices (unparseable ones skipped).

        Empty when they all lie within ``index_deviation_bps`` of each other: then no quote
        can be that far from the median of the others (the common case, decided in O(quotes),
        first on floats with a 10% margin, then exactly on integers).
        """
        max_age = self.facts.index_max_age_ms.get(cmd.index)
        oldest = cmd.ts - max_age if max_age is not None else None
        quotes = cmd.quotes if oldest is None else [q for q in cmd.quotes if q.ts >= oldest]
        try:  # a float screen first (analytics, not money): far inside the band, nothing to compare exactly
            approx = [float(q.price) for q in quotes]
            lo_f = min(approx)
            if lo_f > 0 and (max(approx) - lo_f) * 10_000 < 0.9 * self.config.index_deviation_bps * lo_f:
                return []
        except (ValueError, TypeError):
            pass
        latest: dict[str, tuple[int, int]] = {}
        for quote in quotes:
            try:
                price = fast_units(quote.price, 9)
            except (ValueError, TypeError):
                continue
            if price <= 0:
                continue
            seen = latest.get(quote.source)
            if seen is None or quote.ts >= seen[0]:
                latest[quote.source] = (quote.ts, price)
        if len(latest) < 2:
            return []
        prices = [price for _ts, price in latest.values()]
        lo = min(prices)
        if (max(prices) - lo) * 10_000 < self.config.index_deviation_bps * lo:
            return []
        return [(source, price) for source, (_ts, price) in latest.items()]

    def _take_quotes(self, cmd_no: int) -> list[tuple[str, int]] | None:
        """The quotes of command ``cmd_no`` (None: not available, so the events must speak for themselves)."""
        found = self._pending_quotes.pop(cmd_no, None)
        if found is not None or self._quote_source is None:
            return found
        for number, command in self._quote_source:
            if number == cmd_no:
                return self._quotes_of(command)
            if number > cmd_no:
                self._pending_quotes[number] = self._quotes_of(command)
                return None
        self._quote_source = None
        return None

    def _index_price(self, ev: e.IndexPrice) -> None:
        quotes = self._take_quotes(ev.cmd)
        if quotes:
            self.index.quotes(ev.index, quotes, set(ev.sources_used), ev.seq)

    def _index_stale(self, ev: e.IndexStale) -> None:
        quotes = self._take_quotes(ev.cmd)
        if quotes is None:
            self.index.left_out(ev.index, ev.left_out, ev.seq)
        elif quotes:
            self.index.quotes(ev.index, quotes, set(ev.sources_used), ev.seq)

    # ================================================================== funding, settlement, liquidation
    def _funding_rate(self, ev: e.FundingRate) -> None:
        ms = self._markets.get(ev.market) or self._market(ev.market)
        ms.funding_count += 1
        ms.funding_rate_sum += self._n[ev.rate]

    def _funding_payment(self, ev: e.FundingPayment) -> None:
        amount = self._m[ev.amount]
        if amount < 0:
            ms = self._markets.get(ev.market) or self._market(ev.market)
            ms.funding_paid -= amount

    def _settlement(self, ev: e.Settlement) -> None:
        ms = self._markets.get(ev.market) or self._market(ev.market)
        ms.settlement = self._n[ev.price]

    def _liquidation(self, ev: e.Liquidation) -> None:
        ms = self._markets.get(ev.market) or self._market(ev.market)
        q = self._n[ev.qty]
        ms.liq_count += 1
        ms.liq_qty += q
        ms.liq_pq += q * self._n[ev.price]

    def _auto_deleverage(self, ev: e.AutoDeleverage) -> None:
        ms = self._markets.get(ev.market) or self._market(ev.market)
        ms.adl_count += 1
        ms.adl_qty += self._n[ev.qty]

    # ================================================================== days
    def _roll(self, ts: int) -> bool:
        """Close the current day (and any empty days) up to the day of ``ts``; False once ``last_day`` is done."""
        if self.done:
            return False
        day = ts // DAY_MS
        last_day = self.last_day
        if self._day < 0:
            self._day = self._first_day = day
        while self._day < day:
            self._close_day()
            if last_day is not None and self._day >= last_day:
                self.done = True
                return False
            self._day = self._day + 1 if day - self._day <= MAX_GAP_DAYS else day
        if last_day is not None and self._day > last_day:
            self.done = True
            return False
        self._day_end = (self._day + 1) * DAY_MS
        return True

    def _close_day(self) -> None:
        """Produce the day's rows and end-of-day alerts; reset the daily figures."""
        date = date_of_day(self._day)
        day_end_ms = (self._day + 1) * DAY_MS
        self.result.days.append(date)
        alerts = self.result.alerts
        self.wash.close_day(date, alerts)
        self.spoofing.close_day(date, alerts)
        self.index.close_day(date, alerts)
        self._confirm_pending(day_end_ms)
        self.funding.close(day_end_ms, alerts)
        owner_days = self._owner_days()
        cfg = self.config
        for od in owner_days.values():
            alert = cancel_ratio_alert(cfg, date, od)
            if alert is not None:
                alerts.append(alert)
        for name in sorted(self._markets):
            ms = self._markets[name]
            self._vol_step(ms)
            oms = [om for om in self._oms.values() if om.market == name]
            self.result.market.append(self._market_row(date, ms, oms))
            for om in oms:
                if om.long or om.short:
                    od_ = owner_days.get((om.owner, name))
                    if od_ is not None and od_.first_trade:
                        span = (od_.first_trade, od_.last_trade)
                    else:
                        last = max(h.last_trade for h in om.holdings)
                        span = (last, last)
                    alert = concentration_alert(cfg, date, om.owner, name, om.long, om.short, ms.oi, span)
                    if alert is not None:
                        alerts.append(alert)
                self._owner_rows(date, om, owner_days.get((om.owner, name)))
            ms.reset_day()
        self._touched.clear()

    def _owner_days(self) -> dict[tuple[str, str], OwnerDay]:
        out: dict[tuple[str, str], OwnerDay] = {}
        day = self._day
        for h in self._touched:
            if h.day != day:
                continue
            key = (h.om.owner, h.market)
            od = out.get(key)
            if od is None:
                od = out[key] = OwnerDay(h.om.owner, h.market)
            od.placed += h.placed
            od.amended += h.amended
            od.cancelled += h.cancelled
            od.fills += h.fills
            od.bought += h.bought
            od.sold += h.sold
            if h.first_seq and (not od.first_seq or h.first_seq < od.first_seq):
                od.first_seq = h.first_seq
            od.last_seq = max(od.last_seq, h.last_seq)
            if h.first_trade and (not od.first_trade or h.first_trade < od.first_trade):
                od.first_trade = h.first_trade
            if h.first_trade:
                od.last_trade = max(od.last_trade, h.last_trade)
        return out

    def _owner_rows(self, date: str, om: OwnerMarket, od: OwnerDay | None) -> None:
        """The positions row of one owner in one market, and its large-trader rows if reportable."""
        day = self._day
        volume = (od.bought + od.sold) if od is not None else 0
        if not (om.long or om.short or volume):
            return
        active = [h for h in om.holdings if h.qty or (h.day == day and (h.bought or h.sold))]
        self.result.positions.append(
            {
                "date": date,
                "owner": om.owner,
                "market": om.market,
                "accounts": ";".join(sorted(h.account for h in active)),
                "members": ";".join(sorted({h.member for h in active if h.member})),
                "long_oi": fmt_nano(om.long),
                "short_oi": fmt_nano(om.short),
                "net": fmt_nano(om.long - om.short),
                "volume": fmt_nano(volume),
            }
        )
        level = self.config.reportable_lots(om.market)
        big = max(om.long, om.short)
        if not big or big < level:
            return
        by_member: dict[str, list[Holding]] = {}
        for h in active:
            by_member.setdefault(h.member, []).append(h)
        for member in sorted(by_member):
            hs = by_member[member]
            self.result.large_traders.append(
                {
                    "date": date,
                    "market": om.market,
                    "owner": om.owner,
                    "reporting_member": member,
                    "accounts": ";".join(sorted(h.account for h in hs)),
                    "long_oi": fmt_nano(sum(h.qty for h in hs if h.qty > 0)),
                    "short_oi": fmt_nano(-sum(h.qty for h in hs if h.qty < 0)),
                    "volume": fmt_nano(sum(h.bought + h.sold for h in hs if h.day == day)),
                    "owner_long_oi": fmt_nano(om.long),
                    "owner_short_oi": fmt_nano(om.short),
                    "owner_volume": fmt_nano(volume),
                    "reportable_level": fmt_nano(level),
                }
            )

    def _market_row(self, date: str, ms: MarketState, oms: list[OwnerMarket]) -> dict[str, Any]:
        k = ms.contract
        longs = sorted((om.long for om in oms if om.long), reverse=True)
        shorts = sorted((om.short for om in oms if om.short), reverse=True)
        oi = ms.oi
        traded = ms.trades > 0
        settlement = ms.settlement or ms.mark
        rv = sqrt(ms.vol_sumsq) if ms.vol_n else None
        return {
            "date": date,
            "market": ms.name,
            "trades": ms.trades,
            "volume": fmt_nano(ms.volume),
            "notional_volume": fmt_micros(ms.pq * k // PRICE_QTY_TO_MICROS),
            "open_interest": fmt_nano(oi),
            "open": fmt_nano(ms.open) if traded else None,
            "high": fmt_nano(ms.high) if traded else None,
            "low": fmt_nano(ms.low) if traded else None,
            "close": fmt_nano(ms.close) if traded else None,
            "settlement_price": fmt_nano(settlement) if settlement else None,
            "settlement_source": "settlement" if ms.settlement else "mark" if ms.mark else None,
            "funding_count": ms.funding_count,
            "funding_rate_sum": fmt_nano(ms.funding_rate_sum),
            "funding_paid": fmt_micros(ms.funding_paid),
            "liquidations": ms.liq_count,
            "liquidation_qty": fmt_nano(ms.liq_qty),
            "liquidation_notional": fmt_micros(ms.liq_pq * k // PRICE_QTY_TO_MICROS),
            "adl_events": ms.adl_count,
            "adl_qty": fmt_nano(ms.adl_qty),
            "insurance_fund": fmt_micros(self._insurance_fund),
            "default_fund": fmt_micros(self._default_fund),
            "balances_source": "state" if self._balances_from_state else "flows",
            "top4_long_share": ratio(sum(longs[:4]), oi, 6) or None,
            "top4_short_share": ratio(sum(shorts[:4]), oi, 6) or None,
            "top8_long_share": ratio(sum(longs[:8]), oi, 6) or None,
            "top8_short_share": ratio(sum(shorts[:8]), oi, 6) or None,
            "realized_vol": float_text(rv) if rv is not None else None,
            "realized_vol_annualized": float_text(rv * SQRT_365) if rv is not None else None,
            "vol_returns": ms.vol_n,
        }

    # ================================================================== owners
    def owner_rows(self) -> list[dict[str, Any]]:
        """The beneficial owners: each with its accounts, their members and segments."""
        rows = []
        for owner in sorted(self._owners):
            info = self._owners[owner]
            accounts = sorted(info.accounts)
            rows.append(
                {
                    "owner": owner,
                    "accounts": ";".join(accounts),
                    "members": ";".join(sorted({info.accounts[a][0] for a in accounts})),
                    "segments": ";".join(sorted({info.accounts[a][1] for a in accounts})),
                }
            )
        return rows

    def positions_now(self) -> dict[tuple[str, str], int]:
        """Every account's current position (nano-contracts) by ``(account, market)``, zeros left out."""
        return {
            (account, market): h.qty
            for market, by_account in self._holdings.items()
            for account, h in by_account.items()
            if h.qty
        }


class _ByMarket(dict[str, dict[str, Holding]]):
    """market -> account -> Holding; a market seen for the first time gets an empty table."""

    def __missing__(self, market: str) -> dict[str, Holding]:
        table: dict[str, Holding] = {}
        self[market] = table
        return table


def _sort_rows(rows: list[dict[str, Any]], key: tuple[str, ...]) -> None:
    rows.sort(key=lambda row: tuple(row[k] for k in key))
