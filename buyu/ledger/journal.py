"""The double-entry journal: balanced, append-only postings and the balances derived from them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from buyu.ledger.models import Posting


class Account(StrEnum):
    """Ledger accounts. Per-loan sub-accounts are (loan_id, account)."""

    PRINCIPAL = "principal"  # asset: principal receivable
    INTEREST = "interest_receivable"  # asset
    PENALTY = "penalty_receivable"  # asset
    CREDIT = "customer_credit"  # liability: money received but not yet applied
    CASH = "cash"  # asset: settlement / bank clearing account
    INTEREST_INCOME = "interest_income"
    PENALTY_INCOME = "penalty_income"
    RECOVERY_INCOME = "recovery_income"  # cash collected after write-off
    WAIVER_EXPENSE = "waiver_expense"  # settlement discounts
    WRITEOFF_EXPENSE = "writeoff_expense"  # loan losses
    BOARDING = "boarding_clearing"  # counterpart of balances boarded from a lender's core system


#: Accounts whose per-loan balance is a receivable the borrower owes (debit-normal).
RECEIVABLES = (Account.PRINCIPAL, Account.INTEREST, Account.PENALTY)


@dataclass(frozen=True, slots=True)
class Leg:
    """One transfer inside an entry: debit `debit`, credit `credit`, `amount` fen."""

    debit: Account
    credit: Account
    amount: int
    instalment_id: int | None = None


def post_entry(
    *,
    session: Session,
    txn: str,
    kind: str,
    loan_id: int,
    booking_date: date,
    legs: Sequence[Leg],
    payment_id: int | None = None,
) -> int:
    """Append one journal entry (its non-zero legs); returns how many postings were written."""
    rows = [
        {
            "txn": txn,
            "leg": n,
            "kind": kind,
            "loan_id": loan_id,
            "booking_date": booking_date,
            "debit": leg.debit.value,
            "credit": leg.credit.value,
            "amount_fen": leg.amount,
            "instalment_id": leg.instalment_id,
            "payment_id": payment_id,
        }
        for n, leg in enumerate(leg for leg in legs if leg.amount != 0)
    ]
    if any(leg.amount < 0 for leg in legs):
        raise ValueError(f"negative posting amount in {txn}")
    if rows:
        session.execute(insert(Posting), rows)
    return len(rows)


def net_by_account(postings: Iterable[tuple[str, str, int]]) -> dict[str, int]:
    """Debit-positive balance of each account from (debit, credit, amount) rows."""
    balance: dict[str, int] = defaultdict(int)
    for debit, credit, amount in postings:
        balance[debit] += amount
        balance[credit] -= amount
    return dict(balance)


def loan_balances(*, session: Session, loan_id: int, through: date | None = None) -> dict[str, int]:
    """Debit-positive balance of every account of one loan, optionally as booked by `through`."""
    stmt = select(Posting.debit, Posting.credit, Posting.amount_fen).where(Posting.loan_id == loan_id)
    if through is not None:
        stmt = stmt.where(Posting.booking_date <= through)
    return net_by_account((d, c, int(a)) for d, c, a in session.execute(stmt))
