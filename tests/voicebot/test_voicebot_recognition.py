"""Real recognition: espeak-ng Korean borrowers → WAV → 8 kHz μ-law frames → Vosk → NLU.

These phrasings are ones the synthetic voice renders intelligibly enough for the Korean model;
they pin the live path end to end. How often the robot understands across voices, speeds and
a noisy telephone channel is measured by bench/voice.py, not asserted here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from voicebot.asr import VoskRecognizer
from voicebot.audio import read_wav, to_ulaw_frames, ulaw_encode, write_wav
from voicebot.errors import ModelError
from voicebot.recognize import recognize_frames, recognize_wav

AS_OF = date(2026, 11, 27)

CASES = [
    ("verify", "네 본인 입니다", "yes", {}),
    ("verify", "잘못 걸린 전화 입니다", "wrong_number", {}),
    ("verify", "상담원 연결해 주세요", "human", {}),
    ("verify", "연락 하지 마세요", "cease", {}),
    ("negotiate", "모레 입금 할게요", "will_pay", {"promised_date": "2026-11-29"}),
    ("negotiate", "여유가 없습니다", "cannot_pay", {}),
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
    audio = read_wav(speak("연락 하지 마세요"))
    quiet = tmp_path / "quiet.wav"
    write_wav(quiet, samples=(audio.samples * 0.1).astype(np.int16), rate=audio.rate)
    result = recognize_wav(quiet, state="verify", locale="ko-KR", as_of=AS_OF, recognizer=ko_recognizer)
    assert result["intent"] == "cease"


def test_file_path_equals_live_frame_path(speak: Callable[[str], Path], ko_recognizer: VoskRecognizer) -> None:
    """recognize_wav and feeding the same 20 ms μ-law frames one by one give the same words."""
    wav = speak("모레 입금 할게요")
    from_file = recognize_wav(wav, state="negotiate", locale="ko-KR", as_of=AS_OF, recognizer=ko_recognizer)
    frames = to_ulaw_frames(read_wav(wav))
    live = recognize_frames(frames=iter(frames), recognizer=ko_recognizer, locale="ko-KR", state="negotiate")
    assert live.text == from_file["text"]
    assert all(len(frame) == 160 for frame in frames)


def test_ulaw_wav_input(speak: Callable[[str], Path], ko_recognizer: VoskRecognizer, tmp_path: Path) -> None:
    """A telephone recording saved as 8 kHz μ-law WAV is read and recognised."""
    frames = to_ulaw_frames(read_wav(speak("네 본인 입니다")))
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
    """Two calls recognising at once on the shared model get the same answers as one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    wavs = [(speak("연락 하지 마세요"), "verify"), (speak("모레 입금 할게요"), "negotiate")] * 2

    def hear(item: tuple[Path, str]) -> str:
        return str(recognize_wav(item[0], state=item[1], locale="ko-KR", as_of=AS_OF, recognizer=ko_recognizer)["text"])

    sequential = [hear(item) for item in wavs]
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(hear, wavs)) == sequential
