"""Helpers for the voice-call proofs: delinquent debtors through the real ledger night, and a scripted dialog."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from buyu.calls import service as calls
from buyu.calls.models import VoiceCall
from buyu.collections import service as col
from buyu.ledger.eod import ledger_day
from tests.collections.helpers import Debtor, debtor
from voicebot.dialog import CallContext, Event, Transition, start, step

NIGHT = date(2026, 3, 1)  # first instalment fell due 2026-02-15: DPD 14 after this night
CALL_DAY = date(2026, 3, 2)
BIRTH_YEAR = 1988


def delinquent(session: Session, *, timezone: str = "Asia/Shanghai", consent: bool = False,
               **loan_kw: object) -> Debtor:
    """A loan whose first instalment is unpaid, with the borrower's birth year on file and the night run."""
    d = debtor(session, timezone=timezone, **loan_kw)
    d.borrower.birth_year = BIRTH_YEAR
    if consent:
        col.set_consent(session=session, borrower_id=d.borrower.id, on=date(2026, 1, 15), artificial_voice=True)
    session.flush()
    return d


def run_night(session: Session, day: date = NIGHT) -> None:
    """The ledger's night and the collections step (ages loans, opens cases)."""
    ledger_day(session=session, day=day)
    col.collections_day(session=session, as_of=day)
    session.flush()


def open_at(session: Session, d: Debtor, hh: int = 10, mm: int = 0, day: date = CALL_DAY) -> VoiceCall:
    """Open a robot call to the debtor's own phone at a borrower-local time."""
    return calls.open_call(session=session, loan_id=d.loan.id, contact_point_id=d.phone.id, as_of=day,
                           at=d.at(day, hh, mm), locale="en-US")


def converse(session: Session, call: VoiceCall, events: Sequence[Event], *, at: datetime | None = None,
             ctx: CallContext | None = None) -> Transition:
    """Drive a whole call the way the telephony server does: turns, actions booked step by step, finish."""
    ctx = ctx or calls.call_context(session=session, call_id=call.id, locale="en-US", dtmf_only=False)
    t0 = (at or call.placed_at).astimezone(UTC) + timedelta(seconds=5)
    calls.mark_answered(session=session, call_id=call.id, at=t0)
    t = start(ctx)
    clock = t0
    for e in events:
        for p in t.prompts:
            calls.record_turn(session=session, call_id=call.id, speaker="robot", text=p.text, intent=None,
                              confidence=None, at=clock)
        clock += timedelta(seconds=4)
        calls.record_turn(session=session, call_id=call.id, speaker="borrower", text=e.text or e.digits or e.kind,
                          intent=e.intent, confidence=e.confidence, at=clock)
        t = step(t.state, e, ctx)
        calls.apply_actions(session=session, call_id=call.id, actions=t.actions, at=clock)
        if t.actions[-1].kind == "hangup":
            break
    code = next(str(a.data["code"]) for a in t.actions if a.kind == "result")
    calls.finish_call(session=session, call_id=call.id, result=code, at=clock + timedelta(seconds=3),
                      answered_at=t0, recording_ref=f"rec/{call.id}.wav")
    return t


def say(intent: str, text: str = "", **slots: object) -> Event:
    """A borrower turn as the NLU would hand it over."""
    return Event(kind="utterance", intent=intent, slots=slots, text=text or intent)


def verify() -> list[Event]:
    """Name confirmed, birth year keyed in."""
    return [say("yes"), Event(kind="dtmf", digits=str(BIRTH_YEAR))]
