"""Snapshots: the whole state of a Venue as canonical JSON bytes, and back.

A snapshot holds everything that future behaviour depends on — counters, venue time,
every ledger balance, accounts and their holdings, each book's resting orders in time
priority, the registry of used client order ids, prices and the pricing state — in
plain JSON, so it can be read, diffed and audited. Restoring builds a fresh Venue from
the same configuration and puts that state back; ``restore(cfg, v.snapshot())`` has the
same ``state_hash()`` as ``v`` and answers further commands with the same events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from onshore.book import Order
from onshore.book.records import BUY, SELL
from onshore.clearing.accounts import Account, Holding, Member
from onshore.core.hashing import canonical_json
from onshore.core.spec import VenueConfig
from onshore.venue.liquidation import HOUSE_PREFIX
from onshore.venue.state import registry_json, state_hash_of

if TYPE_CHECKING:
    from onshore.venue.venue import Venue

FORMAT = "onshore-snapshot/1"


def snapshot(venue: Venue, registry: msgspec.Raw | None = None) -> bytes:
    """Serialize the whole state of ``venue`` (canonical JSON).

    ``registry``: the used client order ids already encoded (:func:`~onshore.venue.state.registry_json`).
    """
    if venue.stopped is not None:
        raise RuntimeError("a stopped venue cannot be snapshotted: recover from the journal instead")
    accounts: dict[str, Any] = {}
    for account_id, a in venue.accounts.items():
        accounts[account_id] = {
            "member": a.member,
            "segment": a.segment,
            "owner": a.owner,
            "holdings": {
                name: [
                    h.qty,
                    h.cost,
                    h.leverage,
                    h.mode,
                    h.buy_lots,
                    h.buy_notional,
                    h.sell_lots,
                    h.sell_notional,
                    h.ro_buy_lots,
                    h.ro_sell_lots,
                ]
                for name, h in a.holdings.items()
            },
        }
    markets: dict[str, Any] = {}
    for name, m in venue.markets.items():
        book = m.book
        orders = [
            [
                o.order_id,
                o.account,
                o.client_order_id,
                o.side,
                o.price,
                o.qty,
                o.open_qty,
                o.order_type,
                o.tif,
                o.post_only,
                o.reduce_only,
                o.stp,
            ]
            for side in (BUY, SELL)
            for o in book.iter_side(side)
        ]
        markets[name] = {
            "state": book.state,
            "reference": book.reference_ticks,
            "last_trade": book.last_trade_ticks,
            "orders": orders,
            "mark": m.mark,
            "index_ticks": m.index_ticks,
            "last_funding_rate_ppb": m.last_funding_rate_ppb,
            "pricing": m.pricing_state(),
        }
    ledger = venue.ledger
    doc = {
        "format": FORMAT,
        "ts": venue.ts,
        "cmd": venue.cmd,
        "seq": venue.seq,
        "ledger": {
            "balances": ledger.balances,
            "deposits": ledger.deposits,
            "withdrawals": ledger.withdrawals,
            "paid_in": ledger.paid_in,
        },
        "members": {m: member.accounts for m, member in venue.members.items()},
        "accounts": accounts,
        "client_order_ids": venue.client_order_ids if registry is None else registry,
        "open_orders": {
            str(oid): [o.account, o.market, o.client_order_id, o.side, o.price, o.reduce_only]
            for oid, o in venue.open_orders.items()
        },
        "markets": markets,
        "index_prices": venue.index_prices,
        "loss_attribution": venue.loss_attribution,
        "venue_state": venue.extra_state(),
    }
    return canonical_json(doc)


def snapshot_and_hash(venue: Venue) -> tuple[str, bytes]:
    """``(venue.state_hash(), snapshot(venue))`` with the registry of client order ids encoded once for both.

    The registry is most of both at a large state: this is what the snapshot process runs.
    """
    registry = registry_json(venue)
    return state_hash_of(venue, registry), snapshot(venue, registry)


def restore(config: VenueConfig, data: bytes) -> Venue:
    """Build a Venue from ``config`` and put the snapshot's state back."""
    from onshore.venue.venue import OpenOrder, Venue

    doc: dict[str, Any] = msgspec.json.decode(data)
    if doc.get("format") != FORMAT:
        raise ValueError(f"not an Onshore snapshot (format {doc.get('format')!r})")
    venue = Venue(config)
    venue.ts = doc["ts"]
    venue.cmd = doc["cmd"]
    venue.seq = doc["seq"]
    ledger = venue.ledger
    ledger.balances.clear()
    ledger.balances.update({kind: dict(book) for kind, book in doc["ledger"]["balances"].items()})
    ledger.cash_book = ledger.balances["cash"]
    ledger.system_book = ledger.balances["system"]
    ledger.deposits = doc["ledger"]["deposits"]
    ledger.withdrawals = doc["ledger"]["withdrawals"]
    ledger.paid_in = doc["ledger"]["paid_in"]
    for member_id, account_ids in doc["members"].items():
        member = Member(member_id)
        member.accounts.extend(account_ids)
        venue.members[member_id] = member
    for account_id, a in doc["accounts"].items():
        account = Account(account_id, a["member"], a["segment"], a["owner"])
        for name, raw in a["holdings"].items():
            h = Holding(raw[2])
            (h.qty, h.cost, _, h.mode, h.buy_lots, h.buy_notional, h.sell_lots, h.sell_notional) = raw[:8]
            h.ro_buy_lots, h.ro_sell_lots = raw[8], raw[9]
            h.mode = "cross" if h.mode == "cross" else "isolated"
            account.holdings[name] = h
        venue.accounts[account_id] = account
        venue.owner_accounts.setdefault(account.owner, []).append(account)
    venue.houses = sum(1 for account_id in venue.accounts if account_id.startswith(HOUSE_PREFIX))
    venue.client_order_ids.clear()
    venue.client_order_ids.update({a: dict(ids) for a, ids in doc["client_order_ids"].items()})
    for name, m in doc["markets"].items():
        market = venue.markets[name]
        market.book.restore_prices(m["state"], m["reference"], m["last_trade"])
        for raw in m["orders"]:
            market.book.restore_resting(Order(*raw))
        market.mark = m["mark"]
        market.index_ticks = m["index_ticks"]
        market.last_funding_rate_ppb = m["last_funding_rate_ppb"]
        market.restore_pricing_state(m["pricing"])
    for oid, raw in doc["open_orders"].items():
        account_id, market_name, coid, side, price, reduce_only = raw
        account = venue.accounts[account_id]
        venue.open_orders[int(oid)] = OpenOrder(
            account, market_name, coid, side, price, reduce_only, account.holdings[market_name]
        )
    venue.open_orders = dict(sorted(venue.open_orders.items()))
    venue.index_prices.update(doc["index_prices"])
    venue.loss_attribution.update(doc["loss_attribution"])
    venue.restore_extra_state(doc["venue_state"])
    return venue
