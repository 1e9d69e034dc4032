"""People tables: teams and collectors (the optimizer's workers, keyed by the stable `collectors.id`)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    func,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from buyu.db import Base

COLLECTOR_KINDS = ("agent", "field", "supervisor")


class Team(Base):
    """A group of collectors under one supervisor, usually per region or bucket."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Collector(Base):
    """A person who works accounts: phone agent, field visitor or supervisor.

    `languages` and `skills` are JSON lists (language tags such as "zh-CN"; the buckets the
    collector may work, such as "M1"). A field collector has a region and a daily visit capacity.
    """

    __tablename__ = "collectors"
    __table_args__ = (
        CheckConstraint("kind IN ('agent','field','supervisor')", name="ck_collector_kind"),
        CheckConstraint("minutes_per_day BETWEEN 0 AND 1440", name="ck_collector_minutes"),
        CheckConstraint("visits_per_day BETWEEN 0 AND 100", name="ck_collector_visits"),
        CheckConstraint("kind <> 'field' OR region IS NOT NULL", name="ck_collector_field_region"),
        Index("ix_collectors_active_kind", "active", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    region: Mapped[str | None] = mapped_column(String(40))
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    minutes_per_day: Mapped[int] = mapped_column(SmallInteger, default=420)
    visits_per_day: Mapped[int] = mapped_column(SmallInteger, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    hired_on: Mapped[date] = mapped_column(Date)
    left_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
