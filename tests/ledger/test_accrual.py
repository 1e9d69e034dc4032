"""Nightly accrual on the real databases: interest recognition, penalty (罚息) after grace, ACT/360 and ACT/365.

Loan used here: 12,000.00 at 12% for 3 months, 等额本金, from 2026-01-15: each instalment carries
4,000.00 principal; instalment 1 (due 2026-02-15) carries 120.00 interest.
The penalty rate 18.045% is chosen so that 4,000.00 × 0.18045 / 360 = 2.005 exactly: only half-up
rounding gives 2.01 (banker's rounding would give 2.00).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from buyu.ledger import accrual
from buyu.ledger.journal import loan_balances
from buyu.ledger.models import Posting
from tests.factories import make_loan
from tests.ledger.helpers import assert_books_ok, fresh, lines, nights, pay, penalty_of

LOAN = {"principal": "12000.00", "method": "equal_principal", "term_months": 3, "penalty_rate": "0.18045"}


def test_interest_is_recognised_on_the_due_date(session):
    """Interest becomes receivable on the due date's night, not before; principal is receivable from day one."""
    loan = make_loan(session, **LOAN)
    nights(session, date(2026, 1, 16), date(2026, 2, 14))
    assert loan_balances(session=session, loan_id=loan.id).get("interest_receivable", 0) == 0
    nights(session, date(2026, 2, 15), date(2026, 2, 15))
    balances = loan_balances(session=session, loan_id=loan.id)
    assert balances["interest_receivable"] == 12_000 and balances["interest_income"] == -12_000
    assert balances["principal"] == 1_200_000
    assert fresh(session, loan).dpd == 0  # due today is not yet past due
    assert_books_ok(session)


def test_penalty_accrues_daily_after_grace_half_up_act360(session):
    """With 3 grace days, penalty starts on the 4th day after the due date: 2.01 a day on the 4,000.00 overdue.

    Due 15 Feb; grace 16–18 Feb (DPD counts, no penalty); penalty 19–25 Feb = 7 days × round(2.005) =
    7 × 2.01 = 14.07. Interest is not a penalty base: 4,120.00 is overdue but only 4,000.00 bears 罚息.
    """
    loan = make_loan(session, grace_days=3, **LOAN)
    nights(session, date(2026, 1, 16), date(2026, 2, 18))
    assert penalty_of(session, loan) == 0
    state = fresh(session, loan)
    assert (state.dpd, state.bucket) == (3, "M1")
    nights(session, date(2026, 2, 19), date(2026, 2, 25))
    assert penalty_of(session, loan) == 7 * 201 == 1_407
    postings = session.scalars(select(Posting).where(Posting.loan_id == loan.id,
                                                     Posting.kind == "penalty_accrual")).all()
    assert [p.booking_date.day for p in postings] == list(range(19, 26))
    assert {p.amount_fen for p in postings} == {201}
    assert lines(session, loan)[0].penalty_fen == 1_407
    assert fresh(session, loan).dpd == 10
    assert_books_ok(session)


def test_penalty_act365(session):
    """On ACT/365 the same loan accrues round(4,000.00 × 0.18045 / 365) = round(1.97753) = 1.98 a day."""
    loan = make_loan(session, grace_days=3, day_count="ACT/365", **LOAN)
    nights(session, date(2026, 1, 16), date(2026, 2, 25))
    assert penalty_of(session, loan) == 7 * 198


def test_penalty_follows_the_open_principal_of_each_instalment(session):
    """After a part-payment the base shrinks; when the next instalment falls due its principal joins the base.

    No grace. Penalty 16 Feb–2 Mar (15 days) on 4,000.00 = 15 × 2.01 = 30.15. On 3 Mar 1,000.00 is paid:
    30.15 penalty + 120.00 interest + 849.85 principal, leaving 3,150.15 open →
    round(3,150.15 × 0.18045/360 = 1.579) = 1.58 a day for 3–15 Mar (13 days) = 20.54. From 16 Mar instalment 2's
    4,000.00 adds 2.01: 16–20 Mar = 5 × (1.58 + 2.01) = 17.95. Total 30.15 + 20.54 + 17.95 = 68.64.
    """
    loan = make_loan(session, **LOAN)
    nights(session, date(2026, 1, 16), date(2026, 3, 2))
    assert penalty_of(session, loan) == 15 * 201
    pay(session, loan, "1000.00", date(2026, 3, 3))
    assert lines(session, loan)[0].principal_open_fen == 315_015
    nights(session, date(2026, 3, 3), date(2026, 3, 20))
    assert penalty_of(session, loan) == 3_015 + 13 * 158 + 5 * (158 + 201) == 6_864
    assert_books_ok(session)


def test_a_payment_catches_up_exactly_as_the_nights_would(session):
    """A loan whose nights did not run accrues, on the payment day, the same penalty the nights would have booked."""
    nightly = make_loan(session, grace_days=3, **LOAN)
    quiet = make_loan(session, grace_days=3, **LOAN)
    day = date(2026, 1, 16)
    while day <= date(2026, 2, 25):  # the nights' statements, scoped to one loan: none ran for `quiet`
        accrual.recognise_interest(session=session, through=day, loan_id=nightly.id)
        accrual.accrue_penalty(session=session, day=day, loan_id=nightly.id)
        accrual.age_loans(session=session, as_of=day, loan_id=nightly.id)
        day += timedelta(days=1)
    pay(session, quiet, "100.00", date(2026, 2, 26))
    assert penalty_of(session, quiet, kind="penalty_accrual") == penalty_of(session, nightly) == 1_407
    assert fresh(session, quiet).accrued_through == date(2026, 2, 25)


def test_an_instalment_owing_nothing_is_never_past_due(session):
    """先息后本 at 0%: instalment 1 (15 Feb) owes 0.00 principal and 0.00 interest, so passing its due date
    does not make the loan delinquent; only instalment 2 (15 Mar, the 1,000.00 principal) can."""
    loan = make_loan(session, principal="1000.00", method="interest_first", annual_rate="0", term_months=2)
    first = lines(session, loan)[0]
    assert (first.principal_fen, first.interest_fen) == (0, 0)
    nights(session, date(2026, 1, 16), date(2026, 3, 15))
    assert (fresh(session, loan).dpd, fresh(session, loan).bucket) == (0, "M0")
    nights(session, date(2026, 3, 16), date(2026, 3, 17))
    assert fresh(session, loan).dpd == 2
    # 1,000.00 + penalty 16–17 Mar 2 × round(1,000.00 × 0.18/360 = 0.50) = 1,001.00 closes it.
    pay(session, loan, "1001.00", date(2026, 3, 18))
    assert fresh(session, loan).status == "closed"
