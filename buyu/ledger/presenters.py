"""Turn ledger rows and results into API/CLI schemas (money as decimal strings)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from buyu.ledger import service as svc
from buyu.ledger.models import Loan, Payment, Product
from buyu.ledger.models import ScheduleLine as Line
from buyu.ledger.schedule import Instalment
from buyu.ledger.schemas import (
    AllocationOut,
    InstalmentOut,
    LoanOut,
    LoanStateOut,
    PaymentOut,
    ProductOut,
    ScheduleLineOut,
    ScheduleOut,
)
from buyu.ledger.state import LoanState
from buyu.money import fmt, micro_to_rate


def product_out(p: Product) -> ProductOut:
    """A product as the API shows it."""
    return ProductOut(
        id=p.id, code=p.code, name=p.name, annual_rate=micro_to_rate(p.annual_rate_micro), term_months=p.term_months,
        method=p.method, penalty_rate=micro_to_rate(p.penalty_rate_micro), grace_days=p.grace_days,
        waterfall=p.waterfall, waterfall_mode=p.waterfall_mode, day_count=f"ACT/{p.day_count_basis}",
        currency=p.currency, prepayment_mode=p.prepayment_mode,
    )


def schedule_out(rows: Sequence[Instalment], *, currency: str = "CNY") -> ScheduleOut:
    """A computed schedule with totals."""
    return ScheduleOut(
        instalments=[
            InstalmentOut(seq=r.seq, due_date=r.due_date, principal=fmt(r.principal, currency=currency),
                          interest=fmt(r.interest, currency=currency), payment=fmt(r.payment, currency=currency),
                          balance_after=fmt(r.balance_after, currency=currency))
            for r in rows
        ],
        total_interest=fmt(sum(r.interest for r in rows), currency=currency),
        total_payment=fmt(sum(r.payment for r in rows), currency=currency),
    )


def loan_out(loan: Loan, *, product_code: str) -> LoanOut:
    """A loan with its frozen terms and nightly state."""
    c = loan.currency
    return LoanOut(
        id=loan.id, external_ref=loan.external_ref, borrower_id=loan.borrower_id, product_code=product_code,
        currency=c, principal=fmt(loan.principal_fen, currency=c), annual_rate=micro_to_rate(loan.annual_rate_micro),
        penalty_rate=micro_to_rate(loan.penalty_rate_micro), term_months=loan.term_months, method=loan.method,
        disbursed_on=loan.disbursed_on, status=loan.status, dpd=loan.dpd, bucket=loan.bucket,
        schedule_version=loan.schedule_version, accrued_through=loan.accrued_through,
    )


def line_out(line: Line, *, currency: str) -> ScheduleLineOut:
    """A live instalment with what was paid against it."""
    waived = line.principal_waived_fen + line.interest_waived_fen + line.penalty_waived_fen
    return ScheduleLineOut(
        seq=line.seq, schedule_version=line.schedule_version, due_date=line.due_date,
        principal=fmt(line.principal_fen, currency=currency), interest=fmt(line.interest_fen, currency=currency),
        penalty=fmt(line.penalty_fen, currency=currency),
        principal_paid=fmt(line.principal_paid_fen, currency=currency),
        interest_paid=fmt(line.interest_paid_fen, currency=currency),
        penalty_paid=fmt(line.penalty_paid_fen, currency=currency), waived=fmt(waived, currency=currency),
        cleared_on=line.cleared_on,
    )


def state_out(state: LoanState, *, currency: str) -> LoanStateOut:
    """A derived as-of position."""
    return LoanStateOut(
        loan_id=state.loan_id, as_of=state.as_of, status=state.status, dpd=state.dpd, bucket=state.bucket,
        overdue_principal=fmt(state.overdue_principal, currency=currency),
        overdue_interest=fmt(state.overdue_interest, currency=currency),
        penalty=fmt(state.penalty, currency=currency),
        principal_outstanding=fmt(state.principal_outstanding, currency=currency),
        interest_outstanding=fmt(state.interest_outstanding, currency=currency),
        outstanding=fmt(state.outstanding, currency=currency),
        customer_credit=fmt(state.customer_credit, currency=currency),
        payoff=fmt(max(state.outstanding - state.customer_credit, 0), currency=currency),
    )


def payment_out(session: Session, payment: Payment, *, replayed: bool = False) -> PaymentOut:
    """A payment with its allocation."""
    c = payment.currency
    return PaymentOut(
        id=payment.id, loan_id=payment.loan_id, kind=payment.kind, amount=fmt(payment.amount_fen, currency=c),
        currency=c, paid_on=payment.paid_on, status=payment.status, idempotency_key=payment.idempotency_key,
        allocations=[
            AllocationOut(seq=seq, component=component, amount=fmt(amount, currency=c))
            for seq, component, amount in svc.payment_allocations(session=session, payment=payment)
        ],
        replayed=replayed,
    )
