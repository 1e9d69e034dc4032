"""The ledger's nightly step for one business day, set-based over every loan."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

from sqlalchemy import Date, bindparam, case, func, insert, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from buyu.ledger import accrual
from buyu.ledger.models import DelinquencySnapshot, Loan, Posting
from buyu.ledger.models import ScheduleLine as Inst
from buyu.ledger.service import apply_credit


@dataclass
class DayStats:
    """What one night's ledger step did."""

    as_of: str
    interest_recognised: int = 0
    credits_applied_fen: int = 0
    penalty_postings: int = 0
    penalty_fen: int = 0
    delinquent_loans: int = 0
    buckets: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready stats."""
        return asdict(self)


def ledger_day(*, session: Session, day: date) -> DayStats:
    """Recognise interest, apply credits, accrue penalty, age and snapshot for `day`."""
    stats = DayStats(as_of=day.isoformat())
    stats.interest_recognised = accrual.recognise_interest(session=session, through=day)
    stats.credits_applied_fen = _apply_credits(session=session, day=day)
    stats.penalty_postings = accrual.accrue_penalty(session=session, day=day)
    stats.penalty_fen = int(
        session.scalar(
            select(func.coalesce(func.sum(Posting.amount_fen), 0)).where(
                Posting.kind == "penalty_accrual", Posting.booking_date == day
            )
        )
        or 0
    )
    accrual.age_loans(session=session, as_of=day)
    stats.delinquent_loans = snapshot(session=session, day=day)
    stats.buckets = {
        b: int(n)
        for b, n in session.execute(
            select(Loan.bucket, func.count()).where(Loan.status == "active").group_by(Loan.bucket)
        )
    }
    return stats


def _apply_credits(*, session: Session, day: date) -> int:
    """Customer credit meets instalments as they fall due (few loans: a row loop is fine here)."""
    loans = session.scalars(select(Loan).where(Loan.status == "active", Loan.credit_fen > 0)).all()
    return sum(apply_credit(session=session, loan=loan, on=day) for loan in loans)


def snapshot(*, session: Session, day: date) -> int:
    """Record each delinquent loan's position on `day` (replayable history for models and reports)."""
    d: BindParameter[date] = bindparam("d", day, type_=Date)
    past = Inst.due_date < d
    penalty_open = Inst.penalty_fen - Inst.penalty_paid_fen - Inst.penalty_waived_fen
    interest_open = Inst.interest_booked_fen - Inst.interest_paid_fen - Inst.interest_waived_fen
    rows = (
        select(
            d,
            Loan.id,
            Loan.dpd,
            Loan.bucket,
            func.sum(case((past, Inst.principal_open_fen), else_=0)),
            func.sum(case((past, Inst.interest_fen - Inst.interest_paid_fen - Inst.interest_waived_fen), else_=0)),
            func.sum(penalty_open),
            func.sum(Inst.principal_open_fen + interest_open + penalty_open),
        )
        .join(Inst, (Inst.loan_id == Loan.id) & Inst.superseded_on.is_(None))
        .where(Loan.status == "active", Loan.dpd > 0, literal(True))
        .group_by(Loan.id, Loan.dpd, Loan.bucket)
    )
    cols = [
        "as_of",
        "loan_id",
        "dpd",
        "bucket",
        "overdue_principal_fen",
        "overdue_interest_fen",
        "penalty_fen",
        "outstanding_fen",
    ]
    result = session.connection().execute(
        insert(DelinquencySnapshot).from_select(cols, rows).execution_options(preserve_rowcount=True)
    )
    return int(result.rowcount or 0)
