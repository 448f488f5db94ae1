"""Exact value types: parsing on a grid, refusing floats, naming every rounding."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.core.units import (
    MAX_DECIMAL_CHARS,
    MONEY_GRID,
    PPB,
    RATE_GRID,
    BadDecimalError,
    Grid,
    Money,
    OffGridError,
    Price,
    Qty,
    Rate,
    div_away,
    div_ceil,
    div_exact,
    div_floor,
    div_trunc,
    format_micros,
    format_ppb,
    format_scaled,
    split_decimal,
)

TICK_0_1 = Grid("0.1")
LOT_1 = Grid("1")


# ----------------------------------------------------------------------------- exact parsing
@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("12.345678", 12_345_678),
        ("0.000001", 1),
        ("100", 100_000_000),
        ("-1.5", -1_500_000),
        ("0", 0),
        ("1.0000000", 1_000_000),  # extra zeros are still exactly on the grid
    ],
)
def test_money_parses_usd_exactly_into_micro_dollars(text: str, micros: int) -> None:
    money = Money.parse(text)
    assert money == micros
    assert type(money) is Money


@pytest.mark.parametrize(
    ("text", "ppb"),
    [
        ("0.0001", 100_000),
        ("0.000125", 125_000),
        ("0.000000001", 1),
        ("1", PPB),
        ("-0.0005", -500_000),
    ],
)
def test_rate_parses_a_fraction_exactly_into_parts_per_billion(text: str, ppb: int) -> None:
    rate = Rate.parse(text)
    assert rate == ppb
    assert type(rate) is Rate


@pytest.mark.parametrize(
    ("step", "text", "units"),
    [
        ("0.1", "65000.5", 650_005),
        ("0.1", "65000", 650_000),
        ("0.01", "-0.03", -3),
        ("0.5", "1.5", 3),
        ("0.25", "1", 4),
        ("5", "15", 3),
        ("1", "7", 7),
        ("1.0", "7", 7),
        ("0.000001", "0.000007", 7),
    ],
)
def test_grid_parse_counts_whole_steps(step: str, text: str, units: int) -> None:
    assert Grid(step).parse(text) == units


def test_price_and_qty_parse_on_the_market_grids() -> None:
    price = Price.parse("65000.5", TICK_0_1)
    qty = Qty.parse("3", LOT_1)
    assert (price, type(price)) == (650_005, Price)
    assert (qty, type(qty)) == (3, Qty)


def test_arithmetic_on_units_returns_plain_ints() -> None:
    total = Money(1) + Money(2)
    assert total == 3
    assert type(total) is int


def test_reprs_name_the_unit() -> None:
    assert repr(Money(5)) == "Money(5)"
    assert repr(Rate(100_000)) == "Rate(100000)"
    assert repr(Price(650_005)) == "Price(650005)"
    assert repr(Grid("0.1")) == "Grid('0.1')"


# ----------------------------------------------------------------------------- off the grid
@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (Money.parse, "12.3456789"),
        (Money.parse, "0.0000001"),
        (Money.parse, "-0.0000005"),
        (Rate.parse, "0.0000000001"),
        (TICK_0_1.parse, "65000.55"),
        (TICK_0_1.parse, "0.01"),
        (Grid("0.5").parse, "1.2"),
        (Grid("5").parse, "12"),
        (Grid("0.25").parse, "0.1"),
        (LOT_1.parse, "1.5"),
        (LOT_1.parse, "-0.5"),
    ],
)
def test_an_off_grid_value_raises_and_is_never_rounded(parse: Callable[[str], int], text: str) -> None:
    with pytest.raises(OffGridError):
        parse(text)


def test_price_and_qty_refuse_off_grid_text() -> None:
    with pytest.raises(OffGridError):
        Price.parse("65000.05", TICK_0_1)
    with pytest.raises(OffGridError):
        Qty.parse("0.5", LOT_1)


def test_off_grid_error_is_a_value_error_naming_value_and_step() -> None:
    with pytest.raises(ValueError, match=r"65000\.55 is not a multiple of 0\.1"):
        TICK_0_1.parse("65000.55")


# ----------------------------------------------------------------------------- floats and bools
@pytest.mark.parametrize("value", [1.0, 0.1, float("nan"), float("inf"), np.float64(2.0)])
@pytest.mark.parametrize("build", [Money, Rate, Price, Qty], ids=lambda t: t.__name__)
def test_no_unit_type_is_ever_built_from_a_float(build: Callable[[Any], int], value: float) -> None:
    with pytest.raises(TypeError, match="float"):
        build(value)


@pytest.mark.parametrize(
    "parse",
    [
        Money.parse,
        Rate.parse,
        lambda v: Price.parse(v, TICK_0_1),
        lambda v: Qty.parse(v, LOT_1),
        TICK_0_1.parse,
        MONEY_GRID.parse,
        Grid,
        split_decimal,
    ],
    ids=["Money.parse", "Rate.parse", "Price.parse", "Qty.parse", "Grid.parse", "MONEY_GRID.parse", "Grid", "split"],
)
@pytest.mark.parametrize("value", [0.1, 65000.5, 1.0, np.float64(0.5)])
def test_no_parser_accepts_a_float(parse: Callable[[Any], object], value: float) -> None:
    with pytest.raises(TypeError, match="float"):
        parse(value)


@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize("build", [Money, Rate, Price, Qty], ids=lambda t: t.__name__)
def test_no_unit_type_is_built_from_a_bool(build: Callable[[Any], int], value: bool) -> None:
    with pytest.raises(TypeError):
        build(value)


@pytest.mark.parametrize("parse", [Money.parse, Rate.parse, TICK_0_1.parse, Grid, split_decimal])
def test_no_parser_accepts_a_bool(parse: Callable[[Any], object]) -> None:
    with pytest.raises(BadDecimalError, match="bool"):
        parse(True)


@pytest.mark.parametrize("value", ["5", Decimal("5"), None, np.int64(5), Fraction(5)])
def test_unit_types_take_only_a_python_int(value: object) -> None:
    with pytest.raises(TypeError):
        Money(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [5, Decimal("5"), None, b"5", ["5"]])
def test_parsers_take_only_a_string(value: object) -> None:
    with pytest.raises(BadDecimalError):
        Money.parse(value)  # type: ignore[arg-type]


def test_a_unit_built_from_an_int_keeps_its_value() -> None:
    assert Money(12_345_678) == 12_345_678
    assert Money(Money(7)) == 7
    assert Rate(-1) == -1


# ----------------------------------------------------------------------------- malformed text
MALFORMED = [
    "1e3",
    "1E3",
    "+1",
    " 1",
    "1 ",
    "1\n",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1.",
    ".5",
    "-.5",
    "007",
    "00",
    "01.5",
    "-00.5",
    "",
    "-",
    "--1",
    "1.2.3",
    "1,5",
    "1_000",
    "0x10",
    "\uff11",  # fullwidth digit one
    "\u0661",  # Arabic-Indic digit one
]


@pytest.mark.parametrize("text", MALFORMED)
def test_split_decimal_rejects_anything_but_a_plain_decimal(text: str) -> None:
    with pytest.raises(BadDecimalError):
        split_decimal(text)


@pytest.mark.parametrize("text", MALFORMED)
def test_money_rate_and_grids_reject_malformed_text(text: str) -> None:
    for parse in (Money.parse, Rate.parse, TICK_0_1.parse, LOT_1.parse):
        with pytest.raises(BadDecimalError):
            parse(text)


@pytest.mark.parametrize(
    ("text", "mantissa", "exponent"),
    [
        ("65000.5", 650_005, 1),
        ("-0.01", -1, 2),
        ("100", 100, 0),
        ("0", 0, 0),
        ("-0", 0, 0),
        ("1.50", 150, 2),
        ("0.000", 0, 3),
    ],
)
def test_split_decimal_returns_mantissa_and_exponent(text: str, mantissa: int, exponent: int) -> None:
    assert split_decimal(text) == (mantissa, exponent)


def test_overlong_decimal_text_is_a_bad_decimal_not_an_interpreter_limit() -> None:
    """Python refuses int() of more than 4300 digits with a bare ValueError; that must never leak."""
    longest = "1" * MAX_DECIMAL_CHARS
    assert split_decimal(longest) == (int(longest), 0)
    for text in ("1" * (MAX_DECIMAL_CHARS + 1), "0." + "0" * 5000 + "1", "9" * 5000):
        with pytest.raises(BadDecimalError, match="characters"):
            split_decimal(text)
        with pytest.raises(BadDecimalError):
            Money.parse(text)


@pytest.mark.parametrize("step", ["0", "-0.1", "-0", "0.000"])
def test_a_grid_step_must_be_positive(step: str) -> None:
    with pytest.raises(ValueError, match="positive"):
        Grid(step)


@pytest.mark.parametrize("step", ["1e-1", ".1", "abc", ""])
def test_a_grid_step_must_be_a_plain_decimal(step: str) -> None:
    with pytest.raises(BadDecimalError):
        Grid(step)


def test_grids_compare_by_the_value_of_their_step() -> None:
    assert Grid("0.1") == Grid("0.10")
    assert hash(Grid("0.1")) == hash(Grid("0.10"))
    assert Grid("5") == Grid("5.0")
    assert Grid("0.1") != Grid("0.01")
    assert Grid("0.1") != "0.1"
    assert len({Grid("1"), Grid("1.00"), Grid("2")}) == 2


# ----------------------------------------------------------------------------- rounding helpers
DIVISIONS = [
    # numerator, denominator, floor, ceil, trunc, away
    (7, 2, 3, 4, 3, 4),
    (-7, 2, -4, -3, -3, -4),
    (6, 3, 2, 2, 2, 2),
    (-6, 3, -2, -2, -2, -2),
    (0, 5, 0, 0, 0, 0),
    (1, PPB, 0, 1, 0, 1),
    (-1, PPB, -1, 0, 0, -1),
    (999_999_999, PPB, 0, 1, 0, 1),
    (-1_000_000_001, PPB, -2, -1, -1, -2),
]


@pytest.mark.parametrize(("num", "den", "floor", "ceil", "trunc", "away"), DIVISIONS)
def test_each_division_helper_rounds_the_way_it_is_named(
    num: int, den: int, floor: int, ceil: int, trunc: int, away: int
) -> None:
    assert div_floor(num, den) == floor
    assert div_ceil(num, den) == ceil
    assert div_trunc(num, den) == trunc
    assert div_away(num, den) == away


@pytest.mark.parametrize(("num", "den", "quotient"), [(6, 3, 2), (-6, 3, -2), (0, 7, 0), (10**18, 10**6, 10**12)])
def test_div_exact_returns_the_quotient_of_an_exact_division(num: int, den: int, quotient: int) -> None:
    assert div_exact(num, den) == quotient


@pytest.mark.parametrize(("num", "den"), [(7, 2), (-7, 2), (1, PPB), (-1, 3)])
def test_div_exact_raises_rather_than_round(num: int, den: int) -> None:
    with pytest.raises(OffGridError):
        div_exact(num, den)


numerators = st.integers(min_value=-(10**30), max_value=10**30)
denominators = st.integers(min_value=1, max_value=10**18)


@given(numerators, denominators)
def test_floor_and_ceil_bracket_the_exact_quotient_within_one(num: int, den: int) -> None:
    exact = Fraction(num, den)
    lo, hi = div_floor(num, den), div_ceil(num, den)
    assert lo <= exact <= hi
    assert hi - lo == (0 if exact.denominator == 1 else 1)


@given(numerators, denominators)
def test_trunc_and_away_round_toward_and_away_from_zero(num: int, den: int) -> None:
    exact = Fraction(num, den)
    trunc, away = div_trunc(num, den), div_away(num, den)
    assert trunc == math.trunc(exact)
    assert abs(trunc) <= abs(exact) <= abs(away)
    assert abs(away - trunc) == (0 if exact.denominator == 1 else 1)
    assert away == (math.ceil(exact) if num >= 0 else math.floor(exact))


@given(numerators, denominators)
def test_div_exact_agrees_with_exact_arithmetic(num: int, den: int) -> None:
    if num % den:
        with pytest.raises(OffGridError):
            div_exact(num, den)
    else:
        assert div_exact(num, den) == Fraction(num, den)


# ----------------------------------------------------------------------------- formatting
@pytest.mark.parametrize(
    ("grid", "units", "text"),
    [
        ("0.1", 650_005, "65000.5"),
        ("0.1", 650_000, "65000"),
        ("0.1", 10, "1"),
        ("0.1", 0, "0"),
        ("0.5", 3, "1.5"),
        ("0.25", -3, "-0.75"),
        ("5", 3, "15"),
        ("0.01", -3, "-0.03"),
        ("1.0", 4, "4"),
    ],
)
def test_grid_format_writes_the_shortest_exact_decimal(grid: str, units: int, text: str) -> None:
    assert Grid(grid).format(units) == text
    assert Grid(grid).parse(text) == units


@pytest.mark.parametrize(
    ("units", "exponent", "text"),
    [
        (-5, 0, "-5"),
        (-50, 2, "-0.5"),
        (-1, 2, "-0.01"),
        (0, 6, "0"),
        (1_000_000, 6, "1"),
        (1_230_000, 6, "1.23"),
        (123, 9, "0.000000123"),
    ],
)
def test_format_scaled(units: int, exponent: int, text: str) -> None:
    assert format_scaled(units, exponent) == text


def test_money_and_rate_print_as_decimal_strings() -> None:
    assert str(Money(1_500_000)) == "1.5"
    assert str(Money(-1)) == "-0.000001"
    assert str(Rate(100_000)) == "0.0001"
    assert format_micros(1_500_000) == "1.5"
    assert format_ppb(100_000) == "0.0001"
    assert format_ppb(-12_500) == "-0.0000125"


@pytest.mark.parametrize("text", ["12.345678", "-0.000001", "0", "1000000", "65000.5"])
def test_money_round_trips_through_its_string(text: str) -> None:
    assert str(Money.parse(text)) == text
    assert Money.parse(str(Money.parse(text))) == Money.parse(text)


def test_grid_scaled_converts_steps_to_a_finer_decimal_unit_exactly() -> None:
    assert TICK_0_1.scaled(5, 6) == 500_000
    assert Grid("0.25").scaled(-3, 2) == -75
    with pytest.raises(OffGridError):
        Grid("0.0000001").scaled(1, 6)


@st.composite
def grids(draw: st.DrawFn) -> Grid:
    """A grid step num / 10**exp written as a plain decimal, built without format_scaled."""
    num = draw(st.integers(min_value=1, max_value=10**6))
    exp = draw(st.integers(min_value=0, max_value=12))
    with localcontext() as ctx:
        ctx.prec = 100
        step = format(Decimal(num).scaleb(-exp), "f")
    return Grid(step)


units_ints = st.integers(min_value=-(10**18), max_value=10**18)


@given(grids(), units_ints)
def test_grid_parse_inverts_grid_format(grid: Grid, n: int) -> None:
    assert grid.parse(grid.format(n)) == n


@given(grids(), units_ints)
def test_a_value_between_two_steps_is_off_the_grid(grid: Grid, n: int) -> None:
    mantissa, exponent = split_decimal(grid.format(n))
    # n steps plus a tenth of the grid's last decimal place: finer than any step.
    scale = max(exponent, split_decimal(grid.step)[1]) + 1
    between = format_scaled(mantissa * 10 ** (scale - exponent) + 1, scale)
    with pytest.raises(OffGridError):
        grid.parse(between)


@given(st.integers(min_value=-(10**40), max_value=10**40), st.integers(min_value=0, max_value=18))
def test_format_scaled_gives_the_shortest_exact_decimal(units: int, exponent: int) -> None:
    text = format_scaled(units, exponent)
    mantissa, digits = split_decimal(text)  # also proves the text is a plain decimal
    assert Fraction(mantissa, 10**digits) == Fraction(units, 10**exponent)
    assert "." not in text or not text.endswith("0")
    assert text != "-0"
    with localcontext() as ctx:
        ctx.prec = 100
        assert text == format(Decimal(units).scaleb(-exponent).normalize(), "f")


@given(st.integers(min_value=-(10**20), max_value=10**20))
def test_money_and_rate_round_trip_through_their_strings(n: int) -> None:
    assert Money.parse(str(Money(n))) == n
    assert Rate.parse(str(Rate(n))) == n
    assert MONEY_GRID.parse(format_micros(n)) == n
    assert RATE_GRID.parse(format_ppb(n)) == n
