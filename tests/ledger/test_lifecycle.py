"""Loan life events on the real databases: settlement, write-off and recovery, restructure.

Loan B (used throughout): 10,000.00 at 12% for 3 months, 等额本息, from 2026-01-15, penalty 18%, no grace.
A = 10,000 × 0.01 × 1.030301/0.030301 = 3,400.2211 → 3,400.22.
  1: 15 Feb, interest 100.00, principal 3,300.22 (balance 6,699.78)
  2: 15 Mar, interest round(66.9978) = 67.00, principal 3,333.22 (balance 3,366.56)
  3: 15 Apr, interest round(33.6656) = 33.67, principal 3,366.56
Daily penalty on instalment 1: round(3,300.22 × 0.18/360 = 1.65011) = 1.65.
With nights through 10 Mar: 16 Feb–10 Mar = 23 days → 37.95 penalty; DPD 23.
"""

from __future__ import annotations

from datetime import date

import pytest

from buyu.errors import Conflict, InvalidInput
from buyu.ledger.journal import loan_balances
from buyu.ledger.state import loan_state
from tests.factories import make_loan
from tests.ledger.helpers import (
    assert_books_ok,
    counts,
    fresh,
    lines,
    nights,
    pay,
    restructure,
    settle,
    write_off,
)

MAR_11 = date(2026, 3, 11)
OWED_MAR_11 = 330_022 + 10_000 + 3_795 + 333_322 + 336_656  # = 1,013,795: principal, booked interest, penalty


def _loan_b(session, **kw):
    loan = make_loan(session, principal="10000.00", term_months=3, **kw)
    nights(session, date(2026, 1, 16), date(2026, 3, 10))
    first = lines(session, loan)[0]
    assert (first.principal_fen, first.interest_fen, first.penalty_fen) == (330_022, 10_000, 3_795)
    assert fresh(session, loan).dpd == 23
    return loan


def test_settlement_waives_the_rest_and_loses_nothing(session):
    """Settled on 11 Mar for 8,000.00 against 10,137.95 owed: 2,137.95 goes to waiver_expense, the loan is settled.

    Owed = 10,000.00 principal + 100.00 booked interest + 37.95 penalty = 10,137.95 (instalments 2 and 3's
    interest is not yet due: forgone, never owed). Waterfall: 37.95 + 100.00 + 3,300.22 + 3,333.22 +
    1,228.61 (of instalment 3's principal) = 8,000.00; waived 3,366.56 − 1,228.61 = 2,137.95.
    paid + waived = 8,000.00 + 2,137.95 = 10,137.95 = owed.
    """
    loan = _loan_b(session)
    posted = settle(session, loan, "8000.00", MAR_11)
    assert posted.payment.kind == "settlement" and not posted.replayed
    balances = loan_balances(session=session, loan_id=loan.id)
    assert balances["waiver_expense"] == 213_795
    assert 800_000 + balances["waiver_expense"] == OWED_MAR_11
    assert all(balances.get(a, 0) == 0 for a in ("principal", "interest_receivable", "penalty_receivable"))
    assert balances["cash"] == -1_000_000 + 800_000
    state = fresh(session, loan)
    assert (state.status, state.closed_on, state.dpd, state.bucket) == ("settled", MAR_11, 0, "M0")
    third = lines(session, loan)[2]
    assert (third.principal_paid_fen, third.principal_waived_fen) == (122_861, 213_795)
    assert_books_ok(session)


def test_settlement_above_the_payoff_is_refused_and_writes_nothing(session):
    """10,137.96 is one fen above the 11 Mar payoff: amount_exceeds_payoff, no payment, no postings."""
    loan = _loan_b(session)
    before = counts(session)
    with pytest.raises(InvalidInput) as exc:
        settle(session, loan, "10137.96", MAR_11)
    assert exc.value.code == "amount_exceeds_payoff"
    assert counts(session) == before
    settle(session, loan, "10137.95", MAR_11)  # the exact payoff settles with nothing waived
    assert loan_balances(session=session, loan_id=loan.id).get("waiver_expense", 0) == 0


def test_write_off_then_recovery(session):
    """Write-off on 11 Mar charges off 10,137.95 (principal, booked interest, penalty); a later 500.00 is recovery.

    The written-off loan owes nothing on the books, keeps ageing for collections (DPD 29 on 16 Mar), refuses
    more recovery than was written off, and its journal agrees with the sub-ledger.
    """
    loan = _loan_b(session)
    write_off(session, loan, MAR_11)
    state = fresh(session, loan)
    assert (state.status, state.written_off_on, state.written_off_fen) == ("written_off", MAR_11, OWED_MAR_11)
    balances = loan_balances(session=session, loan_id=loan.id)
    assert balances["writeoff_expense"] == OWED_MAR_11
    assert all(balances.get(a, 0) == 0 for a in ("principal", "interest_receivable", "penalty_receivable"))
    nights(session, MAR_11, date(2026, 3, 16))
    assert loan_balances(session=session, loan_id=loan.id).get("penalty_receivable", 0) == 0  # no more accrual
    assert fresh(session, loan).dpd == 29  # the night of 16 Mar: 16 Mar − 15 Feb
    posted = pay(session, loan, "500.00", date(2026, 3, 17))
    assert posted.payment.amount_fen == 50_000
    balances = loan_balances(session=session, loan_id=loan.id)
    assert balances["recovery_income"] == -50_000 and balances["cash"] == -1_000_000 + 50_000
    state = fresh(session, loan)
    assert (state.status, state.recovered_fen) == ("written_off", 50_000)
    before = counts(session)
    with pytest.raises(InvalidInput) as exc:
        pay(session, loan, "9637.96", date(2026, 3, 17))  # 10,137.95 − 500.00 + 0.01
    assert exc.value.code == "amount_exceeds_balance"
    assert counts(session) == before
    with pytest.raises(Conflict) as conflict:
        settle(session, loan, "100.00", date(2026, 3, 17))
    assert conflict.value.code == "loan_written_off"
    assert_books_ok(session)


def test_restructure_capitalises_arrears_and_resets_dpd(session):
    """Restructured on 11 Mar over 6 months: 100.00 interest + 37.95 penalty are capitalised onto 10,000.00.

    New principal 10,137.95 at 1%/month: A = 10,137.95 × 0.01 × 1.01⁶/(1.01⁶ − 1) = 1,749.2867 → 1,749.29;
    first line due 11 Apr: interest round(101.3795) = 101.38, principal 1,647.91; last due 11 Sep 2026.
    DPD goes 23 → 0 and stays 0 until the new first due date; the journal owes exactly the new principal.
    """
    loan = _loan_b(session)
    restructure(session, loan, MAR_11, 6)
    state = fresh(session, loan)
    assert (state.dpd, state.bucket, state.delinquent_since) == (0, "M0", None)
    assert (state.schedule_version, state.restructure_count, state.anchor_day) == (2, 1, 11)
    new = lines(session, loan)
    assert [ln.schedule_version for ln in new] == [2] * 6
    assert (new[0].due_date, new[0].interest_fen, new[0].principal_fen) == (date(2026, 4, 11), 10_138, 164_791)
    assert all(ln.principal_fen + ln.interest_fen == 174_929 for ln in new[:-1])
    assert new[-1].due_date == date(2026, 9, 11)
    assert sum(ln.principal_fen for ln in new) == OWED_MAR_11
    balances = loan_balances(session=session, loan_id=loan.id)
    assert balances["principal"] == OWED_MAR_11
    assert balances.get("interest_receivable", 0) == balances.get("penalty_receivable", 0) == 0
    nights(session, MAR_11, date(2026, 4, 11))
    assert fresh(session, loan).dpd == 0
    nights(session, date(2026, 4, 12), date(2026, 4, 13))
    assert fresh(session, loan).dpd == 2
    assert_books_ok(session)


def test_restructure_capitalising_penalty_of_a_paid_instalment_is_replayed_correctly(session):
    """With waterfall interest→principal→penalty, instalment 1 can be cleared while its penalty stays open;
    a restructure capitalises that penalty. Rebuilt from the journal, the state after it shows no arrears
    (the capitalisation moves the penalty into the new principal; it does not reopen instalment 1)."""
    loan = _loan_b(session, waterfall="interest,principal,penalty")
    pay(session, loan, "3400.22", MAR_11)  # 100.00 interest + 3,300.22 principal; 37.95 penalty left
    first = lines(session, loan)[0]
    assert first.cleared_on == MAR_11 and first.penalty_fen - first.penalty_paid_fen == 3_795
    restructure(session, loan, date(2026, 3, 12), 6)
    nights(session, date(2026, 3, 12), date(2026, 3, 20))
    replayed = loan_state(session=session, loan=fresh(session, loan), as_of=date(2026, 3, 20))
    assert (replayed.dpd, replayed.overdue_principal, replayed.overdue_interest) == (0, 0, 0)
    assert replayed.principal_outstanding == 333_322 + 336_656 + 3_795
    assert fresh(session, loan).dpd == 0
    assert_books_ok(session)
