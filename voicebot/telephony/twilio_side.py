"""Twilio's wire formats that are not Media Streams: webhook signatures, TwiML, callback fields.

Signatures: Twilio signs every webhook (and the Media Streams WebSocket handshake) with
``X-Twilio-Signature`` = base64 HMAC of the full URL it requested followed by the sorted POST
parameters, keyed with the account's auth token. We check it with twilio's own
``RequestValidator`` over the URL Twilio was given (the configured public base URL, not the
address a proxy forwarded to) and the form fields exactly as posted (repeated keys kept).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.voice_response import Connect, VoiceResponse

from buyu.errors import Forbidden

#: Twilio call statuses a status callback can carry, and those that end a call unanswered.
CALL_STATUSES = ("queued", "initiated", "ringing", "in-progress", "answered", "completed", "busy", "no-answer",
                 "failed", "canceled")
UNANSWERED_RESULTS = {"busy": "busy", "no-answer": "no_answer", "failed": "failed", "canceled": "failed"}
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")


class FormParams:
    """Form fields as posted, repeated keys kept (the shape ``RequestValidator`` signs)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    @classmethod
    def parse(cls, body: bytes) -> FormParams:
        """Decode an ``application/x-www-form-urlencoded`` body."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Forbidden("webhook body is not UTF-8 form data") from exc
        return cls(parse_qsl(text, keep_blank_values=True))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(dict.fromkeys(k for k, _ in self.pairs))

    def getlist(self, key: str) -> list[str]:
        """Every value of ``key`` (RequestValidator reads repeated keys this way)."""
        return [v for k, v in self.pairs if k == key]

    def get(self, key: str, default: str = "") -> str:
        """The first value of ``key``."""
        values = self.getlist(key)
        return values[0] if values else default

    def encode(self) -> bytes:
        """The urlencoded body."""
        return urlencode(self.pairs).encode("ascii")


def sign(*, auth_token: str, url: str, params: Mapping[str, str] | FormParams | None = None) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for this URL and form (simulator side)."""
    return str(RequestValidator(auth_token).compute_signature(url, params or {}))


def check_signature(
    *, auth_token: str, url: str, params: FormParams | None, headers: Mapping[str, str]
) -> None:
    """Raise ``Forbidden`` unless ``headers`` carry a valid Twilio signature of ``url`` + ``params``."""
    signature = headers.get(SIGNATURE_HEADER) or headers.get(SIGNATURE_HEADER.lower())
    if not signature:
        raise Forbidden("missing X-Twilio-Signature", details={"url": url})
    if not auth_token:
        raise Forbidden("no Twilio auth token configured: refusing every webhook", details={"url": url})
    settings = headers.get(SIGNATURE_SETTINGS_HEADER) or headers.get(SIGNATURE_SETTINGS_HEADER.lower())
    validator = RequestValidator(auth_token)
    if not validator.validate(url, params or {}, signature, get_signature_algorithm(settings)):
        raise Forbidden("X-Twilio-Signature does not match this request", details={"url": url})


def public_url(*, base_url: str, path: str, query: str = "") -> str:
    """The URL Twilio was told to request: ``base_url`` + path (+ query), as Twilio signs it."""
    return base_url.rstrip("/") + path + (f"?{query}" if query else "")


def websocket_url(http_url: str) -> str:
    """``https://host/x`` → ``wss://host/x`` (``http`` → ``ws``)."""
    parts = urlsplit(http_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return parts._replace(scheme=scheme).geturl()


def connect_stream_twiml(*, stream_url: str, parameters: Mapping[str, str]) -> str:
    """Answer with a bidirectional media stream to ``stream_url`` (custom parameters passed in ``start``)."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def hangup_twiml() -> str:
    """End the call without a word (machine answered and the rule says hang up, or no such call)."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def answered_by_machine(answered_by: str) -> bool:
    """AMD's ``AnsweredBy``: ``machine_start``, ``machine_end_beep``, ``fax`` … mean no human."""
    return answered_by.startswith("machine") or answered_by == "fax"
