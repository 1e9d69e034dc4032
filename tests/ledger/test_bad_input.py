"""Bad input writes nothing: each refusal has its precise error class and code, and the journal and payments
tables keep their row counts (checked inside the same transaction, so a service that wrote before
validating would be caught), and a unit of work that fails half-way leaves no trace."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from buyu.db import unit_of_work
from buyu.errors import BuyuError, Conflict, InvalidInput, NotFound
from buyu.ledger import service as svc
from buyu.ledger.models import Loan, Product
from buyu.ledger.schemas import PaymentIn, ProductIn
from tests.factories import make_loan
from tests.ledger.helpers import counts, fresh, nights, pay, settle

FEB_15 = date(2026, 2, 15)


def _refused(session, call, error: type[BuyuError], code: str) -> BuyuError:
    before = counts(session)
    with pytest.raises(error) as exc:
        call()
    assert exc.value.code == code, exc.value.message
    assert counts(session) == before
    return exc.value


@pytest.mark.parametrize(("amount", "code"), [
    ("0", "amount_not_positive"), ("0.00", "amount_not_positive"), ("-5.00", "amount_not_positive"),
    ("10.001", "invalid_amount"), ("0.005", "invalid_amount"),
])
def test_bad_amounts_are_refused(session, amount, code):
    """Zero, negative and sub-fen amounts are refused before anything is written."""
    loan = make_loan(session)
    _refused(session, lambda: pay(session, loan, amount, FEB_15), InvalidInput, code)


def test_unknown_loan(session):
    """A payment for a loan that does not exist: NotFound loan_not_found."""
    _refused(session, lambda: pay(session, 987_654_321, "10.00", FEB_15), NotFound, "loan_not_found")


def test_wrong_currency(session):
    """A USD payment on a CNY loan: currency_mismatch."""
    loan = make_loan(session)
    data = PaymentIn(amount=Decimal("10.00"), currency="USD", paid_on=FEB_15)
    _refused(session, lambda: svc.post_payment(session=session, loan_id=loan.id, data=data, idempotency_key="usd"),
             InvalidInput, "currency_mismatch")


def test_payment_before_disbursement(session):
    """A payment dated the day before disbursement: payment_before_disbursement."""
    loan = make_loan(session)
    _refused(session, lambda: pay(session, loan, "10.00", date(2026, 1, 14)), InvalidInput,
             "payment_before_disbursement")


def test_posting_into_a_closed_business_day(session):
    """After the night of 20 Feb ran, a payment, settlement, write-off or restructure dated 20 Feb (or earlier)
    is refused with business_day_closed; 21 Feb is open."""
    loan = make_loan(session)
    nights(session, date(2026, 1, 15), date(2026, 2, 20))
    for day in (date(2026, 2, 20), date(2026, 2, 1), date(2026, 1, 15)):
        _refused(session, lambda d=day: pay(session, loan, "10.00", d), Conflict, "business_day_closed")
    _refused(session, lambda: settle(session, loan, "10.00", date(2026, 2, 20)), Conflict, "business_day_closed")
    pay(session, loan, "10.00", date(2026, 2, 21))


def test_payment_on_a_closed_loan(session):
    """A closed loan takes no more payments: Conflict loan_closed."""
    loan = make_loan(session, principal="1000.00", term_months=1)
    pay(session, loan, "1010.00", FEB_15)
    assert fresh(session, loan).status == "closed"
    _refused(session, lambda: pay(session, loan, "1.00", date(2026, 2, 16)), Conflict, "loan_closed")


def test_settlement_above_the_payoff(session):
    """Settling for more than is owed: amount_exceeds_payoff (80,000.00 owed on 20 Jan, nothing yet due)."""
    loan = make_loan(session)
    _refused(session, lambda: settle(session, loan, "80000.01", date(2026, 1, 20)), InvalidInput,
             "amount_exceeds_payoff")


@pytest.mark.parametrize(("field", "value"), [
    ("annual_rate", "0.3601"), ("annual_rate", "-0.01"), ("penalty_rate", "1.01"), ("penalty_rate", "-0.1"),
])
def test_rate_out_of_range_on_product_creation(session, field, value):
    """Annual rates must lie in 0–36%, penalty rates in 0–100%: rate_out_of_range, no product written."""
    fields = {"code": f"BAD-{field}-{value}", "name": "bad", "annual_rate": Decimal("0.12"), "term_months": 12,
              "method": "equal_instalment", "penalty_rate": Decimal("0.18")}
    fields[field] = Decimal(value)
    before = session.scalar(select(func.count()).select_from(Product))
    with pytest.raises(InvalidInput) as exc:
        svc.create_product(session=session, data=ProductIn(**fields))
    assert exc.value.code == "rate_out_of_range"
    assert exc.value.details["field"] == field
    assert session.scalar(select(func.count()).select_from(Product)) == before


def test_a_prepayment_above_the_payoff_fails_half_way_and_leaves_no_trace(fresh_engine):
    """A prepayment is checked against the payoff only after the catch-up accrual, the payment row and the
    waterfall were written; refused (amount_exceeds_payoff), its unit of work rolls back completely: no
    postings, no payment, the loan row untouched.

    On 1 Apr loan A owes instalments 1 and 2 (7,107.90 each plus penalty) and 66,321.12 future principal
    (80,000.00 − 6,307.90 − 6,370.98) with 17 days' broken interest: about 81,000, far below 90,000.00.
    """
    with unit_of_work(fresh_engine) as s:
        loan_id = make_loan(s).id
    with unit_of_work(fresh_engine) as s:
        before = counts(s)
        loan_before = {c: getattr(fresh(s, s.get(Loan, loan_id)), c) for c in ("accrued_through", "dpd", "status")}
    with pytest.raises(InvalidInput) as exc, unit_of_work(fresh_engine) as s:
        pay(s, loan_id, "90000.00", date(2026, 4, 1), kind="prepayment")
    assert exc.value.code == "amount_exceeds_payoff"
    with unit_of_work(fresh_engine) as s:
        assert counts(s) == before
        loan_after = {c: getattr(fresh(s, s.get(Loan, loan_id)), c) for c in ("accrued_through", "dpd", "status")}
        assert loan_after == loan_before
        pay(s, loan_id, "100.00", date(2026, 4, 1))  # the same day is still open: nothing was committed
