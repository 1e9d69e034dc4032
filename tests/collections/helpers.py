"""Helpers for the collections proofs: a delinquent-ready loan with contact points, through the real services."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from buyu.collections import service as svc
from buyu.collections.models import AuditEntry, ContactAttempt, ContactPoint, Promise
from buyu.ledger.models import Borrower, Loan
from buyu.people.models import Collector
from tests.factories import make_loan

_n = itertools.count(1)


@dataclass
class Debtor:
    """A loan, its borrower and the borrower's own phone as a contact point."""

    loan: Loan
    borrower: Borrower
    phone: ContactPoint

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.borrower.timezone)

    def at(self, day: date, hh: int, mm: int = 0) -> datetime:
        """A borrower-local wall-clock time as a UTC instant."""
        return datetime.combine(day, time(hh, mm), tzinfo=self.tz).astimezone(UTC)

    def point(self, session: Session, kind: str) -> ContactPoint:
        """Another phone number of a given kind for this borrower."""
        return svc.add_contact_point(session=session, borrower_id=self.borrower.id, kind=kind,
                                     phone=f"139{next(_n):08d}", contact_name=f"{kind} contact")


def idem() -> str:
    """A globally unique idempotency key (the shared test databases keep other tests' committed payments)."""
    return f"col-{uuid.uuid4().hex}"


def debtor(session: Session, *, timezone: str = "Asia/Shanghai", **loan_kw: object) -> Debtor:
    """A loan (disbursed 2026-01-15, first instalment due 2026-02-15) whose borrower lives in `timezone`."""
    loan = make_loan(session, **loan_kw)  # type: ignore[arg-type]
    borrower = session.get(Borrower, loan.borrower_id)
    assert borrower is not None
    borrower.timezone = timezone
    phone = svc.add_contact_point(session=session, borrower_id=borrower.id, kind="self", phone=borrower.phone)
    session.flush()
    return Debtor(loan=loan, borrower=borrower, phone=phone)


def collector(session: Session, **kw: object) -> Collector:
    """An active phone agent."""
    from buyu.people import service as people
    from buyu.people.schemas import CollectorIn

    data = {"code": f"C{next(_n)}", "name": "王五", "hired_on": date(2025, 1, 1)} | kw
    return people.create_collector(session=session, data=CollectorIn(**data))


def count(session: Session, model: type, **where: object) -> int:
    """Rows of a table (optionally filtered by equality)."""
    stmt = select(func.count()).select_from(model)
    for name, value in where.items():
        stmt = stmt.where(getattr(model, name) == value)
    return int(session.scalar(stmt) or 0)


def footprint(session: Session) -> tuple[int, int, int]:
    """(attempts, promises, audit entries): what a refused request must leave unchanged."""
    session.flush()
    return count(session, ContactAttempt), count(session, Promise), count(session, AuditEntry)
