"""Dialect helpers of buyu.db on each real database."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy import Date, literal, select, text
from sqlalchemy.orm import Session

from buyu.db import day_ordinal, int_rows


def test_day_ordinal_is_pythons_toordinal(session: Session) -> None:
    """The database's day number of a date equals `date.toordinal()`: at the ends of the calendar, around the
    Gregorian reform and leap days, and on random dates (SQLite computes it from the ISO text it stores)."""
    rng = np.random.default_rng(2)
    days = [date(1, 1, 1), date(1, 12, 31), date(1582, 10, 4), date(1582, 10, 15), date(1900, 2, 28),
            date(1900, 3, 1), date(2000, 2, 29), date(2026, 11, 27), date(9999, 12, 31)]
    days += [date(1970, 1, 1) + timedelta(days=int(k)) for k in rng.integers(-700_000, 2_900_000, size=40)]
    got = session.execute(select(*(day_ordinal(literal(d, Date)) for d in days))).one()
    assert list(got) == [d.toordinal() for d in days]


def test_int_rows_reads_integer_columns_into_an_array(session: Session) -> None:
    """A query's integer columns come back as an (n, width) int64 array, empty when there are no rows."""
    both = text("SELECT 1, 2 UNION ALL SELECT 3, 4 UNION ALL SELECT -5, 9000000000000")
    got = int_rows(session=session, statement=both, width=2)
    assert got.dtype == np.int64 and sorted(got.tolist()) == [[-5, 9_000_000_000_000], [1, 2], [3, 4]]
    none = int_rows(session=session, statement=text("SELECT 1, 2 WHERE 1 = 0"), width=2)
    assert none.shape == (0, 2)
