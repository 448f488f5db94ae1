"""Decimal strings in and out of a market's integer grids, with bounded caches.

On a busy market the same few thousand prices arrive and leave again and again; a
dictionary lookup is several times cheaper than parsing or formatting a decimal. The
caches are bounded (cleared when full), so memory stays flat on any input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from onshore.core.units import BadDecimalError, Grid, OffGridError, format_scaled

_CACHE_LIMIT: Final = 200_000


class Rejection(Exception):
    """A command fails a check. Raised only before any state changes."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class GridCodec:
    """Parse and format one grid's decimal strings, caching both directions."""

    __slots__ = ("_fmt", "_formatter", "_last_text", "_last_units", "_parse", "field", "grid")

    def __init__(self, grid: Grid, field: str, formatter: Callable[[int], str] | None = None) -> None:
        """``formatter`` writes a value the cache has not seen (default: the grid's own)."""
        self.grid = grid
        self.field = field
        self._formatter: Callable[[int], str] = grid.format if formatter is None else formatter
        self._parse: dict[str, int] = {}
        self._fmt: dict[int, str] = {}
        # the last value formatted: the fills of one order and the events about it repeat
        # their price, and comparing two machine integers is cheaper than a dictionary lookup
        self._last_units = 0
        self._last_text = grid.format(0)

    def parse(self, text: object) -> int:
        """Return the grid units of ``text`` or raise :class:`Rejection` (bad_decimal, off_grid)."""
        cache = self._parse
        if type(text) is str:
            units = cache.get(text)
            if units is not None:
                return units
            try:
                units = self.grid.parse(text)
            except OffGridError:
                raise Rejection("off_grid", f"{self.field} {text} is not a multiple of {self.grid.step}") from None
            except BadDecimalError:
                raise Rejection("bad_decimal", f"{self.field} {text!r} is not a plain decimal string") from None
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[text] = units
            return units
        raise Rejection("bad_decimal", f'{self.field} must be a decimal string such as "1.5", got {text!r}')

    def format(self, units: int) -> str:
        """Return the decimal string of ``units``."""
        if units == self._last_units:
            return self._last_text
        cache = self._fmt
        text = cache.get(units)
        if text is None:
            text = self._formatter(units)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[units] = text
        self._last_units = units
        self._last_text = text
        return text


def fmt_money(amount_micros: int) -> str:
    """USD decimal string of micro-dollars: the shortest exact form (``1500000 -> "1.5"``).

    Written with plain integer and string operations, which compile to direct calls (a
    format specification goes through the generic formatter): two fees are formatted per trade.
    """
    if amount_micros < 0:
        return "-" + fmt_money(-amount_micros)
    whole = amount_micros // 1_000_000
    frac = amount_micros - whole * 1_000_000
    if frac == 0:
        return str(whole)
    return str(whole) + "." + str(frac + 1_000_000)[1:].rstrip("0")


def fmt_rate(rate_ppb: int) -> str:
    """Decimal fraction string of a rate in ppb."""
    return format_scaled(rate_ppb, 9)


# Money amounts are written by fmt_money: the grid's own strings, in a third of the time.
MONEY: Final = GridCodec(Grid("0.000001"), "amount", fmt_money)
LEVERAGE: Final = GridCodec(Grid("0.01"), "leverage")
