"""Telephony wire formats: Media Streams messages, Twilio signatures, TwiML, the REST request, 403s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.websockets import WebSocketDisconnect
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse

from buyu.api.app import create_app
from buyu.errors import Forbidden
from voicebot.telephony import protocol
from voicebot.telephony.providers import DialRequest, TwilioRestTelephony, answer_url
from voicebot.telephony.router import install_runtime
from voicebot.telephony.runtime import VoiceRuntime
from voicebot.telephony.simulator import Turn, _stream_of, parse_script
from voicebot.telephony.twilio_side import (
    FormParams,
    check_signature,
    connect_stream_twiml,
    hangup_twiml,
    sign,
    websocket_url,
)
from voicebot.tts import EspeakSynthesizer

TOKEN = "test-auth-token"


# --- Media Streams messages ----------------------------------------------------------------------


def test_inbound_messages_round_trip() -> None:
    """Every message the simulator builds parses back to the same fields the server reads."""
    start = protocol.parse(protocol.start(stream_sid="MZ1", call_sid="CA1", account_sid="AC1",
                                          parameters={"locale": "ko-KR"}, sequence=1))
    assert (start.event, start.stream_sid, start.call_sid, start.parameters) == ("start", "MZ1", "CA1",
                                                                                  {"locale": "ko-KR"})
    media = protocol.parse(protocol.inbound_media(stream_sid="MZ1", payload=b"\x00\xff" * 80, sequence=3, chunk=2,
                                                  timestamp_ms=20))
    assert (media.payload, media.timestamp_ms, media.sequence) == (b"\x00\xff" * 80, 20, 3)
    assert protocol.parse(protocol.dtmf(stream_sid="MZ1", digit="#", sequence=4)).digit == "#"
    assert protocol.parse(protocol.mark_played(stream_sid="MZ1", name="3:greeting", sequence=5)).name == "3:greeting"
    stop = protocol.parse(protocol.stop(stream_sid="MZ1", call_sid="CA1", account_sid="AC1", sequence=6))
    assert stop.call_sid == "CA1"
    assert protocol.parse(protocol.connected()).event == "connected"


def test_outbound_messages_have_twilios_shape() -> None:
    """media/mark/clear are the JSON Twilio expects on a bidirectional stream."""
    assert json.loads(protocol.media("MZ1", b"\x7f")) == {"event": "media", "streamSid": "MZ1",
                                                          "media": {"payload": "fw=="}}
    assert json.loads(protocol.mark("MZ1", "a")) == {"event": "mark", "streamSid": "MZ1", "mark": {"name": "a"}}
    assert json.loads(protocol.clear("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


@pytest.mark.parametrize("raw", ["not json", "[]", '{"event": "hello"}', '{"event": "media", "media": {}}',
                                 '{"event": "media", "media": {"payload": "***"}}',
                                 '{"event": "dtmf", "dtmf": {"digit": "12"}}'])
def test_malformed_messages_are_refused(raw: str) -> None:
    """Garbage on the socket is a ProtocolError, never a crash or a silently wrong frame."""
    with pytest.raises(protocol.ProtocolError):
        protocol.parse(raw)


# --- signatures and TwiML ------------------------------------------------------------------------


def test_signature_checks_url_and_every_field() -> None:
    """A correct signature passes; another token, URL, field value or a missing header is Forbidden."""
    url = "https://robot.example.com/voice/status/7"
    form = FormParams([("CallSid", "CA1"), ("CallStatus", "busy")])
    good = {"X-Twilio-Signature": sign(auth_token=TOKEN, url=url, params=form)}
    check_signature(auth_token=TOKEN, url=url, params=form, headers=good)
    check_signature(auth_token=TOKEN, url="https://robot.example.com:443/voice/status/7", params=form, headers=good)
    tampered = FormParams([("CallSid", "CA1"), ("CallStatus", "completed")])
    wrong: list[dict[str, Any]] = [{"auth_token": "other"}, {"url": url + "8"}, {"params": tampered}, {"headers": {}}]
    for kwargs in wrong:
        with pytest.raises(Forbidden):
            check_signature(**{"auth_token": TOKEN, "url": url, "params": form, "headers": good, **kwargs})
    with pytest.raises(Forbidden):  # no token configured: nothing can be valid
        check_signature(auth_token="", url=url, params=form, headers=good)


def test_twiml_connects_a_stream_with_parameters() -> None:
    """The answer TwiML carries the wss URL and the custom parameters the stream's start echoes."""
    twiml = connect_stream_twiml(stream_url="wss://h/voice/media/3", parameters={"locale": "ko-KR", "call_id": "3"})
    assert _stream_of(twiml) == ("wss://h/voice/media/3", {"locale": "ko-KR", "call_id": "3"})
    assert _stream_of(hangup_twiml()) is None
    assert websocket_url("https://h:8443/voice/media/3") == "wss://h:8443/voice/media/3"
    assert websocket_url("http://127.0.0.1:8000/x") == "ws://127.0.0.1:8000/x"


def test_script_items() -> None:
    """Script items: speech, keypad (#digits or bare digits), barge-in (!), silence (empty)."""
    assert parse_script("네;1985;#12;!전화 하지 마세요;") == (
        Turn("say", text="네"), Turn("dtmf", digits="1985"), Turn("dtmf", digits="12"),
        Turn("barge", text="전화 하지 마세요"), Turn("silence"))
    with pytest.raises(ValueError):
        parse_script("#")


# --- the REST request (Twilio is unreachable: the client's HTTP layer records instead) -----------


class RecordingHttpClient(HttpClient):
    """Twilio client transport that records the request and answers like the Calls API."""

    def __init__(self) -> None:
        super().__init__(logger=None, is_async=False)
        self.requests: list[dict[str, Any]] = []

    def request(self, method: str, uri: str, params: Any = None, data: Any = None, headers: Any = None,
                auth: Any = None, timeout: Any = None, allow_redirects: bool = False) -> TwilioResponse:
        self.requests.append({"method": method, "uri": uri, "data": data, "auth": auth})
        return TwilioResponse(201, json.dumps({"sid": "CA" + "1" * 32, "status": "queued"}))


def test_rest_call_asks_for_amd_and_status_callbacks() -> None:
    """calls.create posts To/From, our answer URL (locale signed in the query), AMD with message end and
    a status callback for every step, authenticated with the account."""
    http = RecordingHttpClient()
    telephony = TwilioRestTelephony(account_sid="AC" + "a" * 32, auth_token=TOKEN,
                                    public_base_url="https://robot.example.com", http_client=http)
    sid = telephony.place_call(DialRequest(call_id=42, to="+8613800000001", from_="+8610000000", locale="ko-KR"))
    assert sid == "CA" + "1" * 32
    (request,) = http.requests
    assert request["method"] == "POST"
    assert request["uri"] == f"https://api.twilio.com/2010-04-01/Accounts/AC{'a' * 32}/Calls.json"
    assert request["auth"] == ("AC" + "a" * 32, TOKEN)
    data = request["data"]
    assert data["To"] == "+8613800000001" and data["From"] == "+8610000000"
    assert data["Url"] == "https://robot.example.com/voice/twiml/42?locale=ko-KR"
    assert data["StatusCallback"] == "https://robot.example.com/voice/status/42"
    assert data["MachineDetection"] == "DetectMessageEnd"
    assert data["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]


# --- endpoints refuse unsigned requests ----------------------------------------------------------


@pytest.fixture()
def client(fresh_engine: Engine) -> Iterator[TestClient]:
    """The real API app with a voice runtime whose auth token is TOKEN."""
    app = create_app(engine=fresh_engine)
    runtime = VoiceRuntime(engine=fresh_engine, auth_token=TOKEN, public_base_url="http://testserver",
                           synthesizer=EspeakSynthesizer(), recognizer_for=lambda _locale: None)
    install_runtime(app, runtime)
    with TestClient(app) as test_client:
        yield test_client
    runtime.close()


@pytest.mark.parametrize("path", ["/voice/twiml/1?locale=ko-KR", "/voice/status/1"])
@pytest.mark.parametrize("signature", [None, "bad", "other-token"])
def test_unsigned_webhooks_are_403(client: TestClient, path: str, signature: str | None) -> None:
    """No signature, garbage, or one made with another token: 403 with the error body."""
    body = FormParams([("CallSid", "CA1"), ("CallStatus", "busy")])
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "bad":
        headers["X-Twilio-Signature"] = "AAAA"
    elif signature == "other-token":
        headers["X-Twilio-Signature"] = sign(auth_token="nope", url="http://testserver" + path, params=body)
    response = client.post(path, content=body.encode(), headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_signature_covers_the_query_string(client: TestClient) -> None:
    """A signature for ?locale=ko-KR does not let a caller switch the locale in the URL."""
    body = FormParams([("CallSid", "CA1")])
    signature = sign(auth_token=TOKEN, url="http://testserver/voice/twiml/1?locale=ko-KR", params=body)
    response = client.post("/voice/twiml/1?locale=en-US", content=body.encode(),
                           headers={"X-Twilio-Signature": signature,
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 403


def test_unsigned_media_stream_is_refused(client: TestClient) -> None:
    """The media WebSocket handshake needs Twilio's signature of the wss URL too."""
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/voice/media/1") as ws:
        ws.receive_text()
    bad = {"X-Twilio-Signature": sign(auth_token="nope", url="ws://testserver/voice/media/1")}
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/voice/media/1", headers=bad) as ws:
        ws.receive_text()


def test_answer_url_is_what_gets_signed() -> None:
    """The simulator signs exactly the URL the REST adapter registers."""
    assert answer_url(base_url="http://127.0.0.1:9/", call_id=5, locale="zh-CN") == (
        "http://127.0.0.1:9/voice/twiml/5?locale=zh-CN")
