"""Schedule maths (pure): hand-checked worked examples for every method and properties over all inputs.

Convention under test (buyu/ledger/schedule.py): monthly rate r = annual / 12; period interest =
round_half_up(opening balance × r); the last instalment takes the principal that remains.
"""

from __future__ import annotations

import itertools
from datetime import date
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from buyu.ledger.schedule import Method, accrued_interest, add_months, annuity_payment, build_schedule

RATE_12 = 120_000  # 12% a year in millionths; r = 1% a month


def _schedule(method: Method, principal: int = 8_000_000, rate: int = RATE_12, term: int = 12,
              start: date = date(2026, 1, 15)) -> list:
    return build_schedule(principal=principal, annual_rate_micro=rate, term_months=term, method=method,
                          start_date=start)


def test_equal_instalment_worked_example():
    """等额本息 80,000.00 at 12% for 12 months from 2026-01-15 pays 7,107.90 a month, 7,107.93 last.

    A = P·r(1+r)^n/((1+r)^n − 1) = 80,000 × 0.01 × 1.12682503/0.12682503 = 7,107.903 → 7,107.90.
    Month 1: interest 80,000 × 1% = 800.00, principal 7,107.90 − 800.00 = 6,307.90, balance 73,692.10.
    Month 2: interest 736.921 → 736.92, principal 6,370.98, balance 67,321.12.
    Month 12: balance 7,037.55, interest 70.3755 → 70.38, payment 7,037.55 + 70.38 = 7,107.93.
    Total paid 11 × 7,107.90 + 7,107.93 = 85,294.83, so total interest 5,294.83.
    """
    rows = _schedule(Method.EQUAL_INSTALMENT)
    assert annuity_payment(principal=8_000_000, annual_rate_micro=RATE_12, periods=12) == 710_790
    assert len(rows) == 12
    assert (rows[0].interest, rows[0].principal, rows[0].balance_after) == (80_000, 630_790, 7_369_210)
    assert (rows[1].interest, rows[1].principal, rows[1].balance_after) == (73_692, 637_098, 6_732_112)
    assert [r.payment for r in rows[:-1]] == [710_790] * 11
    assert (rows[-1].principal, rows[-1].interest, rows[-1].payment) == (703_755, 7_038, 710_793)
    assert sum(r.interest for r in rows) == 529_483
    assert [r.due_date for r in rows][:2] == [date(2026, 2, 15), date(2026, 3, 15)]
    assert rows[-1].due_date == date(2027, 1, 15)


def test_equal_principal_worked_example():
    """等额本金 80,000.00 at 12% for 12 months: principal 6,666.67 × 11 then 6,666.63; interest on the balance.

    80,000/12 = 6,666.666… → 6,666.67; 11 × 6,666.67 = 73,333.37, so the last takes 6,666.63.
    Opening balances 80,000.00, 73,333.33, 66,666.66, … 6,666.63 give interest (× 1%, half-up)
    800.00, 733.33, 666.67, 600.00, 533.33, 466.67, 400.00, 333.33, 266.67, 200.00, 133.33, 66.67
    = 5,200.00 in total.
    """
    rows = _schedule(Method.EQUAL_PRINCIPAL)
    assert [r.principal for r in rows] == [666_667] * 11 + [666_663]
    assert [r.interest for r in rows] == [80_000, 73_333, 66_667, 60_000, 53_333, 46_667, 40_000, 33_333,
                                          26_667, 20_000, 13_333, 6_667]
    assert sum(r.interest for r in rows) == 520_000


def test_interest_first_worked_example():
    """先息后本 80,000.00 at 12% for 12 months: 800.00 interest each month, the principal with the 12th."""
    rows = _schedule(Method.INTEREST_FIRST)
    assert [(r.principal, r.interest) for r in rows] == [(0, 80_000)] * 11 + [(8_000_000, 80_000)]
    assert [r.balance_after for r in rows] == [8_000_000] * 11 + [0]


def test_bullet_worked_example():
    """Bullet pays P + round(P × annual × n/12) once, at maturity.

    12,345.67 at 15% for 7 months: 12,345.67 × 0.15 = 1,851.8505; × 7/12 = 1,080.246125 → 1,080.25,
    due 2026-01-15 + 7 months = 2026-08-15.
    """
    rows = _schedule(Method.BULLET, principal=1_234_567, rate=150_000, term=7)
    assert len(rows) == 1
    assert (rows[0].seq, rows[0].due_date, rows[0].principal, rows[0].interest) == (
        1, date(2026, 8, 15), 1_234_567, 108_025)


def test_due_dates_clip_to_month_end_and_keep_the_anchor_day():
    """A loan started on the 31st falls due on the last day of short months and returns to the 31st.

    2026 is not a leap year (28 Feb); 2028 is (29 Feb). The anchor day survives a short month:
    after 28 Feb comes 31 Mar, not 28 Mar.
    """
    rows = _schedule(Method.EQUAL_INSTALMENT, term=4, start=date(2026, 1, 31))
    assert [r.due_date for r in rows] == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30),
                                          date(2026, 5, 31)]
    leap = _schedule(Method.EQUAL_PRINCIPAL, term=3, start=date(2028, 1, 31))
    assert [r.due_date for r in leap] == [date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)]
    # A loan started on 29 Feb 2028 falls due on the 29th, and on 28 Feb in 2029.
    feb29 = _schedule(Method.EQUAL_INSTALMENT, term=12, start=date(2028, 2, 29))
    assert feb29[0].due_date == date(2028, 3, 29) and feb29[-1].due_date == date(2029, 2, 28)
    # Rebuilding mid-life from a clipped date keeps the original anchor.
    assert add_months(date(2026, 2, 28), 1, anchor_day=31) == date(2026, 3, 31)
    assert add_months(date(2026, 3, 31), -1, anchor_day=31) == date(2026, 2, 28)


def test_broken_period_interest_is_simple_interest_half_up():
    """accrued_interest = round(P × annual × days / basis): 73,692.10 × 12% × 14/360 = 343.8965 → 343.90."""
    assert accrued_interest(principal=7_369_210, annual_rate_micro=RATE_12, days=14, basis=360) == 34_390
    # ACT/365: 73,692.10 × 0.12 × 14 = 123,802.728; / 365 = 339.185556 → 339.19.
    assert accrued_interest(principal=7_369_210, annual_rate_micro=RATE_12, days=14, basis=365) == 33_919


@settings(max_examples=300, deadline=None)
@given(
    principal=st.integers(min_value=1, max_value=1_000_000_000),
    rate=st.integers(min_value=0, max_value=360_000),
    term=st.integers(min_value=1, max_value=360),
    method=st.sampled_from(list(Method)),
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
)
def test_principal_always_sums_to_the_loan(principal, rate, term, method, start):
    """For every method, term, rate and start date the principal sums exactly to P and nothing is negative.

    Also: due dates strictly increase, monthly on the start's day (clipped), never beyond the term;
    the running balance ends at zero.
    """
    rows = build_schedule(principal=principal, annual_rate_micro=rate, term_months=term, method=method,
                          start_date=start)
    assert sum(r.principal for r in rows) == principal
    assert all(r.principal >= 0 and r.interest >= 0 for r in rows)
    assert rows[-1].balance_after == 0
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    dues = [r.due_date for r in rows]
    assert all(a < b for a, b in itertools.pairwise(dues))
    months = term if method is Method.BULLET else len(rows)
    assert dues[-1] == add_months(start, months) and len(rows) <= term
    balance = principal
    for r in rows:
        balance -= r.principal
        assert r.balance_after == balance


@settings(max_examples=300, deadline=None)
@given(
    principal=st.integers(min_value=100_000, max_value=1_000_000_000),
    rate=st.integers(min_value=1, max_value=360_000),
    term=st.integers(min_value=1, max_value=120),
)
def test_equal_instalment_is_level_and_interest_is_on_the_balance(principal, rate, term):
    """等额本息: every payment but the last equals the annuity; each interest is round(opening balance × r).

    The last payment absorbs the rounding of the others. Each period the balance error grows by
    (1 + r) and gains at most 1 fen (½ from the level's rounding, ½ from the interest's), so the last
    payment is within ((1 + r)^n − 1)/r + 1 fen of the level.
    """
    rows = build_schedule(principal=principal, annual_rate_micro=rate, term_months=term,
                          method=Method.EQUAL_INSTALMENT, start_date=date(2026, 1, 15))
    level = annuity_payment(principal=principal, annual_rate_micro=rate, periods=term)
    assert len(rows) == term
    assert all(r.payment == level for r in rows[:-1])
    monthly = Fraction(rate, 12_000_000)
    assert abs(rows[-1].payment - level) <= ((1 + monthly) ** term - 1) / monthly + 1
    opening = principal
    for row in rows:
        exact = opening * monthly
        assert row.interest - Fraction(1, 2) <= exact < row.interest + Fraction(1, 2)
        opening = row.balance_after
