"""Speech synthesis: the ``SpeechSynthesizer`` protocol and a pyttsx3/espeak-ng adapter.

The engine runs in a worker subprocess (``voicebot.tts_worker``); a request that takes longer
than the timeout kills the worker (a hung engine must not stall a call) and the next request
starts a fresh one. Prompts are cached by (text, voice, rate, pitch) in memory and on disk and
come back as 8 kHz μ-law 20 ms frames, ready for telephony.

``synthesize_variant`` plays the borrower in tests and benchmarks: the same engine with
espeak-ng voice variants (``ko+f3``), speeds and pitches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from voicebot.audio import TELEPHONE_RATE, Audio, frames, read_wav, resample, ulaw_decode, ulaw_encode
from voicebot.errors import SynthesisError

DEFAULT_ENGINE = "voicebot.tts_worker:Pyttsx3Engine"
DEFAULT_RATE = 160
DEFAULT_PITCH = 50
#: espeak-ng voice per language (the locale's first part).
LOCALE_VOICES: Mapping[str, str] = {"ko": "ko", "zh": "cmn", "en": "en-us"}
_CACHE_VERSION = "1"


def voice_for(locale: str) -> str:
    """espeak-ng voice for a locale (``ko-KR`` → ``ko``)."""
    language = locale.split("-")[0].lower()
    try:
        return LOCALE_VOICES[language]
    except KeyError:
        raise KeyError(f"no TTS voice for locale {locale!r}; have {sorted(LOCALE_VOICES)}") from None


@dataclass(frozen=True, slots=True)
class Prompt:
    """Synthesised speech as 8 kHz μ-law bytes."""

    ulaw: bytes

    def frames(self) -> list[bytes]:
        """160-byte 20 ms frames for telephony (last one padded with silence)."""
        return frames(self.ulaw)

    @property
    def seconds(self) -> float:
        """Duration."""
        return len(self.ulaw) / TELEPHONE_RATE

    def to_audio(self) -> Audio:
        """Linear PCM at 8 kHz (for checks and for playing it into a recogniser)."""
        return Audio(samples=ulaw_decode(self.ulaw), rate=TELEPHONE_RATE)


class SpeechSynthesizer(Protocol):
    """Text → telephone audio."""

    def synthesize(self, *, text: str, voice: str, rate: int = DEFAULT_RATE) -> Prompt:
        """Speak ``text`` with ``voice`` at ``rate`` words per minute."""
        ...


@dataclass(frozen=True, slots=True)
class Variant:
    """One synthetic borrower: espeak-ng voice (with ``+variant``), speed (wpm) and pitch (0–99)."""

    voice: str
    rate: int
    pitch: int

    @property
    def label(self) -> str:
        """Short name for reports."""
        return f"{self.voice}@{self.rate}/{self.pitch}"


# --- worker process ------------------------------------------------------------------------------


class _Worker:
    """One ``voicebot.tts_worker`` subprocess speaking JSON lines."""

    def __init__(self, *, engine: str, env: Mapping[str, str] | None, start_timeout: float) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "voicebot.tts_worker", "--engine", engine],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # own process group: kill() takes espeak threads with it
            env=dict(os.environ if env is None else env),
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        self._buffer = b""
        ready = self._read_line(deadline=time.monotonic() + start_timeout)
        if not ready.get("ready"):
            self.kill()
            raise SynthesisError(f"TTS worker did not start: {ready}")

    def request(self, payload: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """Send one request and wait up to ``timeout`` seconds for its reply."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write((json.dumps(payload) + "\n").encode("utf-8"))
            self._proc.stdin.flush()
        except BrokenPipeError as exc:
            raise SynthesisError("TTS worker died") from exc
        return self._read_line(deadline=time.monotonic() + timeout)

    def _read_line(self, *, deadline: float) -> dict[str, Any]:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
            chunk = os.read(fd, 65536)
            if not chunk:
                raise SynthesisError("TTS worker exited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def alive(self) -> bool:
        """True while the process runs."""
        return self._proc.poll() is None

    def kill(self) -> None:
        """Kill the worker's process group and reap it."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it may have died on its own
                os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                pipe.close()


# --- the synthesiser -----------------------------------------------------------------------------


class EspeakSynthesizer:
    """``SpeechSynthesizer`` on pyttsx3/espeak-ng in a restartable worker, with a prompt cache."""

    def __init__(
        self,
        *,
        cache_dir: str | Path | None = None,
        timeout_s: float = 10.0,
        engine: str = DEFAULT_ENGINE,
        env: Mapping[str, str] | None = None,
        memory_items: int = 512,
    ) -> None:
        self.timeout_s = timeout_s
        self.engine = engine
        self.restarts = 0
        self._env = env
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memory: OrderedDict[tuple[str, str, int, int], Prompt] = OrderedDict()
        self._memory_items = memory_items
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="buyu-tts-")
        self._seq = 0

    def synthesize(self, *, text: str, voice: str, rate: int = DEFAULT_RATE, pitch: int = DEFAULT_PITCH) -> Prompt:
        """A prompt as 8 kHz μ-law, from memory, disk, or the engine (then cached)."""
        key = (text, voice, rate, pitch)
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        prompt = self._from_disk(key) or self._render(key)
        with self._lock:
            self._memory[key] = prompt
            while len(self._memory) > self._memory_items:
                self._memory.popitem(last=False)
        return prompt

    def synthesize_variant(self, *, text: str, variant: Variant) -> Audio:
        """Uncached full-band audio of ``text`` in a borrower variant (tests, benchmarks)."""
        return self._run_engine(text=text, voice=variant.voice, rate=variant.rate, pitch=variant.pitch)

    def close(self) -> None:
        """Stop the worker and drop temporary files."""
        with self._lock:
            if self._worker is not None:
                self._worker.kill()
                self._worker = None
        self._tmp.cleanup()

    def __enter__(self) -> EspeakSynthesizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _render(self, key: tuple[str, str, int, int]) -> Prompt:
        text, voice, rate, pitch = key
        audio = self._run_engine(text=text, voice=voice, rate=rate, pitch=pitch)
        prompt = Prompt(ulaw=ulaw_encode(resample(audio.samples, src_rate=audio.rate, dst_rate=TELEPHONE_RATE)))
        self._to_disk(key, prompt)
        return prompt

    def _run_engine(self, *, text: str, voice: str, rate: int, pitch: int) -> Audio:
        """One request to the worker; on timeout kill it (the next call restarts one)."""
        with self._lock:
            self._seq += 1
            path = Path(self._tmp.name) / f"{self._seq}.wav"
            payload = {"id": self._seq, "text": text, "voice": voice, "rate": rate, "pitch": pitch, "path": str(path)}
            worker = self._ensure_worker()
            try:
                reply = worker.request(payload, timeout=self.timeout_s)
            except (TimeoutError, SynthesisError) as exc:
                self._discard_worker()
                raise SynthesisError(f"TTS engine gave no answer within {self.timeout_s}s; worker restarted") from exc
        if not reply.get("ok"):
            raise SynthesisError(f"TTS engine failed: {reply.get('error')}")
        try:
            return read_wav(path)
        finally:
            path.unlink(missing_ok=True)

    def _ensure_worker(self) -> _Worker:
        if self._worker is None or not self._worker.alive():
            if self._worker is not None:
                self._discard_worker()
            try:
                self._worker = _Worker(engine=self.engine, env=self._env, start_timeout=max(self.timeout_s, 30.0))
            except TimeoutError as exc:
                raise SynthesisError("TTS worker did not start in time") from exc
        return self._worker

    def _discard_worker(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None
            self.restarts += 1

    def _disk_path(self, key: tuple[str, str, int, int]) -> Path | None:
        if self._cache_dir is None:
            return None
        digest = hashlib.sha256(json.dumps([_CACHE_VERSION, self.engine, *key]).encode("utf-8")).hexdigest()
        return self._cache_dir / f"{digest}.ulaw"

    def _from_disk(self, key: tuple[str, str, int, int]) -> Prompt | None:
        path = self._disk_path(key)
        if path is None or not path.is_file():
            return None
        return Prompt(ulaw=path.read_bytes())

    def _to_disk(self, key: tuple[str, str, int, int], prompt: Prompt) -> None:
        path = self._disk_path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(prompt.ulaw)
        tmp.replace(path)  # atomic: a concurrent reader never sees half a prompt


def render_prompts(*, synthesizer: SpeechSynthesizer, texts: Sequence[str], voice: str) -> dict[str, Prompt]:
    """Pre-render a pack's prompts at start-up so the first call does not wait for the engine."""
    return {text: synthesizer.synthesize(text=text, voice=voice) for text in texts}
