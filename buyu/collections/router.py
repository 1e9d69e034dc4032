"""Collections and people HTTP routes: thin adapters over buyu.collections.service and buyu.people.service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.orm import Session

from buyu.api.deps import get_session
from buyu.collections import service as svc
from buyu.collections.models import Promise
from buyu.collections.schemas import (
    AttemptOut,
    AttemptResultIn,
    CeaseIn,
    ContactCheckIn,
    ContactPointIn,
    ContactPointOut,
    DecisionOut,
    FlagsOut,
    PromiseIn,
    PromiseOut,
)
from buyu.ledger.models import Loan
from buyu.money import fmt, positive_minor
from buyu.people import service as people
from buyu.people.schemas import CollectorIn, CollectorOut, CollectorUpdate, TeamIn, TeamOut

router = APIRouter(tags=["collections"])
Db = Annotated[Session, Depends(get_session)]


def _promise_out(p: Promise, currency: str) -> PromiseOut:
    return PromiseOut(id=p.id, loan_id=p.loan_id, attempt_id=p.attempt_id, collector_id=p.collector_id,
                      made_on=p.made_on, due_date=p.due_date, amount=fmt(p.amount_fen, currency=currency),
                      status=p.status, judged_on=p.judged_on,
                      paid=None if p.paid_fen is None else fmt(p.paid_fen, currency=currency))


@router.get("/teams", response_model=list[TeamOut], tags=["people"])
def list_teams(session: Db) -> list[TeamOut]:
    """All teams."""
    return [TeamOut.model_validate(t) for t in people.list_teams(session=session)]


@router.post("/teams", status_code=status.HTTP_201_CREATED, response_model=TeamOut, tags=["people"])
def create_team(data: TeamIn, session: Db) -> TeamOut:
    """Register a team."""
    return TeamOut.model_validate(people.create_team(session=session, data=data))


@router.get("/collectors", response_model=list[CollectorOut], tags=["people"])
def list_collectors(session: Db, active: bool | None = True, team_id: int | None = None,
                    kind: Annotated[str | None, Query(pattern="^(agent|field|supervisor)$")] = None,
                    ) -> list[CollectorOut]:
    """Collectors (active ones by default), in stable id order."""
    rows = people.list_collectors(session=session, active=active, team_id=team_id, kind=kind)
    return [CollectorOut.model_validate(c) for c in rows]


@router.post("/collectors", status_code=status.HTTP_201_CREATED, response_model=CollectorOut, tags=["people"])
def create_collector(data: CollectorIn, session: Db) -> CollectorOut:
    """Register a collector."""
    return CollectorOut.model_validate(people.create_collector(session=session, data=data))


@router.patch("/collectors/{collector_id}", response_model=CollectorOut, tags=["people"])
def update_collector(collector_id: int, data: CollectorUpdate, session: Db) -> CollectorOut:
    """Change some fields of a collector."""
    return CollectorOut.model_validate(people.update_collector(session=session, collector_id=collector_id, data=data))


@router.post("/contact-decisions", status_code=status.HTTP_201_CREATED, response_model=DecisionOut)
def check_contact(data: ContactCheckIn, session: Db) -> DecisionOut:
    """Ask the contact rules about one contact; allowed or blocked, the decision is logged as an attempt."""
    decision = svc.request_contact(
        session=session, loan_id=data.loan_id, channel=data.channel, contact_point_id=data.contact_point_id,
        at=data.at, collector_id=data.collector_id, profile=data.profile, purpose=data.purpose, as_of=data.as_of,
        callback_id=data.callback_id)
    return DecisionOut(allowed=decision.allowed, rule=decision.rule, reason=decision.reason,
                       duties=list(decision.duties), attempt_id=decision.attempt_id)


@router.post("/contact-attempts/{attempt_id}/result", response_model=AttemptOut)
def record_result(attempt_id: int, data: AttemptResultIn, session: Db) -> AttemptOut:
    """Record the outcome of an allowed contact."""
    attempt = svc.record_attempt(session=session, attempt_id=attempt_id, result=data.result,
                                 duration_seconds=data.duration_seconds, transcript=data.transcript,
                                 recording_ref=data.recording_ref, details=data.details)
    return AttemptOut.model_validate(attempt)


@router.get("/loans/{loan_id}/contacts", response_model=list[AttemptOut])
def contact_history(loan_id: int, session: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                    ) -> list[AttemptOut]:
    """A loan's contact log, newest first, blocked requests included."""
    return [AttemptOut.model_validate(a) for a in svc.contact_history(session=session, loan_id=loan_id, limit=limit)]


@router.get("/loans/{loan_id}/promises", response_model=list[PromiseOut])
def list_promises(loan_id: int, session: Db) -> list[PromiseOut]:
    """A loan's promises to pay, newest first."""
    rows = svc.list_promises(session=session, loan_id=loan_id)
    currency = svc.get_loan(session=session, loan_id=loan_id).currency
    return [_promise_out(p, currency) for p in rows]


@router.post("/loans/{loan_id}/promises", status_code=status.HTTP_201_CREATED, response_model=PromiseOut)
def record_promise(loan_id: int, data: PromiseIn, session: Db) -> PromiseOut:
    """Record a promise to pay (it replaces the loan's open promise)."""
    loan: Loan = svc.get_loan(session=session, loan_id=loan_id)
    amount = positive_minor(data.amount, field="amount", currency=loan.currency)
    promise = svc.record_ptp(session=session, loan_id=loan_id, made_on=data.made_on, due_date=data.due_date,
                             amount_fen=amount, attempt_id=data.attempt_id, collector_id=data.collector_id)
    return _promise_out(promise, loan.currency)


@router.get("/borrowers/{borrower_id}/contact-points", response_model=list[ContactPointOut])
def list_contact_points(borrower_id: int, session: Db) -> list[ContactPointOut]:
    """A borrower's phone numbers and whose they are."""
    svc.get_borrower(session=session, borrower_id=borrower_id)
    return [ContactPointOut.model_validate(p) for p in svc.list_contact_points(session=session,
                                                                              borrower_id=borrower_id)]


@router.post("/borrowers/{borrower_id}/contact-points", status_code=status.HTTP_201_CREATED,
             response_model=ContactPointOut)
def add_contact_point(borrower_id: int, data: ContactPointIn, session: Db) -> ContactPointOut:
    """Register a phone number for a borrower."""
    point = svc.add_contact_point(session=session, borrower_id=borrower_id, kind=data.kind, phone=data.phone,
                                  contact_name=data.contact_name)
    return ContactPointOut.model_validate(point)


@router.post("/borrowers/{borrower_id}/cease", response_model=FlagsOut)
def cease_contact(borrower_id: int, data: CeaseIn, session: Db) -> FlagsOut:
    """The borrower asks us to stop contacting them; honoured on every channel in scope from `on`."""
    flags = svc.set_cease_contact(session=session, borrower_id=borrower_id, on=data.on, channels=data.channels,
                                  reason=data.reason, actor="api")
    return FlagsOut.model_validate(flags)
