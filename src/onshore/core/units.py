"""Exact value types: integers with a declared scale.

Onshore never lets a float touch a price, a quantity, a balance or a rate. Every
value is an integer count of a declared unit:

==========  ====================================  ==============================
type        unit                                  parsed with
==========  ====================================  ==============================
``Price``   ticks of the market's ``tick_size``   ``Price.parse(text, grid)``
``Qty``     lots of the market's ``lot_size``     ``Qty.parse(text, grid)``
``Money``   micro-dollars (1e-6 USD)              ``Money.parse(text)``
``Rate``    parts per billion (1e-9)              ``Rate.parse(text)``
==========  ====================================  ==============================

Rates use parts per billion rather than ppm because an hourly share of an 8-hour
funding rate is often finer than a ppm: 0.01 % per 8 h is 12.5 ppm per hour, which
is exactly 12,500 ppb.

Parsing from a decimal string is exact; a value that is not a whole number of units
(off the grid) raises :class:`OffGridError` and is never rounded. Constructing any of
the types from a float raises ``TypeError``. Arithmetic on them returns plain ``int``
(the hot paths work on plain ints named for their unit: ``price_ticks``,
``qty_lots``, ``amount_micros``, ``rate_ppb``); the types exist to make the boundary
explicit and safe.

Division never happens with ``/``: the helpers below name their rounding, and the
caller picks the one that goes against the trader (owed amounts round up, paid-out
amounts round down).
"""

from __future__ import annotations

import re
from math import gcd
from typing import ClassVar, Self

MICROS_PER_USD = 1_000_000
PPB = 1_000_000_000
MAX_DECIMAL_CHARS = 100
"""The longest decimal text accepted. Far below Python's int-conversion limit (at least
640 digits, settable per process), so whether a value parses never depends on the
interpreter's settings."""

_DECIMAL_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?\Z")


class OffGridError(ValueError):
    """A decimal value that is not a whole number of the grid's units."""


class BadDecimalError(ValueError):
    """Text that is not a plain decimal number such as ``"-12.5"``."""


# --------------------------------------------------------------------------- rounding
def div_floor(numerator: int, denominator: int) -> int:
    """Divide, rounding toward negative infinity. ``denominator`` must be positive."""
    return numerator // denominator


def div_ceil(numerator: int, denominator: int) -> int:
    """Divide, rounding toward positive infinity. ``denominator`` must be positive."""
    return -((-numerator) // denominator)


def div_trunc(numerator: int, denominator: int) -> int:
    """Divide, rounding toward zero. ``denominator`` must be positive."""
    q = abs(numerator) // denominator
    return q if numerator >= 0 else -q


def div_away(numerator: int, denominator: int) -> int:
    """Divide, rounding away from zero. ``denominator`` must be positive."""
    q = -((-abs(numerator)) // denominator)
    return q if numerator >= 0 else -q


def div_exact(numerator: int, denominator: int) -> int:
    """Divide, raising :class:`OffGridError` unless the division is exact."""
    q, r = divmod(numerator, denominator)
    if r:
        raise OffGridError(f"{numerator} is not a multiple of {denominator}")
    return q


# --------------------------------------------------------------------------- decimals
def split_decimal(text: str) -> tuple[int, int]:
    """Parse a plain decimal string into ``(mantissa, exponent)``: value = m / 10**e.

    Accepts an optional minus sign, digits and an optional fraction: ``"65000.5"``,
    ``"-0.01"``, ``"100"``. Rejects exponents, ``+``, spaces, ``NaN``, ``inf``, leading
    zeros (``"007"``), non-strings and text longer than :data:`MAX_DECIMAL_CHARS`.
    """
    if type(text) is not str:
        if isinstance(text, float):
            raise TypeError("decimal values are strings, never floats")
        raise BadDecimalError(f"expected a decimal string, got {type(text).__name__}")
    if len(text) > MAX_DECIMAL_CHARS:
        raise BadDecimalError(f"a decimal of {len(text)} characters (at most {MAX_DECIMAL_CHARS}): {text[:20]!r}...")
    if _DECIMAL_RE.match(text) is None:
        raise BadDecimalError(f"not a plain decimal number: {text!r}")
    point = text.find(".")
    if point < 0:
        return int(text), 0
    return int(text[:point] + text[point + 1 :]), len(text) - point - 1


def format_scaled(units: int, exponent: int) -> str:
    """Format ``units / 10**exponent`` as the shortest exact decimal string."""
    if exponent == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**exponent)
    if frac == 0:
        return f"{sign}{whole}"
    digits = str(frac).rjust(exponent, "0").rstrip("0")
    return f"{sign}{whole}.{digits}"


class Grid:
    """A decimal step (tick size, lot size, one micro-dollar) and exact conversions.

    ``Grid("0.1").parse("65000.5") == 650005``; ``Grid("0.1").parse("65000.55")``
    raises :class:`OffGridError`; ``Grid("0.1").format(650005) == "65000.5"``.
    """

    __slots__ = ("_exp", "_num", "_pow", "step")

    def __init__(self, step: str) -> None:
        mantissa, exponent = split_decimal(step)
        if mantissa <= 0:
            raise ValueError(f"a grid step must be positive, got {step!r}")
        self.step = step
        self._num = mantissa  # step = num / 10**exp
        self._exp = exponent
        self._pow: int = 10**exponent

    def parse(self, text: str) -> int:
        """Return the whole number of steps in ``text``; raise if it is off the grid."""
        mantissa, exponent = split_decimal(text)
        # value / step = (m / 10**e) / (num / 10**exp) = m * 10**exp / (num * 10**e)
        top = mantissa * self._pow
        bottom = self._num * 10**exponent
        q, r = divmod(top, bottom)
        if r:
            raise OffGridError(f"{text} is not a multiple of {self.step}")
        steps: int = q
        return steps

    def format(self, units: int) -> str:
        """Return the decimal string of ``units`` steps."""
        return format_scaled(units * self._num, self._exp)

    def scaled(self, units: int, exponent: int) -> int:
        """Return ``units`` steps expressed in units of ``10**-exponent``, exactly.

        Raises :class:`OffGridError` if the step is finer than ``10**-exponent``.
        """
        scaled: int = div_exact(units * self._num * 10**exponent, self._pow)
        return scaled

    def __eq__(self, other: object) -> bool:
        """Grids are equal when their steps are equal in value (``"0.1"`` and ``"0.10"``)."""
        if not isinstance(other, Grid):
            return NotImplemented
        return self._num * other._pow == other._num * self._pow

    def __hash__(self) -> int:
        common = gcd(self._num, self._pow)
        return hash((self._num // common, self._pow // common))

    def __repr__(self) -> str:
        return f"Grid({self.step!r})"


MONEY_GRID = Grid("0.000001")
RATE_GRID = Grid("0.000000001")


# --------------------------------------------------------------------------- types
class _Scaled(int):
    """An ``int`` with a declared unit that refuses floats (and bools)."""

    __slots__ = ()

    def __new__(cls, value: int) -> Self:
        if type(value) is not int and not isinstance(value, _Scaled):
            if isinstance(value, float):
                raise TypeError(f"{cls.__name__} is never built from a float: use parse()")
            raise TypeError(f"{cls.__name__} takes an int count of its unit, got {value!r}")
        return int.__new__(cls, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"


class Money(_Scaled):
    """Money in integer micro-dollars: ``Money.parse("12.345678") == Money(12_345_678)``."""

    __slots__ = ()
    GRID: ClassVar[Grid] = MONEY_GRID

    @classmethod
    def parse(cls, text: str) -> Money:
        """Parse a USD amount exactly; more than six decimals is off the grid."""
        return cls(MONEY_GRID.parse(text))

    def __str__(self) -> str:
        return format_scaled(int(self), 6)


class Rate(_Scaled):
    """A rate in integer parts per billion: ``Rate.parse("0.0001") == Rate(100_000)``."""

    __slots__ = ()
    GRID: ClassVar[Grid] = RATE_GRID

    @classmethod
    def parse(cls, text: str) -> Rate:
        """Parse a rate (a fraction, not a percentage) exactly."""
        return cls(RATE_GRID.parse(text))

    def __str__(self) -> str:
        return format_scaled(int(self), 9)


class Price(_Scaled):
    """A price in integer ticks of its market's ``tick_size``."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str, grid: Grid) -> Price:
        """Parse a USD price on the market's tick grid; off-tick raises."""
        return cls(grid.parse(text))


class Qty(_Scaled):
    """A quantity in integer lots of its market's ``lot_size`` (contracts)."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str, grid: Grid) -> Qty:
        """Parse a number of contracts on the market's lot grid; off-lot raises."""
        return cls(grid.parse(text))


def format_micros(amount_micros: int) -> str:
    """Format micro-dollars as a USD decimal string (``1500000 -> "1.5"``)."""
    return format_scaled(amount_micros, 6)


def format_ppb(rate_ppb: int) -> str:
    """Format a rate in ppb as a decimal fraction (``100000 -> "0.0001"``)."""
    return format_scaled(rate_ppb, 9)
