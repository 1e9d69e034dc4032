"""`buyu …` commands. Each command owns its transaction; errors print a message and exit non-zero."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from buyu.config import get_settings
from buyu.errors import BuyuError
from buyu.ledger.schedule import Method

app = typer.Typer(help="Buyu 捕逾: intelligent collections.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo portfolio.", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger checks.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(ledger_app, name="ledger")
voice_app = typer.Typer(help="Voice robot: speech models and recognition.", no_args_is_help=True)
app.add_typer(voice_app, name="voicebot")
models_app = typer.Typer(help="Scoring and valuation models: train, evaluate, govern.", no_args_is_help=True)
app.add_typer(models_app, name="models")

P = ParamSpec("P")
R = TypeVar("R")
DateOpt = Annotated[str, typer.Option(help="ISO date, e.g. 2026-11-27", metavar="YYYY-MM-DD")]


def _emit(payload: Any, *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    else:
        for key, value in payload.items() if isinstance(payload, dict) else enumerate(payload):
            typer.echo(f"{key}: {value}")


def handled(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn domain errors into a clear message and exit code 2 (JSON on stdout with --json)."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except BuyuError as exc:
            if kwargs.get("as_json"):
                typer.echo(json.dumps(exc.to_dict(), ensure_ascii=False, default=str))
            typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
            raise typer.Exit(2) from exc

    return wrapper


def parse_date(value: str, *, field: str) -> date:
    """An ISO date or a clear error."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BuyuError(f"{field} is not an ISO date (YYYY-MM-DD): {value!r}", code="invalid_date") from exc


def _engine() -> Any:
    from buyu.db import get_engine

    return get_engine(get_settings().database_url)


@db_app.command("upgrade")
@handled
def db_upgrade() -> None:
    """Create or upgrade the schema (Alembic) on BUYU_DATABASE_URL."""
    from buyu.migrate import upgrade

    upgrade(get_settings().database_url)
    typer.echo(f"database at {get_settings().database_url} is at head")


@app.command()
@handled
def schedule(
    principal: Annotated[str, typer.Option(help="e.g. 80000.00")],
    annual_rate: Annotated[str, typer.Option(help="e.g. 0.12")],
    term_months: Annotated[int, typer.Option(min=1, max=360)],
    method: Annotated[Method, typer.Option()],
    start_date: DateOpt,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a repayment schedule (pure maths, nothing booked)."""
    from buyu.ledger.presenters import schedule_out
    from buyu.ledger.schedule import build_schedule
    from buyu.ledger.service import ANNUAL_RATE_RANGE
    from buyu.money import positive_minor, rate_to_micro

    rows = build_schedule(
        principal=positive_minor(principal, field="principal"),
        annual_rate_micro=rate_to_micro(annual_rate, field="annual_rate", low=ANNUAL_RATE_RANGE[0],
                                        high=ANNUAL_RATE_RANGE[1]),
        term_months=term_months, method=method, start_date=parse_date(start_date, field="start-date"),
    )
    out = schedule_out(rows).model_dump(mode="json")
    if as_json:
        _emit(out, as_json=True)
        return
    for r in out["instalments"]:
        typer.echo(f"{r['seq']:>3} {r['due_date']} principal {r['principal']:>12} interest {r['interest']:>10} "
                   f"payment {r['payment']:>12} balance {r['balance_after']:>12}")
    typer.echo(f"total interest {out['total_interest']}  total payment {out['total_payment']}")


@demo_app.command("seed")
@handled
def demo_seed(
    loans: Annotated[int, typer.Option(min=1, max=2_000_000)] = 1000,
    seed: Annotated[int, typer.Option()] = 7,
    as_of: Annotated[str | None, typer.Option(help="demo business date (default BUYU_DEMO_DATE)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Originate a mixed demo portfolio and play its repayment history forward to the demo date."""
    from buyu import demo

    day = parse_date(as_of, field="as-of") if as_of else get_settings().demo_date
    result = demo.seed(engine=_engine(), loans=loans, rng_seed=seed, as_of=day,
                       progress=lambda m: typer.echo(m, err=True))
    _emit(result, as_json=as_json)


@app.command()
@handled
def eod(
    as_of: DateOpt,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run the nightly step for a business date (and any missed nights before it); idempotent."""
    from buyu.pipeline.eod import run_eod

    _emit(run_eod(engine=_engine(), as_of=parse_date(as_of, field="as-of")), as_json=as_json)


@app.command()
@handled
def assign(
    as_of: DateOpt,
    portfolio: Annotated[str, typer.Option(help="portfolio whose plan to show")] = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The nightly plan made at night AS_OF: optimizer status, objective, bound, gap, seconds, utilisation."""
    from buyu.db import unit_of_work
    from buyu.plans.service import get_run, run_summary

    with unit_of_work(_engine()) as session:
        summary = run_summary(get_run(session=session, as_of=parse_date(as_of, field="as-of"), portfolio=portfolio))
    _emit(summary, as_json=as_json)


@ledger_app.command("check")
@handled
def ledger_check(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Reconcile every loan's sub-ledger with the journal; exit 1 when anything mismatches."""
    from buyu.db import unit_of_work
    from buyu.ledger.check import check_ledger

    with unit_of_work(_engine()) as session:
        result = check_ledger(session=session)
    _emit({"ok": result.ok, "loans_checked": result.loans_checked, "mismatches": result.mismatches},
          as_json=as_json)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
@handled
def simulate(
    scenario: Annotated[str, typer.Option(help="scenario YAML file (see scenarios/README.md)", metavar="FILE")],
    policy: Annotated[str | None, typer.Option(help="policy to run: random, champion, oracle or optimized")] = None,
    compare: Annotated[str | None, typer.Option(help="policies to compare over seeds, e.g. champion,oracle,random",
                                                 metavar="A,B,…")] = None,
    seeds: Annotated[int, typer.Option(min=1, max=100, help="seeds per policy with --compare")] = 5,
    days: Annotated[int | None, typer.Option(min=1, max=3650, help="days (default: the scenario's)")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="seed (default: the scenario's; the first one)")] = None,
    accounts: Annotated[int | None, typer.Option(min=1, max=1_000_000, help="override the accounts")] = None,
    history_days: Annotated[int | None, typer.Option(
        min=0, max=3650, help="days of exploratory past before the measured window (default: the scenario's)")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="progress bar on stderr")] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Simulate a portfolio day by day on the real ledger and collections tables, and measure a policy.

    Runs on a fresh temporary SQLite database, or on BUYU_DATABASE_URL when set (migrated; it must be
    empty). --compare runs every policy on every seed, each on its own temporary database.
    """
    import os
    import time

    from buyu.simulation import compare as cmp
    from buyu.simulation.runner import run_simulation
    from buyu.simulation.scenario import load_scenario

    if (policy is None) == (compare is None):
        raise BuyuError("give either --policy NAME or --compare A,B,…", code="invalid_arguments")
    world = load_scenario(scenario)
    world = world.model_copy(update={k: v for k, v in (("seed", seed), ("accounts", accounts),
                                                       ("history_days", history_days)) if v is not None})
    if compare is not None:
        names = cmp.check_policies(compare.split(","))
        if os.environ.get("BUYU_DATABASE_URL"):
            typer.echo("note: --compare runs each simulation on its own temporary database, not BUYU_DATABASE_URL",
                       err=True)
        started = time.perf_counter()
        out = cmp.compare(scenario=world, policies=names, seeds=seeds, days=days,
                          progress=(lambda name, s: _progress_bar(f"{name} seed {s}")) if progress else None)
        _emit(out | {"seconds": round(time.perf_counter() - started, 2)} if as_json else _compare_lines(out),
              as_json=as_json)
        return
    assert policy is not None
    cmp.check_policies([policy])
    result = run_simulation(scenario=world, policy=policy, days=days,
                            database_url=os.environ.get("BUYU_DATABASE_URL") or None,
                            progress=_progress_bar(policy) if progress else None)
    _emit(result.metrics.to_json(), as_json=as_json)


def _progress_bar(label: str) -> Callable[[Any], None]:
    """A one-line progress bar on stderr (redrawn on a terminal, every tenth of the run otherwise)."""
    tty = sys.stderr.isatty()
    spent: list[float] = []

    def show(report: Any) -> None:
        spent.append(report.seconds)
        done, total = report.number, report.days
        bar = "#" * (30 * done // total)
        eta = sum(spent) / len(spent) * (total - done)
        line = f"{label} [{bar:<30}] day {done}/{total}  {report.seconds:.2f} s/day  eta {eta:.0f} s"
        if tty:
            sys.stderr.write("\r" + line + ("\n" if done == total else ""))
            sys.stderr.flush()
        elif done == total or done % max(1, total // 10) == 0:
            typer.echo(line, err=True)

    return show


def _compare_lines(out: dict[str, Any]) -> dict[str, str]:
    """--compare without --json: one line per policy and metric, mean [low, high] and ratio to the baseline."""
    lines = {}
    for name, metrics in out["policies"].items():
        for metric, s in metrics.items():
            ratio = out["ratios"][name][metric]
            lines[f"{name}.{metric}"] = (f"{s['mean']} [{s['low']}, {s['high']}]"
                                         + (f"  ×{ratio} vs {out['baseline']}" if ratio is not None else ""))
    return lines


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the API (OpenAPI at /docs)."""
    import uvicorn

    from buyu.api.app import create_app

    settings = get_settings()
    uvicorn.run(create_app(), host=host or settings.host, port=port or settings.port)


@app.command()
@handled
def up(serve_api: Annotated[bool, typer.Option("--serve/--no-serve")] = True) -> None:
    """`make run`: migrate, seed the demo portfolio if empty, run the demo night, serve."""
    from sqlalchemy import func, select

    from buyu import demo
    from buyu.db import unit_of_work
    from buyu.ledger.models import Loan
    from buyu.migrate import upgrade
    from buyu.pipeline.eod import run_eod
    from strategies.service import ensure_default

    settings = get_settings()
    upgrade(settings.database_url)
    engine = _engine()
    with unit_of_work(engine) as session:
        empty = not session.scalar(select(func.count()).select_from(Loan))
    if empty:
        typer.echo(f"seeding {settings.demo_loans} demo loans (seed {settings.demo_seed}) …", err=True)
        demo.seed(engine=engine, loans=settings.demo_loans, rng_seed=settings.demo_seed, as_of=settings.demo_date,
                  progress=lambda m: typer.echo(m, err=True))
    with unit_of_work(engine) as session:  # the nightly plan needs an active strategy: the shipped default
        ensure_default(session=session, as_of=settings.demo_date)
    _emit(run_eod(engine=engine, as_of=settings.demo_date), as_json=True)
    if serve_api:
        typer.echo(f"serving on http://{settings.host}:{settings.port} (OpenAPI at /docs)", err=True)
        serve(host=None, port=None)


@voice_app.command("check-model")
@handled
def voicebot_check_model(
    path: Annotated[str, typer.Argument(help="a Vosk model directory")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Validate a Vosk model directory (files, loading, sample rate, vocabulary)."""
    from voicebot.asr import check_model

    report = check_model(path)
    _emit(report.to_dict(), as_json=as_json)
    if not report.ok:
        raise typer.Exit(1)


@voice_app.command("recognize")
@handled
def voicebot_recognize(
    wav: Annotated[str, typer.Option(help="a WAV file, any rate (8 kHz telephone audio included)")],
    state: Annotated[str, typer.Option(help="dialog state: verify, negotiate, confirm")],
    locale: Annotated[str, typer.Option()] = "ko-KR",
    as_of: Annotated[str | None, typer.Option(help="business date for relative dates (default BUYU_DEMO_DATE)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recognise one utterance through the live-call path: {"text", "intent", "slots", "confidence"}."""
    from pathlib import Path

    from voicebot.recognize import recognize_wav

    if not Path(wav).is_file():
        raise BuyuError(f"no such WAV file: {wav}", code="file_not_found")
    day = parse_date(as_of, field="as-of") if as_of else get_settings().demo_date
    _emit(recognize_wav(wav, state=state, locale=locale, as_of=day), as_json=as_json)


@voice_app.command("simulate-call")
@handled
def voicebot_simulate_call(
    loan: Annotated[int, typer.Option(help="loan id (the borrower's own phone is dialled)")],
    script: Annotated[str, typer.Option(help='borrower turns separated by ";": a sentence, #digits (keys), '
                                             '!sentence (talk over the robot), empty (silence)')],
    locale: Annotated[str, typer.Option()] = "ko-KR",
    as_of: Annotated[str | None, typer.Option(help="business date (default: the last nightly run)")] = None,
    at: Annotated[str | None, typer.Option(help="moment of the call, ISO with offset (default now)")] = None,
    speed: Annotated[float, typer.Option(min=0.5, max=8.0, help="run the call this much faster than real time")]
    = 1.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Play Twilio on loopback: one robot call through the real server, ASR, dialog, TTS and database."""
    from datetime import UTC, datetime

    from voicebot.telephony.loopback import loopback_server, shifted_clock, simulated_call
    from voicebot.telephony.runtime import local_auth_token, runtime_from_settings

    engine = _engine()
    day = _as_of_or_latest(as_of)
    try:
        moment = datetime.fromisoformat(at) if at else datetime.now(UTC)
    except ValueError as exc:
        raise BuyuError(f"--at is not an ISO datetime: {at!r}", code="invalid_datetime") from exc
    if moment.tzinfo is None:
        raise BuyuError("--at needs a UTC offset, e.g. 2026-11-27T10:00:00+08:00", code="invalid_datetime")
    token = get_settings().twilio_auth_token or local_auth_token()

    def runtime(base_url: str) -> Any:
        return runtime_from_settings(engine=engine, public_base_url=base_url, auth_token=token, speed=speed,
                                     clock=shifted_clock(moment))

    with loopback_server(engine=engine, runtime_factory=runtime) as server:
        report = simulated_call(engine=engine, server=server, loan_id=loan, script=script, locale=locale, as_of=day,
                                at=moment, speed=speed)
    _emit(report.to_dict(), as_json=as_json)


@voice_app.command("serve")
def voicebot_serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    locale: Annotated[str, typer.Option(help="load this locale's speech models before serving")] = "ko-KR",
) -> None:
    """Serve the API with the Twilio endpoints warm (speech models loaded); webhooks need BUYU_TWILIO_AUTH_TOKEN."""
    import uvicorn

    from buyu.api.app import create_app
    from voicebot.telephony.router import get_runtime

    settings = get_settings()
    app = create_app()
    get_runtime(app).recognizer_for(locale)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port)


def _as_of_or_latest(as_of: str | None) -> date:
    """An explicit as-of date, or the last business day the nightly run completed."""
    if as_of:
        return parse_date(as_of, field="as-of")
    from sqlalchemy import func, select

    from buyu.db import unit_of_work
    from buyu.ledger.models import EodRun

    with unit_of_work(_engine()) as session:
        last = session.scalar(select(func.max(EodRun.as_of)).where(EodRun.status == "done"))
    if last is None:
        raise BuyuError("no nightly run yet: give --as-of", code="invalid_date")
    return last


@models_app.command("train")
@handled
def models_train(
    as_of: Annotated[str | None, typer.Option(help="train on history up to this date (default: last night run)",
                                              metavar="YYYY-MM-DD")] = None,
    window_days: Annotated[int, typer.Option(min=60, max=1095, help="days of history to learn from")] = 180,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Train every model (propensity, collector fit, valuation, roll rates) from the database and register them."""
    from buyu.db import unit_of_work
    from buyu.scoring.service import train_models

    day = _as_of_or_latest(as_of)
    with unit_of_work(_engine()) as session:
        out = train_models(session=session, as_of=day, window_days=window_days)
    _emit(out, as_json=as_json)


@models_app.command("evaluate")
@handled
def models_evaluate(
    scenario: Annotated[str | None, typer.Option(help="simulate this scenario, evaluate on held-out accounts",
                                                 metavar="FILE")] = None,
    dataset: Annotated[str | None, typer.Option(help="a shipped dataset: germancredit")] = None,
    days: Annotated[int | None, typer.Option(min=74, max=3650, help="days to simulate (default: scenario's)")] = None,
    accounts: Annotated[int | None, typer.Option(min=100, max=1_000_000, help="override the accounts")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Held-out figures: --scenario (simulated history, vs the simulator's truth) or --dataset germancredit."""
    from buyu.scoring import evaluate

    if (scenario is None) == (dataset is None):
        raise BuyuError("give either --scenario FILE or --dataset germancredit", code="invalid_arguments")
    if dataset is not None:
        if dataset != "germancredit":
            raise BuyuError(f"unknown dataset {dataset!r}; known: germancredit", code="invalid_arguments")
        _emit(evaluate.evaluate_germancredit(), as_json=as_json)
        return
    from buyu.simulation.scenario import load_scenario

    assert scenario is not None
    world = load_scenario(scenario)
    if accounts is not None:
        world = world.model_copy(update={"accounts": accounts})
    _emit(evaluate.evaluate_scenario(scenario=world, days=days, progress=lambda m: typer.echo(m, err=True)),
          as_json=as_json)


@models_app.command("report")
@handled
def models_report(
    as_of: Annotated[str | None, typer.Option(help="report date (default: last night run)",
                                              metavar="YYYY-MM-DD")] = None,
    out: Annotated[str, typer.Option(help="report file (JSON, and .md beside it)")] = "reports/models.json",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Stability and effectiveness per model, alarms, and which models are due for retraining."""
    from pathlib import Path

    from buyu.db import unit_of_work
    from buyu.scoring.service import report

    day = _as_of_or_latest(as_of)
    with unit_of_work(_engine()) as session:
        result = report(session=session, as_of=day, path=Path(out))
    _emit(result, as_json=as_json)


@models_app.command("list")
@handled
def models_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Registered model versions (newest first) with their window, data hash and metrics."""
    from buyu.db import unit_of_work
    from buyu.scoring.registry import versions

    with unit_of_work(_engine()) as session:
        rows = [{"name": r.name, "version": r.version, "status": r.status, "as_of": r.as_of.isoformat(),
                 "window": [r.window_start.isoformat(), r.window_end.isoformat()], "rows": r.rows,
                 "data_hash": r.data_hash, "metrics": r.metrics} for r in versions(session=session)]
    _emit({"models": rows}, as_json=as_json)


@models_app.command("card")
@handled
def models_card(name: Annotated[str, typer.Argument(help="propensity, collector_fit, valuation or rollrate")],
                version: Annotated[int | None, typer.Option(min=1)] = None) -> None:
    """Print a registered model's markdown model card."""
    from buyu.db import unit_of_work
    from buyu.scoring.registry import load

    with unit_of_work(_engine()) as session:
        row, _ = load(session=session, name=name, version=version)
        typer.echo(row.card)


@models_app.command("score")
@handled
def models_score(
    loan: Annotated[int | None, typer.Option(help="score one account (logged in full, with reason codes)")] = None,
    as_of: Annotated[str | None, typer.Option(help="scoring day (default: the day after the last night run)",
                                              metavar="YYYY-MM-DD")] = None,
    sample: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of a batch logged")] = 0.01,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score accounts for every treatment on a day (one with --loan); the run is logged and monitored."""
    from datetime import timedelta

    from buyu.db import unit_of_work
    from buyu.scoring.service import lookup, score_accounts

    day = parse_date(as_of, field="as-of") if as_of else _as_of_or_latest(None) + timedelta(days=1)
    with unit_of_work(_engine()) as session:
        if loan is not None:
            _emit(lookup(session=session, loan_id=loan, as_of=day), as_json=as_json)
            return
        run = score_accounts(session=session, as_of=day, sample_rate=sample)
        _emit({"as_of": day.isoformat(), "run_id": run.run_id, "model_version": run.model_version,
               "accounts": run.points.size, "alarms": run.alarms, "monitors": run.monitors}, as_json=as_json)


@models_app.command("rollrates")
@handled
def models_rollrates(
    by: Annotated[str, typer.Option(help="segment, region, language or income_band")] = "segment",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Next-month bucket transition matrices by segment (the active roll-rate model)."""
    from buyu.db import unit_of_work
    from buyu.scoring.service import roll_rates

    with unit_of_work(_engine()) as session:
        _emit(roll_rates(session=session, dimension=by), as_json=as_json)


@app.command()
@handled
def value(
    pool: Annotated[str, typer.Option(help="all, or conditions: bucket=M3|M4+,region=east,dpd>=90,balance<=5000",
                                      metavar="FILTER")] = "all",
    bid: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="bid as a share of the pool's balance")] = None,
    rate: Annotated[float, typer.Option(help="annual discount rate")] = 0.10,
    as_of: Annotated[str | None, typer.Option(help="valuation day (default: the day after the last night run)",
                                              metavar="YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """NPL valuation of a pool: 12-month expected recovery, present value, 90% interval, hold or sell at a bid."""
    from datetime import timedelta

    from buyu.db import unit_of_work
    from buyu.scoring.service import value_book

    day = parse_date(as_of, field="as-of") if as_of else _as_of_or_latest(None) + timedelta(days=1)
    with unit_of_work(_engine()) as session:
        _emit(value_book(session=session, as_of=day, pool=pool, bid=bid, annual_rate=rate), as_json=as_json)


# --------------------------------------------------------------------------- strategies

strategy_app = typer.Typer(help="Collection strategies: validate, create, approve, activate.", no_args_is_help=True)
app.add_typer(strategy_app, name="strategy")


def _read_strategy_file(path: str) -> str:
    from pathlib import Path

    from buyu.errors import InvalidInput

    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read strategy file {path}: {exc}", code="file_unreadable") from exc


def _strategy_row(row: Any) -> dict[str, Any]:
    from strategies.schemas import StrategyVersionOut

    return StrategyVersionOut.model_validate(row).model_dump(mode="json")


@strategy_app.command("validate")
@handled
def strategy_validate(file: Annotated[str, typer.Argument(help="strategy YAML or JSON file")],
                      as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check a strategy file; a bad one prints the field path (e.g. segments[2].allow[1]) and exits 2."""
    from strategies.router import validation_out
    from strategies.schema import load_strategy_text

    out = validation_out(load_strategy_text(_read_strategy_file(file))).model_dump(mode="json")
    if as_json:
        _emit(out, as_json=True)
        return
    typer.echo(f"valid: {out['portfolio']}/{out['name']} ({out['contact_profile']}) sha256 {out['sha256']}")
    for arm in out["arms"]:
        typer.echo(f"  {arm['name']} {arm['share']}: {', '.join(arm['segments'])}")


@strategy_app.command("create")
@handled
def strategy_create(file: Annotated[str, typer.Argument(help="strategy YAML or JSON file")],
                    author: Annotated[str, typer.Option(help="who wrote it")],
                    as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Store a strategy file as the next draft version of its portfolio and name."""
    from buyu.db import unit_of_work
    from strategies.service import create_draft

    text = _read_strategy_file(file)
    with unit_of_work(_engine()) as session:
        out = _strategy_row(create_draft(session=session, text=text, author=author))
    _emit(out, as_json=as_json)


@strategy_app.command("approve")
@handled
def strategy_approve(version_id: Annotated[int, typer.Argument(metavar="ID")],
                     by: Annotated[str, typer.Option(help="approver (not the author)")],
                     as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Approve a draft (four eyes: the approver must not be its author)."""
    from buyu.db import unit_of_work
    from strategies.service import approve

    with unit_of_work(_engine()) as session:
        out = _strategy_row(approve(session=session, version_id=version_id, approver=by))
    _emit(out, as_json=as_json)


@strategy_app.command("activate")
@handled
def strategy_activate(version_id: Annotated[int, typer.Argument(metavar="ID")],
                      by: Annotated[str, typer.Option(help="who activates")],
                      effective: DateOpt,
                      as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Activate an approved version from a business date; the portfolio's previous version is retired."""
    from buyu.db import unit_of_work
    from strategies.service import activate

    day = parse_date(effective, field="effective")
    with unit_of_work(_engine()) as session:
        out = _strategy_row(activate(session=session, version_id=version_id, by=by, effective=day))
    _emit(out, as_json=as_json)


@strategy_app.command("list")
@handled
def strategy_list(portfolio: Annotated[str | None, typer.Option(help="only this portfolio")] = None,
                  as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Strategy versions, newest first."""
    from buyu.db import unit_of_work
    from strategies.service import list_versions

    with unit_of_work(_engine()) as session:
        rows = [_strategy_row(r) for r in list_versions(session=session, portfolio=portfolio)]
    if as_json:
        _emit({"strategies": rows}, as_json=True)
        return
    for r in rows:
        typer.echo(f"{r['id']:>5} {r['portfolio']}/{r['name']} v{r['version']} {r['status']:<8} "
                   f"effective {r['effective_from'] or '-'}..{r['effective_to'] or ''} by {r['author']}")


@strategy_app.command("show")
@handled
def strategy_show(version_id: Annotated[int, typer.Argument(metavar="ID")],
                  as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A version: lifecycle, events and its canonical document (YAML, or JSON with --json)."""
    import yaml

    from buyu.db import unit_of_work
    from strategies.router import detail_out
    from strategies.service import get_version

    with unit_of_work(_engine()) as session:
        out = detail_out(session, get_version(session=session, version_id=version_id)).model_dump(mode="json")
    if as_json:
        _emit(out, as_json=True)
        return
    document = out.pop("document")
    events = out.pop("events")
    _emit(out, as_json=False)
    for e in events:
        typer.echo(f"event: {e['at']} {e['action']} by {e['actor']}" + (f" effective {e['effective']}"
                                                                           if e["effective"] else ""))
    typer.echo("---")
    typer.echo(yaml.safe_dump(document, allow_unicode=True, sort_keys=False).rstrip())


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    sys.exit(app())
