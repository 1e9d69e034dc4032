"""Strategy HTTP routes for managers: thin adapters over strategies.service."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, status
from sqlalchemy.orm import Session

from buyu.api.deps import get_session
from strategies import service as svc
from strategies.models import StrategyVersion
from strategies.schema import CHAMPION, Strategy, load_strategy_text, strategy_to_document
from strategies.schemas import (
    ActivateIn,
    ApproveIn,
    ArmOut,
    EventOut,
    StrategyCreateIn,
    StrategyDetailOut,
    StrategyTextIn,
    StrategyVersionOut,
    ValidationOut,
)

router = APIRouter(prefix="/strategies", tags=["strategies"])
Db = Annotated[Session, Depends(get_session)]


def validation_out(strategy: Strategy) -> ValidationOut:
    """The summary of a valid strategy (shared with `buyu strategy validate --json`)."""
    champion_share = Decimal(1) - sum((c.share for c in strategy.challengers), Decimal(0))
    arms = [ArmOut(name=CHAMPION, share=str(champion_share), segments=[s.name for s in strategy.segments])]
    arms += [ArmOut(name=c.name, share=str(c.share), segments=[s.name for s in (c.segments or strategy.segments)])
             for c in strategy.challengers]
    return ValidationOut(valid=True, portfolio=strategy.portfolio, name=strategy.name,
                         contact_profile=strategy.contact_profile, sha256=svc.sha256_of(strategy), arms=arms,
                         document=strategy_to_document(strategy))


def detail_out(session: Session, row: StrategyVersion) -> StrategyDetailOut:
    """A version with its document and events."""
    events = [EventOut.model_validate(e) for e in svc.events_of(session=session, version_id=row.id)]
    return StrategyDetailOut.model_validate({**StrategyVersionOut.model_validate(row).model_dump(),
                                             "document": row.document, "events": events})


@router.post("/validate", response_model=ValidationOut)
def validate(data: StrategyTextIn) -> ValidationOut:
    """Check a strategy document without storing it (422 invalid_strategy names the field)."""
    return validation_out(load_strategy_text(data.text))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StrategyDetailOut)
def create(data: StrategyCreateIn, session: Db) -> StrategyDetailOut:
    """Store a document as the next draft version of its portfolio and name."""
    return detail_out(session, svc.create_draft(session=session, text=data.text, author=data.author))


@router.get("", response_model=list[StrategyVersionOut])
def list_versions(session: Db, portfolio: str | None = None) -> list[StrategyVersionOut]:
    """Versions, newest first (optionally of one portfolio)."""
    return [StrategyVersionOut.model_validate(r) for r in svc.list_versions(session=session, portfolio=portfolio)]


@router.get("/active", response_model=StrategyDetailOut)
def active(session: Db, portfolio: str, as_of: date) -> StrategyDetailOut:
    """The version in force for a portfolio on a business date (404 no_active_strategy when none)."""
    return detail_out(session, svc.active_version(session=session, portfolio=portfolio, as_of=as_of))


@router.get("/{version_id}", response_model=StrategyDetailOut)
def show(version_id: int, session: Db) -> StrategyDetailOut:
    """One version with its document and events."""
    return detail_out(session, svc.get_version(session=session, version_id=version_id))


@router.post("/{version_id}/approve", response_model=StrategyDetailOut)
def approve(version_id: int, data: ApproveIn, session: Db) -> StrategyDetailOut:
    """Approve a draft (409 four_eyes when the approver wrote it)."""
    return detail_out(session, svc.approve(session=session, version_id=version_id, approver=data.by))


@router.post("/{version_id}/activate", response_model=StrategyDetailOut)
def activate(version_id: int, data: ActivateIn, session: Db) -> StrategyDetailOut:
    """Activate an approved version from a business date; the portfolio's previous one is retired."""
    return detail_out(session, svc.activate(session=session, version_id=version_id, by=data.by,
                                            effective=data.effective))
