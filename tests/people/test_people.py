"""Teams and collectors: creation, stable ids, filters, partial updates, and refusals that write nothing."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from buyu.collections.models import AuditEntry
from buyu.errors import Conflict, InvalidInput, NotFound
from buyu.people import service as people
from buyu.people.models import Collector
from buyu.people.schemas import CollectorIn, CollectorUpdate, TeamIn

_n = itertools.count(1)
HIRED = date(2025, 6, 1)


def code(prefix: str = "P") -> str:
    return f"{prefix}{next(_n)}-{id(_n) % 1000}"


def rows(session: Session) -> tuple[int, int]:
    session.flush()
    return (session.scalar(select(func.count()).select_from(Collector)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_collectors_with_teams_skills_languages_and_capacity(session: Session) -> None:
    """A team with a phone agent and a field collector: fields round-trip, skills are normalised in bucket order,
    ids are stable and filters by team, kind and activity work; each creation is audited."""
    team = people.create_team(session=session, data=TeamIn(code=code("T"), name="华东一组", region="Shanghai"))
    agent = people.create_collector(session=session, data=CollectorIn(
        code=code(), name="张三", team_id=team.id, kind="agent", languages=["zh-CN", "yue", "zh-CN"],
        skills=["M3", "M1", "M1"], minutes_per_day=400, hired_on=HIRED))
    field = people.create_collector(session=session, data=CollectorIn(
        code=code(), name="李四", team_id=team.id, kind="field", region="Pudong", skills=["M4+"], visits_per_day=8,
        hired_on=HIRED))
    assert agent.skills == ["M1", "M3"] and agent.languages == ["zh-CN", "yue"]
    assert (field.region, field.visits_per_day) == ("Pudong", 8)
    in_team = people.list_collectors(session=session, team_id=team.id)
    assert [c.id for c in in_team] == sorted([agent.id, field.id])
    assert [c.id for c in people.list_collectors(session=session, team_id=team.id, kind="field")] == [field.id]
    assert people.get_collector(session=session, collector_id=agent.id) is agent
    audited = session.scalars(select(AuditEntry.entity_id).where(AuditEntry.action == "collector.created")).all()
    assert {agent.id, field.id} <= set(audited)


def test_update_changes_only_what_is_sent(session: Session) -> None:
    """A partial update touches the sent fields; deactivating hides the collector from the default (active) list."""
    c = people.create_collector(session=session, data=CollectorIn(code=code(), name="王五", hired_on=HIRED))
    people.update_collector(session=session, collector_id=c.id,
                            data=CollectorUpdate(skills=["M2"], minutes_per_day=300))
    assert (c.skills, c.minutes_per_day, c.name) == (["M2"], 300, "王五")
    people.update_collector(session=session, collector_id=c.id,
                            data=CollectorUpdate(active=False, left_on=date(2026, 3, 1)))
    assert c.id not in [x.id for x in people.list_collectors(session=session)]
    assert c.id in [x.id for x in people.list_collectors(session=session, active=None)]


def test_refusals_write_nothing(session: Session) -> None:
    """Duplicate code (Conflict), a field collector without region, leaving before hiring, clearing a required
    field and an unknown team (InvalidInput / NotFound): nothing is written or changed."""
    c = people.create_collector(session=session, data=CollectorIn(code=code(), name="赵六", hired_on=HIRED))
    before = rows(session)
    with pytest.raises(Conflict):
        people.create_collector(session=session, data=CollectorIn(code=c.code, name="x", hired_on=HIRED))
    with pytest.raises(InvalidInput) as err:
        people.create_collector(session=session, data=CollectorIn(code=code(), name="x", kind="field", hired_on=HIRED))
    assert err.value.code == "region_required"
    with pytest.raises(NotFound):
        people.create_collector(session=session, data=CollectorIn(code=code(), name="x", team_id=10**9,
                                                                  hired_on=HIRED))
    with pytest.raises(InvalidInput):
        people.update_collector(session=session, collector_id=c.id, data=CollectorUpdate(kind="field"))
    with pytest.raises(InvalidInput):
        people.update_collector(session=session, collector_id=c.id, data=CollectorUpdate(left_on=date(2020, 1, 1)))
    with pytest.raises(InvalidInput):
        people.update_collector(session=session, collector_id=c.id, data=CollectorUpdate(name=None))
    assert rows(session) == before
    session.refresh(c)
    assert (c.kind, c.left_on, c.name) == ("agent", None, "赵六")


def test_schema_rejects_unknown_buckets_and_languages() -> None:
    """Skills must be buckets (M0…M4+), languages tags like zh-CN; extra fields are refused."""
    with pytest.raises(ValidationError):
        CollectorIn(code="X", name="x", skills=["M9"], hired_on=HIRED)
    with pytest.raises(ValidationError):
        CollectorIn(code="X", name="x", languages=["Chinese!"], hired_on=HIRED)
    with pytest.raises(ValidationError):
        CollectorIn(code="X", name="x", hired_on=HIRED, salary=1)  # type: ignore[call-arg]
