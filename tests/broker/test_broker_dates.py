"""Civil dates without a clock: the UTC date of a timestamp, strict parsing, exact ages."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshore.broker.dates import (
    MS_PER_DAY,
    CivilDate,
    age_on,
    civil_from_days,
    date_of_age,
    days_from_civil,
    parse_iso_date,
    utc_date_of,
)

from .conftest import TS_2026_01_01

EPOCH = dt.date(1970, 1, 1)


@pytest.mark.parametrize(
    ("ts_ms", "expected"),
    [
        (0, "1970-01-01"),
        (MS_PER_DAY - 1, "1970-01-01"),  # the last millisecond of the day
        (MS_PER_DAY, "1970-01-02"),
        (-1, "1969-12-31"),
        (TS_2026_01_01, "2026-01-01"),
        (TS_2026_01_01 - 1, "2025-12-31"),
        (951_782_400_000, "2000-02-29"),  # a leap day of a year divisible by 400
    ],
)
def test_utc_date_of_a_timestamp(ts_ms: int, expected: str) -> None:
    assert utc_date_of(ts_ms).isoformat() == expected


@given(st.integers(min_value=-60_000_000_000_000, max_value=250_000_000_000_000))  # years 68 to 9892
def test_utc_date_agrees_with_the_standard_library(ts_ms: int) -> None:
    days = ts_ms // MS_PER_DAY
    expected = EPOCH + dt.timedelta(days=days)
    assert utc_date_of(ts_ms) == CivilDate(expected.year, expected.month, expected.day)


@given(st.dates())
def test_days_from_civil_inverts_civil_from_days(day: dt.date) -> None:
    civil = CivilDate(day.year, day.month, day.day)
    days = days_from_civil(civil)
    assert days == (day - EPOCH).days
    assert civil_from_days(days) == civil


@pytest.mark.parametrize("text", ["2024-02-29", "2000-02-29", "1999-12-31", "0001-01-01"])
def test_real_dates_parse(text: str) -> None:
    assert parse_iso_date(text).isoformat() == text


@pytest.mark.parametrize(
    "text",
    [
        "2023-02-29",  # not a leap year
        "1900-02-29",  # divisible by 100, not by 400
        "2024-13-01",
        "2024-00-10",
        "2024-04-31",
        "0000-01-01",
        "24-01-01",
        "2024-1-1",
        "2024/01/01",
        "2024-01-01T00:00",
        " 2024-01-01",
        "２０２４-01-01",  # full-width digits are not ASCII digits
        "",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso_date(text)


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        ("2008-01-02", "2026-01-01", 17),  # the day before the 18th birthday
        ("2008-01-02", "2026-01-02", 18),  # the birthday itself
        ("2008-02-29", "2026-02-28", 17),  # a leap-day birthday in a common year...
        ("2008-02-29", "2026-03-01", 18),  # ...counts from 1 March
        ("2008-02-29", "2028-02-29", 20),  # and on the day in a leap year
        ("2008-02-29", "2028-02-28", 19),
        ("1990-12-31", "2026-01-01", 35),
    ],
)
def test_age_in_completed_years(birth: str, on: str, age: int) -> None:
    assert age_on(parse_iso_date(birth), parse_iso_date(on)) == age


@given(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9000, 1, 1)), st.integers(0, 150))
def test_date_of_age_is_the_first_day_of_that_age(birth_day: dt.date, years: int) -> None:
    birth = CivilDate(birth_day.year, birth_day.month, birth_day.day)
    first = date_of_age(birth, years)
    assert age_on(birth, first) == years
    assert age_on(birth, civil_from_days(days_from_civil(first) - 1)) == years - 1
