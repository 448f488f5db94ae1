"""The Venue: ``apply(command) -> list[Event]``, one deterministic state machine.

It composes the order books, the ledger and the clearing records. Time and sequence
arrive with the command; nothing here reads a clock or draws a random number.

Every handler checks everything first and raises :class:`Rejection` before it changes
anything, so a rejected command yields exactly one ``command_rejected`` event and leaves
the state (and :meth:`Venue.state_hash`) as it was. An exception from a handler after it
has started changing state is a broken invariant: the Venue stops
(:class:`VenueStopped`) rather than continue with unaudited state.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any, Final, get_args

import msgspec

from onshore.book import OrderBook
from onshore.book.events import Accepted, Amended, BookEvent, Cancelled, Fill, Rejected, StateChanged
from onshore.book.records import (
    BUY,
    GTC,
    HALTED,
    IOC,
    LIMIT,
    MARKET_STATES,
    ORDER_TYPES,
    SELL,
    SIDE_NAMES,
    SIDES,
    STP_CANCEL_RESTING,
    STP_MODES,
    TIME_IN_FORCE,
)
from onshore.broker import (
    DisclosureError,
    DisclosureRegistry,
    effective_max_leverage,
    margin_call_step,
    opening_refusal,
    reducing_refusal,
    review_application,
)
from onshore.broker import Rejected as BrokerRejected
from onshore.clearing import accounts
from onshore.clearing.accounts import Account, Holding, Member
from onshore.clearing.ledger import (
    CASH,
    CLEARING_HOUSE_CAPITAL,
    FEE_INCOME,
    INSURANCE_FUND,
    MEMBER_CAPITAL,
    MEMBER_DEFAULT_FUND,
    ROUNDING,
    SYSTEM,
    VARIATION_SETTLEMENT,
    Ledger,
)
from onshore.clearing.ledger import ISOLATED as ISOLATED_KIND
from onshore.clearing.margin import Tiers, open_loss
from onshore.core import commands as c
from onshore.core import events as e
from onshore.core import units
from onshore.core.reasons import Cancel, Reject
from onshore.core.spec import LEVERAGE_SCALE, IndexSpec, MarketSpec, VenueConfig
from onshore.core.units import OffGridError, div_floor
from onshore.pricing.funding import distribute_funding, funding_rate_for, premium_ppb
from onshore.pricing.impact import impact_ask_ticks, impact_bid_ticks
from onshore.pricing.index import index_price_for
from onshore.pricing.mark import basis_sample_ticks, mark_components, median3
from onshore.pricing.ticks import convert_price_ticks
from onshore.venue import liquidation
from onshore.venue.codec import LEVERAGE, MONEY, GridCodec, Rejection, fmt_money, fmt_rate
from onshore.venue.errors import VenueStopped
from onshore.venue.liquidation import is_below_maintenance, liquidate, offload_houses
from onshore.venue.state import state_document, state_hash_of

REDUCE_ONLY_EXCESS: Final = "reduce_only"
MAX_TS: Final = 7_258_118_400_000  # 2200-01-01: a ts beyond it is a unit mistake, not a time

# Module-level Final aliases: compiled code reads them as C statics. A name imported from
# a module that is not compiled with this one (or not declared Final there) would be a
# lookup in this module's globals at every use.
heappush: Final = heapq.heappush
heappop: Final = heapq.heappop
heapify: Final = heapq.heapify
astuple: Final = msgspec.structs.astuple
CROSS: Final = accounts.CROSS
ISOLATED: Final = accounts.ISOLATED
PPB: Final = units.PPB
HOUSE_PREFIX: Final = liquidation.HOUSE_PREFIX
_PlaceOrder: Final = c.PlaceOrder
_CancelOrder: Final = c.CancelOrder
_Trade: Final = e.Trade
_OrderAccepted: Final = e.OrderAccepted
_OrderCancelled: Final = e.OrderCancelled
_OrderAmended: Final = e.OrderAmended
_MarkPrice: Final = e.MarkPrice
_R_UNKNOWN_ACCOUNT: Final = str(Reject.UNKNOWN_ACCOUNT)
_R_UNKNOWN_MARKET: Final = str(Reject.UNKNOWN_MARKET)

# The usual values of a placement's enumerations, as the very objects the decoder returns
# (the protocol's Literal types; their order is checked against the book's tables below).
_S_BUY: Final = get_args(c.Side)[0]
_S_SELL: Final = get_args(c.Side)[1]
_S_LIMIT: Final = get_args(c.OrderType)[0]
_S_GTC: Final = get_args(c.TimeInForce)[0]
_S_IOC: Final = get_args(c.TimeInForce)[1]
_S_CANCEL_RESTING: Final = get_args(c.Stp)[0]
# Checked at import with `raise`, not `assert` (which `python -O` drops): a mismatch would
# silently give fields the wrong meaning.
if (SIDES[_S_BUY], SIDES[_S_SELL], ORDER_TYPES[_S_LIMIT]) != (BUY, SELL, LIMIT) or (
    TIME_IN_FORCE[_S_GTC],
    TIME_IN_FORCE[_S_IOC],
    STP_MODES[_S_CANCEL_RESTING],
) != (GTC, IOC, STP_CANCEL_RESTING):
    raise ImportError("the protocol's enumerations and the book's tables disagree: update Venue._place_order")

# Venue._place_order unpacks a PlaceOrder in this field order.
if c.PlaceOrder.__struct_fields__ != (
    "account",
    "market",
    "client_order_id",
    "side",
    "qty",
    "order_type",
    "price",
    "time_in_force",
    "post_only",
    "reduce_only",
    "stp",
    "ts",
    "id",
):
    raise ImportError("PlaceOrder's fields moved: update Venue._place_order")
if c.CancelOrder.__struct_fields__ != ("account", "market", "order_id", "client_order_id", "ts", "id"):
    raise ImportError("CancelOrder's fields moved: update Venue._cancel_order")


class OpenOrder:
    """The Venue's record of a resting order (the book holds the live quantities)."""

    __slots__ = ("account", "client_order_id", "holder", "holding", "market", "price", "reduce_only", "side")

    def __init__(
        self,
        holder: Account,
        market: str,
        client_order_id: str,
        side: int,
        price: int,
        reduce_only: bool,
        holding: Holding,
    ) -> None:
        self.holder = holder
        self.account = holder.account_id
        self.market = market
        self.client_order_id = client_order_id
        self.side = side
        self.price = price
        self.reduce_only = reduce_only
        self.holding = holding


class Customer:
    """What the broker layer knows of an account: limits, onboarding, disclosures, reviews.

    Every account has one. ``onboarded`` accounts came through ``onboard_customer`` and
    are gated: no opening or increasing order before every current disclosure is
    acknowledged, and none after the yearly profile review falls due. Limits start at the
    segment's and may only be tightened.
    """

    __slots__ = (
        "acknowledged",
        "assessment",
        "in_margin_call",
        "markets",
        "max_leverage",
        "max_position_notional",
        "onboarded",
        "overrides",
        "review_due_ms",
    )

    def __init__(self, max_leverage: int, max_position_notional: int, markets: list[str] | None) -> None:
        self.max_leverage = max_leverage
        self.max_position_notional = max_position_notional
        self.markets = markets
        self.onboarded = False
        self.acknowledged: dict[str, str] = {}
        self.review_due_ms = 0
        self.in_margin_call = False
        self.assessment: list[str] = []
        # what the member set with set_account_limits: kept through reviews (overrides only tighten)
        self.overrides: dict[str, Any] = {}

    def state(self) -> dict[str, Any]:
        """The record as plain values (snapshots and the state hash)."""
        return {
            "max_leverage": self.max_leverage,
            "max_position_notional": self.max_position_notional,
            "markets": self.markets,
            "onboarded": self.onboarded,
            "acknowledged": dict(sorted(self.acknowledged.items())),
            "review_due_ms": self.review_due_ms,
            "in_margin_call": self.in_margin_call,
            "assessment": list(self.assessment),
            "overrides": dict(sorted(self.overrides.items())),
        }

    @staticmethod
    def from_state(state: dict[str, Any]) -> Customer:
        """Rebuild a record from :meth:`state`."""
        customer = Customer(int(state["max_leverage"]), int(state["max_position_notional"]), state["markets"])
        customer.onboarded = bool(state["onboarded"])
        customer.acknowledged = {str(k): str(v) for k, v in state["acknowledged"].items()}
        customer.review_due_ms = int(state["review_due_ms"])
        customer.in_margin_call = bool(state["in_margin_call"])
        customer.assessment = [str(x) for x in state["assessment"]]
        customer.overrides = dict(state.get("overrides", {}))
        return customer


class Market:
    """One market at run time: its spec, book, codecs, prices and pricing state."""

    __slots__ = (
        "basis_samples",
        "book",
        "index",
        "index_stale",
        "index_ticks",
        "k",
        "last_funding_rate_ppb",
        "last_settlement_ticks",
        "longs",
        "maker_fee_ppb",
        "mark",
        "mark_a",
        "mark_b",
        "mark_before",
        "mark_cmd",
        "name",
        "next_funding_ms",
        "next_sample_ms",
        "position_limits",
        "premium_samples",
        "price",
        "qty",
        "shorts",
        "spec",
        "taker_fee_ppb",
        "tiers",
        "top_mm_rate",
    )

    def __init__(self, spec: MarketSpec, index: IndexSpec, client_order_ids: dict[str, dict[str, int]]) -> None:
        self.spec = spec
        # the spec fields read on every order and fill, as native attributes
        self.name: str = spec.name
        self.maker_fee_ppb: int = spec.maker_fee_ppb
        self.taker_fee_ppb: int = spec.taker_fee_ppb
        self.position_limits: dict[str, int] = spec.position_limits
        self.index = index
        self.k = spec.micros_per_tick_lot
        self.tiers = Tiers(spec)
        self.top_mm_rate: int = max(self.tiers.mm_rate)
        # liquidation detection (Venue._refresh_triggers): heaps of (key, account id, version,
        # account), keyed -trigger for longs and trigger for shorts; (key, id, version) is unique
        # in a heap, so the account object is never compared; rebuilt on restore, never saved
        self.longs: list[tuple[int, str, int, Account]] = []
        self.shorts: list[tuple[int, str, int, Account]] = []
        self.book = OrderBook(
            spec.name,
            max_order_lots=spec.max_order_lots,
            price_band_ppb=spec.price_band_ppb,
            market_protection_ppb=spec.market_protection_ppb,
            client_order_ids=client_order_ids,
        )
        self.price = GridCodec(spec.price_grid, "price")
        self.qty = GridCodec(spec.qty_grid, "qty")
        self.book.price_text = self.price.format
        self.book.qty_text = self.qty.format
        self.mark: int | None = None
        self.index_ticks: int | None = None
        self.index_stale = False
        self.last_funding_rate_ppb = 0
        self.last_settlement_ticks: int | None = None
        self.basis_samples: list[int] = []  # the moving-average window of basis samples (ticks)
        self.premium_samples: list[int] = []  # premium samples (ppb) of the current funding interval
        self.mark_a: int | None = None  # index + average basis, as of the last full recompute
        self.mark_b: int | None = None  # clamped impact mid, as of the last full recompute
        self.mark_before: int | None = None  # the mark before command ``mark_cmd`` changed it
        self.mark_cmd = 0
        self.next_sample_ms = 0
        self.next_funding_ms = 0

    def pricing_state(self) -> dict[str, Any]:
        """The pricing state a snapshot must carry."""
        return {
            "index_stale": self.index_stale,
            "last_settlement_ticks": self.last_settlement_ticks,
            "basis_samples": list(self.basis_samples),
            "premium_samples": list(self.premium_samples),
            "mark_a": self.mark_a,
            "mark_b": self.mark_b,
            "next_sample_ms": self.next_sample_ms,
            "next_funding_ms": self.next_funding_ms,
        }

    def restore_pricing_state(self, state: dict[str, Any]) -> None:
        """Put back what :meth:`pricing_state` saved."""
        self.index_stale = bool(state["index_stale"])
        self.last_settlement_ticks = state["last_settlement_ticks"]
        self.basis_samples = [int(x) for x in state["basis_samples"]]
        self.premium_samples = [int(x) for x in state["premium_samples"]]
        self.mark_a = state["mark_a"]
        self.mark_b = state["mark_b"]
        self.next_sample_ms = int(state["next_sample_ms"])
        self.next_funding_ms = int(state["next_funding_ms"])


class Venue:
    """The deterministic venue. ``apply`` is the only way in."""

    def __init__(self, config: VenueConfig) -> None:
        self.config = config
        self.ts = 0
        self.cmd = 0  # number of the command being (or last) applied
        self.seq = 0  # last event sequence number
        self.stopped: str | None = None
        self.ledger = Ledger()
        self.members: dict[str, Member] = {}
        self.accounts: dict[str, Account] = {}
        self.client_order_ids: dict[str, dict[str, int]] = {}
        self.markets: dict[str, Market] = {
            name: Market(spec, config.indices[spec.index], self.client_order_ids)
            for name, spec in config.markets.items()
        }
        self.open_orders: dict[int, OpenOrder] = {}
        self.customers: dict[str, Customer] = {}
        self.owner_accounts: dict[str, list[Account]] = {}
        self.disclosures = DisclosureRegistry.builtin(config.broker.disclosure_versions, config.clearing.loss_model)
        self.index_prices: dict[str, int] = {}  # index name -> price in the index grid's units
        self.index_valid_until: dict[str, int] = {}  # index name -> last ms its quotes are fresh
        self.loss_attribution: dict[str, int] = {}
        self.clock_started = False
        self.next_settlement_ms = 0
        # liquidation and loss allocation (see onshore.venue.liquidation)
        self.loss_by_segment: dict[str, int] = {}
        self.uncovered_loss = 0
        self.defaulted_members: set[str] = set()
        self.default_fund_contributions: dict[str, int] = {}
        self.assessed: dict[str, int] = {}
        self.liquidation_orders = 0
        self.houses = 0  # house accounts opened by takeovers (onshore.venue.liquidation): ids "@…"
        self._refreshed = 0  # accounts whose triggers were refreshed since the heaps were last compacted
        self.liquidation_trades = 0
        self._liquidating: str | None = None
        self._iso_liquidation: str | None = None  # "account/market" of an isolated position being liquidated
        # liquidation detection: per market, heaps of conservative trigger prices
        self._dirty: set[str] = set()
        self._retrigger: set[str] = set()  # accounts whose trigger must be recomputed (state unchanged)
        self._multi: set[str] = set()
        self._marks_moved = False
        self._calls_due = False  # margin calls are re-evaluated on the next tick after a mark moves or cash changes
        self._out: list[e.Event] = []
        self._fills_in_command = 0  # trade ids are {cmd}-{n}, n counting every fill of the command
        self._handlers: dict[type, Callable[[Any], None]] = {
            c.RegisterMember: self._register_member,
            c.OpenAccount: self._open_account,
            c.OnboardCustomer: self._onboard_customer,
            c.ReviewCustomer: self._review_customer,
            c.AcknowledgeDisclosure: self._acknowledge_disclosure,
            c.PublishDisclosure: self._publish_disclosure,
            c.SetAccountLimits: self._set_account_limits,
            c.Deposit: self._deposit,
            c.Withdraw: self._withdraw,
            c.SetLeverage: self._set_leverage,
            c.SetMarginMode: self._set_margin_mode,
            c.AmendOrder: self._amend_order,
            c.CancelAll: self._cancel_all,
            c.IndexUpdate: self._index_update,
            c.Tick: self._tick,
            c.SetMarketState: self._set_market_state,
        }
        clearing = config.clearing
        self.ledger.pay_in(SYSTEM, CLEARING_HOUSE_CAPITAL, clearing.clearing_house_capital_micros)
        self.ledger.pay_in(SYSTEM, INSURANCE_FUND, clearing.insurance_fund_micros)

    # ================================================================== entry point
    def apply(self, command: c.Command) -> list[e.Event]:
        """Apply one command; return the events it caused, in order."""
        if self.stopped is not None:
            raise VenueStopped(f"the venue stopped after a broken invariant: {self.stopped}")
        self.cmd += 1
        self._fills_in_command = 0
        out: list[e.Event] = []
        self._out = out
        kind = type(command)
        handler = None
        fields: tuple[Any, ...] = ()
        # the two commands of the order flow read every field in one call (attribute reads on
        # a Struct go one by one through the generic lookup) and are called natively
        if kind is _PlaceOrder:
            fields = astuple(command)
            ts = fields[11]
        elif kind is _CancelOrder:
            fields = astuple(command)
            ts = fields[4]
        else:
            handler = self._handlers.get(kind)
            if handler is None:
                self._reject(Reject.UNKNOWN_COMMAND, f"unknown command {kind.__name__}", None)
                return out
            ts = command.ts
        if type(ts) is not int:
            self._reject(Reject.MALFORMED_COMMAND, "ts must be an integer (ms since the epoch)", command)
            return out
        if ts < self.ts:
            self._reject(Reject.STALE_TIMESTAMP, f"ts {ts} is older than venue time {self.ts}", command)
            return out
        if ts > MAX_TS:
            self._reject(Reject.MALFORMED_COMMAND, f"ts {ts} is beyond the year 2200 (ms since the epoch)", command)
            return out
        try:
            if handler is not None:
                handler(command)
            elif kind is _PlaceOrder:
                self._place_order(fields)
            else:
                self._cancel_order(fields)
        except Rejection as rejection:
            if len(out):
                self._stop(f"rejection after events in {type(command).__name__}: {rejection.detail}")
            self._reject(rejection.reason, rejection.detail, command)
            return out
        except Exception as exc:
            why = f"{type(exc).__name__} in {type(command).__name__}: {exc}"
            self._stop(why)
            raise VenueStopped(why) from exc
        self.ts = ts
        if not self.clock_started:
            self._start_clock(ts)
        if self._dirty:
            self._calls_due = True
        if self._dirty or self._marks_moved:
            try:
                self._liquidation_pass(ts)
            except Exception as exc:
                why = f"{type(exc).__name__} in the liquidation pass: {exc}"
                self._stop(why)
                raise VenueStopped(why) from exc
        return out

    # ================================================================== liquidation detection
    def _liquidation_pass(self, ts: int) -> None:
        """Find every account below maintenance and liquidate it; repeat until the cascade stops.

        Each account with a position has a conservative trigger price per market (where its
        excess over maintenance would reach zero if only that market moved) in a heap; a
        mark move pops only the accounts it may have put under. Candidates are checked
        exactly and liquidated in account-id order; liquidations move the book and the
        mark, and the next round looks again, inside the same command. Markets whose index
        is stale are skipped: their marks are frozen.
        """
        if self.houses:
            offload_houses(self, ts)
        for _ in range(100_000):
            self._refresh_triggers()
            self._marks_moved = False
            candidates = self._pop_candidates()
            if not candidates:
                return
            for account_id in sorted(candidates):
                account = self.accounts[account_id]
                if is_below_maintenance(self, account):
                    liquidate(self, account, ts, self.equity_before_command(account))
                    self._dirty.add(account_id)
                else:
                    self._retrigger.add(account_id)
        raise AssertionError("the liquidation cascade did not stop")

    def equity_before_command(self, account: Account) -> int:
        """The account's cross equity at the marks as they were before the current command.

        The ``trader`` layer measures a liquidation from here: the collateral the account had
        before the move that put it under. It depends only on state (positions, cash, marks),
        never on when detection happened to look.
        """
        eq = self.ledger.cash(account.account_id)
        for name, h in account.holdings.items():
            if h.qty and h.mode is CROSS:
                m = self.markets[name]
                mark = m.mark_before if m.mark_cmd == self.cmd else m.mark
                eq += h.qty * (mark or 0) * m.k - h.cost
        return eq

    def _refresh_triggers(self) -> None:
        """Recompute the trigger prices of the accounts whose state changed.

        The trigger is :func:`onshore.clearing.liquidation.trigger_price`, inlined here: the
        mark at which the excess over maintenance would reach zero if only that market
        moved. Push order does not matter: entries are unique tuples, so the heaps pop in
        one order whatever their layout.
        """
        if not self._dirty and not self._retrigger:
            return
        dirty = self._dirty
        self._dirty = set()
        if self._retrigger:
            dirty |= self._retrigger
            self._retrigger = set()
        markets = self.markets
        accounts = self.accounts
        cash_book = self.ledger.cash_book
        for account_id in dirty:
            account = accounts[account_id]
            version = account.watch_version + 1
            account.watch_version = version
            equity = cash_book.get(account_id, 0)  # + cross positions' unrealized PnL: Venue.equity, inlined
            maintenance = 0
            crosses = 0
            for name, h in account.holdings.items():
                q = h.qty
                if q and h.mode is CROSS:
                    m = markets[name]
                    mark_ticks = m.mark or 0
                    equity += q * mark_ticks * m.k - h.cost
                    maintenance += m.tiers.maintenance((q if q > 0 else -q) * mark_ticks * m.k)
                    crosses += 1
            if account_id.startswith(HOUSE_PREFIX):
                maintenance = 0  # taken-over positions: the fund or the member stands behind them
            if crosses > 1:
                self._multi.add(account_id)
            elif self._multi:
                self._multi.discard(account_id)
            for name, h in account.holdings.items():
                qty = h.qty
                if not qty:
                    continue
                m = markets[name]
                mark = m.mark
                if mark is None:
                    continue
                if h.mode is CROSS:
                    excess = equity - maintenance
                else:
                    iso = self.ledger.balance(ISOLATED_KIND, f"{account_id}/{name}")
                    excess = (
                        iso + qty * mark * m.k - h.cost - m.tiers.maintenance((qty if qty > 0 else -qty) * mark * m.k)
                    )
                # The highest (lowest) mark at which a long (short) could be under maintenance if only
                # this market moved: strictly below (above) the mark while the account is safe, so a
                # safe account is never popped again at the same mark. A short's maintenance rises
                # with the price, so its excess falls by up to (1 + the top maintenance rate) per unit.
                if qty > 0:
                    trigger = mark - excess // (qty * m.k) - 1
                    heappush(m.longs, (-trigger, account_id, version, account))
                else:
                    trigger = mark + (excess * PPB) // (-qty * m.k * (PPB + m.top_mm_rate)) + 1
                    heappush(m.shorts, (trigger, account_id, version, account))
        # superseded entries only cost memory (pops skip them): look for them every few thousand
        # refreshed accounts, not every command; the heaps are rebuilt on restore, not saved
        self._refreshed += len(dirty)
        if self._refreshed >= 4096:
            self._refreshed = 0
            self._compact_watch()

    def _compact_watch(self) -> None:
        """Drop superseded trigger entries once they outnumber the live ones four to one."""
        limit = 4 * len(self.accounts) + 4096
        for market in self.markets.values():
            for heap in (market.longs, market.shorts):
                if len(heap) > limit:
                    live = [entry for entry in heap if entry[3].watch_version == entry[2]]
                    heapify(live)
                    heap[:] = live

    def _pop_candidates(self) -> set[str]:
        """Accounts whose trigger the current marks have reached (stale entries are dropped)."""
        found: set[str] = set()
        for market in self.markets.values():
            longs = market.longs
            shorts = market.shorts
            mark = market.mark
            if mark is None or market.index_stale or market.book.state == HALTED:
                continue
            if (not longs or -longs[0][0] < mark) and (not shorts or shorts[0][0] > mark):
                continue  # the usual case: no trigger reached
            while longs and -longs[0][0] >= mark:
                _key, account_id, version, account = heappop(longs)
                if account.watch_version == version:
                    found.add(account_id)
            while shorts and shorts[0][0] <= mark:
                _key, account_id, version, account = heappop(shorts)
                if account.watch_version == version:
                    found.add(account_id)
        return found

    def _new_holding(self, account: Account, market: Market) -> Holding:
        return Holding(self._default_leverage(account, market.spec))

    def _start_clock(self, ts: int) -> None:
        """Schedule the periodic work from the first accepted command's time.

        Every schedule is aligned to multiples of its interval (funding on the hour,
        settlement at 00:00 and 12:00 UTC by default): the next run is the first boundary
        strictly after ``ts``.
        """
        self.clock_started = True
        for market in self.markets.values():
            f = market.spec.funding
            market.next_sample_ms = (ts // f.premium_sample_ms + 1) * f.premium_sample_ms
            market.next_funding_ms = (ts // f.interval_ms + 1) * f.interval_ms
        c_spec = self.config.clearing
        step, offset = c_spec.settlement_interval_ms, c_spec.settlement_offset_ms
        self.next_settlement_ms = ((ts - offset) // step + 1) * step + offset

    def extra_state(self) -> dict[str, Any]:
        """Venue-level scheduling state for snapshots."""
        return {
            "clock_started": self.clock_started,
            "next_settlement_ms": self.next_settlement_ms,
            "loss_by_segment": dict(sorted(self.loss_by_segment.items())),
            "uncovered_loss": self.uncovered_loss,
            "defaulted_members": sorted(self.defaulted_members),
            "default_fund_contributions": dict(sorted(self.default_fund_contributions.items())),
            "assessed": dict(sorted(self.assessed.items())),
            "liquidation_orders": self.liquidation_orders,
            "liquidation_trades": self.liquidation_trades,
            "customers": {a: self.customers[a].state() for a in sorted(self.customers)},
            "index_valid_until": dict(sorted(self.index_valid_until.items())),
            "calls_due": self._calls_due,
            "disclosures": self.disclosures.snapshot(),
        }

    def restore_extra_state(self, state: dict[str, Any]) -> None:
        """Put back what :meth:`extra_state` saved."""
        self.clock_started = bool(state["clock_started"])
        self.next_settlement_ms = int(state["next_settlement_ms"])
        self.loss_by_segment = {k: int(v) for k, v in state["loss_by_segment"].items()}
        self.uncovered_loss = int(state["uncovered_loss"])
        self.defaulted_members = set(state["defaulted_members"])
        self.default_fund_contributions = {k: int(v) for k, v in state["default_fund_contributions"].items()}
        self.assessed = {k: int(v) for k, v in state["assessed"].items()}
        self.liquidation_orders = int(state["liquidation_orders"])
        self.liquidation_trades = int(state["liquidation_trades"])

        self.customers = {a: Customer.from_state(v) for a, v in state["customers"].items()}
        self.index_valid_until = {k: int(v) for k, v in state["index_valid_until"].items()}
        self._calls_due = bool(state["calls_due"])
        self.disclosures = DisclosureRegistry.from_snapshot(state["disclosures"], self.config.clearing.loss_model)
        # triggers are derived state: rebuild them from the restored positions
        self._retrigger.update(a for a, acct in self.accounts.items() if any(h.qty for h in acct.holdings.values()))
        self._refresh_triggers()

    def snapshot(self) -> bytes:
        """The whole state as canonical JSON bytes (see :mod:`onshore.venue.snapshot`)."""
        from onshore.venue.snapshot import snapshot

        return snapshot(self)

    @staticmethod
    def restore(config: VenueConfig, data: bytes) -> Venue:
        """A Venue in the state a :meth:`snapshot` recorded."""
        from onshore.venue.snapshot import restore

        return restore(config, data)

    def reject_line(self, reason: str, detail: str, line: int | None = None) -> list[e.Event]:
        """Number a command that could not be decoded and return its rejection event."""
        if self.stopped is not None:
            raise VenueStopped(f"the venue stopped after a broken invariant: {self.stopped}")
        self.cmd += 1
        self.seq += 1
        return [e.CommandRejected(seq=self.seq, ts=self.ts, cmd=self.cmd, reason=reason, detail=detail, line=line)]

    def _stop(self, why: str) -> None:
        self.stopped = why

    def _reject(self, reason: str, detail: str, command: c.Command | None) -> None:
        self.seq += 1
        name = type(command).__struct_config__.tag if command is not None else None
        self._out.append(
            e.CommandRejected(
                seq=self.seq,
                ts=self.ts,
                cmd=self.cmd,
                reason=str(reason),
                detail=detail,
                command=str(name) if name else None,
            )
        )

    # ================================================================== lookups
    def _account(self, account_id: object) -> Account:
        account = self.accounts.get(account_id) if type(account_id) is str else None
        if account is None:
            raise Rejection(Reject.UNKNOWN_ACCOUNT, f"no account {account_id!r}: open it first")
        return account

    def _market(self, name: object) -> Market:
        market = self.markets.get(name) if type(name) is str else None
        if market is None:
            raise Rejection(Reject.UNKNOWN_MARKET, f"no market {name!r}; markets are {', '.join(self.markets)}")
        return market

    def _holding(self, account: Account, market: Market) -> Holding:
        """The account's holding in ``market``, created with the default leverage if new."""
        h = account.holdings.get(market.name)
        if h is None:
            h = account.holdings[market.name] = Holding(self._default_leverage(account, market.spec))
        return h

    def _default_leverage(self, account: Account, spec: MarketSpec) -> int:
        customer = self.customers.get(account.account_id)
        seg = customer.max_leverage if customer is not None else self.config.segments[account.segment].max_leverage
        tier = spec.tiers[0].max_leverage
        return seg if seg < tier else tier

    @staticmethod
    def _amount(text: object, field: str) -> int:
        try:
            amount = MONEY.parse(text)
        except Rejection as r:
            raise Rejection(r.reason, r.detail.replace("amount", field, 1)) from None
        return amount

    # ================================================================== members and accounts
    def _register_member(self, cmd: c.RegisterMember) -> None:
        if type(cmd.member) is not str or not cmd.member:
            raise Rejection(Reject.MALFORMED_COMMAND, "member must be a non-empty string")
        if cmd.member in self.members:
            raise Rejection(Reject.DUPLICATE_MEMBER, f"member {cmd.member} is already registered")
        capital = self._amount(cmd.capital, "capital")
        default_fund = self._amount(cmd.default_fund, "default_fund")
        if capital < 0 or default_fund < 0:
            raise Rejection(Reject.NON_POSITIVE, "capital and default_fund must not be negative")
        self.members[cmd.member] = Member(cmd.member)
        self.ledger.pay_in(MEMBER_CAPITAL, cmd.member, capital)
        self.ledger.pay_in(MEMBER_DEFAULT_FUND, cmd.member, default_fund)
        self.default_fund_contributions[cmd.member] = default_fund
        self._emit(
            e.MemberRegistered,
            cmd.ts,
            member=cmd.member,
            capital=fmt_money(capital),
            default_fund=fmt_money(default_fund),
        )

    def _open_account(self, cmd: c.OpenAccount) -> None:
        """An account a member onboarded outside Onshore: segment limits, no disclosure gating."""
        member, owner = self._check_new_account(cmd.account, cmd.member, cmd.owner)
        spec = self.config.segments.get(cmd.segment)
        if spec is None:
            names = ", ".join(self.config.segments)
            raise Rejection(Reject.UNKNOWN_SEGMENT, f"unknown segment {cmd.segment!r}; segments are {names}")
        customer = self._customer_for(spec.name)
        self._create_account(cmd.account, member, spec.name, owner, customer)
        self._emit_account_opened(cmd.ts, cmd.account, member.member_id, spec.name, owner, customer, [])

    def _check_new_account(self, account: object, member_id: object, owner: object) -> tuple[Member, str]:
        if type(account) is not str or not account:
            raise Rejection(Reject.MALFORMED_COMMAND, "account must be a non-empty string")
        if account.startswith(HOUSE_PREFIX):
            raise Rejection(
                Reject.MALFORMED_COMMAND, f"account ids beginning {HOUSE_PREFIX!r} are the venue's own (house accounts)"
            )
        if account in self.accounts:
            raise Rejection(Reject.DUPLICATE_ACCOUNT, f"account {account} already exists")
        member = self.members.get(member_id) if type(member_id) is str else None
        if member is None:
            raise Rejection(Reject.UNKNOWN_MEMBER, f"no clearing member {member_id!r}: register it first")
        if owner is not None and type(owner) is not str:
            raise Rejection(Reject.MALFORMED_COMMAND, "owner must be a string")
        assert type(account) is str
        return member, owner if type(owner) is str and owner else account

    def _customer_for(self, segment: str) -> Customer:
        spec = self.config.segments[segment]
        return Customer(
            spec.max_leverage,
            spec.max_position_notional_micros,
            list(spec.markets) if spec.markets is not None else None,
        )

    def _create_account(self, account_id: str, member: Member, segment: str, owner: str, customer: Customer) -> None:
        account = self.accounts[account_id] = Account(account_id, member.member_id, segment, owner)
        self.owner_accounts.setdefault(owner, []).append(account)
        self.customers[account_id] = customer
        member.accounts.append(account_id)
        self.ledger.open(CASH, account_id)

    def _emit_account_opened(
        self,
        ts: int,
        account: str,
        member: str,
        segment: str,
        owner: str,
        customer: Customer,
        disclosures: list[e.Disclosure],
    ) -> None:
        self._emit(
            e.AccountOpened,
            ts,
            account=account,
            member=member,
            segment=segment,
            owner=owner,
            max_leverage=LEVERAGE.format(customer.max_leverage),
            max_position_notional=fmt_money(customer.max_position_notional),
            markets=customer.markets if customer.markets is not None else sorted(self.markets),
            disclosures=disclosures,
            review_due=customer.review_due_ms if customer.onboarded else None,
            assessment=list(customer.assessment),
        )

    def _onboard_customer(self, cmd: c.OnboardCustomer) -> None:
        """The broker's onboarding: KYC, suitability, segment, disclosures (docs/broker.md)."""
        member, owner = self._check_new_account(cmd.account, cmd.member, cmd.owner)
        outcome = review_application(cmd.profile, cmd.ts, self.config.broker, self.disclosures)
        if isinstance(outcome, BrokerRejected):
            self._emit(
                e.OnboardingRejected,
                cmd.ts,
                account=cmd.account,
                member=member.member_id,
                findings=[e.OnboardingFinding(str(f.reason), f.detail, f.field) for f in outcome.findings],
            )
            return
        segment = outcome.assessment.segment
        customer = self._customer_for(segment)
        customer.max_leverage = effective_max_leverage(customer.max_leverage, outcome.assessment)
        customer.onboarded = True
        customer.review_due_ms = outcome.review_due_ms
        customer.assessment = list(outcome.assessment.reasons)
        self._create_account(cmd.account, member, segment, owner, customer)
        disclosures = [e.Disclosure(document, version) for document, version in outcome.disclosures]
        self._emit_account_opened(cmd.ts, cmd.account, member.member_id, segment, owner, customer, disclosures)

    def _review_customer(self, cmd: c.ReviewCustomer) -> None:
        """The yearly profile review (NFA Rule 2-30): KYC and suitability again, a new review date.

        The segment follows the new assessment, and with it the account's limits; existing
        holdings above the new maximum leverage are brought down to it. A profile that fails
        leaves everything as it was (the account stays reduce-only once its review is due).
        """
        account = self._account(cmd.account)
        customer = self.customers[account.account_id]
        if not customer.onboarded:
            raise Rejection(
                Reject.NOT_ONBOARDED, f"{account.account_id} was opened by its member, not onboarded here: no review"
            )
        outcome = review_application(cmd.profile, cmd.ts, self.config.broker, self.disclosures)
        if isinstance(outcome, BrokerRejected):
            self._emit(
                e.ReviewRejected,
                cmd.ts,
                account=account.account_id,
                findings=[e.OnboardingFinding(str(f.reason), f.detail, f.field) for f in outcome.findings],
            )
            return
        segment = outcome.assessment.segment
        fresh = self._customer_for(segment)
        leverage = effective_max_leverage(fresh.max_leverage, outcome.assessment)
        over = customer.overrides  # what the member set stays in force: overrides only tighten
        if "max_leverage" in over:
            leverage = min(leverage, int(over["max_leverage"]))
        if "max_position_notional" in over:
            fresh.max_position_notional = min(fresh.max_position_notional, int(over["max_position_notional"]))
        if over.get("markets") is not None:
            allowed = set(fresh.markets) if fresh.markets is not None else set(self.markets)
            fresh.markets = sorted(allowed & set(over["markets"]))
        lowered = [h for h in account.holdings.values() if h.leverage > leverage]
        old = [h.leverage for h in lowered]
        for h in lowered:
            h.leverage = leverage
        short = bool(lowered) and self.excess(account) < 0
        if short:
            for h, lev in zip(lowered, old, strict=True):
                h.leverage = lev
            raise Rejection(
                Reject.INSUFFICIENT_MARGIN,
                f"as a {segment} customer the account could not carry its positions: reduce them first",
            )
        account.segment = segment
        customer.max_leverage = leverage
        customer.max_position_notional = fresh.max_position_notional
        customer.markets = fresh.markets
        customer.review_due_ms = outcome.review_due_ms
        customer.assessment = list(outcome.assessment.reasons)
        self._emit(
            e.CustomerReviewed,
            cmd.ts,
            account=account.account_id,
            segment=segment,
            max_leverage=LEVERAGE.format(leverage),
            max_position_notional=fmt_money(fresh.max_position_notional),
            review_due=outcome.review_due_ms,
            assessment=list(outcome.assessment.reasons),
        )

    def _acknowledge_disclosure(self, cmd: c.AcknowledgeDisclosure) -> None:
        account = self._account(cmd.account)
        try:
            self.disclosures.ensure_acknowledgeable(cmd.document, cmd.version)
        except DisclosureError as exc:
            raise Rejection(str(exc.reason), str(exc)) from None
        self.customers[account.account_id].acknowledged[cmd.document] = cmd.version
        self._emit(
            e.DisclosureAcknowledged,
            cmd.ts,
            account=account.account_id,
            document=cmd.document,
            version=cmd.version,
            sha256=self.disclosures.sha256(cmd.document, cmd.version),
        )

    def _publish_disclosure(self, cmd: c.PublishDisclosure) -> None:
        try:
            self.disclosures.ensure_publishable(cmd.document, cmd.version)
        except DisclosureError as exc:
            raise Rejection(str(exc.reason), str(exc)) from None
        self.disclosures.publish(cmd.document, cmd.version)
        self._emit(
            e.DisclosurePublished,
            cmd.ts,
            document=cmd.document,
            version=cmd.version,
            sha256=self.disclosures.sha256(cmd.document, cmd.version),
        )

    def _set_account_limits(self, cmd: c.SetAccountLimits) -> None:
        """Per-customer overrides: they may only tighten what the account has."""
        account = self._account(cmd.account)
        customer = self.customers[account.account_id]
        leverage = customer.max_leverage
        position = customer.max_position_notional
        markets = customer.markets
        if cmd.max_leverage is not None:
            leverage = LEVERAGE.parse(cmd.max_leverage)
            if leverage < LEVERAGE_SCALE:
                raise Rejection(Reject.NON_POSITIVE, "max_leverage must be at least 1")
            if leverage > customer.max_leverage:
                raise Rejection(
                    Reject.LIMIT_WOULD_LOOSEN,
                    f"max_leverage {cmd.max_leverage} is above the account's {LEVERAGE.format(customer.max_leverage)}: "
                    "overrides may only tighten",
                )
        if cmd.max_position_notional is not None:
            position = self._amount(cmd.max_position_notional, "max_position_notional")
            if position <= 0:
                raise Rejection(Reject.NON_POSITIVE, "max_position_notional must be positive")
            if position > customer.max_position_notional:
                raise Rejection(Reject.LIMIT_WOULD_LOOSEN, "max_position_notional may only be lowered")
        if cmd.markets is not None:
            if type(cmd.markets) is not list or not all(type(m) is str for m in cmd.markets):
                raise Rejection(Reject.MALFORMED_COMMAND, "markets must be a list of market names")
            allowed = set(customer.markets) if customer.markets is not None else set(self.markets)
            unknown = [m for m in cmd.markets if m not in allowed]
            if unknown:
                raise Rejection(Reject.LIMIT_WOULD_LOOSEN, f"markets {unknown} are not permitted to this account now")
            markets = sorted(set(cmd.markets))
        lowered = [h for h in account.holdings.values() if h.leverage > leverage]
        if lowered:
            old = [h.leverage for h in lowered]
            for h in lowered:
                h.leverage = leverage
            short = self.excess(account) < 0
            for h, lev in zip(lowered, old, strict=True):
                h.leverage = lev
            if short:
                raise Rejection(
                    Reject.INSUFFICIENT_MARGIN, "the account cannot carry its positions at the lower maximum leverage"
                )
        customer.max_leverage = leverage
        customer.max_position_notional = position
        customer.markets = markets
        # the member's limits are pinned, all three, until it sets them again
        customer.overrides = {"max_leverage": leverage, "max_position_notional": position, "markets": markets}
        for h in lowered:
            h.leverage = leverage
        self._emit(
            e.AccountLimitsSet,
            cmd.ts,
            account=account.account_id,
            max_leverage=LEVERAGE.format(leverage),
            max_position_notional=fmt_money(position),
            markets=markets if markets is not None else sorted(self.markets),
        )

    def _deposit(self, cmd: c.Deposit) -> None:
        account = self._account(cmd.account)
        amount = self._amount(cmd.amount, "amount")
        if amount <= 0:
            raise Rejection(Reject.NON_POSITIVE, "a deposit must be positive")
        self.ledger.deposit(account.account_id, amount)
        self._dirty.add(account.account_id)
        self._emit(e.DepositMade, cmd.ts, account=account.account_id, amount=fmt_money(amount))

    def _withdraw(self, cmd: c.Withdraw) -> None:
        account = self._account(cmd.account)
        amount = self._amount(cmd.amount, "amount")
        if amount <= 0:
            raise Rejection(Reject.NON_POSITIVE, "a withdrawal must be positive")
        free = self.withdrawable(account)
        if amount > free:
            raise Rejection(
                Reject.INSUFFICIENT_FUNDS,
                f"withdrawal of {fmt_money(amount)} exceeds the {fmt_money(max(free, 0))} not needed for initial "
                "margin (unrealized profit cannot be withdrawn)",
            )
        self.ledger.withdraw(account.account_id, amount)
        self._dirty.add(account.account_id)
        self._emit(e.Withdrawal, cmd.ts, account=account.account_id, amount=fmt_money(amount))

    def _set_leverage(self, cmd: c.SetLeverage) -> None:
        """Choose the leverage of one market; a request above the account's caps gets the cap.

        The caps are the account's maximum (its segment's, or tighter for this customer)
        and the maximum of the margin tier its position sits in. The event says what was
        asked and what capped it. Lowering leverage is refused if the account could not
        then carry its positions.
        """
        account = self._account(cmd.account)
        market = self._market(cmd.market)
        requested = LEVERAGE.parse(cmd.leverage)
        if requested < LEVERAGE_SCALE:
            raise Rejection(Reject.NON_POSITIVE, "leverage must be at least 1")
        leverage = requested
        capped_by: str | None = None
        account_max = self.customers[account.account_id].max_leverage
        if leverage > account_max:
            leverage, capped_by = account_max, "account"
        h = account.holdings.get(market.name)
        qty = h.qty if h is not None else 0
        tier_max = market.tiers.leverage_cap(abs(qty) * (market.mark or 0) * market.k)
        if leverage > tier_max:
            leverage, capped_by = tier_max, "tier"
        if h is not None and leverage < h.leverage:
            old = h.leverage
            h.leverage = leverage
            short = self.excess(account) < 0
            h.leverage = old
            if short:
                raise Rejection(Reject.INSUFFICIENT_MARGIN, "the account cannot carry its positions at this leverage")
        self._holding(account, market).leverage = leverage
        self._emit(
            e.LeverageSet,
            cmd.ts,
            account=account.account_id,
            market=market.name,
            leverage=LEVERAGE.format(leverage),
            requested=LEVERAGE.format(requested),
            capped_by=capped_by,
        )

    def _set_margin_mode(self, cmd: c.SetMarginMode) -> None:
        account = self._account(cmd.account)
        market = self._market(cmd.market)
        if cmd.mode not in (CROSS, ISOLATED):
            raise Rejection(Reject.MALFORMED_COMMAND, f"mode must be cross or isolated, got {cmd.mode!r}")
        h = account.holdings.get(market.name)
        if h is not None and (h.qty or h.has_orders()):
            raise Rejection(
                Reject.MARGIN_MODE_LOCKED,
                f"close the position and cancel the orders in {market.name} before changing the margin mode",
            )
        self._holding(account, market).mode = CROSS if cmd.mode == CROSS else ISOLATED
        self._emit(e.MarginModeSet, cmd.ts, account=account.account_id, market=market.name, mode=cmd.mode)

    # ================================================================== margin
    def equity(self, account: Account) -> int:
        """Cash plus unrealized PnL of the cross-margined positions, in micro-dollars."""
        eq = self.ledger.cash(account.account_id)
        markets = self.markets
        for name, h in account.holdings.items():
            if h.qty and h.mode is CROSS:
                m = markets[name]
                eq += h.qty * (m.mark or 0) * m.k - h.cost
        return eq

    def requirement(self, account: Account, skip: str | None = None) -> int:
        """Initial margin the account's cash and cross equity must carry, skipping market ``skip``.

        Σ over cross-margined markets of the initial margin for positions and open orders,
        plus Σ over isolated markets of what their open orders would add
        (:meth:`Tiers.isolated_orders`): an isolated position's own margin is already in its
        isolated account, but the margin of its open orders still comes out of cash when they fill.
        """
        total = 0
        markets = self.markets
        for name, h in account.holdings.items():
            if name == skip:
                continue
            if h.mode is CROSS:
                if h.qty or h.buy_lots or h.sell_lots:
                    m = markets[name]
                    total += m.tiers.requirement(
                        h.leverage, h.qty, m.mark or 0, h.buy_lots, h.buy_notional, h.sell_lots, h.sell_notional
                    )
            elif h.buy_lots or h.sell_lots:
                m = markets[name]
                total += m.tiers.isolated_orders(
                    h.leverage, h.qty, m.mark or 0, h.buy_lots, h.buy_notional, h.sell_lots, h.sell_notional
                )
        return total

    def _equity_and_requirement(self, account: Account, skip: str) -> tuple[int, int]:
        """``(equity(account), requirement(account, skip))`` in one pass over the holdings."""
        equity = self.ledger.cash(account.account_id)
        total = 0
        markets = self.markets
        for name, h in account.holdings.items():
            qty = h.qty
            if h.mode is CROSS:
                if qty or h.buy_lots or h.sell_lots:
                    m = markets[name]
                    mark = m.mark or 0
                    if qty:
                        equity += qty * mark * m.k - h.cost
                    if name != skip:
                        total += m.tiers.requirement(
                            h.leverage, qty, mark, h.buy_lots, h.buy_notional, h.sell_lots, h.sell_notional
                        )
            elif name != skip and (h.buy_lots or h.sell_lots):
                m = markets[name]
                total += m.tiers.isolated_orders(
                    h.leverage, qty, m.mark or 0, h.buy_lots, h.buy_notional, h.sell_lots, h.sell_notional
                )
        return equity, total

    def excess(self, account: Account) -> int:
        """Equity minus the initial margin of positions and open orders (cross markets)."""
        return self.equity(account) - self.requirement(account)

    def withdrawable(self, account: Account) -> int:
        """Cash not needed for initial margin, never counting unrealized profit."""
        upnl = self.equity(account) - self.ledger.cash(account.account_id)
        return self.ledger.cash(account.account_id) + min(0, upnl) - self.requirement(account)

    def _check_order_margin(
        self, account: Account, customer: Customer, market: Market, h: Holding, side: int, qty: int, price: int | None
    ) -> None:
        """Raise unless the account can carry its worst case with this order added."""
        if price is None:
            return
        k = market.k
        tiers = market.tiers
        buy_lots, buy_notional, sell_lots, sell_notional = h.buy_lots, h.buy_notional, h.sell_lots, h.sell_notional
        order_notional = qty * price * k
        if side == BUY:
            buy_lots += qty
            buy_notional += order_notional
        else:
            sell_lots += qty
            sell_notional += order_notional
        mark = market.mark or 0
        limit = customer.max_position_notional
        # cheap bound first: every lot at the highest of the prices involved
        top = price if price > mark else mark
        held = h.qty
        bound = ((held if held > 0 else -held) + h.buy_lots + h.sell_lots + qty) * top * k
        if bound > limit or mark == 0:
            worst = tiers.worst_notional(h.qty, mark, buy_lots, buy_notional, sell_lots, sell_notional)
            if worst > limit and worst > tiers.worst_notional(
                h.qty, mark, h.buy_lots, h.buy_notional, h.sell_lots, h.sell_notional
            ):
                raise Rejection(
                    Reject.POSITION_LIMIT,
                    f"the order could take {market.name} exposure to {fmt_money(worst)}, above this "
                    f"{account.segment} account's limit of {fmt_money(limit)}",
                )
        fee = open_loss(side == BUY, qty, price, mark, k)
        if h.mode is CROSS:
            fee += -((-order_notional * tiers.fee_ppb) // PPB)  # at the higher rate (0 if both are rebates)
            need = tiers.requirement(h.leverage, h.qty, mark, buy_lots, buy_notional, sell_lots, sell_notional)
            equity, others = self._equity_and_requirement(account, market.name)
            available = equity - others
        else:
            # the isolated reserve holds the fees of the side already; a sell takes bids at its
            # price or higher, so the part it can take now is margined at the best bid
            cash = self.ledger.cash(account.account_id)
            if side != BUY:
                bid = market.book.best_bid()
                if bid is not None and bid > price:
                    sell_notional += qty * (bid - price) * k
            need = tiers.isolated_orders(h.leverage, h.qty, mark, buy_lots, buy_notional, sell_lots, sell_notional)
            equity, others = self._equity_and_requirement(account, market.name)
            available = cash + min(0, equity - cash) - others
        if available < need + fee:
            raise Rejection(
                Reject.INSUFFICIENT_MARGIN,
                f"the order needs {fmt_money(need + fee)} of initial margin, open loss and fees; the account has "
                f"{fmt_money(max(available, 0))} available",
            )

    def _check_close_loss(
        self, account: Account, market: Market, h: Holding, side: int, qty: int, price: int, excluding: int = -1
    ) -> None:
        """Refuse a reduce-only order whose fill at its price could leave the account owing money.

        A reduce-only order needs no initial margin, but closing far from the mark realizes a
        loss: with the account's other reduce-only orders on the same side and the fees, that
        loss must fit in the account's equity (its cross equity, plus the isolated margin and
        PnL of this position when it is isolated). Otherwise a trader could hand a debt to the
        clearing house and the matching profit to a friend on the other side (docs/clearing.md).
        """
        mark = market.mark or 0
        k = market.k
        buys = side == BUY
        rate = market.tiers.fee_ppb  # the higher of the two fee rates, 0 if both are rebates
        loss = open_loss(buys, qty, price, mark, k) + self._fee(qty * price * k, rate)
        resting = market.book.orders
        for oid, other in self.open_orders.items():
            if other.holding is h and other.reduce_only and other.side == side and oid != excluding:
                lots = resting[oid].open_qty
                loss += open_loss(buys, lots, other.price, mark, k) + self._fee(lots * other.price * k, rate)
        worth = self.equity(account)
        if h.mode is ISOLATED:
            iso = self.ledger.balance(ISOLATED_KIND, f"{account.account_id}/{market.name}")
            worth += iso + h.qty * mark * k - h.cost
        if loss > worth:
            raise Rejection(
                Reject.INSUFFICIENT_MARGIN,
                f"closing at {market.price.format(price)} could cost {fmt_money(loss)} against the mark with fees, "
                f"more than the account's equity of {fmt_money(max(worth, 0))}",
            )

    # ================================================================== trading
    def _place_order(self, fields: tuple[Any, ...]) -> None:
        """A ``place_order`` command, as the tuple of its fields (order checked at load)."""
        (
            account_id,
            market_name,
            coid,
            side_name,
            qty_text,
            type_name,
            price_text,
            tif_name,
            post_only,
            reduce_only,
            stp_name,
            ts,
            _key,
        ) = fields
        if (
            type(account_id) is not str
            or type(market_name) is not str
            or type(side_name) is not str
            or type(type_name) is not str
            or type(tif_name) is not str
            or type(stp_name) is not str
        ):
            raise Rejection(
                Reject.MALFORMED_COMMAND, "account, market, side, order_type, time_in_force and stp must be strings"
            )
        account = self.accounts.get(account_id)
        if account is None:
            account = self._account(account_id)
        market = self.markets.get(market_name)
        if market is None:
            market = self._market(market_name)
        # The decoder hands over its own objects for these enumerations, so the usual values
        # are found by identity; any other string goes through the tables.
        side = BUY if side_name is _S_BUY else SELL if side_name is _S_SELL else SIDES.get(side_name)
        order_type = LIMIT if type_name is _S_LIMIT else ORDER_TYPES.get(type_name)
        tif = GTC if tif_name is _S_GTC else IOC if tif_name is _S_IOC else TIME_IN_FORCE.get(tif_name)
        stp = STP_CANCEL_RESTING if stp_name is _S_CANCEL_RESTING else STP_MODES.get(stp_name)
        if side is None or order_type is None or tif is None or stp is None:
            raise Rejection(Reject.MALFORMED_COMMAND, "side, order_type, time_in_force or stp has an unknown value")
        if type(post_only) is not bool or type(reduce_only) is not bool:
            raise Rejection(Reject.MALFORMED_COMMAND, "post_only and reduce_only must be true or false")
        qty = market.qty.parse(qty_text)
        if qty <= 0:
            raise Rejection(Reject.NON_POSITIVE, "qty must be positive")
        price: int | None
        if price_text is None:
            price = None
            if order_type == LIMIT:
                raise Rejection(Reject.PRICE_REQUIRED, "a limit order needs a price")
        else:
            price = market.price.parse(price_text)
        if type(coid) is not str or not coid:
            raise Rejection(Reject.MALFORMED_COMMAND, "client_order_id must be a non-empty string")
        if coid.startswith("liquidation-"):
            raise Rejection(
                Reject.RESERVED_CLIENT_ORDER_ID, "client order ids beginning 'liquidation-' are the venue's own"
            )
        book = market.book
        if book.state is HALTED:
            raise Rejection(Reject.MARKET_HALTED, f"{market.name} is halted: only cancels are accepted")
        name = market.name
        customer = self.customers[account.account_id]
        if customer.markets is not None and name not in customer.markets and not reduce_only:
            raise Rejection(
                Reject.MARKET_NOT_PERMITTED,
                f"{name} is not permitted to this {account.segment} account (reduce-only orders remain accepted)",
            )
        if customer.onboarded:
            self._check_gates(customer, reduce_only, ts)
        h = account.holdings.get(name)
        fresh = h is None
        if h is None:
            h = Holding(self._default_leverage(account, market.spec))
        if reduce_only:
            open_ro = h.ro_buy_lots if side == BUY else h.ro_sell_lots
            if (side == BUY and h.qty >= 0) or (side != BUY and h.qty <= 0) or qty + open_ro > abs(h.qty):
                raise Rejection(
                    Reject.REDUCE_ONLY_WOULD_INCREASE,
                    f"a reduce-only {side_name} of {qty_text} would not only reduce the position of {h.qty}",
                )
            close_price = price if order_type == LIMIT else book.protection_limit(side)
            if close_price is not None:
                self._check_close_loss(account, market, h, side, qty, close_price)
        else:
            check_price = price if order_type == LIMIT else book.protection_limit(side)
            self._check_order_margin(account, customer, market, h, side, qty, check_price)
            if market.position_limits:
                self._check_position_limit(account, market, h, side, qty)

        order_id = self.cmd
        events = book.place(
            order_id, account.account_id, coid, side, price, qty, order_type, tif, post_only, reduce_only, stp
        )
        first = events[0]
        if type(first) is Rejected:
            raise Rejection(first.reason, first.detail)
        # ---- accepted: state changes from here on
        if fresh:
            account.holdings[name] = h
        # a market order never rests: it is reported with the time in force it behaves as
        shown_tif = "ioc" if type_name == "market" and tif_name == "gtc" else tif_name
        self._apply_book_events(market, events, ts, coid, (type_name, shown_tif, post_only, reduce_only))
        resting = book.orders.get(order_id)
        if resting is not None:
            self._rest(market, order_id, account, coid, side, resting.open_qty, price, reduce_only, h)

    def _check_position_limit(self, account: Account, market: Market, h: Holding | None, side: int, qty: int) -> None:
        """Reject an order that could take its beneficial owner beyond the market's position limit.

        The owner's worst case on the order's side: Σ over its accounts of position plus open
        orders on that side, plus this order, in contracts (lots). Per segment of the
        account placing the order, else the market's default. Orders that only reduce the
        owner's exposure on that side are never refused.
        """
        limits = market.position_limits
        limit = limits.get(account.segment)
        if limit is None:
            limit = limits.get("default")
            if limit is None:
                return
        name = market.name
        exposure = 0
        owned = self.owner_accounts.get(account.owner)
        if owned is None or len(owned) == 1:  # the usual case: the owner has this one account
            if h is not None:
                exposure = h.qty + h.buy_lots if side == BUY else -h.qty + h.sell_lots
        else:
            for other in owned:
                held = other.holdings.get(name)
                if held is not None:
                    exposure += held.qty + held.buy_lots if side == BUY else -held.qty + held.sell_lots
        if exposure + qty > limit and qty > 0:
            raise Rejection(
                Reject.POSITION_LIMIT,
                f"the order could take owner {account.owner}'s {name} {'long' if side == BUY else 'short'} exposure "
                f"to {market.qty.format(exposure + qty)} contracts, above the position limit of "
                f"{market.qty.format(limit)}",
            )

    def _check_gates(self, customer: Customer, reducing: bool, ts: int) -> None:
        """The broker's gates on an onboarded account's order (disclosures, yearly review)."""
        if reducing:
            refusal = reducing_refusal(customer.acknowledged, self.disclosures)
        else:
            refusal = opening_refusal(customer.acknowledged, self.disclosures, customer.review_due_ms, ts)
        if refusal is not None:
            raise Rejection(refusal.reason, refusal.detail)

    def _rest(
        self,
        market: Market,
        order_id: int,
        account: Account,
        coid: str,
        side: int,
        open_qty: int,
        price: int | None,
        reduce_only: bool,
        h: Holding,
    ) -> None:
        assert price is not None
        self.open_orders[order_id] = OpenOrder(account, market.name, coid, side, price, reduce_only, h)
        notional = open_qty * price * market.k
        if side == BUY:
            h.buy_lots += open_qty
            h.buy_notional += notional
            if reduce_only:
                h.ro_buy_lots += open_qty
        else:
            h.sell_lots += open_qty
            h.sell_notional += notional
            if reduce_only:
                h.ro_sell_lots += open_qty

    def _unrest(self, market: Market, order: OpenOrder, qty: int) -> None:
        """Take ``qty`` lots of a resting order out of its holding's totals."""
        h = order.holding
        notional = qty * order.price * market.k
        if order.side == BUY:
            h.buy_lots -= qty
            h.buy_notional -= notional
            if order.reduce_only:
                h.ro_buy_lots -= qty
        else:
            h.sell_lots -= qty
            h.sell_notional -= notional
            if order.reduce_only:
                h.ro_sell_lots -= qty

    def _apply_book_events(
        self,
        market: Market,
        events: list[BookEvent],
        ts: int,
        taker_coid: str,
        placed: tuple[str, str, bool, bool] | None,
    ) -> None:
        """Turn the book's outcomes into ledger movements, position updates and protocol events.

        ``placed`` is what an ``order_accepted`` event repeats of a new order: its order type,
        time in force (as it behaves), post-only and reduce-only flags.
        """
        name = market.name
        traded = False
        touched: list[tuple[Account, Holding]] = []
        taker: Account | None = None  # the taker of the previous fill, and its holding: usually the same
        taker_h: Holding | None = None
        for ev in events:
            if type(ev) is Fill:
                self._fills_in_command += 1
                if taker is None or taker_h is None or taker.account_id != ev.taker_account:
                    taker = self.accounts[ev.taker_account]
                    taker_h = taker.holdings[name]
                self._on_fill(market, ev, ts, self._fills_in_command, touched, taker, taker_h)
                traded = True
            elif type(ev) is Cancelled:
                order = self.open_orders.get(ev.order_id)
                if order is not None:
                    del self.open_orders[ev.order_id]
                    self._unrest(market, order, ev.qty)
                    coid = order.client_order_id
                else:
                    coid = taker_coid
                self.seq += 1
                self._out.append(
                    _OrderCancelled(
                        seq=self.seq,
                        ts=ts,
                        cmd=self.cmd,
                        order_id=ev.order_id,
                        client_order_id=coid,
                        account=ev.account,
                        market=name,
                        reason=ev.reason,
                        qty=market.qty.format(ev.qty),
                    )
                )
            elif type(ev) is Accepted:
                assert placed is not None
                order_type, time_in_force, post_only, reduce_only = placed
                self.seq += 1
                self._out.append(
                    _OrderAccepted(
                        seq=self.seq,
                        ts=ts,
                        cmd=self.cmd,
                        order_id=ev.order_id,
                        client_order_id=taker_coid,
                        account=ev.account,
                        market=name,
                        side=SIDE_NAMES[ev.side],
                        price=None if ev.price is None else market.price.format(ev.price),
                        qty=market.qty.format(ev.qty),
                        order_type=order_type,
                        time_in_force=time_in_force,
                        post_only=post_only,
                        reduce_only=reduce_only,
                    )
                )
            elif type(ev) is Amended:
                self.seq += 1
                self._out.append(
                    _OrderAmended(
                        seq=self.seq,
                        ts=ts,
                        cmd=self.cmd,
                        order_id=ev.order_id,
                        client_order_id=taker_coid,
                        account=ev.account,
                        market=name,
                        price=None if ev.price is None else market.price.format(ev.price),
                        qty=market.qty.format(ev.qty),
                        open_qty=market.qty.format(ev.open_qty),
                        kept_priority=ev.kept_priority,
                    )
                )
        if touched:
            self._trim_reduce_only(market, touched, ts)
        if traded:
            self._refresh_mark(market, ts, full=False)

    def _on_fill(
        self,
        market: Market,
        fill: Fill,
        ts: int,
        n: int,
        touched: list[tuple[Account, Holding]],
        taker_account: Account,
        taker_h: Holding,
    ) -> None:
        k = market.k
        price = fill.price
        qty = fill.qty
        maker_id = fill.maker_order_id
        maker = self.open_orders[maker_id]
        self._unrest(market, maker, qty)
        if maker_id not in market.book.orders:
            del self.open_orders[maker_id]
        maker_account = maker.holder
        maker_h = maker.holding
        buy_qty = qty if fill.aggressor_side == BUY else -qty
        notional = qty * price * k
        maker_fee = self._fee(notional, market.maker_fee_ppb)
        taker_fee = 0 if fill.taker_account == self._liquidating else self._fee(notional, market.taker_fee_ppb)
        self._settle_fill(market, maker_account, maker_h, -buy_qty, price, maker_fee)
        self._settle_fill(market, taker_account, taker_h, buy_qty, price, taker_fee)
        if maker_h.ro_buy_lots or maker_h.ro_sell_lots:
            touched.append((maker_account, maker_h))
        if taker_h.ro_buy_lots or taker_h.ro_sell_lots:
            touched.append((taker_account, taker_h))
        self.seq += 1
        self._out.append(
            _Trade(
                seq=self.seq,
                ts=ts,
                cmd=self.cmd,
                trade_id=f"{self.cmd}-{n}",
                market=market.name,
                price=market.price.format(price),
                qty=market.qty.format(qty),
                aggressor_side=SIDE_NAMES[fill.aggressor_side],
                maker_order_id=maker_id,
                taker_order_id=fill.taker_order_id,
                maker_account=fill.maker_account,
                taker_account=fill.taker_account,
                maker_fee=MONEY.format(maker_fee),  # cached: nine fees in ten were paid before
                taker_fee=MONEY.format(taker_fee),
            )
        )

    @staticmethod
    def _fee(notional_micros: int, rate_ppb: int) -> int:
        """A fee owed rounds up; a rebate (negative rate) rounds down in magnitude."""
        if rate_ppb >= 0:
            return -((-notional_micros * rate_ppb) // PPB)  # ceiling
        return -((notional_micros * -rate_ppb) // PPB)  # a rebate: −⌊N·|r|⌋, rounded down in magnitude

    def _settle_fill(self, market: Market, account: Account, h: Holding, signed_qty: int, price: int, fee: int) -> None:
        """Book one side of a fill: isolated margin, realized PnL and the fee, all through the ledger."""
        ledger = self.ledger
        acct = account.account_id
        kind, key = CASH, acct
        if h.mode is ISOLATED:
            iso_key = f"{acct}/{market.name}"
            if iso_key == self._iso_liquidation:
                # an isolated position under liquidation keeps its margin and its PnL in the
                # isolated account until the episode ends (onshore.venue.liquidation)
                kind, key = ISOLATED_KIND, iso_key
            else:
                self._move_isolated_margin(ledger, market, acct, h, h.qty, signed_qty, price)
        realized = h.apply_fill(signed_qty, price, market.k)
        if kind is CASH:
            ledger.settle_fill(acct, realized, fee)
        else:
            if realized:
                ledger.transfer(SYSTEM, VARIATION_SETTLEMENT, kind, key, realized)
            if fee:
                ledger.transfer(CASH, acct, SYSTEM, FEE_INCOME, fee)
        self._dirty.add(acct)

    def _move_isolated_margin(
        self, ledger: Ledger, market: Market, acct: str, h: Holding, before: int, signed_qty: int, price: int
    ) -> None:
        """Allocate initial margin to an isolated position as it grows; release it as it shrinks."""
        key = f"{acct}/{market.name}"
        after = before + signed_qty
        held = ledger.balance(ISOLATED_KIND, key)
        if before and (before > 0) != (signed_qty > 0):
            closing = min(abs(signed_qty), abs(before))
            release = div_floor(held * closing, abs(before))
            ledger.transfer(ISOLATED_KIND, key, CASH, acct, release)
            held -= release
            opened = abs(after) if (after > 0) != (before > 0) and after else 0
        else:
            opened = abs(signed_qty)
        if opened:
            need = market.tiers.initial(opened * price * market.k, h.leverage)
            ledger.transfer(CASH, acct, ISOLATED_KIND, key, need)

    def _trim_reduce_only(self, market: Market, touched: list[tuple[Account, Holding]], ts: int) -> None:
        """Cancel reduce-only orders that would now do more than reduce, newest first."""
        book = market.book
        seen: set[int] = set()
        for account, h in touched:
            if id(h) in seen:
                continue
            seen.add(id(h))
            mine = [(oid, o) for oid, o in self.open_orders.items() if o.holding is h and o.reduce_only]
            for oid, order in sorted(mine, key=lambda item: item[0], reverse=True):
                allowed = -h.qty if order.side == BUY else h.qty
                side_lots = h.ro_buy_lots if order.side == BUY else h.ro_sell_lots
                if side_lots <= max(allowed, 0):
                    continue
                events = book.cancel(account.account_id, oid)
                ev = events[0]
                assert type(ev) is Cancelled
                self.open_orders.pop(oid)
                self._unrest(market, order, ev.qty)
                self._emit(
                    e.OrderCancelled,
                    ts,
                    order_id=oid,
                    client_order_id=order.client_order_id,
                    account=account.account_id,
                    market=market.name,
                    reason=REDUCE_ONLY_EXCESS,
                    qty=market.qty.format(ev.qty),
                )

    def _cancel_order(self, fields: tuple[Any, ...]) -> None:
        """A ``cancel_order`` command, as the tuple of its fields (order checked at load)."""
        account_id, market_name, order_id, coid, ts, _key = fields
        if type(account_id) is not str or type(market_name) is not str:
            raise Rejection(Reject.MALFORMED_COMMAND, "account and market must be strings")
        account = self.accounts.get(account_id)
        if account is None:
            account = self._account(account_id)
        market = self.markets.get(market_name)
        if market is None:
            market = self._market(market_name)
        if order_id is not None and type(order_id) is not int:
            raise Rejection(Reject.MALFORMED_COMMAND, "order_id must be an integer")
        if coid is not None and type(coid) is not str:
            raise Rejection(Reject.MALFORMED_COMMAND, "client_order_id must be a string")
        events = market.book.cancel(account.account_id, order_id, coid)
        first = events[0]
        if type(first) is Rejected:
            raise Rejection(first.reason, first.detail)
        self._apply_book_events(market, events, ts, "", None)

    def _cancel_all(self, cmd: c.CancelAll) -> None:
        account = self._account(cmd.account)
        markets = [self._market(cmd.market)] if cmd.market is not None else list(self.markets.values())
        for market in markets:
            events = market.book.cancel_all(account.account_id, Cancel.CANCEL_ALL)
            if events:
                self._apply_book_events(market, events, cmd.ts, "", None)

    def _amend_order(self, cmd: c.AmendOrder) -> None:
        account = self._account(cmd.account)
        market = self._market(cmd.market)
        if cmd.order_id is not None and type(cmd.order_id) is not int:
            raise Rejection(Reject.MALFORMED_COMMAND, "order_id must be an integer")
        book = market.book
        if cmd.order_id is None and cmd.client_order_id is None:
            raise Rejection(Reject.ORDER_ID_REQUIRED, "name the order by order_id or client_order_id")
        live = book.find(account.account_id, cmd.order_id, cmd.client_order_id)
        if live is None or live.order_id not in self.open_orders:
            which = cmd.order_id if cmd.order_id is not None else cmd.client_order_id
            raise Rejection(
                Reject.UNKNOWN_ORDER, f"no open order {which!r} of account {account.account_id} in {market.name}"
            )
        record = self.open_orders[live.order_id]
        price = market.price.parse(cmd.price) if cmd.price is not None else None
        qty = market.qty.parse(cmd.qty) if cmd.qty is not None else None
        new_price = record.price if price is None else price
        new_qty = live.qty if qty is None else qty
        new_open = new_qty - (live.qty - live.open_qty)
        grows = new_price != record.price or new_qty > live.qty
        customer = self.customers[account.account_id]
        if grows and not record.reduce_only and customer.markets is not None and market.name not in customer.markets:
            raise Rejection(
                Reject.MARKET_NOT_PERMITTED,
                f"{market.name} is not permitted to this {account.segment} account: orders may only shrink",
            )
        if customer.onboarded:  # a smaller order at the same price never opens anything
            self._check_gates(customer, record.reduce_only or not grows, cmd.ts)
        h = record.holding
        if not record.reduce_only and new_open > 0 and grows:
            # check the worst case with the old remainder taken out and the new one added
            self._unrest(market, record, live.open_qty)
            try:
                self._check_order_margin(account, customer, market, h, record.side, new_open, new_price)
                if market.position_limits:
                    self._check_position_limit(account, market, h, record.side, new_open)
            finally:
                self._rest_totals(market, record, live.open_qty)
        if record.reduce_only and qty is not None and new_qty > live.qty:
            raise Rejection(Reject.REDUCE_ONLY_WOULD_INCREASE, "a reduce-only order may not grow")
        if record.reduce_only and new_price != record.price and new_open > 0:
            self._check_close_loss(account, market, h, record.side, new_open, new_price, excluding=live.order_id)
        old_open = live.open_qty
        events = book.amend(account.account_id, cmd.order_id, cmd.client_order_id, price=price, qty=qty)
        first = events[0]
        if type(first) is Rejected:
            raise Rejection(first.reason, first.detail)
        assert type(first) is Amended
        order_id = first.order_id
        # the amended order leaves the venue's records and, if it still rests, comes back
        self._unrest(market, record, old_open)
        del self.open_orders[order_id]
        self._apply_book_events(market, events, cmd.ts, record.client_order_id, None)
        if order_id in book.orders:
            self._rest(
                market,
                order_id,
                account,
                record.client_order_id,
                record.side,
                book.orders[order_id].open_qty,
                first.price,
                record.reduce_only,
                h,
            )

    def _rest_totals(self, market: Market, order: OpenOrder, qty: int) -> None:
        h = order.holding
        notional = qty * order.price * market.k
        if order.side == BUY:
            h.buy_lots += qty
            h.buy_notional += notional
            if order.reduce_only:
                h.ro_buy_lots += qty
        else:
            h.sell_lots += qty
            h.sell_notional += notional
            if order.reduce_only:
                h.ro_sell_lots += qty

    def _set_market_state(self, cmd: c.SetMarketState) -> None:
        market = self._market(cmd.market)
        if cmd.state not in MARKET_STATES:
            raise Rejection(Reject.INVALID_STATE, f"state must be one of {', '.join(MARKET_STATES)}")
        if market.book.state == HALTED and cmd.state != HALTED:
            self._marks_moved = True  # reopened: accounts that went under during the halt are looked at now
        events = market.book.set_state(cmd.state)
        assert type(events[0]) is StateChanged
        self._emit(e.MarketStateChanged, cmd.ts, market=market.name, state=market.book.state)

    # ================================================================== prices and time
    def _index_update(self, cmd: c.IndexUpdate) -> None:
        spec = self.config.indices.get(cmd.index)
        if spec is None:
            raise Rejection(
                Reject.UNKNOWN_INDEX, f"no index {cmd.index!r}; indices are {', '.join(self.config.indices)}"
            )
        if type(cmd.quotes) is not list:
            raise Rejection(Reject.MALFORMED_COMMAND, "quotes must be a list of {source, price, ts}")
        quotes: list[tuple[str, int, int]] = []
        for quote in cmd.quotes:
            try:
                units = spec.price_grid.parse(quote.price)
            except OffGridError as exc:
                raise Rejection(Reject.OFF_GRID, f"quote from {quote.source}: {exc}") from None
            except ValueError as exc:
                raise Rejection(Reject.BAD_DECIMAL, f"quote from {quote.source}: {exc}") from None
            if type(quote.ts) is not int:
                raise Rejection(Reject.MALFORMED_COMMAND, f"quote from {quote.source}: ts must be an integer")
            quotes.append((quote.source, units, quote.ts))
        result = index_price_for(spec, quotes, cmd.ts)
        markets = [m for m in self.markets.values() if m.spec.index == spec.name]
        if result.stale or result.price_ticks is None:
            self._emit(
                e.IndexStale,
                cmd.ts,
                index=spec.name,
                sources_used=sorted(result.sources_used),
                left_out=[f"{source}: {reason}" for source, reason in result.left_out],
            )
            for market in markets:
                market.index_stale = True
            return
        price = result.price_ticks
        converted = [(m, convert_price_ticks(price, spec.price_grid, m.spec.price_grid, "half_even")) for m in markets]
        for m, ticks in converted:
            if ticks <= 0:
                raise Rejection(
                    Reject.NON_POSITIVE,
                    f"the index {spec.price_grid.format(price)} is below one tick of {m.spec.name} "
                    f"({m.spec.tick_size})",
                )
        self.index_prices[spec.name] = price
        self.index_valid_until[spec.name] = cmd.ts + spec.hold_ms
        self._emit(
            e.IndexPrice,
            cmd.ts,
            index=spec.name,
            price=spec.price_grid.format(price),
            sources_used=sorted(result.sources_used),
        )
        for market, ticks in converted:
            market.index_ticks = ticks
            if market.index_stale:  # resumed: accounts that went under while it was paused are looked at now
                self._marks_moved = True
            market.index_stale = False
            self._refresh_mark(market, cmd.ts, full=True)

    def _refresh_mark(self, market: Market, ts: int, full: bool) -> None:
        """Recompute the mark: the median of index + average basis, clamped impact mid, last trade.

        ``full`` recomputes the two book-and-index components (on index updates and premium
        samples); otherwise only the last-trade component changes (after trades). With no
        index yet the mark is the last trade price; while the index is stale the mark is
        frozen. See docs/pricing.md.
        """
        index = market.index_ticks
        last = market.book.last_trade_ticks
        if index is None:
            self._set_mark(market, last, ts)
            return
        if market.index_stale:
            return
        a, b = market.mark_a, market.mark_b
        if full or a is None or b is None:
            ib, ia = self._impact(market)
            parts = mark_components(
                index_ticks=index,
                basis_samples_ticks=market.basis_samples,
                impact_bid_ticks=ib,
                impact_ask_ticks=ia,
                last_trade_ticks=last,
                impact_band_ppb=market.spec.mark_band_ppb,
            )
            market.mark_a = parts.index_basis_ticks
            market.mark_b = parts.impact_mid_ticks
            self._set_mark(market, parts.mark_ticks, ts)
            return
        self._set_mark(market, median3(a, b, index if last is None else last), ts)

    def _impact(self, market: Market) -> tuple[int | None, int | None]:
        """Impact bid and ask of the market's configured impact notional (ticks)."""
        book = market.book
        notional = market.spec.funding.impact_notional_micros
        return (
            impact_bid_ticks([(p, q) for p, q, _ in book.depth(BUY)], notional, market.k),
            impact_ask_ticks([(p, q) for p, q, _ in book.depth(1 - BUY)], notional, market.k),
        )

    def _set_mark(self, market: Market, ticks: int | None, ts: int) -> None:
        """Adopt a new mark price: emit it and move the book's price band with it."""
        if ticks is None or ticks == market.mark:
            return
        if market.mark_cmd != self.cmd:
            market.mark_before = market.mark
            market.mark_cmd = self.cmd
        market.mark = ticks
        market.book.set_reference(ticks)
        self._marks_moved = True
        self._calls_due = True
        if self._multi:
            name = market.name
            for account_id in self._multi:
                h = self.accounts[account_id].holdings.get(name)
                if h is not None and h.qty:
                    self._retrigger.add(account_id)
        self.seq += 1
        self._out.append(
            _MarkPrice(seq=self.seq, ts=ts, cmd=self.cmd, market=market.name, price=market.price.format(ticks))
        )

    def _tick(self, cmd: c.Tick) -> None:
        """Advance venue time and run, in time order, everything that fell due up to ``cmd.ts``.

        At equal times: premium samples, then funding, then variation settlement; markets
        in configuration order. Several intervals at once are run one by one.
        """
        if not self.clock_started:
            return
        now = cmd.ts
        self._run_due(now)
        if self._dirty:  # funding paid in this tick moved cash: look again now
            self._calls_due = True
        if self._calls_due:
            self._calls_due = False
            self._margin_calls(now)

    def _margin_calls(self, ts: int) -> None:
        """A ``margin_call`` to the customer and its member, once per episode below the warning level."""
        config = self.config.broker
        for account_id in sorted(self.accounts):
            if account_id.startswith(HOUSE_PREFIX):
                continue  # a house account is the fund's or the member's own, not a customer's
            account = self.accounts[account_id]
            customer = self.customers[account_id]
            if not any(h.qty and h.mode is CROSS for h in account.holdings.values()):
                if customer.in_margin_call:
                    customer.in_margin_call = False
                continue
            equity = self.equity(account)
            maintenance = 0
            for name, h in account.holdings.items():
                if h.qty and h.mode is CROSS:
                    m = self.markets[name]
                    maintenance += m.tiers.maintenance(abs(h.qty) * (m.mark or 0) * m.k)
            step = margin_call_step(customer.in_margin_call, equity, maintenance, config)
            customer.in_margin_call = step.in_episode
            if step.call:
                self._emit(
                    e.MarginCall,
                    ts,
                    account=account_id,
                    equity=fmt_money(equity),
                    maintenance=fmt_money(maintenance),
                    member=account.member,
                )

    def _run_due(self, now: int) -> None:
        """Run the scheduled work that fell due up to ``now``, in time order."""
        markets = list(self.markets.values())
        while True:
            due = now + 1
            job = -1
            which: Market | None = None
            for m in markets:
                if m.next_sample_ms < due:
                    due, job, which = m.next_sample_ms, 0, m
            for m in markets:
                if m.next_funding_ms < due:
                    due, job, which = m.next_funding_ms, 1, m
            if self.next_settlement_ms < due:
                due, job, which = self.next_settlement_ms, 2, None
            if due > now:
                return
            if job == 0:
                assert which is not None
                self._premium_sample(which, due, now)
                which.next_sample_ms += which.spec.funding.premium_sample_ms
            elif job == 1:
                assert which is not None
                self._fund(which, due, now)
                which.next_funding_ms += which.spec.funding.interval_ms
            else:
                self._settle(due, now)
                self.next_settlement_ms += self.config.clearing.settlement_interval_ms

    def _premium_sample(self, market: Market, at: int, ts: int) -> None:
        """One premium sample and one basis sample, then a full mark recompute; paused while the index is stale."""
        index = market.index_ticks
        if index is None or market.index_stale:
            return
        if at > self.index_valid_until.get(market.spec.index, at):
            self._index_went_stale(market.spec.index, ts)
            return
        ib, ia = self._impact(market)
        # the premium against the index on its own (finer) grid, exactly: impact prices convert to it without loss
        index_grid = market.index.price_grid
        exact_index = self.index_prices[market.spec.index]
        ib_i = None if ib is None else convert_price_ticks(ib, market.spec.price_grid, index_grid, "floor")
        ia_i = None if ia is None else convert_price_ticks(ia, market.spec.price_grid, index_grid, "ceil")
        market.premium_samples.append(premium_ppb(exact_index, ib_i, ia_i))
        basis = basis_sample_ticks(market.book.best_bid(), market.book.best_ask(), index)
        if basis is not None:
            market.basis_samples.append(basis)
            if len(market.basis_samples) > market.spec.basis_window:
                del market.basis_samples[0]
        self._refresh_mark(market, ts, full=True)

    def _index_went_stale(self, index: str, ts: int) -> None:
        """The index's quotes aged out with no update: freeze the marks and pause samples and liquidations."""
        markets = [m for m in self.markets.values() if m.spec.index == index and not m.index_stale]
        if not markets:
            return
        for m in markets:
            m.index_stale = True
        self._emit(e.IndexStale, ts, index=index, sources_used=[], left_out=["all sources: no fresh quote"])

    def _fund(self, market: Market, at: int, ts: int) -> None:
        """Pay funding for the interval ending at ``at``: longs pay shorts when the rate is positive.

        No samples in the interval (the index was stale throughout) means no funding.
        Payments move through ``variation_settlement``, and the rounding remainder (every
        payment rounds against the trader) goes to ``rounding``: zero-sum to the micro-dollar.
        """
        samples = market.premium_samples
        market.premium_samples = []
        mark = market.mark
        if not samples or mark is None:
            return
        rate = funding_rate_for(market.spec.funding, samples)
        market.last_funding_rate_ppb = rate.rate_ppb
        name = market.name
        self._emit(
            e.FundingRate,
            ts,
            market=name,
            rate=fmt_rate(rate.rate_ppb),
            rate_8h=fmt_rate(rate.rate_8h_ppb),
            premium=fmt_rate(rate.premium_ppb),
            interest=fmt_rate(rate.interest_ppb),
            funding_time=at,
            mark_price=market.price.format(mark),
        )
        holders: list[tuple[str, Holding]] = []
        for account in sorted(self.accounts.values(), key=_account_id):
            h = account.holdings.get(name)
            if h is not None and h.qty:
                holders.append((account.account_id, h))
        if not holders or rate.rate_ppb == 0:
            return
        dist = distribute_funding([h.qty for _, h in holders], mark, market.k, rate.rate_ppb)
        ledger = self.ledger
        for (acct, h), amount in zip(holders, dist.payments_micros, strict=True):
            if h.mode is ISOLATED:  # an isolated position pays and receives from its own margin
                ledger.transfer(SYSTEM, VARIATION_SETTLEMENT, ISOLATED_KIND, f"{acct}/{name}", amount)
            else:
                ledger.transfer(SYSTEM, VARIATION_SETTLEMENT, CASH, acct, amount)
            self._dirty.add(acct)
            self._emit(e.FundingPayment, ts, account=acct, market=name, amount=fmt_money(amount))
        ledger.transfer(SYSTEM, VARIATION_SETTLEMENT, SYSTEM, ROUNDING, dist.rounding_micros)

    def _settle(self, at: int, ts: int) -> None:
        """Variation settlement: pay each position's unrealized PnL at the mark into cash; reset its cost basis.

        Equity does not move. Isolated positions settle into their isolated margin.
        """
        ledger = self.ledger
        for name, market in self.markets.items():
            mark = market.mark
            if mark is None:
                continue
            market.last_settlement_ticks = mark
            k = market.k
            price = market.price.format(mark)
            for account in sorted(self.accounts.values(), key=_account_id):
                h = account.holdings.get(name)
                if h is None or not h.qty:
                    continue
                value = h.qty * mark * k
                amount = value - h.cost
                h.cost = value
                if h.mode is ISOLATED:
                    ledger.transfer(SYSTEM, VARIATION_SETTLEMENT, ISOLATED_KIND, f"{account.account_id}/{name}", amount)
                else:
                    ledger.transfer(SYSTEM, VARIATION_SETTLEMENT, CASH, account.account_id, amount)
                self._emit(
                    e.Settlement, ts, market=name, price=price, account=account.account_id, amount=fmt_money(amount)
                )

    # ================================================================== events
    def _emit(self, event_type: type[e.Event], ts: int, **fields: Any) -> None:
        self.seq += 1
        self._out.append(event_type(seq=self.seq, ts=ts, cmd=self.cmd, **fields))

    # ================================================================== state
    def state_document(self) -> dict[str, Any]:
        """The state document of docs/protocol.md, ``state_hash`` included."""
        return state_document(self)

    def state_hash(self) -> str:
        """SHA-256 of the canonical state; equal for equal command streams."""
        return state_hash_of(self)

    def check_invariants(self) -> None:
        """Raise AssertionError unless the books, the ledger and the positions are consistent."""
        self.ledger.check_invariants()
        for name, market in self.markets.items():
            market.book.check_invariants()
            net = sum(a.holdings[name].qty for a in self.accounts.values() if name in a.holdings)
            if net != 0:
                raise AssertionError(f"positions in {name} sum to {net}, not zero")
            resting = {oid for oid, o in self.open_orders.items() if o.market == name}
            if resting != set(market.book.orders):
                raise AssertionError(f"the venue's open orders and the {name} book disagree")
        for account in self.accounts.values():
            for name, h in account.holdings.items():
                live = [self.markets[name].book.orders[oid] for oid, o in self.open_orders.items() if o.holding is h]
                buys = sum(o.open_qty for o in live if o.side == BUY)
                sells = sum(o.open_qty for o in live if o.side != BUY)
                if (buys, sells) != (h.buy_lots, h.sell_lots):
                    raise AssertionError(f"{account.account_id} {name}: open-order totals drifted")


def _account_id(account: Account) -> str:
    return account.account_id
