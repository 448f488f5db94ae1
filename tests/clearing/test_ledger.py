"""The ledger: the only writer of balances, double entry (docs/clearing.md, "The ledger").

Money enters by ``deposit`` (customer cash) and ``pay_in`` (members, the clearing house)
and leaves by ``withdraw``; everything else is a ``transfer``. Always:
Σ balances = deposits − withdrawals + paid-in, and ``check_invariants`` says so.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from onshore.clearing.errors import LedgerError
from onshore.clearing.ledger import (
    CASH,
    CLEARING_HOUSE_CAPITAL,
    FEE_INCOME,
    INSURANCE_FUND,
    ISOLATED,
    MEMBER_CAPITAL,
    MEMBER_DEFAULT_FUND,
    ROUNDING,
    SYSTEM,
    SYSTEM_ACCOUNTS,
    VARIATION_SETTLEMENT,
    Ledger,
)

USD = 1_000_000


def snapshot(ledger: Ledger) -> tuple[dict[str, dict[str, int]], int, int, int]:
    return (
        {kind: dict(book) for kind, book in ledger.balances.items()},
        ledger.deposits,
        ledger.withdrawals,
        ledger.paid_in,
    )


@pytest.fixture
def ledger_with_alice_and_an_fcm() -> Ledger:
    """Alice deposited 10,000 USD; fcm-alpha paid in 5M of capital and 1M of default fund."""
    ledger = Ledger()
    ledger.deposit("alice", 10_000 * USD)
    ledger.pay_in(MEMBER_CAPITAL, "fcm-alpha", 5_000_000 * USD)
    ledger.pay_in(MEMBER_DEFAULT_FUND, "fcm-alpha", 1_000_000 * USD)
    return ledger


# ----------------------------------------------------------------------------- a new ledger
def test_a_new_ledger_holds_every_system_account_at_zero_and_balances() -> None:
    ledger = Ledger()
    assert set(SYSTEM_ACCOUNTS) == {FEE_INCOME, INSURANCE_FUND, CLEARING_HOUSE_CAPITAL, VARIATION_SETTLEMENT, ROUNDING}
    assert {name: ledger.system(name) for name in SYSTEM_ACCOUNTS} == dict.fromkeys(SYSTEM_ACCOUNTS, 0)
    assert (ledger.deposits, ledger.withdrawals, ledger.paid_in, ledger.sum_of_balances()) == (0, 0, 0, 0)
    assert ledger.cash("nobody") == 0
    assert ledger.balance(ISOLATED, "nobody/BTC-PERP") == 0
    ledger.check_invariants()


# ----------------------------------------------------------------------------- money in and out
def test_deposit_withdraw_and_pay_in_move_their_counters(ledger_with_alice_and_an_fcm: Ledger) -> None:
    ledger = ledger_with_alice_and_an_fcm
    assert (ledger.deposits, ledger.withdrawals, ledger.paid_in) == (10_000 * USD, 0, 6_000_000 * USD)
    ledger.deposit("alice", 500 * USD)
    ledger.withdraw("alice", 2_000 * USD)
    ledger.pay_in(SYSTEM, CLEARING_HOUSE_CAPITAL, 10_000_000 * USD)
    assert ledger.cash("alice") == 8_500 * USD
    assert ledger.balance(MEMBER_CAPITAL, "fcm-alpha") == 5_000_000 * USD
    assert ledger.balance(MEMBER_DEFAULT_FUND, "fcm-alpha") == 1_000_000 * USD
    assert ledger.system(CLEARING_HOUSE_CAPITAL) == 10_000_000 * USD
    assert (ledger.deposits, ledger.withdrawals, ledger.paid_in) == (10_500 * USD, 2_000 * USD, 16_000_000 * USD)
    assert ledger.sum_of_balances() == 10_500 * USD - 2_000 * USD + 16_000_000 * USD
    ledger.check_invariants()


def test_a_pay_in_of_zero_opens_the_account_and_changes_no_total() -> None:
    """The Venue pays in the configured opening insurance fund, which may be 0."""
    ledger = Ledger()
    ledger.pay_in(MEMBER_CAPITAL, "fcm-beta", 0)
    assert ledger.balances[MEMBER_CAPITAL] == {"fcm-beta": 0}
    assert (ledger.paid_in, ledger.sum_of_balances()) == (0, 0)


@pytest.mark.parametrize(
    "move",
    [
        pytest.param(lambda ledger: ledger.deposit("alice", 0), id="deposit of zero"),
        pytest.param(lambda ledger: ledger.deposit("alice", -1), id="negative deposit"),
        pytest.param(lambda ledger: ledger.deposit("bob", 0), id="zero deposit into a new account"),
        pytest.param(lambda ledger: ledger.withdraw("alice", 0), id="withdrawal of zero"),
        pytest.param(lambda ledger: ledger.withdraw("alice", -5 * USD), id="negative withdrawal"),
        pytest.param(lambda ledger: ledger.pay_in(MEMBER_CAPITAL, "fcm-alpha", -1), id="negative pay-in"),
        pytest.param(lambda ledger: ledger.pay_in(MEMBER_CAPITAL, "fcm-new", -1), id="negative pay-in, new member"),
    ],
)
def test_impossible_movements_raise_ledger_error_and_change_nothing(
    ledger_with_alice_and_an_fcm: Ledger, move: object
) -> None:
    ledger = ledger_with_alice_and_an_fcm
    before = snapshot(ledger)
    with pytest.raises(LedgerError, match=r"positive|negative"):
        move(ledger)  # type: ignore[operator]
    assert snapshot(ledger) == before
    ledger.check_invariants()


# ----------------------------------------------------------------------------- transfers
def test_a_transfer_moves_money_between_two_accounts_and_conserves_the_sum(
    ledger_with_alice_and_an_fcm: Ledger,
) -> None:
    ledger = ledger_with_alice_and_an_fcm
    total = ledger.sum_of_balances()
    ledger.transfer(CASH, "alice", SYSTEM, FEE_INCOME, 3 * USD)
    ledger.transfer(CASH, "alice", ISOLATED, "alice/BTC-PERP", 1_000 * USD)
    ledger.transfer(SYSTEM, VARIATION_SETTLEMENT, CASH, "alice", 250 * USD)
    assert ledger.cash("alice") == (10_000 - 3 - 1_000 + 250) * USD
    assert ledger.system(FEE_INCOME) == 3 * USD
    assert ledger.balance(ISOLATED, "alice/BTC-PERP") == 1_000 * USD
    assert ledger.system(VARIATION_SETTLEMENT) == -250 * USD  # minus the realized PnL it paid out
    assert ledger.sum_of_balances() == total
    assert (ledger.deposits, ledger.withdrawals) == (10_000 * USD, 0)
    ledger.check_invariants()


def test_a_negative_transfer_goes_the_other_way(ledger_with_alice_and_an_fcm: Ledger) -> None:
    ledger = ledger_with_alice_and_an_fcm
    ledger.transfer(SYSTEM, VARIATION_SETTLEMENT, CASH, "alice", -40 * USD)  # a realized loss
    assert ledger.cash("alice") == 9_960 * USD
    assert ledger.system(VARIATION_SETTLEMENT) == 40 * USD
    ledger.check_invariants()


def test_a_zero_transfer_changes_nothing_and_opens_no_account(ledger_with_alice_and_an_fcm: Ledger) -> None:
    ledger = ledger_with_alice_and_an_fcm
    before = snapshot(ledger)
    ledger.transfer(CASH, "carol", ISOLATED, "carol/ETH-PERP", 0)
    assert snapshot(ledger) == before


def test_open_is_idempotent_and_never_resets_a_balance(ledger_with_alice_and_an_fcm: Ledger) -> None:
    ledger = ledger_with_alice_and_an_fcm
    ledger.open(ISOLATED, "alice/BTC-PERP")
    assert ledger.balances[ISOLATED] == {"alice/BTC-PERP": 0}
    ledger.open(CASH, "alice")
    assert ledger.cash("alice") == 10_000 * USD


# ----------------------------------------------------------------------------- the invariant
@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda ledger: ledger.balances[CASH].__setitem__("alice", ledger.cash("alice") + 1), id="cash +1"),
        pytest.param(lambda ledger: ledger.balances[SYSTEM].__setitem__(FEE_INCOME, -1), id="fee income −1"),
        pytest.param(lambda ledger: ledger.balances[ISOLATED].__setitem__("x/BTC-PERP", 7), id="money from nowhere"),
        pytest.param(lambda ledger: ledger.balances[MEMBER_CAPITAL].pop("fcm-alpha"), id="a balance vanishes"),
        pytest.param(lambda ledger: setattr(ledger, "deposits", ledger.deposits + 1), id="deposit counter"),
        pytest.param(lambda ledger: setattr(ledger, "paid_in", ledger.paid_in - 1), id="pay-in counter"),
        pytest.param(lambda ledger: setattr(ledger, "withdrawals", 1), id="withdrawal counter"),
    ],
)
def test_check_invariants_catches_a_corrupted_ledger(ledger_with_alice_and_an_fcm: Ledger, corrupt: object) -> None:
    ledger = ledger_with_alice_and_an_fcm
    ledger.check_invariants()
    corrupt(ledger)  # type: ignore[operator]
    with pytest.raises(LedgerError, match="out of balance"):
        ledger.check_invariants()


# ----------------------------------------------------------------------------- long random sequences
KINDS_AND_KEYS = st.sampled_from(
    [
        (CASH, "alice"),
        (CASH, "bob"),
        (ISOLATED, "alice/BTC-PERP"),
        (MEMBER_CAPITAL, "fcm-alpha"),
        (MEMBER_DEFAULT_FUND, "fcm-alpha"),
        *((SYSTEM, name) for name in SYSTEM_ACCOUNTS),
    ]
)
AMOUNTS = st.integers(-(10**15), 10**15)


class LedgerMachine(RuleBasedStateMachine):
    """Random deposits, withdrawals, pay-ins and transfers, held to a plain dict model."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger()
        self.model: dict[tuple[str, str], int] = {}
        self.inflow = 0

    def credit(self, kind: str, key: str, amount: int) -> None:
        self.model[kind, key] = self.model.get((kind, key), 0) + amount

    @rule(account=st.sampled_from(("alice", "bob")), amount=AMOUNTS)
    def deposit(self, account: str, amount: int) -> None:
        if amount <= 0:
            with pytest.raises(LedgerError):
                self.ledger.deposit(account, amount)
            return
        self.ledger.deposit(account, amount)
        self.credit(CASH, account, amount)
        self.inflow += amount

    @rule(account=st.sampled_from(("alice", "bob")), amount=AMOUNTS)
    def withdraw(self, account: str, amount: int) -> None:
        if amount <= 0:
            with pytest.raises(LedgerError):
                self.ledger.withdraw(account, amount)
            return
        self.ledger.withdraw(account, amount)
        self.credit(CASH, account, -amount)
        self.inflow -= amount

    @rule(into=KINDS_AND_KEYS, amount=AMOUNTS)
    def pay_in(self, into: tuple[str, str], amount: int) -> None:
        if amount < 0:
            with pytest.raises(LedgerError):
                self.ledger.pay_in(*into, amount)
            return
        self.ledger.pay_in(*into, amount)
        self.credit(*into, amount)
        self.inflow += amount

    @rule(src=KINDS_AND_KEYS, dst=KINDS_AND_KEYS, amount=AMOUNTS)
    def transfer(self, src: tuple[str, str], dst: tuple[str, str], amount: int) -> None:
        total = self.ledger.sum_of_balances()
        self.ledger.transfer(*src, *dst, amount)
        self.credit(*src, -amount)
        self.credit(*dst, amount)
        assert self.ledger.sum_of_balances() == total

    @invariant()
    def the_books_balance(self) -> None:
        self.ledger.check_invariants()
        ledger = self.ledger
        assert ledger.sum_of_balances() == ledger.deposits - ledger.withdrawals + ledger.paid_in == self.inflow

    @invariant()
    def every_balance_matches_the_model(self) -> None:
        for (kind, key), amount in self.model.items():
            assert self.ledger.balance(kind, key) == amount


LedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestLedgerStateMachine = LedgerMachine.TestCase
