"""Voice calls benchmark: reaction time, ASR real-time factor and concurrent calls on loopback.

The server is the real app (``voicebot.telephony``) in its own process (uvicorn, 127.0.0.1, a
fresh SQLite database with delinquent debtors); the callers are the Twilio-side simulator in
this process, playing espeak-ng borrowers at real time. Every call is a full PTP conversation:
"네" → birth year keyed → "내일 갚을 수 있어요" → "네".

Figures:

* **reaction**: from the end of the borrower's speech to the first robot media frame reaching the
  caller, spoken turns only (p50, p95). End of speech is known exactly by the caller: the moment
  it sends the first frame after the last one whose clean (pre-noise) speech is above -40 dBFS
  (``simulator.render_utterance``), i.e. the line carries only noise from then on. It includes the
  silence the robot waits for: ``--early-end-ms`` when the turn so far is already a confidently
  understood whole phrase of the state's grammar, else ``--end-silence-ms`` (both reported as
  floors), and the transport floor: a bare WebSocket echo round trip of a media message between
  the same two processes (a minimal server with nothing behind it).
* **ASR RTF**: Vosk decode seconds / audio seconds over the callers' utterances, decoded here
  the way a call decodes them (one stream per turn, strict grammar), single thread.
* **concurrency**: N simultaneous calls for N in ``--ramp``, answered ``--stagger-s`` apart (Twilio
  places 1 call per second per account by default; every call of a round lasts about a minute, so
  all N are live together once the last is answered); a *late frame* is a robot frame that
  reaches the caller after the previous frame of the same robot turn has finished playing
  (Twilio's playback buffer ran dry: an audible gap; see ``voicebot.telephony.simulator``).
  ``sustained`` is the largest N with zero late frames; the ramp stops after the first N with any.
* **CPU**: seconds of CPU used by the server process and by this (caller) process per round and
  per call (``/proc``), so the simulator's own cost is not mistaken for the robot's.
  ``--lanes`` sets the server's ASR decoder lanes per turn (``BUYU_ASR_LANES``).

    python bench/voice_calls.py --json
    python bench/voice_calls.py --ramp 5,10,20,30,40 --latency-calls 3 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from buyu.db import make_engine, unit_of_work
from buyu.migrate import upgrade
from voicebot.telephony.loopback import free_port, open_robot_call
from voicebot.telephony.simulator import Callee, CallReport, simulate_call
from voicebot.tts import EspeakSynthesizer

LOCALE = "ko-KR"
SCRIPT = "네;#{year};내일 갚을 수 있어요;네"


# --- server process ------------------------------------------------------------------------------


def serve(*, db_url: str, port: int, token: str, end_silence_ms: int, early_end_ms: int) -> None:
    """The robot's server: the real app with a warm Korean recogniser, on 127.0.0.1:port."""
    import uvicorn

    from buyu.api.app import create_app
    from voicebot.telephony.router import install_runtime
    from voicebot.telephony.runtime import ListenSettings, VoiceRuntime, default_recognizer_for

    engine = make_engine(db_url)
    runtime = VoiceRuntime(engine=engine, auth_token=token, public_base_url=f"http://127.0.0.1:{port}",
                           synthesizer=EspeakSynthesizer(timeout_s=30.0), recognizer_for=default_recognizer_for,
                           listen=ListenSettings(end_silence_ms=end_silence_ms, early_end_ms=early_end_ms))
    runtime.recognizer_for(LOCALE)
    app = create_app(engine=engine)
    install_runtime(app, runtime)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def echo_serve(*, port: int) -> None:
    """The transport baseline: a WebSocket server that sends every message straight back."""
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with ws_serve(echo, "127.0.0.1", port):
            await asyncio.Future()

    asyncio.run(main())


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, *args], start_new_session=True, env=env)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- data ----------------------------------------------------------------------------------------


def make_debtors(db_url: str, count: int) -> tuple[list[int], int]:
    """``count`` delinquent loans (own phone, birth year on file) after the night; (loan ids, birth year)."""
    from tests.calls.helpers import BIRTH_YEAR, delinquent, run_night

    engine = make_engine(db_url)
    with unit_of_work(engine) as session:
        loans = [delinquent(session).loan.id for _ in range(count)]
        run_night(session)
    engine.dispose()
    return loans, BIRTH_YEAR


# --- measurements --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)], 4)


def spoken_latencies(reports: list[CallReport]) -> list[float]:
    """Reaction times of spoken turns (keys are answered without an endpointing window)."""
    return [t["latency_s"] for r in reports for t in r.turns
            if t.get("kind") in ("say", "barge") and t.get("latency_s") is not None]


async def echo_rtt(port: int, rounds: int = 300) -> dict[str, float | None]:
    """Round trips of one 20 ms media message to the bare echo server."""
    from websockets.asyncio.client import connect

    from voicebot.telephony import protocol

    message = protocol.media("MZ" + "0" * 32, b"\xff" * 160)
    times = []
    async with connect(f"ws://127.0.0.1:{port}") as ws:
        for _ in range(rounds):
            started = time.perf_counter()
            await ws.send(message)
            await ws.recv()
            times.append(time.perf_counter() - started)
    return {"p50_s": percentile(times, 50), "p95_s": percentile(times, 95)}


def asr_rtf(callee: Callee) -> dict[str, float]:
    """Decode the callers' utterances with the state grammars they are spoken in; decode s / audio s."""
    from voicebot.recognize import recognize_frames, recognizer_for

    recognizer = recognizer_for(locale=LOCALE)
    states = {"네": "verify", "내일 갚을 수 있어요": "negotiate"}
    audio = decode = 0.0
    for text, utterance in callee.utterances.items():
        for _ in range(3):
            started = time.perf_counter()
            result = recognize_frames(frames=utterance.frames, recognizer=recognizer, locale=LOCALE,
                                      state=states.get(text, "confirm"))
            decode += time.perf_counter() - started
            audio += result.audio_seconds
    return {"rtf": round(decode / audio, 4), "audio_seconds": round(audio, 2), "wall_seconds": round(decode, 3)}


async def run_calls(
    *, base_url: str, token: str, call_ids: list[int], callee: Callee, stagger_s: float = 0.0
) -> list[CallReport]:
    """Play the calls at the same time, the i-th answered ``i × stagger_s`` seconds after the first."""

    async def one(index: int, call_id: int) -> CallReport:
        await asyncio.sleep(index * stagger_s)
        return await simulate_call(base_url=base_url, auth_token=token, call_id=call_id, locale=LOCALE,
                                   callee=callee, max_seconds=240)

    return list(await asyncio.gather(*(one(i, cid) for i, cid in enumerate(call_ids))))


def summarize(reports: list[CallReport], results: list[str | None]) -> dict[str, Any]:
    """One round's figures."""
    frames = sum(r.frames_received for r in reports)
    late = sum(r.late_frames for r in reports)
    latencies = spoken_latencies(reports)
    return {
        "calls": len(reports), "ptp": sum(1 for r in results if r == "ptp"),
        "results": {res: results.count(res) for res in sorted({str(r) for r in results})},
        "robot_frames": frames, "late_frames": late, "late_share": round(late / frames, 6) if frames else None,
        "reaction_p50_s": percentile(latencies, 50), "reaction_p95_s": percentile(latencies, 95),
        "timeouts": sum(1 for r in reports if r.closed_by != "robot"),
    }


def open_calls(db_url: str, loans: list[int], at: datetime) -> list[int]:
    """Open one robot call per loan through the contact rules."""
    from tests.calls.helpers import CALL_DAY

    engine = make_engine(db_url)
    try:
        return [open_robot_call(engine=engine, loan_id=loan, as_of=CALL_DAY, at=at, locale=LOCALE) for loan in loans]
    finally:
        engine.dispose()


def results_of(db_url: str, call_ids: list[int]) -> list[str | None]:
    """The result code each call was booked with."""
    from buyu.calls import service as calls

    engine = make_engine(db_url)
    with unit_of_work(engine) as session:
        out = [calls.get_call(session=session, call_id=cid).result for cid in call_ids]
    engine.dispose()
    return out


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Set up, measure, tear down."""
    ramp = [int(n) for n in args.ramp.split(",") if n]
    tmp = Path(tempfile.mkdtemp(prefix="buyu-voice-calls-"))
    db_url = f"sqlite:///{tmp / 'calls.db'}"
    upgrade(db_url)
    loans, year = make_debtors(db_url, args.latency_calls + sum(ramp))
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in the debtors' Asia/Shanghai
    token, port, echo_port = secrets.token_hex(16), free_port(), free_port()
    base_url = f"http://127.0.0.1:{port}"
    tts = EspeakSynthesizer(timeout_s=30.0)
    callee = Callee.from_script(SCRIPT.format(year=year)).prepare(tts)
    tts.close()
    env = dict(os.environ)
    if args.lanes:
        env["BUYU_ASR_LANES"] = str(args.lanes)
    server = _spawn("--serve", "--db", db_url, "--port", str(port), "--token", token,
                    "--end-silence-ms", str(args.end_silence_ms), "--early-end-ms", str(args.early_end_ms), env=env)
    echo = _spawn("--echo-serve", "--port", str(echo_port))
    out: dict[str, Any] = {"end_silence_ms": args.end_silence_ms, "early_end_ms": args.early_end_ms,
                           "lanes": args.lanes or "default", "stagger_s": args.stagger_s, "cpus": os.cpu_count(),
                           "load_avg_before": os.getloadavg()}
    try:
        _wait_ready(base_url, server)
        out["echo_rtt"] = asyncio.run(echo_rtt(echo_port))
        out["asr"] = asr_rtf(callee)
        sequential: list[CallReport] = []
        ids_all: list[int] = []
        for loan in loans[: args.latency_calls]:
            ids = open_calls(db_url, [loan], at)
            sequential += asyncio.run(run_calls(base_url=base_url, token=token, call_ids=ids, callee=callee))
            ids_all += ids
        out["latency"] = summarize(sequential, results_of(db_url, ids_all))
        out["latency"]["reactions_s"] = spoken_latencies(sequential)
        offset, rounds = args.latency_calls, []
        for n in ramp:
            ids = open_calls(db_url, loans[offset: offset + n], at)
            offset += n
            started = time.perf_counter()
            server_cpu, caller_cpu = cpu_seconds(server.pid), cpu_seconds(os.getpid())
            reports = asyncio.run(run_calls(base_url=base_url, token=token, call_ids=ids, callee=callee,
                                            stagger_s=args.stagger_s))
            server_cpu, caller_cpu = cpu_seconds(server.pid) - server_cpu, cpu_seconds(os.getpid()) - caller_cpu
            rounds.append({"n": n, **summarize(reports, results_of(db_url, ids)),
                           "wall_s": round(time.perf_counter() - started, 1), "load_avg": os.getloadavg()[0],
                           "server_cpu_s": round(server_cpu, 1), "caller_cpu_s": round(caller_cpu, 1),
                           "server_cpu_per_call_s": round(server_cpu / n, 2),
                           "caller_cpu_per_call_s": round(caller_cpu / n, 2)})
            if rounds[-1]["late_frames"] or rounds[-1]["timeouts"]:
                break
        out["concurrency"] = rounds
        clean = [r["n"] for r in rounds if not r["late_frames"] and not r["timeouts"]]
        out["sustained_calls"] = max(clean) if clean else 0
    finally:
        _stop(server)
        _stop(echo)
    floor = args.end_silence_ms / 1000
    out["floors_s"] = {"early_end": args.early_end_ms / 1000 if args.early_end_ms else None, "end_silence": floor}
    p50 = out["latency"]["reaction_p50_s"]
    echo_p50 = out["echo_rtt"]["p50_s"]
    out["ratios"] = {
        "reaction_p50_over_endpoint_floor": round(p50 / floor, 2) if p50 else None,
        "reaction_p50_minus_floor_s": round(p50 - floor, 4) if p50 else None,
        "reaction_p50_over_echo_rtt": round(p50 / echo_p50, 1) if p50 and echo_p50 else None,
    }
    out["targets"] = {"reaction_p50_s": 0.3, "reaction_p95_s": 0.6, "concurrent_calls": 20}
    return out


def _wait_ready(base_url: str, server: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("server process exited")
        try:
            if httpx.get(base_url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("server did not come up")


def main(argv: list[str] | None = None) -> int:
    """Entry point (also the server and echo subprocesses)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ramp", default="5,10,20,30,40", help="simultaneous calls per round")
    parser.add_argument("--latency-calls", type=int, default=3, help="sequential calls for reaction times")
    parser.add_argument("--end-silence-ms", type=int, default=500)
    parser.add_argument("--early-end-ms", type=int, default=200, help="silence before an early end (0 = off)")
    parser.add_argument("--lanes", type=int, default=0, help="server ASR lanes per turn (0 = default)")
    parser.add_argument("--stagger-s", type=float, default=1.0,
                        help="seconds between call answers in a round (Twilio's default: 1 call per second)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--echo-serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(db_url=args.db, port=args.port, token=args.token, end_silence_ms=args.end_silence_ms,
              early_end_ms=args.early_end_ms)
        return 0
    if args.echo_serve:
        echo_serve(port=args.port)
        return 0
    out = bench(args)
    print(json.dumps(out, indent=None if args.json else 2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
