"""Voice robot services: today's queue, opening a call under the contact rules, booking what the dialog decided.

Keyword-only, typed, never commit (the caller's unit of work does). A call's life:

1. `open_call` asks the contact rules (`buyu.collections.service.request_contact`, which logs the
   decision as a contact attempt either way) and writes a `voice_calls` row; a refused call is a
   row with status 'blocked' and its rule, and `ComplianceBlocked` is raised *after* both rows are
   flushed — catch it inside the unit of work to keep the log (the dialer does).
2. `call_context` builds the dialog's `CallContext` from the ledger (overdue amount and DPD as of
   the call's business date), the borrower and the active strategy's promise limits.
3. `record_turn` keeps the transcript; `apply_actions` books the dialog's actions through the
   collections services (promise, callback, cease, dispute) and the human queue.
4. `finish_call` stores the result, timings and recording and records the contact attempt's
   outcome, which is what the contact rules count from then on.
"""

from __future__ import annotations

import importlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.orm import Session

from buyu.calls.models import RESULT_CODES, SPEAKERS, HumanQueueEntry, PaymentLink, VoiceBooking, VoiceCall, VoiceTurn
from buyu.collections import policy
from buyu.collections import service as col
from buyu.collections.models import CallbackTask, ContactAttempt, ContactPoint, Promise
from buyu.errors import BuyuError, ComplianceBlocked, Conflict, InvalidInput, NotFound
from buyu.ledger.models import Borrower, Loan
from buyu.ledger.state import loan_state
from buyu.money import fmt
from buyu.people import service as people
from voicebot.dialog import Action, CallContext

#: Contact-point kinds the robot may dial: the debtor's own lines (never a third party, see policy).
ROBOT_POINT_KINDS = ("self", "work")
DEFAULT_LENDER = "Buyu"
#: The callback time when the borrower names none: the next day at this borrower-local hour.
DEFAULT_CALLBACK_HOUR = 10


@dataclass(frozen=True, slots=True)
class PtpLimits:
    """Promise limits the dialog enforces (from the active strategy when there is one)."""

    max_days: int = 7
    min_amount_share: Decimal = Decimal("0.3")
    min_amount_fen: int = 10_000
    instalments_max: int = 3

    def min_for(self, overdue_fen: int) -> int:
        """The smallest acceptable promise: the share of the overdue amount, at least the floor, at most all of it."""
        share = int((self.min_amount_share * overdue_fen).to_integral_value(rounding=ROUND_CEILING))
        return max(1, min(overdue_fen, max(self.min_amount_fen, share)))


DEFAULT_LIMITS = PtpLimits()

#: Voice result → contact-log outcome when the borrower was verified / was not (None: same code).
_OUTCOME_VERIFIED = {"paid_link": "ptp", "abuse": "refused", "silence": "rpc", "hangup": "rpc", "failed": "rpc",
                     "verification_failed": "wrong_party"}
#: Before verification nobody is known to have heard about the debt: no conversation is logged, and an
#: unknown listener counts as an unanswered call (the conservative side of the daily cap).
_OUTCOME_UNVERIFIED = {"abuse": "no_answer", "silence": "no_answer", "hangup": "no_answer", "failed": "no_answer",
                       "verification_failed": "wrong_party", "rpc": "no_answer", "paid_link": "no_answer",
                       "ptp": "no_answer", "refused": "no_answer", "dispute": "no_answer"}


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One account to call today, with the number to dial."""

    loan_id: int
    borrower_id: int
    contact_point_id: int
    phone: str
    dpd: int
    priority: int
    source: str  # "plan" | "dpd"
    locale: str
    timezone: str
    #: a call the borrower asked for: dial at `due_at`, exempt from the weekly cap and post-conversation wait
    callback_id: int | None = None
    due_at: datetime | None = None
    #: the plan's borrower-local hours to call in, best first, and the start of the first one (UTC)
    call_hours: tuple[int, ...] = ()
    not_before: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


# --------------------------------------------------------------------------- queue


def robot_queue(*, session: Session, as_of: date, limit: int | None = None) -> list[QueueItem]:
    """Today's robot call queue: the night's plan (robot_call items for `as_of`) if there is one, else by DPD."""
    if limit is not None and limit < 0:
        raise InvalidInput("limit must be >= 0", code="invalid_limit", details={"field": "limit"})
    planned = _planned_loans(session=session, as_of=as_of)
    talked = _talked_today(session=session, as_of=as_of)
    hours: dict[int, tuple[int, ...]] = {}
    if planned is not None:
        loans, source = [i for i in planned if i not in talked], "plan"
        hours = _planned_hours(session=session, as_of=as_of)
    else:
        waiting = _promised(session=session, as_of=as_of)
        rows = session.execute(select(Loan.id).where(Loan.dpd > 0, Loan.status.in_(col.COLLECTABLE))
                               .order_by(Loan.dpd.desc(), Loan.id)).all()
        loans, source = [int(r.id) for r in rows if r.id not in talked and r.id not in waiting], "dpd"
    callbacks = robot_callbacks(session=session, as_of=as_of)
    due = {c.loan_id for c in callbacks}
    listed = [_timed(i, hours=hours.get(i.loan_id, ()), as_of=as_of)
              for i in _with_phones(session=session, loan_ids=loans, source=source)]
    items = callbacks + [i for i in listed if i.loan_id not in due]
    return items if limit is None else items[:limit]


def robot_callbacks(*, session: Session, as_of: date) -> list[QueueItem]:
    """Open callbacks the robot promised (no collector) falling due on `as_of`, borrower-local, by due time."""
    first = datetime.combine(as_of - timedelta(days=1), time(0), tzinfo=UTC)
    rows = session.execute(
        select(CallbackTask.id, CallbackTask.loan_id, CallbackTask.due_at, ContactPoint.id.label("point_id"),
               ContactPoint.phone, Loan.borrower_id, Loan.dpd, Borrower.language, Borrower.timezone)
        .join(ContactPoint, ContactPoint.id == CallbackTask.contact_point_id)
        .join(Loan, Loan.id == CallbackTask.loan_id).join(Borrower, Borrower.id == Loan.borrower_id)
        .where(CallbackTask.status == "open", CallbackTask.collector_id.is_(None),
               CallbackTask.due_at >= first, CallbackTask.due_at < first + timedelta(days=3),
               ContactPoint.active, ~ContactPoint.wrong_number, ContactPoint.kind.in_(ROBOT_POINT_KINDS))
        .order_by(CallbackTask.due_at, CallbackTask.id)).all()
    out: list[QueueItem] = []
    for r in rows:
        due_at = _utc(r.due_at)
        if policy.local_day_and_hour(due_at, r.timezone)[0] != as_of or r.loan_id in {i.loan_id for i in out}:
            continue
        out.append(QueueItem(loan_id=int(r.loan_id), borrower_id=int(r.borrower_id), contact_point_id=int(r.point_id),
                             phone=r.phone, dpd=int(r.dpd), priority=len(out) + 1, source="callback",
                             locale=r.language, timezone=r.timezone, callback_id=int(r.id), due_at=due_at))
    return out


def _talked_today(*, session: Session, as_of: date) -> set[int]:
    """Loans whose borrower we already talked with today (on any channel): a re-run must not call them again."""
    rows = session.execute(select(ContactAttempt.loan_id).where(
        ContactAttempt.as_of == as_of, ContactAttempt.result.in_(policy.RPC_RESULTS)).distinct())
    return {int(r.loan_id) for r in rows}


def _promised(*, session: Session, as_of: date) -> set[int]:
    """Loans with an open promise not yet due: the DPD fallback waits for the promise instead of calling."""
    rows = session.execute(select(Promise.loan_id).where(Promise.status == "open", Promise.due_date >= as_of)
                           .distinct())
    return {int(r.loan_id) for r in rows}


def _planned_loans(*, session: Session, as_of: date) -> list[int] | None:
    """Loan ids of the plan's robot calls for `as_of` by priority; None when no plan covers the date."""
    if not inspect(session.connection()).has_table("plan_items"):
        return None
    params = {"d": as_of}
    if session.execute(text("SELECT 1 FROM plan_items WHERE work_date = :d LIMIT 1"), params).first() is None:
        return None
    rows = session.execute(text("SELECT loan_id, MIN(priority) AS p FROM plan_items WHERE work_date = :d "
                                "AND treatment = 'robot_call' GROUP BY loan_id ORDER BY p, loan_id"), params)
    return [int(r.loan_id) for r in rows]


def _planned_hours(*, session: Session, as_of: date) -> dict[int, tuple[int, ...]]:
    """The plan's ranked borrower-local hours per robot call for `as_of` (plans made before hours were ranked
    have none)."""
    if "call_hours" not in {c["name"] for c in inspect(session.connection()).get_columns("plan_items")}:
        return {}
    rows = session.execute(text("SELECT loan_id, call_hours FROM plan_items WHERE work_date = :d "
                                "AND treatment = 'robot_call' AND call_hours IS NOT NULL"), {"d": as_of})
    out: dict[int, tuple[int, ...]] = {}
    for loan_id, value in rows:
        ranked = json.loads(value) if isinstance(value, str) else value
        out.setdefault(int(loan_id), tuple(int(h) for h in ranked or ()))
    return out


def _timed(item: QueueItem, *, hours: tuple[int, ...], as_of: date) -> QueueItem:
    """The item with its hours and the instant its best hour starts on `as_of`, borrower-local."""
    if not hours:
        return item
    start = datetime.combine(as_of, time(hours[0]), tzinfo=ZoneInfo(item.timezone)).astimezone(UTC)
    return replace(item, call_hours=hours, not_before=start)


def _with_phones(*, session: Session, loan_ids: Sequence[int], source: str) -> list[QueueItem]:
    """Attach each loan's best robot-dialable number (own phone first); loans without one drop out."""
    out: list[QueueItem] = []
    for start in range(0, len(loan_ids), 5000):
        chunk = list(loan_ids[start:start + 5000])
        loans = {int(r.id): r for r in session.execute(
            select(Loan.id, Loan.borrower_id, Loan.dpd, Borrower.language, Borrower.timezone)
            .join(Borrower, Borrower.id == Loan.borrower_id).where(Loan.id.in_(chunk)))}
        points: dict[int, ContactPoint] = {}
        for p in session.scalars(select(ContactPoint).where(
                ContactPoint.borrower_id.in_({r.borrower_id for r in loans.values()}),
                ContactPoint.kind.in_(ROBOT_POINT_KINDS), ContactPoint.active, ~ContactPoint.wrong_number)
                .order_by(ContactPoint.kind, ContactPoint.id)):  # 'self' sorts before 'work': own phone first
            points.setdefault(p.borrower_id, p)
        for loan_id in chunk:
            row = loans.get(loan_id)
            point = points.get(row.borrower_id) if row is not None else None
            if row is None or point is None:
                continue
            out.append(QueueItem(loan_id=loan_id, borrower_id=int(row.borrower_id), contact_point_id=point.id,
                                 phone=point.phone, dpd=int(row.dpd), priority=len(out) + 1, source=source,
                                 locale=row.language, timezone=row.timezone))
    return out


# --------------------------------------------------------------------------- opening a call


def contact_profile(borrower: Borrower) -> str:
    """The contact-rule profile of a borrower: US rules for a US timezone, else CN."""
    return "US" if borrower.timezone.startswith(("America/", "US/", "Pacific/Honolulu")) else "CN"


def open_call(*, session: Session, loan_id: int, contact_point_id: int, as_of: date, at: datetime,
              provider_sid: str | None = None, locale: str | None = None, profile: str | None = None,
              retry_of: int | None = None, callback_id: int | None = None) -> VoiceCall:
    """Check the contact rules now and open a call; a refused call is logged with its rule, then raised."""
    loan = col.get_loan(session=session, loan_id=loan_id)
    borrower = col.get_borrower(session=session, borrower_id=loan.borrower_id)
    previous = _retried(session=session, retry_of=retry_of, loan_id=loan_id)
    rules = profile or contact_profile(borrower)
    decision = col.request_contact(session=session, loan_id=loan_id, channel="robot_call",
                                   contact_point_id=contact_point_id, at=at, profile=rules, as_of=as_of,
                                   callback_id=callback_id)
    assert decision.attempt_id is not None
    call = VoiceCall(loan_id=loan_id, borrower_id=borrower.id, contact_point_id=contact_point_id,
                     attempt_id=decision.attempt_id, retry_of=retry_of,
                     try_no=previous.try_no + 1 if previous else 1, as_of=as_of, profile=rules,
                     locale=locale or borrower.language, status="dialing" if decision.allowed else "blocked",
                     blocked_rule=decision.rule, provider_sid=None if not decision.allowed else provider_sid,
                     placed_at=at.astimezone(UTC), ring_seconds=0, talk_seconds=0,
                     details={"duties": list(decision.duties)} if decision.duties else None)
    session.add(call)
    session.flush()
    if not decision.allowed:
        raise ComplianceBlocked(f"robot call to loan {loan_id} blocked by {decision.rule}: {decision.reason}",
                                code="compliance_blocked",
                                details={"call_id": call.id, "attempt_id": decision.attempt_id,
                                         "rule": decision.rule, "reason": decision.reason})
    return call


def _retried(*, session: Session, retry_of: int | None, loan_id: int) -> VoiceCall | None:
    if retry_of is None:
        return None
    previous = get_call(session=session, call_id=retry_of)
    if previous.loan_id != loan_id:
        raise InvalidInput(f"call {retry_of} is not a call about loan {loan_id}", code="retry_mismatch",
                           details={"retry_of": retry_of})
    return previous


def attach_provider(*, session: Session, call_id: int, provider_sid: str) -> VoiceCall:
    """Remember the telephony provider's id of a placed call (Twilio CallSid)."""
    call = _open(session=session, call_id=call_id)
    if call.provider_sid not in (None, provider_sid):
        raise Conflict(f"call {call_id} already has provider sid {call.provider_sid}", code="provider_sid_set",
                       details={"call_id": call_id})
    call.provider_sid = provider_sid
    session.flush()
    return call


def call_by_sid(*, session: Session, provider_sid: str) -> VoiceCall:
    """A call by its provider id (status callbacks and media streams name calls by sid)."""
    call = session.scalar(select(VoiceCall).where(VoiceCall.provider_sid == provider_sid))
    if call is None:
        raise NotFound(f"no call with provider sid {provider_sid}", code="call_not_found",
                       details={"provider_sid": provider_sid})
    return call


def mark_answered(*, session: Session, call_id: int, at: datetime) -> VoiceCall:
    """The call was picked up (by a person or a machine): it is in progress from `at`."""
    call = _open(session=session, call_id=call_id)
    if call.answered_at is None:
        call.answered_at = _not_before(at, call.placed_at)
        call.status = "in_progress"
    session.flush()
    return call


# --------------------------------------------------------------------------- dialog context


def call_context(*, session: Session, call_id: int, locale: str, dtmf_only: bool | None = None,
                 lender: str = DEFAULT_LENDER) -> CallContext:
    """The dialog's view of the call: borrower, overdue amount and DPD on the call's date, promise limits."""
    call = get_call(session=session, call_id=call_id)
    loan = col.get_loan(session=session, loan_id=call.loan_id)
    borrower = col.get_borrower(session=session, borrower_id=loan.borrower_id)
    state = loan_state(session=session, loan=loan, as_of=call.as_of)
    overdue = state.overdue_principal + state.overdue_interest + state.penalty
    limits = ptp_limits(session=session, as_of=call.as_of)
    if dtmf_only is None:
        from voicebot.asr import asr_mode  # the model lookup is the robot's concern; imported only when asked

        dtmf_only = asr_mode(locale=locale).dtmf_only
    return CallContext(
        locale=locale, currency=loan.currency, lender=lender, borrower_name=borrower.name,
        birth_year=borrower.birth_year, id_last4=borrower.id_last4, overdue_fen=overdue,
        balance_fen=max(state.outstanding, overdue), dpd=state.dpd, as_of=call.as_of,
        ptp_max_days=min(limits.max_days, col.DEFAULT_PROMISE_RULES.max_horizon_days),
        ptp_min_fen=limits.min_for(overdue) if overdue > 0 else 1, instalments_max=limits.instalments_max,
        payment_link=True, dtmf_only=dtmf_only, voicemail="callback_message")


def ptp_limits(*, session: Session, as_of: date, portfolio: str = "default") -> PtpLimits:
    """The active strategy's promise limits for `as_of`, or the defaults when no strategy is active."""
    try:
        strategies = importlib.import_module("strategies.service")
        _, strategy = strategies.active_strategy(session=session, portfolio=portfolio, as_of=as_of)
        ptp = strategy.ptp
        return PtpLimits(max_days=int(ptp.max_days), min_amount_share=Decimal(ptp.min_amount_share),
                         min_amount_fen=int(ptp.min_amount_fen), instalments_max=int(ptp.instalments_max))
    except (ImportError, AttributeError, BuyuError):
        # No strategies package yet, or no active version: the defaults are deliberately conservative.
        return DEFAULT_LIMITS


# --------------------------------------------------------------------------- during the call


def record_turn(*, session: Session, call_id: int, speaker: str, text: str, intent: str | None,
                confidence: float | None, at: datetime) -> None:
    """Append one turn to the call's transcript."""
    if speaker not in SPEAKERS:
        raise InvalidInput(f"speaker must be one of {list(SPEAKERS)}", code="invalid_speaker",
                           details={"field": "speaker"})
    if confidence is not None and not 0.0 <= confidence <= 1.0:
        raise InvalidInput("confidence must be between 0 and 1", code="invalid_confidence",
                           details={"field": "confidence"})
    call = get_call(session=session, call_id=call_id)
    if call.status == "blocked":
        raise Conflict(f"call {call_id} was blocked; it has no transcript", code="call_blocked",
                       details={"call_id": call_id})
    seq = int(session.scalar(select(func.coalesce(func.max(VoiceTurn.seq), 0)).where(VoiceTurn.call_id == call_id))
              or 0) + 1
    session.add(VoiceTurn(call_id=call_id, seq=seq, speaker=speaker, text=text, intent=intent,
                          confidence=confidence, at=_aware(at, "at")))
    session.flush()


def apply_actions(*, session: Session, call_id: int, actions: Sequence[Action], at: datetime) -> None:
    """Book what the dialog decided: promise, payment link, callback, cease, dispute, transfer, wrong number."""
    call = _open(session=session, call_id=call_id)
    at = _aware(at, "at")
    for action in actions:
        handler = _BOOKERS.get(action.kind)
        if handler is None:
            raise InvalidInput(f"unknown dialog action {action.kind!r}", code="invalid_action",
                               details={"kind": action.kind, "known": sorted(_BOOKERS)})
        handler(session, call, action, at)
    session.flush()


def _book(session: Session, call: VoiceCall, action: Action, at: datetime, *, promise_id: int | None = None,
          callback_id: int | None = None, **extra: Any) -> None:
    data = {**dict(action.data), **extra} or None
    session.add(VoiceBooking(call_id=call.id, kind=action.kind, data=data, promise_id=promise_id,
                             callback_id=callback_id, at=at))


def _nothing(session: Session, call: VoiceCall, action: Action, at: datetime) -> None:
    """listen / hangup are the telephony's business; nothing to book."""


def _result(session: Session, call: VoiceCall, action: Action, at: datetime) -> None:
    code = action.data.get("code")
    if code not in RESULT_CODES:
        raise InvalidInput(f"unknown result code {code!r}", code="invalid_result", details={"code": code})
    call.details = {**(call.details or {}), "dialog_result": code}


def _verified(session: Session, call: VoiceCall, action: Action, at: datetime) -> None:
    if call.verified_at is None:
        call.verified_at = at
    _book(session, call, action, at)


def _require_verified(call: VoiceCall, what: str) -> None:
    # The dialog never asks for these before verification; the database side refuses them too.
    if call.verified_at is None:
        raise Conflict(f"{what} before the borrower was verified on call {call.id}", code="not_verified",
                       details={"call_id": call.id})


def _record_ptp(session: Session, call: VoiceCall, action: Action, at: datetime) -> None:
    _require_verified(call, "a promise")
    due = _iso_date(action.data.get("due_date"))
    amount = action.data.get("amount_fen")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput("amount_fen must be an integer", code="invalid_amount", details={"field": "amount_fen"})
    promise = col.record_ptp(session=session, loan_id=call.loan_id, made_on=call.as_of, due_date=due,
                             amount_fen=amount, actor=f"robot_call:{call.id}")
    _book(session, call, action, at, promise_id=promise.id)


def _send_payment_link(session: Session, call: VoiceCall, action: Action, at: datetime) -> None:
    """The link goes by SMS, which is a contact of its own: checked and logged like any other."""
    _require_verified(call, "a payment link")
    amount = action.data.get("amount_fen")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput("amount_fen must be a positive integer", code="invalid_amount",
                           details={"field": "amount_fen"})
    decision = col.request_contact(session=session, loan_id=call.loan_id, channel="sms",
                                   contact_point_id=call.contact_point_id, at=at, profile=call.profile,
                                   as_of=call.as_of)
    assert decision.attempt_id is not None
    loan = col.get_loan(session=session, loan_id=call.loan_id)
    link = PaymentLink(call_id=call.id, loan_id=call.loan_id, contact_point_id=call.contact_point_id,
                       sms_attempt_id=decision.attempt_id, amount_fen=amount, currency=loan.currency,
                       token=secrets.token_urlsafe(24), status="queued" if decision.allowed else "blocked",
                       created_at=at)
    session.add(link)
    session.flush()
    _book(session, call, action, at, link_id=link.id, sms_rule=decision.rule)


def _schedule_callback(session: Session, call: VoiceCall, action: Action, at: datetime) -> None:
    """At the borrower's time if the rules allow a call then, else the next day at the default hour."""
    borrower = col.get_borrower(session=session, borrower_id=call.borrower_id)
    wanted = _iso_datetime(action.data.get("at"))
    fallback = datetime.combine(call.as_of + timedelta(days=1), time(DEFAULT_CALLBACK_HOUR),
                                tzinfo=policy.zone(borrower.timezone))
    note = str(action.data.get("reason") or "asked during a robot call")
    refusal: str | None = None
    for due in ([wanted] if wanted is not None else []) + [fallback]:
        try:
            task = col.schedule_callback(session=session, loan_id=call.loan_id, due_at=due, created_on=call.as_of,
                                         contact_point_id=call.contact_point_id, note=note, profile=call.profile,
                                         actor=f"robot_call:{call.id}")
        except (ComplianceBlocked, InvalidInput) as exc:
            refusal = exc.message
            continue
        _book(session, call, action, at, callback_id=task.id, due_at=due.isoformat())
        return
    # Cease or dispute already stops every call: the request is kept on the call, no task is made.
    _book(session, call, action, at, refused=refusal)


def _cease_contact(session: Session, call: VoiceCall, action: Action, at: datetime) -> None:
    col.set_cease_contact(session=session, borrower_id=call.borrower_id, on=call.as_of,
                          reason=f"asked during robot call {call.id}", actor=f"robot_call:{call.id}")
    _book(session, call, action, at)


def _open_dispute(session: Session, call: VoiceCall, action: Action, at: datetime) -> None:
    _require_verified(call, "a dispute")
    reason = str(action.data.get("text") or "").strip() or "disputed during a robot call"
    col.open_dispute(session=session, loan_id=call.loan_id, on=call.as_of, reason=reason,
                     actor=f"robot_call:{call.id}")
    _book(session, call, action, at)


def _transfer_human(session: Session, call: VoiceCall, action: Action, at: datetime) -> None:
    entry = HumanQueueEntry(call_id=call.id, loan_id=call.loan_id, borrower_id=call.borrower_id,
                            reason=str(action.data.get("reason") or "requested")[:40], status="waiting",
                            queued_at=at)
    session.add(entry)
    session.flush()
    _book(session, call, action, at, queue_id=entry.id)


def _wrong_number(session: Session, call: VoiceCall, action: Action, at: datetime) -> None:
    # Only an unverified listener's "wrong number" says the number is not the borrower's.
    if call.verified_at is None:
        col.mark_wrong_number(session=session, contact_point_id=call.contact_point_id, on=call.as_of,
                              actor=f"robot_call:{call.id}")
    _book(session, call, action, at)


def _note(session: Session, call: VoiceCall, action: Action, at: datetime) -> None:
    _book(session, call, action, at)


_BOOKERS = {
    "listen": _nothing, "hangup": _nothing, "result": _result, "verified": _verified, "record_ptp": _record_ptp,
    "send_payment_link": _send_payment_link, "schedule_callback": _schedule_callback,
    "cease_contact": _cease_contact, "open_dispute": _open_dispute, "transfer_human": _transfer_human,
    "wrong_number": _wrong_number, "note": _note,
}


# --------------------------------------------------------------------------- after the call


def waiting_transfers(*, session: Session, limit: int = 100) -> Sequence[HumanQueueEntry]:
    """Borrowers the robot handed to a person and nobody has taken yet, oldest first."""
    return session.scalars(select(HumanQueueEntry).where(HumanQueueEntry.status == "waiting")
                           .order_by(HumanQueueEntry.queued_at, HumanQueueEntry.id).limit(limit)).all()


def take_transfer(*, session: Session, entry_id: int, collector_id: int, at: datetime) -> HumanQueueEntry:
    """A collector takes a waiting transfer (once: a taken entry cannot be taken again)."""
    entry = session.get(HumanQueueEntry, entry_id)
    if entry is None:
        raise NotFound(f"no human-queue entry {entry_id}", code="queue_entry_not_found",
                       details={"entry_id": entry_id})
    if entry.status != "waiting":
        raise Conflict(f"human-queue entry {entry_id} is {entry.status}", code="queue_entry_taken",
                       details={"entry_id": entry_id, "status": entry.status})
    if not people.get_collector(session=session, collector_id=collector_id).active:
        raise Conflict(f"collector {collector_id} is not active", code="collector_inactive",
                       details={"collector_id": collector_id})
    entry.status, entry.collector_id, entry.taken_at = "taken", collector_id, _aware(at, "at")
    session.flush()
    return entry


def link_delivered(*, session: Session, link_id: int, sent: bool) -> PaymentLink:
    """The SMS gateway's answer for a queued payment link: the link and its SMS contact attempt get the outcome."""
    link = session.get(PaymentLink, link_id)
    if link is None:
        raise NotFound(f"no payment link {link_id}", code="payment_link_not_found", details={"link_id": link_id})
    if link.status != "queued":
        raise Conflict(f"payment link {link_id} is {link.status}", code="payment_link_not_queued",
                       details={"link_id": link_id, "status": link.status})
    col.record_attempt(session=session, attempt_id=link.sms_attempt_id, result="sms_sent" if sent else "sms_failed",
                       actor=f"robot_call:{link.call_id}")
    link.status = "sent" if sent else "failed"
    session.flush()
    return link


# --------------------------------------------------------------------------- the end


def finish_call(*, session: Session, call_id: int, result: str, at: datetime, answered_at: datetime | None,
                recording_ref: str | None) -> VoiceCall:
    """Close the call: result code, timings, recording; the contact attempt gets its outcome."""
    if result not in RESULT_CODES:
        raise InvalidInput(f"result must be one of {list(RESULT_CODES)}", code="invalid_result",
                           details={"field": "result"})
    call = _open(session=session, call_id=call_id)
    end = _not_before(_aware(at, "at"), call.placed_at)
    if answered_at is not None:
        answered: datetime | None = _not_before(_aware(answered_at, "answered_at"), call.placed_at)
    else:
        answered = _utc(call.answered_at) if call.answered_at is not None else None
    answered = min(answered, end) if answered is not None else None
    call.ended_at, call.answered_at, call.recording_ref = end, answered, recording_ref
    call.ring_seconds = _seconds(call.placed_at, answered or end)
    call.talk_seconds = _seconds(answered, end) if answered is not None else 0
    call.status, call.result = "completed", result
    outcome = contact_outcome(result=result, verified=call.verified_at is not None)
    col.record_attempt(session=session, attempt_id=call.attempt_id, result=outcome,
                       duration_seconds=call.ring_seconds + call.talk_seconds,
                       transcript=transcript(session=session, call_id=call.id), recording_ref=recording_ref,
                       details={"voice_call_id": call.id, "voice_result": result}, actor=f"robot_call:{call.id}")
    if outcome == "ptp":
        promise_ids = select(VoiceBooking.promise_id).where(VoiceBooking.call_id == call.id,
                                                           VoiceBooking.promise_id.is_not(None))
        session.execute(update(Promise).where(Promise.id.in_(promise_ids)).values(attempt_id=call.attempt_id)
                        .execution_options(synchronize_session=False))
    session.flush()
    return call


def contact_outcome(*, result: str, verified: bool) -> str:
    """The contact-log outcome of a call result (the contact rules count outcomes, not robot codes)."""
    table = _OUTCOME_VERIFIED if verified else _OUTCOME_UNVERIFIED
    return table.get(result, result)


def transcript(*, session: Session, call_id: int) -> str:
    """The call's turns as text, one per line."""
    rows = session.execute(select(VoiceTurn.speaker, VoiceTurn.text).where(VoiceTurn.call_id == call_id)
                           .order_by(VoiceTurn.seq)).all()
    return "\n".join(f"{r.speaker}: {r.text}" for r in rows)


# --------------------------------------------------------------------------- reading


def get_call(*, session: Session, call_id: int) -> VoiceCall:
    """A call by id."""
    call = session.get(VoiceCall, call_id)
    if call is None:
        raise NotFound(f"no call {call_id}", code="call_not_found", details={"call_id": call_id})
    return call


def list_calls(*, session: Session, as_of: date | None = None, loan_id: int | None = None,
               status: str | None = None, limit: int = 100, offset: int = 0) -> Sequence[VoiceCall]:
    """Calls, newest first, optionally of one business date, loan or status."""
    stmt = select(VoiceCall)
    if as_of is not None:
        stmt = stmt.where(VoiceCall.as_of == as_of)
    if loan_id is not None:
        stmt = stmt.where(VoiceCall.loan_id == loan_id)
    if status is not None:
        stmt = stmt.where(VoiceCall.status == status)
    return session.scalars(stmt.order_by(VoiceCall.placed_at.desc(), VoiceCall.id.desc())
                           .limit(limit).offset(offset)).all()


def call_record(*, session: Session, call_id: int) -> dict[str, Any]:
    """Everything about one call as JSON: the call, its contact attempt, transcript and bookings."""
    call = get_call(session=session, call_id=call_id)
    attempt = session.get(ContactAttempt, call.attempt_id)
    currency = col.get_loan(session=session, loan_id=call.loan_id).currency
    turns = session.scalars(select(VoiceTurn).where(VoiceTurn.call_id == call_id).order_by(VoiceTurn.seq)).all()
    bookings = session.scalars(select(VoiceBooking).where(VoiceBooking.call_id == call_id)
                               .order_by(VoiceBooking.id)).all()
    links = session.scalars(select(PaymentLink).where(PaymentLink.call_id == call_id).order_by(PaymentLink.id)).all()
    queue = session.scalars(select(HumanQueueEntry).where(HumanQueueEntry.call_id == call_id)).all()
    return {
        **call_summary(call),
        "attempt": None if attempt is None else {
            "id": attempt.id, "result": attempt.result, "blocked_rule": attempt.blocked_rule,
            "reason": attempt.reason, "duration_seconds": attempt.duration_seconds},
        "turns": [{"seq": t.seq, "speaker": t.speaker, "text": t.text, "intent": t.intent,
                   "confidence": t.confidence, "at": _iso(t.at)} for t in turns],
        "bookings": [{"kind": b.kind, "data": b.data, "promise_id": b.promise_id, "callback_id": b.callback_id,
                      "at": _iso(b.at)} for b in bookings],
        "payment_links": [{"id": p.id, "amount": fmt(p.amount_fen, currency=currency), "status": p.status,
                           "sms_attempt_id": p.sms_attempt_id} for p in links],
        "human_queue": [{"id": q.id, "reason": q.reason, "status": q.status} for q in queue],
    }


def call_summary(call: VoiceCall) -> dict[str, Any]:
    """The call row as JSON."""
    return {
        "id": call.id, "loan_id": call.loan_id, "borrower_id": call.borrower_id,
        "contact_point_id": call.contact_point_id, "attempt_id": call.attempt_id, "retry_of": call.retry_of,
        "try_no": call.try_no, "as_of": call.as_of.isoformat(), "profile": call.profile, "locale": call.locale,
        "status": call.status, "blocked_rule": call.blocked_rule, "result": call.result,
        "provider_sid": call.provider_sid, "placed_at": _iso(call.placed_at), "answered_at": _iso(call.answered_at),
        "verified_at": _iso(call.verified_at), "ended_at": _iso(call.ended_at), "ring_seconds": call.ring_seconds,
        "talk_seconds": call.talk_seconds, "recording_ref": call.recording_ref,
    }


# --------------------------------------------------------------------------- helpers


def _open(*, session: Session, call_id: int) -> VoiceCall:
    """A call that may still change: not blocked, not finished."""
    call = get_call(session=session, call_id=call_id)
    if call.status == "blocked":
        raise ComplianceBlocked(f"call {call_id} was blocked by {call.blocked_rule}", code="call_blocked",
                                details={"call_id": call_id, "rule": call.blocked_rule})
    if call.status == "completed":
        raise Conflict(f"call {call_id} is already finished ({call.result})", code="call_finished",
                       details={"call_id": call_id, "result": call.result})
    return call


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must be timezone-aware", code="naive_datetime", details={"field": name})
    return value.astimezone(UTC)


def _not_before(value: datetime, start: datetime) -> datetime:
    value, start = _utc(value), _utc(start)
    if value < start:
        raise InvalidInput("a call event cannot precede the call", code="invalid_call_time",
                           details={"at": value.isoformat(), "placed_at": start.isoformat()})
    return value


def _seconds(first: datetime, last: datetime) -> int:
    return max(0, int((_utc(last) - _utc(first)).total_seconds()))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _utc(value).isoformat()


def _iso_date(raw: object) -> date:
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise InvalidInput(f"not an ISO date: {raw!r}", code="invalid_date", details={"field": "due_date"}) from None


def _iso_datetime(raw: object) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None
