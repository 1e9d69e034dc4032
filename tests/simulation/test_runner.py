"""The simulator loop on the real ledger and collections tables (SQLite, fresh database per run)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from buyu.collections.models import AuditEntry, CollectionCase, ContactAttempt, Promise
from buyu.db import unit_of_work
from buyu.ledger.check import check_ledger
from buyu.ledger.models import DelinquencySnapshot, EodRun, Loan, Payment
from buyu.simulation import metrics
from buyu.simulation.runner import Simulation, recount, run_simulation, simulate, simulation_engine
from buyu.simulation.scenario import Scenario, parse_scenario
from buyu.simulation.views import AccountView, Action, Capacity, CollectorView, Treatment
from buyu.simulation.world import GroundTruth

SMALL: dict[str, Any] = {
    "seed": 11, "accounts": 120, "collectors": 6, "days": 8, "robot_lines": 1, "field_share": 0.4,
    "willingness_shift": 0.0, "skill_spread": 0.5, "start_date": "2026-03-02",
}


def small(**overrides: Any) -> Scenario:
    """A small world (sections may be given as dicts)."""
    return parse_scenario({**SMALL, **overrides})


def count(session: Session, model: Any, *where: Any) -> int:
    """Rows of a table matching the conditions."""
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.mark.parametrize("policy", ["random", "champion", "oracle"])
def test_each_policy_runs_the_real_loop_within_the_law(policy: str) -> None:
    """A short run of each policy on the real tables: the ledger reconciles afterwards, the independent
    audit of the contact log finds no violation, and the metrics read back from the tables equal the
    money the loop itself booked (collected) and charged (cost)."""
    with simulation_engine() as engine:
        result = simulate(engine=engine, scenario=small(), policy=policy, days=6)
        with unit_of_work(engine) as session:
            assert check_ledger(session=session).ok
    m = result.metrics
    assert m.violations == {} and m.compliance_violations == 0
    assert m.contacts > 0 and m.collected_fen > 0 and m.days == 6
    assert (m.collected_fen, m.cost_fen) == (result.tally_collected_fen, result.tally_cost_fen)


def test_the_simulation_writes_a_banks_history_into_the_product_tables() -> None:
    """What the models issue will train on is in the product's own tables: every attempt carried out has
    its outcome, robot calls carry no collector and agent calls do; promises point at their 'ptp'
    attempts and get judged by the nightly step; payments are posted in the window; cases have
    holders (collector_id) with an audit trail; each night ran and snapshotted; case events and
    complaints are in the audit log; sold loans are written off with their price booked as a recovery."""
    days = 14
    with simulation_engine() as engine:
        result = simulate(engine=engine, scenario=small(seed=12), policy="random", days=days)
        with unit_of_work(engine) as s:
            a = ContactAttempt
            assert count(s, a) > 0 and count(s, a, a.result.is_(None)) == 0
            assert count(s, a, a.channel == "robot_call", a.collector_id.is_not(None)) == 0
            assert count(s, a, a.channel == "agent_call") == count(s, a, a.channel == "agent_call",
                                                                   a.collector_id.is_not(None)) > 0
            assert count(s, Promise) > 0
            assert count(s, Promise, Promise.attempt_id.is_not(None)) == count(s, Promise)
            linked = select(ContactAttempt.result).join(Promise, Promise.attempt_id == ContactAttempt.id)
            assert set(s.scalars(linked)) == {"ptp"}
            assert count(s, Promise, Promise.status.in_(("kept", "broken"))) > 0
            first, last = small().start_date, small().start_date + timedelta(days=days - 1)
            assert count(s, Payment) == count(s, Payment, Payment.paid_on.between(first, last)) > 0
            assert count(s, CollectionCase, CollectionCase.collector_id.is_not(None)) > 0
            assert count(s, AuditEntry, AuditEntry.action == "case.assigned") > 0
            assert count(s, EodRun) == days and count(s, DelinquencySnapshot) > 0
            events = set(s.scalars(select(AuditEntry.action).where(AuditEntry.actor == metrics.ACTOR)))
            assert {metrics.AGENCY_PLACED, metrics.LEGAL_FILED, metrics.SOLD} <= events
            sold = s.scalars(select(AuditEntry.entity_id).where(AuditEntry.action == metrics.SOLD)).all()
            loans = s.scalars(select(Loan).where(Loan.id.in_(sold))).all()
            assert loans and all(x.status == "written_off" and x.recovered_fen > 0 for x in loans)
    assert result.metrics.compliance_violations == 0


def test_same_seed_gives_the_same_numbers_twice() -> None:
    """Two runs of one scenario and policy print identical JSON (all but the wall time); another seed
    gives other numbers."""
    runs = [run_simulation(scenario=small(), policy="champion", days=5).metrics.to_json() for _ in range(2)]
    other = run_simulation(scenario=small(seed=99), policy="champion", days=5).metrics.to_json()
    for doc in [*runs, other]:
        doc.pop("seconds")
    assert runs[0] == runs[1]
    assert other != runs[0]


def test_the_first_morning_shows_the_generated_book() -> None:
    """Boarded on the day before start_date, every generated account is delinquent on the first morning
    with exactly the DPD the generator gave it, and owes at least its generated arrears (plus penalty)."""
    scenario = small()
    with simulation_engine() as engine:
        sim = Simulation.start(engine=engine, scenario=scenario, policy="champion")
        views = sim.views()
    p = sim.truth.portfolio
    assert [v.account_id for v in views] == list(range(1, scenario.accounts + 1))
    assert [v.dpd for v in views] == p.start_dpd.tolist()
    assert all(v.overdue_fen >= int(p.start_overdue_fen[v.account_id - 1]) for v in views)
    assert all(v.balance_fen >= v.overdue_fen for v in views)


def test_contact_counts_folded_each_morning_equal_a_full_recount() -> None:
    """The views' contact counts are folded from yesterday's log each morning; after a few days they equal
    a recount of the whole contact log, promises and complaints."""
    with simulation_engine() as engine:
        sim = Simulation.start(engine=engine, scenario=small(), policy="oracle")
        for _ in range(6):
            sim.run_day()
        with unit_of_work(engine) as session:  # the sixth day is folded on the seventh morning
            again = recount(session=session, day=sim.truth.day - timedelta(days=1), loan_ids=sim.loan_id)
    assert np.array_equal(again, sim.tally.totals) and sim.tally.totals[:, 0].sum() > 0


def test_raising_willingness_shift_raises_recovery() -> None:
    """The same book with more willing borrowers (willingness_shift −0.6 → +0.6) recovers more under the
    same policy."""
    rates = [run_simulation(scenario=small(accounts=200, willingness_shift=w), policy="champion",
                            days=10).metrics.recovery_rate for w in (-0.6, 0.6)]
    assert rates[1] > rates[0]


@pytest.mark.parametrize("policy", ["random", "champion", "oracle"])
def test_doubling_robot_lines_never_lowers_robot_contacts(policy: str) -> None:
    """With the robot the binding capacity (2 calls per line per hour), doubling robot_lines never lowers
    the contacts the robot makes. (Total contacts may fall: robot calls replace SMS one for one and
    bring promises, and accounts with an open promise are left alone.)"""
    robot = []
    for lines in (1, 2):
        scenario = small(robot_lines=lines, treatments={"robot_call": {"calls_per_line_per_hour": 2}})
        robot.append(run_simulation(scenario=scenario, policy=policy, days=5).metrics.by_channel.get("robot_call", 0))
    assert robot[1] >= robot[0] > 0


@dataclass(frozen=True)
class NightOwl:
    """A policy plugged in through the Policy interface: robot calls at 22:00 (the scenario's hours allow
    it; the CN rules do not), SMS at 10:00 for the rest."""

    name: str = "night_owl"
    uses_truth: bool = False

    def plan(self, *, day: date, accounts: Sequence[AccountView], collectors: Sequence[CollectorView],
             capacity: Capacity, rng: np.random.Generator, truth: GroundTruth | None) -> list[Action]:
        robot = capacity.robot_calls_per_hour
        free = [v for v in accounts if not (v.cease or v.dispute or v.placement)]
        return [Action(v.account_id, Treatment.ROBOT_CALL, None, 22) if k < robot
                else Action(v.account_id, Treatment.SMS, None, 10) for k, v in enumerate(free)]


def test_a_contact_the_rules_refuse_is_logged_blocked_and_not_made() -> None:
    """Robot calls planned at 22:00 borrower-local pass the policy contract (the scenario's call hours run
    to 23) but not the CN contact rules: each is logged with result 'blocked' and rule quiet_hours, never
    gets an outcome, costs nothing and counts in compliance_blocks; the audit finds no violation."""
    scenario = small(contact={"call_hours": [8, 23]})
    with simulation_engine() as engine:
        result = simulate(engine=engine, scenario=scenario, policy=NightOwl(), days=3)
        with unit_of_work(engine) as s:
            a = ContactAttempt
            blocked = count(s, a, a.result == "blocked")
            assert blocked == count(s, a, a.channel == "robot_call") == count(s, a, a.blocked_rule == "quiet_hours")
    m = result.metrics
    assert m.compliance_blocks == blocked == 3 * 20 and m.compliance_violations == 0
    assert m.by_channel == {"sms": m.contacts} and m.cost_fen == m.contacts * scenario.treatments.sms.cost_fen + (
        m.complaints * scenario.fatigue.complaint_cost_fen)
