"""Idempotency keys on the real databases: a retried request posts once; a reused key with a new body is refused."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from buyu.errors import Conflict, InvalidInput
from buyu.ledger import service as svc
from buyu.ledger.journal import loan_balances
from buyu.ledger.schemas import PaymentIn
from tests.factories import make_loan
from tests.ledger.helpers import assert_books_ok, counts, pay, settle


def test_same_key_twice_posts_once_and_replays_the_first_result(session):
    """The second identical request returns the first payment (replayed=True) and writes nothing."""
    loan = make_loan(session)
    first = pay(session, loan, "1000.00", date(2026, 2, 15), idem="retry-1")
    after_first = counts(session)
    second = pay(session, loan, "1000.00", date(2026, 2, 15), idem="retry-1")
    assert (first.replayed, second.replayed) == (False, True)
    assert second.payment.id == first.payment.id and second.payment.amount_fen == 100_000
    assert counts(session) == after_first
    assert loan_balances(session=session, loan_id=loan.id)["cash"] == -8_000_000 + 100_000
    assert_books_ok(session)


def test_replay_wins_even_after_the_day_closed(session):
    """A retry arriving after its business day closed still answers with the original payment, not an error."""
    loan = make_loan(session)
    first = pay(session, loan, "1000.00", date(2026, 2, 15), idem="late-retry")
    pay(session, loan, "1.00", date(2026, 2, 20))  # moves the loan's books past 15 Feb
    again = pay(session, loan, "1000.00", date(2026, 2, 15), idem="late-retry")
    assert again.replayed and again.payment.id == first.payment.id


@pytest.mark.parametrize("change", [
    {"amount": "1000.01"},
    {"paid_on": date(2026, 2, 16)},
    {"kind": "prepayment"},
    {"other_loan": True},
])
def test_same_key_with_a_different_body_is_refused_and_writes_nothing(session, change):
    """Reusing a key for a different amount, date, kind or loan raises Conflict idempotency_key_reused."""
    loan, other = make_loan(session), make_loan(session)
    pay(session, loan, "1000.00", date(2026, 2, 15), idem="reused")
    before = counts(session)
    target = other if change.get("other_loan") else loan
    with pytest.raises(Conflict) as exc:
        pay(session, target, change.get("amount", "1000.00"), change.get("paid_on", date(2026, 2, 15)),
            kind=change.get("kind", "repayment"), idem="reused")
    assert exc.value.code == "idempotency_key_reused"
    assert counts(session) == before


def test_a_settlement_key_cannot_be_reused_for_a_payment(session):
    """Settlements share the key space: the same key on a repayment is a different request (Conflict); the same
    settlement again is a replay."""
    loan = make_loan(session, principal="1000.00", term_months=1)
    first = settle(session, loan, "900.00", date(2026, 1, 20), idem="settle-1")
    before = counts(session)
    with pytest.raises(Conflict) as exc:
        pay(session, loan, "900.00", date(2026, 1, 20), idem="settle-1")
    assert exc.value.code == "idempotency_key_reused"
    again = settle(session, loan, "900.00", date(2026, 1, 20), idem="settle-1")
    assert again.replayed and again.payment.id == first.payment.id
    assert counts(session) == before


def test_an_empty_or_overlong_key_is_refused(session):
    """Keys are 1 to 100 characters: "" and 101 characters are refused (invalid_idempotency_key), nothing written."""
    loan = make_loan(session)
    before = counts(session)
    for bad in ("", "k" * 101):
        with pytest.raises(InvalidInput) as exc:
            svc.post_payment(session=session, loan_id=loan.id, idempotency_key=bad,
                             data=PaymentIn(amount=Decimal("10.00"), paid_on=date(2026, 2, 15)))
        assert exc.value.code == "invalid_idempotency_key"
    assert counts(session) == before
