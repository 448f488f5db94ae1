"""Margin requirements (onshore.clearing.margin; docs/clearing.md, "Margin").

Tiers use the cumulative-deduction form ``requirement = notional × rate − deduction``, so
requirements are continuous across tiers; initial margin is the larger of ``⌈N / L⌉`` and
the tier's initial requirement; the pre-trade check takes the worse of the "every buy
fills" and "every sell fills" cases, each with the open loss of trading through the mark.
Worked examples from public venue documentation are cited in the tests' docstrings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from onshore.clearing.margin import (
    Tiers,
    initial_margin,
    maintenance_margin,
    market_requirement,
    open_loss,
    tiers_of,
    worst_case_notional,
)
from onshore.config.load import default_config, load_config
from onshore.core.spec import LEVERAGE_SCALE, MarketSpec
from onshore.core.units import PPB, div_ceil

USD = 1_000_000  # micro-dollars per dollar
BTC = default_config().markets["BTC-PERP"]
K = BTC.micros_per_tick_lot  # 1,000: one lot (0.01 BTC) at one tick (0.1 USD) is 0.001 USD
X = 100  # leverage is in hundredths: 10 * X is 10x
MARK = 650_000  # 65,000.0 USD in BTC-PERP ticks; one lot at the mark is 650 USD


def ticks(usd: str) -> int:
    return BTC.price_grid.parse(usd)


def market_with_tiers(tiers_toml: str, market: str = "") -> MarketSpec:
    """BTC-PERP with its margin tiers (and optionally other keys) replaced by a partial TOML file."""
    return load_config(f"[markets.BTC-PERP]\n{market}\n{tiers_toml}").markets["BTC-PERP"]


def bracket_sum(spec: MarketSpec, notional: int, rate_of: str) -> int:
    """The requirement as a tax-bracket sum: each band's rate on the part of N inside it, rounded up.

    An independent statement of what the cumulative deduction is for.
    """
    total = 0
    for tier in spec.tiers:
        top = notional if tier.cap_micros is None else min(notional, tier.cap_micros)
        if top > tier.floor_micros:
            total += (top - tier.floor_micros) * getattr(tier, rate_of)
    return div_ceil(total, PPB)


# ============================================================================ initial margin
@pytest.mark.parametrize(
    ("notional", "leverage", "expected"),
    [
        pytest.param(650 * USD, 10 * X, 65 * USD, id="leverage binds: 650 USD at 10x"),
        pytest.param(-650 * USD, 10 * X, 65 * USD, id="a short's negative notional counts by its size"),
        pytest.param(2_000_000 * USD, 50 * X, 60_000 * USD, id="tier binds: 2M at 50x needs 2M × 4% − 20k"),
        pytest.param(2_000_000 * USD, 25 * X, 80_000 * USD, id="leverage binds again at the tier's own 25x"),
        pytest.param(100_000_000 * USD, 50 * X, 32_680_000 * USD, id="uncapped last tier: 100M × 50% − 17.32M"),
        pytest.param(100_000_000 * USD, 2 * X, 50_000_000 * USD, id="uncapped last tier at 2x: leverage binds"),
        pytest.param(1_001, 10 * X, 101, id="N / L rounds up: 100.1 micros owed is 101"),
        pytest.param(1_000, 333, 301, id="fractional leverage 3.33x: 300.3 rounds up"),
        pytest.param(49, 50 * X, 1, id="the tier's 2% of 49 micros (0.98) rounds up to 1"),
        pytest.param(0, 10 * X, 0, id="no notional, no margin"),
    ],
)
def test_initial_margin(notional: int, leverage: int, expected: int) -> None:
    assert initial_margin(BTC, notional, leverage) == expected


@pytest.mark.parametrize(
    ("notional", "expected"),
    [
        pytest.param(500_000 * USD, 5_000 * USD, id="tier 1: 1%"),
        pytest.param(1_000_000 * USD, 10_000 * USD, id="first cap: tier 2's formula gives tier 1's value"),
        pytest.param(3_000_000 * USD, 50_000 * USD, id="tier 2: 3M × 2% − 10k"),
        pytest.param(10_000_000 * USD, 340_000 * USD, id="tier 3: 10M × 5% − 160k"),
        pytest.param(30_000_000 * USD, 1_840_000 * USD, id="tier 4: 30M × 10% − 1.16M"),
        pytest.param(100_000_000 * USD, 16_340_000 * USD, id="tier 5: 100M × 25% − 8.66M"),
        pytest.param(-3_000_000 * USD, 50_000 * USD, id="a short's notional counts by its size"),
        pytest.param(150, 2, id="1% of 150 micros (1.5) rounds up"),
        pytest.param(0, 0, id="no notional"),
    ],
)
def test_maintenance_margin_on_btc_perp_tiers(notional: int, expected: int) -> None:
    assert maintenance_margin(BTC, notional) == expected


def test_maintenance_margin_does_not_depend_on_the_leverage_chosen() -> None:
    """It is a function of the notional alone: only the initial requirement sees the leverage."""
    assert maintenance_margin(BTC, 2_000_000 * USD) == 30_000 * USD
    assert initial_margin(BTC, 2_000_000 * USD, 10 * X) != initial_margin(BTC, 2_000_000 * USD, 50 * X)


# ============================================================================ tier continuity
def test_btc_perp_tiers_carry_the_cumulative_deductions_of_their_floors() -> None:
    """deduction[i] = deduction[i−1] + floor[i] × (rate[i] − rate[i−1]), for both requirements."""
    assert [t.floor_micros // USD for t in BTC.tiers] == [0, 1_000_000, 5_000_000, 20_000_000, 50_000_000]
    assert [t.maintenance_deduction_micros_ppb // (USD * PPB) for t in BTC.tiers] == [
        0,
        10_000,
        160_000,
        1_160_000,
        8_660_000,
    ]
    assert [t.initial_deduction_micros_ppb // (USD * PPB) for t in BTC.tiers] == [
        0,
        20_000,
        320_000,
        2_320_000,
        17_320_000,
    ]


@pytest.mark.parametrize("i", range(len(BTC.tiers) - 1), ids=lambda i: f"cap of tier {i + 1}")
def test_requirements_are_continuous_at_every_btc_perp_tier_boundary(i: int) -> None:
    below, above = BTC.tiers[i], BTC.tiers[i + 1]
    cap = below.cap_micros
    assert cap is not None and cap == above.floor_micros
    # at the cap, both tiers' formulas give the same amount: no jump
    assert below.maintenance_micros(cap) == above.maintenance_micros(cap)
    assert below.initial_micros(cap) == above.initial_micros(cap)
    # and one micro-dollar more notional costs at most one micro-dollar more
    for requirement in (lambda n: maintenance_margin(BTC, n), lambda n: initial_margin(BTC, n, 10**12)):
        assert 0 <= requirement(cap) - requirement(cap - 1) <= 1
        assert 0 <= requirement(cap + 1) - requirement(cap) <= 1


@given(notional=st.integers(0, 200_000_000 * USD))
def test_the_cumulative_deduction_equals_the_tax_bracket_sum(notional: int) -> None:
    """Binance describes its tiers as a "Tax Bracket" setup ("Leverage and Margin of USDⓈ-M
    Futures", https://www.binance.com/en/support/faq/360033162192): each band's rate applies
    to the part of the position inside it. The deduction form must agree exactly."""
    assert maintenance_margin(BTC, notional) == bracket_sum(BTC, notional, "maintenance_rate_ppb")
    # with a leverage too high to bind, the initial margin is the tier's own requirement
    assert initial_margin(BTC, notional, 10**12) == bracket_sum(BTC, notional, "initial_rate_ppb")


@given(a=st.integers(-200_000_000 * USD, 200_000_000 * USD), b=st.integers(0, 200_000_000 * USD))
def test_requirements_never_fall_as_the_notional_grows(a: int, b: int) -> None:
    bigger = abs(a) + b
    assert 0 <= maintenance_margin(BTC, a) <= maintenance_margin(BTC, bigger)
    for leverage in (1 * X, 10 * X, 50 * X):
        assert 0 <= initial_margin(BTC, a, leverage) <= initial_margin(BTC, bigger, leverage)
        assert maintenance_margin(BTC, a) <= initial_margin(BTC, a, leverage)


# ============================================================================ worked examples from venues
HYPERLIQUID_TESTNET_BTC = """
[[markets.BTC-PERP.margin_tiers]]
max_notional = "10000"
max_leverage = "40"
maintenance_rate = "0.0125"
[[markets.BTC-PERP.margin_tiers]]
max_notional = "50000"
max_leverage = "25"
maintenance_rate = "0.02"
[[markets.BTC-PERP.margin_tiers]]
max_notional = "100000"
max_leverage = "10"
maintenance_rate = "0.05"
[[markets.BTC-PERP.margin_tiers]]
max_notional = "300000"
max_leverage = "5"
maintenance_rate = "0.1"
[[markets.BTC-PERP.margin_tiers]]
max_leverage = "3"
maintenance_rate = "0.16666666"
"""


@pytest.mark.parametrize(
    ("notional_usd", "maintenance_usd"),
    [
        pytest.param(8_000, 100, id="tier 1: 8k × 1.25%"),
        pytest.param(10_000, 125, id="at the first bound"),
        pytest.param(60_000, 1_425, id="tier 3: 60k × 5% − 1,575 = 125 + 800 + 500"),
        pytest.param(250_000, 18_425, id="tier 4: 250k × 10% − 6,575"),
    ],
)
def test_hyperliquid_maintenance_deduction_worked_on_its_testnet_btc_tiers(
    notional_usd: int, maintenance_usd: int
) -> None:
    """Hyperliquid docs, "Margin tiers" (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers):
    ``maintenance_margin = notional_position_value × maintenance_margin_rate − maintenance_deduction``,
    with ``maintenance_deduction(n) = maintenance_deduction(n − 1) + notional_position_lower_bound(n) ×
    (maintenance_margin_rate(n) − maintenance_margin_rate(n − 1))`` and the rate half the initial rate at
    the tier's maximum leverage. Its testnet BTC tiers are 0–10k 40x, 10–50k 25x, 50–100k 10x,
    100–300k 5x, >300k 3x, so the rates are 1.25 %, 2 %, 5 %, 10 % (and 1/6, not exact in ppb, so
    stated as 0.16666666 and not used here) and the deductions 0, 75, 1,575 and 6,575 USD."""
    spec = market_with_tiers(HYPERLIQUID_TESTNET_BTC)
    assert [t.maintenance_deduction_micros_ppb // (USD * PPB) for t in spec.tiers[:4]] == [0, 75, 1_575, 6_575]
    assert maintenance_margin(spec, notional_usd * USD) == maintenance_usd * USD


def test_whitebit_collateral_bracket_worked_example() -> None:
    """WhiteBIT, "Collateral brackets" (https://whitebit.com/trading-data/collateral-brackets):
    a 200,000 USDT position at 100x where the 100x bracket ends at 50,000 USDT and 10x applies
    beyond it costs (50,000 / 100) + (150,000 / 10) = 15,500 USDT to open. In the
    cumulative-deduction form: 200,000 × 10 % − 50,000 × (10 % − 1 %) = 15,500."""
    spec = market_with_tiers(
        """
[[markets.BTC-PERP.margin_tiers]]
max_notional = "50000"
max_leverage = "100"
maintenance_rate = "0.005"
[[markets.BTC-PERP.margin_tiers]]
max_leverage = "10"
maintenance_rate = "0.025"
"""
    )
    assert initial_margin(spec, 200_000 * USD, 100 * X) == 15_500 * USD
    assert initial_margin(spec, 50_000 * USD, 100 * X) == 500 * USD  # the first bracket alone


BINANCE_MARK = 925_984  # 9,259.84 USD in 0.01 ticks
BINANCE_ORDER = 925_330  # 9,253.30


@pytest.fixture(scope="module")
def binance_btcusdt() -> MarketSpec:
    """A 1-BTC contract on a 0.01 USD tick, one 125x tier (0.4 % maintenance)."""
    return market_with_tiers(
        '[[markets.BTC-PERP.margin_tiers]]\nmax_leverage = "125"\nmaintenance_rate = "0.004"\n',
        market='contract_size = "1"\ntick_size = "0.01"\n',
    )


def test_binance_cost_to_open_worked_example(binance_btcusdt: MarketSpec) -> None:
    """Binance, "How to Calculate Cost Required to Open a Position in Perpetual Futures
    Contracts" (https://www.binance.com/en/support/faq/87fa7ee33b574f7084d42bd2ce2e463b):
    1 BTC at an order price of 9,253.30 with the mark at 9,259.84, at 20x.
    Step 1: initial margin = 9,253.30 × 1 / 20 = 462.665 (shown as 462.66; Onshore rounds up).
    Step 2: open loss = |min(0, direction × (mark − order price))|: 0 for the long order,
    1 × 6.54 = 6.54 for the short order.

    Onshore's worst case differs in the price the margin is taken on: it uses the higher of
    the mark and the order price for both sides (Binance: the order price for a long, and for
    a short also the last price × 1.0015, which Onshore does not keep), so here both sides
    need the initial margin at the mark, 9,259.84 / 20 = 462.992. As in Binance's order
    cost, the open loss is charged at placement on top: 0 for the long, 6.54 for the short."""
    spec = binance_btcusdt
    assert spec.micros_per_tick_lot == 10_000
    order_notional = BINANCE_ORDER * spec.micros_per_tick_lot
    assert order_notional == 9_253_300_000
    assert initial_margin(spec, order_notional, 20 * X) == 462_665_000

    im_at_mark = initial_margin(spec, BINANCE_MARK * spec.micros_per_tick_lot, 20 * X)
    assert im_at_mark == 462_992_000
    long_order = market_requirement(spec, 20 * X, 0, BINANCE_MARK, 1, order_notional, 0, 0)
    short_order = market_requirement(spec, 20 * X, 0, BINANCE_MARK, 0, 0, 1, order_notional)
    assert long_order == im_at_mark
    assert short_order == im_at_mark
    assert open_loss(True, 1, BINANCE_ORDER, BINANCE_MARK, spec.micros_per_tick_lot) == 0  # buying below the mark
    assert open_loss(False, 1, BINANCE_ORDER, BINANCE_MARK, spec.micros_per_tick_lot) == 6_540_000  # selling below


# ============================================================================ worst case of position and orders
@dataclass(frozen=True)
class Book:
    """State: an account's position and open orders in BTC-PERP, at the mark (None: no mark yet)."""

    qty: int = 0
    buys: list[tuple[int, str]] = field(default_factory=list)  # (lots, limit price in USD)
    sells: list[tuple[int, str]] = field(default_factory=list)
    mark: int | None = MARK

    def totals(self) -> tuple[int, int, int, int]:
        b_lots = sum(lots for lots, _ in self.buys)
        b_notional = sum(lots * ticks(price) * K for lots, price in self.buys)
        s_lots = sum(lots for lots, _ in self.sells)
        s_notional = sum(lots * ticks(price) * K for lots, price in self.sells)
        return b_lots, b_notional, s_lots, s_notional

    def requirement(self, leverage: int = 10 * X) -> int:
        return market_requirement(BTC, leverage, self.qty, self.mark, *self.totals())

    def worst_notional(self) -> int:
        return worst_case_notional(BTC, self.qty, self.mark, *self.totals())


# At 10x and a 65,000 mark one lot at the mark is 650 USD and needs 65 USD. A case's notional is
# the position it leaves at the mark plus the premium of the lots its orders open: the side's
# orders pay max(0, Σ (price − mark) × lots) above the mark, and each lot carries an equal share.
REQUIREMENTS = [
    ("flat, no orders", Book(), 0),
    ("long 2: IM of 1,300", Book(qty=2), 130 * USD),
    ("short 2: the same", Book(qty=-2), 130 * USD),
    ("buy below the mark: margin at the mark", Book(buys=[(1, "64000")]), 65 * USD),
    (
        "buy above the mark: margin at the order price (open loss is charged at placement)",
        Book(buys=[(1, "66000")]),
        66 * USD,
    ),
    ("sell below the mark: margin at the mark", Book(sells=[(1, "64000")]), 65 * USD),
    ("sell above the mark: margin at the order price", Book(sells=[(1, "66000")]), 66 * USD),
    (
        "long 2 with a reducing sell: the long case (2 lots) beats long 1 at the mark (650)",
        Book(qty=2, sells=[(1, "66000")]),
        130 * USD,
    ),
    (
        "a sell far above the mark that only reduces carries no premium: long 10 at the mark is 6,500 "
        "(pricing the 9 lots left at 130,000 would make it 11,700)",
        Book(qty=10, sells=[(1, "130000")]),
        650 * USD,
    ),
    (
        "long 1 with sells of 3 at 66,000: short 2 at the mark (1,300) plus 2/3 of the side's 30 above it",
        Book(qty=1, sells=[(3, "66000")]),
        132 * USD,
    ),
    (
        "the opening share rounds up: the sells pay 30.001 above the mark, 2 of their 3 lots open",
        Book(qty=1, sells=[(1, "66000.1"), (2, "66000")]),
        # 660.001 + 1,320 − 3 × 650 = 30.001 USD = 30,001,000 µ$; 2/3 of it is 20,000,666.7, up to
        # 20,000,667; short 2 at the mark 1,300 USD: 1,320,000,667 µ$, at 10x 132,000,066.7 -> 132,000,067
        132_000_067,
    ),
    (
        "long 1, buys 2 below the mark, a sell of 1: long case 3 lots at the mark",
        Book(qty=1, buys=[(2, "64000")], sells=[(1, "66000")]),
        195 * USD,
    ),
    (
        "short 3 with a buy of 1 above the mark: the short case (3 lots) beats the 2 lots left at the mark",
        Book(qty=-3, buys=[(1, "66000")]),
        195 * USD,
    ),
    (
        "flat, buys of 2 below vs a sell of 1 below: long case 130 beats short case 65",
        Book(buys=[(2, "64000")], sells=[(1, "64000")]),
        130 * USD,
    ),
    (
        "flat, a buy above vs a sell below: long case 66 beats short case 65",
        Book(buys=[(1, "66000")], sells=[(1, "64000")]),
        66 * USD,
    ),
    (
        "orders above the mark count at their exact notional: 2 lots at 640 plus 650.001 + 650 − 1,280 above it",
        Book(buys=[(1, "65000.1"), (1, "65000")], mark=ticks("64000")),
        130_000_100,  # IM of 1,300.001 USD at 10x, rounded up from 130.0001
    ),
    ("no mark yet: a buy is margined at its own price, no open loss", Book(buys=[(1, "66000")], mark=None), 66 * USD),
    ("no mark yet: a sell likewise", Book(sells=[(2, "64000")], mark=None), 128 * USD),
]


@pytest.mark.parametrize(
    ("book", "expected"), [(b, e) for _, b, e in REQUIREMENTS], ids=[n for n, _, _ in REQUIREMENTS]
)
def test_market_requirement(book: Book, expected: int) -> None:
    assert book.requirement() == expected


def test_the_tier_binds_in_the_worst_case_at_high_leverage() -> None:
    """Long 2,000 lots (1.3M USD) at 50x: ⌈N / 50⌉ = 26,000 but tier 2 asks 1.3M × 4% − 20k = 32,000."""
    assert Book(qty=2_000).requirement(50 * X) == 32_000 * USD


WORST_NOTIONALS = [
    ("flat, no orders", Book(), 0),
    ("a position alone, at the mark", Book(qty=-3), 3 * 650 * USD),
    (
        "long case: long 3 at the mark plus the 10 the buy pays above it",
        Book(qty=2, buys=[(1, "66000")]),
        1_960 * USD,  # 3 × 650 + (660 − 650)
    ),
    (
        "a reducing sell above the mark: long 2 (1,300) beats the long 1 left at the mark",
        Book(qty=2, sells=[(1, "66000")]),
        1_300 * USD,
    ),
    ("short case: long 2 − sell 5 = short 3, at the mark", Book(qty=2, sells=[(5, "64000")]), 1_950 * USD),
    ("no mark: order prices stand in", Book(sells=[(2, "64000")], mark=None), 1_280 * USD),
]


@pytest.mark.parametrize(
    ("book", "expected"), [(b, e) for _, b, e in WORST_NOTIONALS], ids=[n for n, _, _ in WORST_NOTIONALS]
)
def test_worst_case_notional(book: Book, expected: int) -> None:
    assert book.worst_notional() == expected


# ============================================================================ properties
PRICES_NEAR_MARK = st.integers(MARK * 9 // 10, MARK * 11 // 10)
ORDERS = st.lists(st.tuples(st.integers(1, 50), PRICES_NEAR_MARK), max_size=4)
LEVERAGES = st.sampled_from((1 * X, 3 * X, 10 * X, 1_250, 25 * X, 50 * X))
MARKS = st.one_of(st.none(), PRICES_NEAR_MARK)


def totals(orders: list[tuple[int, int]]) -> tuple[int, int]:
    return sum(lots for lots, _ in orders), sum(lots * price * K for lots, price in orders)


def requirement(
    leverage: int, qty: int, mark: int | None, buys: list[tuple[int, int]], sells: list[tuple[int, int]]
) -> int:
    return market_requirement(BTC, leverage, qty, mark, *totals(buys), *totals(sells))


@given(leverage=LEVERAGES, qty=st.integers(-500, 500), mark=MARKS, buys=ORDERS, sells=ORDERS)
def test_requirements_are_never_negative_and_cover_the_worst_notional(
    leverage: int, qty: int, mark: int | None, buys: list[tuple[int, int]], sells: list[tuple[int, int]]
) -> None:
    need = requirement(leverage, qty, mark, buys, sells)
    worst = worst_case_notional(BTC, qty, mark, *totals(buys), *totals(sells))
    assert need >= 0
    assert worst >= 0
    assert need >= initial_margin(BTC, worst, leverage)
    if mark is not None:
        assert worst >= abs(qty) * mark * K


@given(
    leverage=LEVERAGES,
    side=st.sampled_from((1, -1)),
    size=st.integers(0, 500),
    growth=st.integers(1, 500),
    mark=PRICES_NEAR_MARK,
    same_side=ORDERS,
    opposite=ORDERS,
)
def test_the_requirement_never_falls_as_a_position_grows(
    leverage: int,
    side: int,
    size: int,
    growth: int,
    mark: int,
    same_side: list[tuple[int, int]],
    opposite: list[tuple[int, int]],
) -> None:
    """Growing a position away from zero never lowers its requirement, whatever its orders on
    the same side, while its orders on the other side do not exceed it (an opposite order
    larger than the position is partly covered by it: that is meant)."""
    reducing = [(lots, price) for lots, price in opposite if lots <= size][:1]
    buys, sells = (same_side, reducing) if side > 0 else (reducing, same_side)
    smaller = requirement(leverage, side * size, mark, buys, sells)
    larger = requirement(leverage, side * (size + growth), mark, buys, sells)
    assert 0 <= smaller <= larger


@given(
    leverage=LEVERAGES,
    side=st.sampled_from((1, -1)),
    qty=st.integers(0, 500),
    mark=MARKS,
    price=PRICES_NEAR_MARK,
    lots=st.integers(0, 100),
    more=st.integers(1, 100),
)
def test_the_requirement_never_falls_as_one_price_level_of_orders_grows(
    leverage: int, side: int, qty: int, mark: int | None, price: int, lots: int, more: int
) -> None:
    """More lots at the same limit price, on the side of the position (or flat), never need less."""
    before = [(lots, price)] if lots else []
    after = [(lots + more, price)]
    if side > 0:
        smaller, larger = requirement(leverage, qty, mark, before, []), requirement(leverage, qty, mark, after, [])
    else:
        smaller, larger = requirement(leverage, -qty, mark, [], before), requirement(leverage, -qty, mark, [], after)
    assert 0 <= smaller <= larger


def isolated_orders(
    leverage: int, qty: int, mark: int | None, buys: list[tuple[int, int]], sells: list[tuple[int, int]]
) -> int:
    return tiers_of(BTC).isolated_orders(leverage, qty, mark or 0, *totals(buys), *totals(sells))


@given(
    leverage=LEVERAGES,
    qty=st.integers(-500, 500),
    mark=MARKS,
    buys=ORDERS,
    sells=ORDERS,
    side=st.sampled_from(("buy", "sell")),
    new=st.tuples(st.integers(1, 500), PRICES_NEAR_MARK),
)
@example(leverage=50 * X, qty=0, mark=MARK, buys=[(10, ticks("68000"))], sells=[], side="buy", new=(10, ticks("62000")))
@example(leverage=1 * X, qty=499, mark=585_000, buys=[(1, 587_346)], sells=[], side="buy", new=(1, 585_000))
@example(leverage=1 * X, qty=-499, mark=585_000, buys=[], sells=[(1, 587_346)], side="sell", new=(1, 585_000))
@example(leverage=10 * X, qty=10, mark=MARK, buys=[], sells=[(1, ticks("130000"))], side="sell", new=(9, 600_000))
def test_adding_any_order_to_either_side_never_lowers_the_requirement(
    leverage: int,
    qty: int,
    mark: int | None,
    buys: list[tuple[int, int]],
    sells: list[tuple[int, int]],
    side: str,
    new: tuple[int, int],
) -> None:
    """Whatever the position, its orders and the new order's side, size and price: the
    requirement, the worst-case notional (position limits) and an isolated position's order
    reserve never fall when an order is added.

    The examples are the regressions: a netted open loss (buy 10 at 68,000 against a 65,000
    mark at 50x, then a buy of 10 at 62,000); average-price-drop (a 1x long of 499 lots with a
    bid at 58,734.6, then a bid at the 58,500 mark, and its mirror for a short); and a long of 10
    with a sell of 1 at twice the mark, then a sell of the other 9 — pricing the lots the first
    sell leaves at its price made the short case 11,700 USD, and the second sell took it to 0."""
    more_buys, more_sells = ([*buys, new], sells) if side == "buy" else (buys, [*sells, new])
    assert requirement(leverage, qty, mark, more_buys, more_sells) >= requirement(leverage, qty, mark, buys, sells)
    assert worst_case_notional(BTC, qty, mark, *totals(more_buys), *totals(more_sells)) >= worst_case_notional(
        BTC, qty, mark, *totals(buys), *totals(sells)
    )
    assert isolated_orders(leverage, qty, mark, more_buys, more_sells) >= isolated_orders(
        leverage, qty, mark, buys, sells
    )


def test_a_buy_at_the_mark_does_not_lower_the_requirement_of_a_large_long() -> None:
    """Regression (average-price-drop), found by the property above: a 1x long of 499 lots with
    one bid at 58,734.6 against a 58,500 mark. When every lot of the long case was priced at the
    side's average, the case was 500 × 58,734.6 = 293,673.00 USD, and a second bid at the mark
    brought the average to 58,617.3 and the case to 501 × 58,617.3 = 293,672.673: less, with more
    exposure. Now the position's lots are at the mark and the bid pays its 234.6 above it:
    before, 500 × 585 + 2.346 = 292,502.346 USD (one lot at the mark is 585 USD, and the bid's
    2,346 ticks above it are 2.346 USD); after, one more lot at the mark, 293,087.346. At 1x the
    leverage binds (tier 1 asks 2 % of it), so the requirement is the notional itself."""
    before = requirement(1 * X, 499, 585_000, [(1, 587_346)], [])
    after = requirement(1 * X, 499, 585_000, [(1, 587_346), (1, 585_000)], [])
    assert before == 292_502_346_000
    assert after == 293_087_346_000
    assert after - before == 585 * USD


@given(leverage=LEVERAGES, qty=st.integers(-500, 500), mark=PRICES_NEAR_MARK, buys=ORDERS, sells=ORDERS)
def test_open_orders_never_lower_the_requirement_below_the_position_alone(
    leverage: int, qty: int, mark: int, buys: list[tuple[int, int]], sells: list[tuple[int, int]]
) -> None:
    assert requirement(leverage, qty, mark, buys, sells) >= requirement(leverage, qty, mark, [], [])


@given(
    market=st.sampled_from(sorted(default_config().markets)),
    notional=st.one_of(st.integers(1, 10**12), st.integers(1, 10**17)),
    leverage=st.integers(100, 12_500),
)
@example(market="BTC-PERP", notional=5_000_000_000_000, leverage=100)  # a tier cap: the next tier starts here
@example(market="BTC-PERP", notional=99_999_999_999_999_999, leverage=12_500)  # N·rate and D far beyond 2⁶²
def test_the_compiled_tier_arithmetic_equals_the_tier_formula(market: str, notional: int, leverage: int) -> None:
    """Tiers splits notionals and deductions at 10⁹ to stay in machine-size integers; the result
    must be the spec's plain formula ⌈(N·rate − D) / 10⁹⌉ of the tier holding N, to the micro-dollar."""
    spec = default_config().markets[market]
    tier = next(t for t in spec.tiers if t.cap_micros is None or notional < t.cap_micros)
    tiers = Tiers(spec)
    assert tiers.maintenance(notional) == tier.maintenance_micros(notional)
    by_leverage = div_ceil(notional * LEVERAGE_SCALE, leverage)
    assert tiers.initial(notional, leverage) == max(tier.initial_micros(notional), by_leverage)
