"""What the telephony endpoints share in one server process: database, speech engines, pools, timing.

Heavy work never runs on the event loop: Vosk decoding goes to ``asr_pool`` (Kaldi releases the
GIL while decoding), database writes and TTS renders to ``io_pool``, so one slow call cannot
stall the audio of the others.
"""

from __future__ import annotations

import copy
import logging
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from voicebot.asr import DEFAULT_WARPS, SpeechRecognizer, VoskRecognizer
from voicebot.errors import ModelError
from voicebot.tts import EspeakSynthesizer, Prompt, SpeechSynthesizer

log = logging.getLogger(__name__)

#: Dialog grammars loaded when a locale's recogniser is first used (so no call waits for them).
GRAMMAR_STATES = ("verify", "negotiate", "confirm")


def utc_now() -> datetime:
    """Wall clock at the telephony edge (calls happen now; business dates come from the context)."""
    return datetime.now(UTC)


@dataclass
class ListenSettings:
    """Turn-taking: endpointing, no-input and keypad timing (in audio time: counted in 20 ms frames)."""

    end_silence_ms: int = 500  # silence that ends an utterance
    start_ms: int = 60  # voiced audio that starts one
    no_input_ms: int = 5000  # nothing said after the question → "silence"
    max_utterance_ms: int = 12000  # a turn longer than this is cut and decoded
    dtmf_gap_ms: int = 2500  # keypad entry ends after this pause (or at max_digits, or '#')
    preroll_ms: int = 300  # audio before the detected start that is decoded with the turn
    #: early end: after this much silence the turn so far is decoded, and if it is one whole phrase of the
    #: state's grammar understood with at least ``early_min_confidence`` the turn ends there (0 = off);
    #: otherwise recognition carries on and ``end_silence_ms`` decides
    early_end_ms: int = 200
    early_min_confidence: float = 0.6
    early_attempts: int = 2  # per turn: each refused attempt costs a re-decode of the turn so far
    #: frames handed to the recogniser per pool job (100 ms): per-call front-end and thread hand-off costs
    #: are paid once per batch instead of once per 20 ms frame (the front end is chunking-invariant)
    feed_frames: int = 5


@dataclass
class VoiceRuntime:
    """Shared state of the voice endpoints (one per server process)."""

    engine: Engine
    auth_token: str
    public_base_url: str
    synthesizer: SpeechSynthesizer
    recognizer_for: Callable[[str], SpeechRecognizer | None]
    account_sid: str = ""
    listen: ListenSettings = field(default_factory=ListenSettings)
    #: outbound pacing: audio is sent at ``speed`` × real time (1.0 live; tests speed calls up)
    speed: float = 1.0
    #: frames sent ahead of the playback clock (Twilio buffers them); 8 = 160 ms of slack
    prebuffer_frames: int = 8
    #: the sender wakes once per this many frames and sends those due together (fewer timer wake-ups per
    #: call); the far end's buffer then never holds fewer than ``prebuffer_frames - send_batch_frames``
    send_batch_frames: int = 4
    clock: Callable[[], datetime] = utc_now
    asr_pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="asr"))
    io_pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(8, thread_name_prefix="voice-io"))
    #: per-turn measurements (decode time, audio seconds, reaction time) for benchmarks and logs
    turn_log: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _inflight: dict[tuple[str, str], Future[Prompt]] = field(default_factory=dict)

    def synthesize(self, *, text: str, voice: str) -> Prompt:
        """TTS for a prompt; simultaneous calls asking for the same text share one render (then the cache)."""
        key = (text, voice)
        with self._lock:
            pending = self._inflight.get(key)
            if pending is None:
                self._inflight[key] = mine = Future[Prompt]()
        if pending is not None:
            return pending.result()
        try:
            audio = self.synthesizer.synthesize(text=text, voice=voice)
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            mine.set_result(audio)
            return audio
        finally:
            with self._lock:
                del self._inflight[key]

    def log_turn(self, entry: dict[str, Any]) -> None:
        """Keep one turn's measurements (bounded)."""
        with self._lock:
            self.turn_log.append(entry)
            del self.turn_log[:-10_000]

    def close(self) -> None:
        """Stop the pools (and the TTS worker when it is ours)."""
        self.asr_pool.shutdown(wait=False, cancel_futures=True)
        self.io_pool.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.synthesizer, "close", None)
        if callable(close):
            close()


#: Decoder lanes per turn (1 = unwarped only, up to 1 + len(DEFAULT_WARPS)); unset → the recogniser's default.
LANES_ENV = "BUYU_ASR_LANES"
_READY: dict[tuple[str, int | None], SpeechRecognizer] = {}
_READY_LOCK = threading.Lock()


def asr_lanes(env: Mapping[str, str] | None = None) -> int | None:
    """``$BUYU_ASR_LANES`` as a lane count (None when unset); a bad value is refused."""
    raw = (os.environ if env is None else env).get(LANES_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 1 + len(DEFAULT_WARPS):
        raise ValueError(f"{LANES_ENV} must be 1..{1 + len(DEFAULT_WARPS)}, got {raw!r}")
    return int(raw)


def with_lanes(recognizer: SpeechRecognizer, lanes: int | None) -> SpeechRecognizer:
    """The recogniser decoding each turn in ``lanes`` lanes (the unwarped one first); models are shared.

    Fewer lanes cut ASR CPU per call about in proportion, at some intent accuracy (see ``DEFAULT_WARPS``).
    """
    if lanes is None or not isinstance(recognizer, VoskRecognizer):
        return recognizer
    out = copy.copy(recognizer)
    out.warps = DEFAULT_WARPS[: lanes - 1]
    return out


def default_recognizer_for(locale: str, *, lanes: int | None = None) -> SpeechRecognizer | None:
    """The process-wide recogniser of a locale with its dialog grammars loaded; None → DTMF only.

    ``lanes`` (else ``$BUYU_ASR_LANES``, else the recogniser's default) sets the decoder lanes per turn."""
    from voicebot.recognize import open_turn, recognizer_for

    lanes = lanes if lanes is not None else asr_lanes()
    key = (locale, lanes)
    with _READY_LOCK:
        ready = _READY.get(key)
    if ready is not None:  # every call asks: the warm-up below (three Kaldi decoders) is paid once
        return ready
    try:
        recognizer = with_lanes(recognizer_for(locale=locale), lanes)
    except ModelError:
        return None
    for state in GRAMMAR_STATES:  # the first stream of a grammar loads its model (seconds): not during a call
        open_turn(recognizer=recognizer, locale=locale, state=state).finish()
    with _READY_LOCK:
        return _READY.setdefault(key, recognizer)


def runtime_from_settings(*, engine: Engine, **overrides: Any) -> VoiceRuntime:
    """A runtime configured from ``buyu.config.Settings`` (auth token, public URL)."""
    from buyu.config import get_settings

    settings = get_settings()
    values: dict[str, Any] = {
        "engine": engine,
        "auth_token": settings.twilio_auth_token,
        "account_sid": settings.twilio_account_sid,
        "public_base_url": settings.public_base_url,
        "synthesizer": EspeakSynthesizer(timeout_s=15.0),
        "recognizer_for": default_recognizer_for,
    }
    values.update(overrides)
    return VoiceRuntime(**values)


def local_auth_token() -> str:
    """A throw-away token for a loopback server nobody else can sign for."""
    return secrets.token_hex(16)
