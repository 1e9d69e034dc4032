"""API shapes of nightly plans (money in integer fen)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel


class PlanRunOut(BaseModel):
    """A night's plan: the optimizer's certificate and how much of the day's capacity it uses."""

    as_of: date
    work_date: date
    portfolio: str
    status: str
    reason: str | None
    objective: int
    bound: int
    gap: float
    seconds: float
    accounts: int
    assigned: int
    unplaced: int
    utilisation: dict[str, Any]
    strategy_version_id: int | None
    model_version_id: int | None
    treatments: dict[str, int]


class PlanItemOut(BaseModel):
    """What one account gets on the work date, its value and why its best alternative lost."""

    loan_id: int
    work_date: date
    arm: str
    segment: str
    treatment: str
    collector_id: int | None
    priority: int
    value_fen: int
    explanation: dict[str, Any]
    #: For calls and visits: the borrower-local start hours to try, best first.
    call_hours: list[int] | None = None
