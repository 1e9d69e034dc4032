"""Collections tables: cases, contact points, contact flags, attempts, promises, callbacks, audit log.

Times are tz-aware and stored in UTC (`started_at`, `due_at`); the borrower-local date and hour of
each attempt are stored next to them so the contact-rule counts are plain GROUP BYs on both
databases. Business dates (`as_of`, `opened_on`, `made_on` …) are always explicit parameters.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from buyu.db import Base

Fen = BigInteger
BigId = BigInteger().with_variant(Integer, "sqlite")

CHANNELS = ("robot_call", "sms", "agent_call", "field_visit", "agency", "legal", "letter")
RESULTS = (
    "no_answer", "busy", "voicemail", "wrong_party", "rpc", "ptp", "refused", "dispute", "callback",
    "transferred", "ceased", "sms_sent", "sms_failed", "visit_met", "visit_absent", "blocked",
)
POINT_KINDS = ("self", "work", "spouse", "reference", "third_party")
PROMISE_STATUSES = ("open", "kept", "broken", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CollectionCase(Base):
    """One delinquent episode of a loan: opened the night DPD turns positive, closed on cure/close/settle.

    At most one open case per loan (partial unique index). `collector_id` is the current holder,
    kept across days for continuity; `paused_until`/`hold_reason` stop contacts (disputes, hardship).
    """

    __tablename__ = "collection_cases"
    __table_args__ = (
        CheckConstraint("status IN ('open','closed')", name="ck_case_status"),
        CheckConstraint(
            "(status = 'open' AND closed_on IS NULL AND close_reason IS NULL)"
            " OR (status = 'closed' AND closed_on IS NOT NULL AND close_reason IS NOT NULL)",
            name="ck_case_closed",
        ),
        CheckConstraint("closed_on IS NULL OR closed_on >= opened_on", name="ck_case_dates"),
        CheckConstraint("close_reason IS NULL OR close_reason IN ('cured','closed','settled')",
                        name="ck_case_close_reason"),
        CheckConstraint("dpd_at_open > 0", name="ck_case_dpd"),
        Index("uq_case_open_loan", "loan_id", unique=True, postgresql_where=text("status = 'open'"),
              sqlite_where=text("status = 'open'")),
        Index("ix_case_status_collector", "status", "collector_id"),
        Index("ix_case_loan_opened", "loan_id", "opened_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    status: Mapped[str] = mapped_column(String(8), default="open")
    opened_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(10))
    bucket_at_open: Mapped[str] = mapped_column(String(4))
    dpd_at_open: Mapped[int] = mapped_column(Integer)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"))
    assigned_on: Mapped[date | None] = mapped_column(Date)
    paused_until: Mapped[date | None] = mapped_column(Date)
    hold_reason: Mapped[str | None] = mapped_column(String(40))


class ContactPoint(Base):
    """A phone number we may dial for a borrower, and whose it is.

    `kind`: self (the borrower's own), work (the borrower's workplace line), spouse, reference
    (given at application) or third_party (anyone else, found by tracing). The contact rules
    decide what each kind may be used for (see buyu.collections.policy).
    """

    __tablename__ = "contact_points"
    __table_args__ = (
        CheckConstraint(_in("kind", POINT_KINDS), name="ck_point_kind"),
        CheckConstraint("NOT wrong_number OR wrong_number_on IS NOT NULL", name="ck_point_wrong_on"),
        UniqueConstraint("borrower_id", "phone", name="uq_point_phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    kind: Mapped[str] = mapped_column(String(12))
    phone: Mapped[str] = mapped_column(String(32))
    contact_name: Mapped[str | None] = mapped_column(String(120))
    wrong_number: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    wrong_number_on: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ContactFlags(Base):
    """A borrower's contact preferences and legal flags (one row per borrower, created on first need).

    `cease_channels` is a JSON list of channels, or NULL for every channel.
    """

    __tablename__ = "contact_flags"
    __table_args__ = (
        CheckConstraint("cease_from IS NOT NULL OR cease_channels IS NULL", name="ck_flags_cease"),
        CheckConstraint("NOT dispute_open OR dispute_opened_on IS NOT NULL", name="ck_flags_dispute"),
    )

    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), primary_key=True)
    cease_from: Mapped[date | None] = mapped_column(Date)
    cease_channels: Mapped[list[str] | None] = mapped_column(JSON)
    cease_reason: Mapped[str | None] = mapped_column(Text)
    artificial_voice_consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    artificial_voice_consent_on: Mapped[date | None] = mapped_column(Date)
    quiet_hours_consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    dispute_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    dispute_opened_on: Mapped[date | None] = mapped_column(Date)
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    preferred_channel: Mapped[str | None] = mapped_column(String(12))
    preferred_language: Mapped[str | None] = mapped_column(String(10))


class ContactAttempt(Base):
    """One contact the rules were asked about: blocked, in flight (result NULL) or with its outcome.

    Every request is a row, so the contact log is complete: a blocked request has result
    'blocked' and the rule that blocked it; an allowed one has result NULL until its outcome is
    recorded, and counts as an attempt meanwhile (so the caps cannot be overrun by parallel
    requests).
    """

    __tablename__ = "contact_attempts"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="ck_attempt_channel"),
        CheckConstraint("result IS NULL OR " + _in("result", RESULTS), name="ck_attempt_result"),
        CheckConstraint(
            "(result = 'blocked' AND blocked_rule IS NOT NULL)"
            " OR ((result IS NULL OR result <> 'blocked') AND blocked_rule IS NULL)",
            name="ck_attempt_blocked_rule",
        ),
        CheckConstraint("purpose IN ('collect','locate')", name="ck_attempt_purpose"),
        CheckConstraint("local_hour BETWEEN 0 AND 23", name="ck_attempt_local_hour"),
        CheckConstraint("duration_seconds >= 0", name="ck_attempt_duration"),
        CheckConstraint("channel <> 'robot_call' OR collector_id IS NULL", name="ck_attempt_robot"),
        Index("ix_attempt_point_day", "contact_point_id", "local_date"),
        Index("ix_attempt_loan_day", "loan_id", "local_date"),
        Index("ix_attempt_borrower_day", "borrower_id", "local_date"),
        Index("ix_attempt_collector_day", "collector_id", "as_of"),
        Index("ix_attempt_as_of", "as_of"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("collection_cases.id"))
    contact_point_id: Mapped[int | None] = mapped_column(ForeignKey("contact_points.id"))
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callback_tasks.id"))
    channel: Mapped[str] = mapped_column(String(12))
    purpose: Mapped[str] = mapped_column(String(8), default="collect")
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"))
    profile: Mapped[str] = mapped_column(String(8))
    as_of: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    local_date: Mapped[date] = mapped_column(Date)
    local_hour: Mapped[int] = mapped_column(SmallInteger)
    result: Mapped[str | None] = mapped_column(String(14))
    blocked_rule: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[int] = mapped_column(Integer, default=0)
    transcript: Mapped[str | None] = mapped_column(Text)
    recording_ref: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Promise(Base):
    """A promise to pay (PTP): judged kept or broken against the ledger's payments after its due date."""

    __tablename__ = "promises"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="ck_promise_amount"),
        CheckConstraint("due_date >= made_on", name="ck_promise_dates"),
        CheckConstraint(_in("status", PROMISE_STATUSES), name="ck_promise_status"),
        CheckConstraint(
            "(status = 'open' AND judged_on IS NULL) OR (status <> 'open' AND judged_on IS NOT NULL)",
            name="ck_promise_judged",
        ),
        CheckConstraint("paid_fen IS NULL OR paid_fen >= 0", name="ck_promise_paid"),
        Index("ix_promise_status_due", "status", "due_date"),
        Index("ix_promise_loan_made", "loan_id", "made_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("collection_cases.id"))
    attempt_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contact_attempts.id"))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"))
    made_on: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(Fen)
    status: Mapped[str] = mapped_column(String(10), default="open")
    judged_on: Mapped[date | None] = mapped_column(Date)
    paid_fen: Mapped[int | None] = mapped_column(Fen)


class CallbackTask(Base):
    """A contact the borrower asked for (or a collector planned) at a given time."""

    __tablename__ = "callback_tasks"
    __table_args__ = (
        CheckConstraint("status IN ('open','done','cancelled')", name="ck_callback_status"),
        Index("ix_callback_collector_due", "collector_id", "status", "due_at"),
        Index("ix_callback_loan", "loan_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    contact_point_id: Mapped[int | None] = mapped_column(ForeignKey("contact_points.id"))
    # The attempt during which it was agreed; no foreign key, because attempts reference their callback.
    attempt_id: Mapped[int | None] = mapped_column(BigId)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"))
    created_on: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), default="open")
    note: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Append-only audit log (the database refuses UPDATE and DELETE, as for the journal)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    as_of: Mapped[date | None] = mapped_column(Date)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # When the row was written (the database's clock): a record stamp, never a business time.
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
