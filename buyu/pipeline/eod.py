"""`buyu eod --as-of DATE`: the nightly run. Each business day commits on its own, once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from buyu.collections.service import collections_step
from buyu.db import unit_of_work
from buyu.errors import InvalidInput, NotFound
from buyu.ledger.eod import ledger_day
from buyu.ledger.models import EodRun, Loan
from buyu.plans.service import plan_step
from buyu.scoring import registry
from buyu.scoring.service import train_models

#: Steps after the ledger step, in order, inside the same per-day transaction:
#: `step(session=…, as_of=…) -> {name: stats}`. The plan step scores, applies the strategy and optimizes.
STEPS: list[Callable[..., dict[str, object]]] = [collections_step, plan_step]


def retrain_if_stale(*, session: Session, as_of: date, every_days: int) -> dict[str, object]:
    """Retrain and register every model when the propensity model is missing or `every_days` old.

    Off in production by default (a model goes live through `buyu models train` and its review);
    the simulator's optimized policy turns it on so its models learn from the history as it grows.
    """
    try:
        row, _ = registry.load(session=session, name="propensity")
        if (as_of - row.as_of).days < every_days:
            return {"retrain": {"done": False, "model_as_of": row.as_of.isoformat()}}
    except NotFound:
        pass
    try:
        trained = train_models(session=session, as_of=as_of)
    except InvalidInput as exc:  # not enough matured history yet: plan without a model tonight
        return {"retrain": {"done": False, "reason": exc.code}}
    return {"retrain": {"done": True, "models": [m["name"] for m in trained["models"]]}}


def first_pending_day(*, engine: Engine, as_of: date) -> date:
    """The earliest day whose night has not run yet (catch-up after missed nights)."""
    with unit_of_work(engine) as session:
        last = session.scalar(select(func.max(EodRun.as_of)).where(EodRun.status == "done"))
        oldest = session.scalar(select(func.min(Loan.accrued_through)).where(Loan.status == "active"))
    starts = [d + timedelta(days=1) for d in (last, oldest) if d is not None]
    return min(starts) if starts else as_of


def run_eod(*, engine: Engine, as_of: date, retrain_every_days: int = 0) -> dict[str, object]:
    """Run every pending night up to `as_of`; a night already run is not run again.

    `retrain_every_days` > 0 retrains the models before the plan step when they are that old.
    """
    with unit_of_work(engine) as session:
        done = session.get(EodRun, as_of)
        if done is not None and done.status == "done":
            return {"as_of": as_of.isoformat(), "already_done": True, **json.loads(done.stats)}
    day, ran = first_pending_day(engine=engine, as_of=as_of), 0
    stats: dict[str, object] = {}
    while day <= as_of:
        with unit_of_work(engine) as session:
            if session.get(EodRun, day) is None:
                stats = ledger_day(session=session, day=day).to_dict()
                for step in STEPS:
                    if step is plan_step and retrain_every_days > 0:
                        stats |= retrain_if_stale(session=session, as_of=day, every_days=retrain_every_days)
                    stats |= step(session=session, as_of=day)
                session.add(EodRun(as_of=day, status="done", stats=json.dumps(stats),
                                   finished_at=datetime.now(UTC)))
                ran += 1
        day += timedelta(days=1)
    return {"as_of": as_of.isoformat(), "already_done": False, "nights_run": ran, **stats}
