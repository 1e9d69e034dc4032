"""API shapes of the strategy routes (Pydantic); ORM models live in strategies/models.py."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StrategyTextIn(_In):
    """A strategy document as YAML or JSON text."""

    text: str = Field(min_length=1, max_length=1_000_000, description="the strategy file's YAML or JSON text")


class StrategyCreateIn(StrategyTextIn):
    """A new draft and who wrote it."""

    author: str = Field(min_length=1, max_length=60)


class ApproveIn(_In):
    """Who approves (must not be the author)."""

    by: str = Field(min_length=1, max_length=60)


class ActivateIn(_In):
    """Who activates and from which business date."""

    by: str = Field(min_length=1, max_length=60)
    effective: date


class EventOut(BaseModel):
    """One lifecycle event."""

    model_config = ConfigDict(from_attributes=True)

    action: str
    actor: str
    effective: date | None
    details: dict[str, Any] | None
    at: datetime


class StrategyVersionOut(BaseModel):
    """A strategy version and where it is in its lifecycle."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    portfolio: str
    name: str
    version: int
    status: str
    sha256: str
    author: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    activated_by: str | None
    activated_at: datetime | None
    effective_from: date | None
    effective_to: date | None
    retired_at: datetime | None


class StrategyDetailOut(StrategyVersionOut):
    """A version with its canonical document and its events."""

    document: dict[str, Any]
    events: list[EventOut]


class ArmOut(BaseModel):
    """An arm of the champion/challenger split."""

    name: str
    share: str
    segments: list[str]


class ValidationOut(BaseModel):
    """What a valid document contains (an invalid one is a 422 invalid_strategy error)."""

    valid: bool
    portfolio: str
    name: str
    contact_profile: str
    sha256: str
    arms: list[ArmOut]
    document: dict[str, Any]
