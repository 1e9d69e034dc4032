"""The campaign dialer on the real databases with a fake clock and a fake provider: rules, pacing, retries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from buyu.calls import service as calls
from buyu.calls.models import VoiceCall
from buyu.collections import service as col
from buyu.collections.models import ContactAttempt
from tests.calls.helpers import CALL_DAY, delinquent, run_night
from tests.collections.helpers import Debtor
from voicebot.dialer import Dialer, Pacing
from voicebot.telephony.providers import DialRequest

START = datetime.combine(CALL_DAY, time(9, 0), tzinfo=UTC)  # 17:00 in Shanghai: inside the day


@dataclass
class FakeWorld:
    """A clock that jumps when slept on, and a provider whose calls end after `duration` with scripted results.

    Ending a call goes through `finish_call`, as the telephony server's status callback does."""

    session: Session
    outcomes: dict[str, list[str]]
    now_at: datetime = START
    duration: timedelta = timedelta(seconds=40)
    placed: list[tuple[datetime, str, int]] = field(default_factory=list)
    ends: list[tuple[datetime, int, str]] = field(default_factory=list)
    fail_numbers: set[str] = field(default_factory=set)
    slept: float = 0.0

    def now(self) -> datetime:
        return self.now_at

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now_at += timedelta(seconds=seconds)
        for end in sorted(e for e in self.ends if e[0] <= self.now_at):
            self.ends.remove(end)
            with self.scope() as s:
                calls.finish_call(session=s, call_id=end[1], result=end[2], at=end[0], answered_at=None,
                                  recording_ref=None)

    def place_call(self, request: DialRequest) -> str:
        if request.to in self.fail_numbers:
            raise ConnectionError("provider unreachable")
        self.placed.append((self.now_at, request.to, request.call_id))
        script = self.outcomes.get(request.to, ["no_answer"])
        result = script.pop(0) if len(script) > 1 else script[0]
        self.ends.append((self.now_at + self.duration, request.call_id, result))
        return f"CA{request.call_id:032d}"

    @contextmanager
    def scope(self) -> Iterator[Session]:
        """A unit of work inside the test's transaction: a savepoint committed on success."""
        nested = self.session.begin_nested()
        try:
            yield self.session
        except BaseException:
            nested.rollback()
            raise
        nested.commit()


def dialer(world: FakeWorld, **pacing: object) -> Dialer:
    return Dialer(scope=world.scope, telephony=world, caller_id="+861000", clock=world,
                  pacing=Pacing(**pacing))  # type: ignore[arg-type]


def queue_of(session: Session, *debtors: Debtor) -> list[calls.QueueItem]:
    """Today's real queue restricted to this test's loans (the shared databases may hold others' committed loans)."""
    mine = {d.loan.id for d in debtors}
    return [i for i in calls.robot_queue(session=session, as_of=CALL_DAY) if i.loan_id in mine]


def test_dials_the_queue_logs_blocked_calls_and_attaches_sids(session: Session) -> None:
    """Allowed calls are placed with the provider sid stored; a ceased borrower is blocked, logged, never dialled."""
    a, b, ceased = delinquent(session), delinquent(session), delinquent(session)
    run_night(session)
    col.set_cease_contact(session=session, borrower_id=ceased.borrower.id, on=CALL_DAY)
    world = FakeWorld(session=session, outcomes={a.phone.phone: ["voicemail"], b.phone.phone: ["voicemail"]})
    report = dialer(world, calls_per_second=5).run(as_of=CALL_DAY, queue=queue_of(session, a, b, ceased))
    assert (report.queued, report.placed, dict(report.blocked)) == (3, 2, {"cease_contact": 1})
    assert {to for _, to, _ in world.placed} == {a.phone.phone, b.phone.phone}
    blocked = session.scalars(select(VoiceCall).where(VoiceCall.loan_id == ceased.loan.id)).one()
    assert (blocked.status, blocked.blocked_rule) == ("blocked", "cease_contact")
    attempt = session.get(ContactAttempt, blocked.attempt_id)
    assert attempt is not None and (attempt.result, attempt.blocked_rule) == ("blocked", "cease_contact")
    for _, _, call_id in world.placed:
        call = session.get(VoiceCall, call_id)
        assert call is not None and call.provider_sid == f"CA{call_id:032d}" and call.result == "voicemail"
    assert dict(report.results) == {"voicemail": 2}


def test_pacing_caps_concurrency_and_rate(session: Session) -> None:
    """Never more than max_concurrent calls open; consecutive dials at least 1/calls_per_second apart."""
    debtors = [delinquent(session) for _ in range(6)]
    run_night(session)
    world = FakeWorld(session=session, outcomes={d.phone.phone: ["voicemail"] for d in debtors})
    report = dialer(world, max_concurrent=2, calls_per_second=0.5, poll_seconds=1).run(
        as_of=CALL_DAY, queue=queue_of(session, *debtors))
    assert report.placed == 6
    starts = [t for t, _, _ in world.placed]
    assert all((b - a).total_seconds() >= 2.0 for a, b in pairwise(starts))
    for t in starts:
        assert sum(1 for s in starts if s <= t < s + world.duration) <= 2
    assert max(sum(1 for s in starts if s <= t < s + world.duration) for t in starts) == 2


def test_busy_and_no_answer_are_retried_with_backoff_within_max_tries(session: Session) -> None:
    """busy → retry after 10 min; no_answer → retry after 20 more; third try ends the account; results count."""
    d = delinquent(session)
    run_night(session)
    world = FakeWorld(session=session, outcomes={d.phone.phone: ["busy", "no_answer", "no_answer", "busy"]})
    report = dialer(world, max_tries=3, retry_after=timedelta(minutes=10)).run(as_of=CALL_DAY,
                                                                             queue=queue_of(session, d))
    starts = [t for t, _, _ in world.placed]
    assert len(starts) == 3 and report.retries == 2
    assert starts[1] - (starts[0] + world.duration) >= timedelta(minutes=10)
    assert starts[2] - (starts[1] + world.duration) >= timedelta(minutes=20)
    tries = session.execute(select(VoiceCall.try_no, VoiceCall.retry_of).where(VoiceCall.loan_id == d.loan.id)
                            .order_by(VoiceCall.id)).all()
    ids = [c for _, _, c in world.placed]
    assert [tuple(r) for r in tries] == [(1, None), (2, ids[0]), (3, ids[1])]
    assert dict(report.results) == {"busy": 1, "no_answer": 2}


def test_retries_stop_at_the_daily_attempt_cap(session: Session) -> None:
    """With unlimited tries the CN cap of 6 unanswered calls a day wins: the 7th dial is blocked and logged."""
    d = delinquent(session)
    run_night(session)
    world = FakeWorld(session=session, outcomes={d.phone.phone: ["no_answer"]}, duration=timedelta(seconds=30))
    report = dialer(world, max_tries=20, retry_after=timedelta(minutes=1)).run(as_of=CALL_DAY,
                                                                            queue=queue_of(session, d))
    assert report.placed == 6 and dict(report.blocked) == {"daily_attempt_cap": 1}
    blocked = session.scalars(select(VoiceCall).where(VoiceCall.loan_id == d.loan.id,
                                                      VoiceCall.status == "blocked")).one()
    assert blocked.try_no == 7 and blocked.blocked_rule == "daily_attempt_cap"


def test_provider_failure_is_a_failed_call_and_the_campaign_goes_on(session: Session) -> None:
    """An adapter error finishes that call as failed; the next account is still dialled."""
    bad, good = delinquent(session), delinquent(session)
    run_night(session)
    world = FakeWorld(session=session, outcomes={good.phone.phone: ["voicemail"]}, fail_numbers={bad.phone.phone})
    report = dialer(world).run(as_of=CALL_DAY, queue=queue_of(session, bad, good))
    assert (report.failed, report.placed) == (1, 1)
    failed = session.scalars(select(VoiceCall).where(VoiceCall.loan_id == bad.loan.id)).one()
    assert (failed.status, failed.result) == ("completed", "failed")
    attempt = session.get(ContactAttempt, failed.attempt_id)
    assert attempt is not None and attempt.result == "no_answer"


def test_until_stops_the_campaign(session: Session) -> None:
    """Past `until` no new call is placed; calls still open are reported unfinished."""
    debtors = [delinquent(session) for _ in range(3)]
    run_night(session)
    world = FakeWorld(session=session, outcomes={d.phone.phone: ["voicemail"] for d in debtors},
                      duration=timedelta(minutes=5))
    report = dialer(world, max_concurrent=1).run(as_of=CALL_DAY, until=START + timedelta(minutes=1),
                                                queue=queue_of(session, *debtors))
    assert (report.placed, report.unfinished) == (1, 1)


def test_invalid_pacing_is_refused() -> None:
    """Zero concurrency or rate is a configuration error."""
    with pytest.raises(ValueError):
        Pacing(max_concurrent=0)
    with pytest.raises(ValueError):
        Pacing(calls_per_second=0)


def test_a_requested_callback_is_dialled_at_its_time_despite_the_us_wait(session: Session) -> None:
    """"Call me back at 2 pm" (US): the queue carries the callback, the dialer waits for 2 pm and the call goes
    through although a conversation happened that morning (borrower-requested calls are exempt); the task is done."""
    from buyu.collections.models import CallbackTask
    from tests.calls.helpers import converse, say, verify

    d = delinquent(session, timezone="America/New_York", consent=True)
    run_night(session)
    first = calls.open_call(session=session, loan_id=d.loan.id, contact_point_id=d.phone.id, as_of=CALL_DAY,
                            at=d.at(CALL_DAY, 10), locale="en-US")
    wanted = d.at(CALL_DAY, 14)
    converse(session, first, [*verify(), say("call_back", callback_at=wanted.isoformat())])
    plain = col.request_contact(session=session, loan_id=d.loan.id, channel="robot_call",
                                contact_point_id=d.phone.id, at=d.at(CALL_DAY, 13), as_of=CALL_DAY, profile="US")
    assert (plain.allowed, plain.rule) == (False, "post_conversation_wait")
    items = queue_of(session, d)
    assert [(i.source, i.due_at) for i in items] == [("callback", wanted)]
    world = FakeWorld(session=session, outcomes={d.phone.phone: ["rpc"]}, now_at=d.at(CALL_DAY, 13, 30))
    report = dialer(world).run(as_of=CALL_DAY, queue=items)
    assert report.placed == 1 and world.placed[0][0] == wanted
    call = session.get(VoiceCall, world.placed[0][2])
    assert call is not None
    attempt = session.get(ContactAttempt, call.attempt_id)
    task = session.get(CallbackTask, items[0].callback_id)
    assert attempt is not None and task is not None and attempt.callback_id == task.id and task.status == "done"


def test_a_planned_call_waits_for_the_borrowers_best_hour(session: Session) -> None:
    """A queue item whose plan ranks 19:00 first is dialled at 19:00 borrower-local, not when the campaign starts;
    one without hours goes at once."""
    from dataclasses import replace

    early, late = delinquent(session), delinquent(session)
    run_night(session)
    items = queue_of(session, early, late)
    best = late.at(CALL_DAY, 19)
    items = [replace(i, call_hours=(19, 20), not_before=best) if i.loan_id == late.loan.id else i for i in items]
    world = FakeWorld(session=session, outcomes={early.phone.phone: ["rpc"], late.phone.phone: ["rpc"]},
                      now_at=early.at(CALL_DAY, 10))
    report = dialer(world).run(as_of=CALL_DAY, queue=items)
    when = {number: at for at, number, _ in world.placed}
    assert report.placed == 2
    assert when[early.phone.phone] == early.at(CALL_DAY, 10) and when[late.phone.phone] == best
