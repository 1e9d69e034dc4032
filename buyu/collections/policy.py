"""Contact rules: a pure engine that decides whether one contact may start (no database, no clock).

`evaluate(request=…, history=…, profile=…, flags=…)` runs the profile's rules in order and returns
the first refusal, or an allowed `Decision` with the dialog duties the contact carries. Each rule
is a small function whose name is the `rule` code written to the contact log.

Who may be contacted (rule `third_party`), per contact-point kind:

* *party* kinds reach the debtor and may be contacted about the debt: `self` and `work` in every
  profile; `spouse` too under US (FDCPA §803(3)/§805(d) count the spouse as the consumer).
* *locate* kinds may be contacted only to locate the debtor (purpose `locate`), only by a human
  agent call (a person can keep to location questions; a robot or an SMS cannot be trusted not to
  disclose), and never about the debt: `spouse` and `reference` (contacts the borrower gave us)
  under CN; `reference` and `third_party` under US (FDCPA §804).
* anything else is refused: CN never contacts an unrelated `third_party`.

Borrower-local time comes from the borrower's IANA timezone and the explicit, tz-aware `at`;
days ("a day", "7 days") are borrower-local calendar days.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from buyu.errors import InvalidInput

CHANNELS = frozenset({"robot_call", "sms", "agent_call", "field_visit", "agency", "legal", "letter"})
CALL_CHANNELS = frozenset({"robot_call", "agent_call"})
POINT_KINDS = frozenset({"self", "work", "spouse", "reference", "third_party"})
PURPOSES = frozenset({"collect", "locate"})
#: Call results where nobody answered (counted by the daily cap; an in-flight call counts too).
UNANSWERED = frozenset({"no_answer", "busy", "voicemail"})
#: Call results that mean we talked with the debtor about the debt (start the post-conversation wait).
CONVERSATION = frozenset({"rpc", "ptp", "refused", "dispute", "callback", "transferred", "ceased"})
#: Results that mean the right party was reached, on any channel.
RPC_RESULTS = CONVERSATION | {"visit_met"}


@dataclass(frozen=True)
class ContactRequest:
    """One contact someone wants to start at `at` (tz-aware), with what we know of the contact point.

    `as_of` is the business date (defaults to the borrower-local date of `at`); `point_kind` is
    None for contacts without a phone number (a visit to the borrower's address, a letter).
    `borrower_requested` marks a call the debtor asked for (a callback): Regulation F excludes it
    from the weekly cap and the post-conversation wait.
    """

    loan_id: int
    channel: str
    at: datetime
    timezone: str = "Asia/Shanghai"
    as_of: date | None = None
    contact_point_id: int | None = None
    point_kind: str | None = None
    wrong_number: bool = False
    purpose: str = "collect"
    borrower_requested: bool = False

    def __post_init__(self) -> None:
        _one_of("channel", self.channel, CHANNELS)
        _one_of("purpose", self.purpose, PURPOSES)
        if self.point_kind is not None:
            _one_of("point_kind", self.point_kind, POINT_KINDS)
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise InvalidInput("`at` must be a timezone-aware datetime", code="naive_datetime",
                               details={"field": "at"})
        zone(self.timezone)

    @property
    def local(self) -> datetime:
        """`at` on the borrower's wall clock."""
        return self.at.astimezone(zone(self.timezone))

    @property
    def business_date(self) -> date:
        """The business date the contact belongs to."""
        return self.as_of or self.local.date()


@dataclass(frozen=True)
class PastAttempt:
    """A logged contact the rules count; `result` None means allowed and still in flight."""

    channel: str
    started_at: datetime
    result: str | None
    loan_id: int | None = None
    contact_point_id: int | None = None
    borrower_requested: bool = False


@dataclass(frozen=True)
class BorrowerFlags:
    """What the borrower told us or agreed to, and holds on the case.

    `cease_channels` None means every channel. `paused_until` is the last business day of a
    dated pause of the case.
    """

    cease_from: date | None = None
    cease_channels: frozenset[str] | None = None
    artificial_voice_consent: bool = False
    quiet_hours_consent: bool = False
    dispute_open: bool = False
    paused_until: date | None = None


@dataclass(frozen=True)
class Decision:
    """The answer: allowed or not, the rule that refused, why, and the dialog duties of the contact."""

    allowed: bool
    rule: str | None
    reason: str
    duties: tuple[str, ...] = ()
    attempt_id: int | None = None


@dataclass(frozen=True)
class Profile:
    """A jurisdiction's contact rules; build variants with `dataclasses.replace` (all fields configurable).

    Contacts on `quiet_channels` are allowed from `day_start` (inclusive) to `day_end`
    (exclusive), borrower-local, unless the borrower consented to other hours.
    """

    code: str
    rules: tuple[str, ...]
    day_start: time = time(8, 0)
    day_end: time = time(22, 0)
    quiet_channels: frozenset[str] = frozenset({"robot_call", "agent_call", "sms", "field_visit"})
    daily_unanswered_cap: int = 6
    weekly_call_cap: int = 7
    window_days: int = 7
    post_conversation_days: int = 7
    party_kinds: frozenset[str] = frozenset({"self", "work"})
    locate_kinds: frozenset[str] = frozenset({"spouse", "reference"})
    locate_channels: frozenset[str] = frozenset({"agent_call"})
    #: Regulation F: say "this is a debt collector" once the right party is verified (a dialog duty).
    debt_collector_disclosure: bool = False
    #: A lawsuit is not a collection contact: cease-contact does not stop it.
    cease_exempt_channels: frozenset[str] = frozenset({"legal"})
    #: While a dispute is open only the verification letter may go out.
    dispute_exempt_channels: frozenset[str] = frozenset({"letter"})
    dialog_duties: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        unknown = [r for r in self.rules if r not in RULES]
        if unknown:
            raise InvalidInput(f"unknown contact rule(s) {unknown}", code="unknown_rule",
                               details={"known": sorted(RULES)})
        if not self.day_start < self.day_end:
            raise InvalidInput("day_start must be before day_end", code="invalid_profile")

    @property
    def history_days(self) -> int:
        """How many borrower-local days of history the rules look back (today included)."""
        return max(self.window_days, self.post_conversation_days, 1)


@dataclass(frozen=True)
class Context:
    """What every rule sees: the request, its borrower-local time, the history, profile and flags."""

    request: ContactRequest
    history: tuple[PastAttempt, ...]
    profile: Profile
    flags: BorrowerFlags
    local: datetime

    @property
    def local_date(self) -> date:
        """The borrower-local calendar day of the request."""
        return self.local.date()

    def day_of(self, attempt: PastAttempt) -> date:
        """The borrower-local calendar day of a past attempt."""
        return attempt.started_at.astimezone(self.local.tzinfo).date()

    def calls_on_this_debt(self) -> list[PastAttempt]:
        """Past calls about the same loan that count toward Regulation F's limits."""
        return [h for h in self.history if h.loan_id == self.request.loan_id and h.channel in CALL_CHANNELS
                and not h.borrower_requested]


Rule = Callable[[Context], str | None]


def cease_contact(ctx: Context) -> str | None:
    """The borrower asked us to stop (on all channels or some): honoured from that business day on."""
    f, channel = ctx.flags, ctx.request.channel
    if f.cease_from is None or ctx.request.business_date < f.cease_from:
        return None
    if channel in ctx.profile.cease_exempt_channels:
        return None
    if f.cease_channels is not None and channel not in f.cease_channels:
        return None
    scope = "all channels" if f.cease_channels is None else ", ".join(sorted(f.cease_channels))
    return f"borrower asked to cease contact ({scope}) from {f.cease_from.isoformat()}"


def dispute_hold(ctx: Context) -> str | None:
    """An open dispute pauses collection until it is resolved (only the verification letter goes out)."""
    if ctx.flags.dispute_open and ctx.request.channel not in ctx.profile.dispute_exempt_channels:
        return "the borrower disputes the debt; collection is paused until the dispute is resolved"
    return None


def case_paused(ctx: Context) -> str | None:
    """A case paused until a date (hardship, investigation) gets no contact through that day."""
    until = ctx.flags.paused_until
    if until is not None and ctx.request.business_date <= until:
        return f"the case is paused until {until.isoformat()}"
    return None


def wrong_number(ctx: Context) -> str | None:
    """A number verified as not belonging to whom we think is never dialled again."""
    if ctx.request.wrong_number:
        return "the contact point is a verified wrong number"
    return None


def third_party(ctx: Context) -> str | None:
    """Only the debtor hears about the debt; others may only be asked where the debtor is (module doc)."""
    req, p = ctx.request, ctx.profile
    kind = req.point_kind
    if kind is None or kind in p.party_kinds:
        return None
    if kind not in p.locate_kinds:
        return f"a {kind} contact point may not be contacted under the {p.code} rules"
    if req.purpose != "locate":
        return f"a {kind} may only be contacted to locate the borrower (purpose=locate), never about the debt"
    if req.channel not in p.locate_channels:
        return f"location contacts with a {kind} must be made by {', '.join(sorted(p.locate_channels))}"
    return None


def robot_consent(ctx: Context) -> str | None:
    """An artificial or prerecorded voice needs the borrower's prior consent (TCPA)."""
    if ctx.request.channel == "robot_call" and not ctx.flags.artificial_voice_consent:
        return "no prior consent to calls with an artificial voice"
    return None


def quiet_hours(ctx: Context) -> str | None:
    """Calls, messages and visits only inside the profile's day, borrower-local, unless they consented."""
    p = ctx.profile
    if ctx.request.channel not in p.quiet_channels or ctx.flags.quiet_hours_consent:
        return None
    now = ctx.local.time()
    if p.day_start <= now < p.day_end:
        return None
    return (f"borrower-local time {now:%H:%M} ({ctx.request.timezone}) is outside "
            f"{p.day_start:%H:%M}–{p.day_end:%H:%M}")


def daily_attempt_cap(ctx: Context) -> str | None:
    """At most N unanswered calls a borrower-local day to the same contact point (in-flight calls count)."""
    req, cap = ctx.request, ctx.profile.daily_unanswered_cap
    if req.channel not in CALL_CHANNELS or req.contact_point_id is None:
        return None
    n = sum(1 for h in ctx.history
            if h.contact_point_id == req.contact_point_id and h.channel in CALL_CHANNELS
            and (h.result is None or h.result in UNANSWERED) and ctx.day_of(h) == ctx.local_date)
    if n >= cap:
        return f"{n} unanswered calls to this contact point today (cap {cap})"
    return None


def weekly_attempt_cap(ctx: Context) -> str | None:
    """At most N call attempts about one debt in any run of `window_days` borrower-local days.

    Every window that contains the request day is checked, so a back-dated request cannot push a
    later window over the cap either.
    """
    req, p = ctx.request, ctx.profile
    if req.channel not in CALL_CHANNELS or req.borrower_requested:
        return None
    per_day = Counter(ctx.day_of(h) for h in ctx.calls_on_this_debt())
    for back in range(p.window_days):
        first = ctx.local_date - timedelta(days=back)
        n = sum(per_day[first + timedelta(days=i)] for i in range(p.window_days))
        if n >= p.weekly_call_cap:
            last = first + timedelta(days=p.window_days - 1)
            return (f"{n} calls about this debt between {first.isoformat()} and {last.isoformat()} "
                    f"(cap {p.weekly_call_cap} in {p.window_days} days)")
    return None


def post_conversation_wait(ctx: Context) -> str | None:
    """No call about a debt for N days after a telephone conversation about it (its day is day 1).

    A call still in flight may turn out to be a conversation, so it holds the debt's calls until
    its outcome is recorded; and a call is refused when calls are already logged after it inside
    the wait it would start. Either way no logged call can ever follow a conversation too soon.
    """
    req, days = ctx.request, ctx.profile.post_conversation_days
    if req.channel not in CALL_CHANNELS or req.borrower_requested:
        return None
    calls = ctx.calls_on_this_debt()
    for h in calls:
        if h.started_at < req.at and h.result is None and ctx.local_date < ctx.day_of(h) + timedelta(days=days):
            return f"a call about this debt at {h.started_at.isoformat()} has no recorded outcome yet"
    talks = [ctx.day_of(h) for h in calls if h.result in CONVERSATION and h.started_at < req.at]
    if talks and ctx.local_date < max(talks) + timedelta(days=days):
        last = max(talks)
        return (f"telephone conversation about this debt on {last.isoformat()}; "
                f"no calls before {(last + timedelta(days=days)).isoformat()}")
    later = [h for h in calls if h.started_at > req.at and ctx.day_of(h) < ctx.local_date + timedelta(days=days)]
    if later:
        return "calls about this debt are already logged after this time, inside the wait a conversation would start"
    return None


RULES: dict[str, Rule] = {
    r.__name__: r
    for r in (cease_contact, dispute_hold, case_paused, wrong_number, third_party, robot_consent, quiet_hours,
              daily_attempt_cap, weekly_attempt_cap, post_conversation_wait)
}

CN = Profile(
    code="CN",
    rules=("cease_contact", "dispute_hold", "case_paused", "wrong_number", "third_party", "quiet_hours",
           "daily_attempt_cap"),
    dialog_duties=("verify_identity_before_discussing_debt", "no_threats_insults_or_false_legal_claims"),
)
US = Profile(
    code="US",
    rules=("cease_contact", "dispute_hold", "case_paused", "wrong_number", "third_party", "robot_consent",
           "quiet_hours", "post_conversation_wait", "weekly_attempt_cap"),
    day_start=time(8, 0),
    day_end=time(21, 0),
    party_kinds=frozenset({"self", "work", "spouse"}),
    locate_kinds=frozenset({"reference", "third_party"}),
    debt_collector_disclosure=True,
    dialog_duties=("verify_identity_before_discussing_debt",),
)
PROFILES: dict[str, Profile] = {p.code: p for p in (CN, US)}


def get_profile(profile: Profile | str) -> Profile:
    """A profile object, or the built-in one with this code."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise InvalidInput(f"unknown contact-rule profile {profile!r}", code="unknown_profile",
                           details={"known": sorted(PROFILES)}) from None


def evaluate(*, request: ContactRequest, history: Iterable[PastAttempt], profile: Profile,
             flags: BorrowerFlags) -> Decision:
    """Run the profile's rules in order; the first that refuses decides, else the contact is allowed."""
    ctx = Context(request=request, history=tuple(h for h in history if h.result != "blocked"), profile=profile,
                  flags=flags, local=request.local)
    for name in profile.rules:
        reason = RULES[name](ctx)
        if reason is not None:
            return Decision(allowed=False, rule=name, reason=reason)
    return Decision(allowed=True, rule=None, reason=f"allowed by the {profile.code} contact rules",
                    duties=duties(request=request, profile=profile))


def duties(*, request: ContactRequest, profile: Profile) -> tuple[str, ...]:
    """What the person or robot must do during an allowed contact."""
    if request.purpose == "locate":
        return ("locate_only_no_debt_disclosure",)
    out = list(profile.dialog_duties)
    if profile.debt_collector_disclosure and request.channel in CALL_CHANNELS | {"field_visit"}:
        out.append("disclose_debt_collector_after_rpc")
    return tuple(out)


def within_contact_hours(*, at: datetime, timezone: str, profile: Profile, consent: bool = False) -> Decision:
    """The quiet-hours rule alone, for planning a call at `at` (callbacks, dialer windows)."""
    request = ContactRequest(loan_id=0, channel="agent_call", at=at, timezone=timezone)
    probe = replace(profile, rules=("quiet_hours",))
    return evaluate(request=request, history=(), profile=probe, flags=BorrowerFlags(quiet_hours_consent=consent))


def zone(name: str) -> ZoneInfo:
    """An IANA timezone, or a clear error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown timezone {name!r}", code="unknown_timezone", details={"timezone": name}) from None


def local_day_and_hour(at: datetime, timezone: str) -> tuple[date, int]:
    """The borrower-local calendar day and hour of a tz-aware instant."""
    local = at.astimezone(zone(timezone))
    return local.date(), local.hour


def _one_of(name: str, value: str, allowed: Iterable[str]) -> None:
    choices = sorted(allowed)
    if value not in choices:
        raise InvalidInput(f"{name} must be one of {choices}, got {value!r}", code=f"invalid_{name}",
                           details={"field": name, "allowed": choices})
