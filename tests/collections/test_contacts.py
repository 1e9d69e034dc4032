"""Contact decisions through the service on both databases: every decision logged, outcomes, flags, counts."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from buyu.collections import service as svc
from buyu.collections.models import AuditEntry, CallbackTask, ContactAttempt, ContactFlags
from buyu.errors import ComplianceBlocked, Conflict, InvalidInput, NotFound
from tests.collections.helpers import collector, debtor, footprint

D = date(2026, 3, 3)


def test_blocked_contact_is_logged_with_its_rule(session: Session) -> None:
    """A 22:00 call is refused and still written: result 'blocked', blocked_rule 'quiet_hours', local date and hour."""
    d = debtor(session)
    decision = svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                                   contact_point_id=d.phone.id, at=d.at(D, 22, 0))
    assert (decision.allowed, decision.rule) == (False, "quiet_hours")
    row = session.get(ContactAttempt, decision.attempt_id)
    assert row is not None
    assert (row.result, row.blocked_rule, row.local_date, row.local_hour) == ("blocked", "quiet_hours", D, 22)
    assert row.reason == decision.reason
    history = svc.contact_history(session=session, loan_id=d.loan.id)
    assert [h.id for h in history] == [row.id]


def test_allowed_contact_is_in_flight_until_its_outcome(session: Session) -> None:
    """An allowed request is logged with no result; record_attempt fills it once; a second record is a conflict."""
    d = debtor(session)
    agent = collector(session)
    decision = svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                                   contact_point_id=d.phone.id, at=d.at(D, 10), collector_id=agent.id)
    assert decision.allowed and decision.attempt_id is not None
    row = session.get(ContactAttempt, decision.attempt_id)
    assert row is not None and row.result is None and row.collector_id == agent.id
    done = svc.record_attempt(session=session, attempt_id=decision.attempt_id, result="rpc", duration_seconds=95,
                              transcript="您好…", recording_ref="rec/1.wav")
    assert (done.result, done.duration_seconds) == ("rpc", 95)
    with pytest.raises(Conflict) as err:
        svc.record_attempt(session=session, attempt_id=decision.attempt_id, result="no_answer")
    assert err.value.code == "attempt_already_recorded"


def test_a_blocked_attempt_cannot_get_an_outcome(session: Session) -> None:
    """An outcome for a blocked request raises ComplianceBlocked: a forbidden contact is never logged as made."""
    d = debtor(session)
    blocked = svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                                  contact_point_id=d.phone.id, at=d.at(D, 7, 59))
    assert blocked.attempt_id is not None
    with pytest.raises(ComplianceBlocked) as err:
        svc.record_attempt(session=session, attempt_id=blocked.attempt_id, result="rpc")
    assert err.value.details["rule"] == "quiet_hours"
    with pytest.raises(InvalidInput):  # an SMS outcome for a call
        ok = svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                                 contact_point_id=d.phone.id, at=d.at(D, 9))
        assert ok.attempt_id is not None
        svc.record_attempt(session=session, attempt_id=ok.attempt_id, result="sms_sent")


def test_daily_cap_through_the_service(session: Session) -> None:
    """CN: six unanswered calls are made and logged; the 7th request is blocked and logged with daily_attempt_cap."""
    d = debtor(session)
    for i in range(6):
        decision = svc.request_contact(session=session, loan_id=d.loan.id, channel="robot_call",
                                       contact_point_id=d.phone.id, at=d.at(D, 9 + i))
        assert decision.allowed, (i, decision.reason)
        assert decision.attempt_id is not None
        svc.record_attempt(session=session, attempt_id=decision.attempt_id, result="no_answer")
    seventh = svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                                  contact_point_id=d.phone.id, at=d.at(D, 16))
    assert seventh.rule == "daily_attempt_cap"
    assert svc.attempts_per_point_day(session=session, first=D, last=D, unanswered_only=True)[(d.phone.id, D)] == 6
    # The next borrower-local day starts a fresh count.
    assert svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                               contact_point_id=d.phone.id, at=d.at(D + timedelta(days=1), 8)).allowed


def test_parallel_requests_cannot_overrun_the_cap(session: Session) -> None:
    """Six allowed requests without outcomes (a dialer in parallel) already fill the day: the 7th is blocked."""
    d = debtor(session)
    for i in range(6):
        assert svc.request_contact(session=session, loan_id=d.loan.id, channel="robot_call",
                                   contact_point_id=d.phone.id, at=d.at(D, 9, i)).allowed
    assert svc.request_contact(session=session, loan_id=d.loan.id, channel="robot_call",
                               contact_point_id=d.phone.id, at=d.at(D, 9, 30)).rule == "daily_attempt_cap"


def test_cease_is_honoured_the_same_day_on_every_channel(session: Session) -> None:
    """After set_cease_contact on D, calls, robot calls, SMS and visits that day are blocked and logged as such."""
    d = debtor(session)
    assert svc.request_contact(session=session, loan_id=d.loan.id, channel="sms", contact_point_id=d.phone.id,
                               at=d.at(D, 9)).allowed
    svc.set_cease_contact(session=session, borrower_id=d.borrower.id, on=D, reason="written request")
    for channel, point in (("agent_call", d.phone.id), ("robot_call", d.phone.id), ("sms", d.phone.id),
                           ("field_visit", None)):
        decision = svc.request_contact(session=session, loan_id=d.loan.id, channel=channel, contact_point_id=point,
                                       at=d.at(D, 11))
        assert decision.rule == "cease_contact", channel
    blocked = session.scalars(select(ContactAttempt.blocked_rule).where(
        ContactAttempt.loan_id == d.loan.id, ContactAttempt.result == "blocked")).all()
    assert blocked == ["cease_contact"] * 4
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "borrower",
                                                              AuditEntry.entity_id == d.borrower.id)).all()
    assert "contact.cease" in actions


def test_ceased_outcome_sets_the_flag_at_once(session: Session) -> None:
    """A borrower who says 'stop' during a call (result ceased) is not contacted again that day, on any channel."""
    d = debtor(session)
    call = svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                               contact_point_id=d.phone.id, at=d.at(D, 10))
    assert call.attempt_id is not None
    svc.record_attempt(session=session, attempt_id=call.attempt_id, result="ceased")
    flags = session.get(ContactFlags, d.borrower.id)
    assert flags is not None and flags.cease_from == D and flags.cease_channels is None
    assert svc.request_contact(session=session, loan_id=d.loan.id, channel="sms", contact_point_id=d.phone.id,
                               at=d.at(D, 10, 5)).rule == "cease_contact"


def test_dispute_pauses_contacts_until_resolved(session: Session) -> None:
    """open_dispute blocks calls (dispute_hold) but not the verification letter; resolve_dispute lets calls resume."""
    d = debtor(session)
    svc.open_dispute(session=session, loan_id=d.loan.id, on=D, reason="amount is wrong")
    assert svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                               contact_point_id=d.phone.id, at=d.at(D, 10)).rule == "dispute_hold"
    assert svc.request_contact(session=session, loan_id=d.loan.id, channel="letter", contact_point_id=None,
                               at=d.at(D, 10)).allowed
    svc.resolve_dispute(session=session, loan_id=d.loan.id, on=D + timedelta(days=5), outcome="verified")
    assert svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                               contact_point_id=d.phone.id, at=d.at(D + timedelta(days=5), 10)).allowed
    with pytest.raises(Conflict):
        svc.resolve_dispute(session=session, loan_id=d.loan.id, on=D + timedelta(days=6), outcome="again")


def test_third_party_through_the_service(session: Session) -> None:
    """CN: a reference may be called only to locate (logged with purpose 'locate'); about the debt it is blocked."""
    d = debtor(session)
    ref = d.point(session, "reference")
    about_debt = svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                                     contact_point_id=ref.id, at=d.at(D, 10))
    assert about_debt.rule == "third_party"
    locate = svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call", contact_point_id=ref.id,
                                 at=d.at(D, 10, 5), purpose="locate")
    assert locate.allowed and locate.duties == ("locate_only_no_debt_disclosure",)
    row = session.get(ContactAttempt, locate.attempt_id)
    assert row is not None and row.purpose == "locate"
    svc.mark_wrong_number(session=session, contact_point_id=ref.id, on=D)
    assert svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call", contact_point_id=ref.id,
                               at=d.at(D, 11), purpose="locate").rule == "wrong_number"


def test_us_conversation_wait_and_callback_exemption(session: Session) -> None:
    """US: after an RPC, calls are blocked for 7 days; a callback the borrower asked for is allowed and marked done."""
    d = debtor(session, timezone="America/New_York")
    svc.set_consent(session=session, borrower_id=d.borrower.id, on=D, artificial_voice=True)
    first = svc.request_contact(session=session, loan_id=d.loan.id, channel="robot_call",
                                contact_point_id=d.phone.id, at=d.at(D, 10), profile="US")
    assert first.allowed and first.attempt_id is not None
    assert "disclose_debt_collector_after_rpc" in first.duties
    svc.record_attempt(session=session, attempt_id=first.attempt_id, result="callback")
    task = svc.schedule_callback(session=session, loan_id=d.loan.id, due_at=d.at(D + timedelta(days=1), 18),
                                 created_on=D, attempt_id=first.attempt_id, contact_point_id=d.phone.id, profile="US")
    next_day = d.at(D + timedelta(days=1), 18)
    assert svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                               contact_point_id=d.phone.id, at=next_day, profile="US").rule == "post_conversation_wait"
    cb = svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call", contact_point_id=d.phone.id,
                             at=next_day, profile="US", callback_id=task.id)
    assert cb.allowed and cb.attempt_id is not None
    svc.record_attempt(session=session, attempt_id=cb.attempt_id, result="ptp")
    assert session.get(CallbackTask, task.id).status == "done"  # type: ignore[union-attr]
    assert svc.last_rpc_dates(session=session)[d.loan.id] == D + timedelta(days=1)
    assert svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                               contact_point_id=d.phone.id, at=d.at(D + timedelta(days=8), 10),
                               profile="US").allowed


def test_callback_in_quiet_hours_is_refused(session: Session) -> None:
    """A callback planned for 23:00 borrower-local raises ComplianceBlocked (quiet_hours) and writes nothing."""
    d = debtor(session)
    before = footprint(session)
    with pytest.raises(ComplianceBlocked) as err:
        svc.schedule_callback(session=session, loan_id=d.loan.id, due_at=d.at(D, 23), created_on=D)
    assert err.value.details["rule"] == "quiet_hours"
    assert footprint(session) == before


def test_count_helpers_are_set_based_views_of_the_log(session: Session) -> None:
    """attempts_per_point_day, calls_per_debt (7 local days, blocked excluded) and last_rpc_dates agree with the log."""
    d = debtor(session)
    for k, result in enumerate(("no_answer", "busy", "rpc")):
        decision = svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                                       contact_point_id=d.phone.id, at=d.at(D - timedelta(days=k), 10))
        assert decision.attempt_id is not None
        svc.record_attempt(session=session, attempt_id=decision.attempt_id, result=result)
    svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call", contact_point_id=d.phone.id,
                        at=d.at(D, 23))  # blocked: not an attempt
    svc.request_contact(session=session, loan_id=d.loan.id, channel="agent_call", contact_point_id=d.phone.id,
                        at=d.at(D - timedelta(days=9), 10))  # outside the 7-day window
    per_point = svc.attempts_per_point_day(session=session, first=D - timedelta(days=2), last=D)
    assert {k: v for k, v in per_point.items() if k[0] == d.phone.id} == {
        (d.phone.id, D): 1, (d.phone.id, D - timedelta(days=1)): 1, (d.phone.id, D - timedelta(days=2)): 1}
    assert svc.calls_per_debt(session=session, as_of=D)[d.loan.id] == 3
    assert svc.last_rpc_dates(session=session)[d.loan.id] == D - timedelta(days=2)


def test_bad_requests_write_nothing(session: Session) -> None:
    """Unknown loan, naive time, a call without a number, someone else's number, a robot with a collector, an
    inactive collector: each raises a clear error and the contact log is unchanged."""
    d = debtor(session)
    other = debtor(session)
    agent = collector(session)
    agent.active = False
    session.flush()
    before = footprint(session)
    cases: list[tuple[type[Exception], str, dict[str, object]]] = [
        (NotFound, "loan_not_found", {"loan_id": 10**9}),
        (InvalidInput, "naive_datetime", {"at": datetime(2026, 3, 3, 10, 0)}),
        (InvalidInput, "contact_point_required", {"contact_point_id": None}),
        (InvalidInput, "contact_point_mismatch", {"contact_point_id": other.phone.id}),
        (InvalidInput, "robot_has_no_collector", {"channel": "robot_call", "collector_id": 1}),
        (Conflict, "collector_inactive", {"collector_id": agent.id}),
        (InvalidInput, "invalid_channel", {"channel": "pigeon"}),
        (InvalidInput, "unknown_profile", {"profile": "XX"}),
    ]
    for error, code, override in cases:
        kw: dict[str, object] = {"loan_id": d.loan.id, "channel": "agent_call", "contact_point_id": d.phone.id,
                                 "at": d.at(D, 10)} | override
        with pytest.raises(error) as err:
            svc.request_contact(session=session, **kw)  # type: ignore[arg-type]
        assert err.value.code == code  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput):
        svc.set_cease_contact(session=session, borrower_id=d.borrower.id, on=D, channels=["pigeon"])
    assert footprint(session) == before


def test_audit_log_is_append_only(session: Session) -> None:
    """The database refuses UPDATE and DELETE on audit_log (triggers on both SQLite and PostgreSQL)."""
    d = debtor(session)
    svc.set_cease_contact(session=session, borrower_id=d.borrower.id, on=D)
    session.flush()
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        nested = session.begin_nested()
        with pytest.raises(Exception, match="append-only"):
            session.execute(text(sql))
        nested.rollback()
