"""Real recognition: espeak-ng Korean borrowers on a phone line → WAV → 8 kHz μ-law → Vosk → NLU.

These phrasings are ones the synthetic voice renders intelligibly enough for the Korean model
(stable over repeated decodes); they pin the live path end to end. How often the robot
understands across voices, speeds, levels and noise — and how rarely it gets slot values
right — is measured by bench/voice.py, not asserted here. Vosk's scores drift slightly from
one recognition to the next within a process, so tests avoid borderline utterances and never
compare two decodes of the same audio for equality.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voicebot.asr import VoskRecognizer
from voicebot.audio import read_wav, to_ulaw_frames, ulaw_encode, write_wav
from voicebot.errors import ModelError
from voicebot.locales import get_pack
from voicebot.recognize import recognize_frames, recognize_wav

AS_OF = date(2026, 11, 27)

CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("verify", "네 그렇습니다", "yes", {}),
    ("verify", "잘못 걸린 전화 입니다", "wrong_number", {}),
    ("verify", "전화 하지 마세요", "cease", {}),
    ("negotiate", "네 납부 하겠습니다", "will_pay", {}),
    ("negotiate", "수입이 없어요", "cannot_pay", {}),
]


@pytest.mark.parametrize(
    ("state", "said", "intent", "slots"), CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)]
)
def test_korean_utterances_are_understood(
    speak: Callable[[str], Path], ko_recognizer: VoskRecognizer, state: str, said: str, intent: str, slots: dict
) -> None:
    """A synthesised Korean borrower turn yields the expected intent and slots through recognize_wav."""
    result = recognize_wav(speak(said), state=state, locale="ko-KR", as_of=AS_OF, recognizer=ko_recognizer)
    assert (result["intent"], result["slots"]) == (intent, slots), result["text"]
    assert 0.0 < result["confidence"] <= 1.0
    assert result["asr"]["audio_seconds"] > 0.5 and result["asr"]["words"]


def test_quiet_line_is_levelled_by_agc(
    speak: Callable[[str], Path], ko_recognizer: VoskRecognizer, tmp_path: Path
) -> None:
    """The same turn 20 dB quieter (a weak line) is still understood: the front end's AGC levels it."""
    audio = read_wav(speak("전화 하지 마세요"))
    quiet = tmp_path / "quiet.wav"
    write_wav(quiet, samples=(audio.samples * 0.1).astype(np.int16), rate=audio.rate)
    result = recognize_wav(quiet, state="verify", locale="ko-KR", as_of=AS_OF, recognizer=ko_recognizer)
    assert result["intent"] == "cease"


def test_live_frame_path_understands_the_turn(speak: Callable[[str], Path], ko_recognizer: VoskRecognizer) -> None:
    """Feeding the WAV's 20 ms μ-law frames one by one is the path a call takes; it hears the turn."""
    frames = to_ulaw_frames(read_wav(speak("전화 하지 마세요")))
    live = recognize_frames(frames=iter(frames), recognizer=ko_recognizer, locale="ko-KR", state="verify")
    assert live.text == "전화 하지 마세요" and live.alternatives[0][0] == live.text
    assert all(len(frame) == 160 for frame in frames)


def test_strict_grammar_only_outputs_its_phrases(speak: Callable[[str], Path], ko_recognizer: VoskRecognizer) -> None:
    """Off-script speech still comes out as whole grammar phrases (never a word salad of them)."""
    live = recognize_frames(
        frames=iter(to_ulaw_frames(read_wav(speak("오늘 날씨가 정말 좋네요")))),
        recognizer=ko_recognizer,
        locale="ko-KR",
        state="confirm",
    )
    phrases = {" ".join(p.split()) for ps in get_pack("ko-KR").intent_phrases("confirm").values() for p in ps}
    assert all(text in phrases or text == "" for text, _ in live.alternatives)
    assert abs(sum(p for _, p in live.alternatives) - 1.0) < 0.01


def test_ulaw_wav_input(speak: Callable[[str], Path], ko_recognizer: VoskRecognizer, tmp_path: Path) -> None:
    """A telephone recording saved as 8 kHz μ-law WAV is read and recognised."""
    frames = to_ulaw_frames(read_wav(speak("네 그렇습니다")))
    payload = b"".join(frames)
    fmt = (7).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    fmt += (8000).to_bytes(4, "little") + (1).to_bytes(2, "little") + (8).to_bytes(2, "little")
    body = (
        b"WAVE"
        + b"fmt "
        + len(fmt).to_bytes(4, "little")
        + fmt
        + b"data"
        + len(payload).to_bytes(4, "little")
        + payload
    )
    path = tmp_path / "call.wav"
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    assert ulaw_encode(read_wav(path).samples) == payload
    assert recognize_wav(path, state="verify", locale="ko-KR", as_of=AS_OF, recognizer=ko_recognizer)["intent"] == "yes"


def test_dtmf_only_locale_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recognising for a locale without a model raises ModelError(code=dtmf_only) naming the env var."""
    monkeypatch.delenv("BUYU_VOSK_MODEL_ZH_CN", raising=False)
    wav = tmp_path / "x.wav"
    write_wav(wav, samples=np.zeros(8000, dtype=np.int16), rate=8000)
    with pytest.raises(ModelError) as caught:
        recognize_wav(wav, state="verify", locale="zh-CN", as_of=AS_OF)
    assert caught.value.code == "dtmf_only" and "BUYU_VOSK_MODEL_ZH_CN" in caught.value.message


def test_one_model_serves_concurrent_calls(speak: Callable[[str], Path], ko_recognizer: VoskRecognizer) -> None:
    """Two calls recognising at once on the shared models each get their own right answer."""
    from concurrent.futures import ThreadPoolExecutor

    wavs = [(speak("전화 하지 마세요"), "verify"), (speak("수입이 없어요"), "negotiate")] * 2

    def hear(item: tuple[Path, str]) -> str:
        return str(
            recognize_wav(item[0], state=item[1], locale="ko-KR", as_of=AS_OF, recognizer=ko_recognizer)["intent"]
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(hear, wavs)) == ["cease", "cannot_pay"] * 2
