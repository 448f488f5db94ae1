"""Exact decimal strings to integers and back, memoized for the hot path.

Events carry prices, quantities and amounts as decimal strings. Surveillance holds them
as integers of a fixed unit: prices and quantities in nano-units (``10**-9``; finer than
any grid the Venue accepts), money in micro-dollars (the Venue's own unit), rates in
parts per billion. Parsing is exact (:func:`onshore.core.units.split_decimal`); a value
finer than the unit raises ``ValueError``.

The same few thousand price and quantity strings recur millions of times in a stream,
so :class:`DecimalCache` memoizes them: a hit is one dict lookup in C.
"""

from __future__ import annotations

from typing import Final

from onshore.core.units import format_scaled, split_decimal

NANO_EXP: Final = 9
NANO: Final = 10**NANO_EXP
MICROS_EXP: Final = 6
PPB_EXP: Final = 9
CACHE_LIMIT: Final = 1_000_000
"""Entries a cache keeps; past it, new strings are parsed every time (memory stays bounded)."""


def to_units(text: str, exponent: int) -> int:
    """Return ``text`` as an integer count of ``10**-exponent``; raise ``ValueError`` if finer.

    ``to_units("65000.1", 9) == 65000100000000``.
    """
    mantissa, exp = split_decimal(text)
    if exp > exponent:
        raise ValueError(f"{text} has more than {exponent} decimals")
    scale: int = 10 ** (exponent - exp)
    return mantissa * scale


def fmt_units(units: int, exponent: int) -> str:
    """Format ``units`` of ``10**-exponent`` as the shortest exact decimal string."""
    return format_scaled(units, exponent)


def fmt_nano(units: int) -> str:
    """Format nano-units (a price or a quantity)."""
    return format_scaled(units, NANO_EXP)


def fmt_micros(micros: int) -> str:
    """Format micro-dollars as a USD decimal string."""
    return format_scaled(micros, MICROS_EXP)


def ratio(numerator: int, denominator: int, places: int = 6) -> str:
    """``numerator / denominator`` as a decimal string of at most ``places`` decimals, rounded half to even.

    ``ratio(1, 3) == "0.333333"``; ``ratio(5, 0)`` is ``""`` (undefined).
    """
    if denominator == 0:
        return ""
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    scaled = numerator * 10**places
    q, r = divmod(scaled, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2 == 1):
        q += 1
    return format_scaled(q, places)


def float_text(value: float, places: int = 6) -> str:
    """A float (analytics only) as a fixed decimal string; the shortest form, no exponent."""
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class DecimalCache(dict[str, int]):
    """Decimal string -> integer units of ``10**-exponent``; ``cache[text]`` parses on first sight.

    Runtime complexity: O(1) per hit (a dict lookup); O(len(text)) on a miss.
    """

    __slots__ = ("exponent",)

    def __init__(self, exponent: int) -> None:
        super().__init__()
        self.exponent = exponent

    def __missing__(self, text: str) -> int:
        value = fast_units(text, self.exponent)
        if len(self) < CACHE_LIMIT:
            self[text] = value
        return value


def fast_units(text: str, exponent: int) -> int:
    """:func:`to_units` for text the Venue wrote (plain decimals); anything unusual takes the strict path."""
    dot = text.find(".")
    if dot < 0:
        if text.isdigit():
            whole_scale: int = 10**exponent
            return int(text) * whole_scale
        return to_units(text, exponent)
    frac = len(text) - dot - 1
    whole = text[:dot]
    digits = text[dot + 1 :]
    if 0 < frac <= exponent and digits.isdigit() and (whole.isdigit() or (whole[1:].isdigit() and whole[0] == "-")):
        scale: int = 10 ** (exponent - frac)
        return int(whole + digits) * scale
    return to_units(text, exponent)
