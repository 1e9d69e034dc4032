"""Promises to pay: validation, and the nightly verdict against the ledger's payments (worked examples)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from buyu.collections import service as svc
from buyu.collections.models import Promise
from buyu.errors import Conflict, InvalidInput
from tests.collections.helpers import debtor, footprint, idem
from tests.ledger.helpers import pay, reverse, settle, write_off

MADE, DUE = date(2026, 2, 20), date(2026, 2, 25)  # tolerance 3 days: payments count through 28 Feb
AMOUNT = 500_000  # 5,000.00


def promise(session: Session, loan_id: int, amount: int = AMOUNT) -> Promise:
    return svc.record_ptp(session=session, loan_id=loan_id, made_on=MADE, due_date=DUE, amount_fen=amount)


def verdict(session: Session, p: Promise) -> tuple[str, int | None]:
    session.expire(p)
    return p.status, p.paid_fen


def test_promise_kept_exactly(session: Session) -> None:
    """5,000.00 promised by 25 Feb, 5,000.00 paid on 24 Feb: judged kept on 1 Mar (due + 3 days < as-of)."""
    d = debtor(session)
    p = promise(session, d.loan.id)
    pay(session, d.loan, "5000.00", date(2026, 2, 24), idem=idem())
    svc.judge_promises(session=session, as_of=date(2026, 2, 28))
    assert verdict(session, p) == ("open", None)  # 25 Feb + 3 = 28 Feb is not before 28 Feb: not judged yet
    kept, _ = svc.judge_promises(session=session, as_of=date(2026, 3, 1))
    assert kept >= 1
    assert verdict(session, p) == ("kept", 500_000)
    assert p.judged_on == date(2026, 3, 1)


def test_promise_kept_within_tolerance(session: Session) -> None:
    """4,950.00 (1% short) paid on 28 Feb (due + 3 days) still keeps a 5,000.00 promise."""
    d = debtor(session)
    p = promise(session, d.loan.id)
    pay(session, d.loan, "4950.00", date(2026, 2, 28), idem=idem())
    svc.judge_promises(session=session, as_of=date(2026, 3, 1))
    assert verdict(session, p) == ("kept", 495_000)


def test_promise_broken_when_short_or_late(session: Session) -> None:
    """4,949.99 is more than 1% short → broken; a full payment on 1 Mar is after the window → broken (paid 0)."""
    short, late = debtor(session), debtor(session)
    p_short, p_late = promise(session, short.loan.id), promise(session, late.loan.id)
    pay(session, short.loan, "4949.99", date(2026, 2, 26), idem=idem())
    pay(session, late.loan, "5000.00", date(2026, 3, 1), idem=idem())
    svc.judge_promises(session=session, as_of=date(2026, 3, 1))
    assert verdict(session, p_short) == ("broken", 494_999)
    assert verdict(session, p_late) == ("broken", 0)


def test_payment_before_the_promise_does_not_count(session: Session) -> None:
    """Only payments from the day the promise was made count: one on 19 Feb leaves a 20 Feb promise broken."""
    d = debtor(session)
    pay(session, d.loan, "5000.00", date(2026, 2, 19), idem=idem())
    p = promise(session, d.loan.id)
    svc.judge_promises(session=session, as_of=date(2026, 3, 2))
    assert verdict(session, p) == ("broken", 0)


def test_reversed_payment_does_not_keep_a_promise(session: Session) -> None:
    """A 5,000.00 payment reversed (bounced) before the verdict counts for nothing: the promise is broken."""
    d = debtor(session)
    p = promise(session, d.loan.id)
    posted = pay(session, d.loan, "5000.00", date(2026, 2, 24), idem=idem()).payment
    reverse(session, posted, date(2026, 2, 26))
    svc.judge_promises(session=session, as_of=date(2026, 3, 1))
    assert verdict(session, p) == ("broken", 0)


def test_configurable_tolerance(session: Session) -> None:
    """With no tolerance, 4,999.99 breaks a 5,000.00 promise and a payment on 26 Feb is late."""
    d = debtor(session)
    exact = svc.PromiseRules(tolerance_days=0, tolerance_bp=0)
    p = svc.record_ptp(session=session, loan_id=d.loan.id, made_on=MADE, due_date=DUE, amount_fen=AMOUNT, rules=exact)
    pay(session, d.loan, "4999.99", date(2026, 2, 25), idem=idem())
    svc.judge_promises(session=session, as_of=date(2026, 2, 26), rules=exact)
    assert verdict(session, p) == ("broken", 499_999)


def test_new_promise_replaces_the_open_one(session: Session) -> None:
    """A second promise cancels the first (judged on its own made_on); only one promise is open per loan."""
    d = debtor(session)
    first = promise(session, d.loan.id)
    second = svc.record_ptp(session=session, loan_id=d.loan.id, made_on=date(2026, 2, 22), due_date=date(2026, 3, 1),
                            amount_fen=300_000)
    assert verdict(session, first)[0] == "cancelled" and first.judged_on == date(2026, 2, 22)
    assert [p.id for p in svc.list_promises(session=session, loan_id=d.loan.id)] == [second.id, first.id]


def test_bad_promises_are_refused_and_nothing_is_written(session: Session) -> None:
    """Amount 0, due before made, beyond the 30-day horizon, an attempt that was not a PTP, a settled loan: clear
    errors, no rows."""
    d = debtor(session)
    call = svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call", contact_point_id=d.phone.id,
                               at=d.at(MADE, 10))
    assert call.attempt_id is not None
    svc.record_attempt(session=session, attempt_id=call.attempt_id, result="refused")
    before = footprint(session)
    bad: list[tuple[type[Exception], str, dict[str, object]]] = [
        (InvalidInput, "amount_not_positive", {"amount_fen": 0}),
        (InvalidInput, "amount_not_positive", {"amount_fen": -5}),
        (InvalidInput, "invalid_due_date", {"due_date": date(2026, 2, 19)}),
        (InvalidInput, "promise_too_far", {"due_date": date(2026, 3, 23)}),
        (InvalidInput, "attempt_not_ptp", {"attempt_id": call.attempt_id}),
    ]
    for error, code, override in bad:
        kw: dict[str, object] = {"loan_id": d.loan.id, "made_on": MADE, "due_date": DUE,
                                 "amount_fen": AMOUNT} | override
        with pytest.raises(error) as err:
            svc.record_ptp(session=session, **kw)  # type: ignore[arg-type]
        assert err.value.code == code  # type: ignore[attr-defined]
    assert footprint(session) == before


def test_promise_on_a_written_off_loan_is_allowed_but_not_on_a_closed_one(session: Session) -> None:
    """Written-off loans stay in collections (promises accepted); a settled loan refuses with loan_not_collectable."""
    d, s = debtor(session), debtor(session)
    write_off(session, d.loan, date(2026, 2, 18))
    assert promise(session, d.loan.id).status == "open"
    settle(session, s.loan, "60000.00", date(2026, 2, 18), idem=idem())
    with pytest.raises(Conflict) as err:
        promise(session, s.loan.id)
    assert err.value.code == "loan_not_collectable"
