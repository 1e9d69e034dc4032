"""Natural-language understanding: recognised words (+ dialog state) → intent, slots, confidence.

Pure: no clock, no I/O. Slots come first (the pack's date and amount parsers claim their
tokens), then the remaining words are matched against the state's intent phrases. Grammar
recognition yields *any* sequence of grammar words (Vosk builds a bigram, not a phrase list),
so matching is a weighted overlap: words shared by many intents ("주세요", "없어요") weigh
little, words unique to one intent weigh most.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from voicebot.locales import STATE_INTENTS, LocalePack, get_pack

#: Below this match score the words are too far from any phrase: intent "unknown".
MIN_MATCH = 0.34
#: Score given to a bare slot ("내일", "오십 만 원") in a state that takes promises.
BARE_SLOT_MATCH = 0.8
#: Below this share of the n-best posterior the winning intent is not trusted: "unknown" (a
#: re-prompt). Chosen on the benchmark's tuning set, where separation is weak: 0.4 re-prompted
#: a few off-script turns at the cost of one in-grammar turn; higher thresholds lost more.
MIN_INTENT_SHARE = 0.4
#: Tie-break order: the compliance-relevant intents win a tie.
PRIORITY = ("cease", "abuse", "human", "wrong_number", "dispute", "already_paid", "cannot_pay", "call_back")


def understand(
    *,
    text: str,
    state: str,
    locale: str,
    as_of: date,
    currency: str = "CNY",
    asr_confidence: float = 1.0,
    word_confidences: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Map recognised text in a dialog state to ``{"text", "intent", "slots", "confidence"}``.

    ``word_confidences`` (one per word of ``text``, from the recogniser) make doubtful words
    count less when matching phrases; without them every word counts fully.
    """
    pack = get_pack(locale)
    words = text.split()
    confs = list(word_confidences) if word_confidences is not None else [1.0] * len(words)
    if len(confs) != len(words):
        raise ValueError(f"{len(confs)} word confidences for {len(words)} words")
    pieces = [(piece, conf) for word, conf in zip(words, confs, strict=True) for piece in pack.normalize([word])]
    tokens = [piece for piece, _ in pieces]
    promised, date_tokens = pack.parse_date(tokens, as_of)
    # mask the date's tokens so its numerals cannot run into an amount ("오 일 삼천 원")
    masked = ["\x00" if i in date_tokens else t for i, t in enumerate(tokens)]
    amount, amount_tokens = pack.parse_amount(masked, currency)
    used = date_tokens | amount_tokens
    rest = [(t, c) for i, (t, c) in enumerate(pieces) if i not in used and t not in pack.stop_words]
    slots: dict[str, Any] = {}
    if promised is not None:
        slots["promised_date"] = promised.isoformat()
    if amount is not None:
        slots.update(amount_minor=amount, currency=currency)
    intent, match = classify(words=rest, state=state, pack=pack, has_slot=bool(slots))
    return {"text": text, "intent": intent, "slots": slots, "confidence": round(asr_confidence * match, 4)}


def classify(*, words: Sequence[tuple[str, float]], state: str, pack: LocalePack, has_slot: bool) -> tuple[str, float]:
    """Best intent for the non-slot (word, confidence) pairs and its match score in [0, 1]."""
    table = phrase_table(pack=pack, state=state)
    if not words:
        promise = has_slot and "will_pay" in STATE_INTENTS.get(state, ())
        return ("will_pay", BARE_SLOT_MATCH) if promise else ("unknown", 0.0)
    weights = word_weights(table)
    scores = {
        intent: max(match_score(words=words, phrase=phrase, weights=weights) for phrase in phrases)
        for intent, phrases in table.items()
    }
    best = max(scores.values())
    if best < MIN_MATCH:
        return "unknown", best
    tied = [intent for intent, score in scores.items() if score == best]
    return min(tied, key=lambda i: PRIORITY.index(i) if i in PRIORITY else len(PRIORITY)), best


def phrase_table(*, pack: LocalePack, state: str) -> dict[str, list[tuple[str, ...]]]:
    """intent → phrases as token tuples, placeholders and stop words removed."""
    table: dict[str, list[tuple[str, ...]]] = {}
    for intent, phrases in pack.intent_phrases(state).items():
        cleaned = (p.replace("{date}", " ").replace("{amount}", " ") for p in phrases)
        token_lists = (tuple(t for t in pack.normalize(c.split()) if t not in pack.stop_words) for c in cleaned)
        table[intent] = [t for t in token_lists if t]
    return table


def word_weights(table: Mapping[str, Sequence[tuple[str, ...]]]) -> dict[str, float]:
    """Inverse intent frequency: log(1 + intents / intents using the word)."""
    used_by: Counter[str] = Counter()
    for phrases in table.values():
        used_by.update({word for phrase in phrases for word in phrase})
    return {word: math.log(1 + len(table) / count) for word, count in used_by.items()}


def match_score(*, words: Sequence[tuple[str, float]], phrase: Sequence[str], weights: Mapping[str, float]) -> float:
    """Weighted F1 between heard (word, confidence) pairs and one phrase; unknown words count against."""
    heard: dict[str, float] = {}
    for word, conf in words:
        heard[word] = heard.get(word, 0.0) + conf
    wanted = Counter(phrase)
    unknown_weight = max(weights.values(), default=1.0)
    overlap = sum(weights[w] * min(n, wanted[w]) for w, n in heard.items() if w in wanted)
    heard_total = sum(weights.get(w, unknown_weight) * n for w, n in heard.items())
    wanted_total = sum(weights[w] * n for w, n in wanted.items())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / heard_total, overlap / wanted_total
    return 2 * precision * recall / (precision + recall)


def understand_nbest(
    *,
    alternatives: Sequence[tuple[str, float]],
    state: str,
    locale: str,
    as_of: date,
    currency: str = "CNY",
) -> dict[str, Any]:
    """NLU over an n-best list of (text, posterior): the intent with the most posterior mass.

    Each path is understood on its own; paths that agree on an intent pool their posteriors
    (five slightly different will_pay paths outvote one cease path). The slots and text are
    those of the best path with the winning intent; ``confidence`` is the intent's share, and
    below ``MIN_INTENT_SHARE`` the answer is ``unknown``.
    """
    mass: dict[str, float] = {}
    first: dict[str, dict[str, Any]] = {}
    for text, posterior in alternatives:
        result = understand(text=text, state=state, locale=locale, as_of=as_of, currency=currency)
        mass[result["intent"]] = mass.get(result["intent"], 0.0) + posterior
        first.setdefault(result["intent"], result)
    if not mass:
        return understand(text="", state=state, locale=locale, as_of=as_of, currency=currency)
    intent = max(mass, key=lambda i: (mass[i], i != "unknown"))
    share = mass[intent] / (sum(mass.values()) or 1.0)
    if share < MIN_INTENT_SHARE:
        return {**first[intent], "intent": "unknown", "slots": {}, "confidence": round(share, 4)}
    return {**first[intent], "confidence": round(share, 4)}
