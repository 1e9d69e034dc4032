"""The database edge of scoring: read the product's tables into `features.History` arrays.

Only product tables are read (loans, borrowers, delinquency snapshots, contact attempts, payments,
promises, contact flags and points, instalments, the audit log's case events): exactly what a
bank's own history holds. Everything is read "as of" `last`: events dated after it are left out,
and a payment reversed after `last` still stood on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from buyu.collections.models import AuditEntry, ContactAttempt, ContactFlags, ContactPoint, Promise
from buyu.ledger.models import Borrower, DelinquencySnapshot, Loan, Payment
from buyu.ledger.models import ScheduleLine as Line
from buyu.scoring.features import AGENCY, FOREVER, LEGAL, SALE, EventLog, History, Loans

#: Case events in the audit log (entity "loan"): agency placement, legal filing, sale; and complaints.
CASE_EVENTS: dict[str, int] = {"case.agency_placed": AGENCY, "case.legal_filed": LEGAL, "case.sold": SALE}
COMPLAINT = "contact.complaint"
DEFAULT_AGENCY_DAYS = 30
CHUNK = 5000


def load_history(*, session: Session, first: date, last: date, loan_ids: Sequence[int] | None = None) -> History:
    """History of `loan_ids` (all loans when None) with events dated first … last."""
    ids = None if loan_ids is None else sorted({int(x) for x in loan_ids})
    loans = _loans(session=session, ids=ids, last=last)
    scope = (first, last)
    return History(
        loans=loans, snapshots=_snapshots(session=session, ids=ids, scope=scope),
        attempts=_attempts(session=session, ids=ids, scope=scope), payments=_payments(session=session, ids=ids,
                                                                                     scope=scope),
        promises=_promises(session=session, ids=ids, scope=scope), judged=_judged(session=session, ids=ids,
                                                                                 scope=scope),
        placements=_placements(session=session, ids=ids, scope=scope),
        complaints=_complaints(session=session, ids=ids, scope=scope),
        paid_lines=_paid_lines(session=session, ids=ids, scope=scope),
        first_day=first.toordinal(), last_day=last.toordinal(),
    )


def _rows(session: Session, stmt: Any, column: Any, ids: list[int] | None) -> list[Any]:
    """Run a select, restricted to loan ids in chunks when given."""
    if ids is None:
        return list(session.execute(stmt).all())
    out: list[Any] = []
    for k in range(0, len(ids), CHUNK):
        out.extend(session.execute(stmt.where(column.in_(ids[k:k + CHUNK]))).all())
    return out


def _codes(values: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    levels = tuple(sorted(set(values)))
    index = {v: i for i, v in enumerate(levels)}
    return np.asarray([index[v] for v in values], dtype=np.int64), levels


def _loans(*, session: Session, ids: list[int] | None, last: date) -> Loans:
    stmt = (select(Loan.id, Loan.borrower_id, Loan.principal_fen, Loan.term_months, Loan.annual_rate_micro,
                   Loan.disbursed_on, Borrower.birth_year, Borrower.segment, Borrower.region, Borrower.language,
                   Borrower.income_band, Loan.closed_on, Loan.written_off_on)
            .join(Borrower, Borrower.id == Loan.borrower_id).order_by(Loan.id))
    rows = sorted(_rows(session, stmt, Loan.id, ids), key=lambda r: r[0])
    borrowers = np.asarray([r[1] for r in rows], dtype=np.int64)
    points = dict(session.execute(select(ContactPoint.borrower_id, func.count()).where(
        ContactPoint.active.is_(True), or_(ContactPoint.wrong_number_on.is_(None), ContactPoint.wrong_number_on > last))
        .group_by(ContactPoint.borrower_id)).all())
    flags = {int(b): (c, d if is_open else None) for b, c, is_open, d in session.execute(select(
        ContactFlags.borrower_id, ContactFlags.cease_from, ContactFlags.dispute_open, ContactFlags.dispute_opened_on))}
    categorical, levels = {}, {}
    for k, name in ((7, "segment"), (8, "region"), (9, "language"), (10, "income_band")):
        categorical[name], levels[name] = _codes([str(r[k] or "") for r in rows])

    def flag_day(b: int, k: int) -> int:
        value = flags.get(b, (None, None))[k]
        return value.toordinal() if value is not None and value <= last else 0

    return Loans(
        loan_id=np.asarray([r[0] for r in rows], dtype=np.int64), borrower_id=borrowers,
        principal_fen=np.asarray([r[2] for r in rows], dtype=np.int64),
        term_months=np.asarray([r[3] for r in rows], dtype=np.int64),
        annual_rate_micro=np.asarray([r[4] for r in rows], dtype=np.int64),
        disbursed=np.asarray([r[5].toordinal() for r in rows], dtype=np.int64),
        birth_year=np.asarray([np.nan if r[6] is None else float(r[6]) for r in rows], dtype=np.float64),
        contact_points=np.asarray([int(points.get(int(b), 0)) for b in borrowers], dtype=np.int64),
        categorical=categorical, levels=levels,
        cease_from=np.asarray([flag_day(int(b), 0) for b in borrowers], dtype=np.int64),
        dispute_from=np.asarray([flag_day(int(b), 1) for b in borrowers], dtype=np.int64),
        closed_on=np.asarray([_day_or_zero(r[11], last) for r in rows], dtype=np.int64),
        written_off_on=np.asarray([_day_or_zero(r[12], last) for r in rows], dtype=np.int64),
    )


def _day_or_zero(value: date | None, last: date) -> int:
    """A date that had happened by `last` as an ordinal, else 0."""
    return value.toordinal() if value is not None and value <= last else 0


def _snapshots(*, session: Session, ids: list[int] | None, scope: tuple[date, date]) -> EventLog:
    s = DelinquencySnapshot
    # The day before `first` too: a point's features read the previous night.
    stmt = select(s.loan_id, s.as_of, s.dpd, s.overdue_principal_fen + s.overdue_interest_fen + s.penalty_fen,
                  s.outstanding_fen).where(s.as_of.between(scope[0] - timedelta(days=1), scope[1]))
    rows = _rows(session, stmt, s.loan_id, ids)
    return EventLog(loan=[r[0] for r in rows], day=[r[1].toordinal() for r in rows],
                    dpd=np.asarray([r[2] for r in rows], dtype=np.int64),
                    overdue=np.asarray([int(r[3]) for r in rows], dtype=np.int64),
                    outstanding=np.asarray([int(r[4]) for r in rows], dtype=np.int64))


def _attempts(*, session: Session, ids: list[int] | None, scope: tuple[date, date]) -> EventLog:
    a = ContactAttempt
    stmt = select(a.loan_id, a.as_of, a.channel, a.result, a.collector_id, a.local_hour).where(
        a.as_of <= scope[1], a.result.is_not(None), a.result != "blocked")
    rows = _rows(session, stmt, a.loan_id, ids)
    return EventLog(loan=[r[0] for r in rows], day=[r[1].toordinal() for r in rows],
                    channel=np.asarray([r[2] for r in rows], dtype=object),
                    result=np.asarray([r[3] for r in rows], dtype=object),
                    collector=np.asarray([r[4] or 0 for r in rows], dtype=np.int64),
                    hour=np.asarray([r[5] for r in rows], dtype=np.int64))


def _payments(*, session: Session, ids: list[int] | None, scope: tuple[date, date]) -> EventLog:
    p = Payment
    stood = or_(p.status == "posted", and_(p.reversed_on.is_not(None), p.reversed_on > scope[1]))
    stmt = select(p.loan_id, p.paid_on, p.amount_fen).where(p.paid_on <= scope[1], stood)
    rows = _rows(session, stmt, p.loan_id, ids)
    return EventLog(loan=[r[0] for r in rows], day=[r[1].toordinal() for r in rows],
                    amount=np.asarray([int(r[2]) for r in rows], dtype=np.int64))


def _promises(*, session: Session, ids: list[int] | None, scope: tuple[date, date]) -> EventLog:
    p = Promise
    stmt = select(p.loan_id, p.made_on, p.due_date, p.amount_fen, p.judged_on).where(p.made_on <= scope[1])
    rows = _rows(session, stmt, p.loan_id, ids)
    return EventLog(loan=[r[0] for r in rows], day=[r[1].toordinal() for r in rows],
                    due=np.asarray([r[2].toordinal() for r in rows], dtype=np.int64),
                    amount=np.asarray([int(r[3]) for r in rows], dtype=np.int64),
                    judged=np.asarray([r[4].toordinal() if r[4] is not None and r[4] <= scope[1] else 0
                                       for r in rows], dtype=np.int64))


def _judged(*, session: Session, ids: list[int] | None, scope: tuple[date, date]) -> EventLog:
    p = Promise
    stmt = select(p.loan_id, p.judged_on, p.status).where(p.judged_on <= scope[1], p.status.in_(("kept", "broken")))
    rows = _rows(session, stmt, p.loan_id, ids)
    return EventLog(loan=[r[0] for r in rows], day=[r[1].toordinal() for r in rows],
                    kept=np.asarray([r[2] == "kept" for r in rows], dtype=np.float64),
                    broken=np.asarray([r[2] == "broken" for r in rows], dtype=np.float64))


def _placements(*, session: Session, ids: list[int] | None, scope: tuple[date, date]) -> EventLog:
    e = AuditEntry
    stmt = select(e.entity_id, e.as_of, e.action, e.details).where(
        e.entity == "loan", e.action.in_(tuple(CASE_EVENTS)), e.as_of <= scope[1])
    rows = _rows(session, stmt, e.entity_id, ids)
    kinds = [CASE_EVENTS[r[2]] for r in rows]
    until = [_until(kind, r[1], r[3]) for kind, r in zip(kinds, rows, strict=True)]
    return EventLog(loan=[int(r[0]) for r in rows], day=[r[1].toordinal() for r in rows],
                    kind=np.asarray(kinds, dtype=np.int64), until=np.asarray(until, dtype=np.int64))


def _until(kind: int, on: date, details: dict[str, Any] | None) -> int:
    """Last day a placement holds the account: an agency placement's end date; legal and sale for good."""
    if kind != AGENCY:
        return FOREVER
    text = (details or {}).get("until")
    end = date.fromisoformat(text) if isinstance(text, str) else on + timedelta(days=DEFAULT_AGENCY_DAYS)
    return end.toordinal()


def _complaints(*, session: Session, ids: list[int] | None, scope: tuple[date, date]) -> EventLog:
    e = AuditEntry
    stmt = select(e.entity_id, e.as_of).where(e.entity == "loan", e.action == COMPLAINT, e.as_of <= scope[1])
    rows = _rows(session, stmt, e.entity_id, ids)
    return EventLog(loan=[int(r[0]) for r in rows], day=[r[1].toordinal() for r in rows])


def _paid_lines(*, session: Session, ids: list[int] | None, scope: tuple[date, date]) -> EventLog:
    """Instalments cleared: one event per line cleared in the window, plus each loan's count before it."""
    start = scope[0] - timedelta(days=1)
    base_stmt = select(Line.loan_id, func.count()).where(Line.cleared_on.is_not(None), Line.cleared_on < start,
                                                         Line.superseded_on.is_(None)).group_by(Line.loan_id)
    base = _rows(session, base_stmt, Line.loan_id, ids)
    recent_stmt = select(Line.loan_id, Line.cleared_on).where(Line.cleared_on.between(start, scope[1]),
                                                              Line.superseded_on.is_(None))
    recent = _rows(session, recent_stmt, Line.loan_id, ids)
    loans = [int(r[0]) for r in base] + [int(r[0]) for r in recent]
    days = [1] * len(base) + [r[1].toordinal() for r in recent]
    counts = [int(r[1]) for r in base] + [1] * len(recent)
    return EventLog(loan=loans, day=days, n=np.asarray(counts, dtype=np.float64))
