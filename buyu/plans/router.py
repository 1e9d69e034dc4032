"""Plan HTTP routes (managers' console): thin adapters over buyu.plans.service."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from buyu.api.deps import get_session
from buyu.plans import service as svc
from buyu.plans.schemas import PlanItemOut, PlanRunOut

router = APIRouter(tags=["plans"])
Db = Annotated[Session, Depends(get_session)]
TREATMENT = "^(robot_call|sms|agent_call|field_visit|agency|legal|sale|no_action)$"


@router.get("/plans/{as_of}", response_model=PlanRunOut)
def get_plan(as_of: date, db: Db, portfolio: str = "default") -> PlanRunOut:
    """The plan made at night `as_of` (for the next day)."""
    return PlanRunOut.model_validate(svc.run_summary(svc.get_run(session=db, as_of=as_of, portfolio=portfolio)))


@router.get("/plans/{as_of}/items", response_model=list[PlanItemOut])
def get_plan_items(as_of: date, db: Db, portfolio: str = "default",
                   treatment: Annotated[str | None, Query(pattern=TREATMENT)] = None,
                   limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                   offset: Annotated[int, Query(ge=0)] = 0) -> list[PlanItemOut]:
    """The night's items by treatment and priority (the robot queue is `treatment=robot_call`)."""
    run = svc.get_run(session=db, as_of=as_of, portfolio=portfolio)
    items = svc.plan_items(session=db, run_id=run.id, treatment=treatment, limit=limit, offset=offset)
    return [PlanItemOut.model_validate(i, from_attributes=True) for i in items]
