"""Set-based daily ledger steps: interest recognition, penalty accrual, ageing.

The same statements serve the nightly run over every loan and the catch-up of one loan before a
payment (pass `loan_id`), so a payment and the night agree to the fen.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from buyu.db import days_between
from buyu.ledger.journal import Account
from buyu.ledger.models import Loan, Posting
from buyu.ledger.models import ScheduleLine as Inst
from buyu.money import RATE_SCALE

BUCKETS = ((0, "M0"), (30, "M1"), (60, "M2"), (90, "M3"))


def bucket_of(dpd: int) -> str:
    """M0 current, M1 1–30, M2 31–60, M3 61–90, M4+ over 90 days past due."""
    for upper, name in BUCKETS:
        if dpd <= upper:
            return name
    return "M4+"


def bucket_sql(dpd: ColumnElement[int]) -> ColumnElement[str]:
    """The same bucket rule as SQL."""
    return case((dpd <= 0, "M0"), (dpd <= 30, "M1"), (dpd <= 60, "M2"), (dpd <= 90, "M3"), else_="M4+")


def _core(session: Session) -> Connection:
    # Set-based statements go straight to Core: the ORM's bulk-update layer adds per-call overhead
    # and nothing here needs the identity map (services re-read rows with populate_existing).
    return session.connection()


def _scope(loan_id: int | None) -> ColumnElement[bool]:
    return Loan.id == loan_id if loan_id is not None else literal(True)


def daily_penalty_sql() -> ColumnElement[int]:
    """round_half_up(open principal × penalty rate / basis) in integer SQL arithmetic."""
    # BIGINT throughout: PostgreSQL would otherwise evaluate basis × 1e6 in SMALLINT and overflow.
    denominator = cast(Loan.day_count_basis, BigInteger) * literal(RATE_SCALE, BigInteger)
    numerator = literal(2, BigInteger) * Inst.principal_open_fen * Loan.penalty_rate_micro + denominator
    return numerator // (literal(2, BigInteger) * denominator)


def recognise_interest(*, session: Session, through: date, loan_id: int | None = None) -> int:
    """Book interest receivable for every open instalment falling due on or before `through`."""
    d: BindParameter[date] = bindparam("d", through, type_=Date)
    cond = and_(
        Inst.loan_id == Loan.id,
        Loan.status == "active",
        Inst.superseded_on.is_(None),
        Inst.due_date <= d,
        Inst.interest_booked_fen < Inst.interest_fen,
        _scope(loan_id),
    )
    rows = select(
        literal("int:") + cast(Inst.id, String),
        literal(0),
        literal("interest_due"),
        Inst.loan_id,
        d,
        literal(Account.INTEREST.value),
        literal(Account.INTEREST_INCOME.value),
        Inst.interest_fen - Inst.interest_booked_fen,
        Inst.id,
    ).where(cond)
    cols = ["txn", "leg", "kind", "loan_id", "booking_date", "debit", "credit", "amount_fen", "instalment_id"]
    n = (
        _core(session)
        .execute(insert(Posting).from_select(cols, rows).execution_options(preserve_rowcount=True))
        .rowcount
    )
    _core(session).execute(update(Inst).where(cond).values(interest_booked_fen=Inst.interest_fen))
    return int(n or 0)


def accrue_penalty(*, session: Session, day: date, loan_id: int | None = None) -> int:
    """Accrue one day's penalty (罚息) on open principal past grace, for loans not yet accrued on `day`."""
    d: BindParameter[date] = bindparam("d", day, type_=Date)
    amount = daily_penalty_sql()
    cond = and_(
        Inst.loan_id == Loan.id,
        Loan.status == "active",
        Loan.accrued_through < d,
        Inst.superseded_on.is_(None),
        Inst.principal_open_fen > 0,
        Inst.penalty_from <= d,
        amount > 0,
        _scope(loan_id),
    )
    rows = select(
        literal("pen:") + cast(Inst.id, String) + literal(":" + day.isoformat()),
        literal(0),
        literal("penalty_accrual"),
        Inst.loan_id,
        d,
        literal(Account.PENALTY.value),
        literal(Account.PENALTY_INCOME.value),
        amount,
        Inst.id,
    ).where(cond)
    cols = ["txn", "leg", "kind", "loan_id", "booking_date", "debit", "credit", "amount_fen", "instalment_id"]
    n = (
        _core(session)
        .execute(insert(Posting).from_select(cols, rows).execution_options(preserve_rowcount=True))
        .rowcount
    )
    _core(session).execute(update(Inst).where(cond).values(penalty_fen=Inst.penalty_fen + amount))
    _core(session).execute(
        update(Loan).where(Loan.status == "active", Loan.accrued_through < d, _scope(loan_id)).values(accrued_through=d)
    )
    return int(n or 0)


def age_loans(*, session: Session, as_of: date, loan_id: int | None = None) -> None:
    """Set DPD, bucket and delinquent_since from the oldest open instalment due before `as_of`."""
    d: BindParameter[date] = bindparam("d", as_of, type_=Date)
    overdue = and_(Inst.superseded_on.is_(None), Inst.cleared_on.is_(None), Inst.due_date < d)
    # A loan closed or settled owes nothing past due: its delinquency ends with it (a written-off one keeps ageing).
    _core(session).execute(
        update(Loan)
        .where(
            Loan.status.in_(("active", "closed", "settled")),
            Loan.delinquent_since.is_not(None),
            ~exists().where(Inst.loan_id == Loan.id, overdue),
            _scope(loan_id),
        )
        .values(dpd=0, bucket="M0", delinquent_since=None)
    )
    oldest = (
        select(Inst.loan_id.label("loan_id"), func.min(Inst.due_date).label("since"))
        .where(overdue, Inst.loan_id == loan_id if loan_id is not None else literal(True))
        .group_by(Inst.loan_id)
        .subquery()
    )
    dpd = days_between(oldest.c.since, d)
    _core(session).execute(
        update(Loan)
        .where(Loan.id == oldest.c.loan_id, Loan.status == "active")
        .values(dpd=dpd, bucket=bucket_sql(dpd), delinquent_since=oldest.c.since)
    )
    # A written-off loan keeps ageing from the due date it defaulted on: collections still work it.
    wo_dpd = days_between(Loan.delinquent_since, d)
    _core(session).execute(
        update(Loan)
        .where(Loan.status == "written_off", Loan.delinquent_since.is_not(None), _scope(loan_id))
        .values(dpd=wo_dpd, bucket=bucket_sql(wo_dpd))
    )


def catch_up(*, session: Session, loan_id: int, through: date) -> None:
    """Bring one loan's accruals up to the end of `through` (recognition, penalty day by day)."""
    recognise_interest(session=session, through=through, loan_id=loan_id)
    accrued = session.execute(select(Loan.accrued_through).where(Loan.id == loan_id)).scalar_one()
    day = accrued.toordinal() + 1
    while day <= through.toordinal():
        accrue_penalty(session=session, day=date.fromordinal(day), loan_id=loan_id)
        day += 1
