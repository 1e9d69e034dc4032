"""Locale packs and NLU: number/date reading, slot parsing relative to as_of, intent matching."""

from __future__ import annotations

from datetime import date

import pytest

from voicebot.locales import PROMPT_KEYS, STATE_INTENTS, get_pack
from voicebot.locales import dates as cal
from voicebot.locales.ko_kr import number_tokens, parse_numeral, say_amount, say_date, say_number
from voicebot.nlu import understand, understand_nbest

AS_OF = date(2026, 11, 27)  # a Friday


def ko(text: str, state: str = "negotiate", currency: str = "CNY") -> dict:
    """NLU of Korean text as of AS_OF."""
    return understand(text=text, state=state, locale="ko-KR", as_of=AS_OF, currency=currency)


@pytest.mark.parametrize(
    ("number", "spoken", "tokens"),
    [
        (0, "영", ["영"]),
        (15, "십오", ["십오"]),
        (200, "이백", ["이", "백"]),
        (3000, "삼천", ["삼천"]),
        (10000, "만", ["만"]),
        (500000, "오십만", ["오십", "만"]),
        (1234567, "백이십삼만 사천오백육십칠", ["백", "이십삼", "만", "사천", "오백", "육십", "칠"]),
        (100000000, "일억", ["일", "억"]),
    ],
)
def test_korean_number_reading_and_tokens(number: int, spoken: str, tokens: list[str]) -> None:
    """Sino-Korean reading for prompts, grammar tokens for the model, and both parse back."""
    assert say_number(number) == spoken
    assert number_tokens(number) == tokens
    assert parse_numeral(spoken.replace(" ", "")) == number
    assert parse_numeral("".join(tokens)) == number


def test_korean_money_and_date_reading() -> None:
    """CNY reads in 위안 with decimals, KRW in 원; dates read month, day and weekday."""
    assert say_amount(50_000_000, "CNY") == "오십만 위안"
    assert say_amount(1250, "CNY") == "십이 점 오 위안"
    assert say_amount(3000, "KRW") == "삼천 원"
    assert say_date(date(2026, 6, 10)) == "유월 십일 수요일"
    assert say_date(date(2026, 12, 4)) == "십이월 사일 금요일"


def test_prompts_render_for_every_locale() -> None:
    """Every pack has every prompt key and renders the debt and read-back prompts."""
    for locale in ("ko-KR", "zh-CN", "en-US"):
        pack = get_pack(locale)
        assert set(PROMPT_KEYS) <= set(pack.prompts)
        amount = pack.say_amount(50_000_000, "CNY")
        assert amount in pack.prompt("debt", amount=amount, days=pack.say_number(30))
        readback = pack.prompt("readback", date=pack.say_date(AS_OF), amount=amount)
        assert pack.say_date(AS_OF) in readback
    assert get_pack("ko-KR").prompt("debt", amount="오십만 위안", days="삼십") == (
        "고객님의 연체 금액은 오십만 위안이고, 연체 삼십일째입니다."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("오늘 입금 할게요", "2026-11-27"),
        ("내일 입금 할게요", "2026-11-28"),
        ("내일까지 입금 할게요", "2026-11-28"),
        ("모레 입금 할게요", "2026-11-29"),
        ("글피 입금 할게요", "2026-11-30"),
        ("이번 주 금요일 납부 하겠습니다", "2026-11-27"),
        ("다음 주 월요일 입금 할게요", "2026-11-30"),
        ("다음주 수요일까지 입금 할게요", "2026-12-02"),
        ("다음 주 입금 할게요", "2026-12-04"),
        ("화요일에 입금 할게요", "2026-12-01"),
        ("월말 입금 할게요", "2026-11-30"),
        ("십오 일 입금 할게요", "2026-12-15"),
        ("십오일에 입금 할게요", "2026-12-15"),
        ("이십칠일에 입금 할게요", "2026-11-27"),
        ("5일 입금 할게요", "2026-12-05"),
        ("십 일 일 입금 할게요", "2026-12-11"),
        ("삼월 오 일 입금 할게요", "2027-03-05"),
        ("12월 25일까지 입금 할게요", "2026-12-25"),
        ("유월 십 일 갚을 수 있어요", "2027-06-10"),
        ("십일월 삼십 일 입금 할게요", "2026-11-30"),
    ],
)
def test_korean_promised_dates(text: str, expected: str) -> None:
    """Korean date expressions resolve to ISO dates relative to the explicit as_of."""
    result = ko(text)
    assert result["intent"] == "will_pay"
    assert result["slots"]["promised_date"] == expected


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("오십 만 원 낼 수 있습니다", "CNY", 50_000_000),
        ("오십만 원 낼 수 있습니다", "CNY", 50_000_000),
        ("삼천 원 낼 수 있습니다", "CNY", 300_000),
        ("삼천원 낼 수 있습니다", "KRW", 3000),
        ("만 원 낼 수 있습니다", "CNY", 1_000_000),
        ("이십 만 위안 낼 수 있습니다", "CNY", 20_000_000),
        ("십이 점 오 위안 낼 수 있습니다", "CNY", 1250),
        ("백이십삼만 사천 원 낼 수 있습니다", "KRW", 1_234_000),
    ],
)
def test_korean_amounts_are_integer_minor_units(text: str, currency: str, minor: int) -> None:
    """Spoken amounts become integer minor units of the product currency (never floats)."""
    slots = ko(text, currency=currency)["slots"]
    assert slots["amount_minor"] == minor and isinstance(slots["amount_minor"], int)
    assert slots["currency"] == currency


def test_date_and_amount_together_do_not_merge() -> None:
    """A day number right before an amount stays a date: 5일 + 3000, not one numeral."""
    slots = ko("오 일 삼천 원 입금 할게요")["slots"]
    assert slots == {"promised_date": "2026-12-05", "amount_minor": 300_000, "currency": "CNY"}
    assert ko("내일 오십 만 원 입금 할게요")["slots"]["promised_date"] == "2026-11-28"


@pytest.mark.parametrize(
    ("text", "state", "intent"),
    [
        ("네", "verify", "yes"),
        ("네 본인 입니다", "verify", "yes"),
        ("아니요", "verify", "no"),
        ("잘못 걸린 전화 입니다", "verify", "wrong_number"),
        ("나중에 다시 전화 주세요", "verify", "call_back"),
        ("상담원 연결해 주세요", "verify", "human"),
        ("전화 하지 마세요", "verify", "cease"),
        ("개새끼", "verify", "abuse"),
        ("수입이 없어요", "negotiate", "cannot_pay"),
        ("벌써 냈어요", "negotiate", "already_paid"),
        ("돈을 빌린 적이 없어요", "negotiate", "dispute"),
        ("번호를 잘못 알고 계세요", "negotiate", "wrong_number"),
        ("네 납부 하겠습니다", "negotiate", "will_pay"),
        ("네", "confirm", "yes"),
        ("아니요 아닙니다", "confirm", "no"),
        ("", "negotiate", "unknown"),
        ("바나나 사과", "negotiate", "unknown"),
    ],
)
def test_intents_from_clean_text(text: str, state: str, intent: str) -> None:
    """Each intent is recognised from its own phrasing; unrelated words are unknown."""
    result = ko(text, state=state)
    assert result["intent"] == intent
    assert result["text"] == text
    assert 0.0 <= result["confidence"] <= 1.0


def test_partial_and_noisy_word_sequences() -> None:
    """Grammar recognition can return word salad: distinctive words still decide, confidence drops."""
    partial = ko("연결해 주세요", state="verify")
    assert partial["intent"] == "human" and partial["confidence"] < 1.0
    assert ko("내일", state="negotiate")["intent"] == "will_pay"  # a bare date answers "when?"
    assert ko("내일", state="confirm")["intent"] == "unknown"  # but is no yes/no
    scaled = understand(text="수입이 없어요", state="negotiate", locale="ko-KR", as_of=AS_OF, asr_confidence=0.5)
    assert scaled["confidence"] == 0.5


def test_every_korean_grammar_path_means_its_own_intent() -> None:
    """Strict decoding outputs whole grammar paths: each one, slots filled, maps back to its intent."""
    pack = get_pack("ko-KR")
    for state in pack.states():
        graph = pack.phrase_graph(state)
        for alternative in graph.top:
            for words in graph.expand(alternative, limit=40):
                result = ko(" ".join(words), state=state)
                assert result["intent"] == alternative.tag, (state, words, result)


def test_nbest_pools_posterior_by_intent_and_rejects_a_split_vote() -> None:
    """Paths agreeing on an intent pool their mass; the slots come from that intent's best path."""
    nbest = [("전화 하지 마세요", 0.4), ("내일 오천 원 입금 할게요", 0.35), ("모레 오천 원 입금 할게요", 0.25)]
    result = understand_nbest(alternatives=nbest, state="negotiate", locale="ko-KR", as_of=AS_OF)
    assert result["intent"] == "will_pay" and result["confidence"] == 0.6
    assert result["slots"] == {"promised_date": "2026-11-28", "amount_minor": 500_000, "currency": "CNY"}
    split = [("전화 하지 마세요", 0.35), ("수입이 없어요", 0.33), ("벌써 냈어요", 0.32)]
    rejected = understand_nbest(alternatives=split, state="negotiate", locale="ko-KR", as_of=AS_OF)
    assert rejected["intent"] == "unknown" and rejected["slots"] == {}
    assert understand_nbest(alternatives=[], state="verify", locale="ko-KR", as_of=AS_OF)["intent"] == "unknown"


def test_every_state_has_its_intents_in_every_locale() -> None:
    """verify, negotiate and confirm exist in each pack with exactly the intents the dialog expects."""
    for locale in ("ko-KR", "zh-CN", "en-US"):
        pack = get_pack(locale)
        for state, intents in STATE_INTENTS.items():
            assert tuple(pack.intent_phrases(state)) == intents
            assert pack.grammar_phrases(state)
    with pytest.raises(KeyError, match="no grammar for state"):
        get_pack("ko-KR").intent_phrases("nope")


@pytest.mark.parametrize(
    ("text", "intent", "slots"),
    [
        ("我 明天 还款", "will_pay", {"promised_date": "2026-11-28"}),
        (
            "下 周 五 还 三千 块",
            "will_pay",
            {"promised_date": "2026-12-04", "amount_minor": 300_000, "currency": "CNY"},
        ),
        (
            "十二 月 五 号 还 五十 万 元",
            "will_pay",
            {"promised_date": "2026-12-05", "amount_minor": 50_000_000, "currency": "CNY"},
        ),
        ("已经 还 了", "already_paid", {}),
        ("转 人工", "human", {}),
    ],
)
def test_chinese_pack(text: str, intent: str, slots: dict) -> None:
    """zh-CN parses dates and amounts (Chinese numerals) and maps phrases to intents."""
    result = understand(text=text, state="negotiate", locale="zh-CN", as_of=AS_OF)
    assert (result["intent"], result["slots"]) == (intent, slots)


@pytest.mark.parametrize(
    ("text", "intent", "slots"),
    [
        (
            "i will pay five hundred yuan next friday",
            "will_pay",
            {"promised_date": "2026-12-04", "amount_minor": 50_000, "currency": "CNY"},
        ),
        ("i can pay on december fifth", "will_pay", {"promised_date": "2026-12-05"}),
        ("i will pay on the fifteenth", "will_pay", {"promised_date": "2026-12-15"}),
        ("I will pay tomorrow.", "will_pay", {"promised_date": "2026-11-28"}),
        ("stop calling me", "cease", {}),
        ("wrong number", "wrong_number", {}),
    ],
)
def test_english_pack(text: str, intent: str, slots: dict) -> None:
    """en-US parses ordinals, weekdays and amounts in words and maps phrases to intents."""
    result = understand(text=text, state="negotiate", locale="en-US", as_of=AS_OF)
    assert (result["intent"], result["slots"]) == (intent, slots)


def test_calendar_rules() -> None:
    """Shared date rules: next weekday strictly after, day-of-month rolls over, month-day rolls to next year."""
    assert cal.next_weekday(as_of=AS_OF, weekday=4) == date(2026, 12, 4)
    assert cal.day_of_month(as_of=date(2026, 1, 31), day=31) == date(2026, 1, 31)
    assert cal.day_of_month(as_of=date(2026, 2, 1), day=31) == date(2026, 2, 28)
    assert cal.day_of_month(as_of=AS_OF, day=32) is None
    assert cal.month_day(as_of=AS_OF, month=2, day=30) is None
    assert cal.month_day(as_of=AS_OF, month=1, day=5) == date(2027, 1, 5)
    assert cal.end_of_this_week(as_of=date(2026, 11, 28)) == date(2026, 11, 28)
    assert cal.weekend(as_of=AS_OF) == date(2026, 11, 28)
