"""A small simulated history on each real database, made once per module by the real simulator loop."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from buyu.db import make_engine
from buyu.migrate import upgrade
from buyu.scoring import learner
from buyu.scoring.evaluate import ExplorePolicy
from buyu.simulation.runner import simulate
from buyu.simulation.scenario import Scenario, parse_scenario, shipped_scenario

DAYS = 76


def small_scenario() -> Scenario:
    """The shipped default scenario with 160 accounts and 8 collectors."""
    data = shipped_scenario("default").model_dump(exclude_unset=True)
    return parse_scenario({**data, "accounts": 160, "collectors": 8, "days": DAYS})


@dataclass(frozen=True)
class Simulated:
    """An engine on a database holding a finished simulation, and its scenario."""

    engine: Engine
    scenario: Scenario


@pytest.fixture(scope="session", autouse=True)
def _quick_trees() -> Iterator[None]:
    """Smaller ensembles keep the suite quick (also inside session fixtures); the maths is the same."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(learner, "GBM_ITERATIONS", 40)
        patch.setattr(learner, "FOREST_TREES", 60)
        yield


def _pg_url() -> Iterator[str]:
    from tests.conftest import PG_URL, _pg_answers

    problem = _pg_answers()
    if problem is not None:
        import os

        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} does not answer under CI: {problem}")
        pytest.skip(f"PostgreSQL tests skipped: {problem}")
    schema = f"buyu_s_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def simulated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulated]:
    """A private database (SQLite file or PostgreSQL schema) filled by a 76-day exploration simulation."""
    urls: Iterator[str] = _pg_url() if request.param == "postgres" else iter(
        [f"sqlite:///{Path(tmp_path_factory.mktemp('sim')) / 'sim.db'}"])
    url = next(urls)
    upgrade(url)
    engine = make_engine(url)
    scenario = small_scenario()
    simulate(engine=engine, scenario=scenario, policy=ExplorePolicy(), days=DAYS)
    yield Simulated(engine=engine, scenario=scenario)
    engine.dispose()
    for _ in urls:  # runs the generator's clean-up
        pass
