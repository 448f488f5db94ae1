"""Civil dates in UTC, computed from integers: no clock and no ``datetime``.

The broker layer needs exactly three things from a calendar: the UTC date of a
command's ``ts`` (milliseconds since the Unix epoch), a strict parse of
``YYYY-MM-DD``, and a person's age in completed years on a given date. The
deterministic core imports no ``datetime`` (an import contract holds it), so the
conversions use Howard Hinnant's ``days_from_civil`` / ``civil_from_days``
algorithms on the proleptic Gregorian calendar, exact for every integer day.

Leap-day birthdays: in a common year a person born on 29 February attains the next
age on 1 March. This is the later of the two readings in use (28 February or
1 March), so an age gate never opens early.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MS_PER_DAY = 86_400_000
_DAYS_PER_ERA = 146_097  # 400 Gregorian years
_EPOCH_SHIFT = 719_468  # days from 0000-03-01 to 1970-01-01
_ISO_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")


class CivilDate(NamedTuple):
    """A date of the proleptic Gregorian calendar; compares as ``(year, month, day)``."""

    year: int
    month: int
    day: int

    def isoformat(self) -> str:
        """Return ``YYYY-MM-DD``."""
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


def is_leap_year(year: int) -> bool:
    """Return whether ``year`` has a 29 February (Gregorian rule)."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    """Return the number of days of ``month`` (1-12) in ``year``."""
    if month == 2:
        return 29 if is_leap_year(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def parse_iso_date(text: str) -> CivilDate:
    """Parse ``YYYY-MM-DD`` strictly; raise ``ValueError`` with a sentence otherwise.

    Only ASCII digits, a four-digit year from 0001, and a real day of that month
    (``2023-02-29`` is refused, ``2024-02-29`` accepted).
    """
    match = _ISO_DATE_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a date in the form YYYY-MM-DD")
    year, month, day = (int(part) for part in match.groups())
    if year < 1:
        raise ValueError(f"{text!r} has no year 0000")
    if not 1 <= month <= 12:
        raise ValueError(f"{text!r} has no month {month:02d}")
    if not 1 <= day <= days_in_month(year, month):
        raise ValueError(f"{text!r} is not a day of the calendar")
    return CivilDate(year, month, day)


def days_from_civil(date: CivilDate) -> int:
    """Return the number of days from 1970-01-01 to ``date`` (negative before it)."""
    year, month, day = date
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * _DAYS_PER_ERA + day_of_era - _EPOCH_SHIFT


def civil_from_days(days: int) -> CivilDate:
    """Return the date ``days`` days after 1970-01-01 (the inverse of :func:`days_from_civil`)."""
    z = days + _EPOCH_SHIFT
    era = z // _DAYS_PER_ERA
    day_of_era = z - era * _DAYS_PER_ERA
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    year = year_of_era + era * 400 + (month <= 2)
    return CivilDate(year, month, day)


def utc_date_of(ts_ms: int) -> CivilDate:
    """Return the UTC calendar date of a venue timestamp in ms since the Unix epoch."""
    return civil_from_days(ts_ms // MS_PER_DAY)


def age_on(birth: CivilDate, on: CivilDate) -> int:
    """Return the age in completed years on ``on`` of a person born on ``birth``.

    The age goes up on the birthday itself; a 29 February birthday counts from
    1 March in common years (see the module docstring). The result is negative when
    ``on`` is before ``birth``; callers refuse such dates first.
    """
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def date_of_age(birth: CivilDate, years: int) -> CivilDate:
    """Return the first date on which a person born on ``birth`` is ``years`` old."""
    year = birth.year + years
    if birth.month == 2 and birth.day == 29 and not is_leap_year(year):
        return CivilDate(year, 3, 1)
    return CivilDate(year, birth.month, birth.day)
