"""Batch payment posting agrees with the single-payment service to the fen."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from buyu.ledger import service as svc
from buyu.ledger.batch import PaymentRequest, post_payments
from buyu.ledger.check import check_ledger
from buyu.ledger.models import Loan, Posting
from buyu.ledger.schemas import PaymentIn
from tests.factories import make_loan, make_product


def _position(session: Session, loan: Loan) -> tuple[object, ...]:
    session.flush()
    session.refresh(loan)
    lines = svc.live_lines(session=session, loan_id=loan.id)
    legs = sorted((p.kind, p.debit, p.credit, p.amount_fen, p.booking_date) for p in session.scalars(
        select(Posting).where(Posting.loan_id == loan.id)))
    return (loan.status, loan.dpd, loan.bucket, loan.credit_fen,
            [(x.seq, x.principal_open_fen, x.interest_paid_fen, x.penalty_paid_fen, x.penalty_fen, x.cleared_on)
             for x in lines], legs)


def test_batch_and_single_posting_book_the_same(session: Session) -> None:
    """Twin loans paid the same amounts on the same dates — one request at a time, one as a batch — end identical.

    The sequence crosses a due date (interest recognised in the payment), pays penalty after 20 days
    late, over-pays into customer credit and finally pays off, so every branch of the in-memory path
    (recognition, waterfall, credit, closing, ageing) is compared with the service's.
    """
    product = make_product(session, penalty_rate="0.18")
    a = make_loan(session, product=product, principal="12000.00", disbursed_on=date(2026, 1, 10))
    b = make_loan(session, product=product, principal="12000.00", disbursed_on=date(2026, 1, 10))
    plan = [(date(2026, 3, 2), "500.00"), (date(2026, 3, 10), "1066.19"), (date(2026, 3, 30), "3000.00"),
            (date(2026, 6, 12), "20000.00")]
    for on, amount in plan:
        svc.post_payment(session=session, loan_id=a.id, idempotency_key=uuid.uuid4().hex,
                         data=PaymentIn(amount=Decimal(amount), paid_on=on))
        results = post_payments(session=session, requests=[PaymentRequest(
            loan_id=b.id, idempotency_key=uuid.uuid4().hex, data=PaymentIn(amount=Decimal(amount), paid_on=on))])
        assert results[0].error is None
    pa, pb = _position(session, a), _position(session, b)
    assert pa[:4] == pb[:4]
    assert pa[4] == pb[4]
    assert [x[:4] for x in pa[5]] == [x[:4] for x in pb[5]]  # type: ignore[index]
    assert check_ledger(session=session).ok


def test_a_bad_request_in_a_batch_writes_nothing_for_it(session: Session) -> None:
    """In a batch, a wrong-currency and an unknown-loan request are refused with their codes; the rest post."""
    loan = make_loan(session)
    on = date(2026, 2, 15)
    reqs = [
        PaymentRequest(loan_id=loan.id, idempotency_key="b1-" + uuid.uuid4().hex,
                       data=PaymentIn(amount=Decimal("100.00"), paid_on=on)),
        PaymentRequest(loan_id=loan.id, idempotency_key="b2-" + uuid.uuid4().hex,
                       data=PaymentIn(amount=Decimal("100.00"), paid_on=on, currency="USD")),
        PaymentRequest(loan_id=10**9, idempotency_key="b3-" + uuid.uuid4().hex,
                       data=PaymentIn(amount=Decimal("100.00"), paid_on=on)),
        PaymentRequest(loan_id=loan.id, idempotency_key="b4-" + uuid.uuid4().hex,
                       data=PaymentIn(amount=Decimal("250.00"), paid_on=on + timedelta(days=1))),
    ]
    results = post_payments(session=session, requests=reqs)
    assert [r.error.code if r.error else None for r in results] == [None, "currency_mismatch", "loan_not_found", None]
    cash = session.scalars(select(Posting.amount_fen).where(Posting.loan_id == loan.id, Posting.debit == "cash")).all()
    assert sum(cash) == 35000
    assert check_ledger(session=session).ok


def test_no_loan_is_disbursed_into_a_night_that_already_ran(fresh_engine) -> None:
    """After the night of 2026-02-01 has run, a loan disbursed on or before it is refused; the next day is fine."""
    import pytest

    from buyu.db import unit_of_work
    from buyu.errors import Conflict
    from buyu.pipeline.eod import run_eod

    with unit_of_work(fresh_engine) as s:
        product = make_product(s)
        code = product.code
        make_loan(s, product=product, disbursed_on=date(2026, 1, 15))
    run_eod(engine=fresh_engine, as_of=date(2026, 2, 1))
    with unit_of_work(fresh_engine) as s:
        product = svc.get_product(session=s, code=code)
        with pytest.raises(Conflict) as err:
            make_loan(s, product=product, disbursed_on=date(2026, 2, 1))
        assert err.value.code == "business_day_closed"
        make_loan(s, product=product, disbursed_on=date(2026, 2, 2))
