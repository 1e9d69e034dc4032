"""Properties of the dialog over arbitrary event sequences (hypothesis): the compliance promises hold always."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicebot.dialog import DEBT_PROMPTS, MAX_TURNS, RESULT_CODES, CallContext, Event, Transition, start, step
from voicebot.locales import INTENTS, get_pack

AS_OF = date(2026, 11, 27)


@st.composite
def contexts(draw: st.DrawFn) -> CallContext:
    overdue = draw(st.integers(min_value=100, max_value=5_000_000))
    return CallContext(
        locale=draw(st.sampled_from(["ko-KR", "zh-CN", "en-US"])), currency="CNY", lender="Buyu",
        borrower_name="Kim", birth_year=draw(st.one_of(st.none(), st.integers(1940, 2005))),
        id_last4=draw(st.one_of(st.none(), st.just("4321"))), overdue_fen=overdue,
        balance_fen=overdue + draw(st.integers(0, 10_000_000)), dpd=draw(st.integers(1, 400)), as_of=AS_OF,
        ptp_max_days=draw(st.integers(0, 30)), ptp_min_fen=draw(st.integers(1, overdue)),
        instalments_max=draw(st.integers(0, 6)), payment_link=draw(st.booleans()), dtmf_only=draw(st.booleans()),
        voicemail=draw(st.sampled_from(["callback_message", "hang_up"])), max_reprompts=draw(st.integers(0, 3)))


def events(ctx_year: int | None) -> st.SearchStrategy[Event]:
    """Any event a call can deliver, with slots inside and outside the limits and right and wrong digits."""
    days = st.integers(-5, 40).map(lambda d: (AS_OF + timedelta(days=d)).isoformat())
    slots = st.fixed_dictionaries({}, optional={"date": days, "amount_fen": st.integers(1, 6_000_000),
                                                "callback_at": st.just("2026-11-28T10:00:00+08:00"),
                                                "digits": st.sampled_from(["4321", "1234", str(ctx_year or 1980)])})
    digits = st.sampled_from(["0", "1", "2", "3", "4", "9", "7", "4321", "1234", str(ctx_year or 1980)])
    return st.one_of(
        st.builds(Event, kind=st.just("utterance"), intent=st.sampled_from(INTENTS), slots=slots,
                  text=st.just("words")),
        st.builds(Event, kind=st.just("dtmf"), digits=digits),
        st.builds(Event, kind=st.sampled_from(["silence", "barge_in", "answered", "machine", "hangup"])),
    )


@st.composite
def calls(draw: st.DrawFn) -> tuple[CallContext, list[Event]]:
    ctx = draw(contexts())
    return ctx, draw(st.lists(events(ctx.birth_year), max_size=25))


def play(ctx: CallContext, evs: list[Event]) -> list[Transition]:
    out = [start(ctx)]
    for e in evs:
        out.append(step(out[-1].state, e, ctx))
    return out


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(calls())
def test_no_debt_detail_before_verification(call: tuple[CallContext, list[Event]]) -> None:
    """Until a transition enters a verified state, no prompt is a debt prompt or contains the amount or DPD."""
    ctx, evs = call
    pack = get_pack(ctx.locale)
    amount, latest = pack.say_amount(ctx.overdue_fen, ctx.currency), pack.say_date(ctx.latest_promise)
    for t in play(ctx, evs):
        if t.state.verified:
            break
        for p in t.prompts:
            assert p.key not in DEBT_PROMPTS
            assert amount not in p.text and latest not in p.text
        assert not {a.kind for a in t.actions} & {"record_ptp", "send_payment_link", "open_dispute", "verified"}


@SETTINGS
@given(calls())
def test_verification_needs_the_matching_second_factor(call: tuple[CallContext, list[Event]]) -> None:
    """A call is verified only after an event carrying the context's birth year (or, without one, ID digits)."""
    ctx, evs = call
    secret = str(ctx.birth_year) if ctx.birth_year is not None else ctx.id_last4
    seen_secret = False
    previous = start(ctx)
    for e in evs:
        t = step(previous.state, e, ctx)
        seen_secret = seen_secret or (secret is not None and secret in (e.digits, str(e.slots.get("digits", ""))))
        if t.state.verified and not previous.state.verified:
            assert seen_secret
        previous = t


@SETTINGS
@given(calls())
def test_every_transition_ends_in_listen_or_hangup(call: tuple[CallContext, list[Event]]) -> None:
    """Each transition's last action is listen or hangup (exactly one of them), results are known codes,
    and once ended the call stays ended."""
    ctx, evs = call
    ended = False
    for t in play(ctx, evs):
        kinds = [a.kind for a in t.actions]
        assert kinds and kinds[-1] in ("listen", "hangup")
        assert kinds.count("listen") + kinds.count("hangup") == 1
        for a in t.actions:
            if a.kind == "result":
                assert a.data["code"] in RESULT_CODES
        assert (kinds[-1] == "hangup") == (t.state.name == "ended")
        if ended:
            assert t.prompts == () and kinds == ["hangup"]
        ended = ended or t.state.name == "ended"


@SETTINGS
@given(calls())
def test_out_of_limit_promises_are_never_recorded(call: tuple[CallContext, list[Event]]) -> None:
    """Every record_ptp names a date in [as_of, as_of + ptp_max_days] and an amount in [ptp_min_fen, balance]."""
    ctx, evs = call
    for t in play(ctx, evs):
        for a in t.actions:
            if a.kind == "record_ptp":
                due = date.fromisoformat(a.data["due_date"])
                assert ctx.as_of <= due <= ctx.as_of + timedelta(days=ctx.ptp_max_days)
                assert ctx.ptp_min_fen <= a.data["amount_fen"] <= ctx.balance_fen
                assert 1 <= a.data["instalments"] <= max(1, ctx.instalments_max)
                assert t.state.verified


@SETTINGS
@given(calls())
def test_machine_never_hears_the_debt(call: tuple[CallContext, list[Event]]) -> None:
    """An answering machine, whenever detected, gets only the neutral message (or nothing) and the call ends."""
    ctx, evs = call
    state = start(ctx).state
    for e in [*evs, Event(kind="machine")]:
        t = step(state, e, ctx)
        if e.kind == "machine" and state.name != "ended":
            assert [p.key for p in t.prompts] in (["voicemail"], [])
            assert [a.kind for a in t.actions] == ["result", "hangup"]
            break
        state = t.state


@SETTINGS
@given(calls(), events(None))
def test_no_dialog_loops_forever(call: tuple[CallContext, list[Event]], repeated: Event) -> None:
    """Whatever happened before, the same borrower turn repeated ends the call within MAX_TURNS turns
    (barge-in and a repeated "answered" say nothing and are not turns)."""
    ctx, evs = call
    if repeated.kind in ("barge_in", "answered"):
        return
    t = play(ctx, evs)[-1]
    for _ in range(MAX_TURNS + 1):
        if t.state.name == "ended":
            break
        t = step(t.state, repeated, ctx)
    assert t.state.name == "ended"
