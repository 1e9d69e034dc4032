"""One live call on a Media Stream: the dialog driven by audio in and audio out.

The loop: ``dialog.start`` → render the prompts (TTS, cached) → send them as 20 ms μ-law frames
paced at real time a few frames ahead of Twilio's playback, each followed by a mark → when the
last mark comes back (the borrower heard the question) listen with the grammar of
``dialog.asr_state`` → the energy endpointer finds the end of the answer → Vosk's result through
``recognize.interpret`` → ``dialog.step`` → … until a transition hangs up. Each step is booked in
its own unit of work (``buyu.calls.service``: turns, actions; ``finish_call`` at the end).

Turn-taking runs on the event loop and is cheap per frame (μ-law decode + an RMS); decoding,
TTS and the database run in thread pools. A recognition starts at the detected start of speech
(with a little pre-roll), so at the end of the utterance only Vosk's final pass is left to wait for.
Frames reach the recogniser ``feed_frames`` at a time (one pool job per 100 ms, not per frame).

Early end: after ``early_end_ms`` of silence (200 ms) the turn ends at once if the decoder's partial
hypothesis is already a whole phrase of the state's grammar and the finished turn is understood with
confidence; otherwise the full ``end_silence_ms`` window (500 ms) ends it (``_decode``). Outbound
frames go out in small bursts (``send_batch_frames``) a few frames ahead of playback.

Barge-in: speech (or a key) while a prompt with ``barge_in`` is being heard → ``clear`` (Twilio
drops what it buffered), the rest of the prompts are not sent, ``Event("barge_in")`` and the turn
already being recognised continues. The disclosure has ``barge_in=False``: speech over it is
ignored and listening starts when it has been played.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from buyu.db import unit_of_work
from voicebot import dialog
from voicebot.asr import RecognitionStream, SpeechRecognizer
from voicebot.audio import FRAME_MS, Endpointer, EndpointEvent
from voicebot.locales import get_pack
from voicebot.recognize import grammar_for, interpret, open_turn
from voicebot.telephony import protocol
from voicebot.telephony.runtime import VoiceRuntime
from voicebot.tts import Prompt as Audio

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Suffix of the mark after the last prompt before the robot listens (the simulator's cue to speak).
LISTEN_MARK = ":listen"


def _frames(ms: int) -> int:
    return max(1, ms // FRAME_MS)


@dataclass(frozen=True, slots=True)
class _Early:
    """Queue item: the endpointer has heard ``early_end_ms`` of silence (at loop time ``at``)."""

    at: float


_TurnItem = bytes | _Early | None  # a frame, an early-end probe, or the end of the turn


@dataclass
class _Turn:
    """One borrower utterance being recognised: frames queue up, a task feeds Vosk in the pool."""

    queue: asyncio.Queue[_TurnItem]
    task: asyncio.Task[dict[str, Any] | None] | None = None
    frames: int = 0
    started_at: float = 0.0
    early_left: int = 0  # early-end attempts left
    early_armed: bool = True  # re-armed by speech, so one probe per pause


@dataclass
class CallStats:
    """What the session measured (kept in the runtime's turn log and on the session)."""

    turns: list[dict[str, Any]] = field(default_factory=list)
    frames_in: int = 0
    frames_out: int = 0
    clears: int = 0
    result: str | None = None


class CallSession:
    """The robot's side of one Media Stream."""

    def __init__(
        self,
        *,
        runtime: VoiceRuntime,
        call_id: int,
        locale: str,
        stream_sid: str,
        send: Callable[[str], Awaitable[None]],
        machine: bool = False,
    ) -> None:
        self.runtime, self.call_id, self.locale, self.stream_sid = runtime, call_id, locale, stream_sid
        self.machine = machine
        self._send_raw = send
        self._loop = asyncio.get_running_loop()
        listen = runtime.listen
        self.endpointer = Endpointer(end_silence_ms=listen.end_silence_ms, start_ms=listen.start_ms)
        self.preroll: deque[bytes] = deque(maxlen=_frames(listen.preroll_ms))
        self.recognizer: SpeechRecognizer | None = None
        self.stats = CallStats()
        self.voice = get_pack(locale).tts_voice
        # playback
        self._unplayed: deque[tuple[str, bool]] = deque()  # (mark name, barge-in allowed), send order
        self._playout_done = asyncio.Event()
        self._playout_done.set()
        self._play_end = 0.0  # loop time when what was sent has been played
        self._mark_seq = 0
        self._listen_after = False
        self.barged = False
        # listening
        self._mode = "idle"  # idle | playing | listening | decoding | resolved
        self._grammar = "verify"
        self._max_digits = 1
        self._turn: _Turn | None = None
        self._idle_frames = 0
        self._digits = ""
        self._digit_idle = 0
        self._events: asyncio.Queue[dialog.Event] = asyncio.Queue()
        self._phase = 0
        self._ctx: dialog.CallContext | None = None
        self._endpoint_at = 0.0
        self._resolved_at = 0.0
        self._first_frame_pending = False
        self._last_detail: dict[str, Any] | None = None
        self._ended_early = False  # the last turn ended on an early-end probe
        self.closed = False
        self._pending: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ inbound (Twilio → us)

    def on_message(self, message: protocol.StreamMessage) -> None:
        """Dispatch one inbound Media Streams message (runs on the event loop, never blocks)."""
        if message.event == "media":
            self._on_frame(message.payload)
        elif message.event == "dtmf":
            self._on_digit(message.digit)
        elif message.event == "mark":
            self._on_mark(message.name)
        elif message.event == "stop":
            self.hangup()

    def hangup(self) -> None:
        """The far end went away (``stop`` or the socket closed)."""
        if not self.closed:
            self.closed = True
            self._playout_done.set()
            self._resolve(dialog.Event("hangup"))

    def _on_frame(self, payload: bytes) -> None:
        self.stats.frames_in += 1
        self.preroll.append(payload)
        event = self.endpointer.push_ulaw(payload)
        if self._mode == "playing":
            if event is EndpointEvent.SPEECH_START and self._can_barge():
                self._barge()
            return
        if self._mode != "listening":
            return
        if self._turn is not None:
            self._feed(payload, ended=event is EndpointEvent.SPEECH_END)
            return
        if event is EndpointEvent.SPEECH_START and self.recognizer is not None:
            self._open_turn()
            return
        self._idle_frames += 1
        if self._digits:
            self._digit_idle += 1
            if self._digit_idle >= _frames(self.runtime.listen.dtmf_gap_ms):
                self._resolve(dialog.Event("dtmf", digits=self._digits))
        elif self._idle_frames >= _frames(self.runtime.listen.no_input_ms):
            self._resolve(dialog.Event("silence"))

    def _on_digit(self, digit: str) -> None:
        if self._mode == "playing" and self._can_barge():
            self._barge()
        if self._mode != "listening":
            return
        if digit == "#" and self._digits:
            self._resolve(dialog.Event("dtmf", digits=self._digits))
            return
        self._digits += digit
        self._digit_idle = 0
        if len(self._digits) >= self._max_digits:
            self._resolve(dialog.Event("dtmf", digits=self._digits))

    def _on_mark(self, name: str) -> None:
        for index, (pending, _) in enumerate(self._unplayed):
            if pending == name:
                del self._unplayed[index]
                break
        if not self._unplayed:
            self._playout_done.set()
        elif self._mode == "playing" and self.endpointer.in_speech and self._can_barge():
            self._barge()  # speech that began over the disclosure carries on over a prompt that allows it

    # ------------------------------------------------------------------ barge-in and listening

    def _can_barge(self) -> bool:
        return self._listen_after and bool(self._unplayed) and self._unplayed[0][1]

    def _barge(self) -> None:
        """The borrower talks over the prompt: flush Twilio's buffer and listen at once."""
        self.barged = True
        self.stats.clears += 1
        self._unplayed.clear()
        self._playout_done.set()
        self._spawn(self._send(protocol.clear(self.stream_sid)))
        self._start_listening()

    def _start_listening(self) -> None:
        self._phase += 1
        self._mode = "listening"
        self._idle_frames = self._digit_idle = 0
        self._digits = ""
        if self.endpointer.in_speech and self.recognizer is not None and self._turn is None:
            self._open_turn()  # speech already under way (barge-in, or over the end of the prompt)

    def _open_turn(self) -> None:
        recognizer, grammar = self.recognizer, self._grammar
        assert recognizer is not None
        queue: asyncio.Queue[_TurnItem] = asyncio.Queue()
        for frame in self.preroll:
            queue.put_nowait(frame)
        listen = self.runtime.listen
        turn = _Turn(queue=queue, frames=len(self.preroll), started_at=self._loop.time(),
                     early_left=listen.early_attempts if listen.early_end_ms > 0 else 0)
        turn.task = asyncio.create_task(self._decode_safely(recognizer, grammar, turn, self._phase))
        self._turn = turn

    def _feed(self, payload: bytes, *, ended: bool) -> None:
        turn = self._turn
        assert turn is not None
        turn.queue.put_nowait(payload)
        turn.frames += 1
        if turn.early_left and not ended:
            silent = self.endpointer.silent_ms
            if silent == 0:
                turn.early_armed = True
            elif turn.early_armed and silent >= self.runtime.listen.early_end_ms:
                turn.early_armed = False
                turn.early_left -= 1
                turn.queue.put_nowait(_Early(self._loop.time()))
        if ended or turn.frames >= _frames(self.runtime.listen.max_utterance_ms):
            self._endpoint_at = self._loop.time()
            turn.queue.put_nowait(None)
            self._mode = "decoding"  # the decode task resolves the phase
            self._turn = None

    async def _decode_safely(
        self, recognizer: SpeechRecognizer, grammar: str, turn: _Turn, phase: int
    ) -> dict[str, Any] | None:
        """``_decode``; a recogniser failure becomes an unrecognised turn (reprompt) instead of a stuck call."""
        try:
            return await self._decode(recognizer, grammar, turn, phase)
        except Exception:
            log.exception("call %s: recognition failed", self.call_id)
            if phase == self._phase and self._mode in ("listening", "decoding"):
                self._turn, self._mode = None, "listening"
                self._resolve(dialog.Event("utterance", intent="unknown", confidence=0.0))
            return None

    async def _decode(
        self, recognizer: SpeechRecognizer, grammar: str, turn: _Turn, phase: int
    ) -> dict[str, Any] | None:
        """Feed the turn's frames to Vosk in the ASR pool (``feed_frames`` at a time); at the end, the NLU
        result as an event.

        On an early-end probe, if the decoder's partial hypothesis is already a whole phrase of the
        grammar (or still empty: the level normaliser holds a short answer until the end), the turn so
        far is finished and understood at once; if that has a known intent and enough confidence, the
        turn ends there. A partial that is only the start of a phrase means the borrower paused mid
        sentence: recognition just carries on. A refused finish costs a fresh stream fed the turn so
        far (in one chunk); then the full silence window decides.
        """
        pool, queue, listen = self.runtime.asr_pool, turn.queue, self.runtime.listen
        unknown = recognizer.unknown_token

        def open_stream() -> RecognitionStream:
            return open_turn(recognizer=recognizer, locale=self.locale, state=grammar)

        def complete(stream: RecognitionStream) -> bool:
            # a strict grammar's final result is always some whole phrase, even for a cut-off sentence
            # (forced onto the nearest phrase): the streaming partial is not forced, so it tells
            partial = " ".join(stream.partial_text().split())
            return not partial or partial in grammar_for(recognizer=recognizer, locale=self.locale,
                                                         state=grammar).phrases

        def understand(stream: RecognitionStream) -> dict[str, Any]:
            assert self._ctx is not None
            return interpret(recognition=stream.finish(), state=grammar, locale=self.locale, as_of=self._ctx.as_of,
                             currency=self._ctx.currency)

        self._ended_early = False
        stream = await self._loop.run_in_executor(pool, open_stream)
        heard: list[bytes] = []  # the turn's frames, for a re-decode after a refused early end
        pending: list[bytes] = []
        while True:
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            ended, early = False, None
            for item in items:
                if item is None:
                    ended = True
                    break
                if isinstance(item, _Early):
                    early = item
                else:
                    pending.append(item)
            if pending and (ended or early is not None or len(pending) >= listen.feed_frames):
                chunk = b"".join(pending)
                heard.append(chunk)
                pending = []
                await self._loop.run_in_executor(pool, stream.accept_ulaw, chunk)
            if ended:
                break
            if early is None or not await self._loop.run_in_executor(pool, complete, stream):
                continue
            result = await self._loop.run_in_executor(pool, understand, stream)
            if phase != self._phase or self._mode not in ("listening", "decoding"):
                return None
            if _early_ok(result, min_confidence=listen.early_min_confidence, unknown_token=unknown):
                if self._turn is turn:
                    self._turn = None
                self._endpoint_at, self._ended_early = early.at, True
                self._mode = "listening"
                self._resolve(_utterance(result), detail=result)
                return result
            stream = await self._loop.run_in_executor(pool, open_stream)
            replay = b"".join(heard)
            await self._loop.run_in_executor(pool, stream.accept_ulaw, replay)
        result = await self._loop.run_in_executor(pool, understand, stream)
        if phase != self._phase or self._mode != "decoding":
            return None  # the phase was resolved otherwise (keys, hang-up) while this turn decoded
        self._mode = "listening"
        self._resolve(_utterance(result), detail=result)
        return result

    def _resolve(self, event: dialog.Event, *, detail: dict[str, Any] | None = None) -> None:
        """Hand the dialog the outcome of this listening phase: one per phase, or a hang-up at any time."""
        if event.kind != "hangup":
            if self._mode != "listening":
                return
            self._mode = "resolved"
        if self._turn is not None:  # keys or a timeout won over a turn still being decoded: drop it
            self._turn.queue.put_nowait(None)
            self._turn = None
        self._resolved_at = self._loop.time()
        self._last_detail = detail
        self._events.put_nowait(event)

    # ------------------------------------------------------------------ outbound (us → Twilio)

    async def _send(self, text: str) -> None:
        if self.closed:
            return
        try:
            await self._send_raw(text)
        except Exception:  # the socket is gone: treat as the far end hanging up
            self.hangup()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _render(self, prompts: Sequence[dialog.Prompt]) -> list[asyncio.Future[Audio]]:
        """Start rendering every prompt, in order, in one pool job (the first is ready soonest)."""
        futures: list[asyncio.Future[Audio]] = [self._loop.create_future() for _ in prompts]
        runtime, voice, loop = self.runtime, self.voice, self._loop

        def job() -> None:
            for prompt, future in zip(prompts, futures, strict=True):
                try:
                    audio = runtime.synthesize(text=prompt.text, voice=voice)
                except Exception as exc:
                    loop.call_soon_threadsafe(_set_exception, future, exc)
                else:
                    loop.call_soon_threadsafe(_set_result, future, audio)

        if prompts:
            self._loop.run_in_executor(self.runtime.io_pool, job)
        return futures

    async def _play(self, prompts: Sequence[dialog.Prompt], *, listen_after: bool) -> None:
        """Send the prompts' audio paced at real time (``prebuffer_frames`` ahead), a mark after each.

        Frame n is due to play at ``play_start + n·dt`` and is sent ``prebuffer_frames`` earlier;
        if sending fell behind the playback clock (the buffer ran dry, or a prompt was still being
        rendered) the clock restarts at the frame being sent, so the buffer refills.
        """
        self._mode, self._listen_after, self.barged = "playing", listen_after, False
        dt = FRAME_MS / 1000 / self.runtime.speed
        ahead = self.runtime.prebuffer_frames
        linger = (max(1, min(self.runtime.send_batch_frames, ahead)) - 1) * dt  # wake once per batch of frames
        play_start: float | None = None
        sent = 0
        for index, (prompt, rendered) in enumerate(zip(prompts, self._render(prompts), strict=True)):
            audio = await rendered
            last = index == len(prompts) - 1
            name = f"{self._mark_seq}:{prompt.key}" + (LISTEN_MARK if last and listen_after else "")
            self._mark_seq += 1
            self._unplayed.append((name, prompt.barge_in))
            self._playout_done.clear()
            for frame in audio.frames():
                if self.barged or self.closed:
                    return
                now = self._loop.time()
                if play_start is None or now > play_start + sent * dt:
                    play_start = now - sent * dt
                due = play_start + (sent - ahead) * dt
                if due > now:
                    await asyncio.sleep(due - now + linger)
                    if self.barged or self.closed:
                        return
                await self._send(protocol.media(self.stream_sid, frame))
                if self._first_frame_pending:
                    self._note_first_frame()
                sent += 1
                self.stats.frames_out += 1
            await self._send(protocol.mark(self.stream_sid, name))
        self._play_end = (play_start or self._loop.time()) + sent * dt

    def _note_first_frame(self) -> None:
        """Reaction time of the last turn: its endpoint (or keys/timeout) → the first answering frame."""
        self._first_frame_pending = False
        if self.stats.turns:
            since = self._endpoint_at if self.stats.turns[-1]["kind"] == "utterance" else self._resolved_at
            self.stats.turns[-1]["respond_s"] = round(self._loop.time() - since, 4)

    async def _await_playout(self) -> None:
        """Wait until Twilio reports every mark played (or a hang-up)."""
        if self.closed or self.barged:
            return
        slack = max(0.0, self._play_end - self._loop.time()) + 5.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._playout_done.wait(), timeout=slack)

    # ------------------------------------------------------------------ the conversation

    async def run(self) -> str:
        """Drive the call to its end; returns the result code booked by ``finish_call``."""
        from buyu.calls import service as calls

        self.recognizer = await self._loop.run_in_executor(self.runtime.io_pool, self.runtime.recognizer_for,
                                                           self.locale)
        ctx = await self._db(lambda s: calls.call_context(session=s, call_id=self.call_id, locale=self.locale))
        self._ctx = ctx
        result = "failed"
        try:
            result = await self._converse(ctx)
        except Exception:
            log.exception("call %s failed", self.call_id)
        finally:
            self._mode = "idle"
            self.stats.result = result
            await self._db(lambda s: calls.finish_call(session=s, call_id=self.call_id, result=result,
                                                       at=self.runtime.clock(), answered_at=None,
                                                       recording_ref=None))
        return result

    async def _converse(self, ctx: dialog.CallContext) -> str:
        """Prompts out, a turn in, the next step — until a transition hangs up; its result code."""
        if self.machine:
            transition = dialog.step(dialog.DialogState(), dialog.Event("machine"), ctx)
        else:
            transition = dialog.start(ctx)
        heard: dialog.Event | None = None
        while True:
            booking = asyncio.ensure_future(self._book(heard, transition))
            listen = next((a for a in transition.actions if a.kind == "listen"), None)
            if listen is not None:
                self._prepare_listen(transition.state, listen)  # before playing: a barge-in listens at once
            await self._play(transition.prompts, listen_after=listen is not None)
            if listen is None:
                await self._await_playout()
                await booking
                return _result_code(transition)
            if self.barged:
                transition = dialog.step(transition.state, dialog.Event("barge_in"), ctx)
            await booking
            if not self.barged:
                await self._await_playout()
                self._start_listening()
            heard = await self._events.get()
            self._log_turn(heard)
            self._first_frame_pending = True
            transition = dialog.step(transition.state, heard, ctx)

    def _prepare_listen(self, state: dialog.DialogState, listen: dialog.Action) -> None:
        self._grammar = dialog.asr_state(state)
        self._max_digits = int(listen.data.get("max_digits", 1) or 1)

    def _log_turn(self, event: dialog.Event) -> None:
        entry: dict[str, Any] = {"call_id": self.call_id, "kind": event.kind, "intent": event.intent,
                                 "text": event.text, "digits": event.digits, "grammar": self._grammar,
                                 "early_end": event.kind == "utterance" and self._ended_early}
        detail = self._last_detail
        if detail and "asr" in detail:
            entry["audio_seconds"] = detail["asr"]["audio_seconds"]
            entry["decode_seconds"] = detail["asr"]["decode_seconds"]
        self.stats.turns.append(entry)
        self.runtime.log_turn(entry)

    async def _book(self, heard: dialog.Event | None, transition: dialog.Transition) -> None:
        """One unit of work per step: the borrower's turn, the robot's prompts, the dialog's actions."""
        from buyu.calls import service as calls

        at = self.runtime.clock()

        def write(session: Session) -> None:
            if heard is not None and heard.kind in ("utterance", "dtmf"):
                text = heard.text if heard.kind == "utterance" else f"[dtmf] {heard.digits}"
                calls.record_turn(session=session, call_id=self.call_id, speaker="borrower", text=text,
                                  intent=heard.intent, confidence=heard.confidence if heard.kind == "utterance"
                                  else None, at=at)
            for prompt in transition.prompts:  # the prompt key travels in the mark names, not the transcript
                calls.record_turn(session=session, call_id=self.call_id, speaker="robot", text=prompt.text,
                                  intent=None, confidence=None, at=at)
            calls.apply_actions(session=session, call_id=self.call_id, actions=transition.actions, at=at)

        await self._db(write)

    async def _db(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in its own unit of work in the I/O pool."""
        engine = self.runtime.engine

        def run() -> T:
            with unit_of_work(engine) as session:
                return work(session)

        return await self._loop.run_in_executor(self.runtime.io_pool, run)

    async def drain(self) -> None:
        """Wait for spawned sends (clear) to go out."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


def _utterance(result: dict[str, Any]) -> dialog.Event:
    return dialog.Event("utterance", intent=str(result.get("intent") or "unknown"),
                        slots=dict(result.get("slots") or {}), confidence=float(result.get("confidence") or 0.0),
                        text=str(result.get("text", "")))


def _early_ok(result: dict[str, Any], *, min_confidence: float, unknown_token: str | None) -> bool:
    """A turn may end early on a whole grammar phrase (no garbage word) understood with confidence."""
    text = str(result.get("text") or "")
    intent = str(result.get("intent") or "unknown")
    return (bool(text.strip()) and intent != "unknown" and float(result.get("confidence") or 0.0) >= min_confidence
            and (unknown_token is None or unknown_token not in text.split()))


def _set_result(future: asyncio.Future[Audio], value: Audio) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Audio], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _result_code(transition: dialog.Transition) -> str:
    for action in transition.actions:
        if action.kind == "result":
            return str(action.data.get("code", "failed"))
    return "hangup"

