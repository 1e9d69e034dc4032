"""Twilio's side of a robot call, played on loopback against our own server (tests, CLI, bench).

``simulate_call`` does what Twilio does for an outbound call whose webhooks point at us: it posts
the signed status callbacks (initiated, ringing, answered, completed) and the signed answer
webhook (with ``AnsweredBy`` from answering-machine detection), reads the TwiML, opens the
``<Stream>`` WebSocket with a signed handshake and speaks the Media Streams protocol: a
``connected`` and a ``start`` message, then one 20 ms μ-law frame of the callee's line every
20 ms (line noise between utterances), ``dtmf`` for keys, and for the robot's audio a playback
clock: marks are answered when the audio before them has been played, ``clear`` drops the
buffer and answers pending marks at once, as Twilio does.

The callee follows a script (``parse_script``): each item waits for the robot to finish a question
(a mark whose name ends in ``:listen`` has been played), pauses, then says a sentence
synthesised with espeak-ng (``voicebot.tts``), presses keys (``#1985`` or plain digits), or stays
silent (an empty item). ``!sentence`` talks over the robot's next prompt (barge-in).

A **late frame** is an outbound frame that reaches the callee after the moment it must start
playing. Playback is Twilio's: a robot turn (its frames from the first one after the callee's
last turn up to the mark before the robot listens) plays back to back, each frame 20 ms
(speed-adjusted) after the previous one or on arrival if the buffer is empty; a frame other than
the turn's first that arrives when the previous one has already finished playing is late — the
callee heard a gap. The robot sends a few frames ahead, so a late frame means its sender (or the
next prompt's synthesis) stalled longer than that buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from voicebot.audio import (
    FRAME_MS,
    TELEPHONE_RATE,
    ULAW_FRAME_BYTES,
    frame_dbfs,
    frames,
    resample,
    telephone_band,
    ulaw_encode,
)
from voicebot.telephony import protocol
from voicebot.telephony.twilio_side import FormParams, sign
from voicebot.tts import EspeakSynthesizer, Variant

#: Mark-name suffix the robot puts on the last prompt before it listens.
LISTEN_SUFFIX = ":listen"
DEFAULT_VOICE = Variant("ko", 165, 50)
LEAD_MS = 500


@dataclass(frozen=True, slots=True)
class Turn:
    """One step of the callee's script."""

    kind: str  # "say" | "barge" | "dtmf" | "silence"
    text: str = ""
    digits: str = ""


def parse_script(script: str) -> tuple[Turn, ...]:
    """``"네;#1985;!전화 하지 마세요;"`` → say, keys, barge-in, silence (items separated by ``;``)."""
    turns = []
    for raw in script.split(";"):
        item = raw.strip()
        if not item or item in ("-", "(silence)"):
            turns.append(Turn("silence"))
        elif item.startswith("#") or item.isdigit():
            digits = item.lstrip("#")
            if not digits or any(c not in "0123456789*#" for c in digits):
                raise ValueError(f"bad keypad item {item!r}")
            turns.append(Turn("dtmf", digits=digits))
        elif item.startswith("!"):
            turns.append(Turn("barge", text=item[1:].strip()))
        else:
            turns.append(Turn("say", text=item))
    return tuple(turns)


@dataclass(frozen=True, slots=True)
class Utterance:
    """A sentence as the callee's line carries it: μ-law frames and where the speech in them ends."""

    text: str
    frames: tuple[bytes, ...]
    speech_end: int  # index of the first frame after the last one with speech


def noise_frames(*, dbfs: float, count: int = 50, seed: int = 1) -> tuple[bytes, ...]:
    """Line noise at ``dbfs`` (RMS) as μ-law frames, looped between utterances."""
    rng = np.random.default_rng(seed)
    samples = rng.standard_normal(count * ULAW_FRAME_BYTES) * 32768 * 10 ** (dbfs / 20)
    return tuple(frames(ulaw_encode(np.clip(samples, -32768, 32767).astype(np.int16))))


def render_utterance(
    *, text: str, synthesizer: EspeakSynthesizer, voice: Variant = DEFAULT_VOICE, speech_dbfs: float = -26.0,
    noise_dbfs: float = -51.0, seed: int = 0,
) -> Utterance:
    """Synthesise ``text`` as a borrower says it on a phone: telephone band at 8 kHz, active speech at
    ``speech_dbfs``, white line noise at ``noise_dbfs``, μ-law. Speech ends after the last frame of the
    clean signal above -40 dBFS (the endpointer's floor threshold)."""
    audio = synthesizer.synthesize_variant(text=text, variant=voice)
    narrow = resample(telephone_band(audio.samples, rate=audio.rate), src_rate=audio.rate, dst_rate=TELEPHONE_RATE)
    speech = narrow.astype(np.float64)
    active = speech[np.abs(speech) > 0.05 * (np.abs(speech).max() or 1.0)]
    power = float(np.sqrt(np.mean(active**2))) if active.size else 1.0
    # a lead of line noise longer than the robot's pre-roll: what it decodes is this utterance's own
    # seeded audio whatever the moment it starts, so a given script is recognised the same way each time
    lead = np.zeros(TELEPHONE_RATE * LEAD_MS // 1000)
    clean = np.concatenate([lead, speech * (32768 * 10 ** (speech_dbfs / 20) / power)])
    rng = np.random.default_rng(seed)
    line = clean + rng.standard_normal(len(clean)) * 32768 * 10 ** (noise_dbfs / 20)
    encoded = ulaw_encode(np.clip(np.rint(line), -32768, 32767).astype(np.int16))
    step = ULAW_FRAME_BYTES
    voiced = [i for i in range(0, len(clean), step) if frame_dbfs(clean[i : i + step]) > -40.0]
    speech_end = (voiced[-1] // step + 1) if voiced else 0
    return Utterance(text=text, frames=tuple(frames(encoded)), speech_end=speech_end)


@dataclass
class Callee:
    """The person (or machine) who answers: a script, a voice, and how they take turns."""

    turns: tuple[Turn, ...]
    voice: Variant = DEFAULT_VOICE
    answered_by: str = "human"  # AMD result: human | machine_end_beep | …; "" = AMD off
    gap_ms: int = 350  # pause after the robot's question before answering
    barge_after_ms: int = 1500  # how far into a prompt a barge-in starts
    speech_dbfs: float = -26.0  # active speech level on the line
    noise_dbfs: float = -51.0  # line noise, between and under utterances (25 dB SNR)
    utterances: dict[str, Utterance] = field(default_factory=dict)

    @classmethod
    def from_script(cls, script: str, **options: Any) -> Callee:
        """A callee following ``parse_script(script)``."""
        return cls(turns=parse_script(script), **options)

    def prepare(self, synthesizer: EspeakSynthesizer) -> Callee:
        """Render every sentence up front, so synthesis never disturbs the call's timing."""
        for turn in self.turns:
            if turn.text and turn.text not in self.utterances:
                self.utterances[turn.text] = render_utterance(
                    text=turn.text, synthesizer=synthesizer, voice=self.voice, speech_dbfs=self.speech_dbfs,
                    noise_dbfs=self.noise_dbfs, seed=len(self.utterances),
                )
        return self


@dataclass
class PromptHeard:
    """One robot prompt as the callee's phone received it."""

    mark: str = ""
    frames: int = 0
    late_frames: int = 0
    cleared: bool = False
    first_at: float = 0.0


@dataclass
class CallReport:
    """What the simulator saw of a call (times in seconds since the answer)."""

    call_id: int
    call_sid: str
    stream_sid: str = ""
    answered_by: str = ""
    twiml: str = ""
    webhook_status: dict[str, int] = field(default_factory=dict)
    prompts: list[PromptHeard] = field(default_factory=list)
    marks_played: list[str] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    frames_received: int = 0
    frames_sent: int = 0
    late_frames: int = 0
    turns: list[dict[str, Any]] = field(default_factory=list)
    closed_by: str = ""
    duration_s: float = 0.0
    record: dict[str, Any] | None = None  # the call's database record, when the caller fetched it

    @property
    def audio_seconds(self) -> float:
        """Robot audio received."""
        return self.frames_received * FRAME_MS / 1000

    @property
    def latencies(self) -> list[float]:
        """End of each borrower utterance → first robot frame after it."""
        return [t["latency_s"] for t in self.turns if t.get("latency_s") is not None]

    def prompt_keys(self) -> list[str]:
        """The prompt keys the robot sent, in order (from the mark names ``seq:key[:listen]``)."""
        return [p.mark.split(":")[1] for p in self.prompts if p.mark.count(":") >= 1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        out = asdict(self)
        out["audio_seconds"] = round(self.audio_seconds, 3)
        out["latencies"] = self.latencies
        out["prompt_keys"] = self.prompt_keys()
        return out


class _Line:
    """The live WebSocket half of a simulated call."""

    def __init__(self, *, ws: ClientConnection, report: CallReport, callee: Callee, speed: float) -> None:
        self.ws, self.report, self.callee = ws, report, callee
        self.loop = asyncio.get_running_loop()
        self.dt = FRAME_MS / 1000 / speed
        self.speed = speed
        self.t0 = self.loop.time()
        self.sequence = 2  # connected/start used 1
        self.stream_sid = report.stream_sid
        self.noise = noise_frames(dbfs=callee.noise_dbfs)
        self.speaking: deque[bytes] = deque()
        self.speech_end_left = -1  # frames of the current utterance until its speech ends
        self.spoken = asyncio.Event()
        self.play_end = 0.0
        self.pending_marks: list[tuple[str, asyncio.TimerHandle]] = []
        self.current: PromptHeard | None = None
        self.cues = 0
        self.cue = asyncio.Condition()
        self.robot_turn = False  # inside a robot turn (first frame seen, its listen mark not yet)
        self.heard_before = 0  # prompts received before the callee's last turn ended
        self.awaiting_reply: dict[str, Any] | None = None

    def now(self) -> float:
        return self.loop.time() - self.t0

    def seq(self) -> int:
        self.sequence += 1
        return self.sequence

    # --- the callee's microphone: one frame every 20 ms, speech or line noise
    async def send_audio(self) -> None:
        start, n = self.loop.time(), 0
        while True:
            if self.speaking:
                frame = self.speaking.popleft()
                self.speech_end_left -= 1
                if self.speech_end_left == 0:
                    self._speech_ended()
                if not self.speaking:
                    self.spoken.set()
            else:
                frame = self.noise[n % len(self.noise)]
            await self.ws.send(protocol.inbound_media(stream_sid=self.stream_sid, payload=frame, sequence=self.seq(),
                                                      chunk=n + 1, timestamp_ms=n * FRAME_MS))
            n += 1
            self.report.frames_sent = n
            delay = start + n * self.dt - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    def _speech_ended(self) -> None:
        assert self.awaiting_reply is not None
        self.awaiting_reply["speech_end_s"] = round(self.now(), 4)
        self.awaiting_reply["_end_loop"] = self.loop.time()

    # --- the callee's earpiece: Twilio's playback buffer
    async def receive(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                message = protocol.parse(raw)
                if message.event == "media":
                    self._on_media()
                elif message.event == "mark":
                    self._on_mark(message.name)
                elif message.event == "clear":
                    self._on_clear()

    def _on_media(self) -> None:
        now = self.loop.time()
        self.report.frames_received += 1
        reply = self.awaiting_reply
        if reply is not None and "_end_loop" in reply and "latency_s" not in reply:
            reply["latency_s"] = round((now - reply["_end_loop"]) * self.speed, 4)
        if self.current is None:
            self.current = PromptHeard(first_at=round(self.now(), 4))
            self.report.prompts.append(self.current)
        if not self.robot_turn:
            self.robot_turn = True  # the first frame of a robot turn starts the playback clock
        elif now > self.play_end:  # the buffer ran dry mid-turn: this frame should already be playing
            self.current.late_frames += 1
            self.report.late_frames += 1
        self.current.frames += 1
        self.play_end = max(self.play_end, now) + self.dt

    def _on_mark(self, name: str) -> None:
        if name.endswith(LISTEN_SUFFIX):
            self.robot_turn = False
        if self.current is not None:
            self.current.mark = name
        else:  # a mark with no audio before it
            self.report.prompts.append(PromptHeard(mark=name, first_at=round(self.now(), 4)))
        self.current = None
        handle = self.loop.call_at(max(self.play_end, self.loop.time()), self._played, name, True)
        self.pending_marks.append((name, handle))

    def _played(self, name: str, heard: bool) -> None:
        self.pending_marks = [(n, h) for n, h in self.pending_marks if n != name]
        self.report.marks_played.append(name)
        self.loop.create_task(self._send_quietly(protocol.mark_played(stream_sid=self.stream_sid, name=name,
                                                                      sequence=self.seq())))
        if heard and name.endswith(LISTEN_SUFFIX):
            self.loop.create_task(self._cue())

    async def _cue(self) -> None:
        async with self.cue:
            self.cues += 1
            self.cue.notify_all()

    def _on_clear(self) -> None:
        self.robot_turn = False
        self.report.clears.append(round(self.now(), 4))
        if self.current is not None:
            self.current.cleared = True
            self.current = None
        for prompt in self.report.prompts:
            if any(prompt.mark == name for name, _ in self.pending_marks):
                prompt.cleared = True
        self.play_end = self.loop.time()
        for name, handle in list(self.pending_marks):
            handle.cancel()
            self._played(name, heard=False)

    async def _send_quietly(self, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(text)

    # --- the callee's script
    async def follow(self, turns: Sequence[Turn]) -> None:
        used = 0
        for turn in turns:
            if turn.kind == "barge":  # talk over the robot's next turn, some way into its first prompt
                while len(self.report.prompts) <= self.heard_before:
                    await asyncio.sleep(0.005)
                await asyncio.sleep(self.callee.barge_after_ms / 1000 / self.speed)
                await self._say(turn)
                continue
            async with self.cue:
                await self.cue.wait_for(lambda: self.cues > used)  # noqa: B023 - read at once
                used = self.cues
            if turn.kind == "silence":
                self.report.turns.append({"kind": "silence", "at_s": round(self.now(), 4)})
                self.heard_before = len(self.report.prompts)
                continue
            await asyncio.sleep(self.callee.gap_ms / 1000 / self.speed)
            if turn.kind == "dtmf":
                await self._press(turn.digits)
            else:
                await self._say(turn)

    async def _say(self, turn: Turn) -> None:
        utterance = self.callee.utterances[turn.text]
        entry: dict[str, Any] = {"kind": turn.kind, "text": turn.text, "at_s": round(self.now(), 4)}
        self.report.turns.append(entry)
        self.awaiting_reply = entry
        self.spoken.clear()
        self.speech_end_left = utterance.speech_end
        self.heard_before = len(self.report.prompts)  # the robot's reply to this turn comes after
        self.speaking.extend(utterance.frames)
        await self.spoken.wait()

    async def _press(self, digits: str) -> None:
        entry: dict[str, Any] = {"kind": "dtmf", "digits": digits, "at_s": round(self.now(), 4)}
        self.report.turns.append(entry)
        for index, digit in enumerate(digits):
            if index == len(digits) - 1:
                self.heard_before = len(self.report.prompts)
                entry["speech_end_s"], entry["_end_loop"] = round(self.now(), 4), self.loop.time()
                self.awaiting_reply = entry
            await self.ws.send(protocol.dtmf(stream_sid=self.stream_sid, digit=digit, sequence=self.seq()))
            await asyncio.sleep(0.15 / self.speed)


def _stream_of(twiml: str) -> tuple[str, dict[str, str]] | None:
    """The ``<Connect><Stream url>`` of a TwiML answer and its parameters (None: no stream)."""
    root = ET.fromstring(twiml)
    stream = root.find("./Connect/Stream")
    if stream is None:
        return None
    params = {p.attrib["name"]: p.attrib.get("value", "") for p in stream.findall("Parameter")}
    return stream.attrib["url"], params


async def _post(
    client: httpx.AsyncClient, *, url: str, auth_token: str, params: dict[str, str], sign_it: bool = True
) -> httpx.Response:
    form = FormParams(list(params.items()))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign_it:
        headers["X-Twilio-Signature"] = sign(auth_token=auth_token, url=url, params=form)
    return await client.post(url, content=form.encode(), headers=headers)


async def simulate_call(
    *,
    base_url: str,
    auth_token: str,
    call_id: int,
    locale: str,
    callee: Callee,
    call_sid: str | None = None,
    account_sid: str = "AC" + "0" * 32,
    to: str = "+821000000000",
    from_: str = "+821099999999",
    speed: float = 1.0,
    max_seconds: float = 240.0,
) -> CallReport:
    """Play Twilio for one call against the server at ``base_url``; what the callee saw and heard."""
    from voicebot.telephony.providers import answer_url, status_url

    sid = call_sid or "CA" + uuid.uuid4().hex
    report = CallReport(call_id=call_id, call_sid=sid, answered_by=callee.answered_by)
    common = {"AccountSid": account_sid, "ApiVersion": "2010-04-01", "CallSid": sid, "Direction": "outbound-api",
              "From": from_, "To": to, "Called": to, "Caller": from_}
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30.0) as client:
        status = status_url(base_url=base_url, call_id=call_id)
        for step in ("initiated", "ringing"):
            response = await _post(client, url=status, auth_token=auth_token, params={**common, "CallStatus": step})
            report.webhook_status[step] = response.status_code
        answer = {**common, "CallStatus": "in-progress"}
        if callee.answered_by:
            answer["AnsweredBy"] = callee.answered_by
        response = await _post(client, url=answer_url(base_url=base_url, call_id=call_id, locale=locale),
                               auth_token=auth_token, params=answer)
        report.webhook_status["answer"] = response.status_code
        report.twiml = response.text
        response = await _post(client, url=status, auth_token=auth_token, params={**answer})
        report.webhook_status["in-progress"] = response.status_code
        stream = _stream_of(report.twiml) if report.webhook_status["answer"] == 200 else None
        if stream is not None:
            await _media_stream(stream=stream, report=report, callee=callee, auth_token=auth_token,
                                account_sid=account_sid, speed=speed, max_seconds=max_seconds)
        report.duration_s = round(time.monotonic() - started, 3)
        done = {**common, "CallStatus": "completed", "CallDuration": str(max(1, round(report.duration_s)))}
        if callee.answered_by:
            done["AnsweredBy"] = callee.answered_by
        response = await _post(client, url=status, auth_token=auth_token, params=done)
        report.webhook_status["completed"] = response.status_code
    for turn in report.turns:
        turn.pop("_end_loop", None)
    return report


async def _media_stream(
    *, stream: tuple[str, dict[str, str]], report: CallReport, callee: Callee, auth_token: str, account_sid: str,
    speed: float, max_seconds: float,
) -> None:
    url, parameters = stream
    report.stream_sid = "MZ" + uuid.uuid4().hex
    headers = {"X-Twilio-Signature": sign(auth_token=auth_token, url=url)}
    async with connect(url, additional_headers=headers, max_size=2**20) as ws:
        await ws.send(protocol.connected())
        await ws.send(protocol.start(stream_sid=report.stream_sid, call_sid=report.call_sid, account_sid=account_sid,
                                     parameters=parameters, sequence=1))
        line = _Line(ws=ws, report=report, callee=callee, speed=speed)
        receiver = asyncio.create_task(line.receive())
        workers = [asyncio.create_task(line.send_audio()), asyncio.create_task(line.follow(callee.turns))]
        try:
            await asyncio.wait_for(asyncio.shield(receiver), timeout=max_seconds)
            report.closed_by = "robot"
        except TimeoutError:
            report.closed_by = "timeout"
            with contextlib.suppress(ConnectionClosed):
                await ws.send(protocol.stop(stream_sid=report.stream_sid, call_sid=report.call_sid,
                                            account_sid=account_sid, sequence=line.seq()))
        finally:
            for task in [*workers, receiver]:
                task.cancel()
            for task in [*workers, receiver]:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
        if report.closed_by != "robot":
            return
    for worker in workers:  # the robot hanging up mid-frame is normal; anything else is the simulator's bug
        failure = worker.exception() if worker.done() and not worker.cancelled() else None
        if failure is not None and not isinstance(failure, ConnectionClosed):
            raise RuntimeError("simulated callee failed") from failure


def host_of(url: str) -> str:
    """``http://127.0.0.1:8000/x`` → ``127.0.0.1:8000``."""
    return urlsplit(url).netloc
