"""API schemas of collections (Pydantic). Amounts travel as decimal strings, times as ISO 8601 with offset."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Channel = Literal["robot_call", "sms", "agent_call", "field_visit", "agency", "legal", "letter"]
Outcome = Literal[
    "no_answer", "busy", "voicemail", "wrong_party", "rpc", "ptp", "refused", "dispute", "callback",
    "transferred", "ceased", "sms_sent", "sms_failed", "visit_met", "visit_absent",
]
PointKind = Literal["self", "work", "spouse", "reference", "third_party"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactCheckIn(_In):
    """Ask the contact rules whether a contact may start at `at`; the decision is logged either way."""

    loan_id: int
    channel: Channel
    contact_point_id: int | None = None
    at: AwareDatetime
    as_of: date | None = None
    collector_id: int | None = None
    purpose: Literal["collect", "locate"] = "collect"
    profile: Literal["CN", "US"] = "CN"
    callback_id: int | None = None


class DecisionOut(BaseModel):
    """The rules' answer; `attempt_id` is the logged attempt (blocked, or in flight until its result)."""

    allowed: bool
    rule: str | None
    reason: str
    duties: list[str]
    attempt_id: int | None


class AttemptResultIn(_In):
    """The outcome of an allowed contact."""

    result: Outcome
    duration_seconds: int = Field(default=0, ge=0, le=86_400)
    transcript: str | None = None
    recording_ref: str | None = Field(default=None, max_length=200)
    details: dict[str, Any] | None = None


class AttemptOut(BaseModel):
    """One logged contact attempt."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    loan_id: int
    case_id: int | None
    contact_point_id: int | None
    callback_id: int | None
    channel: str
    purpose: str
    collector_id: int | None
    profile: str
    as_of: date
    started_at: datetime
    local_date: date
    local_hour: int
    result: str | None
    blocked_rule: str | None
    reason: str | None
    duration_seconds: int
    recording_ref: str | None


class PromiseIn(_In):
    """A promise to pay `amount` by `due_date`, made on `made_on`."""

    made_on: date
    due_date: date
    amount: Decimal
    attempt_id: int | None = None
    collector_id: int | None = None


class PromiseOut(BaseModel):
    """A promise and how it was judged."""

    id: int
    loan_id: int
    attempt_id: int | None
    collector_id: int | None
    made_on: date
    due_date: date
    amount: str
    status: str
    judged_on: date | None
    paid: str | None


class CeaseIn(_In):
    """The borrower asks us to stop contacting them (every channel unless `channels` narrows it)."""

    on: date
    channels: list[Channel] | None = None
    reason: str | None = Field(default=None, max_length=500)


class FlagsOut(BaseModel):
    """A borrower's contact flags."""

    model_config = ConfigDict(from_attributes=True)

    borrower_id: int
    cease_from: date | None
    cease_channels: list[str] | None
    artificial_voice_consent: bool
    quiet_hours_consent: bool
    dispute_open: bool
    dispute_opened_on: date | None


class ContactPointIn(_In):
    """A phone number for a borrower."""

    kind: PointKind
    phone: str = Field(min_length=3, max_length=32)
    contact_name: str | None = Field(default=None, max_length=120)


class ContactPointOut(BaseModel):
    """A stored contact point."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    borrower_id: int
    kind: str
    phone: str
    contact_name: str | None
    wrong_number: bool
    active: bool
