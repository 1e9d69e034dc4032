"""TTS: pyttsx3/espeak-ng worker, timeout-and-restart, prompt cache, telephone framing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from voicebot.audio import ULAW_FRAME_BYTES, frame_dbfs
from voicebot.errors import SynthesisError
from voicebot.tts import EspeakSynthesizer, Prompt, Variant, voice_for

HERE = Path(__file__).resolve().parent


def fake_env() -> dict[str, str]:
    """Environment letting the worker import the fake engines next to this file."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}


def test_hung_engine_is_killed_and_worker_restarted() -> None:
    """A request that hangs raises SynthesisError after the timeout; the next one gets a new worker."""
    with EspeakSynthesizer(engine="voicebot_fake_tts:HangingEngine", env=fake_env(), timeout_s=1.0) as tts:
        first = tts.synthesize(text="before", voice="ko")
        assert first.seconds > 0.1 and tts.restarts == 0
        with pytest.raises(SynthesisError, match="restarted"):
            tts.synthesize(text="hang", voice="ko")
        assert tts.restarts == 1
        after = tts.synthesize(text="after", voice="ko")  # a fresh worker answers
        assert after.ulaw == first.ulaw


def test_real_espeak_prompt_is_8khz_ulaw_frames(tts: EspeakSynthesizer) -> None:
    """A Korean prompt comes back as non-silent 160-byte μ-law frames of plausible length."""
    prompt = tts.synthesize(text="고객님의 연체 금액은 오십만 위안입니다.", voice=voice_for("ko-KR"))
    frames = prompt.frames()
    assert all(len(f) == ULAW_FRAME_BYTES for f in frames)
    assert 1.5 < prompt.seconds < 8.0
    pcm = prompt.to_audio().samples
    assert frame_dbfs(pcm) > -35  # speech, not silence


def test_prompt_cache_memory_and_disk(tmp_path: Path) -> None:
    """Same (text, voice, rate) is served from memory, then from disk by a new synthesiser."""
    with EspeakSynthesizer(cache_dir=tmp_path) as tts:
        first = tts.synthesize(text="안녕하세요", voice="ko")
        assert tts.synthesize(text="안녕하세요", voice="ko") is first
        assert tts.synthesize(text="안녕하세요", voice="ko", rate=120).ulaw != first.ulaw
    assert len(list(tmp_path.glob("*.ulaw"))) == 2
    with EspeakSynthesizer(cache_dir=tmp_path, engine="voicebot.tts_worker:Pyttsx3Engine") as again:
        cached = again.synthesize(text="안녕하세요", voice="ko")
        assert cached == first and again._worker is None  # no engine was started


def test_borrower_variants_differ(tts: EspeakSynthesizer) -> None:
    """Voice variant, speed and pitch change the synthesised borrower audio."""
    base = tts.synthesize_variant(text="내일 입금 할게요", variant=Variant("ko", 170, 50))
    slow = tts.synthesize_variant(text="내일 입금 할게요", variant=Variant("ko", 120, 50))
    female = tts.synthesize_variant(text="내일 입금 할게요", variant=Variant("ko+f3", 170, 70))
    assert slow.seconds > base.seconds * 1.2
    assert not np.array_equal(base.samples[:2000], female.samples[:2000])


def test_voices_per_locale_and_prompt_helpers() -> None:
    """Each supported language has an espeak-ng voice; Prompt frames pad the tail with silence."""
    assert [voice_for(x) for x in ("ko-KR", "zh-CN", "en-US")] == ["ko", "cmn", "en-us"]
    with pytest.raises(KeyError):
        voice_for("fr-FR")
    assert Prompt(ulaw=b"\x00" * 170).frames()[1] == b"\x00" * 10 + b"\xff" * 150
