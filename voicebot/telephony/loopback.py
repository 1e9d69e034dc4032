"""Our own server on loopback, and one simulated robot call on it (``buyu voicebot simulate-call``).

``LoopbackServer`` runs the real API app under uvicorn on 127.0.0.1 (a free port) in a thread,
with a voice runtime whose public URL is that address. ``simulated_call`` opens a robot call for
a loan through the contact rules (``buyu.calls.service.open_call``), plays it with the simulator
and returns what the simulator saw plus the call's database record.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import uvicorn
from sqlalchemy import Engine, select

from buyu.db import unit_of_work
from buyu.errors import BuyuError, ComplianceBlocked, NotFound
from voicebot.telephony.router import install_runtime
from voicebot.telephony.runtime import VoiceRuntime
from voicebot.telephony.simulator import Callee, CallReport, simulate_call
from voicebot.tts import EspeakSynthesizer


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shifted_clock(start: datetime) -> Callable[[], datetime]:
    """A UTC clock that reads ``start`` now and runs at real speed (a simulated call's business moment).

    UTC because SQLite keeps the wall time of an aware datetime and drops its offset."""
    origin, first = time.monotonic(), start.astimezone(UTC)
    return lambda: first + timedelta(seconds=time.monotonic() - origin)


@dataclass
class LoopbackServer:
    """A running server: its base URL and runtime."""

    base_url: str
    runtime: VoiceRuntime
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Shut uvicorn down and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(15)


@contextmanager
def loopback_server(*, engine: Engine, runtime_factory: Callable[[str], VoiceRuntime]) -> Iterator[LoopbackServer]:
    """Serve the real app on 127.0.0.1:<free port>; ``runtime_factory(base_url)`` builds its voice runtime."""
    from buyu.api.app import create_app

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    runtime = runtime_factory(base_url)
    app = create_app(engine=engine)
    install_runtime(app, runtime)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                           ws_max_size=2**20))
    thread = threading.Thread(target=server.run, name="loopback-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        server.should_exit = True
        raise RuntimeError(f"loopback server did not start on {base_url}")
    handle = LoopbackServer(base_url=base_url, runtime=runtime, server=server, thread=thread)
    try:
        yield handle
    finally:
        handle.stop()


def robot_contact_point(*, engine: Engine, loan_id: int) -> int:
    """The borrower's own active phone the robot may dial (``NotFound`` if none)."""
    from buyu.calls.service import ROBOT_POINT_KINDS
    from buyu.collections.models import ContactPoint
    from buyu.ledger.models import Loan

    with unit_of_work(engine) as session:
        loan = session.get(Loan, loan_id)
        if loan is None:
            raise NotFound(f"no loan {loan_id}", code="loan_not_found", details={"loan_id": loan_id})
        point = session.scalar(select(ContactPoint.id).where(
            ContactPoint.borrower_id == loan.borrower_id, ContactPoint.kind.in_(ROBOT_POINT_KINDS),
            ContactPoint.active.is_(True)).order_by(ContactPoint.id).limit(1))
    if point is None:
        raise NotFound(f"loan {loan_id}'s borrower has no phone the robot may dial", code="no_robot_phone",
                       details={"loan_id": loan_id})
    return int(point)


def open_robot_call(*, engine: Engine, loan_id: int, as_of: date, at: datetime, locale: str) -> int:
    """Open a call through the contact rules; a blocked one stays logged and raises ``ComplianceBlocked``."""
    from buyu.calls import service as calls

    point = robot_contact_point(engine=engine, loan_id=loan_id)
    blocked: ComplianceBlocked | None = None
    with unit_of_work(engine) as session:
        try:
            call_id = calls.open_call(session=session, loan_id=loan_id, contact_point_id=point, as_of=as_of, at=at,
                                      locale=locale).id
        except ComplianceBlocked as exc:  # commit the blocked attempt, then report it
            blocked = exc
    if blocked is not None:
        raise blocked
    return call_id


def call_record(*, engine: Engine, call_id: int) -> dict[str, Any]:
    """The call's database record (``buyu.calls.service.call_record``)."""
    from buyu.calls import service as calls

    with unit_of_work(engine) as session:
        return calls.call_record(session=session, call_id=call_id)


def simulated_call(
    *,
    engine: Engine,
    server: LoopbackServer,
    loan_id: int,
    script: str,
    locale: str,
    as_of: date,
    at: datetime,
    speed: float = 1.0,
    tts: EspeakSynthesizer | None = None,
    **callee_options: Any,
) -> CallReport:
    """One whole call for a loan on the loopback server: open (rules), ring, talk, book; report + record."""
    try:
        callee = Callee.from_script(script, **callee_options)
    except ValueError as exc:
        raise BuyuError(str(exc), code="invalid_script") from exc
    own_tts = tts is None
    synthesizer = tts or EspeakSynthesizer(timeout_s=30.0)
    try:
        callee.prepare(synthesizer)  # before dialling: rendering must not delay the callee's answers
    finally:
        if own_tts:
            synthesizer.close()
    call_id = open_robot_call(engine=engine, loan_id=loan_id, as_of=as_of, at=at, locale=locale)
    report = asyncio.run(simulate_call(base_url=server.base_url, auth_token=server.runtime.auth_token,
                                       call_id=call_id, locale=locale, callee=callee, speed=speed))
    report.record = call_record(engine=engine, call_id=call_id)
    return report
