"""Collections services: contact decisions and outcomes, promises, holds, callbacks, the nightly step.

Keyword-only, typed, never commit (the unit of work does). Every contact starts with
`request_contact`, which evaluates the pure rules (buyu.collections.policy) against the full
contact log and ALWAYS writes a `contact_attempts` row: blocked (result 'blocked' + the rule) or
allowed and in flight (result NULL). `record_attempt` only fills in the outcome of an in-flight
row, so an attempt the rules forbid cannot be written: no other code path creates attempt rows,
and in-flight rows count against the caps (see policy.post_conversation_wait) until they have
an outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Date, Executable, and_, false, func, insert, literal, or_, select, true, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from buyu.collections import policy
from buyu.collections.models import AuditEntry as Audit
from buyu.collections.models import (
    CallbackTask,
    CollectionCase,
    ContactAttempt,
    ContactFlags,
    ContactPoint,
    Promise,
)
from buyu.db import days_between
from buyu.errors import ComplianceBlocked, Conflict, InvalidInput, NotFound
from buyu.ledger.models import Borrower, Loan, Payment
from buyu.people.models import Collector

PHONE_CHANNELS = frozenset({"robot_call", "agent_call", "sms"})
#: Outcomes that make sense per channel (letters, legal and agency placements take any outcome).
OUTCOMES_BY_CHANNEL: dict[str, frozenset[str]] = {
    "robot_call": frozenset({"no_answer", "busy", "voicemail", "wrong_party", "rpc", "ptp", "refused", "dispute",
                             "callback", "transferred", "ceased"}),
    "sms": frozenset({"sms_sent", "sms_failed", "ceased", "dispute"}),
    "field_visit": frozenset({"visit_met", "visit_absent", "wrong_party", "ptp", "refused", "dispute", "callback",
                              "ceased"}),
}
OUTCOMES_BY_CHANNEL["agent_call"] = OUTCOMES_BY_CHANNEL["robot_call"]
ALL_OUTCOMES = frozenset(policy.UNANSWERED | policy.RPC_RESULTS | {
    "wrong_party", "sms_sent", "sms_failed", "visit_absent"})
COLLECTABLE = ("active", "written_off")


@dataclass(frozen=True)
class PromiseRules:
    """How promises are judged: a payment window of due date + `tolerance_days`, and `tolerance_bp`
    (basis points of the amount, 100 = 1%) that may be missing; promises reach at most
    `max_horizon_days` ahead."""

    tolerance_days: int = 3
    tolerance_bp: int = 100
    max_horizon_days: int = 30


DEFAULT_PROMISE_RULES = PromiseRules()


@dataclass
class CollectionsDayStats:
    """What one night's collections step did."""

    as_of: str
    cases_opened: int = 0
    cases_closed: int = 0
    self_points_added: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    open_cases: int = 0
    close_reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready stats."""
        return asdict(self)


# --------------------------------------------------------------------------- audit


def record_audit(*, session: Session, actor: str, action: str, entity: str, entity_id: int | None,
                 details: dict[str, Any] | None = None, as_of: date | None = None) -> Audit:
    """Append one entry to the audit log (the database refuses edits)."""
    entry = Audit(actor=actor, action=action, entity=entity, entity_id=entity_id, details=details, as_of=as_of)
    session.add(entry)
    return entry


# --------------------------------------------------------------------------- lookups


def get_loan(*, session: Session, loan_id: int) -> Loan:
    """A loan by id, read-only here (the ledger owns it)."""
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise NotFound(f"no loan {loan_id}", code="loan_not_found", details={"loan_id": loan_id})
    return loan


def get_borrower(*, session: Session, borrower_id: int) -> Borrower:
    """A borrower by id."""
    borrower = session.get(Borrower, borrower_id)
    if borrower is None:
        raise NotFound(f"no borrower {borrower_id}", code="borrower_not_found", details={"borrower_id": borrower_id})
    return borrower


def open_case(*, session: Session, loan_id: int) -> CollectionCase | None:
    """The loan's open collection case, if any."""
    return session.scalar(select(CollectionCase).where(CollectionCase.loan_id == loan_id,
                                                       CollectionCase.status == "open"))


def flags_of(*, session: Session, borrower_id: int, create: bool = False) -> ContactFlags | None:
    """The borrower's contact flags row (created empty when `create`)."""
    flags = session.get(ContactFlags, borrower_id)
    if flags is None and create:
        get_borrower(session=session, borrower_id=borrower_id)
        flags = ContactFlags(borrower_id=borrower_id, artificial_voice_consent=False, quiet_hours_consent=False,
                             dispute_open=False)
        session.add(flags)
        session.flush()
    return flags


# --------------------------------------------------------------------------- contact points & flags


def add_contact_point(*, session: Session, borrower_id: int, kind: str, phone: str,
                      contact_name: str | None = None, actor: str = "system") -> ContactPoint:
    """Register a phone number for a borrower, saying whose it is."""
    get_borrower(session=session, borrower_id=borrower_id)
    if kind not in policy.POINT_KINDS:
        raise InvalidInput(f"kind must be one of {sorted(policy.POINT_KINDS)}", code="invalid_point_kind",
                           details={"field": "kind"})
    phone = phone.strip()
    if not 3 <= len(phone) <= 32:
        raise InvalidInput("phone must have 3 to 32 characters", code="invalid_phone", details={"field": "phone"})
    exists = select(ContactPoint.id).where(ContactPoint.borrower_id == borrower_id, ContactPoint.phone == phone)
    if session.scalar(exists) is not None:
        raise Conflict(f"phone {phone} is already a contact point of borrower {borrower_id}",
                       code="contact_point_exists")
    point = ContactPoint(borrower_id=borrower_id, kind=kind, phone=phone, contact_name=contact_name,
                         wrong_number=False, active=True)
    session.add(point)
    session.flush()
    record_audit(session=session, actor=actor, action="contact_point.added", entity="contact_point",
                 entity_id=point.id, details={"borrower_id": borrower_id, "kind": kind})
    return point


def list_contact_points(*, session: Session, borrower_id: int) -> Sequence[ContactPoint]:
    """A borrower's contact points."""
    return session.scalars(select(ContactPoint).where(ContactPoint.borrower_id == borrower_id)
                           .order_by(ContactPoint.id)).all()


def mark_wrong_number(*, session: Session, contact_point_id: int, on: date, actor: str = "system") -> ContactPoint:
    """Flag a number as verified wrong: the rules never dial it again."""
    point = _point(session=session, contact_point_id=contact_point_id)
    point.wrong_number, point.wrong_number_on = True, on
    record_audit(session=session, actor=actor, action="contact_point.wrong_number", entity="contact_point",
                 entity_id=point.id, as_of=on)
    session.flush()
    return point


def set_cease_contact(*, session: Session, borrower_id: int, on: date, channels: Sequence[str] | None = None,
                      reason: str | None = None, actor: str = "system") -> ContactFlags:
    """The borrower asks us to stop (all channels, or some): every request from business day `on` is refused.

    A second request widens the first (earliest date, union of channels; "all" stays all).
    """
    scope = None if channels is None else frozenset(channels)
    if scope is not None and (not scope or not scope <= policy.CHANNELS):
        raise InvalidInput(f"channels must be a non-empty subset of {sorted(policy.CHANNELS)}",
                           code="invalid_channels", details={"field": "channels"})
    flags = flags_of(session=session, borrower_id=borrower_id, create=True)
    assert flags is not None
    if flags.cease_from is not None:
        on = min(on, flags.cease_from)
        old = flags.cease_channels
        scope = None if old is None or scope is None else scope | frozenset(old)
    flags.cease_from, flags.cease_reason = on, reason or flags.cease_reason
    flags.cease_channels = None if scope is None else sorted(scope)
    record_audit(session=session, actor=actor, action="contact.cease", entity="borrower", entity_id=borrower_id,
                 details={"channels": flags.cease_channels, "reason": reason}, as_of=on)
    session.flush()
    return flags


def set_consent(*, session: Session, borrower_id: int, on: date, artificial_voice: bool | None = None,
                quiet_hours: bool | None = None, actor: str = "system") -> ContactFlags:
    """Record (or withdraw) consent to artificial-voice calls and to contact outside the usual hours."""
    flags = flags_of(session=session, borrower_id=borrower_id, create=True)
    assert flags is not None
    if artificial_voice is not None:
        flags.artificial_voice_consent = artificial_voice
        flags.artificial_voice_consent_on = on if artificial_voice else None
    if quiet_hours is not None:
        flags.quiet_hours_consent = quiet_hours
    record_audit(session=session, actor=actor, action="contact.consent", entity="borrower", entity_id=borrower_id,
                 details={"artificial_voice": artificial_voice, "quiet_hours": quiet_hours}, as_of=on)
    session.flush()
    return flags


def open_dispute(*, session: Session, loan_id: int, on: date, reason: str, actor: str = "system") -> ContactFlags:
    """The borrower disputes the debt: contacts are blocked (rule dispute_hold) until it is resolved.

    The flag is per borrower (every loan of theirs pauses: the safe reading of a dispute); the open
    case, if any, shows the hold.
    """
    if not reason.strip():
        raise InvalidInput("a dispute needs a reason", code="reason_required", details={"field": "reason"})
    loan = get_loan(session=session, loan_id=loan_id)
    flags = flags_of(session=session, borrower_id=loan.borrower_id, create=True)
    assert flags is not None
    if not flags.dispute_open:
        flags.dispute_open, flags.dispute_opened_on, flags.dispute_reason = True, on, reason
    kase = open_case(session=session, loan_id=loan_id)
    if kase is not None:
        kase.hold_reason = "dispute"
    record_audit(session=session, actor=actor, action="dispute.opened", entity="loan", entity_id=loan_id,
                 details={"reason": reason}, as_of=on)
    session.flush()
    return flags


def resolve_dispute(*, session: Session, loan_id: int, on: date, outcome: str, actor: str = "system") -> ContactFlags:
    """Close the borrower's dispute (verification sent or claim upheld); contacts may resume."""
    loan = get_loan(session=session, loan_id=loan_id)
    flags = flags_of(session=session, borrower_id=loan.borrower_id)
    if flags is None or not flags.dispute_open:
        raise Conflict("no open dispute for this borrower", code="no_open_dispute", details={"loan_id": loan_id})
    flags.dispute_open, flags.dispute_opened_on = False, None
    session.execute(update(CollectionCase)
                    .where(CollectionCase.borrower_id == loan.borrower_id, CollectionCase.hold_reason == "dispute")
                    .values(hold_reason=None))
    record_audit(session=session, actor=actor, action="dispute.resolved", entity="loan", entity_id=loan_id,
                 details={"outcome": outcome}, as_of=on)
    session.flush()
    return flags


def pause_case(*, session: Session, loan_id: int, until: date, reason: str, on: date,
               actor: str = "system") -> CollectionCase:
    """Pause the loan's open case through `until` (rule case_paused)."""
    kase = open_case(session=session, loan_id=loan_id)
    if kase is None:
        raise Conflict(f"loan {loan_id} has no open case", code="no_open_case", details={"loan_id": loan_id})
    if until < on:
        raise InvalidInput("until is before on", code="invalid_dates", details={"field": "until"})
    kase.paused_until, kase.hold_reason = until, reason
    record_audit(session=session, actor=actor, action="case.paused", entity="case", entity_id=kase.id,
                 details={"until": until.isoformat(), "reason": reason}, as_of=on)
    session.flush()
    return kase


def assign_case(*, session: Session, case_id: int, collector_id: int, on: date,
                actor: str = "system") -> CollectionCase:
    """Make a collector the holder of a case (kept across days for continuity)."""
    kase = session.get(CollectionCase, case_id)
    if kase is None:
        raise NotFound(f"no case {case_id}", code="case_not_found", details={"case_id": case_id})
    if kase.status != "open":
        raise Conflict(f"case {case_id} is closed", code="case_closed", details={"case_id": case_id})
    _active_collector(session=session, collector_id=collector_id)
    previous = kase.collector_id
    kase.collector_id, kase.assigned_on = collector_id, on
    record_audit(session=session, actor=actor, action="case.assigned", entity="case", entity_id=case_id,
                 details={"from": previous, "to": collector_id}, as_of=on)
    session.flush()
    return kase


# --------------------------------------------------------------------------- contacts


def request_contact(*, session: Session, loan_id: int, channel: str, contact_point_id: int | None, at: datetime,
                    collector_id: int | None = None, profile: policy.Profile | str = "CN",
                    purpose: str = "collect", as_of: date | None = None,
                    callback_id: int | None = None) -> policy.Decision:
    """Check a contact against the rules and log the decision as an attempt (blocked, or in flight)."""
    rules = policy.get_profile(profile)
    loan = get_loan(session=session, loan_id=loan_id)
    borrower = get_borrower(session=session, borrower_id=loan.borrower_id)
    point = _contact_point_for(session=session, loan=loan, channel=channel, contact_point_id=contact_point_id)
    _check_actor(session=session, channel=channel, collector_id=collector_id)
    callback = _open_callback(session=session, loan_id=loan_id, callback_id=callback_id)
    request = policy.ContactRequest(
        loan_id=loan_id, channel=channel, at=at, timezone=borrower.timezone, as_of=as_of,
        contact_point_id=contact_point_id, point_kind=point.kind if point else None,
        wrong_number=bool(point and point.wrong_number), purpose=purpose, borrower_requested=callback is not None)
    kase = open_case(session=session, loan_id=loan_id)
    decision = _decide(session=session, request=request, borrower_id=borrower.id, kase=kase, profile=rules)
    local_date, local_hour = policy.local_day_and_hour(at, borrower.timezone)
    attempt = ContactAttempt(
        loan_id=loan_id, borrower_id=borrower.id, case_id=kase.id if kase else None,
        contact_point_id=contact_point_id, callback_id=callback_id, channel=channel, purpose=purpose,
        collector_id=collector_id, profile=rules.code, as_of=request.business_date, started_at=at.astimezone(UTC),
        local_date=local_date, local_hour=local_hour, result=None if decision.allowed else "blocked",
        blocked_rule=decision.rule, reason=decision.reason, duration_seconds=0,
        details={"duties": list(decision.duties)} if decision.duties else None)
    session.add(attempt)
    session.flush()
    return replace(decision, attempt_id=attempt.id)


def record_attempt(*, session: Session, attempt_id: int, result: str, duration_seconds: int = 0,
                   transcript: str | None = None, recording_ref: str | None = None,
                   details: dict[str, Any] | None = None, actor: str = "system") -> ContactAttempt:
    """Record the outcome of an allowed, in-flight contact ('ceased' and 'dispute' also set the flags)."""
    attempt = session.get(ContactAttempt, attempt_id)
    if attempt is None:
        raise NotFound(f"no contact attempt {attempt_id}", code="attempt_not_found", details={"attempt_id": attempt_id})
    if attempt.result == "blocked":
        raise ComplianceBlocked(f"attempt {attempt_id} was blocked by rule {attempt.blocked_rule}; it cannot have "
                                "an outcome", code="contact_was_blocked",
                                details={"attempt_id": attempt_id, "rule": attempt.blocked_rule})
    if attempt.result is not None:
        raise Conflict(f"attempt {attempt_id} already has result {attempt.result}", code="attempt_already_recorded",
                       details={"attempt_id": attempt_id, "result": attempt.result})
    allowed = OUTCOMES_BY_CHANNEL.get(attempt.channel, ALL_OUTCOMES)
    if result not in allowed:
        raise InvalidInput(f"result {result!r} is not an outcome of a {attempt.channel}", code="invalid_result",
                           details={"field": "result", "allowed": sorted(allowed)})
    if duration_seconds < 0:
        raise InvalidInput("duration_seconds must be >= 0", code="invalid_duration",
                           details={"field": "duration_seconds"})
    attempt.result, attempt.duration_seconds = result, duration_seconds
    attempt.transcript, attempt.recording_ref = transcript, recording_ref
    attempt.details = {**(attempt.details or {}), **(details or {})} or None
    _side_effects(session=session, attempt=attempt, actor=actor)
    session.flush()
    return attempt


def contact_history(*, session: Session, loan_id: int, limit: int = 500) -> Sequence[ContactAttempt]:
    """A loan's contact log, newest first (blocked requests included)."""
    get_loan(session=session, loan_id=loan_id)
    return session.scalars(select(ContactAttempt).where(ContactAttempt.loan_id == loan_id)
                           .order_by(ContactAttempt.started_at.desc(), ContactAttempt.id.desc()).limit(limit)).all()


def _decide(*, session: Session, request: policy.ContactRequest, borrower_id: int,
            kase: CollectionCase | None, profile: policy.Profile) -> policy.Decision:
    """Load what the rules need (flags, the history around the request day) and evaluate."""
    flags = flags_of(session=session, borrower_id=borrower_id)
    day = request.local.date()
    span = timedelta(days=profile.history_days)
    who = ContactAttempt.loan_id == request.loan_id
    if request.contact_point_id is not None:
        who = or_(who, ContactAttempt.contact_point_id == request.contact_point_id)
    rows = session.execute(
        select(ContactAttempt.channel, ContactAttempt.started_at, ContactAttempt.result, ContactAttempt.loan_id,
               ContactAttempt.contact_point_id, ContactAttempt.callback_id)
        .where(who, ContactAttempt.local_date.between(day - span, day + span),
               or_(ContactAttempt.result.is_(None), ContactAttempt.result != "blocked"))
    ).all()
    history = [policy.PastAttempt(channel=r.channel, started_at=_utc(r.started_at), result=r.result,
                                  loan_id=r.loan_id, contact_point_id=r.contact_point_id,
                                  borrower_requested=r.callback_id is not None) for r in rows]
    return policy.evaluate(request=request, history=history, profile=profile, flags=_policy_flags(flags, kase))


def _policy_flags(flags: ContactFlags | None, kase: CollectionCase | None) -> policy.BorrowerFlags:
    paused = kase.paused_until if kase is not None else None
    if flags is None:
        return policy.BorrowerFlags(paused_until=paused)
    return policy.BorrowerFlags(
        cease_from=flags.cease_from,
        cease_channels=None if flags.cease_channels is None else frozenset(flags.cease_channels),
        artificial_voice_consent=flags.artificial_voice_consent, quiet_hours_consent=flags.quiet_hours_consent,
        dispute_open=flags.dispute_open, paused_until=paused)


def _contact_point_for(*, session: Session, loan: Loan, channel: str,
                       contact_point_id: int | None) -> ContactPoint | None:
    if contact_point_id is None:
        if channel in PHONE_CHANNELS:
            raise InvalidInput(f"a {channel} needs a contact_point_id", code="contact_point_required",
                               details={"field": "contact_point_id"})
        return None
    point = _point(session=session, contact_point_id=contact_point_id)
    if point.borrower_id != loan.borrower_id:
        raise InvalidInput(f"contact point {contact_point_id} is not one of this loan's borrower",
                           code="contact_point_mismatch", details={"contact_point_id": contact_point_id})
    if not point.active:
        raise InvalidInput(f"contact point {contact_point_id} is inactive", code="contact_point_inactive",
                           details={"contact_point_id": contact_point_id})
    return point


def _point(*, session: Session, contact_point_id: int) -> ContactPoint:
    point = session.get(ContactPoint, contact_point_id)
    if point is None:
        raise NotFound(f"no contact point {contact_point_id}", code="contact_point_not_found",
                       details={"contact_point_id": contact_point_id})
    return point


def _check_actor(*, session: Session, channel: str, collector_id: int | None) -> None:
    if collector_id is None:
        return
    if channel == "robot_call":
        raise InvalidInput("a robot call has no collector", code="robot_has_no_collector",
                           details={"field": "collector_id"})
    _active_collector(session=session, collector_id=collector_id)


def _active_collector(*, session: Session, collector_id: int) -> Collector:
    collector = session.get(Collector, collector_id)
    if collector is None:
        raise NotFound(f"no collector {collector_id}", code="collector_not_found",
                       details={"collector_id": collector_id})
    if not collector.active:
        raise Conflict(f"collector {collector_id} is not active", code="collector_inactive",
                       details={"collector_id": collector_id})
    return collector


def _open_callback(*, session: Session, loan_id: int, callback_id: int | None) -> CallbackTask | None:
    if callback_id is None:
        return None
    task = session.get(CallbackTask, callback_id)
    if task is None or task.loan_id != loan_id:
        raise NotFound(f"no callback {callback_id} for loan {loan_id}", code="callback_not_found",
                       details={"callback_id": callback_id})
    if task.status != "open":
        raise Conflict(f"callback {callback_id} is {task.status}", code="callback_not_open",
                       details={"callback_id": callback_id})
    return task


def _side_effects(*, session: Session, attempt: ContactAttempt, actor: str) -> None:
    """What an outcome changes beyond the log: cease and dispute flags, the fulfilled callback."""
    if attempt.result == "ceased":
        set_cease_contact(session=session, borrower_id=attempt.borrower_id, on=attempt.as_of,
                          reason=f"asked during contact attempt {attempt.id}", actor=actor)
    elif attempt.result == "dispute":
        open_dispute(session=session, loan_id=attempt.loan_id, on=attempt.as_of,
                     reason=f"raised during contact attempt {attempt.id}", actor=actor)
    if attempt.callback_id is not None:
        task = session.get(CallbackTask, attempt.callback_id)
        if task is not None and task.status == "open":
            task.status = "done"


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --------------------------------------------------------------------------- promises & callbacks


def record_ptp(*, session: Session, loan_id: int, made_on: date, due_date: date, amount_fen: int,
               attempt_id: int | None = None, collector_id: int | None = None,
               rules: PromiseRules = DEFAULT_PROMISE_RULES, actor: str = "system") -> Promise:
    """Record a promise to pay; it replaces (cancels) the loan's open promise, if any."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise InvalidInput(f"amount must be a positive number of fen, got {amount_fen!r}",
                           code="amount_not_positive", details={"field": "amount"})
    if due_date < made_on:
        raise InvalidInput("due_date is before made_on", code="invalid_due_date", details={"field": "due_date"})
    if (due_date - made_on).days > rules.max_horizon_days:
        raise InvalidInput(f"a promise may reach at most {rules.max_horizon_days} days ahead",
                           code="promise_too_far", details={"field": "due_date", "max_days": rules.max_horizon_days})
    loan = get_loan(session=session, loan_id=loan_id)
    if loan.status not in COLLECTABLE:
        raise Conflict(f"loan {loan_id} is {loan.status}", code="loan_not_collectable", details={"loan_id": loan_id})
    if attempt_id is not None:
        _ptp_attempt(session=session, loan_id=loan_id, attempt_id=attempt_id)
    if collector_id is not None:
        _active_collector(session=session, collector_id=collector_id)
    session.execute(update(Promise).where(Promise.loan_id == loan_id, Promise.status == "open")
                    .values(status="cancelled", judged_on=made_on))
    kase = open_case(session=session, loan_id=loan_id)
    promise = Promise(loan_id=loan_id, case_id=kase.id if kase else None, attempt_id=attempt_id,
                      collector_id=collector_id, made_on=made_on, due_date=due_date, amount_fen=amount_fen,
                      status="open")
    session.add(promise)
    session.flush()
    record_audit(session=session, actor=actor, action="promise.recorded", entity="promise", entity_id=promise.id,
                 details={"loan_id": loan_id, "amount_fen": amount_fen, "due_date": due_date.isoformat()},
                 as_of=made_on)
    return promise


def _ptp_attempt(*, session: Session, loan_id: int, attempt_id: int) -> None:
    attempt = session.get(ContactAttempt, attempt_id)
    if attempt is None or attempt.loan_id != loan_id:
        raise NotFound(f"no contact attempt {attempt_id} for loan {loan_id}", code="attempt_not_found",
                       details={"attempt_id": attempt_id})
    if attempt.result != "ptp":
        raise InvalidInput(f"attempt {attempt_id} has result {attempt.result!r}, not 'ptp'",
                           code="attempt_not_ptp", details={"attempt_id": attempt_id})


def list_promises(*, session: Session, loan_id: int) -> Sequence[Promise]:
    """A loan's promises, newest first."""
    get_loan(session=session, loan_id=loan_id)
    return session.scalars(select(Promise).where(Promise.loan_id == loan_id)
                           .order_by(Promise.made_on.desc(), Promise.id.desc())).all()


def schedule_callback(*, session: Session, loan_id: int, due_at: datetime, created_on: date,
                      collector_id: int | None = None, contact_point_id: int | None = None,
                      attempt_id: int | None = None, note: str | None = None,
                      profile: policy.Profile | str = "CN", actor: str = "system") -> CallbackTask:
    """Plan a call back at `due_at`; refused (ComplianceBlocked) when the rules would forbid a call then."""
    if due_at.tzinfo is None or due_at.utcoffset() is None:
        raise InvalidInput("due_at must be timezone-aware", code="naive_datetime", details={"field": "due_at"})
    loan = get_loan(session=session, loan_id=loan_id)
    borrower = get_borrower(session=session, borrower_id=loan.borrower_id)
    if contact_point_id is not None:
        _contact_point_for(session=session, loan=loan, channel="agent_call", contact_point_id=contact_point_id)
    if collector_id is not None:
        _active_collector(session=session, collector_id=collector_id)
    if policy.local_day_and_hour(due_at, borrower.timezone)[0] < created_on:
        raise InvalidInput("due_at is before created_on", code="invalid_due_at", details={"field": "due_at"})
    _callback_allowed(session=session, loan=loan, borrower=borrower, due_at=due_at, profile=profile)
    task = CallbackTask(loan_id=loan_id, contact_point_id=contact_point_id, attempt_id=attempt_id,
                        collector_id=collector_id, created_on=created_on, due_at=due_at.astimezone(UTC),
                        status="open", note=note)
    session.add(task)
    session.flush()
    record_audit(session=session, actor=actor, action="callback.scheduled", entity="callback", entity_id=task.id,
                 details={"loan_id": loan_id, "due_at": due_at.isoformat()}, as_of=created_on)
    return task


def _callback_allowed(*, session: Session, loan: Loan, borrower: Borrower, due_at: datetime,
                      profile: policy.Profile | str) -> None:
    """The rules that do not depend on the day's traffic (cease, dispute, pause, hours) must allow it."""
    rules = policy.get_profile(profile)
    static = tuple(r for r in rules.rules if r in ("cease_contact", "dispute_hold", "case_paused", "quiet_hours"))
    probe = replace(rules, rules=static)
    request = policy.ContactRequest(loan_id=loan.id, channel="agent_call", at=due_at, timezone=borrower.timezone,
                                    borrower_requested=True)
    flags = _policy_flags(flags_of(session=session, borrower_id=borrower.id), open_case(session=session,
                                                                                       loan_id=loan.id))
    decision = policy.evaluate(request=request, history=(), profile=probe, flags=flags)
    if not decision.allowed:
        raise ComplianceBlocked(f"a callback then is not allowed: {decision.reason}", code="compliance_blocked",
                                details={"rule": decision.rule, "reason": decision.reason})


# --------------------------------------------------------------------------- nightly step


def collections_day(*, session: Session, as_of: date,
                    rules: PromiseRules = DEFAULT_PROMISE_RULES) -> CollectionsDayStats:
    """Close cured/closed/settled cases, open cases for newly delinquent loans, judge due promises (set-based)."""
    stats = CollectionsDayStats(as_of=as_of.isoformat())
    stats.close_reasons = close_cases(session=session, as_of=as_of)
    stats.cases_closed = sum(stats.close_reasons.values())
    stats.cases_opened = open_cases(session=session, as_of=as_of)
    stats.self_points_added = add_self_points(session=session)
    stats.promises_kept, stats.promises_broken = judge_promises(session=session, as_of=as_of, rules=rules)
    stats.open_cases = int(session.scalar(select(func.count()).select_from(CollectionCase)
                                          .where(CollectionCase.status == "open")) or 0)
    record_audit(session=session, actor="eod", action="collections.day", entity="eod", entity_id=None,
                 details=stats.to_dict(), as_of=as_of)
    session.flush()
    return stats


def collections_step(*, session: Session, as_of: date) -> dict[str, object]:
    """The nightly pipeline's hook: collections_day with default rules, stats under "collections"."""
    return {"collections": collections_day(session=session, as_of=as_of).to_dict()}


def open_cases(*, session: Session, as_of: date) -> int:
    """One new case per loan with DPD > 0 (active or written off) and no open case."""
    has_open = select(CollectionCase.id).where(CollectionCase.loan_id == Loan.id, CollectionCase.status == "open")
    rows = select(Loan.id, Loan.borrower_id, literal("open"), literal(as_of, Date()), Loan.bucket, Loan.dpd).where(
        Loan.dpd > 0, Loan.status.in_(COLLECTABLE), ~has_open.exists())
    cols = ["loan_id", "borrower_id", "status", "opened_on", "bucket_at_open", "dpd_at_open"]
    return _rowcount(session, insert(CollectionCase).from_select(cols, rows))


def close_cases(*, session: Session, as_of: date) -> dict[str, int]:
    """Close open cases whose loan is cured (active, DPD 0), closed or settled; written-off loans stay."""
    loan_status = select(Loan.status).where(Loan.id == CollectionCase.loan_id).scalar_subquery()
    loan_dpd = select(Loan.dpd).where(Loan.id == CollectionCase.loan_id).scalar_subquery()
    out: dict[str, int] = {}
    for reason, done in (("closed", loan_status == "closed"), ("settled", loan_status == "settled"),
                         ("cured", and_(loan_status == "active", loan_dpd == 0))):
        n = _rowcount(session, update(CollectionCase)
                      .where(CollectionCase.status == "open", CollectionCase.opened_on <= as_of, done)
                      .values(status="closed", closed_on=as_of, close_reason=reason))
        if n:
            out[reason] = n
    return out


def add_self_points(*, session: Session) -> int:
    """Give every borrower with an open case a 'self' contact point from their registered phone."""
    known = select(ContactPoint.id).where(ContactPoint.borrower_id == Borrower.id, ContactPoint.phone == Borrower.phone)
    in_collections = select(CollectionCase.id).where(CollectionCase.borrower_id == Borrower.id,
                                                     CollectionCase.status == "open")
    rows = select(Borrower.id, literal("self"), Borrower.phone, false(), true()).where(
        in_collections.exists(), ~known.exists())
    cols = ["borrower_id", "kind", "phone", "wrong_number", "active"]
    return _rowcount(session, insert(ContactPoint).from_select(cols, rows))


def judge_promises(*, session: Session, as_of: date, rules: PromiseRules = DEFAULT_PROMISE_RULES) -> tuple[int, int]:
    """Judge open promises whose due date + tolerance is before `as_of`: (kept, broken).

    Kept when posted (not reversed) payments on the loan dated from `made_on` through due date +
    tolerance days sum to at least amount × (1 − tolerance); broken otherwise.
    """
    paid = (select(func.coalesce(func.sum(Payment.amount_fen), 0))
            .where(Payment.loan_id == Promise.loan_id, Payment.status == "posted", Payment.paid_on >= Promise.made_on,
                   days_between(Promise.due_date, Payment.paid_on) <= rules.tolerance_days)
            .scalar_subquery())
    due = and_(Promise.status == "open", Promise.due_date < as_of - timedelta(days=rules.tolerance_days))
    enough = paid * 10_000 >= Promise.amount_fen * (10_000 - rules.tolerance_bp)
    kept = _rowcount(session, update(Promise).where(due, enough)
                     .values(status="kept", judged_on=as_of, paid_fen=paid))
    broken = _rowcount(session, update(Promise).where(due).values(status="broken", judged_on=as_of, paid_fen=paid))
    return kept, broken


def _rowcount(session: Session, statement: Executable) -> int:
    """Run a set-based INSERT…SELECT or UPDATE and say how many rows it touched."""
    options = {"synchronize_session": False, "preserve_rowcount": True}
    result = cast(CursorResult[Any], session.execute(statement, execution_options=options))
    return int(result.rowcount or 0)


# --------------------------------------------------------------------------- counts for the simulator & optimizer


def attempts_per_point_day(*, session: Session, first: date, last: date,
                           unanswered_only: bool = False) -> dict[tuple[int, date], int]:
    """Call attempts per (contact point, borrower-local day), in-flight included, blocked excluded."""
    result_ok = (ContactAttempt.result.is_(None) | ContactAttempt.result.in_(policy.UNANSWERED)) if unanswered_only \
        else or_(ContactAttempt.result.is_(None), ContactAttempt.result != "blocked")
    rows = session.execute(
        select(ContactAttempt.contact_point_id, ContactAttempt.local_date, func.count())
        .where(ContactAttempt.channel.in_(policy.CALL_CHANNELS), ContactAttempt.contact_point_id.is_not(None),
               ContactAttempt.local_date.between(first, last), result_ok)
        .group_by(ContactAttempt.contact_point_id, ContactAttempt.local_date))
    return {(int(p), d): int(n) for p, d, n in rows if p is not None}


def calls_per_debt(*, session: Session, as_of: date, days: int = 7) -> dict[int, int]:
    """Call attempts per loan in the `days` borrower-local days ending `as_of` (Regulation F's count)."""
    rows = session.execute(
        select(ContactAttempt.loan_id, func.count())
        .where(ContactAttempt.channel.in_(policy.CALL_CHANNELS), ContactAttempt.callback_id.is_(None),
               ContactAttempt.local_date.between(as_of - timedelta(days=days - 1), as_of),
               or_(ContactAttempt.result.is_(None), ContactAttempt.result != "blocked"))
        .group_by(ContactAttempt.loan_id))
    return {int(loan): int(n) for loan, n in rows}


def last_rpc_dates(*, session: Session, as_of: date | None = None) -> dict[int, date]:
    """The last borrower-local day each loan had a right-party contact (on or before `as_of`)."""
    stmt = select(ContactAttempt.loan_id, func.max(ContactAttempt.local_date)).where(
        ContactAttempt.result.in_(policy.RPC_RESULTS))
    if as_of is not None:
        stmt = stmt.where(ContactAttempt.local_date <= as_of)
    rows = session.execute(stmt.group_by(ContactAttempt.loan_id))
    return {int(loan): day for loan, day in rows}
