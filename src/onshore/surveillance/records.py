"""The mutable records the streaming pass keeps: one per account and market, owner and market, market.

They live only inside :class:`~onshore.surveillance.engine.Surveillance` and are never
shared with the Venue. Quantities and prices are nano-units (``10**-9``), money
micro-dollars. Fields prefixed ``day_`` (or listed as daily) are reset when a record is
first touched on a new UTC day.
"""

from __future__ import annotations


class OwnerInfo:
    """A beneficial owner: its accounts, with each account's member (FCM) and segment."""

    __slots__ = ("accounts", "owner")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.accounts: dict[str, tuple[str, str]] = {}  # account -> (member, segment)


_NEVER = -(10**15)


class FundingCandidate:
    """A straddle by an order, confirmed unless the owner places another such order before ``deadline``."""

    __slots__ = ("b", "deadline", "first", "interval_end", "last", "position", "side", "ts")

    def __init__(
        self, deadline: int, interval_end: int, b: int, side: int, first: int, last: int, position: int, ts: int
    ) -> None:
        self.deadline = deadline
        self.interval_end = interval_end
        self.b = b
        self.side = side
        self.first = first
        self.last = last
        self.position = position
        self.ts = ts


class OwnerMarket:
    """One owner's aggregate in one market: gross long and short over its accounts, and detector state."""

    __slots__ = (
        "big_buy",
        "big_sell",
        "bought",
        "fund_b",
        "fund_done",
        "fund_last",
        "fund_pending",
        "fund_post",
        "fund_pre",
        "fund_seqs",
        "holdings",
        "long",
        "market",
        "over_long",
        "over_short",
        "owner",
        "resting_buy",
        "resting_sell",
        "short",
        "sold",
    )

    def __init__(self, owner: str, market: str) -> None:
        self.owner = owner
        self.market = market
        self.holdings: list[Holding] = []
        self.long = 0  # Σ of the positive positions of the owner's accounts
        self.short = 0  # Σ of the absolute negative positions
        self.bought = 0  # cumulative, every account of the owner (spoofing: the other side's trading)
        self.sold = 0
        self.over_long = False  # above the accountability level (re-armed below it)
        self.over_short = False
        self.big_buy = 0  # spoofing-sized orders resting now, anywhere (two-sided quoting is not spoofing)
        self.big_sell = 0
        self.resting_buy = 0  # … of them, those away from the touch and one-sided (layering)
        self.resting_sell = 0
        self.fund_last = [0, _NEVER, _NEVER]  # when the owner last placed a funding-sized order, by side (1, -1)
        self.fund_pending: list[FundingCandidate | None] = [None, None, None]  # a straddle awaiting its quiet after
        self.fund_b = -1  # the premium sample the current round trip is around
        self.fund_pre = 0  # signed qty taken in the window before it
        self.fund_post = 0  # qty taken back after it
        self.fund_seqs: list[int] = []
        self.fund_done = False


class Holding:
    """One account in one market: its position and the day's activity."""

    __slots__ = (
        "account",
        "amended",
        "bought",
        "cancelled",
        "day",
        "fills",
        "first_seq",
        "first_trade",
        "last_seq",
        "last_trade",
        "level",
        "market",
        "member",
        "om",
        "placed",
        "qty",
        "segment",
        "sold",
    )

    def __init__(self, account: str, market: str, member: str, segment: str, om: OwnerMarket, level: int) -> None:
        self.account = account
        self.market = market
        self.member = member
        self.segment = segment
        self.om = om
        self.level = level  # accountability level for this account's segment (nano-contracts)
        self.qty = 0  # signed position
        self.last_trade = 0  # seq of the last trade that moved the position
        self.day = -1  # the day the daily fields below belong to
        self.placed = 0
        self.amended = 0
        self.cancelled = 0  # by the owner (user, cancel_all)
        self.fills = 0
        self.bought = 0
        self.sold = 0
        self.first_seq = 0  # the day's first and last order or trade event
        self.last_seq = 0
        self.first_trade = 0

    def reset_day(self, day: int, seq: int) -> None:
        """Start the daily fields afresh for ``day`` at the event ``seq``."""
        self.day = day
        self.placed = self.amended = self.cancelled = self.fills = 0
        self.bought = self.sold = 0
        self.first_seq = self.last_seq = seq
        self.first_trade = 0


class LargeOrder:
    """An order large enough to watch (spoofing, funding), while it rests."""

    __slots__ = (
        "away",
        "big",
        "filled",
        "funding",
        "hb",
        "layers",
        "open",
        "opp0",
        "order_id",
        "price",
        "qty",
        "seq",
        "side",
        "spoof",
        "ts",
    )

    def __init__(self, order_id: int, hb: Holding, side: int, qty: int, price: int, seq: int, ts: int) -> None:
        self.order_id = order_id
        self.hb = hb
        self.side = side  # +1 buy, -1 sell
        self.qty = qty
        self.open = qty
        self.price = price
        self.seq = seq
        self.ts = ts
        self.filled = 0
        self.opp0 = 0  # the owner's cumulative other-side qty at placement
        self.away = False
        self.big = False  # spoofing-sized
        self.spoof = False  # watched for spoofing (spoofing-sized, away from the touch, none on the other side)
        self.funding = False  # watched around a premium sample (placed just before one, after a quiet spell)
        self.layers = 0  # large away orders of the owner on this side at placement, this one included


class MarketState:
    """One market: thresholds in price × qty units, open interest, and the day's figures."""

    __slots__ = (
        "adl_count",
        "adl_qty",
        "close",
        "contract",
        "fund_pq",
        "funding_count",
        "funding_paid",
        "funding_rate_sum",
        "high",
        "interval_ms",
        "last_price",
        "liq_count",
        "liq_pq",
        "liq_qty",
        "low",
        "mark",
        "name",
        "oi",
        "open",
        "pq",
        "sample_ms",
        "settlement",
        "spoof_pq",
        "trades",
        "vol_bucket",
        "vol_last",
        "vol_n",
        "vol_prev",
        "vol_sumsq",
        "volume",
        "watch_pq",
    )

    def __init__(self, name: str, contract: int, sample_ms: int, interval_ms: int, spoof_pq: int, fund_pq: int) -> None:
        self.name = name
        self.contract = contract  # contract size, nano base units
        self.sample_ms = sample_ms
        self.interval_ms = interval_ms
        self.spoof_pq = spoof_pq  # price × qty (nano²) from which an order is large for spoofing
        self.fund_pq = fund_pq  # … for moving the impact price
        self.watch_pq = min(spoof_pq, fund_pq)
        self.oi = 0
        self.last_price = 0  # last trade through the book
        self.mark = 0
        self.vol_bucket = -1
        self.vol_last = 0  # the last mark seen in the current bucket
        self.vol_prev = 0  # the close of the previous bucket
        self.reset_day()

    def reset_day(self) -> None:
        """Start the daily figures afresh (open interest, marks and the volatility chain carry over)."""
        self.trades = self.volume = self.pq = 0
        self.open = self.high = self.low = self.close = 0
        self.settlement = 0
        self.funding_count = self.funding_rate_sum = self.funding_paid = 0
        self.liq_count = self.liq_qty = self.liq_pq = 0
        self.adl_count = self.adl_qty = 0
        self.vol_sumsq = 0.0
        self.vol_n = 0
