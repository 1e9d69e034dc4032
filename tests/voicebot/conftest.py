"""Shared fixtures of the voicebot tests: one Vosk model and one TTS worker per session."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from voicebot.asr import VoskRecognizer, asr_mode
from voicebot.audio import add_noise, silence, telephone_band, write_wav
from voicebot.tts import EspeakSynthesizer, Variant


@pytest.fixture(scope="session")
def ko_model_dir() -> Path:
    """The packaged Korean Vosk model directory."""
    mode = asr_mode(locale="ko-KR", env={})
    assert mode.model_dir is not None, mode.reason
    return mode.model_dir


@pytest.fixture(scope="session")
def ko_recognizer(ko_model_dir: Path) -> VoskRecognizer:
    """The real Korean recogniser (model loaded once)."""
    return VoskRecognizer(model_dir=ko_model_dir, locale="ko-KR")


@pytest.fixture(scope="session")
def tts() -> Iterator[EspeakSynthesizer]:
    """A real pyttsx3/espeak-ng synthesiser (no disk cache)."""
    with EspeakSynthesizer(timeout_s=30.0) as synthesizer:
        yield synthesizer


@pytest.fixture()
def speak(tts: EspeakSynthesizer, tmp_path: Path) -> Callable[..., Path]:
    """Synthesise Korean text as a borrower on a phone line says it (telephone band, 20 dB SNR
    line noise seeded by the text, silence around it) into a WAV file."""

    def _speak(text: str, variant: Variant = Variant("ko", 170, 50)) -> Path:
        audio = tts.synthesize_variant(text=text, variant=variant)
        pad = silence(ms=300, rate=audio.rate)
        line = telephone_band(np.concatenate([pad, audio.samples, pad]), rate=audio.rate)
        path = tmp_path / f"{zlib.crc32(repr((text, variant)).encode())}.wav"
        write_wav(path, samples=add_noise(line, snr_db=20.0, seed=zlib.crc32(text.encode())), rate=audio.rate)
        return path

    return _speak
