"""Reversals on the real databases: a reversed payment leaves the loan as if it had never been made.

The yardstick is a twin: an identical loan on which the payment was never posted. After the reversal
(and the same nights) the reversed loan must owe exactly what the twin owes, fen for fen.
"""

from __future__ import annotations

from datetime import date

import pytest

from buyu.errors import Conflict
from buyu.ledger.journal import loan_balances
from tests.factories import make_loan, make_product
from tests.ledger.helpers import (
    assert_books_ok,
    counts,
    fresh,
    lines,
    nights,
    pay,
    penalty_of,
    restructure,
    reverse,
    settle,
    write_off,
)

RECEIVABLES = ("principal", "interest_receivable", "penalty_receivable", "customer_credit")


def _owed(session, loan):
    """What the loan owes on the books, per receivable, plus its DPD and each live line's open amounts."""
    balances = loan_balances(session=session, loan_id=loan.id)
    state = fresh(session, loan)
    per_line = [(ln.seq, ln.due_date, ln.principal_open_fen, ln.interest_booked_fen - ln.interest_paid_fen
                 - ln.interest_waived_fen, ln.penalty_fen - ln.penalty_paid_fen - ln.penalty_waived_fen,
                 ln.cleared_on is None) for ln in lines(session, loan)]
    return ({a: balances.get(a, 0) for a in RECEIVABLES}, state.status, state.dpd, state.bucket, per_line)


def test_reversal_worked_example_matches_a_loan_never_paid(session):
    """80,000.00 loan; 7,123.65 paid 21 Feb clears instalment 1; reversed 3 Mar: balances, DPD and penalty come back.

    Daily penalty on instalment 1 = round(6,307.90 × 0.18/360 = 3.15395) = 3.15.
    Before the payment: 16–20 Feb = 5 days = 15.75 penalty; payment = 15.75 + 800.00 + 6,307.90 = 7,123.65.
    Reversal on 3 Mar reopens 6,307.90 principal, 800.00 interest, 15.75 penalty and back-values the penalty of
    21 Feb–2 Mar (10 days × 3.15 = 31.50): 47.25 in all = 15 days × 3.15, what the twin accrued.
    DPD goes 0 → 16 (3 Mar − 15 Feb), bucket M1.
    """
    product = make_product(session)
    loan, twin = make_loan(session, product=product), make_loan(session, product=product)
    nights(session, date(2026, 1, 16), date(2026, 2, 20))
    posted = pay(session, loan, "7123.65", date(2026, 2, 21))
    assert (fresh(session, loan).dpd, lines(session, loan)[0].cleared_on) == (0, date(2026, 2, 21))
    nights(session, date(2026, 2, 21), date(2026, 3, 2))
    reversed_ = reverse(session, posted.payment, date(2026, 3, 3))
    assert (reversed_.status, reversed_.reversed_on) == ("reversed", date(2026, 3, 3))
    first = lines(session, loan)[0]
    assert (first.principal_open_fen, first.interest_booked_fen - first.interest_paid_fen) == (630_790, 80_000)
    assert first.penalty_fen - first.penalty_paid_fen == 1_575 + 3_150 == 4_725
    assert penalty_of(session, loan, kind="penalty_backvalue") == 3_150
    state = fresh(session, loan)
    assert (state.dpd, state.bucket) == (16, "M1")
    nights(session, date(2026, 3, 3), date(2026, 3, 20))
    assert _owed(session, loan) == _owed(session, twin)
    # The payment's cash went out again: the loan's cash account nets to the disbursement only.
    assert loan_balances(session=session, loan_id=loan.id)["cash"] == -8_000_000
    assert_books_ok(session)


def test_reversing_an_older_payment_while_a_newer_one_stands_is_refused(session):
    """LIFO: with payments p1 then p2 posted, reversing p1 is refused (reverse_later_payments_first) and writes
    nothing; after p2 is reversed, p1 can be."""
    loan = make_loan(session)
    p1 = pay(session, loan, "3000.00", date(2026, 2, 16)).payment
    p2 = pay(session, loan, "3000.00", date(2026, 2, 17)).payment
    before = counts(session)
    with pytest.raises(Conflict) as exc:
        reverse(session, p1, date(2026, 2, 18))
    assert exc.value.code == "reverse_later_payments_first"
    assert exc.value.details == {"payment_ids": [p2.id]}
    assert counts(session) == before
    reverse(session, p2, date(2026, 2, 18))
    reverse(session, p1, date(2026, 2, 18))
    assert loan_balances(session=session, loan_id=loan.id)["principal"] == 8_000_000
    assert_books_ok(session)


def test_reversing_a_payment_that_left_customer_credit(session):
    """10,000.00 on 15 Feb clears instalment 1 and leaves 2,892.10 credit; reversing it on 16 Feb takes the
    credit back and reopens instalment 1 (now 1 day past due, no penalty yet: it starts on the 16th's night)."""
    loan = make_loan(session)
    posted = pay(session, loan, "10000.00", date(2026, 2, 15))
    reverse(session, posted.payment, date(2026, 2, 16))
    state = fresh(session, loan)
    assert (state.credit_fen, state.dpd) == (0, 1)
    assert loan_balances(session=session, loan_id=loan.id).get("customer_credit", 0) == 0
    assert lines(session, loan)[0].principal_open_fen == 630_790
    assert_books_ok(session)


def test_back_valued_penalty_rounds_like_the_nights(session):
    """A part-payment's reversal back-values exactly the penalty the nights would have booked without it.

    Loan 3.60 for 1 month at 12% (interest 0.04), penalty 100%/360: the nights accrue round(3.60/360 = 0.01)
    = 0.01 a day. 1.84 paid 16 Feb (0.04 interest + 1.80 principal) leaves 1.80 → round(0.005) = 0.01 a day,
    still. Reversed 26 Feb, the missing penalty for 16–25 Feb is round(3.60/360) − round(1.80/360) = 0 a day,
    not round(1.80/360) = 0.01 a day: per-day rounding of the line's whole principal, as the nights do.
    Twin (never paid): 16 Feb–28 Feb = 13 days × 0.01 = 0.13.
    """
    product = make_product(session, penalty_rate="1", term_months=1)
    loan, twin = make_loan(session, product=product, principal="3.60"), make_loan(session, product=product,
                                                                                  principal="3.60")
    nights(session, date(2026, 1, 16), date(2026, 2, 15))
    posted = pay(session, loan, "1.84", date(2026, 2, 16))
    nights(session, date(2026, 2, 16), date(2026, 2, 25))
    reverse(session, posted.payment, date(2026, 2, 26))
    nights(session, date(2026, 2, 26), date(2026, 2, 28))
    assert penalty_of(session, twin) == 13
    assert penalty_of(session, loan) == 13
    assert _owed(session, loan) == _owed(session, twin)


def test_reversal_after_a_restructure_of_the_paid_instalments_is_refused(session):
    """A payment whose instalments were since rescheduled cannot be reversed (schedule_changed); nothing is written.

    Otherwise the reversal would reopen superseded instalments and the journal would disagree with the
    live schedule.
    """
    loan = make_loan(session, principal="1000.00", term_months=3)
    nights(session, date(2026, 1, 16), date(2026, 2, 25))
    posted = pay(session, loan, "100.00", date(2026, 2, 26))
    restructure(session, loan, date(2026, 2, 27), 6)
    before = counts(session)
    with pytest.raises(Conflict) as exc:
        reverse(session, posted.payment, date(2026, 2, 28))
    assert exc.value.code == "schedule_changed"
    assert counts(session) == before
    assert_books_ok(session)


def test_a_payment_before_a_write_off_cannot_be_reversed_after_it(session):
    """After a write-off the loan owes nothing on the books; reversing an earlier payment would reopen a
    receivable nobody can collect or charge off, so it is refused (loan_written_off). A recovery can be
    reversed."""
    loan = make_loan(session, principal="1000.00", term_months=3)
    nights(session, date(2026, 1, 16), date(2026, 2, 25))
    posted = pay(session, loan, "100.00", date(2026, 2, 26))
    write_off(session, loan, date(2026, 2, 27))
    before = counts(session)
    with pytest.raises(Conflict) as exc:
        reverse(session, posted.payment, date(2026, 2, 28))
    assert exc.value.code == "loan_written_off"
    assert counts(session) == before
    recovery = pay(session, loan, "50.00", date(2026, 3, 1))
    reverse(session, recovery.payment, date(2026, 3, 2))
    assert fresh(session, loan).recovered_fen == 0
    balances = loan_balances(session=session, loan_id=loan.id)
    assert all(balances.get(a, 0) == 0 for a in ("principal", "interest_receivable", "penalty_receivable"))
    assert_books_ok(session)


def test_reversing_a_prepayment_restores_the_schedule_it_replaced(session):
    """A prepayment reversed before the next due date brings back the original instalments (as a new version)."""
    loan = make_loan(session)
    pay(session, loan, "7107.90", date(2026, 2, 15))
    original = [(ln.seq, ln.due_date, ln.principal_fen, ln.interest_fen) for ln in lines(session, loan)]
    prepaid = pay(session, loan, "20000.00", date(2026, 3, 1), kind="prepayment")
    assert fresh(session, loan).schedule_version == 2
    reverse(session, prepaid.payment, date(2026, 3, 5))
    assert [(ln.seq, ln.due_date, ln.principal_fen, ln.interest_fen) for ln in lines(session, loan)] == original
    assert fresh(session, loan).schedule_version == 3
    assert loan_balances(session=session, loan_id=loan.id)["principal"] == 8_000_000 - 630_790
    assert_books_ok(session)


def test_a_prepayment_cannot_be_reversed_once_the_replaced_instalments_fell_due(session):
    """A full payoff (closing the loan) reversed after the old instalments' due dates is refused
    (prepayment_reversal_window_passed): restoring them would skip their interest recognition and penalty.

    Payoff on 1 Feb: 1,000.00 + round(1,000.00 × 12% × 17/360 = 5.6667) = 1,005.67.
    """
    loan = make_loan(session, principal="1000.00", term_months=3)
    posted = pay(session, loan, "1005.67", date(2026, 2, 1), kind="prepayment")
    assert fresh(session, loan).status == "closed"
    nights(session, date(2026, 1, 16), date(2026, 3, 20))
    before = counts(session)
    with pytest.raises(Conflict) as exc:
        reverse(session, posted.payment, date(2026, 3, 21))
    assert exc.value.code == "prepayment_reversal_window_passed"
    assert counts(session) == before
    # Inside the window (before 15 Feb) the same reversal is accepted and reopens the loan.
    other = make_loan(session, principal="1000.00", term_months=3, disbursed_on=date(2026, 3, 21))
    # Payoff on 22 Mar: 1,000.00 + round(1,000.00 × 12% × 1/360 = 0.3333) = 1,000.33.
    early = pay(session, other, "1000.33", date(2026, 3, 22), kind="prepayment")
    assert fresh(session, other).status == "closed"
    reverse(session, early.payment, date(2026, 4, 1))
    assert fresh(session, other).status == "active"
    assert_books_ok(session)


def test_reversing_a_closing_payment_into_a_closed_business_day_is_refused(session):
    """A closed loan is not accrued at night, but its past nights are still closed: a reversal dated on or
    before the last night run is refused (business_day_closed), or nights already snapshotted would change."""
    loan = make_loan(session, principal="1000.00", term_months=1)
    nights(session, date(2026, 1, 16), date(2026, 2, 20))
    # 1,000.00 + 10.00 interest + 16–20 Feb penalty 5 × round(1,000.00 × 0.18/360 = 0.50) = 1,012.50.
    posted = pay(session, loan, "1012.50", date(2026, 2, 21))
    assert fresh(session, loan).status == "closed"
    nights(session, date(2026, 2, 21), date(2026, 3, 10))
    before = counts(session)
    with pytest.raises(Conflict) as exc:
        reverse(session, posted.payment, date(2026, 3, 1))
    assert exc.value.code == "business_day_closed"
    assert counts(session) == before
    reverse(session, posted.payment, date(2026, 3, 11))
    nights(session, date(2026, 3, 11), date(2026, 3, 12))
    # Penalty for every day 16 Feb–12 Mar (25 days × 0.50), none lost to the closed spell.
    assert penalty_of(session, loan) == 25 * 50
    assert fresh(session, loan).dpd == 25
    assert_books_ok(session)


def test_reversing_a_settlement_gives_back_everything_it_waived(session):
    """A bounced settlement: the loan owes again exactly what an unsettled twin owes.

    10,000.00 at 12%, 3 months 等额本息 (payment 3,400.22): instalment 1 principal 3,300.22 + interest 100.00,
    instalment 2 3,333.22 + 67.00 (due 15 Mar), instalment 3 3,366.56 + 33.67. Penalty on instalment 1:
    round(3,300.22 × 0.18/360 = 1.65011) = 1.65 a day, 16 Feb–10 Mar = 23 days = 37.95.
    Settled 11 Mar for 1,000.00: 37.95 penalty + 100.00 interest + 862.05 principal paid, the rest
    (2,438.17 + 3,333.22 + 3,366.56 principal) waived; instalment 2's and 3's interest, not yet due, forgone.
    Reversed 21 Mar: the waived principal is owed again, the forgone interest is due again (instalment 2's 67.00
    is recognised by that night), and the penalty 11–20 Mar on instalment 1 (10 × 1.65) and 16–20 Mar on
    instalment 2 (5 × round(1.66661) = 5 × 1.67) is back-valued — on the waived principal as on the paid.
    """
    product = make_product(session, term_months=3)
    loan = make_loan(session, product=product, principal="10000.00")
    twin = make_loan(session, product=product, principal="10000.00")
    nights(session, date(2026, 1, 16), date(2026, 3, 10))
    posted = settle(session, loan, "1000.00", date(2026, 3, 11))
    assert fresh(session, loan).status == "settled"
    nights(session, date(2026, 3, 11), date(2026, 3, 20))
    reverse(session, posted.payment, date(2026, 3, 21))
    assert fresh(session, loan).status == "active"
    assert penalty_of(session, loan, kind="penalty_backvalue") == 10 * 165 + 5 * 167
    nights(session, date(2026, 3, 21), date(2026, 4, 20))
    assert _owed(session, loan) == _owed(session, twin)
    assert penalty_of(session, loan) == penalty_of(session, twin)
    assert_books_ok(session)
