"""Strategy versions and their lifecycle events (tables of migration 0004).

A version's document is immutable once written (its sha256 is of the canonical JSON; the database
refuses to change either). Status moves draft → approved → active → retired; the versions of a
portfolio that were ever active tile the calendar with [effective_from, effective_to), which is what
`active_strategy(as_of)` reads, so a later activation never changes the answer for an earlier date.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from buyu.db import Base

STATUSES = ("draft", "approved", "active", "retired")
ACTIONS = ("created", "approved", "activated", "retired")
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class StrategyVersion(Base):
    """One immutable version of a portfolio's strategy and where it is in its lifecycle."""

    __tablename__ = "strategy_versions"
    __table_args__ = (
        UniqueConstraint("portfolio", "name", "version", name="uq_strategy_version"),
        CheckConstraint("status IN ('draft','approved','active','retired')", name="ck_strategy_status"),
        CheckConstraint("version >= 1", name="ck_strategy_version"),
        CheckConstraint("status = 'draft' OR (approved_by IS NOT NULL AND approved_at IS NOT NULL)",
                        name="ck_strategy_approved"),
        CheckConstraint("approved_by IS NULL OR approved_by <> author", name="ck_strategy_four_eyes"),
        CheckConstraint("status NOT IN ('active','retired') "
                        "OR (effective_from IS NOT NULL AND activated_by IS NOT NULL)", name="ck_strategy_activated"),
        CheckConstraint("(status = 'retired') = (retired_at IS NOT NULL)", name="ck_strategy_retired"),
        CheckConstraint("(status = 'retired') = (effective_to IS NOT NULL)", name="ck_strategy_effective_to"),
        CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="ck_strategy_effective"),
        Index("uq_strategy_active_portfolio", "portfolio", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        Index("ix_strategy_portfolio_effective", "portfolio", "effective_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portfolio: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.current_timestamp())
    approved_by: Mapped[str | None] = mapped_column(String(60))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activated_by: Mapped[str | None] = mapped_column(String(60))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    effective_from: Mapped[date | None] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StrategyEvent(Base):
    """Who did what to a strategy version and when (append-only)."""

    __tablename__ = "strategy_events"
    __table_args__ = (
        CheckConstraint("action IN ('created','approved','activated','retired')", name="ck_strategy_event_action"),
        Index("ix_strategy_event_version", "strategy_version_id", "id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    strategy_version_id: Mapped[int] = mapped_column(ForeignKey("strategy_versions.id"))
    action: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(60))
    effective: Mapped[date | None] = mapped_column(Date)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.current_timestamp())
