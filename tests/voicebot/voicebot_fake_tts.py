"""Fake TTS engines for the worker-timeout tests (imported inside the worker subprocess)."""

from __future__ import annotations

import time
import wave

import numpy as np


class HangingEngine:
    """Writes a short tone, except for the text "hang", on which it never returns."""

    def save(self, *, text: str, voice: str, rate: int, pitch: int, path: str) -> None:
        """Write 0.2 s of 440 Hz at 22050 Hz, or hang."""
        if text == "hang":
            while True:
                time.sleep(3600)
        tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(4410) / 22050)).astype("<i2")
        with wave.open(path, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(22050)
            wav.writeframes(tone.tobytes())
