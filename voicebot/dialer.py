"""Campaign dialer: works today's robot queue through a `Telephony` adapter, under the contact rules and pacing.

Each dial is its own short transaction: `buyu.calls.service.open_call` asks the contact rules at
the moment of dialling (hours, caps, cease, dispute, consent, third parties); a refused call is
caught inside the transaction, so its blocked row and rule are committed and counted, never
silently skipped. Pacing keeps at most `max_concurrent` calls open and at most
`calls_per_second` new calls; a call that ends busy or unanswered is tried again after a
backoff that doubles each try, up to `max_tries` (each retry is checked by the rules again, so
the daily and weekly caps always win). The calls' ends are written by the telephony server
(`finish_call`); the dialer reads them back from the database.

Time comes from an injectable `Clock` (tests advance a fake one instead of sleeping).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time as _time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from buyu.calls import service as calls
from buyu.calls.models import VoiceCall
from buyu.errors import BuyuError, ComplianceBlocked
from voicebot.telephony.providers import DialRequest, Telephony

log = logging.getLogger(__name__)

#: A unit of work: a context manager yielding a session, committed on success (buyu.db.unit_of_work).
SessionScope = Callable[[], AbstractContextManager[Session]]


class Clock(Protocol):
    """Now and waiting, injectable."""

    def now(self) -> datetime:
        """The current tz-aware instant."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """datetime.now in UTC."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """time.sleep."""
        _time.sleep(seconds)


@dataclass(frozen=True, slots=True)
class Pacing:
    """How fast and how often the dialer may call."""

    max_concurrent: int = 10
    calls_per_second: float = 1.0
    max_tries: int = 3
    retry_after: timedelta = timedelta(minutes=30)
    retry_results: frozenset[str] = frozenset({"busy", "no_answer"})
    poll_seconds: float = 1.0
    #: a call with no recorded end after this long no longer holds a line (the provider lost it)
    stale_after: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.max_concurrent < 1 or self.calls_per_second <= 0 or self.max_tries < 1 or self.poll_seconds <= 0:
            raise ValueError(f"invalid pacing {self}")

    def backoff(self, try_no: int) -> timedelta:
        """Wait before try `try_no + 1`: retry_after, doubling each time."""
        return self.retry_after * (2 ** (try_no - 1))


@dataclass(order=True, frozen=True, slots=True)
class _Job:
    not_before: datetime
    seq: int
    item: calls.QueueItem = field(compare=False)
    retry_of: int | None = field(default=None, compare=False)


@dataclass
class DialReport:
    """What a campaign run did."""

    as_of: str
    queued: int = 0
    placed: int = 0
    retries: int = 0
    blocked: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    unfinished: int = 0
    results: Counter[str] = field(default_factory=Counter)
    calls: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"as_of": self.as_of, "queued": self.queued, "placed": self.placed, "retries": self.retries,
                "blocked": dict(self.blocked), "failed": self.failed, "unfinished": self.unfinished,
                "results": dict(self.results), "calls": list(self.calls)}


class Dialer:
    """Works one business day's robot queue."""

    def __init__(self, *, scope: SessionScope, telephony: Telephony, caller_id: str, clock: Clock | None = None,
                 pacing: Pacing | None = None) -> None:
        self.scope, self.telephony, self.caller_id = scope, telephony, caller_id
        self.clock = clock or SystemClock()
        self.pacing = pacing or Pacing()
        self._seq = itertools.count()

    def run(self, *, as_of: date, until: datetime | None = None, limit: int | None = None,
            queue: Sequence[calls.QueueItem] | None = None) -> DialReport:
        """Dial the queue of `as_of` (or the given items) until it, its retries and its open calls are done
        (or `until`)."""
        report = DialReport(as_of=as_of.isoformat())
        if queue is None:
            with self.scope() as session:
                queue = calls.robot_queue(session=session, as_of=as_of, limit=limit)
        report.queued = len(queue)
        start = self.clock.now()
        # a callback at its agreed time; a planned call from the start of the borrower's best hour
        jobs = [_Job(max(start, item.due_at or item.not_before or start), next(self._seq), item) for item in queue]
        heapq.heapify(jobs)
        active: dict[int, tuple[calls.QueueItem, datetime]] = {}
        last_dial: datetime | None = None
        while jobs or active:
            now = self.clock.now()
            if until is not None and now >= until:
                report.unfinished += len(active)
                break
            self._reap(active=active, jobs=jobs, report=report, now=now)
            wait = self._wait(jobs=jobs, active=active, last_dial=last_dial, now=now)
            if wait > 0:
                self.clock.sleep(wait)
                continue
            job = heapq.heappop(jobs)
            last_dial = now
            self._dial(job=job, as_of=as_of, now=now, active=active, report=report)
        return report

    def _wait(self, *, jobs: list[_Job], active: dict[int, tuple[calls.QueueItem, datetime]],
              last_dial: datetime | None, now: datetime) -> float:
        """Seconds until the next dial may happen (0: now)."""
        if not jobs or len(active) >= self.pacing.max_concurrent:
            return self.pacing.poll_seconds
        waits = [(jobs[0].not_before - now).total_seconds()]
        if last_dial is not None:
            waits.append(1.0 / self.pacing.calls_per_second - (now - last_dial).total_seconds())
        wait = max(waits)
        if wait > 0 and active:
            wait = min(wait, self.pacing.poll_seconds)  # keep noticing calls that end meanwhile
        return max(0.0, wait)

    def _dial(self, *, job: _Job, as_of: date, now: datetime, active: dict[int, tuple[calls.QueueItem, datetime]],
              report: DialReport) -> None:
        """Open the call under the rules (a refusal is committed and counted), then have the provider place it."""
        item = job.item
        try:
            with self.scope() as session:
                try:
                    call = calls.open_call(session=session, loan_id=item.loan_id,
                                           contact_point_id=item.contact_point_id, as_of=as_of, at=now,
                                           locale=item.locale, retry_of=job.retry_of,
                                           callback_id=item.callback_id)
                except ComplianceBlocked as blocked:
                    report.blocked[str((blocked.details or {}).get("rule"))] += 1
                    return
                call_id = call.id
        except BuyuError as exc:  # e.g. the loan closed since the queue was read: nothing was written
            log.warning("loan %s not dialled: %s", item.loan_id, exc.message)
            report.results[f"error:{exc.code}"] += 1
            return
        report.calls.append(call_id)
        report.retries += job.retry_of is not None
        try:
            sid = self.telephony.place_call(DialRequest(call_id=call_id, to=item.phone, from_=self.caller_id,
                                                        locale=item.locale))
        except Exception as exc:  # an adapter's failure (network, provider refusal) must not stop the campaign
            log.warning("call %s could not be placed: %s", call_id, exc)
            with self.scope() as session:
                calls.finish_call(session=session, call_id=call_id, result="failed", at=self.clock.now(),
                                  answered_at=None, recording_ref=None)
            report.failed += 1
            report.results["failed"] += 1
            return
        with self.scope() as session:
            call = calls.get_call(session=session, call_id=call_id)
            if call.status != "completed" and call.provider_sid is None:
                calls.attach_provider(session=session, call_id=call_id, provider_sid=sid)
        report.placed += 1
        active[call_id] = (item, now)

    def _reap(self, *, active: dict[int, tuple[calls.QueueItem, datetime]], jobs: list[_Job], report: DialReport,
              now: datetime) -> None:
        """Notice the calls that ended; queue a retry for a busy or unanswered one that has tries left."""
        if not active:
            return
        with self.scope() as session:
            rows = session.execute(select(VoiceCall.id, VoiceCall.result, VoiceCall.try_no, VoiceCall.ended_at)
                                   .where(VoiceCall.id.in_(list(active)), VoiceCall.status == "completed")).all()
        for row in rows:
            item, _ = active.pop(int(row.id))
            report.results[str(row.result)] += 1
            if row.result in self.pacing.retry_results and row.try_no < self.pacing.max_tries:
                ended = _utc(row.ended_at) if row.ended_at is not None else now
                # the borrower's callback was this call (its task is done): a retry is an ordinary call
                retry = replace(item, callback_id=None, due_at=None)
                heapq.heappush(jobs, _Job(ended + self.pacing.backoff(int(row.try_no)), next(self._seq), retry,
                                          retry_of=int(row.id)))
        for call_id, (_, placed) in list(active.items()):
            if now - placed > self.pacing.stale_after:
                log.warning("call %s has no recorded end after %s; no longer waiting for it", call_id,
                            self.pacing.stale_after)
                del active[call_id]
                report.unfinished += 1


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
