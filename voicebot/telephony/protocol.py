"""Twilio Media Streams messages (bidirectional stream), both directions, as plain JSON dicts.

Twilio → us: ``connected``, ``start`` (streamSid, callSid, customParameters, media format),
``media`` (base64 8 kHz μ-law, 20 ms per message), ``dtmf``, ``mark`` (a mark we sent has been
played, or was flushed by ``clear``), ``stop``. Us → Twilio: ``media``, ``mark``, ``clear``.
Pure: no sockets; the server and the simulator both use these builders and the parser.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from buyu.errors import InvalidInput

MEDIA_FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
INBOUND_EVENTS = ("connected", "start", "media", "dtmf", "mark", "stop")
OUTBOUND_EVENTS = ("media", "mark", "clear")


class ProtocolError(InvalidInput):
    """A Media Streams message that does not follow the protocol."""

    code = "media_stream_protocol"


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One parsed Media Streams message (either direction)."""

    event: str
    stream_sid: str = ""
    payload: bytes = b""  # media: μ-law bytes
    name: str = ""  # mark
    digit: str = ""  # dtmf
    call_sid: str = ""  # start, stop
    account_sid: str = ""
    parameters: Mapping[str, str] = field(default_factory=dict)  # start: customParameters
    sequence: int = 0
    timestamp_ms: int = 0  # media: position in the stream


def parse(raw: str | bytes) -> StreamMessage:
    """Parse one WebSocket text message; ``ProtocolError`` on anything malformed."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise ProtocolError("message has no event")
    event = data["event"]
    if event not in (*INBOUND_EVENTS, *OUTBOUND_EVENTS):
        raise ProtocolError(f"unknown event {event!r}", details={"event": event})
    try:
        return _PARSERS.get(event, _parse_plain)(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed {event} message: {exc}", details={"event": event}) from exc


def _base(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"event": data["event"], "stream_sid": str(data.get("streamSid", "")),
            "sequence": int(data.get("sequenceNumber", 0) or 0)}


def _parse_plain(data: Mapping[str, Any]) -> StreamMessage:
    return StreamMessage(**_base(data))


def _parse_start(data: Mapping[str, Any]) -> StreamMessage:
    start = data["start"]
    params = start.get("customParameters") or {}
    return StreamMessage(
        **{**_base(data), "stream_sid": str(data.get("streamSid") or start["streamSid"])},
        call_sid=str(start["callSid"]),
        account_sid=str(start.get("accountSid", "")),
        parameters={str(k): str(v) for k, v in params.items()},
    )


def _parse_media(data: Mapping[str, Any]) -> StreamMessage:
    media = data["media"]
    return StreamMessage(
        **_base(data),
        payload=base64.b64decode(media["payload"], validate=True),
        timestamp_ms=int(media.get("timestamp", 0) or 0),
    )


def _parse_mark(data: Mapping[str, Any]) -> StreamMessage:
    return StreamMessage(**_base(data), name=str(data["mark"]["name"]))


def _parse_dtmf(data: Mapping[str, Any]) -> StreamMessage:
    digit = str(data["dtmf"]["digit"])
    if len(digit) != 1 or digit not in "0123456789*#":
        raise ValueError(f"bad digit {digit!r}")
    return StreamMessage(**_base(data), digit=digit)


def _parse_stop(data: Mapping[str, Any]) -> StreamMessage:
    stop = data.get("stop") or {}
    return StreamMessage(**_base(data), call_sid=str(stop.get("callSid", "")),
                         account_sid=str(stop.get("accountSid", "")))


_PARSERS = {"start": _parse_start, "media": _parse_media, "mark": _parse_mark, "dtmf": _parse_dtmf,
            "stop": _parse_stop}


# --- builders: what the server sends -------------------------------------------------------------


def media(stream_sid: str, payload: bytes) -> str:
    """Outbound audio: 8 kHz μ-law bytes for Twilio to play."""
    return json.dumps({"event": "media", "streamSid": stream_sid,
                       "media": {"payload": base64.b64encode(payload).decode("ascii")}})


def mark(stream_sid: str, name: str) -> str:
    """Ask Twilio to report back when the audio sent so far has been played."""
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear(stream_sid: str) -> str:
    """Drop the audio Twilio has buffered (barge-in); pending marks come back at once."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})


# --- builders: what Twilio sends (the simulator) ------------------------------------------------


def connected() -> str:
    """First message on a new stream."""
    return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})


def start(*, stream_sid: str, call_sid: str, account_sid: str, parameters: Mapping[str, str], sequence: int) -> str:
    """Stream metadata, sent once after ``connected``."""
    return json.dumps({
        "event": "start", "sequenceNumber": str(sequence), "streamSid": stream_sid,
        "start": {"streamSid": stream_sid, "accountSid": account_sid, "callSid": call_sid,
                  "tracks": ["inbound"], "customParameters": dict(parameters), "mediaFormat": MEDIA_FORMAT},
    })


def inbound_media(*, stream_sid: str, payload: bytes, sequence: int, chunk: int, timestamp_ms: int) -> str:
    """One 20 ms frame of the callee's audio."""
    return json.dumps({
        "event": "media", "sequenceNumber": str(sequence), "streamSid": stream_sid,
        "media": {"track": "inbound", "chunk": str(chunk), "timestamp": str(timestamp_ms),
                  "payload": base64.b64encode(payload).decode("ascii")},
    })


def dtmf(*, stream_sid: str, digit: str, sequence: int) -> str:
    """A key the callee pressed."""
    return json.dumps({"event": "dtmf", "sequenceNumber": str(sequence), "streamSid": stream_sid,
                       "dtmf": {"track": "inbound_track", "digit": digit}})


def mark_played(*, stream_sid: str, name: str, sequence: int) -> str:
    """Twilio's answer to our mark: the audio before it was played (or cleared)."""
    return json.dumps({"event": "mark", "sequenceNumber": str(sequence), "streamSid": stream_sid,
                       "mark": {"name": name}})


def stop(*, stream_sid: str, call_sid: str, account_sid: str, sequence: int) -> str:
    """The stream ended (the call hung up)."""
    return json.dumps({"event": "stop", "sequenceNumber": str(sequence), "streamSid": stream_sid,
                       "stop": {"accountSid": account_sid, "callSid": call_sid}})
