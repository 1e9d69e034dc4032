"""Robot calls against the real collections services, on SQLite and PostgreSQL: queue, rules, outcomes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from buyu.calls import service as calls
from buyu.calls.models import HumanQueueEntry, PaymentLink, VoiceBooking, VoiceCall, VoiceTurn
from buyu.collections import service as col
from buyu.collections.models import CallbackTask, CollectionCase, ContactAttempt, ContactFlags, Promise
from buyu.errors import ComplianceBlocked, Conflict, InvalidInput
from buyu.ledger.state import loan_state
from buyu.plans.models import PlanItem, PlanRun
from tests.calls.helpers import CALL_DAY, NIGHT, converse, delinquent, open_at, run_night, say, verify
from tests.collections.helpers import count
from tests.ledger.helpers import pay
from voicebot.dialog import Action, Event


def test_queue_orders_delinquent_loans_by_dpd(session: Session) -> None:
    """Without a plan the queue is the delinquent loans with a dialable own number, highest DPD first."""
    a = delinquent(session)  # first due 2026-02-15: DPD 14
    c = delinquent(session, disbursed_on=date(2025, 12, 20))  # first due 2026-01-20: DPD 40
    current = delinquent(session, disbursed_on=date(2026, 2, 10))  # first due 2026-03-10: not late
    no_phone = delinquent(session)
    no_phone.phone.active = False
    run_night(session)
    mine = {a.loan.id, c.loan.id, current.loan.id, no_phone.loan.id}
    # the shared test databases may hold other tests' committed loans: look at ours, in queue order
    queue = [i for i in calls.robot_queue(session=session, as_of=CALL_DAY) if i.loan_id in mine]
    assert [(i.loan_id, i.dpd, i.source) for i in queue] == [(c.loan.id, 40, "dpd"), (a.loan.id, 14, "dpd")]
    assert queue[0].contact_point_id == c.phone.id and queue[0].phone == c.phone.phone
    everything = calls.robot_queue(session=session, as_of=CALL_DAY)
    by_dpd = [i.dpd for i in everything if i.source == "dpd"]
    assert by_dpd == sorted(by_dpd, reverse=True)
    assert calls.robot_queue(session=session, as_of=CALL_DAY, limit=1) == everything[:1]


def test_queue_follows_the_nightly_plan_when_it_covers_the_date(session: Session) -> None:
    """When plan items exist for the date, the queue is the plan's robot_call items in priority order."""
    a, b, c = delinquent(session), delinquent(session), delinquent(session)
    run_night(session)
    run = PlanRun(as_of=NIGHT, work_date=CALL_DAY, portfolio=f"t{a.loan.id}", status="done", objective_fen=0,
                  value_fen=0, bound_fen=0, gap=0.0, seconds=0.0, accounts=3, assigned=3, unplaced=0,
                  utilisation={}, stats={})
    session.add(run)
    session.flush()
    for d, treatment, prio, hours in ((a, "robot_call", 2, [19, 20, 8]), (b, "sms", 1, None),
                                      (c, "robot_call", 1, None)):
        session.add(PlanItem(run_id=run.id, work_date=CALL_DAY, loan_id=d.loan.id, arm="champion", segment="s",
                             treatment=treatment, priority=prio, value_fen=0, explanation={}, call_hours=hours))
    session.flush()
    queue = calls.robot_queue(session=session, as_of=CALL_DAY)
    assert {i.source for i in queue} == {"plan"}
    mine = {a.loan.id, b.loan.id, c.loan.id}
    assert [i.loan_id for i in queue if i.loan_id in mine] == [c.loan.id, a.loan.id]
    # the plan's best hour for a (19:00 in Shanghai) is when the dialer may start on it; c has no hours
    timed = {i.loan_id: (i.call_hours, i.not_before) for i in queue if i.loan_id in mine}
    assert timed[a.loan.id] == ((19, 20, 8), a.at(CALL_DAY, 19)) and timed[c.loan.id] == ((), None)
    other_day = calls.robot_queue(session=session, as_of=CALL_DAY + timedelta(days=1))
    assert {i.source for i in other_day} == {"dpd"} and b.loan.id in {i.loan_id for i in other_day}


def test_call_in_quiet_hours_is_blocked_and_logged_with_its_rule(session: Session) -> None:
    """23:00 borrower-local: ComplianceBlocked, yet the call row (blocked, rule) and the contact-log row remain."""
    d = delinquent(session)
    run_night(session)
    with pytest.raises(ComplianceBlocked) as err:
        open_at(session, d, 23)
    assert err.value.details["rule"] == "quiet_hours"
    call = session.get(VoiceCall, err.value.details["call_id"])
    assert call is not None and (call.status, call.blocked_rule, call.result) == ("blocked", "quiet_hours", None)
    attempt = session.get(ContactAttempt, call.attempt_id)
    assert attempt is not None and (attempt.channel, attempt.result, attempt.blocked_rule) == (
        "robot_call", "blocked", "quiet_hours")
    record = calls.call_record(session=session, call_id=call.id)
    assert record["blocked_rule"] == "quiet_hours" and record["attempt"]["result"] == "blocked"
    with pytest.raises(ComplianceBlocked):
        calls.apply_actions(session=session, call_id=call.id, actions=[Action("hangup")], at=d.at(CALL_DAY, 23))


def test_us_robot_call_needs_artificial_voice_consent(session: Session) -> None:
    """Under the US profile a robot call without prior consent is blocked by robot_consent; with consent it opens."""
    d = delinquent(session, timezone="America/New_York")
    run_night(session)
    with pytest.raises(ComplianceBlocked) as err:
        open_at(session, d, 11)
    assert err.value.details["rule"] == "robot_consent"
    col.set_consent(session=session, borrower_id=d.borrower.id, on=CALL_DAY, artificial_voice=True)
    call = open_at(session, d, 12)
    assert (call.status, call.profile) == ("dialing", "US")


def test_ptp_call_books_a_promise_that_the_night_judges_kept(session: Session) -> None:
    """A verified promise becomes a collections promise linked to the loan and the call's attempt; paid on time,
    the nightly collections step judges it kept."""
    d = delinquent(session)
    run_night(session)
    call = open_at(session, d)
    due = CALL_DAY + timedelta(days=4)
    t = converse(session, call, [*verify(), say("will_pay", "i will pay friday", date=due.isoformat()), say("yes")])
    assert t.state.name == "ended"
    promise = session.scalars(select(Promise).where(Promise.loan_id == d.loan.id)).one()
    state = loan_state(session=session, loan=d.loan, as_of=CALL_DAY)
    overdue = state.overdue_principal + state.overdue_interest + state.penalty
    assert (promise.due_date, promise.amount_fen, promise.made_on, promise.status) == (due, overdue, CALL_DAY, "open")
    assert promise.attempt_id == call.attempt_id
    attempt = session.get(ContactAttempt, call.attempt_id)
    assert attempt is not None and attempt.result == "ptp" and attempt.recording_ref == f"rec/{call.id}.wav"
    assert attempt.transcript is not None and "borrower: i will pay friday" in attempt.transcript
    assert (call.status, call.result) == ("completed", "ptp") and call.verified_at is not None
    assert call.ring_seconds == 5 and call.talk_seconds > 0
    assert count(session, VoiceTurn, call_id=call.id) >= 8
    pay(session, d.loan, str(Decimal(overdue).scaleb(-2)), CALL_DAY + timedelta(days=2))
    run_night(session, due + timedelta(days=4))
    session.refresh(promise)
    assert promise.status == "kept"


def test_cease_during_a_call_blocks_sms_and_agent_the_same_day(session: Session) -> None:
    """After "stop calling me" every channel is refused by cease_contact from that same business day."""
    d = delinquent(session)
    run_night(session)
    call = open_at(session, d, 10)
    t = converse(session, call, [*verify(), say("cease", "stop calling me")])
    assert call.result == "ceased" and t.actions[0].kind == "cease_contact"
    later = d.at(CALL_DAY, 15)
    sms = col.request_contact(session=session, loan_id=d.loan.id, channel="sms", contact_point_id=d.phone.id,
                              at=later, as_of=CALL_DAY)
    agent = col.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                                contact_point_id=d.phone.id, at=later, as_of=CALL_DAY)
    assert (sms.allowed, sms.rule, agent.allowed, agent.rule) == (False, "cease_contact", False, "cease_contact")
    with pytest.raises(ComplianceBlocked) as err:
        open_at(session, d, 16)
    assert err.value.details["rule"] == "cease_contact"


def test_cease_before_verification_is_honoured_too(session: Session) -> None:
    """Whoever answers, a request to stop is honoured at once (the compliance-safe reading)."""
    d = delinquent(session)
    run_night(session)
    converse(session, open_at(session, d), [say("cease")])
    flags = session.get(ContactFlags, d.borrower.id)
    assert flags is not None and flags.cease_from == CALL_DAY


def test_dispute_pauses_collection(session: Session) -> None:
    """A verified dispute opens the dispute flag and holds the case: the next agent call is refused, a letter is not."""
    d = delinquent(session)
    run_night(session)
    call = open_at(session, d)
    converse(session, call, [*verify(), say("dispute", "this is not my debt")])
    flags = session.get(ContactFlags, d.borrower.id)
    assert flags is not None and flags.dispute_open and flags.dispute_reason == "this is not my debt"
    kase = session.scalars(select(CollectionCase).where(CollectionCase.loan_id == d.loan.id)).one()
    assert kase.hold_reason == "dispute"
    agent = col.request_contact(session=session, loan_id=d.loan.id, channel="agent_call",
                                contact_point_id=d.phone.id, at=d.at(CALL_DAY + timedelta(days=1), 10))
    letter = col.request_contact(session=session, loan_id=d.loan.id, channel="letter", contact_point_id=None,
                                 at=d.at(CALL_DAY + timedelta(days=1), 10))
    assert (agent.allowed, agent.rule, letter.allowed) == (False, "dispute_hold", True)


def test_human_transfer_and_callbacks(session: Session) -> None:
    """"Agent" queues the borrower for a person; a callback at an allowed time is a task then, at a forbidden time
    the next day at 10:00 borrower-local."""
    d1, d2, d3 = delinquent(session), delinquent(session), delinquent(session)
    run_night(session)
    c1 = open_at(session, d1)
    converse(session, c1, [*verify(), say("human")])
    entry = session.scalars(select(HumanQueueEntry).where(HumanQueueEntry.call_id == c1.id)).one()
    assert (entry.status, entry.reason, entry.loan_id, c1.result) == ("waiting", "requested", d1.loan.id,
                                                                      "transferred")
    c2 = open_at(session, d2)
    wanted = d2.at(CALL_DAY, 17, 30)
    converse(session, c2, [say("call_back", callback_at=wanted.isoformat())])
    task = session.scalars(select(CallbackTask).where(CallbackTask.loan_id == d2.loan.id)).one()
    assert calls._utc(task.due_at) == wanted and task.contact_point_id == d2.phone.id
    c3 = open_at(session, d3)
    converse(session, c3, [say("call_back", callback_at=d3.at(CALL_DAY, 23).isoformat())])
    task3 = session.scalars(select(CallbackTask).where(CallbackTask.loan_id == d3.loan.id)).one()
    assert calls._utc(task3.due_at) == d3.at(CALL_DAY + timedelta(days=1), 10)


def test_queue_skips_loans_talked_to_today_and_waiting_on_a_promise(session: Session) -> None:
    """A campaign re-run the same day does not call a borrower reached today, nor one whose promise is not yet due."""
    talked, promised, other = delinquent(session), delinquent(session), delinquent(session)
    run_night(session)
    converse(session, open_at(session, talked), [*verify(), say("already_paid")])
    col.record_ptp(session=session, loan_id=promised.loan.id, made_on=NIGHT, due_date=CALL_DAY + timedelta(days=3),
                   amount_fen=10_000)
    mine = {talked.loan.id, promised.loan.id, other.loan.id}
    assert [i.loan_id for i in calls.robot_queue(session=session, as_of=CALL_DAY) if i.loan_id in mine] == [
        other.loan.id]
    tomorrow = {i.loan_id for i in calls.robot_queue(session=session, as_of=CALL_DAY + timedelta(days=1))}
    assert talked.loan.id in tomorrow and promised.loan.id not in tomorrow


def test_human_queue_entries_are_taken_once(session: Session) -> None:
    """A transfer waits in the human queue until one collector takes it; a second take is a conflict."""
    from tests.collections.helpers import collector

    d = delinquent(session)
    run_night(session)
    call = open_at(session, d)
    converse(session, call, [*verify(), say("human")])
    entry = next(e for e in calls.waiting_transfers(session=session, limit=10_000) if e.call_id == call.id)
    agent = collector(session)
    taken = calls.take_transfer(session=session, entry_id=entry.id, collector_id=agent.id, at=d.at(CALL_DAY, 10, 5))
    assert (taken.status, taken.collector_id) == ("taken", agent.id)
    assert entry.id not in {e.id for e in calls.waiting_transfers(session=session, limit=10_000)}
    with pytest.raises(Conflict):
        calls.take_transfer(session=session, entry_id=entry.id, collector_id=agent.id, at=d.at(CALL_DAY, 10, 6))


def test_wrong_number_is_never_dialled_again(session: Session) -> None:
    """An unverified "wrong number" marks the number; the next call to it is blocked by wrong_number."""
    d = delinquent(session)
    run_night(session)
    call = open_at(session, d)
    converse(session, call, [say("wrong_number", "you have the wrong number")])
    session.refresh(d.phone)
    assert d.phone.wrong_number and call.result == "wrong_party"
    attempt = session.get(ContactAttempt, call.attempt_id)
    assert attempt is not None and attempt.result == "wrong_party"
    with pytest.raises(ComplianceBlocked) as err:
        open_at(session, d, 12, day=CALL_DAY + timedelta(days=1))
    assert err.value.details["rule"] == "wrong_number"
    assert d.loan.id not in {i.loan_id for i in calls.robot_queue(session=session, as_of=CALL_DAY + timedelta(days=1))}


def test_pay_today_sends_a_checked_payment_link_sms(session: Session) -> None:
    """Paying today: a payment-link row whose SMS went through the contact rules, a same-day promise, result
    paid_link (logged as a ptp outcome)."""
    d = delinquent(session)
    run_night(session)
    call = open_at(session, d)
    converse(session, call, [*verify(), say("will_pay", date=CALL_DAY.isoformat()), say("yes")])
    link = session.scalars(select(PaymentLink).where(PaymentLink.call_id == call.id)).one()
    sms = session.get(ContactAttempt, link.sms_attempt_id)
    assert link.status == "queued" and sms is not None and (sms.channel, sms.result) == ("sms", None)
    assert call.result == "paid_link"
    attempt = session.get(ContactAttempt, call.attempt_id)
    assert attempt is not None and attempt.result == "ptp"
    promise = session.scalars(select(Promise).where(Promise.loan_id == d.loan.id)).one()
    assert promise.due_date == CALL_DAY and promise.attempt_id == call.attempt_id
    calls.link_delivered(session=session, link_id=link.id, sent=True)
    session.refresh(sms)
    assert (link.status, sms.result) == ("sent", "sms_sent")
    with pytest.raises(Conflict):
        calls.link_delivered(session=session, link_id=link.id, sent=False)


def test_unverified_call_cannot_book_debt_actions(session: Session) -> None:
    """The service refuses a promise, link or dispute on a call whose borrower was not verified, writing nothing."""
    d = delinquent(session)
    run_night(session)
    call = open_at(session, d)
    at = d.at(CALL_DAY, 10, 1)
    for action in (Action("record_ptp", {"due_date": CALL_DAY.isoformat(), "amount_fen": 100_000}),
                   Action("send_payment_link", {"amount_fen": 100_000}), Action("open_dispute", {"text": "x"})):
        with pytest.raises(Conflict) as err:
            calls.apply_actions(session=session, call_id=call.id, actions=[action], at=at)
        assert err.value.code == "not_verified"
    assert count(session, Promise, loan_id=d.loan.id) == 0 and count(session, VoiceBooking, call_id=call.id) == 0
    with pytest.raises(InvalidInput):
        calls.apply_actions(session=session, call_id=call.id, actions=[Action("teleport")], at=at)


def test_unverified_endings_are_not_logged_as_conversations(session: Session) -> None:
    """Silence or a hang-up before verification is an unanswered attempt in the contact log, not an RPC."""
    d = delinquent(session)
    run_night(session)
    call = open_at(session, d)
    converse(session, call, [Event(kind="silence")] * 3)
    attempt = session.get(ContactAttempt, call.attempt_id)
    assert call.result == "silence" and attempt is not None and attempt.result == "no_answer"
    assert calls.contact_outcome(result="hangup", verified=True) == "rpc"
    assert calls.contact_outcome(result="verification_failed", verified=False) == "wrong_party"


def test_call_context_reads_the_ledger_and_the_strategy(session: Session) -> None:
    """Overdue amount and DPD come from the ledger on the call's date; promise limits from the active strategy
    (conservative defaults while none is active)."""
    d = delinquent(session)
    run_night(session)
    call = open_at(session, d)
    ctx = calls.call_context(session=session, call_id=call.id, locale="ko-KR", dtmf_only=True)
    state = loan_state(session=session, loan=d.loan, as_of=CALL_DAY)
    overdue = state.overdue_principal + state.overdue_interest + state.penalty
    assert (ctx.overdue_fen, ctx.dpd, ctx.birth_year, ctx.as_of, ctx.locale) == (overdue, 15, 1988, CALL_DAY,
                                                                                 "ko-KR")
    assert ctx.balance_fen >= ctx.overdue_fen > 0 and ctx.dtmf_only
    limits = calls.ptp_limits(session=session, as_of=CALL_DAY)
    assert (ctx.ptp_max_days, ctx.ptp_min_fen) == (limits.max_days, limits.min_for(overdue))
    assert calls.PtpLimits(min_amount_share=Decimal("0.2"), min_amount_fen=10_000).min_for(30_000) == 10_000
    assert calls.PtpLimits(min_amount_share=Decimal("0.2"), min_amount_fen=10_000).min_for(5_000) == 5_000


def test_finish_and_turn_validation(session: Session) -> None:
    """Unknown results, naive times, bad speakers and finishing twice are refused."""
    d = delinquent(session)
    run_night(session)
    call = open_at(session, d)
    at = d.at(CALL_DAY, 10, 5)
    with pytest.raises(InvalidInput):
        calls.finish_call(session=session, call_id=call.id, result="great", at=at, answered_at=None,
                          recording_ref=None)
    with pytest.raises(InvalidInput):
        calls.finish_call(session=session, call_id=call.id, result="no_answer", at=datetime(2026, 3, 2, 10),
                          answered_at=None, recording_ref=None)
    with pytest.raises(InvalidInput):
        calls.record_turn(session=session, call_id=call.id, speaker="narrator", text="x", intent=None,
                          confidence=None, at=at)
    done = calls.finish_call(session=session, call_id=call.id, result="no_answer", at=at, answered_at=None,
                             recording_ref=None)
    assert (done.ring_seconds, done.talk_seconds, done.answered_at) == (300, 0, None)
    with pytest.raises(Conflict):
        calls.finish_call(session=session, call_id=call.id, result="busy", at=at, answered_at=None,
                          recording_ref=None)


def test_robot_call_to_a_reference_is_blocked_as_third_party(session: Session) -> None:
    """A reference's number is never a robot's to dial: the rules refuse it (third_party) and the refusal is logged."""
    d = delinquent(session)
    run_night(session)
    reference = d.point(session, "reference")
    with pytest.raises(ComplianceBlocked) as err:
        calls.open_call(session=session, loan_id=d.loan.id, contact_point_id=reference.id, as_of=CALL_DAY,
                        at=d.at(CALL_DAY, 10))
    assert err.value.details["rule"] == "third_party"
    assert count(session, ContactAttempt, contact_point_id=reference.id, blocked_rule="third_party") == 1
