"""The voice robot's dialog: a pure state machine, (state, event, context) → (state, prompts, actions).

No database, audio, settings or clock: the call's facts arrive in a `CallContext` (built by
`buyu.calls.service.call_context`), the borrower's turns as `Event`s (from ASR + NLU or the
keypad), and what the call should do leaves as `Action`s that `buyu.calls.service.apply_actions`
books. Every transition ends with exactly one "listen" or "hangup" action.

Compliance is structural rather than checked at the end:

* nothing about the debt (amount, days past due, promises, the collector disclosure) is rendered
  unless `state.verified`, and `verified` is set in one place only: a second factor (birth year or
  the ID number's last four digits) that matches the context, after the borrower confirmed the name;
* an answering machine gets a neutral message (or nothing) and the call ends;
* a promise outside the strategy's limits (date after as_of + ptp_max_days, before as_of, or an
  amount under ptp_min_fen) is countered, never put to the borrower for confirmation, so it can
  never reach a "record_ptp" action.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from voicebot.locales import LocalePack, get_pack

RESULT_CODES = ("no_answer", "busy", "voicemail", "wrong_party", "verification_failed", "rpc", "ptp", "paid_link",
                "refused", "dispute", "callback", "transferred", "ceased", "abuse", "silence", "hangup", "failed")
EVENT_KINDS = frozenset({"answered", "machine", "utterance", "dtmf", "silence", "hangup", "barge_in"})
#: Prompt keys whose text speaks about the debt: only ever rendered once the borrower is verified.
DEBT_PROMPTS = frozenset({"disclosure", "debt", "negotiation", "readback", "ask_date", "counter_date",
                          "counter_amount", "pay_link_offer", "link_sent", "plan_offer", "hardship", "already_paid",
                          "dispute_ack", "dtmf_menu"})
#: Wrong second-factor answers before the call ends unverified.
MAX_FACTOR_ATTEMPTS = 2
#: Borrower turns (utterances, keys, silences) before any call is closed politely: no dialog loops forever.
MAX_TURNS = 30
#: The first instalment of a plan falls due this many days after the call (capped by the PTP limit).
PLAN_FIRST_DUE_DAYS = 7
LISTENING = ("greeting", "verify_factor", "negotiate", "confirm")
_DTMF_YES, _DTMF_NO = "1", "2"


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the dialog knows about the call (built from the ledger, the strategy and the borrower)."""

    locale: str
    currency: str
    lender: str
    borrower_name: str
    birth_year: int | None
    id_last4: str | None
    overdue_fen: int
    balance_fen: int
    dpd: int
    as_of: date
    ptp_max_days: int
    ptp_min_fen: int
    instalments_max: int
    payment_link: bool
    dtmf_only: bool
    voicemail: str
    max_reprompts: int = 2

    @property
    def latest_promise(self) -> date:
        """The last date a promise may name."""
        return self.as_of + timedelta(days=self.ptp_max_days)


@dataclass(frozen=True, slots=True)
class Prompt:
    """One thing the robot says; the disclosure cannot be talked over (barge_in False)."""

    key: str
    text: str
    barge_in: bool = True


@dataclass(frozen=True, slots=True)
class Event:
    """What happened on the line: an answer, a machine, a borrower turn, keys, silence, hang-up, barge-in."""

    kind: str
    intent: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    confidence: float = 1.0
    text: str = ""
    digits: str = ""


@dataclass(frozen=True, slots=True)
class Action:
    """Something the call must do (listen, hang up) or book (promise, callback, cease, dispute, transfer)."""

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Offer:
    """A promise read back to the borrower and waiting for a yes: plain, pay today by link, or a plan."""

    kind: str  # "ptp" | "link" | "plan"
    due_date: date
    amount_fen: int
    instalments: int = 1


@dataclass(frozen=True, slots=True)
class DialogState:
    """Where the call is; immutable, so every step returns a new one."""

    name: str = "greeting"
    verified: bool = False
    reprompts: int = 0
    factor_attempts: int = 0
    dtmf_mode: bool = False
    hardship: bool = False
    counters: int = 0
    turns: int = 0
    draft_amount_fen: int | None = None
    pending: Offer | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """The new state, what to say, and what to do (ends with "listen" or "hangup")."""

    state: DialogState
    prompts: tuple[Prompt, ...]
    actions: tuple[Action, ...]


# --------------------------------------------------------------------------- public API


def start(ctx: CallContext) -> Transition:
    """The call was answered by a person: greet and ask for the borrower by name."""
    state = DialogState(name="greeting", dtmf_mode=ctx.dtmf_only)
    prompts = [_say(ctx, "greeting")]
    if state.dtmf_mode:
        prompts.append(_say(ctx, "dtmf_verify"))
    return _listen(state, ctx, *prompts)


def step(state: DialogState, event: Event, ctx: CallContext) -> Transition:
    """Advance the dialog by one event."""
    if state.name == "ended":
        return Transition(state=state, prompts=(), actions=(Action("hangup"),))
    if event.kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {event.kind!r}; known: {sorted(EVENT_KINDS)}")
    if event.kind == "barge_in":
        return Transition(state=state, prompts=(), actions=(_listen_action(state),))
    if event.kind == "machine":
        return _voicemail(ctx)
    if event.kind == "answered":
        # start() already greeted; a late or repeated "answered" must not greet twice.
        return _again(state)
    if event.kind == "hangup":
        return _end(state, ctx, "hangup")
    state = replace(state, turns=state.turns + 1)
    if state.turns > MAX_TURNS:
        return _end(state, ctx, "rpc" if state.verified else "verification_failed", "close")
    if event.kind == "silence":
        return _silence(state, ctx)
    intent = _intent(state, event)
    common = _common(state, event, ctx, intent)
    if common is not None:
        return common
    handler = {"greeting": _greeting, "verify_factor": _verify_factor, "negotiate": _negotiate,
               "confirm": _confirm}[state.name]
    return _reset(handler(state, event, ctx, intent))


def asr_state(state: DialogState) -> str:
    """The recogniser grammar a dialog state listens with (``voicebot.recognize.open_turn``)."""
    if state.name == "negotiate":
        return "negotiate"
    if state.name == "confirm":
        return "confirm"
    return "verify"


# --------------------------------------------------------------------------- event interpretation


def _intent(state: DialogState, event: Event) -> str:
    """The intent of a turn; keypad presses are mapped to the intent of the current menu."""
    if event.kind == "utterance":
        return event.intent or "unknown"
    digits = event.digits.strip()
    if state.name == "verify_factor":
        return "digits" if digits else "unknown"
    if state.name in ("greeting", "confirm"):
        return {_DTMF_YES: "yes", _DTMF_NO: "no"}.get(digits, "unknown")
    return {"1": "menu_today", "2": "menu_latest", "3": "cannot_pay", "4": "call_back", "0": "human",
            "9": "cease"}.get(digits, "unknown")


def _slot_date(event: Event) -> date | None:
    raw = event.slots.get("date", event.slots.get("promised_date"))
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _slot_amount(event: Event) -> int | None:
    raw = event.slots.get("amount_fen", event.slots.get("amount_minor"))
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        return None
    return raw


def _slot_digits(event: Event) -> str:
    if event.kind == "dtmf":
        return event.digits.strip()
    raw = event.slots.get("digits", event.slots.get("birth_year", ""))
    return str(raw).strip()


# --------------------------------------------------------------------------- handlers


def _common(state: DialogState, event: Event, ctx: CallContext, intent: str) -> Transition | None:
    """Intents handled the same way in every listening state."""
    if intent == "cease":
        return _end(state, ctx, "ceased", "cease_ack", Action("cease_contact"))
    if intent == "abuse":
        return _end(state, ctx, "abuse", "abuse_end")
    if intent == "human":
        return _end(state, ctx, "transferred", "transfer", Action("transfer_human", {"reason": "requested"}))
    if intent == "call_back":
        at = event.slots.get("callback_at")
        return _end(state, ctx, "callback", "callback",
                    Action("schedule_callback", {"at": at if isinstance(at, str) else None}))
    if intent == "wrong_number" or (intent == "no" and state.name in ("greeting", "verify_factor")):
        extra = (Action("wrong_number"),) if intent == "wrong_number" and not state.verified else ()
        return _end(state, ctx, "wrong_party", "wrong_party", *extra)
    if intent == "unknown" and not (state.name == "verify_factor" and _slot_digits(event)):
        return _unknown(state, ctx)
    return None


def _greeting(state: DialogState, event: Event, ctx: CallContext, intent: str) -> Transition:
    """Name confirmed → ask for the second factor; anything else about the debt waits for verification."""
    if intent != "yes":
        return _unknown(state, ctx)
    if ctx.birth_year is None and not ctx.id_last4:
        # Without a second factor "yes" is all we have, and it is not enough to discuss a debt.
        return _end(state, ctx, "verification_failed", "unverified_close")
    return _listen(replace(state, name="verify_factor"), ctx, _factor_prompt(ctx))


def _verify_factor(state: DialogState, event: Event, ctx: CallContext, intent: str) -> Transition:
    """Compare the birth year or ID digits; a match verifies, a mismatch retries once, then the call ends."""
    digits = _slot_digits(event)
    if not digits:
        return _unknown(state, ctx)
    if _factor_matches(digits, ctx):
        return _verified(state, ctx)
    attempts = state.factor_attempts + 1
    if attempts >= MAX_FACTOR_ATTEMPTS:
        return _end(state, ctx, "verification_failed", "unverified_close")
    return _listen(replace(state, factor_attempts=attempts), ctx, _say(ctx, "verify_factor_retry"),
                   _factor_prompt(ctx))


def _factor_matches(digits: str, ctx: CallContext) -> bool:
    if ctx.birth_year is not None:
        return digits == str(ctx.birth_year)
    return bool(ctx.id_last4) and digits == ctx.id_last4


def _verified(state: DialogState, ctx: CallContext) -> Transition:
    """Right party verified: the disclosure (not interruptible), the debt, the question."""
    factor = "birth_year" if ctx.birth_year is not None else "id_last4"
    new = replace(state, name="negotiate", verified=True, factor_attempts=0)
    if ctx.overdue_fen <= 0:
        # Paid since the queue was made: nothing to collect, so nothing to negotiate.
        return _end(new, ctx, "rpc", "close", Action("verified", {"factor": factor}),
                    Action("note", {"text": "nothing overdue on the call date"}))
    prompts = [_say(ctx, "disclosure", barge_in=False), _debt(ctx), _negotiation_prompt(new, ctx)]
    return _listen(new, ctx, *prompts, pre=(Action("verified", {"factor": factor}),))


def _negotiate(state: DialogState, event: Event, ctx: CallContext, intent: str) -> Transition:
    """The borrower's answer to "when and how much can you pay?"."""
    if intent in ("will_pay", "yes") or _slot_date(event) or _slot_amount(event):
        return _promise(state, ctx, _slot_date(event), _slot_amount(event))
    if intent == "menu_today":
        return _promise(state, ctx, ctx.as_of, ctx.overdue_fen)
    if intent == "menu_latest":
        return _promise(state, ctx, ctx.latest_promise, ctx.overdue_fen)
    if intent in ("cannot_pay", "no"):
        return _cannot_pay(state, ctx)
    if intent == "already_paid":
        return _end(state, ctx, "rpc", "already_paid", Action("note", {"text": "borrower says already paid"}))
    if intent == "dispute":
        return _end(state, ctx, "dispute", "dispute_ack", Action("open_dispute", {"text": event.text or "dispute"}))
    return _unknown(state, ctx)


def _promise(state: DialogState, ctx: CallContext, due: date | None, amount: int | None) -> Transition:
    """Check a proposed promise against the limits: counter it, ask for what is missing, or read it back."""
    amount = amount if amount is not None else state.draft_amount_fen
    if due is None:
        return _listen(replace(state, draft_amount_fen=amount), ctx, _say(ctx, "ask_date"))
    if due < ctx.as_of or due > ctx.latest_promise:
        return _counter(replace(state, draft_amount_fen=amount), ctx,
                        _say(ctx, "counter_date", date=_date(ctx, ctx.latest_promise)))
    amount = min(amount if amount is not None else ctx.overdue_fen, ctx.balance_fen)
    if amount < ctx.ptp_min_fen:
        plan = _plan(ctx)
        if plan is not None and not state.hardship:
            return _offer(state, ctx, plan)
        return _counter(replace(state, draft_amount_fen=None), ctx,
                        _say(ctx, "counter_amount", amount=_amount(ctx, ctx.ptp_min_fen)))
    link = ctx.payment_link and due == ctx.as_of
    return _offer(state, ctx, Offer(kind="link" if link else "ptp", due_date=due, amount_fen=amount))


def _counter(state: DialogState, ctx: CallContext, prompt: Prompt) -> Transition:
    """Counter an out-of-limit promise; after as many counters as reprompts, hand over to a specialist."""
    if state.counters > ctx.max_reprompts:
        return _end(state, ctx, "refused", "hardship", Action("schedule_callback", {"at": None, "reason": "limits"}))
    return _listen(replace(state, counters=state.counters + 1), ctx, prompt)


def _cannot_pay(state: DialogState, ctx: CallContext) -> Transition:
    """Hardship: offer an instalment plan where allowed, once; then a specialist calls back."""
    plan = _plan(ctx)
    if plan is not None and not state.hardship:
        return _offer(replace(state, hardship=True), ctx, plan)
    return _end(state, ctx, "refused", "hardship", Action("schedule_callback", {"at": None, "reason": "hardship"}))


def _plan(ctx: CallContext) -> Offer | None:
    """The plan we may offer: as many instalments as allowed while each stays at least the minimum promise."""
    if ctx.instalments_max < 2 or ctx.ptp_min_fen <= 0:
        count = ctx.instalments_max
    else:
        count = min(ctx.instalments_max, ctx.overdue_fen // ctx.ptp_min_fen)
    if count < 2:
        return None
    instalment = -(-ctx.overdue_fen // count)
    due = ctx.as_of + timedelta(days=min(PLAN_FIRST_DUE_DAYS, ctx.ptp_max_days))
    return Offer(kind="plan", due_date=due, amount_fen=instalment, instalments=count)


def _offer(state: DialogState, ctx: CallContext, offer: Offer) -> Transition:
    """Read the offer back and wait for a yes."""
    new = replace(state, name="confirm", pending=offer, draft_amount_fen=None)
    amount, day = _amount(ctx, offer.amount_fen), _date(ctx, offer.due_date)
    if offer.kind == "link":
        prompt = _say(ctx, "pay_link_offer", amount=amount)
    elif offer.kind == "plan":
        prompt = _say(ctx, "plan_offer", total=_amount(ctx, ctx.overdue_fen), count=_number(ctx, offer.instalments),
                      amount=amount, date=day)
    else:
        prompt = _say(ctx, "readback", amount=amount, date=day)
    extra = (_say(ctx, "dtmf_confirm"),) if new.dtmf_mode else ()
    return _listen(new, ctx, prompt, *extra)


def _confirm(state: DialogState, event: Event, ctx: CallContext, intent: str) -> Transition:
    """Yes books the offer; no (or a new proposal) goes back to negotiating."""
    offer = state.pending
    if offer is None:  # not reachable through step(); keeps the type checker and a hand-built state honest
        return _listen(replace(state, name="negotiate"), ctx, _negotiation_prompt(state, ctx))
    if intent == "yes":
        return _book(state, ctx, offer)
    if intent == "will_pay" and (_slot_date(event) or _slot_amount(event)):
        return _promise(replace(state, name="negotiate", pending=None), ctx, _slot_date(event), _slot_amount(event))
    if intent in ("no", "cannot_pay"):
        back = replace(state, name="negotiate", pending=None)
        if offer.kind == "plan" or intent == "cannot_pay":
            return _cannot_pay(replace(back, hardship=True), ctx)
        return _listen(back, ctx, _negotiation_prompt(back, ctx))
    return _unknown(state, ctx)


def _book(state: DialogState, ctx: CallContext, offer: Offer) -> Transition:
    """The borrower said yes: record the promise (and send the link), thank, close."""
    ptp = Action("record_ptp", {"due_date": offer.due_date.isoformat(), "amount_fen": offer.amount_fen,
                                "instalments": offer.instalments})
    if offer.kind == "link":
        return _end(state, ctx, "paid_link", "link_sent", Action("send_payment_link", {"amount_fen": offer.amount_fen}),
                    ptp)
    return _end(state, ctx, "ptp", "close", ptp)


# --------------------------------------------------------------------------- no input, no match, endings


def _silence(state: DialogState, ctx: CallContext) -> Transition:
    """No input: reprompt up to max_reprompts, then end the call."""
    if state.reprompts < ctx.max_reprompts:
        return _reprompt(replace(state, reprompts=state.reprompts + 1), ctx)
    return _end(state, ctx, "silence", "silence_end")


def _unknown(state: DialogState, ctx: CallContext) -> Transition:
    """No match: reprompt, then offer the keypad, then give up."""
    if state.reprompts < ctx.max_reprompts:
        return _reprompt(replace(state, reprompts=state.reprompts + 1), ctx)
    if not state.dtmf_mode:
        return _reprompt(replace(state, reprompts=0, dtmf_mode=True), ctx)
    return _end(state, ctx, "rpc" if state.verified else "verification_failed", "close")


def _reprompt(state: DialogState, ctx: CallContext) -> Transition:
    """Say sorry and repeat the current question (its keypad version in DTMF mode)."""
    return _listen(state, ctx, _say(ctx, "reprompt"), *_question(state, ctx))


def _again(state: DialogState) -> Transition:
    """An event that changes nothing: keep listening."""
    return Transition(state=state, prompts=(), actions=(_listen_action(state),))


def _question(state: DialogState, ctx: CallContext) -> tuple[Prompt, ...]:
    """The question the current state waits on."""
    if state.name == "greeting":
        return (_say(ctx, "dtmf_verify" if state.dtmf_mode else "verification"),)
    if state.name == "verify_factor":
        return (_factor_prompt(ctx),)
    if state.name == "confirm" and state.pending is not None:
        offer = _offer(state, ctx, state.pending)
        return offer.prompts
    return (_negotiation_prompt(state, ctx),)


def _voicemail(ctx: CallContext) -> Transition:
    """An answering machine: a neutral callback message or nothing, never the debt."""
    prompts = (_say(ctx, "voicemail"),) if ctx.voicemail == "callback_message" else ()
    return Transition(state=DialogState(name="ended"), prompts=prompts,
                      actions=(Action("result", {"code": "voicemail"}), Action("hangup")))


def _end(state: DialogState, ctx: CallContext, code: str, key: str | None = None, *actions: Action) -> Transition:
    """Close the call with a result code (and an optional last prompt)."""
    assert code in RESULT_CODES, code
    prompts = (_say(ctx, key),) if key is not None else ()
    if key is not None and key in DEBT_PROMPTS and not state.verified:
        raise AssertionError(f"prompt {key!r} would speak about the debt before verification")
    ended = replace(state, name="ended", pending=None)
    return Transition(state=ended, prompts=prompts,
                      actions=(*actions, Action("result", {"code": code}), Action("hangup")))


# --------------------------------------------------------------------------- rendering


def _listen(state: DialogState, ctx: CallContext, *prompts: Prompt, pre: tuple[Action, ...] = ()) -> Transition:
    for p in prompts:
        if p.key in DEBT_PROMPTS and not state.verified:
            raise AssertionError(f"prompt {p.key!r} would speak about the debt before verification")
    return Transition(state=state, prompts=tuple(prompts), actions=(*pre, _listen_action(state)))


def _listen_action(state: DialogState) -> Action:
    factor = state.name == "verify_factor"
    return Action("listen", {"grammar": asr_state(state), "dtmf": factor or state.dtmf_mode,
                             "max_digits": 4 if factor else 1})


def _pack(ctx: CallContext) -> LocalePack:
    return get_pack(ctx.locale)


def _say(ctx: CallContext, key: str, *, barge_in: bool = True, **values: str) -> Prompt:
    values = {"lender": ctx.lender, "name": ctx.borrower_name, **values}
    template = _pack(ctx).prompts[key]
    return Prompt(key=key, text=template.format(**values), barge_in=barge_in)


def _amount(ctx: CallContext, fen: int) -> str:
    return _pack(ctx).say_amount(fen, ctx.currency)


def _date(ctx: CallContext, day: date) -> str:
    return _pack(ctx).say_date(day)


def _number(ctx: CallContext, n: int) -> str:
    return _pack(ctx).say_number(n)


def _debt(ctx: CallContext) -> Prompt:
    return _say(ctx, "debt", amount=_amount(ctx, ctx.overdue_fen), days=_number(ctx, ctx.dpd))


def _factor_prompt(ctx: CallContext) -> Prompt:
    return _say(ctx, "verify_factor_birth_year" if ctx.birth_year is not None else "verify_factor_id")


def _negotiation_prompt(state: DialogState, ctx: CallContext) -> Prompt:
    if state.dtmf_mode:
        return _say(ctx, "dtmf_menu", amount=_amount(ctx, ctx.overdue_fen), date=_date(ctx, ctx.latest_promise))
    return _say(ctx, "negotiation")


def _reset(t: Transition) -> Transition:
    """A turn that moved the dialog on (anything but a reprompt) resets the no-input / no-match count."""
    if not t.state.reprompts or (t.prompts and t.prompts[0].key == "reprompt"):
        return t
    return replace(t, state=replace(t.state, reprompts=0))
