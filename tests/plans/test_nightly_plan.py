"""The nightly plan end to end: a small simulated lender whose nights retrain, score, segment and optimize.

One module-scoped simulation (SQLite file): 35 days of exploratory history, then three days run by the
`optimized` policy (with a 10% explore arm), which only carries out what `buyu eod` planned the night before.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from buyu import db
from buyu.cli import app
from buyu.db import make_engine, unit_of_work
from buyu.ledger.models import DelinquencySnapshot, EodRun
from buyu.migrate import upgrade
from buyu.pipeline import eod as pipeline
from buyu.plans.models import PlanItem, PlanRun
from buyu.plans.service import plan_night
from buyu.scoring.models import ModelVersion
from buyu.simulation.optimized import OptimizedPolicy
from buyu.simulation.runner import SimulationResult, run_simulation
from tests.simulation.conftest import small_default

SCENARIO = small_default(accounts=250, collectors=4, robot_lines=1, history_days=35, days=3)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SimulationResult]]:
    """The database of the finished simulation, and its result."""
    path = tmp_path_factory.mktemp("plan") / "sim.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    # a 10% test-and-learn share, so the explore arm is exercised too (the simulator's default is none); sales
    # priced on the young book's valuation, so the sale path is exercised too (the product waits a year)
    yield url, run_simulation(scenario=SCENARIO, policy=OptimizedPolicy(explore_share="0.1", sale_min_valuation_days=0),
                              database_url=url)


def _runs(url: str) -> list[PlanRun]:
    with unit_of_work(make_engine(url)) as session:
        rows = list(session.scalars(select(PlanRun).order_by(PlanRun.as_of)))
        session.expunge_all()
    return rows


def test_nights_plan_once_a_model_exists_and_carry_a_certificate(simulated: tuple[str, SimulationResult]) -> None:
    """Early nights are skipped for want of a model (and say so); later ones are solved plans with a valid
    certificate (bound ≥ objective), the strategy and model versions used, and one item per scored account."""
    url, result = simulated
    runs = _runs(url)
    assert runs[0].status == "skipped" and runs[0].reason == "model_not_found"
    done = [r for r in runs if r.status == "done"]
    assert len(done) >= 3
    with unit_of_work(make_engine(url)) as session:
        for run in done:
            assert run.bound_fen >= run.objective_fen >= 0 and run.gap >= 0
            assert run.strategy_version_id is not None and run.model_version_id is not None
            assert run.work_date == run.as_of + timedelta(days=1)
            items = session.scalar(select(func.count()).select_from(PlanItem).where(PlanItem.run_id == run.id))
            assert items == run.accounts and 0 < run.assigned <= run.accounts
    assert result.metrics.compliance_violations == 0


def test_the_simulated_days_carry_out_the_plan(simulated: tuple[str, SimulationResult]) -> None:
    """Measured days' contacts come from the plan: with a plan in place the optimized policy acts every day."""
    _, result = simulated
    assert result.metrics.days == 3
    assert all(report.actions > 0 for report in result.reports)


def test_buyu_assign_prints_the_run(simulated: tuple[str, SimulationResult], monkeypatch: pytest.MonkeyPatch) -> None:
    """`buyu assign --as-of D --json` prints the optimizer's figures for the plan made at night D; an unknown
    night is a clear error with a non-zero exit."""
    url, _ = simulated
    night = [r for r in _runs(url) if r.status == "done"][-1]
    monkeypatch.setenv("BUYU_DATABASE_URL", url)
    from buyu.config import get_settings
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["assign", "--as-of", night.as_of.isoformat(), "--json"])
        assert out.exit_code == 0, out.output
        shown = json.loads(out.stdout)
        for key in ("status", "objective", "bound", "gap", "seconds", "accounts", "assigned", "utilisation"):
            assert key in shown
        assert shown["objective"] == night.objective_fen and shown["assigned"] == night.assigned
        missing = CliRunner().invoke(app, ["assign", "--as-of", "2001-01-01", "--json"])
        assert missing.exit_code == 2 and "plan_not_found" in missing.output
    finally:
        get_settings.cache_clear()


def _plan_of(session: Any, run_id: int) -> dict[int, tuple[str, int | None]]:
    return {int(i.loan_id): (i.treatment, i.collector_id)
            for i in session.scalars(select(PlanItem).where(PlanItem.run_id == run_id))}


@pytest.mark.parametrize("id_chunk", [None, 7])
def test_planning_the_same_night_again_gives_the_same_plan(
        simulated: tuple[str, SimulationResult], monkeypatch: pytest.MonkeyPatch, id_chunk: int | None) -> None:
    """Re-planning the last night from scratch (in a transaction rolled back) chooses the same treatment and
    collector for every account: the plan is a function of the night's data, not of chance. Reading the
    accounts in IN lists of 7 ids (a bank's book is read in lists a database accepts) changes nothing."""
    if id_chunk is not None:
        monkeypatch.setattr(db, "ID_CHUNK", id_chunk)
    url, _ = simulated
    night = [r for r in _runs(url) if r.status == "done"][-1]
    engine = make_engine(url)
    with engine.connect() as conn:
        trans = conn.begin()
        from sqlalchemy.orm import Session
        session = Session(bind=conn)
        before = _plan_of(session, night.id)
        session.execute(delete(PlanItem).where(PlanItem.run_id == night.id))
        session.execute(delete(PlanRun).where(PlanRun.id == night.id))
        again = plan_night(session=session, as_of=night.as_of)
        assert again.result is not None  # solved afresh, not the stored run handed back
        assert _plan_of(session, again.run.id) == before
        session.close()
        trans.rollback()


def test_a_crash_after_planning_leaves_no_half_night(simulated: tuple[str, SimulationResult], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A step failing after the plan step rolls the whole night back (ledger snapshot, plan, eod record);
    running the night again then makes it whole."""
    url, _ = simulated
    copy = tmp_path / "copy.db"
    shutil.copy(url.removeprefix("sqlite:///"), copy)
    engine = make_engine(f"sqlite:///{copy}")
    with unit_of_work(engine) as session:
        last = session.scalar(select(func.max(EodRun.as_of)))
    assert last is not None
    night = last + timedelta(days=1)

    def boom(*, session: Any, as_of: Any) -> dict[str, object]:
        raise RuntimeError("power cut")

    monkeypatch.setattr(pipeline, "STEPS", [*pipeline.STEPS, boom])
    with pytest.raises(RuntimeError, match="power cut"):
        pipeline.run_eod(engine=engine, as_of=night)
    with unit_of_work(engine) as session:
        assert session.get(EodRun, night) is None
        assert session.scalar(select(func.count()).select_from(PlanRun).where(PlanRun.as_of == night)) == 0
        assert session.scalar(select(func.count()).select_from(DelinquencySnapshot)
                              .where(DelinquencySnapshot.as_of == night)) == 0
    monkeypatch.setattr(pipeline, "STEPS", [s for s in pipeline.STEPS if s is not boom])
    pipeline.run_eod(engine=engine, as_of=night)
    with unit_of_work(engine) as session:
        run = session.scalar(select(PlanRun).where(PlanRun.as_of == night))
        assert run is not None and run.status == "done"


def test_the_console_reads_the_plan_and_its_robot_queue(simulated: tuple[str, SimulationResult]) -> None:
    """GET /plans/{night} shows the certificate; /items?treatment=robot_call is the robot queue in priority order,
    each item explained; an unknown night is a 404 with a machine-readable code."""
    from fastapi.testclient import TestClient

    from buyu.api.app import create_app

    url, _ = simulated
    night = [r for r in _runs(url) if r.status == "done"][-1]
    client = TestClient(create_app(engine=make_engine(url)))
    plan = client.get(f"/plans/{night.as_of.isoformat()}")
    assert plan.status_code == 200 and plan.json()["objective"] == night.objective_fen
    queue = client.get(f"/plans/{night.as_of.isoformat()}/items", params={"treatment": "robot_call"}).json()
    assert [q["priority"] for q in queue] == list(range(1, len(queue) + 1))
    assert all(q["treatment"] == "robot_call" and q["collector_id"] is None for q in queue)
    assert all("reason" in q["explanation"] for q in queue)
    missing = client.get("/plans/2001-01-01")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "plan_not_found"
    bad = client.get(f"/plans/{night.as_of.isoformat()}/items", params={"treatment": "fax"})
    assert bad.status_code == 422


def test_tonight_rules_read_cease_flags_and_pending_promises(simulated: tuple[str, SimulationResult]) -> None:
    """A borrower who stopped all contact by the work date is ceased (one who stopped only some channels is
    left to the contact rules); an open promise due on or after the work date is pending, an older one is not."""
    from datetime import date

    import numpy as np

    from buyu.collections.models import ContactFlags, Promise
    from buyu.ledger.models import Loan
    from buyu.plans.service import _ceased, _promised

    url, _ = simulated
    engine = make_engine(url)
    with engine.connect() as conn:
        trans = conn.begin()
        from sqlalchemy.orm import Session
        session = Session(bind=conn)
        loans = session.execute(select(Loan.id, Loan.borrower_id).order_by(Loan.id).limit(3)).all()
        ids = np.asarray([int(r[0]) for r in loans], dtype=np.int64)
        day = date(2030, 1, 10)
        for (_, borrower), channels in zip(loans[:2], (None, ["sms"]), strict=True):
            flags = session.get(ContactFlags, borrower) or ContactFlags(borrower_id=borrower)
            flags.cease_from, flags.cease_channels = day, channels
            session.add(flags)
        session.execute(delete(Promise).where(Promise.loan_id.in_([int(x) for x in ids])))
        for loan_id, due in ((ids[0], day), (ids[1], date(2030, 1, 9))):
            session.add(Promise(loan_id=int(loan_id), made_on=date(2030, 1, 1), due_date=due, amount_fen=10_000))
        session.flush()
        assert _ceased(session=session, loans=ids, work_date=day).tolist()[:2] == [True, False]
        assert not _ceased(session=session, loans=ids, work_date=date(2030, 1, 9))[0]
        assert _promised(session=session, loans=ids, work_date=day).tolist()[:2] == [True, False]
        session.close()
        trans.rollback()


def test_calls_and_visits_carry_the_borrowers_best_hours_and_the_day_uses_them(
        simulated: tuple[str, SimulationResult]) -> None:
    """Every planned call or visit ranks all the contact profile's day hours (08–21 in CN) for its borrower;
    other treatments carry none; the night records the hour model it chose; and the simulated day placed the
    most valuable robot call of the plan in its first-choice hour (capacity permitting, as the dialer would)."""
    from buyu.collections.models import ContactAttempt
    from buyu.plans.service import TIMED

    url, _ = simulated
    done = [r for r in _runs(url) if r.status == "done"]
    with unit_of_work(make_engine(url)) as session:
        checked = 0
        for run in done:
            items = list(session.scalars(select(PlanItem).where(PlanItem.run_id == run.id)))
            for item in items:
                if item.treatment in TIMED:
                    assert sorted(item.call_hours or []) == list(range(8, 22))
                else:
                    assert item.call_hours is None
            assert run.stats["contact_hours"]["attempts"] > 0
            assert run.stats["contact_hours"]["validation_auc"]
            assert 0.5 <= run.stats["contact_hours"]["mean_value_factor"] <= 2.0
            if run not in done[-(SCENARIO.days + 1):]:  # before that the history policy ran the days
                continue
            robot = sorted((i for i in items if i.treatment == "robot_call"), key=lambda i: -i.value_fen)
            made = {int(loan): int(hour) for loan, hour in session.execute(
                select(ContactAttempt.loan_id, ContactAttempt.local_hour)
                .where(ContactAttempt.as_of == run.work_date, ContactAttempt.channel == "robot_call"))}
            if robot and int(robot[0].loan_id) in made:
                assert made[int(robot[0].loan_id)] == robot[0].call_hours[0]  # type: ignore[index]
                checked += 1
        assert checked >= 1


def test_the_explore_arm_is_drawn_nightly_and_only_it_counts_as_randomised(
        simulated: tuple[str, SimulationResult]) -> None:
    """Buyu goes live on the first measured day (history nights plan nothing: no active strategy yet); each
    solved night puts about the strategy's explore share of accounts in arm `explore`; for training, a day the
    plan chose an account's treatment is not randomised, an explore day or a day with no plan is."""
    import numpy as np

    from buyu.scoring.features import Points
    from buyu.scoring.service import randomised_points

    url, _ = simulated
    runs = _runs(url)
    done = [r for r in runs if r.status == "done"]
    assert {r.reason for r in runs if r.status == "skipped"} <= {"model_not_found", "no_active_strategy"}
    assert done and done[0].work_date == SCENARIO.start_date + timedelta(days=SCENARIO.history_days)
    with unit_of_work(make_engine(url)) as session:
        items = session.execute(select(PlanItem.loan_id, PlanItem.work_date, PlanItem.arm)
                                .where(PlanItem.run_id.in_([r.id for r in done]))).all()
        arms = np.asarray([a for _, _, a in items])
        assert 0.03 < (arms == "explore").mean() < 0.2
        before = SCENARIO.start_date + timedelta(days=3)
        loan = np.asarray([int(x) for x, _, _ in items] + [int(items[0][0])], dtype=np.int64)
        day = np.asarray([d.toordinal() for _, d, _ in items] + [before.toordinal()], dtype=np.int64)
        zeros = np.zeros(loan.size, dtype=np.int64)
        marks = randomised_points(session=session, points=Points(loan=loan, day=day, treatment=zeros,
                                                                 collector=zeros, hour=zeros, result=zeros))
        assert marks[:-1].tolist() == (arms == "explore").tolist() and marks[-1]


def test_a_sale_is_planned_only_where_the_buyers_price_beats_holding(simulated: tuple[str, SimulationResult]) -> None:
    """The strategy carries the buyer's prices. A night before the first valuation model says it could not value
    a sale; later nights value them and record what they weighed, sell no more than the day's slots, each at a
    positive net value. Re-valuing the last night's accounts: a price of the whole balance beats holding for
    some and a price of nothing for none; a strategy without sale terms plans none and says why."""
    from dataclasses import replace as dc_replace
    from decimal import Decimal
    from types import MappingProxyType

    from sqlalchemy.orm import Session

    from buyu.plans.service import _facts, _sale_values
    from buyu.scoring.service import score_accounts
    from strategies.service import active_strategy

    url, _ = simulated
    done = [r for r in _runs(url) if r.status == "done"]
    valued = [r for r in done if r.stats["sale"].get("planned")]
    assert valued and valued[-1] is done[-1]
    assert all(r.stats["sale"] == {"planned": False, "reason": "no_valuation_model"} for r in done if r not in valued)
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        for run in valued:
            sale = run.stats["sale"]
            assert sale["offered"] > 0 and 0 <= sale["price_beats_hold"] <= sale["offered"], sale
            assert sale["hold_fen"] > 0 and sale["price_fen"] > 0
            sold = list(session.scalars(select(PlanItem.value_fen).where(PlanItem.run_id == run.id,
                                                                         PlanItem.treatment == "sale")))
            assert all(v > 0 for v in sold) and len(sold) <= min(sale["price_beats_hold"],
                                                                 SCENARIO.treatments.sale.per_day)
    with engine.connect() as conn:
        trans = conn.begin()
        session = Session(bind=conn)
        last = done[-1]
        _, strategy = active_strategy(session=session, portfolio="default", as_of=last.work_date)
        scoring = score_accounts(session=session, as_of=last.work_date)
        facts = _facts(session=session, loans=scoring.points.loan.astype("int64"), as_of=last.as_of)
        wanted = facts["bucket"] != "M1"

        def priced(share: str) -> dict[str, object]:
            assert strategy.sale is not None
            prices = MappingProxyType({b: Decimal(share) for b in ("M2", "M3", "M4+")})
            terms = dc_replace(strategy.sale, price_share=prices)
            value, stats = _sale_values(session=session, scoring=scoring, strategy=dc_replace(strategy, sale=terms),
                                        bucket=facts["bucket"], balance=facts["balance"], wanted=wanted)
            assert value is not None
            return stats

        assert wanted.any()
        assert priced("1")["price_beats_hold"] > 0 and priced("0.0001")["price_beats_hold"] == 0
        none, why = _sale_values(session=session, scoring=scoring, strategy=dc_replace(strategy, sale=None),
                                 bucket=facts["bucket"], balance=facts["balance"], wanted=wanted)
        assert none is None and why == {"planned": False, "reason": "no_sale_terms"}
        # the product's default: a sale waits for a valuation that has seen a year of outcomes
        seen = session.scalar(select(ModelVersion.metrics).where(ModelVersion.name == "valuation",
                                                                 ModelVersion.status == "active"))["observed_days"]
        assert 30 <= seen <= 40  # the 35-day book, less the days before its first weekly period
        young = dc_replace(strategy, sale=dc_replace(strategy.sale, min_valuation_days=365))
        none, why = _sale_values(session=session, scoring=scoring, strategy=young, bucket=facts["bucket"],
                                 balance=facts["balance"], wanted=wanted)
        assert none is None and why == {"planned": False, "reason": "valuation_too_young", "observed_days": seen,
                                        "min_valuation_days": 365}
        ripe = dc_replace(strategy, sale=dc_replace(strategy.sale, min_valuation_days=seen))
        assert _sale_values(session=session, scoring=scoring, strategy=ripe, bucket=facts["bucket"],
                            balance=facts["balance"], wanted=wanted)[0] is not None
        session.close()
        trans.rollback()
