"""The dialog state machine, call by call: verification, disclosure, promises, hardship, endings."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from voicebot.dialog import (
    RESULT_CODES,
    Action,
    CallContext,
    DialogState,
    Event,
    Transition,
    asr_state,
    start,
    step,
)
from voicebot.locales import get_pack

AS_OF = date(2026, 11, 27)
CTX = CallContext(
    locale="en-US", currency="CNY", lender="Buyu Finance", borrower_name="Li Lei", birth_year=1988, id_last4="4321",
    overdue_fen=150_000, balance_fen=900_000, dpd=17, as_of=AS_OF, ptp_max_days=10, ptp_min_fen=50_000,
    instalments_max=3, payment_link=True, dtmf_only=False, voicemail="callback_message")


def say(intent: str, **slots: object) -> Event:
    return Event(kind="utterance", intent=intent, slots=slots, text=intent)


def keys(t: Transition) -> list[str]:
    return [p.key for p in t.prompts]


def kinds(t: Transition) -> list[str]:
    return [a.kind for a in t.actions]


def result(t: Transition) -> str | None:
    return next((str(a.data["code"]) for a in t.actions if a.kind == "result"), None)


def action(t: Transition, kind: str) -> Action:
    return next(a for a in t.actions if a.kind == kind)


def run(ctx: CallContext, *events: Event) -> list[Transition]:
    out = [start(ctx)]
    for e in events:
        out.append(step(out[-1].state, e, ctx))
    return out


def verified(ctx: CallContext = CTX) -> Transition:
    return run(ctx, say("yes"), Event(kind="dtmf", digits="1988"))[-1]


def test_greeting_then_second_factor_then_disclosure_and_debt() -> None:
    """Name "yes" alone gets a second-factor question; the right birth year unlocks the disclosure and the debt."""
    t0, t1, t2 = run(CTX, say("yes"), Event(kind="dtmf", digits="1988"))
    assert keys(t0) == ["greeting"] and kinds(t0) == ["listen"] and t0.actions[0].data["grammar"] == "verify"
    assert keys(t1) == ["verify_factor_birth_year"] and not t1.state.verified
    assert t1.actions[-1].data == {"grammar": "verify", "dtmf": True, "max_digits": 4}
    assert t2.state.verified and keys(t2) == ["disclosure", "debt", "negotiation"]
    assert t2.prompts[0].barge_in is False and all(p.barge_in for p in t2.prompts[1:])
    assert "debt collector" in t2.prompts[0].text
    assert "one thousand five hundred yuan" in t2.prompts[1].text and "seventeen days" in t2.prompts[1].text
    assert kinds(t2) == ["verified", "listen"] and asr_state(t2.state) == "negotiate"


def test_id_digits_by_speech_when_no_birth_year() -> None:
    """Without a birth year the ID's last four digits, spoken as a slot, verify."""
    ctx = replace(CTX, birth_year=None)
    t = run(ctx, say("yes"), say("unknown", digits="4321"))
    assert keys(t[1]) == ["verify_factor_id"] and t[2].state.verified


def test_wrong_factor_twice_ends_without_any_debt_detail() -> None:
    """Two wrong answers end the call as verification_failed, and nothing said mentions the debt."""
    calls = run(CTX, say("yes"), Event(kind="dtmf", digits="1999"), Event(kind="dtmf", digits="2000"))
    assert keys(calls[2]) == ["verify_factor_retry", "verify_factor_birth_year"]
    assert result(calls[3]) == "verification_failed" and kinds(calls[3])[-1] == "hangup"
    amount = get_pack("en-US").say_amount(CTX.overdue_fen, "CNY")
    assert all(amount not in p.text and "debt" not in p.text for t in calls for p in t.prompts)


def test_no_second_factor_on_file_never_verifies() -> None:
    """A spoken yes is not enough: with no birth year or ID digits on file the call ends unverified."""
    t = run(replace(CTX, birth_year=None, id_last4=None), say("yes"))[-1]
    assert result(t) == "verification_failed" and not t.state.verified


def test_promise_in_limits_is_read_back_and_booked_on_yes() -> None:
    """A promise inside the limits is read back, and only the borrower's yes records it."""
    due = AS_OF + timedelta(days=5)
    t = step(verified().state, say("will_pay", date=due.isoformat(), amount_fen=100_000), CTX)
    assert t.state.name == "confirm" and keys(t) == ["readback"] and "record_ptp" not in kinds(t)
    done = step(t.state, say("yes"), CTX)
    assert action(done, "record_ptp").data == {"due_date": due.isoformat(), "amount_fen": 100_000, "instalments": 1}
    assert result(done) == "ptp" and kinds(done)[-1] == "hangup"


def test_nlu_slot_names_are_accepted() -> None:
    """The NLU's own slot names (promised_date, amount_minor) work as well as the contract's."""
    due = AS_OF + timedelta(days=2)
    t = step(verified().state, say("will_pay", promised_date=due.isoformat(), amount_minor=60_000), CTX)
    assert t.state.pending is not None and t.state.pending.amount_fen == 60_000 and t.state.pending.due_date == due


def test_date_beyond_limit_is_countered_not_accepted() -> None:
    """A date after as_of + ptp_max_days is countered with the latest date; no read-back, no record."""
    t = step(verified().state, say("will_pay", date=(AS_OF + timedelta(days=11)).isoformat()), CTX)
    assert keys(t) == ["counter_date"] and t.state.name == "negotiate" and t.state.pending is None
    assert get_pack("en-US").say_date(AS_OF + timedelta(days=10)) in t.prompts[0].text


def test_small_amount_gets_a_plan_and_without_plans_a_counter() -> None:
    """An amount under the minimum is met with the instalment plan where allowed, else the minimum."""
    small = say("will_pay", date=(AS_OF + timedelta(days=3)).isoformat(), amount_fen=10_000)
    t = step(verified().state, small, CTX)
    assert keys(t) == ["plan_offer"] and t.state.pending is not None
    assert (t.state.pending.instalments, t.state.pending.amount_fen) == (3, 50_000)
    booked = step(t.state, say("yes"), CTX)
    assert action(booked, "record_ptp").data["instalments"] == 3 and result(booked) == "ptp"
    no_plan = replace(CTX, instalments_max=0)
    t2 = step(verified(no_plan).state, small, no_plan)
    assert keys(t2) == ["counter_amount"] and "five hundred yuan" in t2.prompts[0].text


def test_will_pay_without_date_asks_for_it_and_keeps_the_amount() -> None:
    """"I can pay 800" → "by when?" → "Friday" reads back 800 by Friday."""
    t1 = step(verified().state, say("will_pay", amount_fen=80_000), CTX)
    assert keys(t1) == ["ask_date"]
    t2 = step(t1.state, say("will_pay", date=(AS_OF + timedelta(days=1)).isoformat()), CTX)
    assert t2.state.pending is not None and t2.state.pending.amount_fen == 80_000


def test_pay_today_sends_a_payment_link() -> None:
    """Paying today offers the SMS link; yes sends it and records a same-day promise."""
    t = step(verified().state, say("will_pay", date=AS_OF.isoformat()), CTX)
    assert keys(t) == ["pay_link_offer"]
    done = step(t.state, say("yes"), CTX)
    assert action(done, "send_payment_link").data == {"amount_fen": 150_000}
    assert action(done, "record_ptp").data["due_date"] == AS_OF.isoformat() and result(done) == "paid_link"


def test_hardship_offers_plan_once_then_callback() -> None:
    """Cannot pay → plan offer; refusing the plan → a specialist callback, result refused."""
    t1 = step(verified().state, say("cannot_pay"), CTX)
    assert keys(t1) == ["plan_offer"]
    t2 = step(t1.state, say("no"), CTX)
    assert keys(t2) == ["hardship"] and result(t2) == "refused"
    assert action(t2, "schedule_callback").data == {"at": None, "reason": "hardship"}


@pytest.mark.parametrize(("intent", "code", "booked"), [
    ("cease", "ceased", "cease_contact"), ("human", "transferred", "transfer_human"),
    ("call_back", "callback", "schedule_callback"), ("dispute", "dispute", "open_dispute"),
    ("abuse", "abuse", None), ("already_paid", "rpc", "note"),
])
def test_terminal_intents_after_verification(intent: str, code: str, booked: str | None) -> None:
    """Each ending intent books its action and result code and hangs up."""
    t = step(verified().state, say(intent, callback_at="2026-11-28T10:00:00+08:00"), CTX)
    assert result(t) == code and kinds(t)[-1] == "hangup"
    if booked:
        assert booked in kinds(t)
    if intent == "call_back":
        assert action(t, "schedule_callback").data["at"] == "2026-11-28T10:00:00+08:00"


def test_cease_and_callback_before_verification_stay_neutral() -> None:
    """Before verification a cease or callback request is honoured without a word about the debt."""
    for intent in ("cease", "call_back", "human"):
        t = step(start(CTX).state, say(intent), CTX)
        assert kinds(t)[-1] == "hangup" and not t.state.verified
        assert "debt" not in " ".join(p.text for p in t.prompts)


def test_wrong_number_flags_the_number_but_not_me_does_not() -> None:
    """"Wrong number" marks the number; "no, not me" just ends politely (it may be a relative's phone)."""
    wrong = step(start(CTX).state, say("wrong_number"), CTX)
    assert result(wrong) == "wrong_party" and "wrong_number" in kinds(wrong)
    not_me = step(start(CTX).state, say("no"), CTX)
    assert result(not_me) == "wrong_party" and "wrong_number" not in kinds(not_me)


def test_dispute_before_verification_is_not_booked() -> None:
    """An unverified "this is not my debt" cannot open a dispute on someone's account: reprompt."""
    t = step(start(CTX).state, say("dispute"), CTX)
    assert keys(t) == ["reprompt", "verification"] and "open_dispute" not in kinds(t)


def test_silence_reprompts_then_ends() -> None:
    """No input twice gets two reprompts; the third ends the call with result silence."""
    calls = run(CTX, *[Event(kind="silence")] * 3)
    assert [keys(t)[0] for t in calls[1:3]] == ["reprompt", "reprompt"]
    assert result(calls[3]) == "silence" and keys(calls[3]) == ["silence_end"]


def test_unknown_reprompts_then_offers_keypad_then_ends() -> None:
    """Unrecognised turns: reprompts, then the keypad menu, whose keys work, and finally the end."""
    state = verified().state
    unknown = say("unknown")
    t1 = step(state, unknown, CTX)
    t2 = step(t1.state, unknown, CTX)
    t3 = step(t2.state, unknown, CTX)
    assert keys(t3) == ["reprompt", "dtmf_menu"] and t3.state.dtmf_mode and t3.actions[-1].data["dtmf"] is True
    press2 = step(t3.state, Event(kind="dtmf", digits="2"), CTX)
    assert keys(press2) == ["readback", "dtmf_confirm"]
    assert press2.state.pending is not None and press2.state.pending.due_date == AS_OF + timedelta(days=10)
    yes = step(press2.state, Event(kind="dtmf", digits="1"), CTX)
    assert result(yes) == "ptp"
    t = t3
    for _ in range(3):
        t = step(t.state, unknown, CTX)
    assert result(t) == "rpc" and kinds(t)[-1] == "hangup"


def test_dtmf_only_mode_runs_the_whole_call_on_keys() -> None:
    """A locale without ASR: keypad verification, keypad menu, keypad confirmation, promise booked."""
    ctx = replace(CTX, dtmf_only=True, locale="ko-KR")
    calls = run(ctx, Event(kind="dtmf", digits="1"), Event(kind="dtmf", digits="1988"),
                Event(kind="dtmf", digits="2"), Event(kind="dtmf", digits="1"))
    assert keys(calls[0]) == ["greeting", "dtmf_verify"] and calls[0].actions[-1].data["dtmf"] is True
    assert keys(calls[2]) == ["disclosure", "debt", "dtmf_menu"]
    assert result(calls[4]) == "ptp"


def test_machine_gets_neutral_message_or_nothing() -> None:
    """Answering machine: the neutral callback message (no lender, no debt) or a silent hang-up."""
    t = step(DialogState(), Event(kind="machine"), CTX)
    assert keys(t) == ["voicemail"] and result(t) == "voicemail" and kinds(t)[-1] == "hangup"
    assert "Buyu" not in t.prompts[0].text and "debt" not in t.prompts[0].text
    silent = step(DialogState(), Event(kind="machine"), replace(CTX, voicemail="hang_up"))
    assert silent.prompts == () and result(silent) == "voicemail"


def test_barge_in_says_nothing_and_keeps_listening() -> None:
    """Barge-in: same state, no prompt, listen again with the same grammar."""
    state = verified().state
    t = step(state, Event(kind="barge_in"), CTX)
    assert t.state == state and t.prompts == () and kinds(t) == ["listen"]


def test_hangup_and_after_end() -> None:
    """A hang-up ends the call; any event after the end only repeats hangup."""
    t = step(verified().state, Event(kind="hangup"), CTX)
    assert result(t) == "hangup" and t.state.name == "ended"
    again = step(t.state, say("yes"), CTX)
    assert kinds(again) == ["hangup"] and again.prompts == ()


def test_every_locale_renders_every_prompt() -> None:
    """The same call in ko-KR and zh-CN renders with those packs' number and date readings."""
    for locale in ("ko-KR", "zh-CN"):
        ctx = replace(CTX, locale=locale)
        t = verified(ctx)
        pack = get_pack(locale)
        assert pack.say_amount(150_000, "CNY") in t.prompts[1].text
        t2 = step(t.state, say("cannot_pay"), ctx)
        assert pack.say_date(AS_OF + timedelta(days=7)) in t2.prompts[0].text
    assert set(RESULT_CODES) >= {"ptp", "paid_link", "voicemail"}


def test_nothing_overdue_closes_after_verification() -> None:
    """Paid since the queue was made: once verified the robot thanks and closes, with nothing to negotiate."""
    ctx = replace(CTX, overdue_fen=0)
    t = verified(ctx)
    assert keys(t) == ["close"] and result(t) == "rpc" and kinds(t)[0] == "verified"
