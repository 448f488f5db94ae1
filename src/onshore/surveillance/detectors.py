"""Detectors: the rare-path state and the alerts of each pattern (docs/surveillance.md).

The streaming pass (:mod:`~onshore.surveillance.engine`) does the O(1) bookkeeping of
every event and calls into these classes only when an event could be part of a pattern
(a trade with the same owner on both sides, a watched order cancelled, a quote far from
the others …). Each class keeps its findings until the day closes and then turns them into
:class:`~onshore.surveillance.alerts.Alert` records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from onshore.surveillance.alerts import (
    ACCOUNTABILITY_LEVEL,
    CANCEL_RATIO,
    CONCENTRATION,
    FUNDING_MANIPULATION,
    HIGH,
    INDEX_MANIPULATION,
    LOW,
    MEDIUM,
    SPOOFING,
    WASH_TRADING,
    Alert,
    Range,
    merge_ranges,
    seq_ranges,
)
from onshore.surveillance.config import SurveillanceConfig, date_of_ms
from onshore.surveillance.decimals import NANO, fmt_nano, ratio, to_units


def _fraction(text: str) -> tuple[int, int]:
    """A non-negative decimal string as ``(numerator, denominator)`` of integers."""
    units = to_units(text, 9)
    return units, NANO


# --------------------------------------------------------------------------- wash trading
@dataclass(slots=True)
class _Wash:
    trades: int = 0
    qty: int = 0
    seqs: list[int] = field(default_factory=list)
    pairs: set[tuple[str, str]] = field(default_factory=set)


class WashTrades:
    """Trades with the same beneficial owner on both sides (17 CFR 1.38(a), CEA 4c(a)(2)(A)).

    Transfers outside the book (backstop, ADL, tear-up: order ids 0) are not trading and
    are never counted. Runtime complexity: O(1) per hit.
    """

    def __init__(self, config: SurveillanceConfig) -> None:
        self.config = config
        self._hits: dict[tuple[str, str], _Wash] = {}

    def record(self, owner: str, market: str, seq: int, qty: int, buyer: str, seller: str) -> None:
        """Note one wash trade."""
        key = (owner, market)
        hit = self._hits.get(key)
        if hit is None:
            hit = self._hits[key] = _Wash()
        hit.trades += 1
        hit.qty += qty
        hit.seqs.append(seq)
        hit.pairs.add((buyer, seller))

    def close_day(self, date: str, out: list[Alert]) -> None:
        """Alert for the day's owners with at least ``wash_min_trades`` such trades; forget the day."""
        cfg = self.config
        for (owner, market), hit in self._hits.items():
            if hit.trades < max(1, cfg.wash_min_trades):
                continue
            accounts = sorted({a for pair in hit.pairs for a in pair})
            out.append(
                Alert(
                    kind=WASH_TRADING,
                    severity=HIGH if hit.trades >= cfg.wash_high_trades else MEDIUM,
                    date=date,
                    owner=owner,
                    market=market,
                    evidence=seq_ranges(hit.seqs, cfg.evidence_max_ranges),
                    detail=(
                        f"{hit.trades} trade(s), {fmt_nano(hit.qty)} contracts, with owner {owner} on both sides "
                        f"(accounts {', '.join(accounts)})"
                    ),
                    figures={"trades": str(hit.trades), "qty": fmt_nano(hit.qty), "accounts": ";".join(accounts)},
                )
            )
        self._hits.clear()


# ------------------------------------------------------------------------ spoofing
@dataclass(slots=True)
class _Spoof:
    episodes: int = 0
    layered: int = 0
    qty: int = 0
    other_side_qty: int = 0
    ranges: list[Range] = field(default_factory=list)


class Spoofing:
    """Large orders away from the touch, cancelled unfilled while the owner trades the other side.

    CEA 4c(a)(5)(C) ("bidding or offering with the intent to cancel before execution") and
    17 CFR 180.1. An *episode* is one watched order (see the engine) cancelled by its owner
    within ``spoof_max_lifetime_ms``, never filled, while the owner's accounts traded at
    least something on the other side and the order was at least ``spoof_size_ratio`` times
    that. *Layering*: the owner had two or more such orders resting on the side at once.
    """

    def __init__(self, config: SurveillanceConfig) -> None:
        self.config = config
        self._hits: dict[tuple[str, str], _Spoof] = {}
        self.ratio_num, self.ratio_den = _fraction(config.spoof_size_ratio)

    def record(self, owner: str, market: str, first: int, last: int, qty: int, other: int, layered: bool) -> None:
        """Note one episode: the order's placement and cancellation sequence numbers."""
        key = (owner, market)
        hit = self._hits.get(key)
        if hit is None:
            hit = self._hits[key] = _Spoof()
        hit.episodes += 1
        hit.layered += layered
        hit.qty += qty
        hit.other_side_qty += other
        hit.ranges.append((first, last))

    def close_day(self, date: str, out: list[Alert]) -> None:
        """Alert for owners with at least ``spoof_min_episodes`` episodes in the day."""
        cfg = self.config
        for (owner, market), hit in self._hits.items():
            if hit.episodes < max(1, cfg.spoof_min_episodes):
                continue
            high = hit.layered > 0 or hit.episodes >= 2 * cfg.spoof_min_episodes
            what = "layering" if hit.layered else "spoofing"
            out.append(
                Alert(
                    kind=SPOOFING,
                    severity=HIGH if high else MEDIUM,
                    date=date,
                    owner=owner,
                    market=market,
                    evidence=merge_ranges(hit.ranges, cfg.evidence_max_ranges),
                    detail=(
                        f"{what}: {hit.episodes} large order(s) ({fmt_nano(hit.qty)} contracts) away from the touch "
                        f"cancelled unfilled while the owner traded {fmt_nano(hit.other_side_qty)} contracts on the "
                        f"other side; {hit.layered} placed with other large orders resting on the same side"
                    ),
                    figures={
                        "episodes": str(hit.episodes),
                        "layered_episodes": str(hit.layered),
                        "cancelled_qty": fmt_nano(hit.qty),
                        "other_side_qty": fmt_nano(hit.other_side_qty),
                    },
                )
            )
        self._hits.clear()


# ------------------------------------------------------------------- funding manipulation
@dataclass(slots=True)
class _Funding:
    samples: set[int] = field(default_factory=set)
    push: int = 0  # Σ direction: +1 pushes the premium up (bids / buys), -1 down
    ranges: list[Range] = field(default_factory=list)
    position: int = 0  # the owner's net position at the last straddle
    orders: int = 0
    trades: int = 0
    first_ts: int = 0


class FundingManipulation:
    """Orders or trades that move the impact prices during a premium sample and are reversed after.

    CEA 9(a)(2) and 17 CFR 180.1/180.2 (manipulation of a price that settles payments).
    A *straddle* of the premium sample at ``b``: (a) a watched order (at least
    ``funding_min_impact_fraction`` of the impact notional) placed within
    ``funding_window_before_ms`` before ``b``, still resting at ``b``, cancelled by its
    owner within ``funding_window_after_ms`` after it and filled less than half; or (b)
    trades taken (the owner as taker) in the window before ``b`` of at least that notional,
    undone by at least ``funding_reversal_fraction`` in the window after. An owner with
    ``funding_min_samples`` straddles in one funding interval is alerted; ``high`` when
    the premium was pushed the way the owner's position is paid (bids pushed up the
    premium while it was short, or offers pushed it down while it was long).
    """

    def __init__(self, config: SurveillanceConfig) -> None:
        self.config = config
        self._hits: dict[tuple[str, str, int], _Funding] = {}

    def record(
        self,
        owner: str,
        market: str,
        interval_end: int,
        sample: int,
        push: int,
        span: Range,
        position: int,
        ts: int,
        by_order: bool,
    ) -> None:
        """Note one straddle of the sample at ``sample`` (ms) in the interval ending at ``interval_end``."""
        key = (owner, market, interval_end)
        hit = self._hits.get(key)
        if hit is None:
            hit = self._hits[key] = _Funding(first_ts=ts)
        hit.samples.add(sample)
        hit.push += push
        hit.ranges.append(span)
        hit.position = position
        if by_order:
            hit.orders += 1
        else:
            hit.trades += 1

    def close(self, until_ms: int | None, out: list[Alert]) -> None:
        """Alert for the intervals that ended by ``until_ms`` (all when None); forget them.

        An alert is dated by its first straddle.
        """
        cfg = self.config
        done = [key for key in self._hits if until_ms is None or key[2] <= until_ms]
        for key in sorted(done):
            hit = self._hits.pop(key)
            owner, market, interval_end = key
            n = len(hit.samples)
            if n < max(1, cfg.funding_min_samples):
                continue
            up = hit.push > 0
            paid = (up and hit.position < 0) or (hit.push < 0 and hit.position > 0)
            direction = "up" if up else "down" if hit.push < 0 else "both ways"
            out.append(
                Alert(
                    kind=FUNDING_MANIPULATION,
                    severity=HIGH if paid else MEDIUM,
                    date=date_of_ms(hit.first_ts),
                    owner=owner,
                    market=market,
                    evidence=merge_ranges(hit.ranges, cfg.evidence_max_ranges),
                    detail=(
                        f"{n} premium samples of the funding interval ending at {interval_end} straddled "
                        f"({hit.orders} by orders placed before and cancelled after, {hit.trades} by trades reversed "
                        f"after), pushing the premium {direction}; the owner's net position was "
                        f"{fmt_nano(hit.position)}" + (" and is paid by that push" if paid else "")
                    ),
                    figures={
                        "samples": str(n),
                        "funding_time": str(interval_end),
                        "orders": str(hit.orders),
                        "trades": str(hit.trades),
                        "net_position": fmt_nano(hit.position),
                    },
                )
            )


# ------------------------------------------------------------------- index manipulation
@dataclass(slots=True)
class _Quote:
    quotes: int = 0
    used: int = 0
    max_dev_num: int = 0  # the largest deviation as a fraction num/den
    max_dev_den: int = 1
    high: int = 0  # deviating quotes that entered the index at twice the threshold or more
    seqs: list[int] = field(default_factory=list)


class IndexManipulation:
    """A constituent quote far from the other quotes of the same index update.

    Core Principle 3 (contracts not readily susceptible to manipulation, 17 CFR 38.200 and
    Appendix C on cash-settled contracts' reference prices). For each ``index_update``,
    each fresh quote is compared with the median of the *other* fresh quotes; one
    ``index_deviation_bps`` or farther away counts, whether the Venue's outlier rule left
    it out or it entered the index. Without the commands, ``index_stale`` events' left-out
    outliers count instead.
    """

    def __init__(self, config: SurveillanceConfig) -> None:
        self.config = config
        self._hits: dict[tuple[str, str], _Quote] = {}

    def quotes(self, index: str, quotes: list[tuple[str, int]], used: set[str] | None, seq: int) -> None:
        """Compare each quote ``(source, price nano)`` with the median of the others; ``used``: sources in the index."""
        thr = self.config.index_deviation_bps
        n = len(quotes)
        if n < 2:
            return
        order = sorted(range(n), key=lambda k: quotes[k][1])
        prices = [quotes[k][1] for k in order]
        others = n - 1
        mid = others // 2
        for rank, k in enumerate(order):
            source, price = quotes[k]
            # the others, sorted, are ``prices`` without position ``rank``
            upper = prices[mid] if mid < rank else prices[mid + 1]
            if others % 2:
                twice_median = 2 * upper
            else:
                lower = prices[mid - 1] if mid - 1 < rank else prices[mid]
                twice_median = lower + upper
            dev = abs(2 * price - twice_median)
            if twice_median > 0 and dev * 10_000 >= thr * twice_median:
                self._record(index, source, seq, used is not None and source in used, dev * 10_000, twice_median)

    def left_out(self, index: str, left_out: list[str], seq: int) -> None:
        """Count the outliers an ``index_stale`` event names (``"source: outlier"``)."""
        for entry in left_out:
            source, _, reason = entry.partition(": ")
            if reason == "outlier":
                self._record(index, source, seq, False, 0, 1)

    def _record(self, index: str, source: str, seq: int, used: bool, dev_num: int, dev_den: int) -> None:
        key = (source, index)
        hit = self._hits.get(key)
        if hit is None:
            hit = self._hits[key] = _Quote()
        hit.quotes += 1
        hit.used += used
        if dev_num * hit.max_dev_den > hit.max_dev_num * dev_den:
            hit.max_dev_num, hit.max_dev_den = dev_num, dev_den
        if used and dev_num >= 2 * self.config.index_deviation_bps * dev_den:
            hit.high += 1
        hit.seqs.append(seq)

    def close_day(self, date: str, out: list[Alert]) -> None:
        """Alert for sources with ``index_min_quotes`` deviating quotes in the day, or any far one in the index."""
        cfg = self.config
        for (source, index), hit in self._hits.items():
            if hit.quotes < max(1, cfg.index_min_quotes) and not hit.high:
                continue
            severity = HIGH if hit.high else MEDIUM if hit.used else LOW
            max_bps = ratio(hit.max_dev_num, hit.max_dev_den, 2) if hit.max_dev_num else ""
            out.append(
                Alert(
                    kind=INDEX_MANIPULATION,
                    severity=severity,
                    date=date,
                    owner=None,
                    market=index,
                    evidence=seq_ranges(hit.seqs, cfg.evidence_max_ranges),
                    detail=(
                        f"source {source}: {hit.quotes} quote(s) at least {cfg.index_deviation_bps} bps from the "
                        f"median of the other constituents of {index}"
                        + (f" (up to {max_bps} bps)" if max_bps else "")
                        + f"; {hit.used} entered the index"
                    ),
                    figures={
                        "source": source,
                        "quotes": str(hit.quotes),
                        "entered_index": str(hit.used),
                        "max_deviation_bps": max_bps,
                    },
                )
            )
        self._hits.clear()


# ------------------------------------------------------------------- end-of-day checks
@dataclass(slots=True)
class OwnerDay:
    """One owner's day in one market, aggregated over its accounts (built at the day's close)."""

    owner: str
    market: str
    placed: int = 0
    amended: int = 0
    cancelled: int = 0
    fills: int = 0
    bought: int = 0
    sold: int = 0
    first_seq: int = 0
    last_seq: int = 0
    first_trade: int = 0
    last_trade: int = 0


def cancel_ratio_alert(config: SurveillanceConfig, date: str, day: OwnerDay) -> Alert | None:
    """An alert when an owner's orders are mostly cancelled and rarely trade (CME Rule 575, 17 CFR 38.157).

    Assessed from ``cancel_min_orders`` orders placed in the day: cancelled / placed at or
    above ``cancel_ratio`` and messages (placed + amended) per fill at or above
    ``cancel_order_to_trade``; a day without fills counts as infinitely many per fill.
    """
    placed = day.placed
    if placed < max(1, config.cancel_min_orders):
        return None
    num, den = _fraction(config.cancel_ratio)
    if day.cancelled * den < num * placed:
        return None
    messages = placed + day.amended
    if day.fills and messages < config.cancel_order_to_trade * day.fills:
        return None
    otr = ratio(messages, day.fills, 2) if day.fills else "inf"
    return Alert(
        kind=CANCEL_RATIO,
        severity=HIGH if day.fills == 0 or messages >= 4 * config.cancel_order_to_trade * day.fills else MEDIUM,
        date=date,
        owner=day.owner,
        market=day.market,
        evidence=((day.first_seq, day.last_seq),),
        detail=(
            f"{day.cancelled} of {placed} orders cancelled ({ratio(day.cancelled, placed, 4)}), "
            f"{messages} order messages for {day.fills} fill(s) (order-to-trade {otr})"
        ),
        figures={
            "placed": str(placed),
            "amended": str(day.amended),
            "cancelled": str(day.cancelled),
            "fills": str(day.fills),
            "cancel_ratio": ratio(day.cancelled, placed, 4),
            "order_to_trade": otr,
        },
    )


def concentration_alert(
    config: SurveillanceConfig, date: str, owner: str, market: str, long: int, short: int, oi: int, evidence: Range
) -> Alert | None:
    """An alert when one owner holds more than ``concentration_share`` of the long or short open interest.

    Core Principle 4 (prevention of market disruption, 17 CFR 38.250) and the concentration
    figures of the Commitments of Traders. Assessed at the end of each day from
    ``concentration_min_oi`` contracts of open interest.
    """
    if oi <= 0 or oi < config.concentration_min_oi * NANO:
        return None
    num, den = _fraction(config.concentration_share)
    big = max(long, short)
    if big * den <= num * oi:
        return None
    side = "long" if long >= short else "short"
    share = ratio(big, oi, 4)
    return Alert(
        kind=CONCENTRATION,
        severity=HIGH if big * 2 > oi else MEDIUM,
        date=date,
        owner=owner,
        market=market,
        evidence=(evidence,),
        detail=(
            f"owner {owner} holds {fmt_nano(big)} of {fmt_nano(oi)} contracts of {side} open interest "
            f"({share}, above {config.concentration_share})"
        ),
        figures={"side": side, "qty": fmt_nano(big), "open_interest": fmt_nano(oi), "share": share},
    )


def accountability_alert(
    config: SurveillanceConfig,
    date: str,
    owner: str,
    market: str,
    segment: str,
    side: str,
    qty: int,
    level: int,
    seq: int,
) -> Alert:
    """An alert for review: the owner's position passed its accountability level.

    17 CFR 150.5 (exchange-set position accountability) and Core Principle 5 (17 CFR 38.300).
    """
    return Alert(
        kind=ACCOUNTABILITY_LEVEL,
        severity=HIGH if qty >= 2 * level else MEDIUM,
        date=date,
        owner=owner,
        market=market,
        evidence=((seq, seq),),
        detail=(
            f"owner {owner}'s {side} position in {market} reached {fmt_nano(qty)} contracts, above the "
            f"accountability level of {fmt_nano(level)} ({segment} segment)"
        ),
        figures={"side": side, "qty": fmt_nano(qty), "level": fmt_nano(level), "segment": segment},
    )
