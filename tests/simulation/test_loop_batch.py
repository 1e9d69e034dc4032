"""The batch collections services agree with the one-at-a-time services they stand in for (both databases)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from buyu.collections import batch
from buyu.collections import service as svc
from buyu.collections.models import AuditEntry, ContactAttempt, ContactFlags, Promise
from buyu.errors import ComplianceBlocked, InvalidInput, NotFound
from tests.collections.helpers import Debtor, collector, debtor

D = date(2026, 3, 3)
ROW = ("loan_id", "borrower_id", "case_id", "contact_point_id", "channel", "purpose", "collector_id", "profile",
       "as_of", "local_date", "local_hour", "result", "blocked_rule", "reason", "details")


def _asks(session: Session) -> list[batch.ContactAsk]:
    """A day of requests that trips every rule: caps, hours, flags, third parties, wrong numbers, old talks."""
    plain, ceased, disputed, busy = debtor(session), debtor(session), debtor(session), debtor(session)
    west = debtor(session, timezone="Asia/Urumqi")
    ref, third = plain.point(session, "reference"), plain.point(session, "third_party")
    wrong = west.point(session, "work")
    svc.mark_wrong_number(session=session, contact_point_id=wrong.id, on=D - timedelta(days=1))
    svc.set_cease_contact(session=session, borrower_id=ceased.borrower.id, on=D)
    svc.open_dispute(session=session, loan_id=disputed.loan.id, on=D - timedelta(days=2), reason="not mine")
    agent = collector(session)
    talk = svc.request_contact(session=session, loan_id=west.loan.id, channel="agent_call",
                               contact_point_id=west.phone.id, at=west.at(D - timedelta(days=2), 10))
    assert talk.attempt_id is not None
    svc.record_attempt(session=session, attempt_id=talk.attempt_id, result="rpc")
    for back in range(7):  # a week of unanswered calls: US's weekly cap is full, CN's daily cap is not
        at = busy.at(D - timedelta(days=1 + back % 6), 9 + back)
        rang = svc.request_contact(session=session, loan_id=busy.loan.id, channel="agent_call",
                                   contact_point_id=busy.phone.id, at=at)
        assert rang.attempt_id is not None
        svc.record_attempt(session=session, attempt_id=rang.attempt_id, result="no_answer")

    def ask(d: Debtor, channel: str, hour: int, point: int | None = -1, day: date = D,
            **kw: object) -> batch.ContactAsk:
        return batch.ContactAsk(loan_id=d.loan.id, channel=channel, at=d.at(day, hour),
                                contact_point_id=d.phone.id if point == -1 else point, as_of=day, **kw)  # type: ignore[arg-type]

    return [
        *(ask(plain, "robot_call", 9 + k) for k in range(8)),  # the 7th and 8th pass the daily cap
        ask(plain, "sms", 23), ask(plain, "agent_call", 7, collector_id=agent.id),
        ask(plain, "agent_call", 10, point=ref.id, collector_id=agent.id),
        ask(plain, "agent_call", 11, point=ref.id, collector_id=agent.id, purpose="locate"),
        ask(plain, "robot_call", 12, point=third.id),
        ask(ceased, "sms", 10), ask(ceased, "legal", 10, point=None), ask(disputed, "agent_call", 10),
        ask(west, "agent_call", 9, point=wrong.id), ask(west, "field_visit", 10, point=None),
        ask(busy, "agent_call", 15),
        *(ask(west, "agent_call", 9 + k, day=D + timedelta(days=k % 3)) for k in range(9)),
    ]


@pytest.mark.parametrize("profile", ["CN", "US"])
def test_batch_decisions_and_rows_equal_the_single_service(session: Session, profile: str) -> None:
    """The same sequence of requests, decided one by one by `request_contact` and as one batch by
    `request_contacts`, gets the same decision (allowed, rule, reason) for every request and writes the
    same contact_attempts rows, under the CN rules and under the US rules (weekly cap, post-conversation
    wait, robot consent): batch requests see the earlier ones of the same batch as in flight."""
    asks = _asks(session)
    with session.begin_nested() as savepoint:
        single = [svc.request_contact(session=session, loan_id=a.loan_id, channel=a.channel,
                                      contact_point_id=a.contact_point_id, at=a.at, collector_id=a.collector_id,
                                      profile=profile, purpose=a.purpose, as_of=a.as_of) for a in asks]
        single_rows = _rows(session, [d.attempt_id for d in single])
        savepoint.rollback()
    batched = batch.request_contacts(session=session, requests=asks, profile=profile)
    assert [(d.allowed, d.rule, d.reason, d.duties) for d in batched] == \
        [(d.allowed, d.rule, d.reason, d.duties) for d in single]
    assert _rows(session, [d.attempt_id for d in batched]) == single_rows
    rules = {d.rule for d in batched}
    assert {"daily_attempt_cap", "quiet_hours", "third_party", "cease_contact", "dispute_hold",
            "wrong_number"} <= rules if profile == "CN" else {"weekly_attempt_cap", "post_conversation_wait",
                                                              "robot_consent"} <= rules
    assert any(d.allowed for d in batched) and any(not d.allowed for d in batched)


def _rows(session: Session, ids: list[int | None]) -> list[tuple[object, ...]]:
    session.flush()
    rows = {r.id: r for r in session.scalars(select(ContactAttempt).where(ContactAttempt.id.in_(ids)))}
    return [(*(getattr(rows[i], f) for f in ROW), rows[i].started_at.replace(tzinfo=None)) for i in ids
            if i is not None]


def test_a_bad_request_fails_the_whole_batch_with_the_single_services_error(session: Session) -> None:
    """A phone channel without a contact point, or an unknown loan, raises the single service's error and
    writes no row for any request of the batch."""
    d = debtor(session)
    good = batch.ContactAsk(loan_id=d.loan.id, channel="sms", contact_point_id=d.phone.id, at=d.at(D, 10))
    before = len(session.scalars(select(ContactAttempt.id)).all())
    with pytest.raises(InvalidInput) as err:
        batch.request_contacts(session=session, requests=[good, batch.ContactAsk(
            loan_id=d.loan.id, channel="agent_call", contact_point_id=None, at=d.at(D, 11))])
    assert err.value.code == "contact_point_required"
    with pytest.raises(NotFound):
        batch.request_contacts(session=session, requests=[good, batch.ContactAsk(
            loan_id=10**9, channel="sms", contact_point_id=d.phone.id, at=d.at(D, 11))])
    assert len(session.scalars(select(ContactAttempt.id)).all()) == before


def test_outcomes_in_bulk_fill_results_and_set_flags_like_record_attempt(session: Session) -> None:
    """record_outcomes writes results and durations; 'ceased' and 'dispute' set the borrower's flags through
    the single services (with their audit entries); a blocked attempt or an outcome foreign to the channel
    is refused as record_attempt refuses it, before anything is written."""
    a, b, c = debtor(session), debtor(session), debtor(session)
    asks = [batch.ContactAsk(loan_id=x.loan.id, channel="agent_call", contact_point_id=x.phone.id, at=x.at(D, 10),
                             as_of=D) for x in (a, b, c)]
    night = batch.ContactAsk(loan_id=c.loan.id, channel="agent_call", contact_point_id=c.phone.id, at=c.at(D, 23))
    ids = [d.attempt_id for d in batch.request_contacts(session=session, requests=[*asks, night])]
    assert None not in ids
    with pytest.raises(ComplianceBlocked):
        batch.record_outcomes(session=session, items=[batch.OutcomeIn(ids[0], "rpc"),  # type: ignore[arg-type]
                                                      batch.OutcomeIn(ids[3], "rpc")])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        batch.record_outcomes(session=session, items=[batch.OutcomeIn(ids[0], "sms_sent")])  # type: ignore[arg-type]
    assert session.get(ContactAttempt, ids[0]).result is None  # type: ignore[union-attr]
    batch.record_outcomes(session=session, items=[
        batch.OutcomeIn(ids[0], "ceased", 40), batch.OutcomeIn(ids[1], "dispute", 50),  # type: ignore[arg-type]
        batch.OutcomeIn(ids[2], "no_answer", 25, details={"note": "rang out"})])  # type: ignore[arg-type]
    session.expire_all()
    rows = [session.get(ContactAttempt, i) for i in ids[:3]]
    assert [(r.result, r.duration_seconds) for r in rows] == [  # type: ignore[union-attr]
        ("ceased", 40), ("dispute", 50), ("no_answer", 25)]
    assert rows[2].details == {"duties": list(svc.policy.CN.dialog_duties), "note": "rang out"}  # type: ignore[union-attr]
    flags_a, flags_b = session.get(ContactFlags, a.borrower.id), session.get(ContactFlags, b.borrower.id)
    assert flags_a is not None and flags_a.cease_from == D
    assert flags_b is not None and flags_b.dispute_open and flags_b.dispute_opened_on == D
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id.in_(
        [a.borrower.id, b.loan.id]))))
    assert {"contact.cease", "dispute.opened"} <= actions


def test_promises_in_bulk_replace_open_ones_like_record_ptp(session: Session) -> None:
    """record_promises cancels the loan's open promise as record_ptp does (a loan promising twice in one
    batch keeps only the later promise open), links the attempt and audits each promise; a promise linked
    to an attempt that is not a 'ptp' is refused."""
    d, e = debtor(session), debtor(session)
    old = svc.record_ptp(session=session, loan_id=d.loan.id, made_on=D - timedelta(days=1),
                         due_date=D + timedelta(days=3), amount_fen=50_00)
    ask = batch.ContactAsk(loan_id=e.loan.id, channel="agent_call", contact_point_id=e.phone.id, at=e.at(D, 10))
    attempt = batch.request_contacts(session=session, requests=[ask])[0].attempt_id
    assert attempt is not None
    with pytest.raises(InvalidInput) as err:
        batch.record_promises(session=session, items=[batch.PromiseIn(e.loan.id, D, D + timedelta(days=2), 100,
                                                                      attempt_id=attempt)])
    assert err.value.code == "attempt_not_ptp"
    batch.record_outcomes(session=session, items=[batch.OutcomeIn(attempt, "ptp")])
    ids = batch.record_promises(session=session, items=[
        batch.PromiseIn(d.loan.id, D, D + timedelta(days=2), 80_00),
        batch.PromiseIn(d.loan.id, D, D + timedelta(days=4), 90_00),
        batch.PromiseIn(e.loan.id, D, D + timedelta(days=5), 70_00, attempt_id=attempt)])
    session.expire_all()
    statuses = [session.get(Promise, i).status for i in [old.id, *ids]]  # type: ignore[union-attr]
    assert statuses == ["cancelled", "cancelled", "open", "open"]
    assert session.get(Promise, ids[2]).attempt_id == attempt  # type: ignore[union-attr]
    audited = session.scalars(select(AuditEntry.entity_id).where(AuditEntry.action == "promise.recorded",
                                                                 AuditEntry.entity_id.in_(ids))).all()
    assert sorted(audited) == sorted(ids)
