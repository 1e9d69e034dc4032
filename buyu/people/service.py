"""People services: teams and collectors. Keyword-only, never commit (the unit of work does)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from buyu.collections.service import record_audit
from buyu.errors import Conflict, InvalidInput, NotFound
from buyu.people.models import Collector, Team
from buyu.people.schemas import CollectorIn, CollectorUpdate, TeamIn


def create_team(*, session: Session, data: TeamIn) -> Team:
    """Register a team."""
    if session.scalar(select(Team.id).where(Team.code == data.code)) is not None:
        raise Conflict(f"team {data.code} already exists", code="team_exists", details={"code": data.code})
    team = Team(**data.model_dump())
    session.add(team)
    session.flush()
    record_audit(session=session, actor="system", action="team.created", entity="team", entity_id=team.id,
                 details=data.model_dump(mode="json"))
    return team


def list_teams(*, session: Session) -> Sequence[Team]:
    """All teams, by code."""
    return session.scalars(select(Team).order_by(Team.code)).all()


def get_team(*, session: Session, team_id: int) -> Team:
    """A team by id."""
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"no team {team_id}", code="team_not_found", details={"team_id": team_id})
    return team


def create_collector(*, session: Session, data: CollectorIn, actor: str = "system") -> Collector:
    """Register a collector; its integer id is the stable key plans and the optimizer use."""
    if session.scalar(select(Collector.id).where(Collector.code == data.code)) is not None:
        raise Conflict(f"collector {data.code} already exists", code="collector_exists", details={"code": data.code})
    if data.team_id is not None:
        get_team(session=session, team_id=data.team_id)
    _check(kind=data.kind, region=data.region, hired_on=data.hired_on, left_on=None)
    collector = Collector(**data.model_dump())
    session.add(collector)
    session.flush()
    record_audit(session=session, actor=actor, action="collector.created", entity="collector",
                 entity_id=collector.id, details=data.model_dump(mode="json"), as_of=data.hired_on)
    return collector


def get_collector(*, session: Session, collector_id: int) -> Collector:
    """A collector by id."""
    collector = session.get(Collector, collector_id)
    if collector is None:
        raise NotFound(f"no collector {collector_id}", code="collector_not_found",
                       details={"collector_id": collector_id})
    return collector


def list_collectors(*, session: Session, active: bool | None = True, team_id: int | None = None,
                    kind: str | None = None) -> Sequence[Collector]:
    """Collectors filtered by activity, team and kind, in id order (stable for the optimizer)."""
    stmt = select(Collector).order_by(Collector.id)
    if active is not None:
        stmt = stmt.where(Collector.active.is_(active))
    if team_id is not None:
        stmt = stmt.where(Collector.team_id == team_id)
    if kind is not None:
        stmt = stmt.where(Collector.kind == kind)
    return session.scalars(stmt).all()


def update_collector(*, session: Session, collector_id: int, data: CollectorUpdate,
                     actor: str = "system") -> Collector:
    """Change some fields of a collector; the whole record is re-checked before anything is written."""
    collector = get_collector(session=session, collector_id=collector_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("team_id") is not None:
        get_team(session=session, team_id=changes["team_id"])
    for name in ("name", "kind", "languages", "skills", "minutes_per_day", "visits_per_day", "active"):
        if name in changes and changes[name] is None:
            raise InvalidInput(f"{name} cannot be cleared", code="field_required", details={"field": name})
    merged = {k: changes.get(k, getattr(collector, k)) for k in ("kind", "region", "hired_on", "left_on")}
    _check(**merged)
    for name, value in changes.items():
        setattr(collector, name, value)
    session.flush()
    record_audit(session=session, actor=actor, action="collector.updated", entity="collector",
                 entity_id=collector.id, details=data.model_dump(mode="json", exclude_unset=True))
    return collector


def _check(*, kind: str, region: str | None, hired_on: date, left_on: date | None) -> None:
    """Cross-field rules the schema cannot see alone (the database CHECKs repeat the first)."""
    if kind == "field" and not region:
        raise InvalidInput("a field collector needs a region", code="region_required", details={"field": "region"})
    if left_on is not None and left_on < hired_on:
        raise InvalidInput("left_on is before hired_on", code="invalid_dates", details={"field": "left_on"})
