"""A loan's position as of any date, derived from the journal as booked by that date.

This never reads the nightly cache (dpd, bucket, open amounts on the instalment rows): it folds
the postings with booking_date ≤ as_of over the schedule version live on that date, so asking
about a past night gives what that night saw, whatever was posted since.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from buyu.ledger.accrual import bucket_of
from buyu.ledger.journal import Account, net_by_account
from buyu.ledger.models import Loan, Payment, Posting
from buyu.ledger.models import ScheduleLine as Line

RECOGNITION_KINDS = ("interest_due",)
#: Capitalisation credits an old instalment's interest or penalty and debits principal without reopening that
#: instalment: the amount moved into the new schedule's principal.
CAPITALISATION_KINDS = ("restructure",)


@dataclass(frozen=True, slots=True)
class LoanState:
    """What a loan owed on a date, in fen."""

    loan_id: int
    as_of: date
    status: str
    dpd: int
    bucket: str
    overdue_principal: int
    overdue_interest: int
    penalty: int
    principal_outstanding: int
    interest_outstanding: int
    customer_credit: int

    @property
    def outstanding(self) -> int:
        """Everything booked and unpaid: principal, interest receivable and penalty."""
        return self.principal_outstanding + self.interest_outstanding + self.penalty


def status_as_of(loan: Loan, as_of: date, *, settled: bool = False) -> str:
    """The loan's status on a date, from the dates its life events happened.

    `settled` says a settlement stood on that date: one later reversed still settled the loan until then.
    """
    if loan.written_off_on is not None and loan.written_off_on <= as_of:
        return "written_off"
    if settled:
        return "settled"
    if loan.closed_on is not None and loan.closed_on <= as_of:
        return loan.status
    return "active"


def _settlement_stood(*, session: Session, loan: Loan, as_of: date) -> bool:
    """Whether a settlement was posted by `as_of` and not yet reversed on it."""
    return session.scalar(
        select(Payment.id).where(
            Payment.loan_id == loan.id, Payment.kind == "settlement", Payment.paid_on <= as_of,
            or_(Payment.reversed_on.is_(None), Payment.reversed_on > as_of),
        ).limit(1)
    ) is not None


def loan_state(*, session: Session, loan: Loan, as_of: date) -> LoanState:
    """Fold the journal booked by `as_of` over the schedule live on `as_of`."""
    lines = session.scalars(
        select(Line).where(
            Line.loan_id == loan.id,
            Line.valid_from <= as_of,
            or_(Line.superseded_on.is_(None), Line.superseded_on > as_of),
        )
    ).all()
    postings = session.execute(
        select(Posting.debit, Posting.credit, Posting.amount_fen, Posting.instalment_id, Posting.kind).where(
            Posting.loan_id == loan.id, Posting.booking_date <= as_of
        )
    ).all()
    balances = net_by_account((d, c, int(a)) for d, c, a, _, _ in postings)
    cleared: dict[tuple[int, str], int] = defaultdict(int)
    for debit, credit, amount, inst, kind in postings:
        if inst is None or kind in RECOGNITION_KINDS:
            continue
        cleared[(inst, credit)] += int(amount)
        if kind not in CAPITALISATION_KINDS:
            cleared[(inst, debit)] -= int(amount)
    overdue_p = overdue_i = 0
    oldest: date | None = None
    for line in lines:
        if line.due_date >= as_of:
            continue
        open_p = line.principal_fen - cleared[(line.id, Account.PRINCIPAL.value)]
        open_i = line.interest_fen - cleared[(line.id, Account.INTEREST.value)]
        overdue_p, overdue_i = overdue_p + open_p, overdue_i + open_i
        if (open_p > 0 or open_i > 0) and (oldest is None or line.due_date < oldest):
            oldest = line.due_date
    status = status_as_of(loan, as_of, settled=_settlement_stood(session=session, loan=loan, as_of=as_of))
    if status == "written_off":
        oldest = loan.delinquent_since
    elif status != "active":
        oldest = None  # closed or settled: nothing is past due (interest a settlement forwent was never owed)
    dpd = (as_of - oldest).days if oldest is not None else 0
    return LoanState(
        loan_id=loan.id, as_of=as_of, status=status, dpd=dpd, bucket=bucket_of(dpd),
        overdue_principal=overdue_p if status == "active" else 0,
        overdue_interest=overdue_i if status == "active" else 0,
        penalty=balances.get(Account.PENALTY.value, 0),
        principal_outstanding=balances.get(Account.PRINCIPAL.value, 0),
        interest_outstanding=balances.get(Account.INTEREST.value, 0),
        customer_credit=-balances.get(Account.CREDIT.value, 0),
    )
