"""Nightly plans: one `plan_runs` row per night and portfolio, one `plan_items` row per account scored.

A plan is made at night `as_of` for the next business day (`work_date`). It records the strategy
version and the model version it used, the optimizer's certificate (status, objective, bound,
gap, seconds) and, per account, the treatment and collector chosen, its expected net value and
the explanation (best alternative and why it lost). Plans are never edited: the night's unit of
work writes the run and its items together or not at all.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from buyu.db import Base

BigId = BigInteger().with_variant(Integer, "sqlite")


class PlanRun(Base):
    """The plan of one night for one portfolio, with the optimizer's certificate."""

    __tablename__ = "plan_runs"
    __table_args__ = (UniqueConstraint("as_of", "portfolio", name="uq_plan_runs_night"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    work_date: Mapped[date] = mapped_column(Date)
    portfolio: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))  # done | skipped
    reason: Mapped[str | None] = mapped_column(String(200))
    strategy_version_id: Mapped[int | None] = mapped_column(Integer)
    strategy_sha256: Mapped[str | None] = mapped_column(String(64))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    score_run_id: Mapped[int | None] = mapped_column(ForeignKey("score_runs.id"))
    solver_status: Mapped[str | None] = mapped_column(String(12))
    objective_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    value_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    bound_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    gap: Mapped[float] = mapped_column(Float, default=0.0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    accounts: Mapped[int] = mapped_column(Integer, default=0)
    assigned: Mapped[int] = mapped_column(Integer, default=0)
    unplaced: Mapped[int] = mapped_column(Integer, default=0)
    utilisation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PlanItem(Base):
    """What one account gets on the work date, and why."""

    __tablename__ = "plan_items"
    __table_args__ = (
        UniqueConstraint("run_id", "loan_id", name="uq_plan_items_loan"),
        Index("ix_plan_items_work", "work_date", "treatment", "priority"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("plan_runs.id"))
    work_date: Mapped[date] = mapped_column(Date)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    arm: Mapped[str] = mapped_column(String(40))
    segment: Mapped[str] = mapped_column(String(60))
    treatment: Mapped[str] = mapped_column(String(16))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"))
    priority: Mapped[int] = mapped_column(Integer)
    value_fen: Mapped[int] = mapped_column(BigInteger)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Borrower-local start hours for a call or visit, best first (buyu.scoring.contact_hours); None otherwise.
    call_hours: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
