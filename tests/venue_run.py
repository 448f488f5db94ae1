"""What every scenario driver through the Venue does: apply, keep the events, check, fail loudly.

:class:`VenueRun` applies commands one at a time at a time the test sets, keeps every
command and every event (as a plain dict), checks the Venue's invariants after each
command and fails on any rejection the test did not say to expect. The drivers of
tests/liquidation, tests/venue_pricing and tests/broker_venue build their casts and
prices on it.
"""

from __future__ import annotations

from typing import Any, Self

from onshore.config.load import load_config
from onshore.core import commands as c
from onshore.core.events import event_to_dict
from onshore.venue import Venue

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC
BTC = "BTC-PERP"


class VenueRun:
    """Apply commands to one Venue at a settable time; keep the events; check invariants after every command."""

    def __init__(self, config_toml: str | None = None, ts: int = T0) -> None:
        self.config = load_config(config_toml)
        self.venue = Venue(self.config)
        self.ts = ts
        self.events: list[dict[str, Any]] = []
        self.commands: list[c.Command] = []
        self.coids = 0

    # ------------------------------------------------------------------ applying
    def apply(self, command: c.Command, *, reject: str | None = None) -> list[dict[str, Any]]:
        """Apply one command; unless ``reject`` names the expected reason, it must not be rejected."""
        out = [event_to_dict(ev) for ev in self.venue.apply(command)]
        self.commands.append(command)
        self.events.extend(out)
        self.venue.check_invariants()
        reasons = [ev["reason"] for ev in out if ev["type"] == "command_rejected"]
        if reject is None:
            assert not reasons, f"{command} was rejected: {out}"
        else:
            assert reasons == [reject], out
        return out

    def at(self, ts: int) -> Self:
        """Set the time of the commands that follow."""
        assert ts >= self.ts
        self.ts = ts
        return self

    def tick(self, ts: int) -> list[dict[str, Any]]:
        """Advance venue time to ``ts``, running everything that falls due."""
        self.at(ts)
        return self.apply(c.Tick(ts=ts))

    # ------------------------------------------------------------------ money and orders
    def deposit(self, account: str, amount: str) -> list[dict[str, Any]]:
        return self.apply(c.Deposit(ts=self.ts, account=account, amount=amount))

    def order(
        self,
        account: str,
        side: str,
        qty: int | str,
        price: str | None = None,
        *,
        market: str = BTC,
        tif: str = "gtc",
        post_only: bool = False,
        reduce_only: bool = False,
        coid: str | None = None,
        reject: str | None = None,
    ) -> list[dict[str, Any]]:
        """A limit order at ``price``, or a market order without one; client order ids o1, o2, … unless ``coid``."""
        self.coids += 1
        return self.apply(
            c.PlaceOrder(
                ts=self.ts,
                account=account,
                market=market,
                client_order_id=coid or f"o{self.coids}",
                side=side,  # type: ignore[arg-type]
                qty=str(qty),
                order_type="limit" if price is not None else "market",
                price=price,
                time_in_force=tif,  # type: ignore[arg-type]
                post_only=post_only,
                reduce_only=reduce_only,
            ),
            reject=reject,
        )

    def cancel_all(self, account: str, market: str | None = None) -> list[dict[str, Any]]:
        return self.apply(c.CancelAll(ts=self.ts, account=account, market=market))

    # ------------------------------------------------------------------ reading
    def state(self) -> dict[str, Any]:
        return self.venue.state_document()

    def mark(self, market: str = BTC) -> int:
        """The market's mark price in ticks (it must have one)."""
        mark = self.venue.markets[market].mark
        assert mark is not None
        return mark
