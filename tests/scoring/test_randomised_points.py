"""Which training points were randomised: the set-based reader of the plans against the row-by-row one it replaced."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from bench.plan_inputs import old_randomised_points
from buyu.plans.models import PlanItem, PlanRun
from buyu.scoring.features import Points
from buyu.scoring.service import randomised_points
from tests.factories import make_loan, make_product

FIRST = date(2026, 5, 1)


def _plans(session: Session, *, seed: int) -> list[int]:
    """Twelve loans; ten nights of solved plans over a random two thirds of them (arms explore, optimized,
    champion), and a skipped run of another portfolio that names every loan on two of those days."""
    rng = np.random.default_rng(seed)
    product = make_product(session)
    loans = [make_loan(session, product=product).id for _ in range(12)]
    nights = [(FIRST + timedelta(days=k), "default", "done") for k in range(10)]
    nights += [(FIRST + timedelta(days=k), "other", "skipped") for k in (3, 8)]
    for day, portfolio, status in nights:
        run = PlanRun(as_of=day - timedelta(days=1), work_date=day, portfolio=portfolio, status=status)
        session.add(run)
        session.flush()
        chosen = [x for x in loans if rng.random() < 0.67] if status == "done" else loans
        arms = rng.choice(["explore", "optimized", "champion"], size=len(chosen), p=[0.3, 0.5, 0.2])
        session.execute(insert(PlanItem), [
            {"run_id": run.id, "work_date": day, "loan_id": loan, "arm": str(arm), "segment": "s",
             "treatment": "sms", "priority": 0, "value_fen": 0, "explanation": {}}
            for loan, arm in zip(chosen, arms, strict=True)])
    session.flush()
    return loans


def _points(loans: list[int], days: range) -> Points:
    loan = np.repeat(np.asarray(loans, dtype=np.int64), len(days))
    day = np.tile(np.asarray([(FIRST + timedelta(days=k)).toordinal() for k in days], dtype=np.int64), len(loans))
    zeros = np.zeros(loan.size, dtype=np.int64)
    return Points(loan=loan, day=day, treatment=zeros, collector=zeros, hour=zeros, result=zeros)


def test_the_set_based_reader_marks_the_same_points_as_the_row_by_row_one(session: Session) -> None:
    """On each database (SQLite keeps the work dates as text): every loan over the plan days and days around
    them, some of the loans over some days, and one point, are marked exactly as the row-by-row reader marks
    them; only optimizer-arm items of solved runs count as chosen."""
    loans = _plans(session, seed=4)
    if session.get_bind().dialect.name == "sqlite":
        assert session.execute(text("SELECT typeof(work_date) FROM plan_items LIMIT 1")).scalar_one() == "text"
    rng = np.random.default_rng(9)
    cases = [_points(loans, range(-3, 13)), _points(loans[4:9], range(2, 6)), _points(loans[5:6], range(7, 8)),
             _points([int(x) for x in rng.permutation(loans)], range(-30, -1))]
    whole = cases[0]
    rows = rng.permutation(whole.size)[: whole.size // 3]
    cases.append(Points(loan=whole.loan[rows], day=whole.day[rows], treatment=whole.treatment[rows],
                        collector=whole.collector[rows], hour=whole.hour[rows], result=whole.result[rows]))
    for points in cases:
        new = randomised_points(session=session, points=points)
        assert new.tolist() == old_randomised_points(session=session, points=points).tolist()
    chosen = ~randomised_points(session=session, points=whole)
    assert 0 < chosen.sum() < 0.67 * 10 * len(loans)
    assert not chosen[whole.day < FIRST.toordinal()].any() and not chosen[whole.day > FIRST.toordinal() + 9].any()
    assert randomised_points(session=session, points=_points([], range(3))).size == 0
