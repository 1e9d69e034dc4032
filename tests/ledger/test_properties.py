"""Property tests on the real databases: random life stories of loans keep the books whole.

Each example originates two loans on random products and plays a random sequence of operations on
random dates — repayments, prepayments, reversals, settlements, write-offs, restructures — with every
night run in between, as production does (postings of day D come after the night of D − 1). A refused
operation (a BuyuError) is rolled back to its savepoint, as the unit of work would; any other exception
fails the test. Then:

* every journal entry balances and the journal's per-loan balances equal the sub-ledger (check_ledger);
* replaying the journal reproduces every night: loan_state(D), folded from the postings booked by D, equals
  the delinquency snapshot the night of D took, for every loan and every night — although later payments,
  reversals and restructures were posted after it;
* closed, settled and written-off loans owe nothing on the books and are not delinquent.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from buyu.errors import BuyuError, Conflict, InvalidInput
from buyu.ledger.check import journal_balances
from buyu.ledger.models import DelinquencySnapshot, EodRun, Payment, Posting
from buyu.ledger.state import loan_state
from buyu.ledger.waterfall import COMPONENTS
from tests.factories import make_loan, make_product
from tests.ledger.helpers import (
    assert_books_ok,
    fresh,
    lines,
    night,
    pay,
    restructure,
    reverse,
    settle,
    write_off,
)

PRODUCTS = st.fixed_dictionaries({
    "method": st.sampled_from(["equal_instalment", "equal_principal", "interest_first", "bullet"]),
    "annual_rate": st.sampled_from(["0", "0.12", "0.2399", "0.36"]),
    "term_months": st.integers(min_value=1, max_value=3),
    "penalty_rate": st.sampled_from(["0", "0.18", "0.365", "1"]),
    "grace_days": st.sampled_from([0, 0, 3]),
    "waterfall": st.permutations(COMPONENTS).map(",".join),
    "waterfall_mode": st.sampled_from(["instalment_first", "component_first"]),
    "day_count": st.sampled_from(["ACT/360", "ACT/365"]),
    "prepayment_mode": st.sampled_from(["reamortise", "shorten"]),
})
KINDS = ["pay"] * 8 + ["prepay"] * 3 + ["reverse"] * 5 + ["settle"] * 2 + ["write_off", "restructure"]
OPS = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(min_value=0, max_value=1),  # which loan
        st.integers(min_value=0, max_value=20),  # days since the previous operation
        st.integers(min_value=1, max_value=110),  # amount as a percentage of the principal / choice of payment
    ),
    min_size=1,
    max_size=7,
)


def _examples(session, *, sqlite: int, postgres: int) -> int:
    """Examples per run: PostgreSQL round trips cost about twice SQLite's; BUYU_PROPERTY_SCALE widens a search."""
    scale = float(os.environ.get("BUYU_PROPERTY_SCALE", "1"))
    return max(1, round(scale * (sqlite if session.bind.dialect.name == "sqlite" else postgres)))


def _amount(principal: int, pct: int) -> str:
    return str(Decimal(max(principal * pct // 100, 1)).scaleb(-2))


def _play(session, loan, kind: str, pct: int, today: date) -> None:
    """One operation on one loan on `today`."""
    if kind == "pay":
        pay(session, loan, _amount(loan.principal_fen // 4, pct), today)
    elif kind == "prepay":
        pay(session, loan, _amount(loan.principal_fen, pct), today, kind="prepayment")
    elif kind == "settle":
        settle(session, loan, _amount(loan.principal_fen, pct), today)
    elif kind == "write_off":
        write_off(session, loan, today)
    elif kind == "restructure":
        restructure(session, loan, today, 1 + pct % 4)
    else:
        posted = select(Payment.id).where(Payment.status == "posted").order_by(Payment.id)
        ids = session.scalars(posted.where(Payment.loan_id == loan.id)).all() or session.scalars(posted).all()
        if not ids:
            raise Conflict("nothing to reverse", code="nothing_to_reverse")
        # Mostly the latest (LIFO allows it); sometimes an older one, which must be refused cleanly.
        reverse(session, ids[-1] if pct % 3 else ids[pct % len(ids)], today)


def _assert_replay(session, loans, nights_run: list[date]) -> None:
    """loan_state(D) from the journal == the snapshot the night of D took, for every loan and night."""
    snaps = {(s.as_of, s.loan_id): s for s in session.scalars(select(DelinquencySnapshot))}
    for loan in loans:
        loan = fresh(session, loan)
        for d in nights_run:
            state = loan_state(session=session, loan=loan, as_of=d)
            snap = snaps.get((d, loan.id))
            delinquent = state.status == "active" and state.dpd > 0
            assert (snap is not None) == delinquent, (d, loan.id, state)
            if snap is not None:
                assert (snap.dpd, snap.bucket, snap.overdue_principal_fen, snap.overdue_interest_fen,
                        snap.penalty_fen, snap.outstanding_fen) == (
                    state.dpd, state.bucket, state.overdue_principal, state.overdue_interest, state.penalty,
                    state.outstanding), (d, loan.id)


def _assert_finished_loans_owe_nothing(session, loans) -> None:
    journal = journal_balances(session=session)
    for loan in loans:
        loan = fresh(session, loan)
        receivable = [journal.get((loan.id, a), 0) for a in ("principal", "interest_receivable",
                                                              "penalty_receivable")]
        assert all(x >= 0 for x in receivable) and journal.get((loan.id, "customer_credit"), 0) <= 0
        if loan.status != "active":
            assert receivable == [0, 0, 0], (loan.status, receivable)
        if loan.status in ("closed", "settled"):
            assert (loan.dpd, loan.bucket) == (0, "M0")


def _assert_entries_balance(session) -> None:
    """Debits equal credits in every entry (txn), and every posting is a positive whole-fen amount."""
    rows = session.execute(select(Posting.txn, func.count(), func.min(Posting.amount_fen))
                           .group_by(Posting.txn)).all()
    assert all(n >= 1 and low > 0 for _, n, low in rows)
    journal = journal_balances(session=session)
    per_loan: dict[int, int] = {}
    for (loan_id, _), amount in journal.items():
        per_loan[loan_id] = per_loan.get(loan_id, 0) + amount
    assert set(per_loan.values()) <= {0}


def test_random_operations_keep_the_books_and_replay_every_night(session):
    """After any random sequence of operations and nights: entries balance, check_ledger is ok, every night's
    snapshot is reproduced by replaying the journal, and finished loans owe nothing."""
    examples = _examples(session, sqlite=16, postgres=6)

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])
    @given(products=st.lists(PRODUCTS, min_size=2, max_size=2),
           principals=st.lists(st.integers(min_value=10_000, max_value=5_000_000), min_size=2, max_size=2),
           start=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
           ops=OPS, tail=st.integers(min_value=0, max_value=25))
    def run(products, principals, start, ops, tail):
        outer = session.begin_nested()
        try:
            loans = [make_loan(session, product=make_product(session, **p), principal=_amount(n, 100),
                               disbursed_on=start) for p, n in zip(products, principals, strict=True)]
            today = start
            nights_run: list[date] = []

            def nights_before(day: date) -> None:
                d = nights_run[-1] + timedelta(days=1) if nights_run else start
                while d < day:
                    night(session, d)
                    nights_run.append(d)
                    d += timedelta(days=1)

            for kind, which, step, pct in ops:
                today += timedelta(days=step)
                nights_before(today)
                loan = fresh(session, loans[which])
                try:
                    with session.begin_nested():
                        _play(session, loan, kind, pct, today)
                    event(f"{kind}: done")
                except BuyuError as exc:
                    event(f"{kind}: refused {exc.code}")
            nights_before(today + timedelta(days=tail + 1))
            session.flush()
            _assert_entries_balance(session)
            assert_books_ok(session)
            _assert_replay(session, loans, nights_run)
            _assert_finished_loans_owe_nothing(session, loans)
            assert session.scalar(select(func.count()).select_from(EodRun)) >= len(nights_run)
        finally:
            outer.rollback()

    run()


def _owed(session, loan):
    state = fresh(session, loan)
    journal = journal_balances(session=session)
    per_line = [(ln.seq, ln.due_date, ln.principal_open_fen,
                 ln.interest_booked_fen - ln.interest_paid_fen - ln.interest_waived_fen,
                 ln.penalty_fen - ln.penalty_paid_fen - ln.penalty_waived_fen, ln.cleared_on is None)
                for ln in lines(session, loan)]
    balances = [journal.get((loan.id, a), 0) for a in ("principal", "interest_receivable", "penalty_receivable",
                                                        "customer_credit")]
    return balances, state.status, state.dpd, state.bucket, state.credit_fen, per_line


def test_a_reversed_payment_is_as_if_never_made(session):
    """For any product, repayment or prepayment amount and dates: after reversing it (and the same nights), the
    loan owes exactly what an identical loan that never received it owes — balances, DPD, each instalment, to
    the fen (a reversed prepayment's schedule comes back instalment for instalment)."""
    examples = _examples(session, sqlite=12, postgres=5)

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])
    @given(product=PRODUCTS.filter(lambda p: p["method"] != "bullet" or p["term_months"] == 1),
           principal=st.integers(min_value=10_000, max_value=5_000_000),
           pay_after=st.integers(min_value=1, max_value=60), pct=st.integers(min_value=1, max_value=130),
           kind=st.sampled_from(["repayment", "repayment", "prepayment"]),
           reverse_after=st.integers(min_value=0, max_value=25), tail=st.integers(min_value=0, max_value=15))
    def run(product, principal, pay_after, pct, kind, reverse_after, tail):
        outer = session.begin_nested()
        try:
            start = date(2026, 1, 31)
            prod = make_product(session, **product)
            loan, twin = (make_loan(session, product=prod, principal=_amount(principal, 100), disbursed_on=start)
                          for _ in range(2))
            paid_on = start + timedelta(days=pay_after)
            reversed_on = paid_on + timedelta(days=reverse_after)
            day = start
            while day < paid_on:
                night(session, day)
                day += timedelta(days=1)
            try:
                with session.begin_nested():
                    posted = pay(session, loan, _amount(principal // 3, pct), paid_on, kind=kind)
            except InvalidInput as exc:
                assert exc.code in ("amount_exceeds_payoff", "nothing_to_prepay")
                event(f"{kind} refused")
                return
            while day < reversed_on:
                night(session, day)
                day += timedelta(days=1)
            try:
                with session.begin_nested():
                    reverse(session, posted.payment, reversed_on)
            except Conflict as exc:
                # Its credit met an instalment that fell due, or the prepaid schedule's first instalment fell
                # due: the reversal is rightly refused.
                assert exc.code in ("credit_already_applied", "prepayment_reversal_window_passed")
                event(exc.code)
                return
            while day <= reversed_on + timedelta(days=tail):
                night(session, day)
                day += timedelta(days=1)
            assert _owed(session, loan) == _owed(session, twin)
            assert_books_ok(session)
        finally:
            outer.rollback()

    run()
