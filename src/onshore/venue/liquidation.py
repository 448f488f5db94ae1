"""The liquidation engine and the two loss models, inside the Venue (docs/liquidation.md).

An account whose equity falls below maintenance margin is liquidated in named stages:

1. its open orders are cancelled;
2. ``partial`` / ``full``: its positions are reduced through the book with IOC orders
   limited at the bankruptcy price, only as much as brings it back above maintenance,
   in slices of at most ``liquidation_slice`` notional; a liquidation fee on the closed
   notional goes to the insurance fund, never more than the equity left;
3. ``backstop``: what the book cannot absorb within the bankruptcy price is taken by the
   configured backstop accounts at the bankruptcy price, as far as their margin allows;
4. ``market``: the rest goes through the book beyond the bankruptcy price, but never so
   far that the deficit could exceed what the loss model's money layers can pay;
5. the deficit (negative equity) is paid by the money layers — offshore: the insurance
   fund; US clearing: the member's capital (a member that cannot pay defaults), its
   default-fund contribution, the clearing house's capital, the other members'
   contributions pro rata, assessments capped at a multiple of their contribution;
6. ``takeover``: what is still open with no loss left to allocate is carried by the
   insurance fund (offshore, at the bankruptcy price, within the fund's balance) or the
   account's clearing member (US clearing, at the mark) in a house account (id ``@…``);
7. only what they cannot carry is closed against the other side — offshore:
   auto-deleveraging of the ranked opposite positions at the bankruptcy price of the lots
   left (``adl``); US clearing: a haircut on the other side's variation-margin gains if a
   deficit is left, then tear-up at the mark (``tear_up``).

Every amount absorbed is a ``loss_absorbed`` event naming its layer; the state document
totals them by layer and by the segment of the account where the loss started. A loss
nothing could absorb is reported as ``uncovered`` rather than hidden.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from onshore.book.events import Fill
from onshore.book.records import BUY, IOC, LIMIT, SELL
from onshore.clearing.accounts import ISOLATED as ISOLATED_MODE
from onshore.clearing.accounts import Account, Holding
from onshore.clearing.ledger import (
    CASH,
    CLEARING_HOUSE_CAPITAL,
    INSURANCE_FUND,
    ISOLATED,
    MEMBER_CAPITAL,
    MEMBER_DEFAULT_FUND,
    ROUNDING,
    SYSTEM,
    VARIATION_SETTLEMENT,
)
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
from onshore.core import events as e
from onshore.core.reasons import Cancel
from onshore.core.units import PPB, div_ceil, div_floor
from onshore.venue.codec import fmt_money

if TYPE_CHECKING:
    from onshore.venue.venue import Market, Venue

OFFSHORE = "offshore"
HOUSE_PREFIX = "@"  # account ids the venue keeps for itself: a customer cannot open one
FUND_HOUSE = "@insurance_fund"  # offshore: the positions the insurance fund took over
HOUSE_SEGMENT = "institutional"


def is_house(account_id: str) -> bool:
    """Whether the account carries positions taken over by the insurance fund or a clearing member.

    A house account has no maintenance margin of its own: the fund (offshore) or its member
    (US clearing) stands behind it, so it is liquidated only when its equity is negative.
    """
    return account_id.startswith(HOUSE_PREFIX)


class Episode:
    """One account's liquidation: where its money came from, for the attribution."""

    __slots__ = ("account", "isolated_market", "start_equity")

    def __init__(self, account: Account, start_equity: int, isolated_market: str | None) -> None:
        self.account = account
        self.start_equity = start_equity
        self.isolated_market = isolated_market


# ============================================================================ measuring
def cross_equity(venue: Venue, account: Account) -> int:
    """Cash plus the unrealized PnL of the account's cross positions."""
    return venue.equity(account)


def cross_maintenance(venue: Venue, account: Account, skip: str | None = None) -> int:
    """Σ maintenance margin of the account's cross positions at their marks (none for a house account)."""
    if is_house(account.account_id):
        return 0
    total = 0
    for name, h in account.holdings.items():
        if h.qty and h.mode is not ISOLATED_MODE and name != skip:
            m = venue.markets[name]
            total += m.tiers.maintenance(abs(h.qty) * (m.mark or 0) * m.k)
    return total


def isolated_key(account: Account, name: str) -> str:
    return f"{account.account_id}/{name}"


def isolated_equity(venue: Venue, account: Account, name: str) -> int:
    """An isolated position's margin plus its unrealized PnL."""
    h = account.holdings[name]
    m = venue.markets[name]
    return venue.ledger.balance(ISOLATED, isolated_key(account, name)) + h.qty * (m.mark or 0) * m.k - h.cost


def is_below_maintenance(venue: Venue, account: Account) -> bool:
    """Whether the account's cross equity, or any isolated position's, is below maintenance."""
    for name, h in account.holdings.items():
        if h.qty and h.mode is ISOLATED_MODE:
            m = venue.markets[name]
            if isolated_equity(venue, account, name) < m.tiers.maintenance(abs(h.qty) * (m.mark or 0) * m.k):
                return True
    if any(h.qty and h.mode is not ISOLATED_MODE for h in account.holdings.values()):
        return cross_equity(venue, account) < cross_maintenance(venue, account)
    return False


# ============================================================================ entry point
def liquidate(venue: Venue, account: Account, ts: int, reference_equity: int | None) -> None:
    """Liquidate whatever of ``account`` is below maintenance: isolated positions, then the cross account."""
    for name in sorted(account.holdings):
        h = account.holdings[name]
        if not h.qty or h.mode is not ISOLATED_MODE:
            continue
        m = venue.markets[name]
        if isolated_equity(venue, account, name) < m.tiers.maintenance(abs(h.qty) * (m.mark or 0) * m.k):
            start = isolated_equity(venue, account, name)
            if start <= 0:  # a gap: measure from the marks before the command, as for cross margin
                before = m.mark_before if m.mark_cmd == venue.cmd else m.mark
                start = (
                    venue.ledger.balance(ISOLATED, isolated_key(account, name)) + h.qty * (before or 0) * m.k - h.cost
                )
            episode = Episode(account, max(start, 0), name)
            _cancel_orders(venue, account, [m], ts)
            venue._iso_liquidation = isolated_key(account, name)
            try:
                _run(venue, episode, ts)
            finally:
                venue._iso_liquidation = None
            end = (
                isolated_equity(venue, account, name)
                if account.holdings[name].qty
                else venue.ledger.balance(ISOLATED, isolated_key(account, name))
            )
            _attribute_trader(venue, episode, end, ts)
            _finish_isolated(venue, account, name)
    if not any(h.qty and h.mode is not ISOLATED_MODE for h in account.holdings.values()):
        return
    equity = cross_equity(venue, account)
    if equity >= cross_maintenance(venue, account):
        return
    start = reference_equity if reference_equity is not None and equity <= 0 else equity
    episode = Episode(account, max(start, 0), None)
    _cancel_orders(venue, account, list(venue.markets.values()), ts)
    _run(venue, episode, ts)
    _attribute_trader(venue, episode, cross_equity(venue, account), ts)


def _cancel_orders(venue: Venue, account: Account, markets: list[Market], ts: int) -> None:
    for market in markets:
        events = market.book.cancel_all(account.account_id, Cancel.LIQUIDATION)
        if events:
            venue._apply_book_events(market, events, ts, "", None)


# ============================================================================ the stages
def _equity(venue: Venue, episode: Episode) -> int:
    if episode.isolated_market is not None:
        return isolated_equity(venue, episode.account, episode.isolated_market)
    return cross_equity(venue, episode.account)


def _maintenance(venue: Venue, episode: Episode) -> int:
    account = episode.account
    if episode.isolated_market is not None:
        name = episode.isolated_market
        m = venue.markets[name]
        return m.tiers.maintenance(abs(account.holdings[name].qty) * (m.mark or 0) * m.k)
    return cross_maintenance(venue, account)


def _positions(venue: Venue, episode: Episode) -> list[str]:
    """The markets still to reduce, largest maintenance margin first (ties by name)."""
    account = episode.account
    if episode.isolated_market is not None:
        name = episode.isolated_market
        return [name] if account.holdings[name].qty and _can_liquidate(venue.markets[name]) else []
    names = [
        n
        for n, h in account.holdings.items()
        if h.qty and h.mode is not ISOLATED_MODE and _can_liquidate(venue.markets[n])
    ]

    def weight(name: str) -> int:
        m = venue.markets[name]
        return m.tiers.maintenance(abs(account.holdings[name].qty) * (m.mark or 0) * m.k)

    return sorted(names, key=lambda n: (-weight(n), n))


def _can_liquidate(market: Market) -> bool:
    """A halted market takes no orders and a stale index freezes the mark: their positions wait."""
    return market.book.state != "halted" and not market.index_stale


def _run(venue: Venue, episode: Episode, ts: int) -> None:
    """Reduce positions until the account is back above maintenance or has nothing it can reduce.

    Every step closes at least one lot (the loss model closes a whole position), so the loop
    ends; a step that closes nothing is a broken invariant.
    """
    while True:
        names = _positions(venue, episode)
        if not names:
            return
        equity = _equity(venue, episode)
        if equity >= _maintenance(venue, episode):
            return
        name = names[0]
        market = venue.markets[name]
        h = episode.account.holdings[name]
        mark = market.mark or 0
        before = h.qty
        if equity > 0 and _reduce_within_bankruptcy(venue, episode, market, h, equity, mark, ts):
            continue
        _close_with_loss_model(venue, episode, market, h, ts)
        if h.qty == before:
            if is_house(episode.account.account_id) and _equity(venue, episode) >= 0:
                return  # the layers made the house whole: it carries the position on
            raise AssertionError(f"liquidation of {episode.account.account_id} made no progress in {name}")


def _reduce_within_bankruptcy(
    venue: Venue, episode: Episode, market: Market, h: Holding, equity: int, mark: int, ts: int
) -> bool:
    """Stages ``partial``/``full`` and ``backstop``; True if anything was closed."""
    k = market.k
    spec = venue.config.clearing
    qty = h.qty
    bankrupt = bankruptcy_price(qty, equity, mark, k)
    other = _maintenance(venue, episode) - market.tiers.maintenance(abs(qty) * mark * k)
    need = lots_to_restore(qty, equity, other, mark, k, market.tiers.maintenance, spec.liquidation_fee_ppb)
    slice_lots = max(1, spec.liquidation_slice_micros // max(1, mark * k))
    lots = min(need, slice_lots, abs(qty), market.spec.max_order_lots)
    stage = "full" if lots == abs(qty) else "partial"
    if bankrupt > 0 and _book_close(venue, episode, market, lots, bankrupt, stage, ts):
        return True
    return _backstop(venue, episode, market, h, bankrupt, ts)


def _book_close(
    venue: Venue, episode: Episode, market: Market, lots: int, limit: int, stage: str, ts: int, fee_due: bool = True
) -> int:
    """Send a reduce-only IOC for ``lots`` at ``limit``; book the fee (if due); return the lots filled."""
    account = episode.account
    h = account.holdings[market.spec.name]
    side = SELL if h.qty > 0 else BUY
    band = market.book.band()
    if band is not None:  # never beyond the price band: the book would refuse the order
        lo, hi = band
        if (side == SELL and limit > hi) or (side == BUY and limit < lo):
            return 0  # nothing rests beyond the band's far edge: the book can take nothing at this limit
        limit = max(limit, lo) if side == SELL else min(limit, hi)
    if limit <= 0 or lots <= 0:
        return 0
    venue.liquidation_orders += 1
    order_id = -venue.liquidation_orders
    coid = f"liquidation-{venue.liquidation_orders}"
    events = market.book.place(order_id, account.account_id, coid, side, limit, lots, LIMIT, IOC, False, True)
    filled = sum(ev.qty for ev in events if type(ev) is Fill)
    notional = sum(ev.qty * ev.price for ev in events if type(ev) is Fill) * market.k
    venue._liquidating = account.account_id
    try:
        venue._apply_book_events(market, events, ts, coid, ("limit", "ioc", False, True))
    finally:
        venue._liquidating = None
    if filled:
        fee = div_ceil(notional * venue.config.clearing.liquidation_fee_ppb, PPB) if fee_due else 0
        fee = max(0, min(fee, _equity(venue, episode)))
        if fee > 0:
            src_kind, src = _payer(episode)
            venue.ledger.transfer(src_kind, src, SYSTEM, INSURANCE_FUND, fee)
        venue._emit(
            e.Liquidation,
            ts,
            account=account.account_id,
            market=market.spec.name,
            qty=market.qty.format(filled),
            price=market.price.format(limit),
            stage=stage,
            fee=fmt_money(fee),
        )
    return filled


def _payer(episode: Episode) -> tuple[str, str]:
    """The ledger account the liquidated position's money comes from."""
    if episode.isolated_market is not None:
        return ISOLATED, isolated_key(episode.account, episode.isolated_market)
    return CASH, episode.account.account_id


def _transfer_position(
    venue: Venue, market: Market, seller: Account, buyer: Account, lots: int, price: int, ts: int, tag: str
) -> None:
    """Move ``lots`` from one holding to another at ``price`` outside the book (no fees), as a trade."""
    name = market.spec.name
    touched: list[tuple[Account, Holding]] = []
    for account, signed in ((seller, -lots), (buyer, lots)):
        h = account.holdings.get(name)
        if h is None:
            h = account.holdings[name] = venue._new_holding(account, market)
        kind, key = CASH, account.account_id
        if h.mode is ISOLATED_MODE:
            if isolated_key(account, name) == venue._iso_liquidation:
                kind, key = ISOLATED, isolated_key(account, name)  # stays in the position's margin
            else:
                venue._move_isolated_margin(venue.ledger, market, account.account_id, h, h.qty, signed, price)
        realized = h.apply_fill(signed, price, market.k)
        if realized:
            venue.ledger.transfer(SYSTEM, VARIATION_SETTLEMENT, kind, key, realized)
        venue._dirty.add(account.account_id)
        if h.ro_buy_lots or h.ro_sell_lots:
            touched.append((account, h))
    venue.liquidation_trades += 1
    venue._emit(
        e.Trade,
        ts,
        trade_id=f"{venue.cmd}-{tag}{venue.liquidation_trades}",
        market=name,
        price=market.price.format(price),
        qty=market.qty.format(lots),
        aggressor_side="sell",
        maker_order_id=0,
        taker_order_id=0,
        maker_account=buyer.account_id,
        taker_account=seller.account_id,
        maker_fee="0",
        taker_fee="0",
    )
    if touched:  # as after a fill in the book: reduce-only orders may not outgrow the new position
        venue._trim_reduce_only(market, touched, ts)


def _transfer(
    venue: Venue, market: Market, liquidated: Account, other: Account, lots: int, price: int, ts: int, tag: str
) -> None:
    """Close ``lots`` of the liquidated position against ``other`` (who takes the opposite side)."""
    if liquidated.holdings[market.spec.name].qty > 0:
        _transfer_position(venue, market, liquidated, other, lots, price, ts, tag)
    else:
        _transfer_position(venue, market, other, liquidated, lots, price, ts, tag)


def _backstop(venue: Venue, episode: Episode, market: Market, h: Holding, bankrupt: int, ts: int) -> bool:
    """Give what the book could not take to backstop accounts at the bankruptcy price."""
    if bankrupt <= 0:
        return False
    name = market.spec.name
    taken_any = False
    for backstop_id in venue.config.clearing.backstop_accounts:
        remaining = abs(h.qty)
        if not remaining:
            break
        backstop = venue.accounts.get(backstop_id)
        if backstop is None or backstop is episode.account:
            continue
        lots = _lots_backstop_can_carry(venue, backstop, market, remaining, bankrupt, h.qty > 0)
        if lots <= 0:
            continue
        _transfer(venue, market, episode.account, backstop, lots, bankrupt, ts, "b")
        venue._emit(
            e.Liquidation,
            ts,
            account=episode.account.account_id,
            market=name,
            qty=market.qty.format(lots),
            price=market.price.format(bankrupt),
            stage="backstop",
        )
        taken_any = True
    return taken_any


def _lots_backstop_can_carry(venue: Venue, backstop: Account, market: Market, most: int, price: int, buys: bool) -> int:
    """The most lots (≤ ``most``) the backstop can take at ``price`` and still meet initial margin."""
    name = market.spec.name
    h = backstop.holdings.get(name)
    qty = h.qty if h is not None else 0
    leverage = h.leverage if h is not None else venue._default_leverage(backstop, market.spec)
    equity = venue.equity(backstop)
    other = venue.requirement(backstop, skip=name)
    mark = market.mark or price

    def ok(lots: int) -> bool:
        new_qty = qty + (lots if buys else -lots)
        gain = (mark - price) * (lots if buys else -lots) * market.k
        need = market.tiers.initial(abs(new_qty) * mark * market.k, leverage)
        return equity + gain - other >= need

    lo, hi = 0, most
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _close_with_loss_model(venue: Venue, episode: Episode, market: Market, h: Holding, ts: int) -> None:
    """The book beyond bankruptcy within the layers' capacity; then, if still under, the layers and the other side.

    When the book takes part of the position the caller looks again: an account the ``market``
    stage brought back above maintenance (the book filled better than the mark) keeps the
    rest, as there is no loss to allocate and nobody to deleverage. Only when the book takes
    nothing more do the money layers pay the deficit. If that leaves no loss to allocate,
    the rest is taken over by the insurance fund (offshore) or the account's clearing member
    (US clearing) when they can carry it (:func:`_take_over`); only otherwise is it closed
    against the opposite positions (auto-deleveraging, or the haircut and tear-up).
    """
    k = market.k
    mark = market.mark or 0
    qty = h.qty
    equity = _equity(venue, episode)
    capacity = _money_capacity(venue, episode)
    reach = bankruptcy_price(qty, equity + capacity, mark, k)  # where the deficit would equal the capacity
    protection = market.book.protection_limit(SELL if qty > 0 else BUY)
    if protection is not None:
        limit = max(reach, protection) if qty > 0 else min(reach, protection)
        left = abs(qty)
        while left > 0:  # in orders of at most the market's maximum order size
            filled = _book_close(venue, episode, market, min(left, market.spec.max_order_lots), limit, "market", ts)
            if filled < min(left, market.spec.max_order_lots):
                break
            left = abs(h.qty)
    if h.qty and h.qty != qty:
        return  # the book took part: look again (the account may be back above maintenance)
    _cover_deficit(venue, episode, ts)
    if not h.qty:
        return
    no_loss_left = _equity(venue, episode) >= 0  # then the fund or the member takes the position (a house keeps it)
    if no_loss_left and (is_house(episode.account.account_id) or _take_over(venue, episode, market, h, ts)):
        return
    if venue.config.clearing.loss_model == OFFSHORE:
        _auto_deleverage(venue, episode, market, ts)
    else:
        _haircut_and_tear_up(venue, episode, market, ts)


# ============================================================================ takeover
def _take_over(venue: Venue, episode: Episode, market: Market, h: Holding, ts: int) -> bool:
    """Give a position nobody in the book will take, with no loss left to allocate, to the fund or the member.

    Offshore: the insurance fund takes it at the bankruptcy price — the account's remaining
    equity goes with it, as at the large offshore venues — as long as the fund's net position
    in the market stays within its balance (Binance's cap: the fund's net notional at most
    100 % of the fund). The price is never beyond market protection from the mark; what
    equity that leaves, and the part below one tick-lot, stays with the account.
    US clearing: the account's clearing member takes it into its house account at the mark
    (the customer keeps what it has), if the member has not defaulted and its capital covers
    the maintenance margin of its house positions afterwards.
    False (nothing moved) if neither can: the loss model's last stage closes it then.
    """
    account = episode.account
    name = market.spec.name
    mark = market.mark or 0
    k = market.k
    offshore = venue.config.clearing.loss_model == OFFSHORE
    if not offshore and account.member in venue.defaulted_members:
        return False
    house_id = FUND_HOUSE if offshore else HOUSE_PREFIX + account.member
    house = venue.accounts.get(house_id)
    held = house.holdings.get(name) if house is not None else None
    carried = (held.qty if held is not None else 0) + h.qty
    if offshore:
        if abs(carried) * mark * k > venue.ledger.system(INSURANCE_FUND):
            return False
    else:
        need = market.tiers.maintenance(abs(carried) * mark * k)
        if house is not None:
            need += sum(
                venue.markets[n].tiers.maintenance(abs(hh.qty) * (venue.markets[n].mark or 0) * venue.markets[n].k)
                for n, hh in house.holdings.items()
                if hh.qty and n != name
            )
        if venue.ledger.balance(MEMBER_CAPITAL, account.member) < need:
            return False
    if house is None:
        house = _open_house(venue, house_id, account.member, ts)
    lots = abs(h.qty)
    fills = [(house_id, lots, mark)]
    if offshore:
        protection = market.book.protection_limit(SELL if h.qty > 0 else BUY)
        room = abs(mark - protection) if protection is not None else 0
        equity = min(max(0, _equity(venue, episode)), room * lots * k)
        fills = adl_prices([(house_id, lots)], equity, mark, k, h.qty < 0)
    for _, qty, price in fills:
        _transfer(venue, market, account, house, qty, price, ts, "o")
        venue._emit(
            e.Liquidation,
            ts,
            account=account.account_id,
            market=name,
            qty=market.qty.format(qty),
            price=market.price.format(price),
            stage="takeover",
        )
    return True


def offload_houses(venue: Venue, ts: int) -> None:
    """House accounts work off what they took over: through the book, within market protection.

    Called at the start of every liquidation pass (a mark moved or a trade happened). For each
    house (the fund's, then each member's, in id order) and each market it holds a position in
    that can trade, reduce-only IOC orders (stage ``house_offload``, no liquidation fee) down
    (up) to the market-protection limit from the mark or the house's bankruptcy price,
    whichever is nearer, in orders of at most the maximum order size (a house with no equity
    left waits for the liquidation engine): a clearing house's default management hedges and
    sells what a defaulter left rather than carry it, and a house that held its position
    through a falling market would turn a loss already absorbed into a new one for its member
    or the fund.
    Runtime: O(members + houses' positions) when nothing is held.
    """
    accounts = venue.accounts
    for house_id in [FUND_HOUSE, *sorted(HOUSE_PREFIX + m for m in venue.members)]:
        house = accounts.get(house_id)
        if house is None:
            continue
        for name in sorted(house.holdings):
            h = house.holdings[name]
            market = venue.markets[name]
            if not h.qty or not _can_liquidate(market) or market.mark is None:
                continue
            limit = market.book.protection_limit(SELL if h.qty > 0 else BUY)
            equity = cross_equity(venue, house)
            if limit is None or equity <= 0:
                continue  # a house under water is the liquidation engine's (its layers pay)
            # never beyond its bankruptcy price: what it closes must not leave a debt
            bankrupt = bankruptcy_price(h.qty, equity, market.mark, market.k)
            limit = max(limit, bankrupt) if h.qty > 0 else min(limit, bankrupt)
            episode = Episode(house, 0, None)
            left = abs(h.qty)
            while left > 0:
                want = min(left, market.spec.max_order_lots)
                if _book_close(venue, episode, market, want, limit, "house_offload", ts, fee_due=False) < want:
                    break
                left = abs(h.qty)


def _open_house(venue: Venue, house_id: str, member_id: str, ts: int) -> Account:
    """Open the house account that carries taken-over positions (an ``account_opened`` event).

    It is carried under ``member_id`` (offshore: the member of the first account the fund
    took a position from; the fund, not the member, stands behind it) but is not one of the
    member's customer accounts, so the segregation statement leaves it out.
    """
    segments = venue.config.segments
    segment = HOUSE_SEGMENT if HOUSE_SEGMENT in segments else sorted(segments)[0]
    customer = venue._customer_for(segment)
    member = venue.members[member_id]
    venue._create_account(house_id, member, segment, house_id, customer)
    venue.houses += 1
    member.accounts.remove(house_id)  # the member's own (or the fund's), not a customer's: out of segregation
    venue._emit_account_opened(ts, house_id, member_id, segment, house_id, customer, [])
    return venue.accounts[house_id]


# ============================================================================ money layers
def _members_other_than(venue: Venue, member_id: str) -> list[str]:
    return sorted(m for m in venue.members if m != member_id and m not in venue.defaulted_members)


def _assessment_room(venue: Venue, member_id: str) -> int:
    contribution = venue.default_fund_contributions.get(member_id, 0)
    cap = div_floor(contribution * venue.config.clearing.assessment_multiple_ppb, PPB)
    room = cap - venue.assessed.get(member_id, 0)
    return max(0, min(room, venue.ledger.balance(MEMBER_CAPITAL, member_id)))


def _money_capacity(venue: Venue, episode: Episode) -> int:
    """What the loss model's money layers could pay now."""
    ledger = venue.ledger
    if venue.config.clearing.loss_model == OFFSHORE:
        return max(0, ledger.system(INSURANCE_FUND))
    member = episode.account.member
    total = max(0, ledger.balance(MEMBER_CAPITAL, member)) + max(0, ledger.balance(MEMBER_DEFAULT_FUND, member))
    total += max(0, ledger.system(CLEARING_HOUSE_CAPITAL))
    for other in _members_other_than(venue, member):
        total += max(0, ledger.balance(MEMBER_DEFAULT_FUND, other)) + _assessment_room(venue, other)
    return total


def _cover_deficit(venue: Venue, episode: Episode, ts: int) -> None:
    """Pay the account's negative equity from the money layers, in order, as far as they reach."""
    deficit = -_equity(venue, episode)
    if deficit <= 0:
        return
    dst_kind, dst = _payer(episode)
    ledger = venue.ledger
    account = episode.account

    def absorb(layer: str, src_kind: str, src: str, most: int, member: str | None = None) -> None:
        nonlocal deficit
        amount = min(deficit, max(0, most))
        if amount <= 0:
            return
        ledger.transfer(src_kind, src, dst_kind, dst, amount)
        deficit -= amount
        _record(venue, episode, layer, amount, ts, member=member)

    if venue.config.clearing.loss_model == OFFSHORE:
        absorb("insurance_fund", SYSTEM, INSURANCE_FUND, ledger.system(INSURANCE_FUND))
        return
    member = account.member
    if member not in venue.defaulted_members:
        capital = ledger.balance(MEMBER_CAPITAL, member)
        absorb("member_capital", MEMBER_CAPITAL, member, capital, member=member)
        if deficit > 0:
            venue.defaulted_members.add(member)
            venue._emit(e.MemberDefault, ts, member=member)
    absorb("member_default_fund", MEMBER_DEFAULT_FUND, member, ledger.balance(MEMBER_DEFAULT_FUND, member), member)
    absorb("clearing_house_capital", SYSTEM, CLEARING_HOUSE_CAPITAL, ledger.system(CLEARING_HOUSE_CAPITAL))
    others = _members_other_than(venue, member)
    if deficit > 0:
        shares = capped_pro_rata([(m, ledger.balance(MEMBER_DEFAULT_FUND, m)) for m in others], deficit)
        for other, amount in shares:
            absorb("mutualised_default_fund", MEMBER_DEFAULT_FUND, other, amount, member=other)
    if deficit > 0:
        shares = capped_pro_rata([(m, _assessment_room(venue, m)) for m in others], deficit)
        for other, amount in shares:
            venue.assessed[other] = venue.assessed.get(other, 0) + min(amount, deficit)
            absorb("assessments", MEMBER_CAPITAL, other, amount, member=other)


def _record(
    venue: Venue,
    episode: Episode,
    layer: str,
    amount: int,
    ts: int,
    account: str | None = None,
    member: str | None = None,
) -> None:
    venue.loss_attribution[layer] = venue.loss_attribution.get(layer, 0) + amount
    segment = episode.account.segment
    venue.loss_by_segment[segment] = venue.loss_by_segment.get(segment, 0) + amount
    venue._emit(e.LossAbsorbed, ts, layer=layer, amount=fmt_money(amount), account=account, member=member)


def _attribute_trader(venue: Venue, episode: Episode, end_equity: int, ts: int) -> None:
    """The collateral the account itself lost, from before the move that triggered it to the end.

    A deficit that no layer could absorb stays with the account as negative equity: it is
    reported as ``uncovered`` (a ``loss_uncovered`` event), never hidden in a layer.
    """
    consumed = episode.start_equity - max(0, end_equity)
    if consumed > 0 and not is_house(episode.account.account_id):  # a house's equity was a trader's, counted then
        _record(venue, episode, "trader", consumed, ts, account=episode.account.account_id)
    if end_equity < 0:
        venue.uncovered_loss += -end_equity
        segment = episode.account.segment
        venue.loss_by_segment[segment] = venue.loss_by_segment.get(segment, 0) - end_equity
        venue._emit(e.LossUncovered, ts, account=episode.account.account_id, amount=fmt_money(-end_equity))


def _finish_isolated(venue: Venue, account: Account, name: str) -> None:
    """Release what is left of a closed isolated position's margin to cash."""
    if account.holdings[name].qty:
        return
    key = isolated_key(account, name)
    left = venue.ledger.balance(ISOLATED, key)
    if left > 0:
        venue.ledger.transfer(ISOLATED, key, CASH, account.account_id, left)


# ============================================================================ closing against the other side
def _opposite_holders(venue: Venue, market: Market, liquidated: Account) -> list[tuple[Account, Holding]]:
    name = market.spec.name
    sign = 1 if liquidated.holdings[name].qty > 0 else -1
    out = []
    for account_id in sorted(venue.accounts):
        account = venue.accounts[account_id]
        h = account.holdings.get(name)
        if account is not liquidated and h is not None and h.qty * sign < 0:
            out.append((account, h))
    return out


def _auto_deleverage(venue: Venue, episode: Episode, market: Market, ts: int) -> None:
    """Offshore: close the rest against ranked opposite positions at the bankruptcy price.

    Reached only once the insurance fund has paid what it could, so the account's equity is
    zero (the fund covered it: the closes are at the mark and cost nobody anything) or
    negative (the fund is exhausted: the winners pay the deficit by closing beyond the mark,
    in whole tick-lots, never more than the deficit; :func:`onshore.clearing.liquidation.adl_prices`).
    The remainder below one tick-lot is paid by the ``rounding`` account and recorded in the
    ``adl`` layer with no account, so the layer adds up to the deficit exactly. An account that still has
    equity keeps it: the closes are at the mark, never at a "bankruptcy price" on the far
    side of it, which for a small remainder can lie anywhere, negative prices included.
    """
    account = episode.account
    name = market.spec.name
    h = account.holdings[name]
    mark = market.mark or 0
    k = market.k
    holders = _opposite_holders(venue, market, account)
    sizes = [(a.account_id, abs(hh.qty)) for a, hh in holders]
    if venue.config.clearing.adl_ranking == "pro_rata":
        plan = pro_rata(sizes, abs(h.qty))
    else:
        scored = []
        for a, hh in holders:
            upnl = hh.qty * mark * k - hh.cost
            scored.append(
                (a.account_id, adl_score(upnl, hh.cost, abs(hh.qty) * mark * k, venue.equity(a)), abs(hh.qty))
            )
        plan = take_in_order(rank_for_adl(scored), abs(h.qty))
    deficit = max(0, -_equity(venue, episode))
    for other_id, lots, price in adl_prices(plan, deficit, mark, k, h.qty > 0):
        other = venue.accounts[other_id]
        _transfer(venue, market, account, other, lots, price, ts, "a")
        venue._emit(
            e.AutoDeleverage,
            ts,
            account=other_id,
            counterparty=account.account_id,
            market=name,
            qty=market.qty.format(lots),
            price=market.price.format(price),
        )
        venue._emit(
            e.Liquidation,
            ts,
            account=account.account_id,
            market=name,
            qty=market.qty.format(lots),
            price=market.price.format(price),
            stage="adl",
        )
        loss = abs(price - mark) * lots * k
        if loss:
            _record(venue, episode, "adl", loss, ts, account=other_id)
    crumb = -_equity(venue, episode)
    if deficit and 0 < crumb < k:  # less than one tick-lot the prices cannot carry: the rounding account pays it
        dst_kind, dst = _payer(episode)
        venue.ledger.transfer(SYSTEM, ROUNDING, dst_kind, dst, crumb)
        _record(venue, episode, "adl", crumb, ts)


def _haircut_and_tear_up(venue: Venue, episode: Episode, market: Market, ts: int) -> None:
    """US clearing, last resorts: haircut the other side's variation-margin gains, then tear up at the mark."""
    account = episode.account
    name = market.spec.name
    mark = market.mark or 0
    k = market.k
    deficit = -_equity(venue, episode)
    holders = _opposite_holders(venue, market, account)
    if deficit > 0:
        gains = [(a.account_id, hh.qty * mark * k - hh.cost) for a, hh in holders]
        dst_kind, dst = _payer(episode)
        for other_id, amount in capped_pro_rata(gains, deficit):
            hh = venue.accounts[other_id].holdings[name]
            hh.cost += amount  # the gain not yet paid in variation margin is reduced
            venue.ledger.transfer(SYSTEM, VARIATION_SETTLEMENT, dst_kind, dst, amount)
            venue._dirty.add(other_id)
            _record(venue, episode, "vm_haircut", amount, ts, account=other_id)
    h = account.holdings[name]
    plan = pro_rata([(a.account_id, abs(hh.qty)) for a, hh in holders], abs(h.qty))
    for other_id, lots in plan:
        _transfer(venue, market, account, venue.accounts[other_id], lots, mark, ts, "t")
        venue._emit(
            e.Liquidation,
            ts,
            account=account.account_id,
            market=name,
            qty=market.qty.format(lots),
            price=market.price.format(mark),
            stage="tear_up",
        )
