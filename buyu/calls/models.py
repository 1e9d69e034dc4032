"""Voice robot tables: calls, their transcript turns, what each call booked, the human queue, payment links.

A `voice_calls` row exists for every call the dialer asked for, including the ones the contact
rules refused (status 'blocked', with the rule), so the call list and the contact log
(`contact_attempts`, linked by `attempt_id`) tell the same story. Times are tz-aware UTC;
`as_of` is the business date of the call.
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
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from buyu.db import Base

BigId = BigInteger().with_variant(Integer, "sqlite")
Fen = BigInteger

#: Result codes of a call (voicebot.dialog.RESULT_CODES, repeated here so the core never imports the robot).
RESULT_CODES = ("no_answer", "busy", "voicemail", "wrong_party", "verification_failed", "rpc", "ptp", "paid_link",
                "refused", "dispute", "callback", "transferred", "ceased", "abuse", "silence", "hangup", "failed")
CALL_STATUSES = ("blocked", "dialing", "in_progress", "completed")
SPEAKERS = ("robot", "borrower", "system")
QUEUE_STATUSES = ("waiting", "taken", "done", "abandoned")
LINK_STATUSES = ("queued", "blocked", "sent", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class VoiceCall(Base):
    """One robot call: the contact-rule decision, the provider's call, timings, result and recording."""

    __tablename__ = "voice_calls"
    __table_args__ = (
        CheckConstraint(_in("status", CALL_STATUSES), name="ck_voice_call_status"),
        CheckConstraint("result IS NULL OR " + _in("result", RESULT_CODES), name="ck_voice_call_result"),
        CheckConstraint("(status = 'completed') = (result IS NOT NULL)", name="ck_voice_call_result_when_done"),
        CheckConstraint("(status = 'blocked') = (blocked_rule IS NOT NULL)", name="ck_voice_call_blocked_rule"),
        CheckConstraint("ring_seconds >= 0 AND talk_seconds >= 0", name="ck_voice_call_durations"),
        CheckConstraint("ended_at IS NULL OR ended_at >= placed_at", name="ck_voice_call_ended"),
        CheckConstraint("answered_at IS NULL OR answered_at >= placed_at", name="ck_voice_call_answered"),
        CheckConstraint("try_no >= 1", name="ck_voice_call_try"),
        UniqueConstraint("provider_sid", name="uq_voice_call_sid"),
        Index("ix_voice_call_as_of", "as_of", "status"),
        Index("ix_voice_call_loan", "loan_id", "placed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    contact_point_id: Mapped[int] = mapped_column(ForeignKey("contact_points.id"))
    attempt_id: Mapped[int] = mapped_column(BigId, ForeignKey("contact_attempts.id"))
    retry_of: Mapped[int | None] = mapped_column(BigId, ForeignKey("voice_calls.id"))
    try_no: Mapped[int] = mapped_column(SmallInteger, default=1)
    as_of: Mapped[date] = mapped_column(Date)
    profile: Mapped[str] = mapped_column(String(8))
    locale: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))
    blocked_rule: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[str | None] = mapped_column(String(20))
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ring_seconds: Mapped[int] = mapped_column(Integer, default=0)
    talk_seconds: Mapped[int] = mapped_column(Integer, default=0)
    recording_ref: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class VoiceTurn(Base):
    """One turn of a call's transcript: who spoke, what, the intent heard and how sure, when."""

    __tablename__ = "voice_turns"
    __table_args__ = (
        CheckConstraint(_in("speaker", SPEAKERS), name="ck_voice_turn_speaker"),
        CheckConstraint("confidence IS NULL OR (confidence >= 0 AND confidence <= 1)", name="ck_voice_turn_conf"),
        UniqueConstraint("call_id", "seq", name="uq_voice_turn_seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    call_id: Mapped[int] = mapped_column(BigId, ForeignKey("voice_calls.id"))
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(20))
    confidence: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VoiceBooking(Base):
    """What a call's dialog decided and what it became (a promise, a callback task, a queue entry …)."""

    __tablename__ = "voice_bookings"
    __table_args__ = (Index("ix_voice_booking_call", "call_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    call_id: Mapped[int] = mapped_column(BigId, ForeignKey("voice_calls.id"))
    kind: Mapped[str] = mapped_column(String(24))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    promise_id: Mapped[int | None] = mapped_column(ForeignKey("promises.id"))
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callback_tasks.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HumanQueueEntry(Base):
    """A borrower the robot handed to a person (asked for an agent): waiting until a collector takes it."""

    __tablename__ = "human_queue"
    __table_args__ = (
        CheckConstraint(_in("status", QUEUE_STATUSES), name="ck_human_queue_status"),
        CheckConstraint("(status = 'waiting') = (taken_at IS NULL)", name="ck_human_queue_taken"),
        Index("ix_human_queue_status", "status", "queued_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    call_id: Mapped[int] = mapped_column(BigId, ForeignKey("voice_calls.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"))
    reason: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="waiting")
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"))
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PaymentLink(Base):
    """A payment link the borrower asked for during a call, to go out by SMS (itself a checked contact)."""

    __tablename__ = "payment_links"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="ck_payment_link_amount"),
        CheckConstraint(_in("status", LINK_STATUSES), name="ck_payment_link_status"),
        UniqueConstraint("token", name="uq_payment_link_token"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    call_id: Mapped[int] = mapped_column(BigId, ForeignKey("voice_calls.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    contact_point_id: Mapped[int] = mapped_column(ForeignKey("contact_points.id"))
    sms_attempt_id: Mapped[int] = mapped_column(BigId, ForeignKey("contact_attempts.id"))
    amount_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(String(3))
    token: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
