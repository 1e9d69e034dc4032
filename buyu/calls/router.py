"""Voice robot HTTP routes (managers): the call list, one call's record, today's robot queue."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from buyu.api.deps import get_session
from buyu.calls import service as svc
from buyu.calls.schemas import CallOut, CallRecordOut, QueueItemOut

router = APIRouter(tags=["voice robot"])
Db = Annotated[Session, Depends(get_session)]


@router.get("/calls", response_model=list[CallOut])
def list_calls(session: Db, as_of: date | None = None, loan_id: int | None = None,
               status: Annotated[str | None, Query(pattern="^(blocked|dialing|in_progress|completed)$")] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               offset: Annotated[int, Query(ge=0)] = 0) -> list[CallOut]:
    """Robot calls, newest first (blocked ones included, with their rule)."""
    calls = svc.list_calls(session=session, as_of=as_of, loan_id=loan_id, status=status, limit=limit, offset=offset)
    return [CallOut(**svc.call_summary(c)) for c in calls]


@router.get("/calls/queue", response_model=list[QueueItemOut])
def robot_queue(as_of: date, session: Db,
                limit: Annotated[int | None, Query(ge=0, le=100_000)] = None) -> list[QueueItemOut]:
    """Today's robot call queue: the night's plan if it covers `as_of`, else delinquent loans by DPD."""
    return [QueueItemOut(**i.to_dict()) for i in svc.robot_queue(session=session, as_of=as_of, limit=limit)]


@router.get("/calls/{call_id}", response_model=CallRecordOut)
def call_record(call_id: int, session: Db) -> CallRecordOut:
    """One call: decision, timings, result, transcript and what it booked."""
    return CallRecordOut(**svc.call_record(session=session, call_id=call_id))
