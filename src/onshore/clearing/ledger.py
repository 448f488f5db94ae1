"""The ledger: the only writer of balances. Double entry, exact to the micro-dollar.

Ledger accounts are named by a kind and a key: customer cash (``cash``, by account id),
isolated margin (``isolated``, by ``account/market``), members' capital and default-fund
contributions (``member_capital``, ``member_default_fund``, by member id) and the system
accounts (``system``: ``fee_income``, ``insurance_fund``, ``clearing_house_capital``,
``variation_settlement``, ``rounding``). Money enters only by :meth:`Ledger.deposit` and
:meth:`Ledger.pay_in` and leaves only by :meth:`Ledger.withdraw`; everything else is a
:meth:`Ledger.transfer` between two ledger accounts, so the balances always sum to
deposits − withdrawals + paid-in (see docs/clearing.md).
"""

from __future__ import annotations

from typing import Final

from onshore.clearing.errors import LedgerError

CASH: Final = "cash"
ISOLATED: Final = "isolated"
MEMBER_CAPITAL: Final = "member_capital"
MEMBER_DEFAULT_FUND: Final = "member_default_fund"
SYSTEM: Final = "system"
KINDS: Final = (CASH, ISOLATED, MEMBER_CAPITAL, MEMBER_DEFAULT_FUND, SYSTEM)

FEE_INCOME: Final = "fee_income"
INSURANCE_FUND: Final = "insurance_fund"
CLEARING_HOUSE_CAPITAL: Final = "clearing_house_capital"
VARIATION_SETTLEMENT: Final = "variation_settlement"
ROUNDING: Final = "rounding"
SYSTEM_ACCOUNTS: Final = (FEE_INCOME, INSURANCE_FUND, CLEARING_HOUSE_CAPITAL, VARIATION_SETTLEMENT, ROUNDING)


class Ledger:
    """Balances in micro-dollars, by kind and key. Every change is double entry."""

    __slots__ = ("balances", "cash_book", "deposits", "paid_in", "system_book", "withdrawals")

    def __init__(self) -> None:
        self.balances: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        for name in SYSTEM_ACCOUNTS:
            self.balances[SYSTEM][name] = 0
        self.cash_book: dict[str, int] = self.balances[CASH]
        self.system_book: dict[str, int] = self.balances[SYSTEM]
        self.deposits = 0
        self.withdrawals = 0
        self.paid_in = 0

    # ------------------------------------------------------------------ reading
    def balance(self, kind: str, key: str) -> int:
        """Return the balance of one ledger account (0 if it never held money)."""
        return self.balances[kind].get(key, 0)

    def cash(self, account: str) -> int:
        """Return a customer account's cash balance."""
        return self.cash_book.get(account, 0)

    def system(self, name: str) -> int:
        """Return a system account's balance."""
        return self.balances[SYSTEM][name]

    def sum_of_balances(self) -> int:
        """Σ of every ledger account. O(accounts)."""
        return sum(sum(book.values()) for book in self.balances.values())

    # ------------------------------------------------------------------ moving money
    def open(self, kind: str, key: str) -> None:
        """Create a ledger account at zero (idempotent)."""
        self.balances[kind].setdefault(key, 0)

    def deposit(self, account: str, amount_micros: int) -> None:
        """Customer money in: credit the account's cash."""
        _ensure_positive(amount_micros)
        book = self.balances[CASH]
        book[account] = book.get(account, 0) + amount_micros
        self.deposits += amount_micros

    def withdraw(self, account: str, amount_micros: int) -> None:
        """Customer money out: debit the account's cash (callers check what is free)."""
        _ensure_positive(amount_micros)
        book = self.balances[CASH]
        book[account] = book.get(account, 0) - amount_micros
        self.withdrawals += amount_micros

    def pay_in(self, kind: str, key: str, amount_micros: int) -> None:
        """Non-customer money in: members' capital and default fund, the DCO's capital."""
        if amount_micros < 0:
            raise LedgerError(f"pay-in must not be negative: {amount_micros}")
        book = self.balances[kind]
        book[key] = book.get(key, 0) + amount_micros
        self.paid_in += amount_micros

    def transfer(self, src_kind: str, src: str, dst_kind: str, dst: str, amount_micros: int) -> None:
        """Move ``amount_micros`` (may be negative: the reverse direction) from one account to another."""
        if amount_micros:
            a = self.balances[src_kind]
            b = self.balances[dst_kind]
            a[src] = a.get(src, 0) - amount_micros
            b[dst] = b.get(dst, 0) + amount_micros

    def settle_fill(self, account: str, realized_micros: int, fee_micros: int) -> None:
        """One side of a fill in cash: the realized PnL from ``variation_settlement`` to the
        account's cash and the fee from its cash to ``fee_income``, as the two transfers
        would move them (a negative fee is a rebate paid out of fee income)."""
        if realized_micros or fee_micros:
            cash = self.cash_book
            system = self.system_book
            cash[account] = cash.get(account, 0) + realized_micros - fee_micros
            if realized_micros:
                system[VARIATION_SETTLEMENT] -= realized_micros
            if fee_micros:
                system[FEE_INCOME] += fee_micros

    # ------------------------------------------------------------------ invariants
    def check_invariants(self) -> None:
        """Raise :class:`LedgerError` unless Σ balances = deposits − withdrawals + paid-in."""
        expected = self.deposits - self.withdrawals + self.paid_in
        total = self.sum_of_balances()
        if total != expected:
            raise LedgerError(f"ledger out of balance: Σ balances {total} != {expected}")


def _ensure_positive(amount_micros: int) -> None:
    if amount_micros <= 0:
        raise LedgerError(f"amount must be positive: {amount_micros}")
