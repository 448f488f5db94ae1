"""The daily segregation computation: what the member holds, owes, and must add of its own."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from onshore.broker import CustomerFunds, MemberFunds, segregation_report, segregation_statement

from .conftest import USD


def test_a_customer_deficit_is_not_netted_and_the_member_covers_it() -> None:
    funds = MemberFunds.from_accounts(
        "fcm-a",
        [
            # alice: 10k cash, +2k unsettled gain, 3k margin.
            CustomerFunds(
                account="alice", cash_micros=10_000 * USD, equity_micros=12_000 * USD, margin_micros=3_000 * USD
            ),
            # bob: liquidated at a loss; 5k cash and a 6k loss not yet settled: a 1k deficit.
            CustomerFunds(account="bob", cash_micros=5_000 * USD, equity_micros=-1_000 * USD),
            CustomerFunds(account="carol", cash_micros=0, equity_micros=0),
        ],
        member_capital_micros=50_000 * USD,
    )
    assert funds.customer_cash_micros == 15_000 * USD
    assert funds.net_settlement_micros == -4_000 * USD
    assert funds.customer_funds_required_micros == 12_000 * USD  # bob's deficit does not reduce alice's claim
    statement = segregation_statement(funds)
    assert statement.funds_in_segregation_micros == 11_000 * USD
    assert statement.requirement_micros == 12_000 * USD
    assert statement.excess_micros == -1_000 * USD
    assert statement.is_deficient
    assert statement.uncovered_margin_micros == 0
    assert statement.residual_interest_required_micros == 1_000 * USD
    assert statement.capital_after_cover_micros == 49_000 * USD
    assert not statement.is_member_short
    assert statement.to_report() == {
        "member": "fcm-a",
        "funds_in_segregation": "11000",
        "requirement": "12000",
        "excess": "-1000",
        "clearing_house_margin": "3000",
        "uncovered_margin": "0",
        "residual_interest_required": "1000",
        "member_capital": "50000",
        "capital_after_cover": "49000",
        "deficient": True,
        "member_short": False,
    }


def test_one_customers_equity_cannot_margin_another() -> None:
    accounts = [
        CustomerFunds(account="alice", cash_micros=1_000 * USD, equity_micros=1_000 * USD, margin_micros=1_500 * USD),
        CustomerFunds(account="bob", cash_micros=2_000 * USD, equity_micros=2_000 * USD, margin_micros=100 * USD),
    ]
    statement = segregation_statement(MemberFunds.from_accounts("fcm-b", accounts, member_capital_micros=0))
    assert statement.excess_micros == 0
    assert statement.uncovered_margin_micros == 500 * USD  # alice's shortfall, account by account (17 CFR 1.22)
    assert statement.capital_after_cover_micros == -500 * USD
    assert statement.is_member_short


def test_from_totals_alone_the_margin_check_is_the_aggregate_bound() -> None:
    funds = MemberFunds(
        member="fcm-c",
        customer_cash_micros=3_000 * USD,
        customer_funds_required_micros=3_000 * USD,
        clearing_house_margin_micros=3_600 * USD,
        member_capital_micros=10_000 * USD,
    )
    statement = segregation_statement(funds)
    assert (statement.excess_micros, statement.uncovered_margin_micros) == (0, 600 * USD)
    assert statement.capital_after_cover_micros == 9_400 * USD


def test_a_clearing_house_margin_figure_overrides_the_accounts_sum() -> None:
    accounts = [CustomerFunds(account="a", cash_micros=100, equity_micros=100, margin_micros=40)]
    funds = MemberFunds.from_accounts("m", accounts, member_capital_micros=0, clearing_house_margin_micros=150)
    assert funds.clearing_house_margin_micros == 150
    assert segregation_statement(funds).uncovered_margin_micros == 50  # max(undermargined 0, 150 - 100)


def test_the_report_is_one_statement_per_member_sorted() -> None:
    members = [
        MemberFunds(
            member=name,
            customer_cash_micros=0,
            customer_funds_required_micros=0,
            clearing_house_margin_micros=0,
            member_capital_micros=0,
        )
        for name in ("zeta", "alpha", "mu")
    ]
    assert [s.member for s in segregation_report(members)] == ["alpha", "mu", "zeta"]


accounts_strategy = st.lists(
    st.builds(
        CustomerFunds,
        account=st.just("x"),
        cash_micros=st.integers(-(10**12), 10**12),
        equity_micros=st.integers(-(10**12), 10**12),
        margin_micros=st.integers(0, 10**12),
    ),
    max_size=30,
)


@given(accounts_strategy, st.integers(0, 10**13))
def test_segregation_identities(accounts: list[CustomerFunds], capital: int) -> None:
    statement = segregation_statement(MemberFunds.from_accounts("m", accounts, member_capital_micros=capital))
    deficits = sum(max(0, -a.equity_micros) for a in accounts)
    assert statement.funds_in_segregation_micros == sum(a.equity_micros for a in accounts)
    assert statement.requirement_micros == sum(max(0, a.equity_micros) for a in accounts)
    assert statement.excess_micros == -deficits  # held for customers = owed to them, less their deficits
    assert statement.residual_interest_required_micros >= deficits
    assert statement.uncovered_margin_micros == sum(max(0, a.margin_micros - max(0, a.equity_micros)) for a in accounts)
    assert statement.capital_after_cover_micros == capital - statement.residual_interest_required_micros
    if all(a.equity_micros >= a.margin_micros for a in accounts):
        assert statement.residual_interest_required_micros == 0
