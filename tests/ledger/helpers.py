"""Small helpers for the ledger proofs: post through the real services, read what they wrote."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from buyu.ledger import service as svc
from buyu.ledger.check import check_ledger
from buyu.ledger.eod import ledger_day
from buyu.ledger.models import EodRun, Loan, Payment, Posting
from buyu.ledger.models import ScheduleLine as Line
from buyu.ledger.schemas import PaymentIn, RestructureIn, SettlementIn, WriteOffIn
from buyu.ledger.service import Posted

_keys = itertools.count(1)


def key() -> str:
    """A fresh idempotency key."""
    return f"k-{next(_keys)}"


def pay(session: Session, loan: Loan | int, amount: str, on: date, *, kind: str = "repayment",
        idem: str | None = None) -> Posted:
    """Post a payment through the waterfall."""
    loan_id = loan if isinstance(loan, int) else loan.id
    return svc.post_payment(session=session, loan_id=loan_id,
                            data=PaymentIn(amount=Decimal(amount), paid_on=on, kind=kind),
                            idempotency_key=idem or key())


def settle(session: Session, loan: Loan, amount: str, on: date, *, idem: str | None = None) -> Posted:
    """A discounted payoff."""
    return svc.settle(session=session, loan_id=loan.id, data=SettlementIn(amount=Decimal(amount), paid_on=on),
                      idempotency_key=idem or key())


def reverse(session: Session, payment: Payment | int, on: date) -> Payment:
    """Reverse a payment on `on`."""
    pid = payment if isinstance(payment, int) else payment.id
    return svc.reverse_payment(session=session, payment_id=pid, on=on, reason="bounced")


def write_off(session: Session, loan: Loan, on: date) -> Loan:
    """Charge the loan off."""
    return svc.write_off(session=session, loan_id=loan.id, data=WriteOffIn(on=on, reason="uncollectable"))


def restructure(session: Session, loan: Loan, on: date, term: int, **kw: object) -> Loan:
    """Capitalise arrears into a new schedule from `on`."""
    return svc.restructure(session=session, loan_id=loan.id,
                           data=RestructureIn(on=on, term_months=term, **kw))


def night(session: Session, day: date) -> None:
    """What run_eod does for one business day, inside the caller's transaction."""
    ledger_day(session=session, day=day)
    session.add(EodRun(as_of=day, status="done", stats="{}"))
    session.flush()


def nights(session: Session, first: date, last: date) -> None:
    """Run every night from `first` to `last` inclusive."""
    day = first
    while day <= last:
        night(session, day)
        day += timedelta(days=1)


def lines(session: Session, loan: Loan) -> list[Line]:
    """The live schedule, oldest first."""
    return svc.live_lines(session=session, loan_id=loan.id)


def fresh(session: Session, loan: Loan) -> Loan:
    """The loan row as stored now."""
    return svc.get_loan(session=session, loan_id=loan.id)


def counts(session: Session) -> tuple[int, int]:
    """(journal rows, payment rows): what a refused request must leave unchanged."""
    return (session.scalar(select(func.count()).select_from(Posting)) or 0,
            session.scalar(select(func.count()).select_from(Payment)) or 0)


def assert_books_ok(session: Session) -> None:
    """The journal agrees with the sub-ledger for every loan."""
    session.flush()
    result = check_ledger(session=session)
    assert result.ok, result.mismatches


def penalty_of(session: Session, loan: Loan, *, kind: str | None = None) -> int:
    """Penalty booked for a loan (optionally of one posting kind)."""
    stmt = select(func.coalesce(func.sum(Posting.amount_fen), 0)).where(
        Posting.loan_id == loan.id, Posting.debit == "penalty_receivable", Posting.credit == "penalty_income")
    if kind is not None:
        stmt = stmt.where(Posting.kind == kind)
    return int(session.scalar(stmt) or 0)
