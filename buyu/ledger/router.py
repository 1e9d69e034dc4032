"""Ledger HTTP routes: thin adapters over buyu.ledger.service."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from buyu.api.deps import get_session
from buyu.ledger import presenters as present
from buyu.ledger import service as svc
from buyu.ledger.check import check_ledger
from buyu.ledger.models import Loan, Payment, Product
from buyu.ledger.schedule import build_schedule
from buyu.ledger.schemas import (
    LoanIn,
    LoanOut,
    LoanStateOut,
    PaymentIn,
    PaymentOut,
    ProductIn,
    ProductOut,
    RestructureIn,
    ReversalIn,
    ScheduleLineOut,
    ScheduleOut,
    ScheduleRequest,
    SettlementIn,
    WriteOffIn,
)
from buyu.ledger.state import loan_state
from buyu.money import positive_minor, rate_to_micro

router = APIRouter(tags=["ledger"])
Db = Annotated[Session, Depends(get_session)]
IdemKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=100)]


def _code(session: Session, loan: Loan) -> str:
    return session.scalars(select(Product.code).where(Product.id == loan.product_id)).one()


@router.post("/products", status_code=status.HTTP_201_CREATED, response_model=ProductOut)
def create_product(data: ProductIn, session: Db) -> ProductOut:
    """Register a loan product."""
    return present.product_out(svc.create_product(session=session, data=data))


@router.get("/products", response_model=list[ProductOut])
def list_products(session: Db) -> list[ProductOut]:
    """All products."""
    return [present.product_out(p) for p in session.scalars(select(Product).order_by(Product.id))]


@router.post("/schedule/preview", response_model=ScheduleOut)
def preview_schedule(data: ScheduleRequest) -> ScheduleOut:
    """Compute a schedule without booking anything."""
    principal = positive_minor(data.principal, field="principal")
    rate = rate_to_micro(data.annual_rate, field="annual_rate", low=svc.ANNUAL_RATE_RANGE[0],
                         high=svc.ANNUAL_RATE_RANGE[1])
    rows = build_schedule(principal=principal, annual_rate_micro=rate, term_months=data.term_months,
                          method=data.method, start_date=data.start_date)
    return present.schedule_out(rows)


@router.post("/loans", status_code=status.HTTP_201_CREATED, response_model=LoanOut)
def originate(data: LoanIn, session: Db) -> LoanOut:
    """Originate and disburse a loan."""
    loan = svc.originate_loan(session=session, data=data)
    return present.loan_out(loan, product_code=data.product_code)


@router.get("/loans", response_model=list[LoanOut])
def list_loans(
    session: Db,
    bucket: str | None = None,
    loan_status: Annotated[str | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[LoanOut]:
    """Loans, optionally by bucket and status, largest DPD first."""
    stmt = select(Loan, Product.code).join(Product, Product.id == Loan.product_id)
    if bucket:
        stmt = stmt.where(Loan.bucket == bucket)
    if loan_status:
        stmt = stmt.where(Loan.status == loan_status)
    rows = session.execute(stmt.order_by(Loan.dpd.desc(), Loan.id).limit(limit).offset(offset))
    return [present.loan_out(loan, product_code=code) for loan, code in rows]


@router.get("/loans/{loan_id}", response_model=LoanOut)
def get_loan(loan_id: int, session: Db) -> LoanOut:
    """One loan."""
    loan = svc.get_loan(session=session, loan_id=loan_id)
    return present.loan_out(loan, product_code=_code(session, loan))


@router.get("/loans/{loan_id}/schedule", response_model=list[ScheduleLineOut])
def loan_schedule(loan_id: int, session: Db) -> list[ScheduleLineOut]:
    """The live schedule with what has been paid against each instalment."""
    loan = svc.get_loan(session=session, loan_id=loan_id)
    return [present.line_out(line, currency=loan.currency) for line in svc.live_lines(session=session, loan_id=loan_id)]


@router.get("/loans/{loan_id}/state", response_model=LoanStateOut)
def state(loan_id: int, as_of: date, session: Db) -> LoanStateOut:
    """DPD, bucket, overdue amounts and balances as of a date, derived from the journal."""
    loan = svc.get_loan(session=session, loan_id=loan_id)
    return present.state_out(loan_state(session=session, loan=loan, as_of=as_of), currency=loan.currency)


@router.post("/loans/{loan_id}/payments", status_code=status.HTTP_201_CREATED, response_model=PaymentOut)
def post_payment(loan_id: int, data: PaymentIn, session: Db, response: Response, key: IdemKey) -> PaymentOut:
    """Post a payment once per Idempotency-Key (a replay returns the first result with 200)."""
    posted = svc.post_payment(session=session, loan_id=loan_id, data=data, idempotency_key=key)
    if posted.replayed:
        response.status_code = status.HTTP_200_OK
    return present.payment_out(session, posted.payment, replayed=posted.replayed)


@router.get("/loans/{loan_id}/payments", response_model=list[PaymentOut])
def list_payments(loan_id: int, session: Db) -> list[PaymentOut]:
    """A loan's payments, oldest first."""
    svc.get_loan(session=session, loan_id=loan_id)
    payments = session.scalars(select(Payment).where(Payment.loan_id == loan_id).order_by(Payment.id))
    return [present.payment_out(session, p) for p in payments]


@router.post("/payments/{payment_id}/reversal", response_model=PaymentOut)
def reverse(payment_id: int, data: ReversalIn, session: Db) -> PaymentOut:
    """Reverse a payment (bounced transfer, misapplied money)."""
    payment = svc.reverse_payment(session=session, payment_id=payment_id, on=data.reversed_on, reason=data.reason)
    return present.payment_out(session, payment)


@router.post("/loans/{loan_id}/write-off", response_model=LoanOut)
def write_off(loan_id: int, data: WriteOffIn, session: Db) -> LoanOut:
    """Charge off a loan."""
    loan = svc.write_off(session=session, loan_id=loan_id, data=data)
    return present.loan_out(loan, product_code=_code(session, loan))


@router.post("/loans/{loan_id}/restructure", response_model=LoanOut)
def restructure(loan_id: int, data: RestructureIn, session: Db) -> LoanOut:
    """Capitalise arrears into a new schedule."""
    loan = svc.restructure(session=session, loan_id=loan_id, data=data)
    return present.loan_out(loan, product_code=_code(session, loan))


@router.post("/loans/{loan_id}/settlement", status_code=status.HTTP_201_CREATED, response_model=PaymentOut)
def settle(loan_id: int, data: SettlementIn, session: Db, response: Response, key: IdemKey) -> PaymentOut:
    """A discounted payoff; the waived part is booked as a waiver."""
    posted = svc.settle(session=session, loan_id=loan_id, data=data, idempotency_key=key)
    if posted.replayed:
        response.status_code = status.HTTP_200_OK
    return present.payment_out(session, posted.payment, replayed=posted.replayed)


@router.get("/ledger/check")
def ledger_check(session: Db) -> dict[str, Any]:
    """Reconcile every loan's sub-ledger with the journal."""
    result = check_ledger(session=session)
    return {"ok": result.ok, "loans_checked": result.loans_checked, "mismatches": result.mismatches}
