"""Average-cost position accounting: ``Holding.apply_fill`` (docs/clearing.md, "Positions").

A position is a signed quantity of lots and a signed cost basis in micro-dollars
(``Σ qty_i × price_i × K`` over the opening fills, negative for a short). Reducing by
``c`` of ``|qty|`` lots removes ``div_ceil(cost × c, |qty|)`` of the cost, so realized PnL
is never rounded in the trader's favour, and whatever the rounding keeps back stays in
the cost basis until the position closes: over a position's life nothing is created or
lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.clearing.accounts import CROSS, Holding
from onshore.config.load import default_config

BTC = default_config().markets["BTC-PERP"]
K = BTC.micros_per_tick_lot  # 1,000 micro-dollars per tick-lot: 0.1 USD × 1 contract × 0.01 BTC
USD = 1_000_000
LEVERAGE_10X = 1_000


def ticks(usd: str) -> int:
    """A BTC-PERP price in ticks: ``ticks("65000") == 650_000``."""
    return BTC.price_grid.parse(usd)


def holding_after(fills: list[tuple[int, int]], k: int = K) -> tuple[Holding, list[int]]:
    """Apply ``(signed lots, price ticks)`` fills to a fresh holding; return it and each fill's realized PnL."""
    h = Holding(LEVERAGE_10X)
    return h, [h.apply_fill(qty, price, k) for qty, price in fills]


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    """State: the fills, in order. Expectations: the position after them and each fill's realized PnL."""

    name: str
    fills: list[tuple[int, int]]
    qty: int
    cost: int
    realized: list[int]


CASES = [
    Case(
        "open long 2 at 65,000",
        fills=[(2, ticks("65000"))],
        qty=2,
        cost=2 * ticks("65000") * K,  # 1,300 USD: 2 × 0.01 BTC × 65,000
        realized=[0],
    ),
    Case(
        "add 1 at 66,000 to long 2 at 65,000: cost adds, nothing realized",
        fills=[(2, ticks("65000")), (1, ticks("66000"))],
        qty=3,
        cost=1_960 * USD,
        realized=[0, 0],
    ),
    Case(
        "partial close: sell 1 of long 2 (entry 65,000) at 67,000 realizes 1 × 0.01 × 2,000 = 20 USD",
        fills=[(2, ticks("65000")), (-1, ticks("67000"))],
        qty=1,
        cost=650 * USD,
        realized=[0, 20 * USD],
    ),
    Case(
        "full close of a long bought at two prices: cost back to exactly 0",
        fills=[(2, ticks("65000")), (1, ticks("65000.1")), (-3, ticks("64000"))],
        qty=0,
        cost=0,
        realized=[0, 0, 3 * 640 * USD - (1_300 * USD + 650_001_000)],  # −30.001 USD
    ),
    Case(
        "flip long → short: sell 5 against long 2 closes 2 (+20 USD) and opens short 3 at 66,000",
        fills=[(2, ticks("65000")), (-5, ticks("66000"))],
        qty=-3,
        cost=-3 * 660 * USD,
        realized=[0, 20 * USD],
    ),
    Case(
        "flip short → long: buy 3 against short 2 closes 2 (+20 USD) and opens long 1 at 64,000",
        fills=[(-2, ticks("65000")), (3, ticks("64000"))],
        qty=1,
        cost=640 * USD,
        realized=[0, 20 * USD],
    ),
    Case(
        "open short 2 at 65,000: the cost basis is negative",
        fills=[(-2, ticks("65000"))],
        qty=-2,
        cost=-1_300 * USD,
        realized=[0],
    ),
    Case(
        "short: add, then buy back 1 of 2 above the average entry (65,500) at 67,000 loses 15 USD",
        fills=[(-1, ticks("65000")), (-1, ticks("66000")), (1, ticks("67000"))],
        qty=-1,
        cost=-655 * USD,
        realized=[0, 0, -15 * USD],
    ),
    Case(
        "short: full close below the entry is a profit and leaves no cost",
        fills=[(-3, ticks("65000")), (3, ticks("63000"))],
        qty=0,
        cost=0,
        realized=[0, 3 * 20 * USD],
    ),
    Case(
        "close exactly to flat then reopen the other way: a fresh basis at the new price",
        fills=[(2, ticks("65000")), (-2, ticks("65000")), (-1, ticks("64000"))],
        qty=-1,
        cost=-640 * USD,
        realized=[0, 0, 0],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_apply_fill(case: Case) -> None:
    h, realized = holding_after(case.fills)
    assert (h.qty, h.cost) == (case.qty, case.cost)
    assert realized == case.realized


@pytest.mark.parametrize(
    ("fills", "price"),
    [
        ([(2, ticks("65000")), (-5, ticks("66000"))], ticks("66000")),
        ([(-2, ticks("65000")), (3, ticks("64000"))], ticks("64000")),
        ([(7, ticks("65000.3")), (1, ticks("65000.1")), (-10, ticks("64000.7"))], ticks("64000.7")),
    ],
    ids=["long to short", "short to long", "uneven basis, then flip"],
)
def test_a_flip_opens_the_rest_at_the_fill_price(fills: list[tuple[int, int]], price: int) -> None:
    h, _ = holding_after(fills)
    assert h.qty != 0
    assert Fraction(h.cost, h.qty * K) == price  # average entry, in ticks


def test_a_new_holding_is_flat_with_no_orders_and_keeps_its_settings() -> None:
    h = Holding(2_500)
    assert (h.qty, h.cost, h.leverage, h.mode) == (0, 0, 2_500, CROSS)
    assert not h.has_orders()
    h.sell_lots = 1
    assert h.has_orders()


# ----------------------------------------------------------------------------- rounding
def test_partial_close_of_a_long_rounds_realized_pnl_down() -> None:
    """Long 3 bought at 100, 100 and 101 ticks (cost 301,000): selling 1 at 101 removes
    ⌈301,000 / 3⌉ = 100,334 of cost, not 100,333.33; realized is 666, not 666.67. The
    kept-back 0.67 is realized with the rest: 666 + 1,334 = 2,000 = 303,000 − 301,000."""
    h, realized = holding_after([(1, 100), (1, 100), (1, 101), (-1, 101)])
    exact = Fraction(101 * K) - Fraction(301 * K, 3)
    assert realized[-1] == 666 < exact
    assert h.cost == 301 * K - 100_334
    assert h.apply_fill(-2, 101, K) == 1_334
    assert (h.qty, h.cost) == (0, 0)
    assert realized[-1] + 1_334 == 3 * 101 * K - 301 * K


def test_partial_close_of_a_short_rounds_realized_pnl_down() -> None:
    """Short 3 sold at 100, 100 and 101 ticks (cost −301,000): buying 1 back at 100 removes
    ⌈−301,000 / 3⌉ = −100,333 (the ceiling of a negative number is toward zero); realized
    is −100,000 + 100,333 = 333, not 333.33."""
    h, realized = holding_after([(-1, 100), (-1, 100), (-1, 101), (1, 100)])
    exact = Fraction(-100 * K) - Fraction(-301 * K, 3)
    assert realized[-1] == 333 < exact
    assert h.cost == -301 * K + 100_333
    assert realized[-1] + h.apply_fill(2, 100, K) == 301 * K - 300 * K
    assert (h.qty, h.cost) == (0, 0)


# ----------------------------------------------------------------------------- properties
LOTS = st.integers(1, 60).flatmap(lambda n: st.sampled_from((n, -n)))
PRICES = st.integers(1, 2_000_000)
FILLS = st.lists(st.tuples(LOTS, PRICES), min_size=1, max_size=25)
KS = st.sampled_from((1, 7, K, 10_000))


def cash_flow(fills: list[tuple[int, int]], k: int) -> int:
    """Σ sell value − Σ buy value of the fills, in micro-dollars."""
    return sum(-qty * price * k for qty, price in fills)


@given(fills=FILLS, close_price=PRICES, k=KS)
def test_over_any_round_trip_realized_pnl_is_exactly_sell_value_minus_buy_value(
    fills: list[tuple[int, int]], close_price: int, k: int
) -> None:
    h = Holding(LEVERAGE_10X)
    total = sum(h.apply_fill(qty, price, k) for qty, price in fills)
    closing = (-h.qty, close_price)
    total += h.apply_fill(*closing, k) if h.qty else 0
    assert (h.qty, h.cost) == (0, 0)
    assert total == cash_flow([*fills, closing], k)


@given(fills=FILLS, k=KS)
def test_after_every_fill_cost_plus_realized_accounts_for_every_micro(fills: list[tuple[int, int]], k: int) -> None:
    """Σ realized = Σ sells − Σ buys + cost at every step, the sign of the cost is the
    position's, and each realized PnL is within one micro-dollar below the exact value."""
    h = Holding(LEVERAGE_10X)
    realized_so_far = 0
    for n, (qty, price) in enumerate(fills, start=1):
        before_qty, before_cost = h.qty, h.cost
        realized = h.apply_fill(qty, price, k)
        realized_so_far += realized
        assert realized_so_far == cash_flow(fills[:n], k) + h.cost
        assert (h.cost > 0, h.cost < 0) == (h.qty > 0, h.qty < 0)
        if before_qty and (before_qty > 0) != (qty > 0):
            closed = min(abs(qty), abs(before_qty))
            sign = 1 if before_qty > 0 else -1
            exact = Fraction(sign * closed * price * k) - Fraction(before_cost * closed, abs(before_qty))
            assert exact - 1 < realized <= exact
        else:
            assert realized == 0
