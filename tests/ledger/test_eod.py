"""The nightly run (`run_eod`, committing each night itself) on fresh migrated SQLite databases.

run_eod for a date already done answers with that night's result and posts nothing; running many missed
nights at once ends in exactly the state of running them one by one; and the nights it ran can be replayed
from the journal.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from buyu.db import make_engine, unit_of_work
from buyu.errors import Conflict
from buyu.ledger.check import check_ledger
from buyu.ledger.models import DelinquencySnapshot, EodRun, Loan, Payment, Posting
from buyu.ledger.models import ScheduleLine as Line
from buyu.ledger.state import loan_state
from buyu.migrate import upgrade
from buyu.pipeline.eod import first_pending_day, run_eod
from tests.factories import make_loan, make_product
from tests.ledger.helpers import pay, reverse

START = date(2026, 1, 15)
END = date(2026, 4, 20)


def _portfolio(engine: Engine) -> None:
    """Four loans whose nights differ: one never paid, one overpaid (credit applied at night), one with grace
    on ACT/365, one part-paid under component_first."""
    with unit_of_work(engine) as s:
        make_loan(s, principal="5000.00", term_months=3)
        overpaid = make_loan(s, principal="3000.00", term_months=3, method="equal_principal")
        make_loan(s, principal="2000.00", term_months=2, grace_days=3, day_count="ACT/365", penalty_rate="0.5")
        part = make_loan(s, principal="4000.00", term_months=4, waterfall_mode="component_first")
        pay(s, overpaid, "2500.00", date(2026, 1, 20), idem=f"over-{overpaid.id}")
        pay(s, part, "300.00", date(2026, 1, 20), idem=f"part-{part.id}")


def _state(engine: Engine) -> dict[str, object]:
    """Everything the nights write, without surrogate ids."""
    with unit_of_work(engine) as s:
        return {
            "journal": sorted(s.execute(select(Posting.txn, Posting.leg, Posting.kind, Posting.loan_id,
                                               Posting.booking_date, Posting.debit, Posting.credit,
                                               Posting.amount_fen, Posting.instalment_id)).all()),
            "loans": sorted(s.execute(select(Loan.id, Loan.status, Loan.dpd, Loan.bucket, Loan.delinquent_since,
                                             Loan.accrued_through, Loan.credit_fen, Loan.closed_on)).all()),
            "lines": sorted(s.execute(select(Line.id, Line.interest_booked_fen, Line.penalty_fen,
                                             Line.principal_open_fen, Line.interest_paid_fen, Line.cleared_on)).all()),
            "snapshots": sorted(s.execute(select(DelinquencySnapshot.as_of, DelinquencySnapshot.loan_id,
                                                 DelinquencySnapshot.dpd, DelinquencySnapshot.bucket,
                                                 DelinquencySnapshot.overdue_principal_fen,
                                                 DelinquencySnapshot.overdue_interest_fen,
                                                 DelinquencySnapshot.penalty_fen,
                                                 DelinquencySnapshot.outstanding_fen)).all()),
            "nights": sorted(s.execute(select(EodRun.as_of, EodRun.status, EodRun.stats)).all()),
        }


@pytest.fixture
def second_engine(tmp_path: Path):
    """Another brand-new migrated SQLite database, to run the same story a second way."""
    engine = make_engine(f"sqlite:///{tmp_path / 'second.db'}")
    upgrade(str(engine.url))
    yield engine
    engine.dispose()


def test_run_eod_twice_gives_the_same_result_and_posts_nothing_the_second_time(fresh_engine):
    """The second run for the same date reports already_done with the first run's figures; no row changes."""
    _portfolio(fresh_engine)
    first = run_eod(engine=fresh_engine, as_of=date(2026, 3, 1))
    assert first["already_done"] is False and first["nights_run"] == (date(2026, 3, 1) - START).days
    assert first["penalty_fen"] > 0 and first["delinquent_loans"] >= 1
    before = _state(fresh_engine)
    second = run_eod(engine=fresh_engine, as_of=date(2026, 3, 1))
    assert second["already_done"] is True
    assert {k: v for k, v in second.items() if k not in ("already_done", "nights_run")} == {
        k: v for k, v in first.items() if k not in ("already_done", "nights_run")}
    assert _state(fresh_engine) == before
    # An earlier date, already covered by the catch-up, is also a no-op.
    assert run_eod(engine=fresh_engine, as_of=date(2026, 2, 10))["already_done"] is True
    assert _state(fresh_engine) == before


def test_catch_up_over_missed_nights_equals_night_by_night(fresh_engine, second_engine):
    """One run_eod over 95 missed nights leaves the same journal, loans, instalments, snapshots and night
    records as 95 runs of one night each."""
    _portfolio(fresh_engine)
    _portfolio(second_engine)
    assert first_pending_day(engine=fresh_engine, as_of=END) == START + timedelta(days=1)
    caught_up = run_eod(engine=fresh_engine, as_of=END)
    assert caught_up["nights_run"] == (END - START).days
    day = START + timedelta(days=1)
    while day <= END:
        assert run_eod(engine=second_engine, as_of=day)["nights_run"] == 1
        day += timedelta(days=1)
    one_by_one = _state(second_engine)
    assert one_by_one["snapshots"] and one_by_one["journal"]
    assert _state(fresh_engine) == one_by_one
    with unit_of_work(fresh_engine) as s:
        assert check_ledger(session=s).ok


def test_nights_run_by_run_eod_replay_from_the_journal_after_later_postings(fresh_engine):
    """Snapshots written by run_eod are reproduced by loan_state for every night, even after a payment, its
    reversal and a later night were posted on top; the closed days stay closed to late postings."""
    _portfolio(fresh_engine)
    run_eod(engine=fresh_engine, as_of=date(2026, 3, 20))
    with unit_of_work(fresh_engine) as s:
        loan_id = s.scalar(select(func.min(Loan.id)))
        posted = pay(s, loan_id, "2000.00", date(2026, 3, 21), idem="late-1")
    run_eod(engine=fresh_engine, as_of=date(2026, 3, 25))
    with unit_of_work(fresh_engine) as s:
        reverse(s, posted.payment.id, date(2026, 3, 26))
        with pytest.raises(Conflict) as exc:
            pay(s, loan_id, "1.00", date(2026, 3, 25), idem="too-late")
        assert exc.value.code == "business_day_closed"
    run_eod(engine=fresh_engine, as_of=date(2026, 4, 5))
    with unit_of_work(fresh_engine) as s:
        assert s.get(Payment, posted.payment.id).status == "reversed"
        snaps = {(x.as_of, x.loan_id): x for x in s.scalars(select(DelinquencySnapshot))}
        assert snaps
        for loan in s.scalars(select(Loan)):
            day = START + timedelta(days=1)
            while day <= date(2026, 4, 5):
                state = loan_state(session=s, loan=loan, as_of=day)
                snap = snaps.get((day, loan.id))
                assert (snap is not None) == (state.status == "active" and state.dpd > 0), (day, loan.id)
                if snap is not None:
                    assert (snap.dpd, snap.bucket, snap.overdue_principal_fen, snap.overdue_interest_fen,
                            snap.penalty_fen, snap.outstanding_fen) == (
                        state.dpd, state.bucket, state.overdue_principal, state.overdue_interest, state.penalty,
                        state.outstanding), (day, loan.id)
                day += timedelta(days=1)
        assert check_ledger(session=s).ok


def test_first_pending_day_starts_at_the_oldest_unaccrued_loan(fresh_engine):
    """With no night run yet, catch-up starts the day after the oldest loan's disbursement; after a run, the day
    after it."""
    with unit_of_work(fresh_engine) as s:
        product = make_product(s)
        make_loan(s, product=product, disbursed_on=date(2026, 3, 1))
        make_loan(s, product=product, disbursed_on=date(2026, 2, 10))
    assert first_pending_day(engine=fresh_engine, as_of=date(2026, 3, 5)) == date(2026, 2, 11)
    run_eod(engine=fresh_engine, as_of=date(2026, 3, 5))
    assert first_pending_day(engine=fresh_engine, as_of=date(2026, 3, 9)) == date(2026, 3, 6)
