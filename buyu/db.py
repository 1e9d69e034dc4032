"""Engine, sessions and the one transaction owner (unit_of_work)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
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


def iso(d: date) -> str:
    """A date as the ISO string both dialects compare correctly."""
    return d.isoformat()
