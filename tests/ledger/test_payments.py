"""Payments on the real databases: the waterfall, customer credit and prepayment, with hand-checked numbers.

Loan A (used throughout): 80,000.00 at 12% for 12 months, 等额本息, from 2026-01-15, penalty 18%, no grace.
Instalment 1 (due 15 Feb): principal 6,307.90, interest 800.00. Instalment 2 (due 15 Mar): principal
6,370.98, interest 736.92. Daily penalty: instalment 1 round(6,307.90 × 0.18/360 = 3.15395) = 3.15;
instalment 2 round(6,370.98 × 0.18/360 = 3.18549) = 3.19.
"""

from __future__ import annotations

from datetime import date

from buyu.ledger import service as svc
from buyu.ledger.journal import loan_balances
from tests.factories import make_loan, make_product
from tests.ledger.helpers import assert_books_ok, fresh, lines, nights, pay

MAR_21 = date(2026, 3, 21)


def _overdue_loans(session, *product_kws):
    """Loan A (one per product variant) with nights run through 20 Mar: instalment 1 is 33 days and
    instalment 2 five days past due.

    Penalty on instalment 1: 16 Feb–20 Mar = 13 + 20 = 33 days × 3.15 = 103.95;
    on instalment 2: 16–20 Mar = 5 days × 3.19 = 15.95.
    """
    loans = [make_loan(session, **kw) for kw in product_kws or ({},)]
    nights(session, date(2026, 1, 16), date(2026, 3, 20))
    for loan in loans:
        first, second = lines(session, loan)[:2]
        assert (first.penalty_fen, second.penalty_fen) == (10_395, 1_595)
        assert fresh(session, loan).dpd == 33
    return loans


def _allocations(session, payment):
    return svc.payment_allocations(session=session, payment=payment)


def test_part_payment_runs_penalty_interest_principal_oldest_first(session):
    """9,000.00 on 21 Mar clears instalment 1 (7,211.85) and pays into instalment 2 in waterfall order.

    Instalment 1: 103.95 + 800.00 + 6,307.90 = 7,211.85; 9,000.00 − 7,211.85 = 1,788.15 left.
    Instalment 2: 15.95 penalty, 736.92 interest, then 1,035.28 of its 6,370.98 principal (5,335.70 open).
    DPD falls from 33 to 6 (instalment 2, due 15 Mar, is now the oldest unpaid).
    """
    (loan,) = _overdue_loans(session)
    posted = pay(session, loan, "9000.00", MAR_21)
    assert _allocations(session, posted.payment) == [
        (1, "penalty", 10_395), (1, "interest", 80_000), (1, "principal", 630_790),
        (2, "penalty", 1_595), (2, "interest", 73_692), (2, "principal", 103_528)]
    first, second = lines(session, loan)[:2]
    assert first.cleared_on == MAR_21 and second.cleared_on is None
    assert second.principal_open_fen == 533_570
    state = fresh(session, loan)
    assert (state.dpd, state.bucket, state.status) == (6, "M1", "active")
    balances = loan_balances(session=session, loan_id=loan.id)
    # 80,000.00 − 6,307.90 − 1,035.28 principal; all booked interest and penalty paid.
    assert balances["principal"] == 8_000_000 - 630_790 - 103_528
    assert balances.get("interest_receivable", 0) == 0 and balances.get("penalty_receivable", 0) == 0
    assert balances["cash"] == -8_000_000 + 900_000
    assert_books_ok(session)


def test_component_first_mode_pays_all_penalty_then_all_interest(session):
    """component_first: 2,000.00 pays 119.90 penalty and 1,536.92 interest on both, then 343.18 principal.

    Under instalment_first the same 2,000.00 would pay 1,096.05 of instalment 1's principal instead
    (103.95 + 800.00 + 1,096.05) and nothing on instalment 2.
    """
    comp, inst = _overdue_loans(session, {"waterfall_mode": "component_first"}, {})
    a = pay(session, comp, "2000.00", MAR_21)
    b = pay(session, inst, "2000.00", MAR_21)
    assert _allocations(session, a.payment) == [
        (1, "penalty", 10_395), (2, "penalty", 1_595), (1, "interest", 80_000), (2, "interest", 73_692),
        (1, "principal", 34_318)]
    assert _allocations(session, b.payment) == [(1, "penalty", 10_395), (1, "interest", 80_000),
                                                 (1, "principal", 109_605)]
    assert fresh(session, comp).dpd == fresh(session, inst).dpd == 34  # instalment 1 is still open
    assert_books_ok(session)


def test_money_beyond_what_is_due_waits_as_credit_and_meets_the_next_instalment(session):
    """10,000.00 paid on 15 Feb clears instalment 1 (7,107.90); 2,892.10 is held as customer credit and applied
    by the night of 15 Mar to instalment 2 (interest 736.92 first, then 2,155.18 principal)."""
    loan = make_loan(session)
    posted = pay(session, loan, "10000.00", date(2026, 2, 15))
    assert _allocations(session, posted.payment) == [(1, "interest", 80_000), (1, "principal", 630_790),
                                                      (None, "credit", 289_210)]
    assert fresh(session, loan).credit_fen == 289_210
    nights(session, date(2026, 2, 15), date(2026, 3, 15))
    second = lines(session, loan)[1]
    assert (second.interest_paid_fen, second.principal_paid_fen) == (73_692, 215_518)
    assert fresh(session, loan).credit_fen == 0
    nights(session, date(2026, 3, 16), date(2026, 3, 17))
    assert fresh(session, loan).dpd == 2  # the credit did not cover instalment 2: it is overdue
    assert_books_ok(session)


def _prepaid(session, mode):
    """Loan A, instalment 1 paid on its due date, then 20,000.00 prepaid on 1 Mar 2026.

    Open principal 73,692.10; the period began 15 Feb, so 14 days of broken-period interest at
    12%/360: factor 0.12 × 14/360 = 0.004666…; payoff 73,692.10 + 343.90 = 74,036.00.
    The 20,000.00 splits into principal 20,000.00/1.004666… = 19,907.10 and interest 92.90
    (check: 19,907.10 × 0.004666… = 92.8998). New principal 73,692.10 − 19,907.10 = 53,785.00.
    """
    product = make_product(session, prepayment_mode=mode)
    loan = make_loan(session, product=product)
    pay(session, loan, "7107.90", date(2026, 2, 15))
    posted = pay(session, loan, "20000.00", date(2026, 3, 1), kind="prepayment")
    balances = loan_balances(session=session, loan_id=loan.id)
    assert balances["principal"] == 8_000_000 - 630_790 - 1_990_710 == 5_378_500
    assert balances["interest_income"] == -(80_000 + 9_290)
    assert balances.get("interest_receivable", 0) == 0
    assert fresh(session, loan).schedule_version == 2
    assert_books_ok(session)
    return loan, posted


def test_prepayment_reamortises_over_the_remaining_term(session):
    """Re-amortise: 53,785.00 over the 11 remaining months at 1%: payment 5,187.78, still ending 15 Jan 2027.

    A = 53,785.00 × 0.01 × 1.01¹¹/(1.01¹¹ − 1) = 5,187.7825 → 5,187.78. First line: interest 537.85
    (a full month on the new balance from 15 Feb), principal 4,649.93; last line 5,136.45 + 51.36.
    """
    loan, _ = _prepaid(session, "reamortise")
    new = lines(session, loan)[1:]
    assert [line.seq for line in new] == list(range(2, 13))
    assert {line.schedule_version for line in new} == {2}
    assert (new[0].due_date, new[0].interest_fen, new[0].principal_fen) == (date(2026, 3, 15), 53_785, 464_993)
    assert all(line.interest_fen + line.principal_fen == 518_778 for line in new[:-1])
    assert (new[-1].due_date, new[-1].principal_fen, new[-1].interest_fen) == (date(2027, 1, 15), 513_645, 5_136)
    assert sum(line.principal_fen for line in new) == 5_378_500


def test_prepayment_shortens_the_term_keeping_the_payment(session):
    """Shorten: keep 7,107.90 a month; the fewest months whose annuity fits is 8 (7,029.18 ≤ 7,107.90 < 7,993.97
    for 7), so the loan now ends 15 Oct 2026. First line: 537.85 interest + 6,570.05 principal; last 6,391.71 +
    63.92 = 6,455.63."""
    loan, _ = _prepaid(session, "shorten")
    new = lines(session, loan)[1:]
    assert [line.seq for line in new] == list(range(2, 10))
    assert (new[0].interest_fen, new[0].principal_fen) == (53_785, 657_005)
    assert all(line.interest_fen + line.principal_fen == 710_790 for line in new[:-1])
    assert (new[-1].due_date, new[-1].principal_fen, new[-1].interest_fen) == (date(2026, 10, 15), 639_171, 6_392)
    assert sum(line.principal_fen for line in new) == 5_378_500


def test_full_prepayment_closes_the_loan(session):
    """Paying the payoff (74,036.00 on 1 Mar after instalment 1) retires every future instalment and closes it."""
    loan = make_loan(session)
    pay(session, loan, "7107.90", date(2026, 2, 15))
    pay(session, loan, "74036.00", date(2026, 3, 1), kind="prepayment")
    state = fresh(session, loan)
    assert (state.status, state.closed_on) == ("closed", date(2026, 3, 1))
    balances = loan_balances(session=session, loan_id=loan.id)
    assert balances.get("principal", 0) == 0 and balances.get("interest_receivable", 0) == 0
    assert balances["interest_income"] == -(80_000 + 34_390)
    assert_books_ok(session)


def test_closing_an_overdue_loan_resets_its_delinquency(session):
    """A loan paid off while 5 days late is closed with DPD 0 and bucket M0, not frozen at its last arrears."""
    loan = make_loan(session, principal="1000.00", term_months=1)
    nights(session, date(2026, 1, 16), date(2026, 2, 20))
    assert fresh(session, loan).dpd == 5
    # 1,000.00 + 10.00 interest + 5 days × round(1,000.00 × 0.18/360 = 0.50) = 1,012.50.
    pay(session, loan, "1012.50", date(2026, 2, 21))
    state = fresh(session, loan)
    assert (state.status, state.dpd, state.bucket, state.delinquent_since) == ("closed", 0, "M0", None)
