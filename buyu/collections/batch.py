"""Collections services in batches: a dialer's or a simulated day's contacts, outcomes and promises.

The same rules and the same rows as the one-at-a-time services in `buyu.collections.service`
(`request_contact`, `record_attempt`, `record_ptp`, `assign_case`), but set-based where a request
at a time would pay several round trips: a handful of queries load the loans, borrowers, contact
points, collectors, flags, open cases and the contact history of the whole batch, the pure engine
(`policy.evaluate`) decides each request IN ORDER, and one executemany writes the rows.

Within a batch, every allowed request joins the in-memory history as an in-flight attempt before
the next request is decided, exactly as its row would if the requests came one by one, so caps
hold across the batch. A request that fails validation (unknown loan, a phone channel without a
contact point, an inactive collector …) raises the same error as the single service and the batch
writes nothing. Rare side effects (cease and dispute flags) go through the single services.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from buyu.collections import policy
from buyu.collections import service as svc
from buyu.collections.models import AuditEntry as Audit
from buyu.collections.models import (
    CallbackTask,
    CollectionCase,
    ContactAttempt,
    ContactFlags,
    ContactPoint,
    Promise,
)
from buyu.errors import ComplianceBlocked, Conflict, InvalidInput, NotFound
from buyu.ledger.models import Borrower, Loan
from buyu.people.models import Collector

CHUNK = 5000
#: From this many requests on, the history is read by one scan of the date window rather than by IN lists.
WINDOW_SCAN = 2000


@dataclass(frozen=True, slots=True)
class ContactAsk:
    """One contact to check and log: the arguments of `service.request_contact`."""

    loan_id: int
    channel: str
    contact_point_id: int | None
    at: datetime
    collector_id: int | None = None
    purpose: str = "collect"
    as_of: date | None = None
    callback_id: int | None = None


@dataclass(frozen=True, slots=True)
class OutcomeIn:
    """The outcome of an allowed, in-flight attempt: the arguments of `service.record_attempt`."""

    attempt_id: int
    result: str
    duration_seconds: int = 0
    details: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PromiseIn:
    """A promise to pay: the arguments of `service.record_ptp`."""

    loan_id: int
    made_on: date
    due_date: date
    amount_fen: int
    attempt_id: int | None = None
    collector_id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditIn:
    """One audit-log entry (see `service.record_audit`)."""

    actor: str
    action: str
    entity: str
    entity_id: int | None
    as_of: date | None = None
    details: dict[str, Any] | None = None


def _chunks(values: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


# --------------------------------------------------------------------------- contacts


@dataclass(frozen=True, slots=True)
class _Past:
    """A history row with the keys the batch indexes it by."""

    id: int
    loan_id: int
    contact_point_id: int | None
    local_date: date
    attempt: policy.PastAttempt


class _History:
    """The contact log around the batch's days, indexed by loan and by contact point."""

    def __init__(self) -> None:
        self.by_loan: dict[int, list[_Past]] = defaultdict(list)
        self.by_point: dict[int, list[_Past]] = defaultdict(list)
        self._next_id = -1  # batch rows get negative ids until they are written

    def add(self, row: _Past) -> None:
        """Index one logged (or just allowed) attempt."""
        self.by_loan[row.loan_id].append(row)
        if row.contact_point_id is not None:
            self.by_point[row.contact_point_id].append(row)

    def add_in_flight(self, *, ask: ContactAsk, local_date: date) -> None:
        """An allowed request of this batch: in flight, it counts for the requests after it."""
        self.add(_Past(id=self._next_id, loan_id=ask.loan_id, contact_point_id=ask.contact_point_id,
                       local_date=local_date, attempt=policy.PastAttempt(
                           channel=ask.channel, started_at=ask.at, result=None, loan_id=ask.loan_id,
                           contact_point_id=ask.contact_point_id, borrower_requested=ask.callback_id is not None)))
        self._next_id -= 1

    def around(self, *, loan_id: int, point_id: int | None, day: date, span: timedelta) -> list[policy.PastAttempt]:
        """What `service._decide` would load: the loan's or the point's attempts within `span` of `day`."""
        rows = list(self.by_loan.get(loan_id, ()))
        if point_id is not None:  # the loan's own rows are in already
            rows += [r for r in self.by_point.get(point_id, ()) if r.loan_id != loan_id]
        first, last = day - span, day + span
        return [r.attempt for r in rows if first <= r.local_date <= last]


def request_contacts(*, session: Session, requests: Sequence[ContactAsk],
                     profile: policy.Profile | str = "CN") -> list[policy.Decision]:
    """Check a batch of contacts against the rules in order and log every decision as an attempt."""
    if not requests:
        return []
    rules = policy.get_profile(profile)
    ctx = _load_context(session=session, requests=requests)
    span = history_span(rules)
    history = _load_history(session=session, requests=requests, ctx=ctx, span=span)
    decisions, rows = [], []
    for ask in requests:
        request = ctx.request(ask)
        local = request.local
        local_date, local_hour = local.date(), local.hour
        decision = policy.evaluate(
            request=request, profile=rules, flags=ctx.flags(ask.loan_id),
            history=history.around(loan_id=ask.loan_id, point_id=ask.contact_point_id, day=local_date, span=span))
        if decision.allowed:
            history.add_in_flight(ask=ask, local_date=local_date)
        decisions.append(decision)
        rows.append(_attempt_row(ask=ask, ctx=ctx, decision=decision, request=request, profile=rules,
                                 local_date=local_date, local_hour=local_hour))
    ids = insert_with_ids(session=session, model=ContactAttempt, rows=rows)
    return [replace(d, attempt_id=i) for d, i in zip(decisions, ids, strict=True)]


#: Rules that read no history, or only the request's own borrower-local day.
SAME_DAY_RULES = frozenset({"cease_contact", "dispute_hold", "case_paused", "wrong_number", "third_party",
                            "robot_consent", "quiet_hours", "daily_attempt_cap"})


def history_span(profile: policy.Profile) -> timedelta:
    """How far around a request's local day its history must reach for this profile's rules.

    The single service always loads `history_days`; when every rule of the profile is one that looks
    at the request's own day at most (CN's), the other days cannot change a decision, and a batch of
    a whole day's contacts skips reading a week of log. Any other rule (US's weekly cap and
    post-conversation wait, or a rule added later) gets the full window.
    """
    if set(profile.rules) <= SAME_DAY_RULES:
        return timedelta(0)
    return timedelta(days=profile.history_days)


def insert_with_ids(*, session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert rows in one executemany and return their new integer ids in row order.

    PostgreSQL returns them (RETURNING, ordered by parameter). SQLite would fall back to a statement
    per row for ordered RETURNING, so there the ids are read back instead: a transaction holds the
    only write lock (BEGIN IMMEDIATE) and rowids are assigned max + 1 in order, so they are the
    next len(rows) integers; the count is checked.
    """
    if not rows:
        return []
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        result = conn.execute(insert(model).returning(model.id, sort_by_parameter_order=True), rows)
        return [int(x) for x in result.scalars().all()]
    before = int(conn.execute(select(func.coalesce(func.max(model.id), 0))).scalar_one())
    executemany(session=session, statement=insert(model), rows=rows)
    after = conn.execute(select(func.count(), func.max(model.id)).where(model.id > before)).one()
    if int(after[0]) != len(rows) or int(after[1]) != before + len(rows):
        raise RuntimeError(f"{model.__tablename__}: expected ids {before + 1}..{before + len(rows)}, got {after}")
    return list(range(before + 1, before + len(rows) + 1))


def executemany(*, session: Session, statement: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Run an INSERT or UPDATE for many parameter sets (all with the same keys) in one executemany.

    The statement is compiled once and each value goes through its bind parameter's own processor,
    so it is stored exactly as `connection.execute(statement, rows)` would store it, without the
    per-row parameter machinery that dominates a large executemany of wide rows. Statements that
    need SQL-side defaults filled in, or drivers with named parameters, take the ordinary path.
    """
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    keys = list(rows[0])
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    order = list(compiled.positiontup or [])
    if not order or sorted(order) != sorted(keys):
        conn.execute(statement, rows)
        return
    procs = [compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order]
    conn.exec_driver_sql(compiled.string, [tuple(p(r[k]) if p else r[k] for k, p in zip(order, procs, strict=True))
                                           for r in rows])


@dataclass
class _Context:
    """Everything the batch's requests refer to, loaded once."""

    borrower_of: dict[int, int]
    timezone_of: dict[int, str]
    points: dict[int, Any]  # rows of contact_points
    case_of: dict[int, tuple[int, date | None]]
    flag_rows: dict[int, Any]  # rows of contact_flags
    callbacks: dict[int, Any]  # rows of callback_tasks

    def request(self, ask: ContactAsk) -> policy.ContactRequest:
        """The engine's request, as `service.request_contact` builds it."""
        point = self.points.get(ask.contact_point_id) if ask.contact_point_id is not None else None
        return policy.ContactRequest(
            loan_id=ask.loan_id, channel=ask.channel, at=ask.at, timezone=self.timezone_of[ask.loan_id],
            as_of=ask.as_of, contact_point_id=ask.contact_point_id, point_kind=point.kind if point else None,
            wrong_number=bool(point and point.wrong_number), purpose=ask.purpose,
            borrower_requested=ask.callback_id is not None)

    def flags(self, loan_id: int) -> policy.BorrowerFlags:
        """The borrower's flags and the open case's pause, as `service._policy_flags` reads them."""
        flags = self.flag_rows.get(self.borrower_of[loan_id])
        paused = self.case_of[loan_id][1] if loan_id in self.case_of else None
        if flags is None:
            return policy.BorrowerFlags(paused_until=paused)
        return policy.BorrowerFlags(
            cease_from=flags.cease_from,
            cease_channels=None if flags.cease_channels is None else frozenset(flags.cease_channels),
            artificial_voice_consent=flags.artificial_voice_consent, quiet_hours_consent=flags.quiet_hours_consent,
            dispute_open=flags.dispute_open, paused_until=paused)


def _load_context(*, session: Session, requests: Sequence[ContactAsk]) -> _Context:
    """Loans, borrowers, points, collectors, callbacks, flags and open cases; validated as the single path does."""
    loan_ids = [r.loan_id for r in requests]
    borrower_of: dict[int, int] = {}
    timezone_of: dict[int, str] = {}
    for chunk in _chunks(loan_ids):
        for loan_id, borrower_id, tz in session.execute(
                select(Loan.id, Loan.borrower_id, Borrower.timezone).join(Borrower, Borrower.id == Loan.borrower_id)
                .where(Loan.id.in_(chunk))):
            borrower_of[loan_id], timezone_of[loan_id] = borrower_id, tz
    points = _rows(session, ContactPoint.id, [r.contact_point_id for r in requests if r.contact_point_id is not None],
                   ContactPoint.borrower_id, ContactPoint.kind, ContactPoint.wrong_number, ContactPoint.active)
    collectors = _rows(session, Collector.id, [r.collector_id for r in requests if r.collector_id is not None],
                       Collector.active)
    callbacks = _rows(session, CallbackTask.id, [r.callback_id for r in requests if r.callback_id is not None],
                      CallbackTask.loan_id, CallbackTask.status)
    for ask in requests:
        _validate(ask=ask, borrower_of=borrower_of, points=points, collectors=collectors, callbacks=callbacks)
    f = ContactFlags
    flag_rows = _rows(session, f.borrower_id, list(set(borrower_of.values())), f.cease_from, f.cease_channels,
                      f.artificial_voice_consent, f.quiet_hours_consent, f.dispute_open)
    case_of: dict[int, tuple[int, date | None]] = {}
    for chunk in _chunks(loan_ids):
        for case_id, loan_id, paused in session.execute(
                select(CollectionCase.id, CollectionCase.loan_id, CollectionCase.paused_until)
                .where(CollectionCase.loan_id.in_(chunk), CollectionCase.status == "open")):
            case_of[loan_id] = (case_id, paused)
    return _Context(borrower_of=borrower_of, timezone_of=timezone_of, points=points, case_of=case_of,
                    flag_rows=flag_rows, callbacks=callbacks)


def _rows(session: Session, key: Any, ids: Sequence[int], *columns: Any) -> dict[int, Any]:
    """Rows (key, *columns) whose key is in `ids`, by key: plain rows, no ORM objects to build."""
    out: dict[int, Any] = {}
    for chunk in _chunks(ids):
        for row in session.execute(select(key, *columns).where(key.in_(chunk))):
            out[row[0]] = row
    return out


def _validate(*, ask: ContactAsk, borrower_of: dict[int, int], points: dict[int, Any], collectors: dict[int, Any],
              callbacks: dict[int, Any]) -> None:
    """The checks `service.request_contact` makes before deciding, with the same errors."""
    if ask.loan_id not in borrower_of:
        raise NotFound(f"no loan {ask.loan_id}", code="loan_not_found", details={"loan_id": ask.loan_id})
    if ask.contact_point_id is None:
        if ask.channel in svc.PHONE_CHANNELS:
            raise InvalidInput(f"a {ask.channel} needs a contact_point_id", code="contact_point_required",
                               details={"field": "contact_point_id"})
    else:
        point = points.get(ask.contact_point_id)
        if point is None:
            raise NotFound(f"no contact point {ask.contact_point_id}", code="contact_point_not_found",
                           details={"contact_point_id": ask.contact_point_id})
        if point.borrower_id != borrower_of[ask.loan_id]:
            raise InvalidInput(f"contact point {ask.contact_point_id} is not one of this loan's borrower",
                               code="contact_point_mismatch", details={"contact_point_id": ask.contact_point_id})
        if not point.active:
            raise InvalidInput(f"contact point {ask.contact_point_id} is inactive", code="contact_point_inactive",
                               details={"contact_point_id": ask.contact_point_id})
    if ask.collector_id is not None:
        if ask.channel == "robot_call":
            raise InvalidInput("a robot call has no collector", code="robot_has_no_collector",
                               details={"field": "collector_id"})
        _check_collector(collectors.get(ask.collector_id), ask.collector_id)
    if ask.callback_id is not None:
        task = callbacks.get(ask.callback_id)
        if task is None or task.loan_id != ask.loan_id:
            raise NotFound(f"no callback {ask.callback_id} for loan {ask.loan_id}", code="callback_not_found",
                           details={"callback_id": ask.callback_id})
        if task.status != "open":
            raise Conflict(f"callback {ask.callback_id} is {task.status}", code="callback_not_open",
                           details={"callback_id": ask.callback_id})


def _check_collector(collector: Any, collector_id: int) -> None:
    if collector is None:
        raise NotFound(f"no collector {collector_id}", code="collector_not_found",
                       details={"collector_id": collector_id})
    if not collector.active:
        raise Conflict(f"collector {collector_id} is not active", code="collector_inactive",
                       details={"collector_id": collector_id})


def _load_history(*, session: Session, requests: Sequence[ContactAsk], ctx: _Context, span: timedelta) -> _History:
    """Non-blocked attempts of the batch's loans and points within `span` of the batch's local days."""
    days = [policy.local_day_and_hour(r.at, ctx.timezone_of[r.loan_id])[0] for r in requests]
    first, last = min(days) - span, max(days) + span
    t = ContactAttempt
    columns = (t.id, t.loan_id, t.contact_point_id, t.local_date, t.channel, t.started_at, t.result, t.callback_id)
    not_blocked = or_(t.result.is_(None), t.result != "blocked")
    loans = {r.loan_id for r in requests}
    points = {r.contact_point_id for r in requests if r.contact_point_id is not None}
    window = and_(t.local_date.between(first, last), not_blocked)
    if len(requests) >= WINDOW_SCAN:
        # A big batch touches most of the window's rows: one range scan beats long IN lists.
        statements = [select(*columns).where(window)]
    else:
        statements = [select(*columns).where(column.in_(chunk), window)
                      for column, ids in ((t.loan_id, loans), (t.contact_point_id, points)) for chunk in _chunks(ids)]
    history, seen = _History(), set()
    for stmt in statements:
        for row in session.execute(stmt):
            if row.id in seen or (row.loan_id not in loans and row.contact_point_id not in points):
                continue
            seen.add(row.id)
            history.add(_Past(id=row.id, loan_id=row.loan_id, contact_point_id=row.contact_point_id,
                              local_date=row.local_date, attempt=policy.PastAttempt(
                                  channel=row.channel, started_at=_utc(row.started_at), result=row.result,
                                  loan_id=row.loan_id, contact_point_id=row.contact_point_id,
                                  borrower_requested=row.callback_id is not None)))
    return history


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _attempt_row(*, ask: ContactAsk, ctx: _Context, decision: policy.Decision, request: policy.ContactRequest,
                 profile: policy.Profile, local_date: date, local_hour: int) -> dict[str, Any]:
    """The contact_attempts row `service.request_contact` would write for this decision."""
    case = ctx.case_of.get(ask.loan_id)
    return {
        "loan_id": ask.loan_id, "borrower_id": ctx.borrower_of[ask.loan_id], "case_id": case[0] if case else None,
        "contact_point_id": ask.contact_point_id, "callback_id": ask.callback_id, "channel": ask.channel,
        "purpose": ask.purpose, "collector_id": ask.collector_id, "profile": profile.code,
        "as_of": request.business_date, "started_at": ask.at.astimezone(UTC), "local_date": local_date,
        "local_hour": local_hour, "result": None if decision.allowed else "blocked", "blocked_rule": decision.rule,
        "reason": decision.reason, "duration_seconds": 0, "transcript": None, "recording_ref": None,
        "details": {"duties": list(decision.duties)} if decision.duties else None,
    }


# --------------------------------------------------------------------------- outcomes


def record_outcomes(*, session: Session, items: Sequence[OutcomeIn], actor: str = "system") -> int:
    """Record the outcomes of in-flight attempts in bulk ('ceased' and 'dispute' also set the flags); returns rows."""
    if not items:
        return 0
    t = ContactAttempt
    found = _rows(session, t.id, [i.attempt_id for i in items], t.channel, t.result, t.blocked_rule, t.borrower_id,
                  t.loan_id, t.as_of, t.callback_id)
    details = _rows(session, t.id, [i.attempt_id for i in items if i.details], t.details)
    if len({i.attempt_id for i in items}) != len(items):
        raise Conflict("an attempt appears twice in the batch", code="attempt_already_recorded")
    for item in items:
        _check_outcome(item, found.get(item.attempt_id))
    plain = [{"b_id": i.attempt_id, "b_result": i.result, "b_duration": i.duration_seconds}
             for i in items if not i.details]
    detailed = [{"b_id": i.attempt_id, "b_result": i.result, "b_duration": i.duration_seconds,
                 "b_details": {**(details[i.attempt_id].details or {}), **i.details}} for i in items if i.details]
    stmt = update(t).where(t.id == bindparam("b_id"), t.result.is_(None)).values(
        result=bindparam("b_result"), duration_seconds=bindparam("b_duration"))
    executemany(session=session, statement=stmt, rows=plain)
    executemany(session=session, statement=stmt.values(details=bindparam("b_details", type_=t.details.type)),
                rows=detailed)
    _outcome_side_effects(session=session, items=items, found=found, actor=actor)
    return len(items)


def _check_outcome(item: OutcomeIn, row: Any) -> None:
    """The checks of `service.record_attempt`, with the same errors."""
    if row is None:
        raise NotFound(f"no contact attempt {item.attempt_id}", code="attempt_not_found",
                       details={"attempt_id": item.attempt_id})
    if row.result == "blocked":
        raise ComplianceBlocked(f"attempt {item.attempt_id} was blocked by rule {row.blocked_rule}; it cannot have "
                                "an outcome", code="contact_was_blocked",
                                details={"attempt_id": item.attempt_id, "rule": row.blocked_rule})
    if row.result is not None:
        raise Conflict(f"attempt {item.attempt_id} already has result {row.result}", code="attempt_already_recorded",
                       details={"attempt_id": item.attempt_id, "result": row.result})
    allowed = svc.OUTCOMES_BY_CHANNEL.get(row.channel, svc.ALL_OUTCOMES)
    if item.result not in allowed:
        raise InvalidInput(f"result {item.result!r} is not an outcome of a {row.channel}", code="invalid_result",
                           details={"field": "result", "allowed": sorted(allowed)})
    if item.duration_seconds < 0:
        raise InvalidInput("duration_seconds must be >= 0", code="invalid_duration",
                           details={"field": "duration_seconds"})


def _outcome_side_effects(*, session: Session, items: Sequence[OutcomeIn], found: dict[int, Any],
                          actor: str) -> None:
    """What `service._side_effects` does per attempt: flags through the single services, callbacks done."""
    for item in items:
        row = found[item.attempt_id]
        if item.result == "ceased":
            svc.set_cease_contact(session=session, borrower_id=row.borrower_id, on=row.as_of,
                                  reason=f"asked during contact attempt {row.id}", actor=actor)
        elif item.result == "dispute":
            svc.open_dispute(session=session, loan_id=row.loan_id, on=row.as_of,
                             reason=f"raised during contact attempt {row.id}", actor=actor)
    done = [found[i.attempt_id].callback_id for i in items if found[i.attempt_id].callback_id is not None]
    for chunk in _chunks(done):
        session.execute(update(CallbackTask).where(CallbackTask.id.in_(chunk), CallbackTask.status == "open")
                        .values(status="done"), execution_options={"synchronize_session": False})


# --------------------------------------------------------------------------- promises, assignments, audit


def record_promises(*, session: Session, items: Sequence[PromiseIn],
                    rules: svc.PromiseRules = svc.DEFAULT_PROMISE_RULES, actor: str = "system") -> list[int]:
    """Record promises to pay in bulk; each replaces (cancels) its loan's open promise. Returns the new ids."""
    if not items:
        return []
    loans = _rows(session, Loan.id, [i.loan_id for i in items], Loan.status)
    attempts = _rows(session, ContactAttempt.id, [i.attempt_id for i in items if i.attempt_id is not None],
                     ContactAttempt.loan_id, ContactAttempt.result)
    collectors = _rows(session, Collector.id, [i.collector_id for i in items if i.collector_id is not None],
                       Collector.active)
    for item in items:
        _check_promise(item, loans=loans, attempts=attempts, collectors=collectors, rules=rules)
    cases = {}
    for chunk in _chunks([i.loan_id for i in items]):
        cases.update(dict(session.execute(select(CollectionCase.loan_id, CollectionCase.id).where(
            CollectionCase.loan_id.in_(chunk), CollectionCase.status == "open")).all()))
    cancel = [{"b_loan": i.loan_id, "b_on": i.made_on} for i in items]
    session.connection().execute(
        update(Promise).where(Promise.loan_id == bindparam("b_loan"), Promise.status == "open")
        .values(status="cancelled", judged_on=bindparam("b_on")), cancel)
    rows = [{"loan_id": i.loan_id, "case_id": cases.get(i.loan_id), "attempt_id": i.attempt_id,
             "collector_id": i.collector_id, "made_on": i.made_on, "due_date": i.due_date, "amount_fen": i.amount_fen,
             "status": "open", "judged_on": None, "paid_fen": None} for i in items]
    _cancel_repeats(items, rows)
    ids = insert_with_ids(session=session, model=Promise, rows=rows)
    record_audits(session=session, entries=[
        AuditIn(actor=actor, action="promise.recorded", entity="promise", entity_id=pid, as_of=i.made_on,
                details={"loan_id": i.loan_id, "amount_fen": i.amount_fen, "due_date": i.due_date.isoformat()})
        for pid, i in zip(ids, items, strict=True)])
    return ids


def _cancel_repeats(items: Sequence[PromiseIn], rows: list[dict[str, Any]]) -> None:
    """A loan promising twice in one batch: the later promise cancels the earlier, as one by one."""
    last: dict[int, int] = {}
    for k, item in enumerate(items):
        if item.loan_id in last:
            rows[last[item.loan_id]].update(status="cancelled", judged_on=item.made_on)
        last[item.loan_id] = k


def _check_promise(item: PromiseIn, *, loans: dict[int, Any], attempts: dict[int, Any], collectors: dict[int, Any],
                   rules: svc.PromiseRules) -> None:
    """The checks of `service.record_ptp`, with the same errors."""
    amount = item.amount_fen
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput(f"amount must be a positive number of fen, got {amount!r}",
                           code="amount_not_positive", details={"field": "amount"})
    if item.due_date < item.made_on:
        raise InvalidInput("due_date is before made_on", code="invalid_due_date", details={"field": "due_date"})
    if (item.due_date - item.made_on).days > rules.max_horizon_days:
        raise InvalidInput(f"a promise may reach at most {rules.max_horizon_days} days ahead",
                           code="promise_too_far", details={"field": "due_date", "max_days": rules.max_horizon_days})
    loan = loans.get(item.loan_id)
    if loan is None:
        raise NotFound(f"no loan {item.loan_id}", code="loan_not_found", details={"loan_id": item.loan_id})
    if loan.status not in svc.COLLECTABLE:
        raise Conflict(f"loan {item.loan_id} is {loan.status}", code="loan_not_collectable",
                       details={"loan_id": item.loan_id})
    if item.attempt_id is not None:
        attempt = attempts.get(item.attempt_id)
        if attempt is None or attempt.loan_id != item.loan_id:
            raise NotFound(f"no contact attempt {item.attempt_id} for loan {item.loan_id}", code="attempt_not_found",
                           details={"attempt_id": item.attempt_id})
        if attempt.result != "ptp":
            raise InvalidInput(f"attempt {item.attempt_id} has result {attempt.result!r}, not 'ptp'",
                               code="attempt_not_ptp", details={"attempt_id": item.attempt_id})
    if item.collector_id is not None:
        _check_collector(collectors.get(item.collector_id), item.collector_id)


def assign_cases(*, session: Session, holders: dict[int, int], on: date, actor: str = "system") -> int:
    """Make collectors the holders of loans' open cases ({loan_id: collector_id}); returns cases that changed."""
    if not holders:
        return 0
    collectors = _rows(session, Collector.id, list(set(holders.values())), Collector.active)
    for cid in sorted(set(holders.values())):
        _check_collector(collectors.get(cid), cid)
    changes = []
    for chunk in _chunks(list(holders)):
        for case_id, loan_id, previous in session.execute(
                select(CollectionCase.id, CollectionCase.loan_id, CollectionCase.collector_id)
                .where(CollectionCase.loan_id.in_(chunk), CollectionCase.status == "open")):
            if previous != holders[loan_id]:
                changes.append((case_id, previous, holders[loan_id]))
    if not changes:
        return 0
    session.connection().execute(
        update(CollectionCase).where(CollectionCase.id == bindparam("b_id"))
        .values(collector_id=bindparam("b_collector"), assigned_on=on),
        [{"b_id": case_id, "b_collector": to} for case_id, _, to in changes])
    record_audits(session=session, entries=[
        AuditIn(actor=actor, action="case.assigned", entity="case", entity_id=case_id, as_of=on,
                details={"from": previous, "to": to}) for case_id, previous, to in changes])
    return len(changes)


def record_audits(*, session: Session, entries: Sequence[AuditIn]) -> None:
    """Append entries to the audit log in one executemany (the database refuses edits)."""
    if entries:
        session.connection().execute(insert(Audit), [
            {"actor": e.actor, "action": e.action, "entity": e.entity, "entity_id": e.entity_id, "as_of": e.as_of,
             "details": e.details} for e in entries])
