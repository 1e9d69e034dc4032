"""Twilio's endpoints: the answer webhook (TwiML), status callbacks, and the Media Stream WebSocket.

Every request must carry a valid ``X-Twilio-Signature`` over the URL Twilio was given (built
from ``public_base_url``) and the form fields as posted; otherwise it is a 403 with the
project's error body and nothing is read from or written to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from buyu.db import unit_of_work
from buyu.errors import BuyuError
from voicebot import dialog
from voicebot.telephony import protocol
from voicebot.telephony.runtime import VoiceRuntime, runtime_from_settings
from voicebot.telephony.session import CallSession
from voicebot.telephony.twilio_side import (
    UNANSWERED_RESULTS,
    FormParams,
    answered_by_machine,
    check_signature,
    connect_stream_twiml,
    hangup_twiml,
    public_url,
    websocket_url,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/voice", tags=["voice"])
DEFAULT_LOCALE = "ko-KR"
TWIML = "application/xml"


def get_runtime(app: FastAPI) -> VoiceRuntime:
    """The app's voice runtime (built from settings on first use unless a test installed one)."""
    runtime: VoiceRuntime | None = getattr(app.state, "voice_runtime", None)
    if runtime is None:
        runtime = runtime_from_settings(engine=app.state.engine)
        app.state.voice_runtime = runtime
    return runtime


def install_runtime(app: FastAPI, runtime: VoiceRuntime) -> None:
    """Use ``runtime`` for this app's voice endpoints (tests, CLI, bench)."""
    app.state.voice_runtime = runtime


async def _signed_form(request: Request, runtime: VoiceRuntime) -> FormParams:
    """The webhook's form, after its signature was checked (``Forbidden`` otherwise)."""
    form = FormParams.parse(await request.body())
    url = public_url(base_url=runtime.public_base_url, path=request.url.path, query=request.url.query)
    check_signature(auth_token=runtime.auth_token, url=url, params=form, headers=request.headers)
    return form


def _in_uow(runtime: VoiceRuntime, work: Any) -> Any:
    with unit_of_work(runtime.engine) as session:
        return work(session)


@router.post("/twiml/{call_id}", response_class=Response, summary="Answer webhook: stream the call to the robot")
async def answer(call_id: int, request: Request, locale: str = DEFAULT_LOCALE) -> Response:
    """TwiML for an answered call: ``<Connect><Stream>`` to our media socket, or the voicemail path."""
    runtime = get_runtime(request.app)
    form = await _signed_form(request, runtime)
    machine = answered_by_machine(form.get("AnsweredBy"))

    def load(session: Session) -> dialog.Transition | None:
        from buyu.calls import service as calls

        calls.mark_answered(session=session, call_id=call_id, at=runtime.clock())
        ctx = calls.call_context(session=session, call_id=call_id, locale=locale)
        return dialog.step(dialog.DialogState(), dialog.Event("machine"), ctx) if machine else None

    voicemail = await run_in_threadpool(_in_uow, runtime, load)
    if voicemail is not None and not voicemail.prompts:
        await run_in_threadpool(_in_uow, runtime, lambda s: _book_voicemail(s, runtime, call_id, voicemail))
        return Response(hangup_twiml(), media_type=TWIML)
    stream_url = websocket_url(public_url(base_url=runtime.public_base_url, path=f"/voice/media/{call_id}"))
    params = {"call_id": str(call_id), "locale": locale, "answered_by": form.get("AnsweredBy") or "unknown"}
    return Response(connect_stream_twiml(stream_url=stream_url, parameters=params), media_type=TWIML)


def _book_voicemail(session: Session, runtime: VoiceRuntime, call_id: int, transition: dialog.Transition) -> None:
    """A machine we hang up on without a message: the actions and the result in one go."""
    from buyu.calls import service as calls

    at = runtime.clock()
    calls.apply_actions(session=session, call_id=call_id, actions=transition.actions, at=at)
    calls.finish_call(session=session, call_id=call_id, result="voicemail", at=at, answered_at=None, recording_ref=None)


@router.post("/status/{call_id}", status_code=204, response_class=Response, summary="Call status callback")
async def status(call_id: int, request: Request) -> Response:
    """Twilio's status callbacks: the CallSid is attached, an answer noted, an unanswered end booked."""
    runtime = get_runtime(request.app)
    form = await _signed_form(request, runtime)
    await run_in_threadpool(_in_uow, runtime, lambda s: _apply_status(s, runtime, call_id, form))
    return Response(status_code=204)


def _apply_status(session: Session, runtime: VoiceRuntime, call_id: int, form: FormParams) -> None:
    """One status change; callbacks repeat and race the media stream, so a finished call is left alone."""
    from buyu.calls import service as calls

    call = calls.get_call(session=session, call_id=call_id)
    if call.status in ("completed", "blocked"):
        return
    status, sid = form.get("CallStatus"), form.get("CallSid")
    if sid and call.provider_sid is None:
        calls.attach_provider(session=session, call_id=call_id, provider_sid=sid)
    if status in ("in-progress", "answered"):
        calls.mark_answered(session=session, call_id=call_id, at=runtime.clock())
    result = UNANSWERED_RESULTS.get(status)
    if status == "completed" and call.answered_at is None:
        result = "no_answer"  # ended before anyone picked up (the stream never ran)
    if result is not None:
        calls.finish_call(session=session, call_id=call_id, result=result, at=runtime.clock(), answered_at=None,
                          recording_ref=None)


@router.websocket("/media/{call_id}")
async def media(websocket: WebSocket, call_id: int) -> None:
    """Twilio Media Streams (bidirectional): the call's audio both ways, driven by ``CallSession``."""
    runtime = get_runtime(websocket.app)
    url = websocket_url(public_url(base_url=runtime.public_base_url, path=f"/voice/media/{call_id}"))
    try:
        check_signature(auth_token=runtime.auth_token, url=url, params=None, headers=websocket.headers)
    except BuyuError:
        await websocket.close(code=1008)  # before accept: the handshake is refused with HTTP 403
        return
    await websocket.accept()
    start = await _await_start(websocket)
    if start is None:
        return
    session = CallSession(
        runtime=runtime, call_id=call_id, locale=start.parameters.get("locale", DEFAULT_LOCALE),
        stream_sid=start.stream_sid, send=websocket.send_text,
        machine=answered_by_machine(start.parameters.get("answered_by", "")),
    )
    reader = asyncio.create_task(_read(websocket, session))
    try:
        await session.run()
        await session.drain()
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        if not session.closed:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close()


async def _await_start(websocket: WebSocket) -> protocol.StreamMessage | None:
    """Read up to the ``start`` message (``connected`` comes first); None if the socket went away."""
    try:
        while True:
            message = protocol.parse(await websocket.receive_text())
            if message.event == "start":
                return message
            if message.event == "stop":
                return None
    except WebSocketDisconnect:
        return None
    except BuyuError:
        await websocket.close(code=1003)
        return None


async def _read(websocket: WebSocket, session: CallSession) -> None:
    """Feed inbound messages to the session until the far end stops or disconnects."""
    try:
        while not session.closed:
            message = protocol.parse(await websocket.receive_text())
            session.on_message(message)
            if message.event == "stop":
                break
    except (WebSocketDisconnect, RuntimeError):
        session.hangup()
    except BuyuError:
        log.warning("call %s: bad media stream message; hanging up", session.call_id)
        session.hangup()
