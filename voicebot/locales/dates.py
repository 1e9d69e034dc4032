"""Date arithmetic shared by the locale packs: resolve spoken date expressions against ``as_of``.

Pure functions; ``as_of`` is always passed in (the call's local date), never read from a clock.
Conventions (one place, so every language agrees):

* a bare weekday means its next occurrence strictly after ``as_of``;
* "this week <day>" / "next week <day>" are that day of the ISO week of ``as_of`` / the next one;
* a bare "next week" is that week's Friday (the promise's deadline is the end of the work week),
  a bare "this week" is this week's Friday, or ``as_of`` if Friday has passed;
* "weekend" is the coming Saturday (``as_of`` itself on a Saturday);
* "day N" alone is the next date with that day-of-month (this month if not yet past), clamped to
  the month's length; "month M day N" is this year's date, or next year's if already past;
* "end of month" is the last day of ``as_of``'s month.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

FRIDAY = 4
SATURDAY = 5


def add_days(*, as_of: date, days: int) -> date:
    """``as_of`` plus ``days``."""
    return as_of + timedelta(days=days)


def next_weekday(*, as_of: date, weekday: int) -> date:
    """The first ``weekday`` (Monday = 0) strictly after ``as_of``."""
    ahead = (weekday - as_of.weekday() - 1) % 7 + 1
    return as_of + timedelta(days=ahead)


def weekday_of_week(*, as_of: date, weekday: int, weeks_ahead: int) -> date:
    """``weekday`` of the ISO week ``weeks_ahead`` weeks after ``as_of``'s week."""
    monday = as_of - timedelta(days=as_of.weekday())
    return monday + timedelta(weeks=weeks_ahead, days=weekday)


def end_of_this_week(*, as_of: date) -> date:
    """This week's Friday, or ``as_of`` when Friday has already passed."""
    return max(as_of, weekday_of_week(as_of=as_of, weekday=FRIDAY, weeks_ahead=0))


def weekend(*, as_of: date) -> date:
    """The coming Saturday (``as_of`` on a Saturday)."""
    return as_of if as_of.weekday() == SATURDAY else next_weekday(as_of=as_of, weekday=SATURDAY)


def end_of_month(*, as_of: date) -> date:
    """Last day of ``as_of``'s month."""
    return as_of.replace(day=calendar.monthrange(as_of.year, as_of.month)[1])


def day_of_month(*, as_of: date, day: int) -> date | None:
    """The next date (from ``as_of``, inclusive) whose day-of-month is ``day``; None if day ∉ 1..31."""
    if not 1 <= day <= 31:
        return None
    year, month = as_of.year, as_of.month
    if day < as_of.day:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def month_day(*, as_of: date, month: int, day: int) -> date | None:
    """Month/day in ``as_of``'s year, or next year's if already past; None if impossible."""
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(as_of.year, month)[1]:
        return None
    candidate = date(as_of.year, month, day)
    if candidate >= as_of:
        return candidate
    last = calendar.monthrange(as_of.year + 1, month)[1]
    return date(as_of.year + 1, month, min(day, last))
