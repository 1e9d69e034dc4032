"""What a simulation achieved, measured from the product's own tables, and an independent compliance audit.

Metrics (window = the simulated days, first to last inclusive):

* collected — money of posted payments dated in the window (borrowers' payments, agency and court
  recoveries, debt-sale proceeds), as the ledger recorded it.
* cost — for every contact carried out (contact_attempts not blocked) its treatment's cost_fen; for
  every agency placement, legal filing and sale (case events in the audit log) theirs; the agency's
  commission_share of payments on an account while it is placed with the agency; and
  fatigue.complaint_cost_fen per complaint. net = collected − cost.
* recovery_rate — collected / the book's outstanding balance on the first morning.
* contacts — contact attempts carried out (robot and agent calls, SMS, field visits).
* rpc_rate — attempts with a right-party result (policy.RPC_RESULTS) / calls and visits carried out
  (an SMS can never reach the right party in a conversation, so it is not in the denominator).
* ptps — promises made in the window; ptp_kept_rate — kept / (kept + broken) among them, as the
  nightly step judged them (promises still open at the end are not judged).
* complaints — complaint entries in the audit log; compliance_blocks — requests the contact rules
  refused (result 'blocked').
* compliance_violations — found by `audit_compliance`, which re-derives the law from the profile's
  parameters and the raw log (UTC start times, borrower time zones, flags, contact-point kinds)
  without calling the rules engine, so an engine bug would show here rather than hide.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from buyu.collections.models import AuditEntry, ContactAttempt, ContactFlags, ContactPoint, Promise
from buyu.collections.policy import Profile, get_profile
from buyu.ledger.models import Borrower, Loan, Payment
from buyu.money import RATE_SCALE, div_round, fmt
from buyu.simulation.scenario import Scenario

#: Audit-log actions the loop writes for case events and complaints (entity "loan", entity_id = loan id).
AGENCY_PLACED = "case.agency_placed"
LEGAL_FILED = "case.legal_filed"
SOLD = "case.sold"
COMPLAINT = "contact.complaint"
ACTOR = "simulator"

CONTACT_CHANNELS = ("robot_call", "sms", "agent_call", "field_visit")
TALK_CHANNELS = ("robot_call", "agent_call", "field_visit")
#: Written out here, not imported from the engine, so the audit does not inherit its mistakes.
PHONE_CALLS = frozenset({"robot_call", "agent_call"})
UNANSWERED = frozenset({"no_answer", "busy", "voicemail"})
RIGHT_PARTY = ("rpc", "ptp", "refused", "dispute", "callback", "transferred", "ceased", "visit_met")
CONVERSATIONS = frozenset({"rpc", "ptp", "refused", "dispute", "callback", "transferred", "ceased"})


@dataclass(frozen=True, slots=True)
class Prices:
    """The scenario's costs the metrics charge."""

    per_contact: dict[str, int]
    agency_fen: int
    legal_fen: int
    sale_fen: int
    commission_micro: int
    complaint_fen: int

    @staticmethod
    def of(scenario: Scenario) -> Prices:
        """Costs from a scenario's treatments and fatigue sections."""
        t = scenario.treatments
        return Prices(
            per_contact={"robot_call": t.robot_call.cost_fen, "sms": t.sms.cost_fen,
                         "agent_call": t.agent_call.cost_fen, "field_visit": t.field_visit.cost_fen},
            agency_fen=t.agency.cost_fen, legal_fen=t.legal.cost_fen, sale_fen=t.sale.cost_fen,
            commission_micro=round(t.agency.commission_share * RATE_SCALE),
            complaint_fen=scenario.fatigue.complaint_cost_fen)

    def commission(self, amount_fen: int) -> int:
        """The agency's commission on one payment, in whole fen (half up)."""
        return div_round(amount_fen * self.commission_micro, RATE_SCALE)


@dataclass(frozen=True)
class Metrics:
    """One simulation's results (money in fen; `to_json` gives the CLI's shape)."""

    policy: str
    days: int
    accounts: int
    collected_fen: int
    cost_fen: int
    start_balance_fen: int
    contacts: int
    talks: int
    rpcs: int
    ptps: int
    ptps_kept: int
    ptps_broken: int
    complaints: int
    compliance_blocks: int
    violations: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: Contacts carried out per channel (not in the JSON document).
    by_channel: dict[str, int] = field(default_factory=dict)

    @property
    def net_fen(self) -> int:
        """collected − cost."""
        return self.collected_fen - self.cost_fen

    @property
    def compliance_violations(self) -> int:
        """Every violation the audit found."""
        return sum(self.violations.values())

    @property
    def recovery_rate(self) -> float:
        """collected / starting balance."""
        return self.collected_fen / self.start_balance_fen if self.start_balance_fen else 0.0

    @property
    def rpc_rate(self) -> float:
        """Right-party contacts per call or visit."""
        return self.rpcs / self.talks if self.talks else 0.0

    @property
    def ptp_kept_rate(self) -> float:
        """Kept share of judged promises."""
        judged = self.ptps_kept + self.ptps_broken
        return self.ptps_kept / judged if judged else 0.0

    def to_json(self) -> dict[str, Any]:
        """The `buyu simulate --json` document (money as decimal strings)."""
        return {
            "policy": self.policy, "days": self.days, "accounts": self.accounts,
            "collected": fmt(self.collected_fen), "cost": fmt(self.cost_fen), "net": fmt(self.net_fen),
            "recovery_rate": round(self.recovery_rate, 6), "contacts": self.contacts,
            "rpc_rate": round(self.rpc_rate, 6), "ptps": self.ptps, "ptp_kept_rate": round(self.ptp_kept_rate, 6),
            "complaints": self.complaints, "compliance_blocks": self.compliance_blocks,
            "compliance_violations": self.compliance_violations, "seconds": round(self.seconds, 2),
        }


def measure(*, session: Session, scenario: Scenario, policy: str, first: date, last: date, accounts: int,
            start_balance_fen: int, profile: Profile | str = "CN", seconds: float = 0.0) -> Metrics:
    """Metrics of the days first..last from payments, contact attempts, promises and the audit log."""
    prices = Prices.of(scenario)
    collected = int(session.scalar(select(func.coalesce(func.sum(Payment.amount_fen), 0)).where(
        Payment.status == "posted", Payment.paid_on.between(first, last))) or 0)
    a = ContactAttempt
    in_window = a.as_of.between(first, last)
    carried = dict(session.execute(select(a.channel, func.count()).where(
        in_window, a.result.is_not(None), a.result != "blocked").group_by(a.channel)).all())
    rpcs = int(session.scalar(select(func.count()).select_from(a).where(
        in_window, a.channel.in_(TALK_CHANNELS), a.result.in_(RIGHT_PARTY))) or 0)
    blocks = int(session.scalar(select(func.count()).select_from(a).where(in_window, a.result == "blocked")) or 0)
    promises = dict(session.execute(select(Promise.status, func.count()).where(
        Promise.made_on.between(first, last)).group_by(Promise.status)).all())
    events = dict(session.execute(select(AuditEntry.action, func.count()).where(
        AuditEntry.as_of.between(first, last), AuditEntry.actor == ACTOR,
        AuditEntry.action.in_((AGENCY_PLACED, LEGAL_FILED, SOLD, COMPLAINT)))
        .group_by(AuditEntry.action)).all())
    cost = (sum(prices.per_contact.get(ch, 0) * int(n) for ch, n in carried.items())
            + int(events.get(AGENCY_PLACED, 0)) * prices.agency_fen + int(events.get(LEGAL_FILED, 0)) * prices.legal_fen
            + int(events.get(SOLD, 0)) * prices.sale_fen + int(events.get(COMPLAINT, 0)) * prices.complaint_fen
            + agency_commission(session=session, prices=prices, first=first, last=last))
    return Metrics(
        policy=policy, days=(last - first).days + 1, accounts=accounts, collected_fen=collected, cost_fen=cost,
        start_balance_fen=start_balance_fen,
        contacts=sum(int(n) for ch, n in carried.items() if ch in CONTACT_CHANNELS),
        talks=sum(int(n) for ch, n in carried.items() if ch in TALK_CHANNELS), rpcs=rpcs,
        ptps=sum(int(n) for n in promises.values()), ptps_kept=int(promises.get("kept", 0)),
        ptps_broken=int(promises.get("broken", 0)), complaints=int(events.get(COMPLAINT, 0)),
        compliance_blocks=blocks, violations=audit_compliance(session=session, first=first, last=last,
                                                              profile=profile),
        seconds=seconds, by_channel={ch: int(n) for ch, n in sorted(carried.items())})


def placements(*, session: Session, first: date, last: date) -> list[tuple[int, date, date]]:
    """Agency placements (loan id, first day, last day) that began in the window."""
    rows = session.execute(select(AuditEntry.entity_id, AuditEntry.as_of, AuditEntry.details).where(
        AuditEntry.action == AGENCY_PLACED, AuditEntry.actor == ACTOR, AuditEntry.as_of.between(first, last)))
    return [(int(loan), on, date.fromisoformat(details["until"])) for loan, on, details in rows]


def agency_commission(*, session: Session, prices: Prices, first: date, last: date) -> int:
    """Commission on payments dated while their account was placed with the agency (placement days inclusive)."""
    spans: dict[int, list[tuple[date, date]]] = defaultdict(list)
    for loan, since, until in placements(session=session, first=first, last=last):
        spans[loan].append((since, until))
    total = 0
    ids = sorted(spans)
    for start in range(0, len(ids), 5000):
        rows = session.execute(select(Payment.loan_id, Payment.paid_on, Payment.amount_fen).where(
            Payment.loan_id.in_(ids[start:start + 5000]), Payment.status == "posted",
            Payment.paid_on.between(first, last)))
        for loan, on, amount in rows:
            if any(a <= on <= b for a, b in spans[loan]):
                total += prices.commission(int(amount))
    return total


# --------------------------------------------------------------------------- the independent audit


@dataclass(frozen=True, slots=True)
class _Flag:
    """A cease or dispute flag: the business day it took effect and when the contact that raised it began."""

    on: date
    raised_at: datetime | None
    channels: frozenset[str] | None = None


def audit_compliance(*, session: Session, first: date, last: date, profile: Profile | str = "CN") -> dict[str, int]:
    """Violations in the contact log of first..last, by rule (0 everywhere when the loop kept the law).

    Checked from the raw rows: a call, SMS or visit started outside the profile's day in the
    borrower's local time; more unanswered calls to one contact point on a local day than the cap;
    any contact after a cease request or while a dispute is open (the contact that raised it
    excepted), agency or legal placements too; debt contacts with numbers that are not the
    debtor's; and, where the profile has them, the weekly call cap and the wait after a conversation.
    """
    rules = get_profile(profile)
    tz_of, consent = _borrowers(session=session)
    cease, dispute = _flags(session=session)
    kinds = dict(session.execute(select(ContactPoint.id, ContactPoint.kind)).all())
    found: Counter[str] = Counter()
    unanswered: Counter[tuple[int, date]] = Counter()
    calls: dict[int, list[tuple[datetime, date, str | None]]] = defaultdict(list)
    clock = _LocalClock(tz_of)
    for row in _attempts(session=session, first=first, last=last):
        local = clock.local(row.borrower_id, _utc(row.started_at))
        if row.channel in rules.quiet_channels and not consent.get(row.borrower_id, False) and not (
                rules.day_start <= local.time() < rules.day_end):
            found["quiet_hours"] += 1
        if row.channel in PHONE_CALLS and row.contact_point_id is not None and (
                row.result is None or row.result in UNANSWERED):
            unanswered[(row.contact_point_id, local.date())] += 1
        if row.channel in PHONE_CALLS and row.callback_id is None:
            calls[row.loan_id].append((_utc(row.started_at), local.date(), row.result))
        found["cease_contact"] += _after(cease.get(row.borrower_id), row, exempt=rules.cease_exempt_channels)
        found["dispute_hold"] += _after(dispute.get(row.borrower_id), row, exempt=rules.dispute_exempt_channels)
        kind = kinds.get(row.contact_point_id) if row.contact_point_id is not None else None
        if row.purpose == "collect" and kind is not None and kind not in rules.party_kinds:
            found["third_party"] += 1
    found["daily_attempt_cap"] += sum(1 for n in unanswered.values() if n > rules.daily_unanswered_cap)
    found["placements"] += _placements_after_flags(session=session, first=first, last=last, cease=cease,
                                                   dispute=dispute, rules=rules)
    if "weekly_attempt_cap" in rules.rules:
        found["weekly_attempt_cap"] += sum(_weekly_excess(v, rules) for v in calls.values())
    if "post_conversation_wait" in rules.rules:
        found["post_conversation_wait"] += sum(_too_soon(v, rules) for v in calls.values())
    return {rule: n for rule, n in sorted(found.items()) if n}


class _LocalClock:
    """Borrower-local wall time from a UTC instant; offsets cached per zone and UTC hour."""

    def __init__(self, tz_of: dict[int, str]) -> None:
        self.tz_of = tz_of
        self.zones: dict[str, ZoneInfo] = {}
        self.offsets: dict[tuple[str, datetime], timedelta] = {}

    def local(self, borrower_id: int, at: datetime) -> datetime:
        """Naive local wall-clock time of `at` for the borrower."""
        name = self.tz_of[borrower_id]
        hour = at.replace(minute=0, second=0, microsecond=0)
        offset = self.offsets.get((name, hour))
        if offset is None:
            zone = self.zones.setdefault(name, ZoneInfo(name))
            offset = zone.utcoffset(hour.astimezone(zone)) or timedelta(0)
            self.offsets[(name, hour)] = offset
        return (at + offset).replace(tzinfo=None)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _borrowers(*, session: Session) -> tuple[dict[int, str], dict[int, bool]]:
    tz_of = dict(session.execute(select(Borrower.id, Borrower.timezone)).all())
    consent = dict(session.execute(select(ContactFlags.borrower_id, ContactFlags.quiet_hours_consent)).all())
    return tz_of, consent


def _flags(*, session: Session) -> tuple[dict[int, _Flag], dict[int, _Flag]]:
    """Cease and open-dispute flags, each with the start of the first contact that raised it that day."""
    raised: dict[tuple[int, str | None, date], datetime] = {}
    a = ContactAttempt
    for borrower, result, day, at in session.execute(
            select(a.borrower_id, a.result, a.as_of, func.min(a.started_at))
            .where(a.result.in_(("ceased", "dispute"))).group_by(a.borrower_id, a.result, a.as_of)):
        raised[(borrower, result, day)] = _utc(at)
    cease, dispute = {}, {}
    for row in session.execute(select(ContactFlags).where(
            or_(ContactFlags.cease_from.is_not(None), ContactFlags.dispute_open.is_(True)))).scalars():
        if row.cease_from is not None:
            scope = None if row.cease_channels is None else frozenset(row.cease_channels)
            cease[row.borrower_id] = _Flag(row.cease_from, raised.get((row.borrower_id, "ceased", row.cease_from)),
                                           scope)
        if row.dispute_open and row.dispute_opened_on is not None:
            dispute[row.borrower_id] = _Flag(row.dispute_opened_on,
                                             raised.get((row.borrower_id, "dispute", row.dispute_opened_on)))
    return cease, dispute


def _after(flag: _Flag | None, row: Any, *, exempt: frozenset[str]) -> int:
    """1 when the attempt came after the flag took effect (the raising contact itself is not after it)."""
    if flag is None or row.channel in exempt or (flag.channels is not None and row.channel not in flag.channels):
        return 0
    if row.as_of > flag.on:
        return 1
    if row.as_of < flag.on:
        return 0
    return int(flag.raised_at is None or _utc(row.started_at) > flag.raised_at)


def _attempts(*, session: Session, first: date, last: date) -> Iterator[Any]:
    """Carried-out contact attempts of the window, streamed."""
    a = ContactAttempt
    stmt = (select(a.id, a.loan_id, a.borrower_id, a.channel, a.contact_point_id, a.started_at, a.result, a.as_of,
                   a.purpose, a.callback_id)
            .where(a.as_of.between(first, last), or_(a.result.is_(None), a.result != "blocked"))
            .execution_options(yield_per=20_000))
    yield from session.execute(stmt)


def _placements_after_flags(*, session: Session, first: date, last: date, cease: dict[int, _Flag],
                            dispute: dict[int, _Flag], rules: Profile) -> int:
    """Agency placements after a cease request, and agency or legal placements during a dispute."""
    borrower_of = dict(session.execute(select(Loan.id, Loan.borrower_id)).all())
    rows = session.execute(select(AuditEntry.action, AuditEntry.entity_id, AuditEntry.as_of).where(
        AuditEntry.actor == ACTOR, AuditEntry.action.in_((AGENCY_PLACED, LEGAL_FILED)),
        AuditEntry.as_of.between(first, last)))
    bad = 0
    for action, loan, on in rows:
        if loan is None:
            continue
        channel = "agency" if action == AGENCY_PLACED else "legal"
        borrower = borrower_of[int(loan)]
        for flags, exempt in ((cease, rules.cease_exempt_channels), (dispute, rules.dispute_exempt_channels)):
            flag = flags.get(borrower)
            if flag is not None and channel not in exempt and on is not None and (
                    on > flag.on or (on == flag.on and flag.raised_at is None)):
                bad += 1
    return bad


def _weekly_excess(calls: Iterable[tuple[datetime, date, str | None]], rules: Profile) -> int:
    """Windows of window_days local days holding more calls about one debt than the cap."""
    per_day = Counter(day for _, day, _ in calls)
    if not per_day:
        return 0
    start, end = min(per_day), max(per_day)
    bad, day = 0, start
    while day <= end:
        if sum(per_day[day + timedelta(days=k)] for k in range(rules.window_days)) > rules.weekly_call_cap:
            bad += 1
        day += timedelta(days=1)
    return bad


def _too_soon(calls: list[tuple[datetime, date, str | None]], rules: Profile) -> int:
    """Calls about a debt started after a conversation about it and before its wait ended."""
    talks = [(at, day) for at, day, result in calls if result in CONVERSATIONS]
    wait = timedelta(days=rules.post_conversation_days)
    return sum(1 for at, day, _ in calls if any(t_at < at and day < t_day + wait for t_at, t_day in talks))
