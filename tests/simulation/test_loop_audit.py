"""The compliance audit finds violations in a contact log on its own, without the rules engine (both databases)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from buyu.collections import service as svc
from buyu.collections.models import AuditEntry, ContactAttempt
from buyu.simulation import metrics
from tests.collections.helpers import Debtor, debtor

D = date(2031, 5, 5)  # far from other tests' rows: the audit reads the whole window


def _raw(session: Session, d: Debtor, channel: str, day: date, hour: int, minute: int = 0, *,
         result: str = "no_answer", point: int | None = -1) -> None:
    """An attempt written straight into the log, as a buggy loop would: the engine never saw it. Its stored
    local hour is a lie (always 10), so the audit must work from the UTC start and the time zone."""
    session.add(ContactAttempt(
        loan_id=d.loan.id, borrower_id=d.borrower.id, contact_point_id=d.phone.id if point == -1 else point,
        channel=channel, purpose="collect", profile="CN", as_of=day, started_at=d.at(day, hour, minute),
        local_date=day, local_hour=10, result=result, duration_seconds=0))
    session.flush()


def test_the_audit_finds_each_kind_of_violation(session: Session) -> None:
    """A call at 23:10 borrower-local; seven unanswered calls to one number on one day (cap 6); contacts
    after a cease request, one the same day after the contact that raised it (that contact itself is
    fine) and one the next day; a debt call to an unrelated third party; an agency placement during a
    dispute — each is counted under its rule, and a legal filing after a cease (allowed) is not."""
    late, busy, ceased, third, disputed = (debtor(session) for _ in range(5))
    _raw(session, late, "agent_call", D, 23, 10)
    for k in range(7):
        _raw(session, busy, "robot_call", D, 9 + k)
    _raw(session, ceased, "agent_call", D, 10, result="ceased")
    svc.set_cease_contact(session=session, borrower_id=ceased.borrower.id, on=D)
    _raw(session, ceased, "sms", D, 11, result="sms_sent")
    _raw(session, ceased, "sms", D + timedelta(days=1), 11, result="sms_sent")
    stranger = third.point(session, "third_party")
    _raw(session, third, "agent_call", D, 12, point=stranger.id, result="wrong_party")
    svc.open_dispute(session=session, loan_id=disputed.loan.id, on=D, reason="not mine")
    for action, d in ((metrics.AGENCY_PLACED, disputed), (metrics.LEGAL_FILED, ceased)):
        session.add(AuditEntry(actor=metrics.ACTOR, action=action, entity="loan", entity_id=d.loan.id,
                               as_of=D + timedelta(days=1), details={"until": (D + timedelta(days=30)).isoformat()}))
    session.flush()
    found = metrics.audit_compliance(session=session, first=D, last=D + timedelta(days=2))
    assert found == {"quiet_hours": 1, "daily_attempt_cap": 1, "cease_contact": 2, "third_party": 1,
                     "placements": 1}


def test_the_us_audit_counts_the_weekly_cap_and_the_wait_after_a_conversation(session: Session) -> None:
    """Under the US profile, eight calls about one debt in seven days break the weekly cap, and a call two
    days after a conversation breaks the seven-day wait; the CN audit of the same log sees neither."""
    week, talk = debtor(session), debtor(session)
    for k in range(8):
        _raw(session, week, "agent_call", D + timedelta(days=k % 7), 10 + k)
    _raw(session, talk, "agent_call", D, 10, result="rpc")
    _raw(session, talk, "agent_call", D + timedelta(days=2), 10)
    us = metrics.audit_compliance(session=session, first=D, last=D + timedelta(days=7), profile="US")
    assert us["weekly_attempt_cap"] >= 1 and us["post_conversation_wait"] == 1
    cn = metrics.audit_compliance(session=session, first=D, last=D + timedelta(days=7), profile="CN")
    assert "weekly_attempt_cap" not in cn and "post_conversation_wait" not in cn
