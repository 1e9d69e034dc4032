"""The journal is append-only in the database itself, not just by the services' good manners."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from buyu.ledger.models import Posting
from tests.factories import make_loan


def _journal(session, loan_id):
    return session.execute(select(Posting.id, Posting.amount_fen, Posting.debit, Posting.credit)
                           .where(Posting.loan_id == loan_id).order_by(Posting.id)).all()


@pytest.mark.parametrize("statement", [
    "UPDATE journal SET amount_fen = amount_fen + 1 WHERE loan_id = :loan",
    "UPDATE journal SET debit = 'cash', credit = 'principal' WHERE loan_id = :loan",
    "DELETE FROM journal WHERE loan_id = :loan",
])
def test_update_and_delete_on_the_journal_are_refused_by_the_trigger(session, statement):
    """UPDATE or DELETE on `journal` raises from the trigger on SQLite and PostgreSQL; the rows are unchanged."""
    loan = make_loan(session)
    before = _journal(session, loan.id)
    assert before  # the disbursement entry exists
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text(statement), {"loan": loan.id})
    assert _journal(session, loan.id) == before


def test_a_fractional_fen_is_refused_by_the_check_on_sqlite(session):
    """SQLite would store 1.5 in an INTEGER column; the CHECK ck_journal_whole_fen refuses it."""
    if session.bind.dialect.name != "sqlite":
        # PostgreSQL casts a numeric 1.5 to BIGINT on assignment (rounding it to 2) before any CHECK sees it,
        # so there the guard is the services' integer arithmetic, not the database.
        pytest.skip("SQLite-only CHECK: PostgreSQL rounds fractional input to BIGINT on assignment")
    loan = make_loan(session)
    insert = text("INSERT INTO journal (txn, leg, kind, loan_id, booking_date, debit, credit, amount_fen) "
                  "VALUES ('frac:1', 0, 'test', :loan, '2026-01-20', 'cash', 'principal', :amount)")
    with pytest.raises(DBAPIError, match="ck_journal_whole_fen"), session.begin_nested():
        session.execute(insert, {"loan": loan.id, "amount": 1.5})
    with session.begin_nested():  # a whole fen passes the same statement: the CHECK is what refused 1.5
        session.execute(insert, {"loan": loan.id, "amount": 2})
    assert [p.amount_fen for p in _journal(session, loan.id)][-1] == 2
