"""The state document (docs/protocol.md) and the state hash.

The document is what ``onshore replay --state-out`` writes: decimal values as strings.
The hash covers the document (without its own ``state_hash``) plus what the document
leaves implicit but future behaviour depends on: each book's time priority, every
holding's raw cost basis and settings, and the registry of used client order ids.
Sequence counters are not part of it, so a rejected command leaves the hash unchanged.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import msgspec

from onshore.book.records import BUY, SELL, SIDE_NAMES
from onshore.clearing.ledger import (
    CASH,
    ISOLATED,
    MEMBER_CAPITAL,
    MEMBER_DEFAULT_FUND,
    SYSTEM,
)
from onshore.core.events import LOSS_LAYERS
from onshore.core.hashing import canonical_json, state_hash
from onshore.core.units import format_scaled
from onshore.venue.codec import LEVERAGE, fmt_money, fmt_rate

if TYPE_CHECKING:
    from onshore.venue.venue import Market, Venue


def _entry_price(market: Market, qty: int, cost: int) -> str:
    """Average entry price in USD, to 8 decimals, rounded to nearest (display only; the cost basis is exact)."""
    usd = Fraction(cost, qty * market.k) * Fraction(market.spec.tick_size)
    return format_scaled(round(usd * 10**8), 8)


def state_document(venue: Venue) -> dict[str, Any]:
    """Build the state document, ``state_hash`` included. O(accounts + orders)."""
    doc = _document(venue)
    doc["state_hash"] = state_hash({"document": doc, "extra": _extra(venue)})
    return doc


def state_hash_of(venue: Venue, registry: msgspec.Raw | None = None) -> str:
    """The hash alone (same value as the document's ``state_hash``).

    ``registry``: the used client order ids already in canonical JSON (:func:`registry_json`),
    when the caller encodes them for a snapshot too; the same bytes the hash would encode itself.
    """
    return state_hash({"document": _document(venue), "extra": _extra(venue, registry)})


def registry_json(venue: Venue) -> msgspec.Raw:
    """The registry of used client order ids (account -> id -> order id) in canonical JSON.

    It grows with every order ever placed (a million orders: ~0.2 s to sort and encode), and
    both the state hash and a snapshot hold it, so the snapshot process encodes it once for both.
    """
    return msgspec.Raw(canonical_json(venue.client_order_ids))


def _document(venue: Venue) -> dict[str, Any]:
    ledger = venue.ledger
    accounts: dict[str, Any] = {}
    orders_by_account: dict[str, list[dict[str, Any]]] = {}
    for oid in sorted(venue.open_orders):
        o = venue.open_orders[oid]
        market = venue.markets[o.market]
        live = market.book.orders[oid]
        orders_by_account.setdefault(o.account, []).append(
            {
                "order_id": oid,
                "client_order_id": o.client_order_id,
                "market": o.market,
                "side": SIDE_NAMES[o.side],
                "price": market.price.format(o.price),
                "qty": market.qty.format(live.qty),
                "open_qty": market.qty.format(live.open_qty),
                "reduce_only": o.reduce_only,
            }
        )
    for account_id in sorted(venue.accounts):
        account = venue.accounts[account_id]
        cash = ledger.cash(account_id)
        equity = cash
        positions: dict[str, Any] = {}
        for name in sorted(account.holdings):
            h = account.holdings[name]
            market = venue.markets[name]
            iso = ledger.balance(ISOLATED, f"{account_id}/{name}")
            equity += iso
            if not h.qty:
                continue
            upnl = h.qty * (market.mark or 0) * market.k - h.cost
            equity += upnl
            position = {
                "qty": market.qty.format(h.qty),
                "entry_price": _entry_price(market, h.qty, h.cost),
                "unrealized_pnl": fmt_money(upnl),
                "margin_mode": h.mode,
                "leverage": LEVERAGE.format(h.leverage),
            }
            if h.mode == "isolated":
                position["isolated_margin"] = fmt_money(iso)
            positions[name] = position
        accounts[account_id] = {
            "member": account.member,
            "segment": account.segment,
            "owner": account.owner,
            "cash": fmt_money(cash),
            "equity": fmt_money(equity),
            "positions": positions,
            "open_orders": orders_by_account.get(account_id, []),
        }
    members = {
        m: {
            "capital": fmt_money(ledger.balance(MEMBER_CAPITAL, m)),
            "default_fund": fmt_money(ledger.balance(MEMBER_DEFAULT_FUND, m)),
        }
        for m in sorted(venue.members)
    }
    markets: dict[str, Any] = {}
    for name in sorted(venue.markets):
        market = venue.markets[name]
        oi = sum(
            a.holdings[name].qty for a in venue.accounts.values() if name in a.holdings and a.holdings[name].qty > 0
        )
        markets[name] = {
            "contract_size": market.spec.contract_size,
            "tick_size": market.spec.tick_size,
            "state": market.book.state,
            "index_price": None
            if market.spec.index not in venue.index_prices
            else market.index.price_grid.format(venue.index_prices[market.spec.index]),
            "mark_price": None if market.mark is None else market.price.format(market.mark),
            "open_interest": market.qty.format(oi),
            "last_funding_rate": fmt_rate(market.last_funding_rate_ppb),
            "last_settlement_price": None
            if market.last_settlement_ticks is None
            else market.price.format(market.last_settlement_ticks),
            "index_stale": market.index_stale,
        }
    system = {name: fmt_money(v) for name, v in sorted(ledger.balances[SYSTEM].items())}
    return {
        "ts": venue.ts,
        "accounts": accounts,
        "members": members,
        "markets": markets,
        "system": system,
        "ledger_check": {
            "deposits": fmt_money(ledger.deposits),
            "withdrawals": fmt_money(ledger.withdrawals),
            "paid_in": fmt_money(ledger.paid_in),
            "sum_of_balances": fmt_money(ledger.sum_of_balances()),
        },
        "loss_attribution": {layer: fmt_money(venue.loss_attribution.get(layer, 0)) for layer in LOSS_LAYERS},
        "loss_by_segment": {seg: fmt_money(v) for seg, v in sorted(venue.loss_by_segment.items())},
        "uncovered_loss": fmt_money(venue.uncovered_loss),
        "defaulted_members": sorted(venue.defaulted_members),
    }


def _extra(venue: Venue, registry: msgspec.Raw | None = None) -> dict[str, Any]:
    books = {}
    for name in sorted(venue.markets):
        book = venue.markets[name].book
        books[name] = {
            "bids": [[o.order_id, o.open_qty] for o in book.iter_side(BUY)],
            "asks": [[o.order_id, o.open_qty] for o in book.iter_side(SELL)],
            "last_trade": book.last_trade_ticks,
            "reference": book.reference_ticks,
            "pricing": venue.markets[name].pricing_state(),
        }
    holdings = {}
    for account_id in sorted(venue.accounts):
        for name, h in sorted(venue.accounts[account_id].holdings.items()):
            holdings[f"{account_id}/{name}"] = [h.qty, h.cost, h.leverage, h.mode]
    return {
        "books": books,
        "holdings": holdings,
        # account -> client order id -> order id: the canonical encoder sorts both levels of
        # keys itself (a million used ids cost half as much as a sorted list of pairs)
        "client_order_ids": venue.client_order_ids if registry is None else registry,
        "cash_accounts": sorted(k for k, v in venue.ledger.balances[CASH].items()),
        "index_prices": sorted(venue.index_prices.items()),
        "schedule": venue.extra_state(),
    }
