"""Shared fixtures: every database test runs on real SQLite and real PostgreSQL.

PostgreSQL tests use a private schema per test run (so parallel runs and the developer's own
data never collide) and a rolled-back transaction per test. When no PostgreSQL server answers
they are skipped with a clear message, except under CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from buyu.db import make_engine
from buyu.migrate import upgrade

PG_URL = os.environ.get("BUYU_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_answers() -> str | None:
    try:
        engine = make_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any connection failure means "no server"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A migrated private schema on the PostgreSQL test server; its URL pins the search_path."""
    problem = _pg_answers()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} does not answer under CI: {problem}")
        pytest.skip(f"PostgreSQL tests skipped: no server answers at {PG_URL} ({problem})")
    schema = f"buyu_t_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    upgrade(url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file shared by the run (each test rolls back)."""
    path = Path(tmp_path_factory.mktemp("db")) / "buyu.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine on each real database in turn."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_schema_url")
    eng = make_engine(url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test (services flush, never commit)."""
    conn = engine.connect()
    trans = conn.begin()
    sess = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield sess
    sess.close()
    trans.rollback()
    conn.close()


@pytest.fixture
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a brand-new, migrated SQLite database, for code that owns its transactions."""
    eng = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(str(eng.url))
    yield eng
    eng.dispose()
