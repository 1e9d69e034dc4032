"""One turn of listening, the way a live call does it: μ-law frames → streaming ASR → NLU.

``recognize_wav`` turns a WAV file into the 8 kHz μ-law 20 ms frames telephony would deliver
and runs them through exactly the functions the call loop uses (``open_turn`` →
``RecognitionStream.accept_ulaw`` → ``finish`` → ``understand``). It backs
``buyu voicebot recognize --wav FILE --state STATE --locale ko-KR --json``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from voicebot.asr import Grammar, Recognition, RecognitionStream, SpeechRecognizer, VoskRecognizer, asr_mode
from voicebot.audio import read_wav, to_ulaw_frames
from voicebot.errors import ModelError
from voicebot.locales import get_pack
from voicebot.nlu import understand, understand_nbest

_RECOGNIZERS: dict[str, VoskRecognizer] = {}
_GRAMMARS: dict[tuple[int, str, str], Grammar] = {}
_LOCK = threading.Lock()


def recognizer_for(*, locale: str, env: Mapping[str, str] | None = None) -> VoskRecognizer:
    """The process-wide recogniser of a locale; ``ModelError`` if the locale is DTMF-only."""
    with _LOCK:
        if locale not in _RECOGNIZERS:
            mode = asr_mode(locale=locale, env=env)
            if mode.model_dir is None:
                raise ModelError(f"{locale} is DTMF-only: {mode.reason}", code="dtmf_only", details={"locale": locale})
            _RECOGNIZERS[locale] = VoskRecognizer(model_dir=mode.model_dir, locale=locale)
        return _RECOGNIZERS[locale]


def grammar_for(*, recognizer: SpeechRecognizer, locale: str, state: str) -> Grammar:
    """The validated grammar of a dialog state (built and vocabulary-checked once)."""
    key = (id(recognizer), locale, state)
    with _LOCK:
        if key not in _GRAMMARS:
            graph = get_pack(locale).phrase_graph(state, unknown_token=recognizer.unknown_token)
            _GRAMMARS[key] = recognizer.graph_grammar(name=f"{locale}/{state}", graph=graph)
        return _GRAMMARS[key]


def open_turn(*, recognizer: SpeechRecognizer, locale: str, state: str) -> RecognitionStream:
    """Start listening for one borrower turn, restricted to the state's grammar."""
    return recognizer.stream(grammar=grammar_for(recognizer=recognizer, locale=locale, state=state))


def recognize_frames(*, frames: Iterable[bytes], recognizer: SpeechRecognizer, locale: str, state: str) -> Recognition:
    """Feed μ-law frames into a fresh turn and return what was heard."""
    stream = open_turn(recognizer=recognizer, locale=locale, state=state)
    for frame in frames:
        stream.accept_ulaw(frame)
    return stream.finish()


def interpret(*, recognition: Recognition, state: str, locale: str, as_of: date, currency: str) -> dict[str, Any]:
    """NLU over a recognition (its n-best list when it has one), plus the ASR details a log wants."""
    if recognition.alternatives:
        result = understand_nbest(
            alternatives=recognition.alternatives, state=state, locale=locale, as_of=as_of, currency=currency
        )
    else:
        result = understand(
            text=recognition.text,
            state=state,
            locale=locale,
            as_of=as_of,
            currency=currency,
            asr_confidence=recognition.confidence,
            word_confidences=[w.conf for w in recognition.words],
        )
    result["asr"] = {
        "confidence": recognition.confidence,
        "words": [
            {"word": w.word, "conf": round(w.conf, 4), "start": w.start, "end": w.end} for w in recognition.words
        ],
        "alternatives": [{"text": text, "posterior": p} for text, p in recognition.alternatives],
        "audio_seconds": round(recognition.audio_seconds, 3),
        "decode_seconds": round(recognition.decode_seconds, 4),
    }
    result.update(state=state, locale=locale, as_of=as_of.isoformat())
    return result


def recognize_wav(
    path: str | Path,
    *,
    state: str,
    locale: str,
    as_of: date,
    currency: str = "CNY",
    recognizer: SpeechRecognizer | None = None,
) -> dict[str, Any]:
    """WAV → 8 kHz μ-law frames → streaming ASR with the state's grammar → NLU, as a JSON-ready dict."""
    recognizer = recognizer if recognizer is not None else recognizer_for(locale=locale)
    frames = to_ulaw_frames(read_wav(path))
    recognition = recognize_frames(frames=frames, recognizer=recognizer, locale=locale, state=state)
    return interpret(recognition=recognition, state=state, locale=locale, as_of=as_of, currency=currency)
