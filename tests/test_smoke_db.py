"""The fixtures reach both databases."""

from tests.factories import make_loan


def test_origination_writes_a_balanced_disbursement(session):
    """A new loan has a schedule summing to its principal and one disbursement posting."""
    loan = make_loan(session)
    from buyu.ledger.journal import loan_balances

    assert loan_balances(session=session, loan_id=loan.id) == {"principal": 8000000, "cash": -8000000}
