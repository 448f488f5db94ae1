"""The daily segregation computation of a clearing member (FCM), as a pure function.

An FCM must keep its customers' money apart from its own (Commodity Exchange Act
§4d(a)(2), 17 CFR 1.20), and compute as of the close of each business day the
customer funds it holds in segregation, the amount it is required to hold, and its
own residual interest in them (17 CFR 1.32(a); the computation is due by noon the
next business day, 1.32(c)). Onshore computes it per member from four figures:

``customer_cash_micros``
    Σ of the ledger cash balances of the member's customer accounts, negative
    balances included: the customer money the venue holds for the member.
``net_settlement_micros``
    Variation not yet settled on the customers' open positions (Σ unrealised PnL):
    what the clearing house will pay (+) or collect (−) at the next settlement. The
    1-FR-FCM statement carries it as "net settlement from (to)" the clearing house.
    Zero right after a settlement cycle.
``customer_funds_required_micros``
    What the member owes its customers: Σ over its customer accounts of
    ``max(0, net liquidating equity)``, equity being cash plus unsettled PnL. An
    account in deficit does not reduce what the member owes the others (one
    customer's debt is the member's problem, not the other customers'), which is why
    the requirement is a sum of positive parts.
``clearing_house_margin_micros``
    What the member owes the clearing house for its customers' positions: their
    margin requirement.

and its capital ``member_capital_micros``. The statement (all in micro-dollars):

    funds_in_segregation        = customer_cash + net_settlement
    requirement                 = customer_funds_required
    excess                      = funds_in_segregation − requirement   (negative: deficit)
    uncovered_margin            = max(undermargined, clearing_house_margin − requirement, 0)
    residual_interest_required  = max(−excess, 0) + uncovered_margin
    capital_after_cover         = member_capital − residual_interest_required

``residual_interest_required`` is the member's own money that must stand in
segregation: the customers' deficits, and the margin the clearing house requires
that the customers' own equity does not cover. 17 CFR 1.22 forbids using one
customer's money to margin another's; ``undermargined_micros`` (Σ per account of
``max(0, margin − max(equity, 0))``, filled by :meth:`MemberFunds.from_accounts`) is
that rule account by account, and ``clearing_house_margin − requirement`` its
aggregate lower bound when only totals are known. ``capital_after_cover`` below zero
means the member cannot cover its customers from its own capital: under the
``us_clearing`` loss model it defaults at the clearing house.

Simplified, compared with a real FCM's statement (Form 1-FR-FCM):

* one currency (USD), cash only: no securities deposited as margin, so no offset of
  a deficit by a customer's readily marketable securities (1.32(b)) and no haircuts;
* the venue's ledger is both the segregated bank account and the margin on deposit
  with the clearing house; a real FCM adds up balances at banks, clearing houses and
  other FCMs, and keeps futures, foreign futures (30.7) and cleared swaps (22.2)
  customers in separate origins;
* no management target for excess funds and no notice filings (1.12) are produced;
  the report shows the figures a filing would be built from;
* the residual interest is computed at the time of the report, not on 1.22(c)'s
  schedule of the following business day.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from onshore.core.units import format_micros


class CustomerFunds(msgspec.Struct, frozen=True, kw_only=True):
    """One customer account of a member: ledger cash, equity and margin requirement."""

    account: str
    cash_micros: int
    equity_micros: int
    margin_micros: int = 0


class MemberFunds(msgspec.Struct, frozen=True, kw_only=True):
    """The inputs of one member's segregation computation (see the module docstring)."""

    member: str
    customer_cash_micros: int
    customer_funds_required_micros: int
    clearing_house_margin_micros: int
    member_capital_micros: int
    net_settlement_micros: int = 0
    undermargined_micros: int = 0

    @classmethod
    def from_accounts(
        cls,
        member: str,
        accounts: Iterable[CustomerFunds],
        member_capital_micros: int,
        clearing_house_margin_micros: int | None = None,
    ) -> MemberFunds:
        """Aggregate a member's customer accounts without netting deficits.

        ``clearing_house_margin_micros`` defaults to the sum of the accounts' margin.
        Runtime complexity: O(number of accounts).
        """
        cash = settlement = required = margin = undermargined = 0
        for account in accounts:
            cash += account.cash_micros
            settlement += account.equity_micros - account.cash_micros
            required += max(0, account.equity_micros)
            margin += account.margin_micros
            undermargined += max(0, account.margin_micros - max(0, account.equity_micros))
        if clearing_house_margin_micros is not None:
            margin = clearing_house_margin_micros
        return cls(
            member=member,
            customer_cash_micros=cash,
            net_settlement_micros=settlement,
            customer_funds_required_micros=required,
            clearing_house_margin_micros=margin,
            member_capital_micros=member_capital_micros,
            undermargined_micros=undermargined,
        )


class SegregationStatement(msgspec.Struct, frozen=True, kw_only=True):
    """One member's segregation statement, in micro-dollars (see the module docstring)."""

    member: str
    funds_in_segregation_micros: int
    requirement_micros: int
    excess_micros: int
    clearing_house_margin_micros: int
    uncovered_margin_micros: int
    residual_interest_required_micros: int
    member_capital_micros: int
    capital_after_cover_micros: int

    @property
    def is_deficient(self) -> bool:
        """Whether customer funds in segregation fall short of what is owed to customers."""
        return self.excess_micros < 0

    @property
    def is_member_short(self) -> bool:
        """Whether the member's capital cannot cover the residual interest required."""
        return self.capital_after_cover_micros < 0

    def to_report(self) -> dict[str, str | bool]:
        """Return the statement as the report prints it: USD decimal strings."""
        return {
            "member": self.member,
            "funds_in_segregation": format_micros(self.funds_in_segregation_micros),
            "requirement": format_micros(self.requirement_micros),
            "excess": format_micros(self.excess_micros),
            "clearing_house_margin": format_micros(self.clearing_house_margin_micros),
            "uncovered_margin": format_micros(self.uncovered_margin_micros),
            "residual_interest_required": format_micros(self.residual_interest_required_micros),
            "member_capital": format_micros(self.member_capital_micros),
            "capital_after_cover": format_micros(self.capital_after_cover_micros),
            "deficient": self.is_deficient,
            "member_short": self.is_member_short,
        }


def segregation_statement(funds: MemberFunds) -> SegregationStatement:
    """Compute one member's segregation statement. Pure, exact, O(1)."""
    held = funds.customer_cash_micros + funds.net_settlement_micros
    required = funds.customer_funds_required_micros
    excess = held - required
    uncovered = max(funds.undermargined_micros, funds.clearing_house_margin_micros - required, 0)
    residual = max(-excess, 0) + uncovered
    return SegregationStatement(
        member=funds.member,
        funds_in_segregation_micros=held,
        requirement_micros=required,
        excess_micros=excess,
        clearing_house_margin_micros=funds.clearing_house_margin_micros,
        uncovered_margin_micros=uncovered,
        residual_interest_required_micros=residual,
        member_capital_micros=funds.member_capital_micros,
        capital_after_cover_micros=funds.member_capital_micros - residual,
    )


def segregation_report(members: Iterable[MemberFunds]) -> list[SegregationStatement]:
    """Compute every member's statement, sorted by member id."""
    return sorted((segregation_statement(funds) for funds in members), key=lambda s: s.member)
