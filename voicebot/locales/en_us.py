"""en-US: English prompts, grammars and number/date reading and parsing.

Grammar words are lower-case as in Vosk English models (``BUYU_VOSK_MODEL_EN_US``); the
start-up vocabulary check names any word the configured model lacks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from voicebot.locales import LocalePack, decimal_to_minor, minor_to_decimal, regex_slots
from voicebot.locales import dates as cal

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINALS = [
    "_",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
]
MONTHS = [
    "_",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
SCALES = {"thousand": 1000, "million": 1_000_000}
CURRENCY_WORDS = {"CNY": "yuan", "USD": "dollars", "HKD": "hong kong dollars", "EUR": "euros", "KRW": "won"}
_RELATIVE = {"today": 0, "tomorrow": 1}
_NUMBER_WORD = set(ONES) | set(TENS[2:]) | {"hundred", "and", "a"} | set(SCALES)
_ORD_TO_INT = {w: i for i, w in enumerate(ORDINALS) if w != "_"} | {"thirtieth": 30}


def say_number(number: int) -> str:
    """1234 → one thousand two hundred thirty four."""
    if number < 20:
        return ONES[number]
    if number < 100:
        return TENS[number // 10] + ("" if number % 10 == 0 else " " + ONES[number % 10])
    if number < 1000:
        rest = number % 100
        return ONES[number // 100] + " hundred" + ("" if rest == 0 else " " + say_number(rest))
    for word, size in (("million", 1_000_000), ("thousand", 1000)):
        if number >= size:
            rest = number % size
            return say_number(number // size) + f" {word}" + ("" if rest == 0 else " " + say_number(rest))
    raise AssertionError("unreachable")


def say_ordinal(number: int) -> str:
    """5 → fifth, 23 → twenty third, 30 → thirtieth."""
    if number < len(ORDINALS):
        return ORDINALS[number]
    if number % 10 == 0:
        return TENS[number // 10][:-1] + "ieth"
    return TENS[number // 10] + " " + ORDINALS[number % 10]


def say_amount(minor: int, currency: str) -> str:
    """50000000 fen → five hundred thousand yuan; 1250 → twelve point five yuan."""
    value = minor_to_decimal(minor, currency=currency)
    whole = int(value)
    fraction = str(abs(value - whole)).partition(".")[2].rstrip("0")
    spoken = say_number(whole) + (" point " + " ".join(ONES[int(d)] for d in fraction) if fraction else "")
    return f"{spoken} {CURRENCY_WORDS.get(currency, currency)}"


def say_date(day: date) -> str:
    """2026-12-04 → friday december fourth."""
    return f"{WEEKDAYS[day.weekday()]} {MONTHS[day.month]} {say_ordinal(day.day)}"


def parse_numeral(words: Sequence[str]) -> int | None:
    """English cardinal words → int (five hundred thousand → 500000); digits pass through."""
    total = current = 0
    seen = False
    for word in words:
        if word.isdigit():
            current, seen = current + int(word), True
        elif word in ONES:
            current, seen = current + ONES.index(word), True
        elif word in TENS[2:]:
            current, seen = current + 10 * TENS.index(word), True
        elif word == "hundred":
            current, seen = (current or 1) * 100, True
        elif word in SCALES:
            total, current, seen = total + (current or 1) * SCALES[word], 0, True
        elif word not in ("and", "a"):
            return None
    return total + current if seen else None


def parse_ordinal(words: Sequence[str]) -> int | None:
    """fifth → 5, twenty third → 23, 15th → 15."""
    if len(words) == 1 and re.fullmatch(r"\d{1,2}(st|nd|rd|th)", words[0]):
        return int(words[0][:-2])
    last = _ORD_TO_INT.get(words[-1]) if words else None
    if last is None:
        return None
    head = parse_numeral(words[:-1]) if len(words) > 1 else 0
    return None if head is None else head + last


_ORD = (
    r"(?:(?:twenty|thirty) )?(?:" + "|".join(sorted(_ORD_TO_INT, key=len, reverse=True)) + r")|\d{1,2}(?:st|nd|rd|th)"
)
_DATE_PATTERNS = (
    re.compile(rf"\b(?P<month>{'|'.join(MONTHS[1:])}) (?:the )?(?P<ord>{_ORD})\b"),
    re.compile(rf"\bthe (?P<ord>{_ORD})\b"),
    re.compile(rf"\b(?P<which>this|next) (?P<weekday>{'|'.join(WEEKDAYS)})\b"),
    re.compile(r"\b(?P<which>this|next) week\b"),
    re.compile(rf"\b(?P<weekday>{'|'.join(WEEKDAYS)})\b"),
    re.compile(r"\b(?P<relative>today|tomorrow|the day after tomorrow|end of the month|weekend)\b"),
)
_NUMBER_RUN = r"(?:(?:" + "|".join(sorted(_NUMBER_WORD | {r"\d+"}, key=len, reverse=True)) + r") ?)+"
_AMOUNT = re.compile(rf"\b(?P<int>{_NUMBER_RUN})(?:point (?P<frac>(?:\w+ ?)+?) )?(?:yuan|dollars?|rmb|euros?|won)\b")


def normalize(tokens: Sequence[str]) -> list[str]:
    """Lower-case, strip punctuation."""
    return [w for w in (re.sub(r"[^\w']", "", t.lower()) for t in tokens) if w]


def _resolve(match: re.Match[str], as_of: date) -> date | None:
    groups = match.groupdict()
    if groups.get("ord"):
        day = parse_ordinal(groups["ord"].split())
        if not day:
            return None
        if groups.get("month"):
            return cal.month_day(as_of=as_of, month=MONTHS.index(groups["month"]), day=day)
        return cal.day_of_month(as_of=as_of, day=day)
    if groups.get("which"):
        ahead = int(groups["which"] == "next")
        if groups.get("weekday"):
            weekday = WEEKDAYS.index(groups["weekday"])
            if ahead:
                return cal.weekday_of_week(as_of=as_of, weekday=weekday, weeks_ahead=1)
            return cal.weekday_of_week(as_of=as_of, weekday=weekday, weeks_ahead=0)
        friday = cal.weekday_of_week(as_of=as_of, weekday=cal.FRIDAY, weeks_ahead=1)
        return friday if ahead else cal.end_of_this_week(as_of=as_of)
    if groups.get("weekday"):
        return cal.next_weekday(as_of=as_of, weekday=WEEKDAYS.index(groups["weekday"]))
    relative = groups.get("relative") or ""
    if relative in _RELATIVE:
        return cal.add_days(as_of=as_of, days=_RELATIVE[relative])
    if relative == "the day after tomorrow":
        return cal.add_days(as_of=as_of, days=2)
    return cal.end_of_month(as_of=as_of) if relative.startswith("end") else cal.weekend(as_of=as_of)


def parse_date(tokens: Sequence[str], as_of: date) -> tuple[date | None, frozenset[int]]:
    """First date expression in the words, resolved against ``as_of``."""
    for pattern in _DATE_PATTERNS:
        for match, covered in regex_slots(tokens, pattern, sep=" "):
            resolved = _resolve(match, as_of)
            if resolved is not None:
                return resolved, covered
    return None, frozenset()


def parse_amount(tokens: Sequence[str], currency: str) -> tuple[int | None, frozenset[int]]:
    """'five hundred yuan' / 'twelve point five dollars' → minor units."""
    for match, covered in regex_slots(tokens, _AMOUNT, sep=" "):
        whole = parse_numeral(match["int"].split())
        if whole is None:
            continue
        frac_words = (match["frac"] or "").split()
        frac = "".join(str(ONES.index(w)) if w in ONES[:10] else w for w in frac_words)
        if frac and not frac.isdigit():
            continue
        return decimal_to_minor(Decimal(f"{whole}.{frac or 0}"), currency=currency), covered
    return None, frozenset()


def number_phrase(number: int) -> str:
    """Grammar spelling of a number (same as the prompt reading)."""
    return say_number(number)


PROMPTS = {
    "greeting": "Hello, this is {lender}. May I speak with {name}?",
    "verification": "To confirm your identity: if you are {name}, please say yes; otherwise say no.",
    "disclosure": "This is an automated call from a debt collector about a debt. This call is recorded.",
    "debt": "Your overdue amount is {amount}, {days} days past due.",
    "negotiation": "Please tell me when and how much you can pay. To speak with a person, say agent.",
    "readback": "You promised to pay {amount} by {date}. Is that right? Please say yes or no.",
    "close": "Thank you for your time. Goodbye.",
    "reprompt": "Sorry, could you say that again?",
    "transfer": "Please hold while I connect you to an agent.",
    "callback": "All right, we will call you back later.",
    "dtmf_verify": "If you are the account holder press 1, otherwise press 2.",
    "verify_factor_birth_year": "For your security, please say or key in the four digits of your year of birth.",
    "verify_factor_id": "For your security, please say or key in the last four digits of your ID number.",
    "verify_factor_retry": "Sorry, that does not match our records.",
    "unverified_close": "We could not confirm your identity, so we cannot continue this call. Goodbye.",
    "wrong_party": "Sorry to have bothered you. Goodbye.",
    "voicemail": "Hello, this is a message for {name}. Please call us back at your convenience. Thank you.",
    "ask_date": "By what date can you pay?",
    "counter_date": "We can accept a payment date up to {date}. Can you pay by then?",
    "counter_amount": "The smallest payment we can accept is {amount}. Can you pay that much?",
    "pay_link_offer": "We can text you a secure payment link for {amount} now. Shall we send it? Please say yes or no.",
    "link_sent": "We have sent the payment link by text message. Thank you for paying today. Goodbye.",
    "plan_offer": (
        "We can split {total} into {count} monthly payments of {amount}, the first by {date}. Would that "
        "work for you? Please say yes or no."
    ),
    "hardship": "We understand. A specialist will call you to discuss your options. Goodbye.",
    "already_paid": (
        "Thank you. We will check our records; if the payment has not arrived, we will contact you. Goodbye."
    ),
    "dispute_ack": (
        "We have noted that you dispute this debt. We will stop collecting it until we send you written "
        "verification. Goodbye."
    ),
    "cease_ack": "We have noted your request. We will not contact you again. Goodbye.",
    "abuse_end": "We will end this call now. Goodbye.",
    "silence_end": "We did not hear you. We will try again later. Goodbye.",
    "dtmf_menu": (
        "Press 1 to pay {amount} today, 2 to pay it by {date}, 3 if you cannot pay, 4 for a call back, 0 for "
        "an agent, or 9 to stop our calls."
    ),
    "dtmf_confirm": "Press 1 for yes or 2 for no.",
}

_WRONG = ("wrong number", "you have the wrong number", "there is no one here by that name")
_LATER = ("call me back later", "i am busy right now", "i am driving")
_HUMAN = ("agent", "talk to a person", "speak to a representative", "operator")
_CEASE = ("stop calling me", "do not call me again", "take me off your list")
_ABUSE = ("shut up", "go to hell", "screw you")
_YES = ("yes", "yeah", "yes speaking", "that is me", "correct")
_NO = ("no", "nope", "that is not right")

PHRASES = {
    "verify": {
        "yes": _YES,
        "no": _NO,
        "wrong_number": _WRONG,
        "call_back": _LATER,
        "human": _HUMAN,
        "cease": _CEASE,
        "abuse": _ABUSE,
    },
    "negotiate": {
        "will_pay": ("i will pay {date}", "i can pay {amount} {date}", "i will pay {amount}", "i can pay"),
        "cannot_pay": ("i can not pay", "i have no money", "i lost my job"),
        "already_paid": ("i already paid", "i paid yesterday", "it is already paid"),
        "dispute": ("this is not my debt", "i never borrowed money", "the amount is wrong"),
        "wrong_number": _WRONG,
        "call_back": _LATER,
        "human": _HUMAN,
        "cease": _CEASE,
        "abuse": _ABUSE,
    },
    "confirm": {"yes": _YES, "no": _NO, "human": _HUMAN, "cease": _CEASE, "abuse": _ABUSE},
}

GRAMMAR_DATES = (
    "today",
    "tomorrow",
    "on friday",
    "next monday",
    "next week",
    "on the fifth",
    "on the fifteenth",
    "on december fifth",
    "at the end of the month",
)
GRAMMAR_AMOUNTS = tuple(f"{say_number(n)} yuan" for n in (100, 500, 1000, 3000, 5000, 50000, 500000))

PACK = LocalePack(
    locale="en-US",
    tts_voice="en-us",
    currency_words=CURRENCY_WORDS,
    prompts=PROMPTS,
    phrases=PHRASES,
    grammar_dates=GRAMMAR_DATES,
    grammar_amounts=GRAMMAR_AMOUNTS,
    say_number=say_number,
    say_amount=say_amount,
    say_date=say_date,
    parse_date=parse_date,
    parse_amount=parse_amount,
    normalize=normalize,
    stop_words=frozenset({"the", "a", "um", "uh", "on", "at", "by", "of"}),
)
