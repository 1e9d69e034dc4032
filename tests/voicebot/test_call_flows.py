"""Whole robot calls through the real server on loopback: uvicorn, signed webhooks, the Media Streams
WebSocket, espeak-ng borrowers as μ-law frames, Vosk with the Korean model, the dialog, the database.

The simulator plays Twilio (voicebot.telephony.simulator); each call runs at SPEED × real time on
both sides (pacing, barge-in delays; turn-taking counts audio frames, so it is unaffected). The
borrower keys the birth year (the Korean verify grammar has no years) and speaks every other turn.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, text

from buyu.calls import service as calls
from buyu.collections.models import ContactFlags, Promise
from buyu.db import make_engine, unit_of_work
from buyu.migrate import upgrade
from tests.calls.helpers import BIRTH_YEAR, CALL_DAY, delinquent, run_night
from tests.collections.helpers import Debtor
from tests.conftest import PG_URL, _pg_answers
from voicebot.locales import get_pack
from voicebot.telephony.loopback import loopback_server, shifted_clock
from voicebot.telephony.providers import DialRequest, LoopbackTelephony
from voicebot.telephony.runtime import VoiceRuntime, default_recognizer_for
from voicebot.telephony.simulator import Callee, CallReport, simulate_call
from voicebot.telephony.twilio_side import FormParams, sign
from voicebot.tts import EspeakSynthesizer

TOKEN = "loopback-test-token"
SPEED = 2.0
CALLS = ("ptp", "wrong", "dispute", "cease", "silence", "barge", "disclosure", "failed", "machine", "busy", "keypad",
         "placed")
LOCAL_10AM = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai on CALL_DAY


@dataclass
class Line:
    """The running server and what a test needs to place calls on it."""

    base_url: str
    engine: Engine
    runtime: VoiceRuntime
    debtors: dict[str, Debtor]
    tts: EspeakSynthesizer


@contextmanager
def serving(url: str, tts_cache: Path) -> Iterator[Line]:
    """uvicorn on a free loopback port serving the real app on the database at ``url`` (migrated), with
    one delinquent debtor per test (night run) and a warmed-up Korean recogniser."""
    upgrade(url)
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        debtors = {name: delinquent(session) for name in CALLS}
        run_night(session)

    def runtime(base_url: str) -> VoiceRuntime:
        return VoiceRuntime(
            engine=engine, auth_token=TOKEN, public_base_url=base_url,
            synthesizer=EspeakSynthesizer(cache_dir=tts_cache, timeout_s=30.0),
            recognizer_for=default_recognizer_for, speed=SPEED, clock=shifted_clock(LOCAL_10AM + timedelta(minutes=5)),
        )

    tts = EspeakSynthesizer(timeout_s=30.0)
    try:
        with loopback_server(engine=engine, runtime_factory=runtime) as server:
            assert server.runtime.recognizer_for("ko-KR") is not None  # grammars' models loaded before any call
            yield Line(base_url=server.base_url, engine=engine, runtime=server.runtime, debtors=debtors, tts=tts)
            server.runtime.close()
    finally:
        tts.close()
        engine.dispose()


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    """The loopback server on a fresh SQLite database."""
    path = Path(tmp_path_factory.mktemp("calls")) / "calls.db"
    with serving(f"sqlite:///{path}", tmp_path_factory.mktemp("tts")) as running:
        yield running


@pytest.fixture(scope="module")
def pg_line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    """The loopback server on a private, migrated PostgreSQL schema (dropped afterwards): calls commit, so
    they must not share the per-run test schema other tests roll back in."""
    problem = _pg_answers()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} does not answer under CI: {problem}")
        pytest.skip(f"PostgreSQL tests skipped: no server answers at {PG_URL} ({problem})")
    schema = f"buyu_calls_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        with serving(f"{PG_URL}{sep}options=-csearch_path%3D{schema}", tmp_path_factory.mktemp("tts")) as running:
            yield running
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def place(
    line: Line, name: str, script: str, locale: str = "ko-KR", **callee: Any
) -> tuple[CallReport, dict[str, Any]]:
    """Open a robot call to the named debtor (contact rules checked), play it, return report and DB record."""
    debtor = line.debtors[name]
    with unit_of_work(line.engine) as session:
        call = calls.open_call(session=session, loan_id=debtor.loan.id, contact_point_id=debtor.phone.id,
                               as_of=CALL_DAY, at=LOCAL_10AM, locale=locale)
        call_id = call.id
    person = Callee.from_script(script, **callee).prepare(line.tts)
    report = asyncio.run(simulate_call(base_url=line.base_url, auth_token=TOKEN, call_id=call_id, locale=locale,
                                       callee=person, speed=SPEED, max_seconds=120))
    with unit_of_work(line.engine) as session:
        record = calls.call_record(session=session, call_id=call_id)
    report.record = record
    return report, record


def robot_said(record: dict[str, Any]) -> list[str]:
    """The robot's lines in the transcript."""
    return [t["text"] for t in record["turns"] if t["speaker"] == "robot"]


def prompt_text(key: str, **values: str) -> str:
    """A ko-KR prompt as the robot renders it for these test borrowers (lender "Buyu")."""
    return get_pack("ko-KR").prompts[key].format(lender="Buyu", **values)


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_promise_to_pay_call_books_a_promise(request: pytest.FixtureRequest, db: str) -> None:
    """Yes → birth year keyed → disclosure and debt → "I can pay tomorrow" → read-back → yes: result ptp,
    a promise row on the loan due tomorrow, every webhook accepted (SQLite and PostgreSQL); the clear
    answers end their turns on the early-end rule, not the full silence window."""
    line: Line = request.getfixturevalue("line" if db == "sqlite" else "pg_line")
    report, record = place(line, "ptp", f"네;#{BIRTH_YEAR};내일 갚을 수 있어요;네")
    heard = [(t["text"], t["intent"]) for t in record["turns"] if t["speaker"] == "borrower"]
    assert record["result"] == "ptp", (report.prompt_keys(), heard)
    assert report.prompt_keys() == ["greeting", "verify_factor_birth_year", "disclosure", "debt", "negotiation",
                                    "readback", "close"]
    said = robot_said(record)
    assert len(said) == 7 and said[1:3] == [prompt_text("verify_factor_birth_year"), prompt_text("disclosure")]
    assert set(report.webhook_status.values()) <= {200, 204}
    with unit_of_work(line.engine) as session:
        promise = session.scalars(select(Promise).where(Promise.loan_id == line.debtors["ptp"].loan.id)).one()
        assert promise.due_date == CALL_DAY + timedelta(days=1)
    assert record["verified_at"] and record["answered_at"] and record["status"] == "completed"
    assert report.closed_by == "robot" and not report.clears
    assert len(report.latencies) == 4  # every turn (three spoken, one keyed) got an answer
    spoken = [t for t in line.runtime.turn_log if t["call_id"] == report.call_id and t["kind"] == "utterance"]
    assert len(spoken) == 3 and any(t["early_end"] for t in spoken), spoken


def test_wrong_number_ends_without_the_debt(line: Line) -> None:
    """"Wrong number" at the greeting: result wrong_party, and no debt prompt was ever sent."""
    report, record = place(line, "wrong", "잘못 걸린 전화 입니다")
    assert record["result"] == "wrong_party"
    assert report.prompt_keys() == ["greeting", "wrong_party"]
    assert robot_said(record)[1] == prompt_text("wrong_party")


def test_dispute_opens_a_dispute(line: Line) -> None:
    """After verification the borrower disputes the debt: result dispute and a dispute booking."""
    report, record = place(line, "dispute", f"네;#{BIRTH_YEAR};제 빚 아닙니다")
    assert record["result"] == "dispute", report.prompt_keys()
    assert "open_dispute" in {b["kind"] for b in record["bookings"]}


def test_cease_request_sets_the_flag(line: Line) -> None:
    """"Stop calling me" at the greeting: result ceased and the borrower's cease-contact flag is set."""
    _, record = place(line, "cease", "전화 그만 좀 하세요")
    assert record["result"] == "ceased"
    with unit_of_work(line.engine) as session:
        flags = session.scalars(select(ContactFlags).where(
            ContactFlags.borrower_id == line.debtors["cease"].borrower.id)).one()
        assert flags.cease_from == CALL_DAY


def test_silence_reprompts_then_ends(line: Line) -> None:
    """A borrower who never speaks hears the greeting, two reprompts, then the call ends with silence."""
    report, record = place(line, "silence", "")
    assert record["result"] == "silence"
    said = report.prompt_keys()
    assert said[0] == "greeting" and said.count("reprompt") == 2 and said[-1] == "silence_end"
    assert robot_said(record).count(prompt_text("reprompt")) == 2
    assert report.closed_by == "robot"


def test_barge_in_clears_the_prompt_and_listens(line: Line) -> None:
    """Saying "yes" over the greeting: the robot sends clear, stops that prompt, and takes the yes."""
    report, record = place(line, "barge", f"!네;#{BIRTH_YEAR};제 빚 아닙니다", barge_after_ms=1200)
    assert len(report.clears) == 1
    greeting = report.prompts[0]
    assert greeting.cleared and greeting.mark == ""  # its mark never went out: playback stopped mid-prompt
    assert report.prompt_keys()[:2] == ["verify_factor_birth_year", "disclosure"]
    assert record["result"] == "dispute" and record["verified_at"]


def test_disclosure_cannot_be_barged(line: Line) -> None:
    """Talking over the disclosure sends no clear: it is played to the end."""
    report, record = place(line, "disclosure", f"네;#{BIRTH_YEAR};!제 빚 아닙니다;제 빚 아닙니다",
                           barge_after_ms=300)
    assert report.turns[2]["kind"] == "barge" and report.turns[2]["speech_end_s"] < report.prompts[3].first_at
    assert not report.clears
    disclosure = next(p for p in report.prompts if p.mark.endswith(":disclosure"))
    assert not disclosure.cleared
    assert report.prompt_keys()[2:5] == ["disclosure", "debt", "negotiation"]
    assert record["result"] == "dispute"


def test_failed_verification_never_reaches_the_debt(line: Line) -> None:
    """Wrong birth year twice: result verification_failed, no disclosure and no debt prompt sent."""
    report, record = place(line, "failed", "네;#1900;#1901")
    assert record["result"] == "verification_failed"
    assert not {"disclosure", "debt", "negotiation"} & set(report.prompt_keys())
    assert record["verified_at"] is None


def test_answering_machine_gets_the_neutral_message(line: Line) -> None:
    """AMD says machine: the neutral callback message only, result voicemail."""
    report, record = place(line, "machine", "", answered_by="machine_end_beep")
    assert record["result"] == "voicemail"
    assert report.prompt_keys() == ["voicemail"]
    assert robot_said(record) == [prompt_text("voicemail", name=line.debtors["machine"].borrower.name)]



def test_locale_without_a_model_runs_on_the_keypad(line: Line) -> None:
    """zh-CN has no Vosk model here: the robot offers keys, and a whole call by keypad (1 = yes, birth year,
    1 = pay today, 1 = confirm) ends with a payment link sent."""
    report, record = place(line, "keypad", f"1;#{BIRTH_YEAR};1;1", locale="zh-CN")
    assert report.prompt_keys()[:2] == ["greeting", "dtmf_verify"]
    assert record["result"] == "paid_link", report.prompt_keys()
    assert len(record["payment_links"]) == 1


def test_loopback_telephony_places_a_call_like_twilio(line: Line) -> None:
    """The Telephony adapter a dialer uses: place_call returns a CallSid, the status callbacks attach it to
    the call, and the call runs to its end on the server."""
    debtor = line.debtors["placed"]
    with unit_of_work(line.engine) as session:
        call_id = calls.open_call(session=session, loan_id=debtor.loan.id, contact_point_id=debtor.phone.id,
                                  as_of=CALL_DAY, at=LOCAL_10AM, locale="ko-KR").id
    callee = Callee.from_script("전화 그만 좀 하세요").prepare(line.tts)
    telephony = LoopbackTelephony(base_url=line.base_url, auth_token=TOKEN, callee_for=lambda _request: callee,
                                  options={"speed": SPEED})
    sid = telephony.place_call(DialRequest(call_id=call_id, to=debtor.phone.phone, from_="+8610000", locale="ko-KR"))
    report = telephony.wait(sid, timeout=120)
    assert report.call_sid == sid and report.closed_by == "robot"
    with unit_of_work(line.engine) as session:
        record = calls.call_record(session=session, call_id=call_id)
    assert (record["provider_sid"], record["result"]) == (sid, "ceased")


def test_unsigned_callbacks_change_nothing_and_signed_busy_books_the_call(line: Line) -> None:
    """Unsigned or wrongly signed status/answer webhooks for a real call: 403 and the call row unchanged;
    the same busy callback signed with the auth token: 204 and the call finished as busy."""
    debtor = line.debtors["busy"]
    with unit_of_work(line.engine) as session:
        call_id = calls.open_call(session=session, loan_id=debtor.loan.id, contact_point_id=debtor.phone.id,
                                  as_of=CALL_DAY, at=LOCAL_10AM, locale="ko-KR").id
        before = calls.call_record(session=session, call_id=call_id)
    status_url = f"{line.base_url}/voice/status/{call_id}"
    answer_url = f"{line.base_url}/voice/twiml/{call_id}?locale=ko-KR"
    form = FormParams([("CallSid", "CA" + "7" * 32), ("CallStatus", "busy"), ("AnsweredBy", "human")])
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    forged = {**headers, "X-Twilio-Signature": sign(auth_token="guess", url=status_url, params=form)}
    for url in (status_url, answer_url):
        for extra in (headers, forged):
            response = httpx.post(url, content=form.encode(), headers=extra)
            assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    with unit_of_work(line.engine) as session:
        assert calls.call_record(session=session, call_id=call_id) == before
    signed = {**headers, "X-Twilio-Signature": sign(auth_token=TOKEN, url=status_url, params=form)}
    assert httpx.post(status_url, content=form.encode(), headers=signed).status_code == 204
    with unit_of_work(line.engine) as session:
        after = calls.call_record(session=session, call_id=call_id)
    assert (after["status"], after["result"], after["provider_sid"]) == ("completed", "busy", "CA" + "7" * 32)
    assert after["attempt"]["result"] is not None
