"""The ``Telephony`` protocol (place an outbound robot call) and its adapters.

``TwilioRestTelephony`` asks Twilio's REST API for a call whose answer webhook is our
``/voice/twiml/{call_id}`` (answering-machine detection on, status callbacks for every step).
Twilio is unreachable here, so its tests give the client a recording ``http_client``.
``LoopbackTelephony`` plays Twilio's part against our own server with the simulator: the
status callbacks, the signed answer webhook, the media stream with a scripted borrower.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from twilio.http import HttpClient
from twilio.rest import Client

from voicebot.telephony.simulator import Callee, CallReport, simulate_call
from voicebot.telephony.twilio_side import STATUS_EVENTS, public_url


@dataclass(frozen=True, slots=True)
class DialRequest:
    """One outbound robot call, as the dialer asks for it."""

    call_id: int
    to: str
    from_: str
    locale: str
    timeout_s: int = 30  # ring time before no-answer


class Telephony(Protocol):
    """Something that can place an outbound call wired to our webhooks."""

    def place_call(self, request: DialRequest) -> str:
        """Start the call; returns the provider's call id (Twilio CallSid)."""
        ...


def answer_url(*, base_url: str, call_id: int, locale: str) -> str:
    """The answer webhook for a call (the locale travels in the signed query string)."""
    return public_url(base_url=base_url, path=f"/voice/twiml/{call_id}", query=urlencode({"locale": locale}))


def status_url(*, base_url: str, call_id: int) -> str:
    """The status-callback webhook for a call."""
    return public_url(base_url=base_url, path=f"/voice/status/{call_id}")


class TwilioRestTelephony:
    """``Telephony`` through Twilio's REST API (``calls.create`` with AMD and status callbacks)."""

    def __init__(
        self, *, account_sid: str, auth_token: str, public_base_url: str, http_client: HttpClient | None = None
    ) -> None:
        self.public_base_url = public_base_url
        self._client = Client(account_sid, auth_token, http_client=http_client)

    def place_call(self, request: DialRequest) -> str:
        """Create the call; Twilio fetches our TwiML when it answers and posts each status change."""
        call = self._client.calls.create(
            to=request.to,
            from_=request.from_,
            url=answer_url(base_url=self.public_base_url, call_id=request.call_id, locale=request.locale),
            method="POST",
            status_callback=status_url(base_url=self.public_base_url, call_id=request.call_id),
            status_callback_method="POST",
            status_callback_event=list(STATUS_EVENTS),
            # DetectMessageEnd: on a machine the answer webhook comes after the greeting's beep,
            # so a neutral callback message lands on the recording in full
            machine_detection="DetectMessageEnd",
            timeout=request.timeout_s,
        )
        return str(call.sid)


@dataclass
class LoopbackTelephony:
    """``Telephony`` that plays Twilio itself: a simulated callee on our own server (tests, CLI).

    ``callee_for(request)`` gives the scripted borrower of each call; ``place_call`` runs the
    call in a background thread and ``wait(sid)`` returns what the simulator observed.
    """

    base_url: str
    auth_token: str
    callee_for: Callable[[DialRequest], Callee]
    account_sid: str = "AC" + "0" * 32
    options: dict[str, Any] = field(default_factory=dict)
    _threads: dict[str, threading.Thread] = field(default_factory=dict)
    _reports: dict[str, CallReport | BaseException] = field(default_factory=dict)

    def place_call(self, request: DialRequest) -> str:
        """Start the simulated call; returns its CallSid."""
        sid = "CA" + uuid.uuid4().hex
        thread = threading.Thread(target=self._run, args=(sid, request), name=f"loopback-{sid[:10]}", daemon=True)
        self._threads[sid] = thread
        thread.start()
        return sid

    def wait(self, sid: str, timeout: float | None = None) -> CallReport:
        """Block until the call ended; its report (re-raises what went wrong in the simulator)."""
        self._threads[sid].join(timeout)
        outcome = self._reports.get(sid)
        if outcome is None:
            raise TimeoutError(f"simulated call {sid} still running")
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _run(self, sid: str, request: DialRequest) -> None:
        try:
            self._reports[sid] = asyncio.run(
                simulate_call(
                    base_url=self.base_url,
                    auth_token=self.auth_token,
                    call_id=request.call_id,
                    locale=request.locale,
                    callee=self.callee_for(request),
                    call_sid=sid,
                    account_sid=self.account_sid,
                    to=request.to,
                    from_=request.from_,
                    **self.options,
                )
            )
        except BaseException as exc:  # handed to wait(): the caller's thread decides
            self._reports[sid] = exc
