"""The nightly collections step: cases open when DPD turns positive and close on cure, close or settlement."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from buyu.collections import service as svc
from buyu.collections.models import CollectionCase, ContactPoint, Promise
from buyu.db import unit_of_work
from buyu.ledger.eod import ledger_day
from buyu.ledger.models import Borrower, EodRun
from buyu.pipeline.eod import run_eod
from tests.collections.helpers import idem
from tests.factories import make_loan
from tests.ledger.helpers import pay, settle, write_off

FIRST_DUE = date(2026, 2, 15)


def cases(session: Session, loan_id: int) -> list[CollectionCase]:
    session.expire_all()
    return list(session.scalars(select(CollectionCase).where(CollectionCase.loan_id == loan_id)
                                .order_by(CollectionCase.id)))


def night(session: Session, day: date) -> svc.CollectionsDayStats:
    """The ledger's night, then the collections step, in one transaction (what run_eod does)."""
    ledger_day(session=session, day=day)
    return svc.collections_day(session=session, as_of=day)


def test_case_opens_once_and_closes_on_cure(session: Session) -> None:
    """Missed 15 Feb instalment: the 16 Feb night opens one M1 case (DPD 1) and a 'self' contact point; a rerun adds
    nothing; paying the arrears on 17 Feb cures the loan and that night closes the case as 'cured'."""
    loan = make_loan(session)
    night(session, date(2026, 2, 15))
    assert cases(session, loan.id) == []
    stats = night(session, date(2026, 2, 16))
    assert stats.cases_opened >= 1
    [case] = cases(session, loan.id)
    assert (case.status, case.opened_on, case.bucket_at_open, case.dpd_at_open) == ("open", date(2026, 2, 16), "M1", 1)
    points = session.scalars(select(ContactPoint).where(ContactPoint.borrower_id == loan.borrower_id)).all()
    borrower = session.get(Borrower, loan.borrower_id)
    assert borrower is not None and [(p.kind, p.phone) for p in points] == [("self", borrower.phone)]
    svc.collections_day(session=session, as_of=date(2026, 2, 16))
    assert len(cases(session, loan.id)) == 1
    pay(session, loan, "7200.00", date(2026, 2, 17), idem=idem())
    svc.collections_day(session=session, as_of=date(2026, 2, 17))
    [closed] = cases(session, loan.id)
    assert (closed.status, closed.closed_on, closed.close_reason) == ("closed", date(2026, 2, 17), "cured")


def test_second_delinquency_opens_a_new_case(session: Session) -> None:
    """After a cure, missing the next instalment (15 Mar) opens a second case; only one is ever open."""
    loan = make_loan(session)
    night(session, date(2026, 2, 16))
    pay(session, loan, "7200.00", date(2026, 2, 17), idem=idem())
    svc.collections_day(session=session, as_of=date(2026, 2, 17))
    night(session, date(2026, 3, 16))
    statuses = [(c.status, c.opened_on) for c in cases(session, loan.id)]
    assert statuses == [("closed", date(2026, 2, 16)), ("open", date(2026, 3, 16))]


def test_settled_and_closed_loans_close_written_off_stay(session: Session) -> None:
    """Three delinquent loans: the settled one closes 'settled', the fully repaid one 'closed', the written-off one
    stays open (collections keep working it)."""
    settled, repaid, charged = make_loan(session), make_loan(session, principal="1000.00", term_months=1), \
        make_loan(session)
    night(session, date(2026, 2, 16))
    assert all(len(cases(session, x.id)) == 1 for x in (settled, repaid, charged))
    settle(session, settled, "50000.00", date(2026, 2, 18), idem=idem())
    pay(session, repaid, "1020.00", date(2026, 2, 18), idem=idem())
    write_off(session, charged, date(2026, 2, 18))
    stats = svc.collections_day(session=session, as_of=date(2026, 2, 18))
    assert stats.close_reasons.get("settled", 0) >= 1 and stats.close_reasons.get("closed", 0) >= 1
    assert [(c.status, c.close_reason) for c in cases(session, settled.id)] == [("closed", "settled")]
    assert [(c.status, c.close_reason) for c in cases(session, repaid.id)] == [("closed", "closed")]
    assert [(c.status, c.close_reason) for c in cases(session, charged.id)] == [("open", None)]


def test_run_eod_runs_the_collections_step(fresh_engine: Engine) -> None:
    """Through the real pipeline (one transaction per night): the case opens on 16 Feb, a rerun is a no-op, the
    cure closes it, and a promise nobody paid is judged broken on 24 Feb (due 20 Feb + 3 days)."""
    with unit_of_work(fresh_engine) as s:
        loan = make_loan(s)
        other = make_loan(s)
    out = run_eod(engine=fresh_engine, as_of=date(2026, 2, 16))
    assert out["collections"]["cases_opened"] == 2  # type: ignore[index]
    assert run_eod(engine=fresh_engine, as_of=date(2026, 2, 16))["already_done"] is True
    with unit_of_work(fresh_engine) as s:
        pay(s, loan, "7200.00", date(2026, 2, 17), idem=idem())
        promise = svc.record_ptp(session=s, loan_id=other.id, made_on=date(2026, 2, 17), due_date=date(2026, 2, 20),
                                 amount_fen=100_000)
    out = run_eod(engine=fresh_engine, as_of=date(2026, 2, 24))
    with unit_of_work(fresh_engine) as s:
        assert [(c.status, c.close_reason) for c in cases(s, loan.id)] == [("closed", "cured")]
        assert [c.status for c in cases(s, other.id)] == ["open"]
        judged = s.get(Promise, promise.id)
        assert judged is not None and (judged.status, judged.judged_on) == ("broken", date(2026, 2, 24))
        night17 = json.loads(s.get(EodRun, date(2026, 2, 17)).stats)  # type: ignore[union-attr]
        assert night17["collections"]["close_reasons"] == {"cured": 1}
