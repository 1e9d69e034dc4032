"""`buyu eod --as-of DATE`: the nightly run. Each business day commits on its own, once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, func, select

from buyu.collections.service import collections_step
from buyu.db import unit_of_work
from buyu.ledger.eod import ledger_day
from buyu.ledger.models import EodRun, Loan

#: Steps after the ledger step, in order, inside the same per-day transaction:
#: `step(session=…, as_of=…) -> {name: stats}`. Later issues add features, scores, strategy, plans.
STEPS: list[Callable[..., dict[str, object]]] = [collections_step]


def first_pending_day(*, engine: Engine, as_of: date) -> date:
    """The earliest day whose night has not run yet (catch-up after missed nights)."""
    with unit_of_work(engine) as session:
        last = session.scalar(select(func.max(EodRun.as_of)).where(EodRun.status == "done"))
        oldest = session.scalar(select(func.min(Loan.accrued_through)).where(Loan.status == "active"))
    starts = [d + timedelta(days=1) for d in (last, oldest) if d is not None]
    return min(starts) if starts else as_of


def run_eod(*, engine: Engine, as_of: date) -> dict[str, object]:
    """Run every pending night up to `as_of`; a night already run is not run again."""
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
                    stats |= step(session=session, as_of=day)
                session.add(EodRun(as_of=day, status="done", stats=json.dumps(stats),
                                   finished_at=datetime.now(UTC)))
                ran += 1
        day += timedelta(days=1)
    return {"as_of": as_of.isoformat(), "already_done": False, "nights_run": ran, **stats}
