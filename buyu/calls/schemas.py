"""API schemas of the voice robot's calls (Pydantic). Times are ISO 8601 with offset, amounts decimal strings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class QueueItemOut(BaseModel):
    """One account in today's robot call queue, with the number to dial."""

    loan_id: int
    borrower_id: int
    contact_point_id: int
    phone: str
    dpd: int
    priority: int
    source: str
    locale: str
    timezone: str
    callback_id: int | None = None
    due_at: datetime | None = None


class CallOut(BaseModel):
    """A robot call: its contact-rule decision (blocked calls carry the rule), timings and result."""

    id: int
    loan_id: int
    borrower_id: int
    contact_point_id: int
    attempt_id: int
    retry_of: int | None
    try_no: int
    as_of: str
    profile: str
    locale: str
    status: str
    blocked_rule: str | None
    result: str | None
    provider_sid: str | None
    placed_at: str | None
    answered_at: str | None
    verified_at: str | None
    ended_at: str | None
    ring_seconds: int
    talk_seconds: int
    recording_ref: str | None


class CallRecordOut(CallOut):
    """A call with its contact attempt, transcript, bookings, payment links and human-queue entries."""

    attempt: dict[str, Any] | None
    turns: list[dict[str, Any]]
    bookings: list[dict[str, Any]]
    payment_links: list[dict[str, Any]]
    human_queue: list[dict[str, Any]]
