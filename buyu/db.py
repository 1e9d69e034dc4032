"""Engine, sessions and the one transaction owner (unit_of_work)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import CursorResult, Engine, Executable, create_engine, event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer

from buyu.config import get_settings


class Base(DeclarativeBase):
    """Declarative base of every ORM model."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Writers queue instead of failing: SQLite allows one writer, so every transaction starts
    # IMMEDIATE and waits for the lock rather than upgrading later and deadlocking.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the dialect settings the ledger relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, **kwargs)


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for a URL (default: settings)."""
    return make_engine(url or get_settings().database_url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (services return them)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(engine: Engine | None = None) -> Iterator[Session]:
    """The one transaction owner: commit on success, roll back everything on any error."""
    session = session_factory(engine or get_engine())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class days_between(FunctionElement[int]):
    """Whole days from the first date to the second (later − earlier), portable across dialects."""

    type = Integer()
    inherit_cache = True


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: days_between, compiler: Any, **kw: Any) -> str:
    a, b = list(element.clauses)
    return f"CAST(julianday({compiler.process(b, **kw)}) - julianday({compiler.process(a, **kw)}) AS INTEGER)"


@compiles(days_between, "postgresql")
def _days_between_pg(element: days_between, compiler: Any, **kw: Any) -> str:
    a, b = list(element.clauses)
    return f"(CAST({compiler.process(b, **kw)} AS DATE) - CAST({compiler.process(a, **kw)} AS DATE))"


class day_ordinal(FunctionElement[int]):
    """A date's proleptic Gregorian day number, equal to Python's `date.toordinal()` (0001-01-01 is day 1).

    Computed by the database, so a reader gets plain integers back instead of a date to convert per row
    (SQLite hands dates back as text).
    """

    type = Integer()
    inherit_cache = True


@compiles(day_ordinal, "sqlite")
def _day_ordinal_sqlite(element: day_ordinal, compiler: Any, **kw: Any) -> str:
    # julianday() of a date is its Julian day number at midnight, 1721425.5 for 0001-01-01: exact in a double
    return f"CAST(julianday({compiler.process(next(iter(element.clauses)), **kw)}) - 1721424.5 AS INTEGER)"


@compiles(day_ordinal, "postgresql")
def _day_ordinal_pg(element: day_ordinal, compiler: Any, **kw: Any) -> str:
    return f"(CAST({compiler.process(next(iter(element.clauses)), **kw)} AS DATE) - DATE '0001-01-01' + 1)"


def driver_rows(*, session: Session, statement: Executable, batch: int = 65_536) -> Iterator[Sequence[Any]]:
    """The rows of a query as the driver's own tuples, fetched `batch` at a time (no Row object per row).

    A Core statement (text(), tables' columns) hands back the driver's cursor; anything else is read through
    its rows. The session runs it, so pending changes are flushed first as for any query.
    """
    result = session.execute(statement)
    try:
        if not isinstance(result, CursorResult):
            yield from result
            return
        fetch = result.cursor.fetchmany
        while rows := fetch(batch):
            yield from rows
    finally:
        result.close()


#: Ids per IN list: SQLite binds at most 32,766 parameters per statement by default, psycopg 65,535.
ID_CHUNK = 30_000


def id_chunks(ids: npt.ArrayLike) -> list[list[int]]:
    """Ids as IN lists every supported database accepts (a bank's book is larger than one list)."""
    flat = [int(x) for x in np.asarray(ids).ravel()]
    return [flat[k:k + ID_CHUNK] for k in range(0, len(flat), ID_CHUNK)]


def int_rows(*, session: Session, statement: Executable, width: int) -> npt.NDArray[np.int64]:
    """The rows of a query of `width` non-null integer columns, as an (n, width) int64 array.

    Millions of rows go straight from the driver's tuples into numpy (see `driver_rows`).
    """
    rows = driver_rows(session=session, statement=statement)
    return np.fromiter(chain.from_iterable(rows), dtype=np.int64).reshape(-1, width)


def iso(d: date) -> str:
    """A date as the ISO string both dialects compare correctly."""
    return d.isoformat()
