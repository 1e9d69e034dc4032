"""Model-governance tables: registered model versions, scoring runs and their logs, monitor alarms.

Every trained model is a row of `model_versions`: name and version, the training window and a hash
of the training data, features, parameters, metrics, reference distributions for stability
monitoring, a markdown model card and the artifact itself (bytes with their SHA-256, verified
before loading). Every scoring run is a `score_runs` row with its monitors; `score_logs` keeps the
inputs and outputs of a sample of the accounts scored (all of them for a single-account lookup);
`model_alarms` records each monitor that tripped. Business dates are explicit columns; `created_at`
is a record stamp only.
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
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from buyu.db import Base

BigId = BigInteger().with_variant(Integer, "sqlite")
MODEL_NAMES = ("propensity", "collector_fit", "valuation", "rollrate")


class ModelVersion(Base):
    """One trained, registered model: what it learned from, how good it was, and the artifact."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_model_version"),
        CheckConstraint("status IN ('active','retired')", name="ck_model_status"),
        CheckConstraint("version >= 1", name="ck_model_version"),
        CheckConstraint("window_start <= window_end AND window_end <= as_of", name="ck_model_window"),
        CheckConstraint("rows >= 0", name="ck_model_rows"),
        Index("ix_model_name_status", "name", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="active")
    as_of: Mapped[date] = mapped_column(Date)
    window_start: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date] = mapped_column(Date)
    rows: Mapped[int] = mapped_column(Integer)
    data_hash: Mapped[str] = mapped_column(String(64))
    features: Mapped[list[str]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    card: Mapped[str] = mapped_column(Text)
    artifact: Mapped[bytes] = mapped_column(LargeBinary)
    artifact_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ScoreRun(Base):
    """One scoring run of a model version on an as-of date: how many scored, how many logged, the monitors."""

    __tablename__ = "score_runs"
    __table_args__ = (
        CheckConstraint("kind IN ('batch','single')", name="ck_run_kind"),
        CheckConstraint("accounts >= 0 AND logged >= 0 AND logged <= accounts", name="ck_run_counts"),
        CheckConstraint("sample_ppm BETWEEN 0 AND 1000000", name="ck_run_sample"),
        Index("ix_run_model_as_of", "model_version_id", "as_of"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    as_of: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8))
    accounts: Mapped[int] = mapped_column(Integer)
    logged: Mapped[int] = mapped_column(Integer)
    #: Share of accounts whose inputs and outputs were logged, in millionths (1,000,000 = all).
    sample_ppm: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    monitors: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ScoreLog(Base):
    """Inputs and outputs of one account in one scoring run (money in outputs as integer fen)."""

    __tablename__ = "score_logs"
    __table_args__ = (
        UniqueConstraint("run_id", "loan_id", name="uq_score_log"),
        Index("ix_score_log_loan", "loan_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("score_runs.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON)


class ModelAlarm(Base):
    """A monitor that tripped: which model, which check, the value against its threshold."""

    __tablename__ = "model_alarms"
    __table_args__ = (
        CheckConstraint("severity IN ('warning','critical')", name="ck_alarm_severity"),
        CheckConstraint(
            "monitor IN ('input_psi','score_psi','auc','calibration','age')", name="ck_alarm_monitor"),
        Index("ix_alarm_model_as_of", "model_version_id", "as_of"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("score_runs.id"))
    as_of: Mapped[date] = mapped_column(Date)
    monitor: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(80))
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(10))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
