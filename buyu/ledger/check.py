"""`buyu ledger check`: reconcile every loan's sub-ledger with the journal, set-based."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import case, func, select, union_all
from sqlalchemy.orm import Session

from buyu.ledger.journal import Account
from buyu.ledger.models import Loan, Payment, Posting
from buyu.ledger.models import ScheduleLine as Inst

MAX_LISTED = 200


@dataclass
class CheckResult:
    """The reconciliation verdict."""

    ok: bool = True
    loans_checked: int = 0
    mismatches: list[dict[str, object]] = field(default_factory=list)
    mismatch_count: int = 0

    def add(self, **item: object) -> None:
        """Record one mismatch (the list is capped; the count is not)."""
        self.ok = False
        self.mismatch_count += 1
        if len(self.mismatches) < MAX_LISTED:
            self.mismatches.append(item)


def journal_balances(*, session: Session) -> dict[tuple[int, str], int]:
    """Debit-positive balance of every (loan, account) in the journal."""
    debits = select(
        Posting.loan_id, Posting.debit.label("account"), func.sum(Posting.amount_fen).label("amt")
    ).group_by(Posting.loan_id, Posting.debit)
    credits = select(
        Posting.loan_id, Posting.credit.label("account"), (-func.sum(Posting.amount_fen)).label("amt")
    ).group_by(Posting.loan_id, Posting.credit)
    out: dict[tuple[int, str], int] = defaultdict(int)
    for loan_id, account, amount in session.execute(union_all(debits, credits)):
        out[(loan_id, account)] += int(amount)
    return out


def check_ledger(*, session: Session) -> CheckResult:
    """Compare sub-ledger balances with the journal for every loan, plus row-level invariants."""
    result = CheckResult()
    journal = journal_balances(session=session)
    penalty_open = Inst.penalty_fen - Inst.penalty_paid_fen - Inst.penalty_waived_fen
    interest_open = Inst.interest_booked_fen - Inst.interest_paid_fen - Inst.interest_waived_fen
    sub = (
        select(
            Inst.loan_id,
            func.sum(Inst.principal_open_fen).label("p"),
            func.sum(interest_open).label("i"),
            func.sum(penalty_open).label("pen"),
        )
        .where(Inst.superseded_on.is_(None))
        .group_by(Inst.loan_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Loan.id, Loan.credit_fen, Loan.recovered_fen, Loan.written_off_fen, sub.c.p, sub.c.i, sub.c.pen
        ).outerjoin(sub, sub.c.loan_id == Loan.id)
    )
    for loan_id, credit, recovered, written_off, p, i, pen in rows:
        result.loans_checked += 1
        expected = {
            Account.PRINCIPAL.value: int(p or 0),
            Account.INTEREST.value: int(i or 0),
            Account.PENALTY.value: int(pen or 0),
            Account.CREDIT.value: -int(credit),
            Account.RECOVERY_INCOME.value: -int(recovered),
            Account.WRITEOFF_EXPENSE.value: int(written_off),
        }
        for account, want in expected.items():
            got = journal.get((loan_id, account), 0)
            if got != want:
                result.add(loan_id=loan_id, account=account, journal=got, subledger=want)
    _row_invariants(session=session, result=result)
    _payment_cash(session=session, result=result)
    return result


def _row_invariants(*, session: Session, result: CheckResult) -> None:
    broken = session.execute(
        select(Inst.loan_id, Inst.id).where(
            Inst.principal_open_fen != Inst.principal_fen - Inst.principal_paid_fen - Inst.principal_waived_fen
        )
    )
    for loan_id, inst_id in broken:
        result.add(loan_id=loan_id, instalment_id=inst_id, rule="principal_open != principal - paid - waived")


def _payment_cash(*, session: Session, result: CheckResult) -> None:
    """Each posted payment's cash legs sum to its amount; a reversed one nets to zero."""
    cash = (
        select(
            Posting.payment_id,
            func.sum(
                case(
                    (Posting.debit == Account.CASH.value, Posting.amount_fen),
                    (Posting.credit == Account.CASH.value, -Posting.amount_fen),
                    else_=0,
                )
            ).label("net"),
        )
        .where(Posting.payment_id.is_not(None))
        .group_by(Posting.payment_id)
        .subquery()
    )
    rows = session.execute(
        select(Payment.id, Payment.loan_id, Payment.status, Payment.amount_fen, cash.c.net).outerjoin(
            cash, cash.c.payment_id == Payment.id
        )
    )
    for pid, loan_id, status, amount, net in rows:
        want = int(amount) if status == "posted" else 0
        if int(net or 0) != want:
            result.add(loan_id=loan_id, payment_id=pid, rule="payment cash legs", journal=int(net or 0), subledger=want)
