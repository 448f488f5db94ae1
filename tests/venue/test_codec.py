"""The Venue's decimal codecs: cached strings are the grid's own, whatever the cache holds."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from onshore.core.units import Grid
from onshore.venue.codec import LEVERAGE, MONEY, GridCodec, fmt_money

AMOUNTS = st.integers(-(10**15), 10**15)


@given(st.lists(AMOUNTS, min_size=1, max_size=30))
@example([0, 0, 1, 1, -1, 1_500_000, 1_500_000, -1_500_000, 10**12])
def test_money_amounts_are_written_as_the_grid_writes_them(amounts: list[int]) -> None:
    """MONEY formats with fmt_money (faster); through its cache and its last-value memo, in any
    order and with repeats, every string must be the micro-dollar grid's own."""
    for amount in amounts:
        assert MONEY.format(amount) == MONEY.grid.format(amount) == fmt_money(amount)


@given(st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=30))
def test_a_codec_formats_and_parses_back_through_its_caches(values: list[int]) -> None:
    codec = GridCodec(Grid("0.1"), "price")
    for units in values + values[::-1]:
        text = codec.format(units)
        assert text == codec.grid.format(units)
        assert codec.parse(text) == units


def test_leverage_uses_its_grid() -> None:
    assert LEVERAGE.format(2_550) == "25.5"
