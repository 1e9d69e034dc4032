"""zh-CN: Mandarin prompts, grammars and number/date reading and parsing.

Grammar phrases are word-segmented with spaces, as Vosk Chinese models (e.g. the small CN model)
spell their vocabulary; the operator points ``BUYU_VOSK_MODEL_ZH_CN`` at such a model and the
start-up vocabulary check names any word that model lacks. The NLU works on characters (the
pack's ``normalize`` splits words into characters), so segmentation differences do not matter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from voicebot.locales import LocalePack, decimal_to_minor, minor_to_decimal, regex_slots
from voicebot.locales import dates as cal

DIGITS = "零一二三四五六七八九"
_VALUE = {c: i for i, c in enumerate(DIGITS)} | {"〇": 0, "两": 2}
_SMALL = {"十": 10, "百": 100, "千": 1000}
_BIG = {"万": 10_000, "亿": 100_000_000}
_NUM = "[零〇一二两三四五六七八九十百千万亿0-9]"
WEEKDAY_CHARS = "一二三四五六日"
CURRENCY_WORDS = {"CNY": "元", "KRW": "韩元", "USD": "美元", "HKD": "港币", "EUR": "欧元"}
_RELATIVE = {"今天": 0, "明天": 1, "后天": 2, "大后天": 3}

_DATE_PATTERNS = (
    re.compile(rf"(?P<month>{_NUM}+)月(?P<day>{_NUM}+)[号日]"),
    re.compile(rf"(?P<day>{_NUM}+)[号日]"),
    re.compile(r"(?P<which>这|本|下)个?(?:周|星期|礼拜)(?P<weekday>[一二三四五六日天])?"),
    re.compile(r"(?:周|星期|礼拜)(?P<weekday>[一二三四五六日天])"),
    re.compile(r"(?P<relative>大后天|今天|明天|后天|月底|周末)"),
)
_AMOUNT = re.compile(rf"(?P<int>{_NUM}+)(?:点(?P<frac>[零〇一二三四五六七八九0-9]+))?(?:块钱|块|元|人民币)")


def parse_numeral(text: str) -> int | None:
    """Chinese or Arabic numeral → int: 五十万 → 500000, 十五 → 15, 两千 → 2000."""
    if text.isdigit():
        return int(text)
    total = section = digit = 0
    for char in text:
        if char in _VALUE:
            digit = _VALUE[char]
        elif char in _SMALL:
            section += (digit or 1) * _SMALL[char]
            digit = 0
        elif char in _BIG:
            total += ((section + digit) or 1) * _BIG[char]
            section = digit = 0
        else:
            return None
    return total + section + digit


def _group(value: int, *, leading: bool) -> str:
    """0..9999 in Chinese, with 零 for inner gaps."""
    out, zero = "", False
    for unit, size in (("千", 1000), ("百", 100), ("十", 10), ("", 1)):
        digit = value // size % 10
        if digit:
            out += (
                ("零" if zero and out else "")
                + ("" if (unit == "十" and digit == 1 and leading and not out) else DIGITS[digit])
                + unit
            )
            zero = False
        else:
            zero = True
    return out


def say_number(number: int) -> str:
    """500000 → 五十万, 15 → 十五, 1005 → 一千零五."""
    if number == 0:
        return "零"
    parts, first = [], True
    for unit, size in (("亿", 10**8), ("万", 10**4), ("", 1)):
        value = number // size % 10_000
        if value:
            prefix = "零" if (not first and value < 1000) else ""
            parts.append(prefix + _group(value, leading=first) + unit)
            first = False
    return "".join(parts)


def say_amount(minor: int, currency: str) -> str:
    """50000000 fen → 五十万元; 1250 fen → 十二点五元."""
    value = minor_to_decimal(minor, currency=currency)
    whole = int(value)
    fraction = str(abs(value - whole)).partition(".")[2].rstrip("0")
    spoken = say_number(whole) + ("点" + "".join(DIGITS[int(d)] for d in fraction) if fraction else "")
    return spoken + CURRENCY_WORDS.get(currency, currency)


def say_date(day: date) -> str:
    """2026-12-04 → 十二月四号星期五."""
    weekday = "星期" + ("一二三四五六日"[day.weekday()])
    return f"{say_number(day.month)}月{say_number(day.day)}号{weekday}"


def normalize(tokens: Sequence[str]) -> list[str]:
    """Words → characters (the NLU and parsers work per character)."""
    return [char for token in tokens for char in token]


def _weekday_index(char: str) -> int:
    return 6 if char in "日天" else WEEKDAY_CHARS.index(char)


def _resolve(match: re.Match[str], as_of: date) -> date | None:
    groups = match.groupdict()
    if groups.get("month"):
        month, day = parse_numeral(groups["month"]), parse_numeral(groups["day"])
        return cal.month_day(as_of=as_of, month=month, day=day) if month and day else None
    if groups.get("day"):
        day = parse_numeral(groups["day"])
        return cal.day_of_month(as_of=as_of, day=day) if day else None
    if groups.get("which"):
        ahead = int(groups["which"] == "下")
        if groups.get("weekday"):
            return cal.weekday_of_week(as_of=as_of, weekday=_weekday_index(groups["weekday"]), weeks_ahead=ahead)
        friday = cal.weekday_of_week(as_of=as_of, weekday=cal.FRIDAY, weeks_ahead=1)
        return friday if ahead else cal.end_of_this_week(as_of=as_of)
    if groups.get("weekday"):
        return cal.next_weekday(as_of=as_of, weekday=_weekday_index(groups["weekday"]))
    relative = groups.get("relative") or ""
    if relative in _RELATIVE:
        return cal.add_days(as_of=as_of, days=_RELATIVE[relative])
    return cal.end_of_month(as_of=as_of) if relative == "月底" else cal.weekend(as_of=as_of)


def parse_date(tokens: Sequence[str], as_of: date) -> tuple[date | None, frozenset[int]]:
    """First date expression in the characters, resolved against ``as_of``."""
    for pattern in _DATE_PATTERNS:
        for match, covered in regex_slots(tokens, pattern, sep=""):
            resolved = _resolve(match, as_of)
            if resolved is not None:
                return resolved, covered
    return None, frozenset()


def parse_amount(tokens: Sequence[str], currency: str) -> tuple[int | None, frozenset[int]]:
    """五十万元 / 三千块 / 十二点五元 → minor units."""
    for match, covered in regex_slots(tokens, _AMOUNT, sep=""):
        whole = parse_numeral(match["int"])
        if whole is None:
            continue
        frac = "".join(str(_VALUE.get(c, c)) for c in (match["frac"] or ""))
        return decimal_to_minor(Decimal(f"{whole}.{frac or 0}"), currency=currency), covered
    return None, frozenset()


PROMPTS = {
    "greeting": "您好，这里是{lender}。请问是{name}本人吗？",
    "verification": "为了核实身份，如果您是{name}本人，请说是；如果不是，请说不是。",
    "disclosure": "本电话为还款提醒的自动语音服务，通话内容将被录音。",
    "debt": "您的逾期金额为{amount}，已逾期{days}天。",
    "negotiation": "请告诉我们您可以在哪一天还多少钱。需要人工服务请说转人工。",
    "readback": "您承诺在{date}之前还款{amount}，对吗？请说对或者不对。",
    "close": "感谢您的接听，再见。",
    "reprompt": "抱歉，请您再说一遍。",
    "transfer": "正在为您转接人工客服，请稍候。",
    "callback": "好的，我们稍后再联系您。",
    "dtmf_verify": "如果您是本人请按1，不是请按2。",
    "verify_factor_birth_year": "为了保护您的信息安全，请说出或按键输入您出生年份的四位数字。",
    "verify_factor_id": "为了保护您的信息安全，请说出或按键输入您身份证号码的后四位。",
    "verify_factor_retry": "抱歉，与我们的记录不符。",
    "unverified_close": "无法核实您的身份，本次通话无法继续。再见。",
    "wrong_party": "抱歉打扰您了，再见。",
    "voicemail": "您好，这是给{name}的留言，请您方便时回电。谢谢。",
    "ask_date": "请问您在哪一天之前可以还款？",
    "counter_date": "还款日期最晚可以约定到{date}，您那时之前可以还款吗？",
    "counter_amount": "最低还款金额为{amount}，您可以还这个金额吗？",
    "pay_link_offer": "我们现在可以通过短信给您发送{amount}的还款链接，需要发送吗？请说是或者不是。",
    "link_sent": "还款链接已通过短信发送，感谢您今天还款，再见。",
    "plan_offer": "我们可以把{total}分成{count}期，每月还{amount}，第一期在{date}之前还。可以吗？请说是或者不是。",
    "hardship": "我们理解您的情况，专员会再联系您商量还款方案，再见。",
    "already_paid": "谢谢，我们会核对还款记录，如果没有查到会再联系您，再见。",
    "dispute_ack": "我们已记录您对这笔欠款有异议，在书面核实之前将暂停催收，再见。",
    "cease_ack": "我们已记录您的要求，今后不再联系您，再见。",
    "abuse_end": "本次通话将结束，再见。",
    "silence_end": "没有听到您的声音，我们稍后再联系您，再见。",
    "dtmf_menu": (
        "今天还款{amount}请按1，在{date}之前还款请按2，无法还款请按3，需要回电请按4，转人工请按0，"
        "不希望再接到电话请按9。"
    ),
    "dtmf_confirm": "对请按1，不对请按2。",
}

_WRONG = ("打 错 了", "没有 这个 人", "你 打 错 电话 了")
_LATER = ("我 现在 很 忙", "晚 点 再 打", "我 在 开车")
_HUMAN = ("转 人工", "人工 客服", "我 要 找 人工")
_CEASE = ("不要 再 打 了", "别 打 了", "不要 联系 我")
_ABUSE = ("滚", "神经病", "他妈 的")
_YES = ("是", "是的", "是 我", "对", "我 是 本人")
_NO = ("不是", "不 对")

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
        "will_pay": ("{date} 还款", "{date} 还 {amount}", "{amount} 可以 还", "我 会 还 的", "{date} 能 还"),
        "cannot_pay": ("没有 钱", "还 不 起", "我 失业 了", "现在 没 钱 还"),
        "already_paid": ("已经 还 了", "我 还 过 了", "昨天 还 了"),
        "dispute": ("我 没有 借 过 钱", "不是 我 的 钱", "金额 不 对"),
        "wrong_number": _WRONG,
        "call_back": _LATER,
        "human": _HUMAN,
        "cease": _CEASE,
        "abuse": _ABUSE,
    },
    "confirm": {"yes": _YES, "no": _NO, "human": _HUMAN, "cease": _CEASE, "abuse": _ABUSE},
}

GRAMMAR_DATES = ("今天", "明天", "后天", "这 周 五", "下 周 一", "下 周", "月底", "十五 号", "五 号", "十二 月 五 号")
GRAMMAR_AMOUNTS = ("五十 万 元", "三千 块", "一千 元", "五千 块", "一万 元", "十 万 元")

PACK = LocalePack(
    locale="zh-CN",
    tts_voice="cmn",
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
    stop_words=frozenset("的了吧啊呢"),
)
