"""Locale packs: prompts, per-state grammars and intent phrases (data) plus number/date code.

A pack is plain data and a few pure functions. Grammar phrases are word sequences separated by
single spaces, in the recogniser's own tokenisation (Korean eojeol as the Korean model spells
them, Chinese words segmented, English lower case); ``{date}`` and ``{amount}`` in a phrase are
filled from the pack's example slot phrases when the grammar is built, so the recogniser learns
the transitions between slot words and the rest of the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import cycle

from buyu.money import CURRENCIES
from voicebot.phrase_graph import Alternative, PhraseGraph

#: Every intent the NLU can return.
INTENTS = (
    "will_pay",
    "cannot_pay",
    "already_paid",
    "dispute",
    "wrong_number",
    "call_back",
    "human",
    "cease",
    "abuse",
    "yes",
    "no",
    "unknown",
)
#: Dialog states that have a grammar, and the intents each accepts.
STATE_INTENTS: Mapping[str, tuple[str, ...]] = {
    "verify": ("yes", "no", "wrong_number", "call_back", "human", "cease", "abuse"),
    "negotiate": (
        "will_pay",
        "cannot_pay",
        "already_paid",
        "dispute",
        "wrong_number",
        "call_back",
        "human",
        "cease",
        "abuse",
    ),
    "confirm": ("yes", "no", "human", "cease", "abuse"),
}
#: Prompt keys every pack provides.
PROMPT_KEYS = ("greeting", "verification", "disclosure", "debt", "negotiation", "readback", "close")
#: Minor-unit exponents for currencies the ledger does not book but a locale may speak.
_EXTRA_EXPONENTS = {"KRW": 0, "JPY": 0}


def currency_exponent(currency: str) -> int:
    """Decimal places of a currency's minor unit."""
    return CURRENCIES.get(currency, _EXTRA_EXPONENTS.get(currency, 2))


def minor_to_decimal(minor: int, *, currency: str) -> Decimal:
    """Integer minor units → Decimal major units."""
    return Decimal(minor).scaleb(-currency_exponent(currency))


def decimal_to_minor(value: Decimal, *, currency: str) -> int:
    """Decimal major units → integer minor units (truncating precision the currency lacks)."""
    return int(value.scaleb(currency_exponent(currency)).to_integral_value())


#: tokens → (resolved date, indexes of the tokens it used)
DateParser = Callable[[Sequence[str], date], tuple[date | None, frozenset[int]]]
#: tokens, currency → (minor units, indexes of the tokens it used)
AmountParser = Callable[[Sequence[str], str], tuple[int | None, frozenset[int]]]


@dataclass(frozen=True, slots=True)
class LocalePack:
    """Everything language-specific the voice robot needs for one locale."""

    locale: str
    tts_voice: str
    currency_words: Mapping[str, str]
    prompts: Mapping[str, str]
    #: state → intent → phrases (with optional ``{date}`` / ``{amount}`` placeholders)
    phrases: Mapping[str, Mapping[str, tuple[str, ...]]]
    grammar_dates: tuple[str, ...]
    grammar_amounts: tuple[str, ...]
    say_number: Callable[[int], str]
    say_amount: Callable[[int, str], str]
    say_date: Callable[[date], str]
    parse_date: DateParser
    parse_amount: AmountParser
    #: recognised tokens → tokens the parsers understand (split glued numerals, drop suffixes)
    normalize: Callable[[Sequence[str]], list[str]] = list
    #: words that carry no intent (fillers, particles) — ignored by the NLU's matching
    stop_words: frozenset[str] = frozenset()
    #: sub-grammars for strict phrase graphs (``{date}``, ``{amount}`` and what they use); packs
    #: without them get ``date``/``amount`` rules from ``grammar_dates``/``grammar_amounts``
    grammar_rules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: garbage paths for out-of-grammar speech (tagged ``unknown``), e.g. a loop of one-syllable
    #: words ``{syllable}+``. ko-KR has none: with the packaged model and synthetic speech, a
    #: syllable loop caught off-script turns only by rejecting more in-grammar ones (tuning set:
    #: weight 0.005 caught 24% of off-script turns and cost 27 points on human, 25 on abuse).
    garbage_phrases: tuple[str, ...] = ()
    #: prior weight of all garbage paths together against one intent's phrases
    garbage_weight: float = 0.5

    def states(self) -> tuple[str, ...]:
        """Dialog states this pack has grammars for."""
        return tuple(self.phrases)

    def intent_phrases(self, state: str) -> Mapping[str, tuple[str, ...]]:
        """intent → phrases for a state (placeholders kept); KeyError names the known states."""
        try:
            return self.phrases[state]
        except KeyError:
            raise KeyError(f"{self.locale} has no grammar for state {state!r}; states: {self.states()}") from None

    def grammar_phrases(self, state: str) -> tuple[str, ...]:
        """The recogniser grammar for a state: every phrase with its slots filled by examples."""
        out: list[str] = []
        for phrases in self.intent_phrases(state).values():
            for phrase in phrases:
                out.extend(self._expand(phrase))
        if any("{" in p for ps in self.intent_phrases(state).values() for p in ps):
            out.extend(self.grammar_dates)
            out.extend(self.grammar_amounts)
        return tuple(dict.fromkeys(" ".join(p.split()) for p in out))

    def _expand(self, phrase: str) -> list[str]:
        """Fill ``{date}``/``{amount}`` with each example (both: paired in turn); bare form too."""
        has_date, has_amount = "{date}" in phrase, "{amount}" in phrase
        if not (has_date or has_amount):
            return [phrase]
        bare = phrase.replace("{date}", "").replace("{amount}", "")
        count = max(len(self.grammar_dates) if has_date else 0, len(self.grammar_amounts) if has_amount else 0)
        pairs = zip(cycle(self.grammar_dates), cycle(self.grammar_amounts), range(count), strict=False)
        filled = [phrase.replace("{date}", d).replace("{amount}", a) for d, a, _ in pairs]
        return [bare, *filled]

    def phrase_graph(self, state: str, *, unknown_token: str | None = None) -> PhraseGraph:
        """The strict grammar of a state: every intent equally likely a priori, its phrases sharing
        that weight; slots are sub-grammars; the pack's garbage phrases and ``unknown_token`` (if
        given) are paths for out-of-grammar speech, tagged ``unknown``."""
        top = [
            Alternative(tokens=tuple(_slot_spaced(phrase).split()), weight=1.0 / len(phrases), tag=intent)
            for intent, phrases in self.intent_phrases(state).items()
            for phrase in phrases
        ]
        garbage = [*self.garbage_phrases, *([unknown_token] if unknown_token else [])]
        top.extend(Alternative.of(g, weight=self.garbage_weight / len(garbage), tag="unknown") for g in garbage)
        rules = dict(self.grammar_rules) or {"date": self.grammar_dates, "amount": self.grammar_amounts}
        return PhraseGraph(
            top=tuple(top),
            rules={name: tuple(Alternative.of(text) for text in alternatives) for name, alternatives in rules.items()},
        )

    def prompt(self, key: str, **values: str) -> str:
        """Render a prompt template; values are already-spoken strings (see ``say_*``)."""
        return self.prompts[key].format(**values)


def _slot_spaced(phrase: str) -> str:
    """``{date}까지 …`` → ``{date} 까지 …``: slot references as tokens of their own."""
    return " ".join(phrase.replace("{date}", " {date} ").replace("{amount}", " {amount} ").split())


def regex_slots(
    tokens: Sequence[str], pattern: re.Pattern[str], *, sep: str
) -> Iterator[tuple[re.Match[str], frozenset[int]]]:
    """Regex matches over tokens joined by ``sep``, each with the indexes of the tokens it covers."""
    text, starts, pos = sep.join(tokens), [], 0
    for token in tokens:
        starts.append(pos)
        pos += len(token) + len(sep)
    for match in pattern.finditer(text):
        covered = frozenset(i for i, s in enumerate(starts) if s < match.end() and s + len(tokens[i]) > match.start())
        yield match, covered


def get_pack(locale: str) -> LocalePack:
    """The pack for a locale (``ko-KR``, ``zh-CN``, ``en-US``)."""
    from voicebot.locales import en_us, ko_kr, zh_cn

    packs = {p.locale: p for p in (ko_kr.PACK, zh_cn.PACK, en_us.PACK)}
    try:
        return packs[locale]
    except KeyError:
        raise KeyError(f"no locale pack for {locale!r}; available: {sorted(packs)}") from None
