"""TTS worker process: synthesises WAV files on request, one JSON line in, one JSON line out.

Run as ``python -m voicebot.tts_worker [--engine module:factory]``. pyttsx3 is fragile when reused
(it sometimes writes an empty or no file), so every result is checked and retried here, and the
parent process kills and restarts the whole worker when a request takes too long. pyttsx3 prints
to stdout, so the protocol uses a private duplicate of the original stdout and stdout itself is
pointed at stderr.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import os
import sys
import wave
from pathlib import Path
from typing import Any, Protocol, TextIO

ATTEMPTS = 3


class Engine(Protocol):
    """What the worker needs from a synthesiser."""

    def save(self, *, text: str, voice: str, rate: int, pitch: int, path: str) -> None:
        """Write ``text`` as a 16-bit mono WAV at ``path``."""
        ...


class Pyttsx3Engine:
    """espeak-ng through pyttsx3's espeak driver and its ctypes binding, one per worker process.

    pyttsx3 initialises libespeak-ng (asynchronous retrieval mode). Its ``save_to_file`` loop
    races espeak's completion callback: with changing voices or rates it returned the previous
    utterance's audio on roughly one request in ten. So this engine sets parameters and collects
    samples itself through the same binding, waiting with ``espeak_Synchronize`` until espeak
    has delivered everything — deterministic output for a given (text, voice, rate, pitch).
    """

    SAMPLE_RATE = 22050

    def __init__(self) -> None:
        import pyttsx3
        from pyttsx3.drivers import _espeak

        self._engine = pyttsx3.init("espeak")  # keeps the driver (and libespeak-ng) initialised
        self._espeak = _espeak
        self._chunks: list[bytes] = []
        _espeak.SetSynthCallback(self._on_synth)

    def _on_synth(self, wav: Any, numsamples: int, events: Any) -> int:
        if numsamples > 0:
            self._chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    def save(self, *, text: str, voice: str, rate: int, pitch: int, path: str) -> None:
        """Synthesise ``text`` into a 22.05 kHz mono 16-bit WAV at ``path``."""
        espeak = self._espeak
        espeak.Synchronize()
        if espeak.SetVoiceByName(voice.encode("utf-8")) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        espeak.SetParameter(espeak.RATE, rate, 0)
        espeak.SetParameter(espeak.PITCH, pitch, 0)
        self._chunks = []
        espeak.Synth(text.encode("utf-8"), flags=espeak.ENDPAUSE | espeak.CHARS_UTF8)
        espeak.Synchronize()
        with wave.open(path, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.SAMPLE_RATE)
            out.writeframes(b"".join(self._chunks))


def wav_payload(path: str) -> bytes:
    """The sample bytes of a WAV file, empty if missing or unreadable."""
    try:
        with wave.open(path, "rb") as wav:
            return wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error):
        return b""


def handle(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """Serve one request, retrying when the engine leaves no audio."""
    path = str(request["path"])
    for attempt in range(1, ATTEMPTS + 1):
        Path(path).unlink(missing_ok=True)
        engine.save(
            text=str(request["text"]),
            voice=str(request["voice"]),
            rate=int(request["rate"]),
            pitch=int(request["pitch"]),
            path=path,
        )
        if wav_payload(path):
            return {"id": request["id"], "ok": True, "attempts": attempt}
    return {"id": request["id"], "ok": False, "error": f"engine produced no audio after {ATTEMPTS} attempts"}


def load_engine(spec: str) -> Engine:
    """``module:factory`` → engine instance."""
    module, _, factory = spec.partition(":")
    engine: Engine = getattr(importlib.import_module(module), factory)()
    return engine


def serve(engine: Engine, requests: TextIO, replies: TextIO) -> None:
    """Answer requests until stdin closes."""
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            reply = handle(engine, request)
        except Exception as exc:  # report, stay alive: the parent decides whether to restart
            reply = {"id": request.get("id"), "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the worker process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", default="voicebot.tts_worker:Pyttsx3Engine")
    args = parser.parse_args(argv)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # engine chatter goes to stderr
    engine = load_engine(args.engine)
    replies.write(json.dumps({"id": None, "ok": True, "ready": True}) + "\n")
    replies.flush()
    serve(engine, sys.stdin, replies)


if __name__ == "__main__":
    main()
