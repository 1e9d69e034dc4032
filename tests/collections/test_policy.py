"""The contact-rules engine on its own (pure: no database), with hand-picked times around every boundary."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from buyu.collections.policy import (
    CN,
    RULES,
    US,
    BorrowerFlags,
    ContactRequest,
    Decision,
    PastAttempt,
    Profile,
    evaluate,
    get_profile,
    within_contact_hours,
)
from buyu.errors import InvalidInput

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
NO_FLAGS = BorrowerFlags()


def local(day: date, hh: int, mm: int = 0, tz: ZoneInfo = SH) -> datetime:
    """A borrower-local wall-clock time as a UTC instant (what callers pass as `at`)."""
    return datetime.combine(day, time(hh, mm), tzinfo=tz).astimezone(UTC)


def ask(at: datetime, *, profile: Profile = CN, channel: str = "agent_call", tz: str = "Asia/Shanghai",
        history: list[PastAttempt] | None = None, flags: BorrowerFlags = NO_FLAGS, **kw: object) -> Decision:
    kw.setdefault("contact_point_id", 1)
    kw.setdefault("point_kind", "self")
    request = ContactRequest(loan_id=1, channel=channel, at=at, timezone=tz, **kw)  # type: ignore[arg-type]
    return evaluate(request=request, history=history or [], profile=profile, flags=flags)


def call(at: datetime, result: str | None = "no_answer", *, point: int = 1, loan: int = 1,
         channel: str = "agent_call", requested: bool = False) -> PastAttempt:
    return PastAttempt(channel=channel, started_at=at, result=result, loan_id=loan, contact_point_id=point,
                       borrower_requested=requested)


D = date(2026, 3, 3)


# --------------------------------------------------------------------------- quiet hours


@pytest.mark.parametrize(("hh", "mm", "allowed"), [(7, 59, False), (8, 0, True), (21, 59, True), (22, 0, False)])
def test_cn_quiet_hours_boundaries_borrower_local(hh: int, mm: int, allowed: bool) -> None:
    """CN: 07:59 and 22:00 Shanghai time are refused (quiet_hours), 08:00 and 21:59 allowed; `at` is given in UTC."""
    d = ask(local(D, hh, mm))
    assert d.allowed is allowed
    assert d.rule == (None if allowed else "quiet_hours")


def test_cn_quiet_hours_use_the_borrowers_timezone_not_the_servers() -> None:
    """10:00 UTC is 18:00 in Shanghai (allowed) and 23:00 in Auckland (refused): the borrower's zone decides."""
    at = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    assert ask(at).allowed
    refused = ask(at, tz="Pacific/Auckland")
    assert refused.rule == "quiet_hours" and "23:00" in refused.reason


def test_quiet_hours_consent_and_untimed_channels() -> None:
    """With quiet-hours consent a 23:00 call is allowed; a letter is never subject to the hours; an SMS is."""
    late = local(D, 23)
    assert ask(late).rule == "quiet_hours"
    assert ask(late, flags=BorrowerFlags(quiet_hours_consent=True)).allowed
    assert ask(late, channel="letter", contact_point_id=None, point_kind=None).allowed
    assert ask(late, channel="sms").rule == "quiet_hours"
    assert ask(late, channel="field_visit", contact_point_id=None, point_kind=None).rule == "quiet_hours"


@pytest.mark.parametrize(("hh", "mm", "allowed"), [(7, 59, False), (8, 0, True), (20, 59, True), (21, 0, False)])
def test_us_quiet_hours_boundaries(hh: int, mm: int, allowed: bool) -> None:
    """US: contacts from 08:00 to before 21:00 New York time; 07:59 and 21:00 are refused."""
    flags = BorrowerFlags(artificial_voice_consent=True)
    d = ask(local(D, hh, mm, NY), profile=US, tz="America/New_York", flags=flags)
    assert (d.allowed, d.rule) == (allowed, None if allowed else "quiet_hours")


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        # 8 March 2026: clocks jump 02:00 EST -> 03:00 EDT (UTC-4 from then on).
        (datetime(2026, 3, 8, 11, 59, tzinfo=UTC), False),  # 07:59 EDT (a fixed UTC-5 would say 06:59)
        (datetime(2026, 3, 8, 12, 0, tzinfo=UTC), True),  # 08:00 EDT
        (datetime(2026, 3, 9, 0, 59, tzinfo=UTC), True),  # 20:59 EDT on the 8th (UTC-5 would say 19:59)
        (datetime(2026, 3, 9, 1, 0, tzinfo=UTC), False),  # 21:00 EDT on the 8th
        # 1 November 2026: clocks fall back 02:00 EDT -> 01:00 EST (UTC-5).
        (datetime(2026, 11, 1, 12, 59, tzinfo=UTC), False),  # 07:59 EST (a fixed UTC-4 would say 08:59)
        (datetime(2026, 11, 1, 13, 0, tzinfo=UTC), True),  # 08:00 EST
        (datetime(2026, 11, 2, 1, 59, tzinfo=UTC), True),  # 20:59 EST on the 1st
        (datetime(2026, 11, 2, 2, 0, tzinfo=UTC), False),  # 21:00 EST on the 1st
    ],
)
def test_us_quiet_hours_across_dst_changes(at: datetime, allowed: bool) -> None:
    """Borrower-local time follows New York's DST changes: the same UTC instant is judged by the offset of that day."""
    d = ask(at, profile=US, tz="America/New_York", channel="agent_call")
    assert d.allowed is allowed, d.reason


def test_within_contact_hours_helper() -> None:
    """The planning helper applies the quiet-hours rule alone."""
    assert within_contact_hours(at=local(D, 8), timezone="Asia/Shanghai", profile=CN).allowed
    assert within_contact_hours(at=local(D, 22), timezone="Asia/Shanghai", profile=CN).rule == "quiet_hours"


# --------------------------------------------------------------------------- daily cap (CN)


def test_cn_daily_cap_sixth_allowed_seventh_blocked() -> None:
    """5 unanswered calls today → the 6th is allowed; 6 unanswered → the 7th is refused (daily_attempt_cap)."""
    five = [call(local(D, 9 + i)) for i in range(5)]
    assert ask(local(D, 15), history=five).allowed
    six = [*five, call(local(D, 14), "busy")]
    d = ask(local(D, 15), history=six)
    assert (d.allowed, d.rule) == (False, "daily_attempt_cap")


def test_cn_daily_cap_counts_only_unanswered_calls_to_this_point_today() -> None:
    """Answered calls, other contact points, SMS, blocked rows and yesterday (borrower-local) do not count."""
    history = [call(local(D, 9 + i)) for i in range(5)]
    history += [
        call(local(D, 14), "rpc"),
        call(local(D, 14), "no_answer", point=2),
        call(local(D, 14), "sms_failed", channel="sms"),
        call(local(D, 14), "blocked"),
        call(local(D - timedelta(days=1), 21, 30)),  # 13:30 UTC the day before: yesterday in Shanghai
    ]
    assert ask(local(D, 15), history=history).allowed


def test_cn_daily_cap_counts_in_flight_calls() -> None:
    """Calls allowed but without an outcome yet count as unanswered, so parallel requests cannot overrun the cap."""
    history = [call(local(D, 9 + i), None) for i in range(6)]
    assert ask(local(D, 16), history=history).rule == "daily_attempt_cap"


def test_profile_is_configurable() -> None:
    """A profile variant with a cap of 3 refuses the 4th unanswered call; unknown rule names are refused."""
    strict = replace(CN, daily_unanswered_cap=3)
    history = [call(local(D, 9 + i)) for i in range(3)]
    assert ask(local(D, 15), history=history, profile=strict).rule == "daily_attempt_cap"
    assert ask(local(D, 15), history=history, profile=CN).allowed
    with pytest.raises(InvalidInput) as err:
        replace(CN, rules=("quiet_hours", "no_such_rule"))
    assert err.value.code == "unknown_rule"
    assert get_profile("US") is US
    with pytest.raises(InvalidInput):
        get_profile("XX")


# --------------------------------------------------------------------------- weekly cap & conversation wait (US)

NYD = date(2026, 3, 16)
US_OK = BorrowerFlags(artificial_voice_consent=True)


def us(at: datetime, history: list[PastAttempt], **kw: object) -> Decision:
    return ask(at, profile=US, tz="America/New_York", history=history, flags=US_OK, **kw)  # type: ignore[arg-type]


def test_us_seven_calls_in_seven_days() -> None:
    """6 calls on the 6 previous days → the 7th is allowed; 7 calls in the window → the 8th is refused."""
    six = [call(local(NYD - timedelta(days=k), 10, tz=NY), point=k) for k in range(1, 7)]
    assert us(local(NYD, 10, tz=NY), six).allowed
    seven = [*six, call(local(NYD, 9, tz=NY), point=9)]
    d = us(local(NYD, 10, tz=NY), seven)
    assert (d.allowed, d.rule) == (False, "weekly_attempt_cap")


def test_us_weekly_window_slides() -> None:
    """A call 7 days ago has left the window; calls logged after a back-dated request count in its later windows."""
    old = [call(local(NYD - timedelta(days=7), 10, tz=NY))] + [
        call(local(NYD - timedelta(days=k), 10, tz=NY)) for k in range(1, 7)]
    assert us(local(NYD, 10, tz=NY), old).allowed
    later = [call(local(NYD + timedelta(days=1 + k % 3), 9 + k, tz=NY)) for k in range(7)]
    # (Under US the conversation wait refuses such a back-dated call first; a variant without it shows the window.)
    no_wait = replace(US, rules=tuple(r for r in US.rules if r != "post_conversation_wait"))
    d = ask(local(NYD, 10, tz=NY), profile=no_wait, tz="America/New_York", history=later, flags=US_OK)
    assert d.rule == "weekly_attempt_cap" and "2026-03-16 and 2026-03-22" in d.reason


def test_us_weekly_cap_is_per_debt_and_skips_requested_calls() -> None:
    """Calls about another loan do not count; a call the borrower asked for is neither counted nor capped."""
    other = [call(local(NYD - timedelta(days=k), 10, tz=NY), loan=2) for k in range(1, 8)]
    assert us(local(NYD, 10, tz=NY), other).allowed
    mine = [call(local(NYD - timedelta(days=k), 9, tz=NY)) for k in range(7)]
    assert us(local(NYD, 10, tz=NY), mine).rule == "weekly_attempt_cap"
    assert us(local(NYD, 10, tz=NY), mine, borrower_requested=True).allowed
    requested = [call(local(NYD - timedelta(days=k), 9, tz=NY), requested=True) for k in range(7)]
    assert us(local(NYD, 10, tz=NY), requested).allowed


def test_us_no_call_within_seven_days_after_a_conversation() -> None:
    """A conversation on day D (day 1): calls refused through D+6 (post_conversation_wait), allowed from D+7."""
    talk = [call(local(NYD, 10, tz=NY), "ptp")]
    assert us(local(NYD, 15, tz=NY), talk).rule == "post_conversation_wait"
    d6 = us(local(NYD + timedelta(days=6), 20, tz=NY), talk)
    assert d6.rule == "post_conversation_wait" and "2026-03-23" in d6.reason
    assert us(local(NYD + timedelta(days=7), 8, tz=NY), talk).allowed


def test_us_conversation_wait_scope() -> None:
    """The wait covers calls only (an SMS is allowed), not borrower-requested calls; an unanswered call starts none."""
    talk = [call(local(NYD, 10, tz=NY), "rpc")]
    next_day = local(NYD + timedelta(days=1), 10, tz=NY)
    assert us(next_day, talk, channel="sms").allowed
    assert us(next_day, talk, borrower_requested=True).allowed
    assert us(next_day, [call(local(NYD, 10, tz=NY), "voicemail")]).allowed


def test_us_in_flight_call_holds_the_debt() -> None:
    """A call still in flight may become a conversation, so another call about the debt waits for its outcome."""
    flying = [call(local(NYD, 10, tz=NY), None)]
    d = us(local(NYD, 10, 5, tz=NY), flying)
    assert d.rule == "post_conversation_wait" and "no recorded outcome" in d.reason


def test_us_backdated_call_before_logged_calls_is_refused() -> None:
    """A 09:00 call when an 11:00 call is logged could become a conversation the 11:00 call followed: refused."""
    later = [call(local(NYD, 11, tz=NY), "no_answer")]
    assert us(local(NYD, 9, tz=NY), later).rule == "post_conversation_wait"


# --------------------------------------------------------------------------- cease, dispute, consent, pause


def test_cease_contact_is_honoured_from_its_day_on_every_channel() -> None:
    """Cease from D: every channel refused on D (cease_contact) except a lawsuit; allowed the day before."""
    flags = BorrowerFlags(cease_from=D)
    for channel in ("robot_call", "agent_call", "sms"):
        assert ask(local(D, 10), channel=channel, flags=flags).rule == "cease_contact"
    for channel in ("field_visit", "letter", "agency"):
        assert ask(local(D, 10), channel=channel, flags=flags, contact_point_id=None, point_kind=None).rule \
            == "cease_contact"
    assert ask(local(D, 10), channel="legal", flags=flags, contact_point_id=None, point_kind=None).allowed
    assert ask(local(D - timedelta(days=1), 10), flags=flags).allowed


def test_cease_contact_scoped_to_some_channels() -> None:
    """A borrower who opted out of SMS only still gets calls."""
    flags = BorrowerFlags(cease_from=D, cease_channels=frozenset({"sms"}))
    assert ask(local(D, 10), channel="sms", flags=flags).rule == "cease_contact"
    assert ask(local(D, 10), flags=flags).allowed


def test_dispute_hold_and_case_pause() -> None:
    """An open dispute refuses calls (dispute_hold) but not the verification letter; a pause holds through its day."""
    disputed = BorrowerFlags(dispute_open=True)
    assert ask(local(D, 10), flags=disputed).rule == "dispute_hold"
    assert ask(local(D, 10), flags=disputed, channel="letter", contact_point_id=None, point_kind=None).allowed
    paused = BorrowerFlags(paused_until=D)
    assert ask(local(D, 10), flags=paused, as_of=D).rule == "case_paused"
    assert ask(local(D + timedelta(days=1), 10), flags=paused).allowed


def test_robot_needs_consent_under_us_only() -> None:
    """US: a robot call without artificial-voice consent is refused (robot_consent); CN has no such rule."""
    at = local(NYD, 10, tz=NY)
    d = ask(at, profile=US, tz="America/New_York", channel="robot_call")
    assert d.rule == "robot_consent"
    assert ask(at, profile=US, tz="America/New_York", channel="robot_call", flags=US_OK).allowed
    assert ask(local(D, 10), channel="robot_call").allowed


def test_wrong_number_is_never_dialled() -> None:
    """A verified wrong number is refused (wrong_number)."""
    assert ask(local(D, 10), wrong_number=True).rule == "wrong_number"


# --------------------------------------------------------------------------- third parties


def test_cn_third_party_rule() -> None:
    """CN: references and spouses only to locate, by an agent; unrelated third parties never; the work line freely."""
    at = local(D, 10)
    assert ask(at, point_kind="reference").rule == "third_party"
    assert ask(at, point_kind="reference", purpose="locate").allowed
    assert ask(at, point_kind="reference", purpose="locate", channel="robot_call").rule == "third_party"
    assert ask(at, point_kind="reference", purpose="locate", channel="sms").rule == "third_party"
    assert ask(at, point_kind="spouse").rule == "third_party"
    assert ask(at, point_kind="third_party", purpose="locate").rule == "third_party"
    assert ask(at, point_kind="work").allowed


def test_us_third_party_rule() -> None:
    """US: the spouse counts as the consumer; references and traced third parties only to locate."""
    at = local(NYD, 10, tz=NY)
    assert us(at, [], point_kind="spouse").allowed
    assert us(at, [], point_kind="third_party").rule == "third_party"
    assert us(at, [], point_kind="third_party", purpose="locate").allowed


def test_duties_carry_the_dialog_obligations() -> None:
    """US calls carry the debt-collector disclosure duty; a location contact carries 'no disclosure'."""
    d = us(local(NYD, 10, tz=NY), [])
    assert "disclose_debt_collector_after_rpc" in d.duties
    assert US.debt_collector_disclosure and not CN.debt_collector_disclosure
    assert ask(local(D, 10), point_kind="reference", purpose="locate").duties == ("locate_only_no_debt_disclosure",)


# --------------------------------------------------------------------------- bad input


def test_bad_requests_are_clear_errors() -> None:
    """A naive datetime, an unknown timezone, channel, purpose or kind raise InvalidInput with a precise code."""
    with pytest.raises(InvalidInput) as err:
        ask(datetime(2026, 3, 3, 10, 0))
    assert err.value.code == "naive_datetime"
    with pytest.raises(InvalidInput) as err:
        ask(local(D, 10), tz="Mars/Olympus")
    assert err.value.code == "unknown_timezone"
    with pytest.raises(InvalidInput) as err:
        ask(local(D, 10), channel="pigeon")
    assert err.value.code == "invalid_channel"
    with pytest.raises(InvalidInput):
        ask(local(D, 10), purpose="threaten")
    with pytest.raises(InvalidInput):
        ask(local(D, 10), point_kind="neighbour")


def test_every_rule_has_a_docstring_and_is_used() -> None:
    """Each rule function documents itself and appears in at least one built-in profile."""
    used = set(CN.rules) | set(US.rules)
    for name, rule in RULES.items():
        assert rule.__doc__, name
        assert name in used, name
